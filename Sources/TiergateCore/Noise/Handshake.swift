/// The node handshake (SPEC.md §12): Noise_XX_25519_ChaChaPoly_BLAKE2b with
///
///     prologue = u8(17) || "tiergate/v1/noise" || genesis hash (32 bytes)
///     -> e
///     <- e, ee, s, es   payload: identity of the responder
///     -> s, se          payload: identity of the initiator
///
/// Static keys are the members' Ed25519 keys converted to X25519. An identity payload is the Ed25519 public key
/// (32 bytes) and its signature (64 bytes) over `u8(21) || "tiergate/v1/handshake" || h`, where `h` is the handshake
/// hash just before the payload is encrypted. A peer is accepted only if the Ed25519 key converts to the static key
/// it used in the DH operations, the signature verifies, and the caller's `authorize` admits the key (roster member).
public struct NoiseHandshake: Sendable {
    public typealias Role = Noise.XX.Role

    var pattern: Noise.XX
    let identity: SigningKey
    public private(set) var peer: PublicKey?

    public static let identityPayloadLength = 96
    /// Sizes of the three handshake messages (SPEC.md §12.2).
    public static let messageLengths = [32, 32 + 48 + 96 + 16, 48 + 96 + 16]

    /// The prologue of SPEC.md §12.2: `u8(17) || "tiergate/v1/noise" || genesis hash`.
    public static func prologue(genesis: Digest) -> [UInt8] { SigningDomain.noise.prefix + genesis.bytes }

    /// `ephemeral` is for test vectors only; production code lets it default to a fresh random key pair.
    public init(role: Role, genesis: Digest, identity: SigningKey, ephemeral: X25519.KeyPair = .generate()) {
        self.identity = identity
        var staticSecret = identity.x25519Secret()
        pattern = Noise.XX(role: role, prologue: Self.prologue(genesis: genesis),
                           staticKey: X25519.KeyPair(secret: staticSecret), ephemeral: ephemeral)
        Sodium.zero(&staticSecret)
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
        guard Ed25519.isUsablePublicKey(key.bytes), let converted = X25519.fromEd25519(key),
              Sodium.constantTimeEqual(converted, pattern.remoteStatic) else {
            throw .badPeerKey("the Ed25519 key does not match the static key of the handshake")
        }
        guard key.verify(signature: Array(p[32..<96]), message: SigningDomain.handshake.message(hashBefore)) else {
            throw .badPeerKey("the identity signature does not verify")
        }
        if let refusal = authorize(key) { throw .refused(refusal) }
        return key
    }

    /// Writes the next handshake message: message 1 has an empty payload, 2 and 3 the identity payload.
    public mutating func writeMessage() throws(NoiseError) -> [UInt8] {
        let first = pattern.step == 0
        let identity = self.identity
        return try pattern.writeMessage { h in
            first ? [] : identity.publicKey.bytes + identity.sign(SigningDomain.handshake.message(h))
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
