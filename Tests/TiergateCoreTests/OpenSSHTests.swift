import Testing
import TiergateCore
import TiergateTestKit

/// OpenSSH key formats, fingerprints and the ssh-agent messages tiergate speaks (SPEC.md §2.4, §7.4), and the node
/// handshake of an identity held by an agent (§12.2).
struct OpenSSHTests {
    static let alice = VectorKeys.key("alice")
    /// alice's vector key as an OpenSSH line, and what `ssh-keygen -lf` printed for it (pinned from OpenSSH itself).
    static let aliceLine = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICfSkzFzAze6yhKfpRrzCldA/JQjpqfhimGKC3HXoxK0 alice@vectors"
    static let aliceSSHFingerprint = "SHA256:yizzABH4gIHeZiIUcHpbbYDNCtRR6LaJkKYgLC4kwBI"

    @Test func fingerprintAndLineMatchOpenSSH() throws {
        #expect(OpenSSH.fingerprint(Self.alice.publicKey) == Self.aliceSSHFingerprint)
        #expect(OpenSSH.line(Self.alice.publicKey, comment: "alice@vectors") == Self.aliceLine)
        let (key, comment) = try OpenSSH.parse(line: Self.aliceLine + "\n")
        #expect(key == Self.alice.publicKey)
        #expect(comment == "alice@vectors")
        #expect(try OpenSSH.parse(line: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICfSkzFzAze6yhKfpRrzCldA/JQjpqfhimGKC3HXoxK0").key == Self.alice.publicKey)
    }

    @Test func keysThatCannotSignForTiergateAreRefused() {
        func error(_ line: String) -> OpenSSH.KeyError? {
            do { _ = try OpenSSH.parse(line: line); return nil } catch { return error }
        }
        // A FIDO key: its signatures cover other bytes than the message.
        let sk = OpenSSH.string(Array("sk-ssh-ed25519@openssh.com".utf8)) + OpenSSH.string(Self.alice.publicKey.bytes)
            + OpenSSH.string(Array("ssh:".utf8))
        if case .unsupportedType(let t)? = error("sk-ssh-ed25519@openssh.com " + Base64.encode(sk, padding: true)) {
            #expect(t == "sk-ssh-ed25519@openssh.com")
        } else { Issue.record("an sk- key was not refused as unsupported") }
        #expect(error("sk-ssh-ed25519@openssh.com " + Base64.encode(sk, padding: true))!.description.contains("FIDO"))
        #expect(error("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ== x") == .unsupportedType("ssh-rsa"))
        // The type word says ed25519 but the blob is another type.
        let rsaBlob = OpenSSH.string(Array("ssh-rsa".utf8)) + OpenSSH.string([1, 0, 1])
        #expect(error("ssh-ed25519 " + Base64.encode(rsaBlob, padding: true)) == .unsupportedType("ssh-rsa"))
        // 31- and 33-byte keys, trailing bytes, bad base64, no key at all.
        let short = OpenSSH.string(Array("ssh-ed25519".utf8)) + OpenSSH.string(Array(Self.alice.publicKey.bytes.prefix(31)))
        #expect(error("ssh-ed25519 " + Base64.encode(short, padding: true)) != nil)
        let long = OpenSSH.string(Array("ssh-ed25519".utf8)) + OpenSSH.string(Self.alice.publicKey.bytes + [0])
        #expect(error("ssh-ed25519 " + Base64.encode(long, padding: true)) != nil)
        let trailing = OpenSSH.blob(Self.alice.publicKey) + [0]
        #expect(error("ssh-ed25519 " + Base64.encode(trailing, padding: true)) != nil)
        #expect(error("ssh-ed25519 AAAA*AAA") == .malformed("the key is not base64"))
        #expect(error("ssh-ed25519") != nil)
        #expect(error("{\"format\": \"tiergate-public-key-v1\"}") != nil)
    }

    @Test func agentAnswersAreDecodedStrictly() throws {
        let blob = OpenSSH.blob(Self.alice.publicKey)
        // REQUEST_IDENTITIES is a bare type byte; SIGN_REQUEST carries the blob, the data and flags 0.
        #expect(SSHAgentProtocol.identitiesRequest() == [0, 0, 0, 1, 11])
        #expect(SSHAgentProtocol.signRequest(blob: blob, data: [7, 8]) == OpenSSH.string([13] + OpenSSH.string(blob) + OpenSSH.string([7, 8]) + [0, 0, 0, 0]))
        let answer = [12] + [0, 0, 0, 2] + OpenSSH.string(blob) + OpenSSH.string(Array("alice@vectors".utf8))
            + OpenSSH.string(OpenSSH.string(Array("ssh-rsa".utf8)) + OpenSSH.string([1])) + OpenSSH.string([])
        let ids = try SSHAgentProtocol.identities(answer)
        #expect(ids.count == 2)
        #expect(ids[0].ed25519 == Self.alice.publicKey && ids[0].comment == "alice@vectors")
        #expect(ids[1].ed25519 == nil && ids[1].type == "ssh-rsa")
        #expect(throws: SSHAgentProtocol.AgentError.self) { try SSHAgentProtocol.identities(Array(answer.dropLast())) }
        #expect(throws: SSHAgentProtocol.AgentError.self) { try SSHAgentProtocol.identities(answer + [0]) }
        #expect(throws: SSHAgentProtocol.AgentError.refused("to list its keys")) { try SSHAgentProtocol.identities([5]) }

        let sig = Self.alice.sign([1, 2, 3])
        let good = [14] + OpenSSH.string(OpenSSH.string(Array("ssh-ed25519".utf8)) + OpenSSH.string(sig))
        #expect(try SSHAgentProtocol.signature(good) == sig)
        #expect(throws: SSHAgentProtocol.AgentError.self) { try SSHAgentProtocol.signature([5]) }
        let rsa = [14] + OpenSSH.string(OpenSSH.string(Array("rsa-sha2-256".utf8)) + OpenSSH.string(sig))
        #expect(throws: SSHAgentProtocol.AgentError.malformed("a rsa-sha2-256 signature, not ssh-ed25519")) { try SSHAgentProtocol.signature(rsa) }
        let short = [14] + OpenSSH.string(OpenSSH.string(Array("ssh-ed25519".utf8)) + OpenSSH.string(Array(sig.prefix(63))))
        #expect(throws: SSHAgentProtocol.AgentError.self) { try SSHAgentProtocol.signature(short) }
        #expect(throws: SSHAgentProtocol.AgentError.self) { try SSHAgentProtocol.signature(good + [0]) }
        #expect(throws: SSHAgentProtocol.AgentError.self) { try SSHAgentProtocol.signature([13]) }
        // Lengths: an empty or oversized announcement is refused before anything is read.
        #expect(throws: SSHAgentProtocol.AgentError.self) { try SSHAgentProtocol.announcedLength([0, 0, 0, 0]) }
        #expect(throws: SSHAgentProtocol.AgentError.self) { try SSHAgentProtocol.announcedLength([0, 4, 0, 1]) }
        #expect(try SSHAgentProtocol.announcedLength([0, 4, 0, 0]) == 262_144)
    }

    /// A signer like an agent: the key stays elsewhere (no X25519 secret); it can be made to lie.
    final class RemoteSigner: Ed25519Signer, @unchecked Sendable {
        let key: SigningKey
        var corrupt = false
        var signed: [[UInt8]] = []
        init(_ key: SigningKey) { self.key = key }
        var publicKey: PublicKey { key.publicKey }
        func signature(over message: [UInt8]) throws -> [UInt8] {
            signed.append(message)
            var s = key.sign(message)
            if corrupt { s[5] ^= 1 }
            return s
        }
        func linkStaticSecret() -> [UInt8]? { nil }
    }

    static let genesis = Blake2b.hash256(Array("tiergate/v1/vector-genesis".utf8))
    static func admitAll(_: PublicKey) -> String? { nil }

    static func frames(_ out: [SecureLink.Output]) -> [UInt8] {
        out.reduce(into: []) { acc, o in if case .send(let b) = o { acc += b } }
    }

    /// An initiator whose key is held elsewhere hands out exactly the bytes to sign, sends message 3 only with a
    /// signature over them, and is proved to the responder by that signature alone (SPEC.md §12.2).
    @Test func anAgentHeldIdentityLinksBySignatureAlone() throws {
        let bob = VectorKeys.key("bob")
        let remote = RemoteSigner(Self.alice)
        var i = SecureLink(role: .initiator, genesis: Self.genesis, identity: remote)
        var r = SecureLink(role: .responder, genesis: Self.genesis, identity: bob)
        let m2 = Self.frames(try r.receive(Self.frames(try i.start()), authorize: Self.admitAll))
        let out = try i.receive(m2, authorize: Self.admitAll)
        guard out.count == 1, case .signatureNeeded(let message) = out[0] else {
            Issue.record("expected a signature request, got \(out)")
            return
        }
        #expect(i.awaitingSignature && !i.isEstablished)
        #expect(Array(message.prefix(22)) == SigningDomain.handshake.prefix)
        // Bytes from the responder before message 3 end the link.
        var impatient = i
        #expect(throws: NoiseError.self) { _ = try impatient.receive([0, 16] + [UInt8](repeating: 0, count: 16), authorize: Self.admitAll) }
        // A signature over anything else is refused before message 3 leaves.
        var wrong = i
        #expect(throws: NoiseError.self) { _ = try wrong.provideIdentitySignature(Self.alice.sign(message + [0])) }
        let done = try i.provideIdentitySignature(try remote.signature(over: message))
        let m3 = Self.frames(done)
        #expect(done.contains(.established(bob.publicKey)))
        #expect(try r.receive(m3, authorize: Self.admitAll).contains(.established(Self.alice.publicKey)))
        var a = i, b = r
        let sealed = try a.seal(Array("vote".utf8))
        #expect(try b.receive(sealed, authorize: Self.admitAll) == [.plaintext(Array("vote".utf8))])
        // The static key was fresh: not alice's converted key.
        #expect(remote.signed.count == 1)
    }

    /// A responder still refuses an initiator whose signature does not verify, bound static or not.
    @Test func aRemoteSignatureThatDoesNotVerifyIsRefusedByTheResponder() throws {
        let bob = VectorKeys.key("bob")
        var hi = NoiseHandshake(role: .initiator, genesis: Self.genesis, identity: RemoteSigner(Self.alice))
        var hr = NoiseHandshake(role: .responder, genesis: Self.genesis, identity: bob)
        try hr.readMessage(try hi.writeMessage(), authorize: Self.admitAll)
        try hi.readMessage(try hr.writeMessage(), authorize: Self.admitAll)
        #expect(!hi.signsInline)
        let message = try hi.identityMessage()
        #expect(try hi.identityMessage() == message, "asking for the bytes to sign must not move the handshake")
        // The initiator's own check stops a bad signature; a forger skipping it meets the responder's check.
        var sig = Self.alice.sign(message)
        sig[0] ^= 1
        #expect(throws: NoiseError.self) { _ = try hi.writeMessage(identitySignature: sig) }
    }
}
