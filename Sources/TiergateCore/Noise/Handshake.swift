/// The node handshake (SPEC.md §12): Noise_XX_25519_ChaChaPoly_BLAKE2b with
///
///     prologue = u8(17) || "tiergate/v1/noise" || genesis hash (32 bytes)
///     -> e
///     <- e, ee, s, es   payload: identity of the responder
///     -> s, se          payload: identity of the initiator
///
/// Static keys are the members' Ed25519 keys converted to X25519, except an initiator whose key is held by an agent
/// (no X25519 secret to derive), which uses a fresh static key per connection. An identity payload is the Ed25519
/// public key (32 bytes) and its signature (64 bytes) over `u8(21) || "tiergate/v1/handshake" || h`, where `h` is the
/// handshake hash just before the payload is encrypted. A peer is accepted only if the signature verifies, the
/// caller's `authorize` admits the key (roster member), and — for the responder's identity — the Ed25519 key
/// converts to the static key it used in the DH operations (SPEC.md §12.2).
public struct NoiseHandshake: Sendable {
    public typealias Role = Noise.XX.Role

    var pattern: Noise.XX
    let identity: any Ed25519Signer
    /// Whether this side signs its identity as it writes (a key in memory); false for an agent-held key, whose
    /// signature over ``identityMessage()`` is made elsewhere and handed to ``writeMessage(identitySignature:)``.
    public let signsInline: Bool
    public private(set) var peer: PublicKey?

    public static let identityPayloadLength = 96
    /// Sizes of the three handshake messages (SPEC.md §12.2).
    public static let messageLengths = [32, 32 + 48 + 96 + 16, 48 + 96 + 16]

    /// The prologue of SPEC.md §12.2: `u8(17) || "tiergate/v1/noise" || genesis hash`.
    public static func prologue(genesis: Digest) -> [UInt8] { SigningDomain.noise.prefix + genesis.bytes }

    /// `ephemeral` is for test vectors only; production code lets it default to a fresh random key pair.
    /// `unboundStatic` (test vectors only) is the static key pair of an identity that has no X25519 secret;
    /// production code lets it default to a fresh random key pair.
    public init(role: Role, genesis: Digest, identity: any Ed25519Signer, ephemeral: X25519.KeyPair = .generate(),
                unboundStatic: X25519.KeyPair? = nil) {
        self.identity = identity
        let staticKey: X25519.KeyPair
        if var secret = identity.linkStaticSecret() {
            staticKey = X25519.KeyPair(secret: secret)
            Sodium.zero(&secret)
            signsInline = true
        } else {
            precondition(role == .initiator, "a responder's static key must be its identity's (SPEC.md §12.2)")
            staticKey = unboundStatic ?? .generate()
            signsInline = false
        }
        pattern = Noise.XX(role: role, prologue: Self.prologue(genesis: genesis), staticKey: staticKey, ephemeral: ephemeral)
    }

    /// The exact bytes this side's identity signs in the next message: `u8(21) || "tiergate/v1/handshake" || h`.
    public func identityMessage() throws(NoiseError) -> [UInt8] {
        SigningDomain.handshake.message(try pattern.nextPayloadHash())
    }

    public var role: Role { pattern.role }
    public var step: Int { pattern.step }
    public var isComplete: Bool { pattern.isComplete }
    /// Whose turn: true when this side writes the next message.
    public var writesNext: Bool { pattern.writesNext }
    /// The handshake hash (channel binding); final once complete.
    public var handshakeHash: [UInt8] { pattern.handshakeHash }

    private func readIdentity(_ p: [UInt8], hashBefore: [UInt8], authorize: (PublicKey) -> String?) throws(NoiseError) -> PublicKey {
        guard p.count == Self.identityPayloadLength, let key = PublicKey(bytes: Array(p[0..<32])) else {
            throw .badMessage("identity payload is not 96 bytes")
        }
        guard Ed25519.isUsablePublicKey(key.bytes) else { throw .badPeerKey("the identity key is not a usable Ed25519 key") }
        // The responder's (a node's) static key is bound to its identity; an initiator's may be a fresh key (an
        // agent-held identity), proved by the signature over h alone (SPEC.md §12.2).
        if pattern.role == .initiator {
            guard let converted = X25519.fromEd25519(key), Sodium.constantTimeEqual(converted, pattern.remoteStatic) else {
                throw .badPeerKey("the Ed25519 key does not match the static key of the handshake")
            }
        }
        guard key.verify(signature: Array(p[32..<96]), message: SigningDomain.handshake.message(hashBefore)) else {
            throw .badPeerKey("the identity signature does not verify")
        }
        if let refusal = authorize(key) { throw .refused(refusal) }
        return key
    }

    /// Writes the next handshake message: message 1 has an empty payload, 2 and 3 the identity payload. An identity
    /// that does not sign inline passes `identitySignature`, its signature over ``identityMessage()``, which is
    /// checked before it is sent.
    public mutating func writeMessage(identitySignature: [UInt8]? = nil) throws(NoiseError) -> [UInt8] {
        let first = pattern.step == 0
        let identity = self.identity
        return try pattern.writeMessage { h throws(NoiseError) in
            if first { return [] }
            let message = SigningDomain.handshake.message(h)
            if let given = identitySignature {
                // Made elsewhere for what identityMessage() said: it must be for this very hash.
                guard identity.publicKey.verify(signature: given, message: message) else {
                    throw .unexpected("the handshake signature made for \(identity.publicKey.fingerprint) does not verify")
                }
                return identity.publicKey.bytes + given
            }
            do { return identity.publicKey.bytes + (try identity.signature(over: message)) } catch {
                throw .unexpected("cannot sign the handshake: \(error)")
            }
        }
    }

    /// Reads the peer's next handshake message; `authorize` returns a refusal reason for a key it does not admit.
    public mutating func readMessage(_ m: [UInt8], authorize: (PublicKey) -> String?) throws(NoiseError) {
        guard !writesNext, step < 3 else { throw .unexpected("handshake message out of turn") }
        guard m.count == Self.messageLengths[step] else {
            throw .badMessage("message \(step + 1) is \(m.count) bytes, expected \(Self.messageLengths[step])")
        }
        let first = step == 0
        let (payload, hashBefore) = try pattern.readMessage(m)
        if !first { peer = try readIdentity(payload, hashBefore: hashBefore, authorize: authorize) }
    }

    /// The transport keys: (send, receive) for this side. Only after the third message.
    public mutating func split() -> (send: Noise.CipherState, receive: Noise.CipherState) { pattern.split() }
}
