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
    public enum Role: Sendable { case initiator, responder }

    public let role: Role
    var symmetric: Noise.SymmetricState
    var ephemeral: X25519.KeyPair
    var staticSecret: [UInt8]
    let staticPublic: [UInt8]
    let identity: SigningKey
    var remoteEphemeral: [UInt8] = []
    var remoteStatic: [UInt8] = []
    /// Messages processed so far (0...3).
    public private(set) var step = 0
    public private(set) var peer: PublicKey?

    public static let identityPayloadLength = 96
    /// Sizes of the three handshake messages (SPEC.md §12.2).
    public static let messageLengths = [32, 32 + 48 + 96 + 16, 48 + 96 + 16]

    /// `ephemeral` is for test vectors only; production code lets it default to a fresh random key pair.
    public init(role: Role, genesis: Digest, identity: SigningKey, ephemeral: X25519.KeyPair = .generate()) {
        self.role = role
        self.identity = identity
        self.ephemeral = ephemeral
        staticSecret = identity.x25519Secret()
        staticPublic = X25519.fromEd25519(identity.publicKey)!
        symmetric = Noise.SymmetricState(protocolName: Noise.protocolName)
        symmetric.mixHash(SigningDomain.noise.prefix + genesis.bytes)
    }

    public var isComplete: Bool { step == 3 }
    /// Whose turn: true when this side writes the next message.
    public var writesNext: Bool { (role == .initiator) == (step % 2 == 0) }
    /// The handshake hash (channel binding); final once complete.
    public var handshakeHash: [UInt8] { symmetric.h }

    private func dh(_ secret: [UInt8], _ pub: [UInt8]) throws(NoiseError) -> [UInt8] {
        guard let s = X25519.sharedSecret(secret: secret, publicKey: pub) else {
            throw .badPeerKey("X25519 with the peer's key gives zero (small-order key)")
        }
        return s
    }

    private mutating func identityPayload() throws(NoiseError) -> [UInt8] {
        let sig = identity.sign(SigningDomain.handshake.message(symmetric.h))
        return try symmetric.encryptAndHash(identity.publicKey.bytes + sig)
    }

    private mutating func readIdentity(_ ciphertext: ArraySlice<UInt8>, authorize: (PublicKey) -> String?) throws(NoiseError) {
        let hBefore = symmetric.h
        let p = try symmetric.decryptAndHash(Array(ciphertext))
        guard p.count == Self.identityPayloadLength, let key = PublicKey(bytes: Array(p[0..<32])) else {
            throw .badMessage("identity payload is not 96 bytes")
        }
        guard Ed25519.isUsablePublicKey(key.bytes), let converted = X25519.fromEd25519(key),
              Sodium.constantTimeEqual(converted, remoteStatic) else {
            throw .badPeerKey("the Ed25519 key does not match the static key of the handshake")
        }
        guard key.verify(signature: Array(p[32..<96]), message: SigningDomain.handshake.message(hBefore)) else {
            throw .badPeerKey("the identity signature does not verify")
        }
        if let refusal = authorize(key) { throw .refused(refusal) }
        peer = key
    }

    /// Writes the next handshake message (its payload is fixed by the pattern).
    public mutating func writeMessage() throws(NoiseError) -> [UInt8] {
        guard writesNext, step < 3 else { throw .unexpected("not this side's turn to write") }
        var out: [UInt8] = []
        switch step {
        case 0:  // -> e
            out += ephemeral.publicKey
            symmetric.mixHash(ephemeral.publicKey)
            out += try symmetric.encryptAndHash([])
        case 1:  // <- e, ee, s, es
            out += ephemeral.publicKey
            symmetric.mixHash(ephemeral.publicKey)
            symmetric.mixKey(try dh(ephemeral.secret, remoteEphemeral))
            out += try symmetric.encryptAndHash(staticPublic)
            symmetric.mixKey(try dh(staticSecret, remoteEphemeral))
            out += try identityPayload()
        default:  // -> s, se
            out += try symmetric.encryptAndHash(staticPublic)
            symmetric.mixKey(try dh(staticSecret, remoteEphemeral))
            out += try identityPayload()
        }
        step += 1
        if step == 3 { erase() }
        return out
    }

    /// Reads the peer's next handshake message; `authorize` returns a refusal reason for a key it does not admit.
    public mutating func readMessage(_ m: [UInt8], authorize: (PublicKey) -> String?) throws(NoiseError) {
        guard !writesNext, step < 3 else { throw .unexpected("handshake message out of turn") }
        guard m.count == Self.messageLengths[step] else {
            throw .badMessage("message \(step + 1) is \(m.count) bytes, expected \(Self.messageLengths[step])")
        }
        switch step {
        case 0:
            remoteEphemeral = Array(m[0..<32])
            symmetric.mixHash(remoteEphemeral)
            _ = try symmetric.decryptAndHash([])
        case 1:
            remoteEphemeral = Array(m[0..<32])
            symmetric.mixHash(remoteEphemeral)
            symmetric.mixKey(try dh(ephemeral.secret, remoteEphemeral))
            remoteStatic = try symmetric.decryptAndHash(Array(m[32..<80]))
            symmetric.mixKey(try dh(ephemeral.secret, remoteStatic))
            try readIdentity(m[80...], authorize: authorize)
        default:
            remoteStatic = try symmetric.decryptAndHash(Array(m[0..<48]))
            symmetric.mixKey(try dh(ephemeral.secret, remoteStatic))
            try readIdentity(m[48...], authorize: authorize)
        }
        step += 1
        if step == 3 { erase() }
    }

    /// The transport keys: (send, receive) for this side. Only after the third message.
    public mutating func split() -> (send: Noise.CipherState, receive: Noise.CipherState) {
        precondition(isComplete)
        let (c1, c2) = symmetric.split()
        return role == .initiator ? (c1, c2) : (c2, c1)
    }

    private mutating func erase() {
        Sodium.zero(&ephemeral.secret)
        Sodium.zero(&staticSecret)
    }
}
