/// One end of an authenticated, encrypted node link (SPEC.md §12.4) as a pure state machine: bytes from the socket
/// in, bytes for the socket and decrypted protocol bytes out. Every message on the wire, handshake or transport,
/// is `u16 big-endian length || body`; after the handshake a body is a ChaCha20-Poly1305 ciphertext of at most
/// 65,519 plaintext bytes of the §8 frame stream. Any failure ends the link: the caller closes the connection.
public struct SecureLink: Sendable {
    public enum Output: Sendable, Equatable {
        /// Bytes to write to the socket.
        case send([UInt8])
        /// The handshake completed; the peer proved this member key.
        case established(PublicKey)
        /// Decrypted bytes of the node protocol stream.
        case plaintext([UInt8])
        /// The initiator's identity is held elsewhere (an agent): sign these exact bytes and hand the signature to
        /// ``provideIdentitySignature(_:)``, which writes message 3. Nothing else happens meanwhile.
        case signatureNeeded([UInt8])
    }

    public static let maxMessage = 65_535
    public static let maxPlaintextChunk = maxMessage - ChaChaPoly.tagLength

    var handshake: NoiseHandshake?
    var sendCipher = Noise.CipherState()
    var receiveCipher = Noise.CipherState()
    var buffer: [UInt8] = []
    var failed = false
    /// After a responder refused an authenticated peer: an encrypted ERROR saying why, to send before closing.
    public private(set) var farewell: [UInt8]?
    public private(set) var peer: PublicKey?
    /// Received bytes not yet consumed: an incomplete message, or what followed a failure (tests, fuzzing).
    public var bufferedInput: [UInt8] { buffer }
    /// A session exists and has not failed (a refused or broken link seals nothing more).
    public var isEstablished: Bool { peer != nil && handshake == nil && !failed }

    /// Set while the initiator waits for its identity signature (``Output/signatureNeeded(_:)``).
    public private(set) var awaitingSignature = false

    public init(role: NoiseHandshake.Role, genesis: Digest, identity: any Ed25519Signer, ephemeral: X25519.KeyPair = .generate(),
                unboundStatic: X25519.KeyPair? = nil) {
        handshake = NoiseHandshake(role: role, genesis: genesis, identity: identity, ephemeral: ephemeral, unboundStatic: unboundStatic)
    }

    /// What a responder sends, instead of a handshake, to refuse a connection it cannot serve (SPEC.md §12.4).
    public static func busyMessage(_ reason: BusyReason) -> [UInt8] { [0, 0, reason.rawValue] }

    private static func framed(_ body: [UInt8]) -> [UInt8] {
        [UInt8(body.count >> 8), UInt8(body.count & 0xff)] + body
    }

    /// The initiator's first message (nothing for a responder).
    public mutating func start() throws(NoiseError) -> [Output] {
        guard var hs = handshake, hs.role == .initiator, hs.step == 0 else { return [] }
        let m = try hs.writeMessage()
        handshake = hs
        return [.send(Self.framed(m))]
    }

    /// Feeds bytes read from the socket. `authorize` is asked about the peer's key during the handshake.
    public mutating func receive(_ bytes: [UInt8], authorize: (PublicKey) -> String?) throws(NoiseError) -> [Output] {
        guard !failed else { throw .unexpected("the link already failed") }
        buffer += bytes
        var out: [Output] = []
        var consumed = 0
        defer { buffer.removeFirst(consumed) }
        do throws(NoiseError) {
            while buffer.count - consumed >= 2 {
                // Nothing may follow message 2 before our message 3.
                if awaitingSignature { throw .unexpected("the responder sent more before message 3") }
                let length = Int(buffer[consumed]) << 8 | Int(buffer[consumed + 1])
                // The length is checked before waiting for the body (a hostile announcement fails at once).
                if let hs = handshake {
                    if length == 0, hs.role == .initiator, hs.step == 1 {
                        // The responder's refusal before the handshake: one code byte.
                        guard buffer.count - consumed >= 3 else { break }
                        let code = buffer[consumed + 2]
                        consumed += 3
                        throw .busy(BusyReason(rawValue: code) ?? .overloaded)
                    }
                    let expected = NoiseHandshake.messageLengths[min(hs.step, 2)]
                    guard length == expected else {
                        throw .badMessage("handshake message \(hs.step + 1) announces \(length) bytes, expected \(expected)")
                    }
                } else {
                    guard length >= ChaChaPoly.tagLength else { throw .badMessage("transport message of \(length) bytes") }
                }
                guard buffer.count - consumed >= 2 + length else { break }
                let body = Array(buffer[(consumed + 2)..<(consumed + 2 + length)])
                consumed += 2 + length
                if handshake != nil {
                    try readHandshake(body, authorize: authorize, into: &out)
                } else {
                    out.append(.plaintext(try receiveCipher.decrypt(ad: [], ciphertext: body)))
                }
            }
        } catch {
            failed = true
            erase()  // the farewell, if any, is already sealed
            throw error
        }
        return out
    }

    /// Reads one handshake message and answers it. The initiator writes message 3 on reading message 2, which
    /// completes its handshake too; the responder completes on reading message 3.
    private mutating func readHandshake(
        _ body: [UInt8], authorize: (PublicKey) -> String?, into out: inout [Output]
    ) throws(NoiseError) {
        var hs = handshake!
        handshake = nil  // take it out: `hs` is then the only owner of the secrets it zeroes
        // A responder that refuses a key it has authenticated still completes the session, so it can tell the
        // peer why in one encrypted ERROR (``farewell``) before it closes.
        var refusal: String?
        let isResponder = hs.role == .responder
        try hs.readMessage(body) { key in
            let r = authorize(key)
            if isResponder, r != nil { refusal = r; return nil }
            return r
        }
        if let refusal {
            (sendCipher, receiveCipher) = hs.split()
            peer = hs.peer
            farewell = try? seal(WireMessage.error(refusal).encodedFrame())
            throw .refused(refusal)
        }
        if !hs.isComplete, !hs.signsInline, hs.writesNext {
            // An agent-held identity: the signature is made off the caller's thread; message 3 waits for it.
            let message = try hs.identityMessage()
            handshake = hs
            awaitingSignature = true
            out.append(.signatureNeeded(message))
            return
        }
        if !hs.isComplete {
            out.append(.send(Self.framed(try hs.writeMessage())))
        }
        if hs.isComplete {
            (sendCipher, receiveCipher) = hs.split()
            peer = hs.peer
            out.append(.established(hs.peer!))
        } else {
            handshake = hs
        }
    }

    /// Completes an initiator's handshake with its identity signature over the bytes of
    /// ``Output/signatureNeeded(_:)``: message 3 to send, and the session.
    public mutating func provideIdentitySignature(_ signature: [UInt8]) throws(NoiseError) -> [Output] {
        guard awaitingSignature, !failed, var hs = handshake else { throw .unexpected("no identity signature is awaited") }
        handshake = nil
        awaitingSignature = false
        do throws(NoiseError) {
            let m3 = try hs.writeMessage(identitySignature: signature)
            (sendCipher, receiveCipher) = hs.split()
            peer = hs.peer
            return [.send(Self.framed(m3)), .established(hs.peer!)]
        } catch {
            failed = true
            erase()
            throw error
        }
    }

    /// Encrypts protocol bytes for the socket, in chunks of at most 65,519 bytes.
    public mutating func seal(_ plaintext: [UInt8]) throws(NoiseError) -> [UInt8] {
        guard isEstablished else { throw .unexpected("sending before the handshake completed") }
        var out: [UInt8] = []
        out.reserveCapacity(plaintext.count + (plaintext.count / Self.maxPlaintextChunk + 1) * 18)
        var start = 0
        repeat {
            let end = min(start + Self.maxPlaintextChunk, plaintext.count)
            out += Self.framed(try sendCipher.encrypt(ad: [], plaintext: Array(plaintext[start..<end])))
            start = end
        } while start < plaintext.count
        return out
    }

    /// Zeroes the transport keys; the link seals and opens nothing more. Called on failure and when the
    /// connection closes.
    public mutating func erase() {
        sendCipher.erase()
        receiveCipher.erase()
        failed = true
    }
}
