extension Noise {
    /// The XX pattern of Noise revision 34 (§7.5), with everything a handshake carries injected: prologue, static
    /// and ephemeral X25519 key pairs, and each message's payload. Tiergate's handshake (``NoiseHandshake``) fixes
    /// these; the published cacophony vector for Noise_XX_25519_ChaChaPoly_BLAKE2b pins this code with another
    /// party's bytes.
    ///
    ///     -> e
    ///     <- e, ee, s, es
    ///     -> s, se
    public struct XX: Sendable {
        public enum Role: Sendable { case initiator, responder }

        public let role: Role
        var symmetric: Noise.SymmetricState
        var ephemeral: X25519.KeyPair
        var staticKey: X25519.KeyPair
        public private(set) var remoteEphemeral: [UInt8] = []
        /// The peer's static X25519 key, known after message 2 (initiator) or 3 (responder).
        public private(set) var remoteStatic: [UInt8] = []
        /// Messages processed so far (0...3).
        public private(set) var step = 0

        public init(role: Role, prologue: [UInt8], staticKey: X25519.KeyPair, ephemeral: X25519.KeyPair) {
            self.role = role
            self.staticKey = staticKey
            self.ephemeral = ephemeral
            symmetric = Noise.SymmetricState(protocolName: Noise.protocolName)
            symmetric.mixHash(prologue)
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

        /// The handshake hash the next written message's payload will be given (what an identity signs), computed
        /// by writing that message on a copy that is then erased; this side's state does not move.
        public func nextPayloadHash() throws(NoiseError) -> [UInt8] {
            var trial = self
            var h: [UInt8] = []
            do throws(NoiseError) {
                _ = try trial.writeMessage { hash throws(NoiseError) in h = hash; return [] }
            } catch {
                trial.erase()
                throw error
            }
            trial.erase()
            return h
        }

        /// Writes the next message. `payload` receives the handshake hash just before the payload is encrypted
        /// (so a payload may sign it) and returns the plaintext payload.
        public mutating func writeMessage(
            payload: (_ handshakeHash: [UInt8]) throws(NoiseError) -> [UInt8]
        ) throws(NoiseError) -> [UInt8] {
            guard writesNext, step < 3 else { throw .unexpected("not this side's turn to write") }
            var out: [UInt8] = []
            switch step {
            case 0:  // -> e
                out += ephemeral.publicKey
                symmetric.mixHash(ephemeral.publicKey)
            case 1:  // <- e, ee, s, es
                out += ephemeral.publicKey
                symmetric.mixHash(ephemeral.publicKey)
                symmetric.mixKey(try dh(ephemeral.secret, remoteEphemeral))
                out += try symmetric.encryptAndHash(staticKey.publicKey)
                symmetric.mixKey(try dh(staticKey.secret, remoteEphemeral))
            default:  // -> s, se
                out += try symmetric.encryptAndHash(staticKey.publicKey)
                symmetric.mixKey(try dh(staticKey.secret, remoteEphemeral))
            }
            out += try symmetric.encryptAndHash(try payload(symmetric.h))
            step += 1
            if step == 3 { erase() }
            return out
        }

        /// Reads the peer's next message and returns its payload, with the handshake hash just before the payload
        /// was decrypted (what a signing payload covers). The message must be at least its pattern's length.
        public mutating func readMessage(_ m: [UInt8]) throws(NoiseError) -> (payload: [UInt8], hashBefore: [UInt8]) {
            guard !writesNext, step < 3 else { throw .unexpected("handshake message out of turn") }
            let fixed = [32, 32 + 48, 48][step]
            guard m.count >= fixed + (step == 0 ? 0 : 16) else {
                throw .badMessage("message \(step + 1) is \(m.count) bytes, too short")
            }
            switch step {
            case 0:
                remoteEphemeral = Array(m[0..<32])
                symmetric.mixHash(remoteEphemeral)
            case 1:
                remoteEphemeral = Array(m[0..<32])
                symmetric.mixHash(remoteEphemeral)
                symmetric.mixKey(try dh(ephemeral.secret, remoteEphemeral))
                remoteStatic = try symmetric.decryptAndHash(Array(m[32..<80]))
                symmetric.mixKey(try dh(ephemeral.secret, remoteStatic))
            default:
                remoteStatic = try symmetric.decryptAndHash(Array(m[0..<48]))
                symmetric.mixKey(try dh(ephemeral.secret, remoteStatic))
            }
            let hashBefore = symmetric.h
            let payload = try symmetric.decryptAndHash(Array(m[fixed...]))
            step += 1
            if step == 3 { erase() }
            return (payload, hashBefore)
        }

        /// The transport keys: (send, receive) for this side. Only after the third message.
        public mutating func split() -> (send: Noise.CipherState, receive: Noise.CipherState) {
            precondition(isComplete)
            let (c1, c2) = symmetric.split()
            return role == .initiator ? (c1, c2) : (c2, c1)
        }

        private mutating func erase() {
            Sodium.zero(&ephemeral.secret)
            Sodium.zero(&staticKey.secret)
        }
    }
}
