import CSodium

/// Noise Protocol Framework (revision 34) building blocks for Noise_XX_25519_ChaChaPoly_BLAKE2b (SPEC.md §12):
/// HASH = BLAKE2b-512, HMAC over it (block 128 bytes), HKDF as Noise §4.3, CipherState, SymmetricState.
public enum Noise {
    public static let protocolName = "Noise_XX_25519_ChaChaPoly_BLAKE2b"
    public static let hashLength = 64
    static let blockLength = 128

    static func hash(_ data: [UInt8]) -> [UInt8] { Blake2b.hash(data, outputLength: 64) }

    /// HMAC-BLAKE2b-512 (RFC 2104 with a 128-byte block), as Noise §4.3 requires — not BLAKE2's keyed mode.
    static func hmac(key: [UInt8], data: [UInt8]) -> [UInt8] {
        var k = key.count > blockLength ? hash(key) : key
        k += [UInt8](repeating: 0, count: blockLength - k.count)
        var inner = k.map { $0 ^ 0x36 }
        var outer = k.map { $0 ^ 0x5c }
        defer { Sodium.zero(&k); Sodium.zero(&inner); Sodium.zero(&outer) }
        return hash(outer + hash(inner + data))
    }

    /// HKDF(chaining_key, input_key_material, 2 or 3) of Noise §4.3.
    static func hkdf(_ ck: [UInt8], _ ikm: [UInt8], outputs: Int) -> [[UInt8]] {
        var temp = hmac(key: ck, data: ikm)
        defer { Sodium.zero(&temp) }
        let o1 = hmac(key: temp, data: [0x01])
        let o2 = hmac(key: temp, data: o1 + [0x02])
        if outputs == 2 { return [o1, o2] }
        return [o1, o2, hmac(key: temp, data: o2 + [0x03])]
    }

    /// The 96-bit ChaChaPoly nonce of Noise §5.1/§12: four zero bytes, then the counter little-endian.
    static func nonce(_ n: UInt64) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 12)
        for i in 0..<8 { out[4 + i] = UInt8(truncatingIfNeeded: n >> (8 * UInt64(i))) }
        return out
    }

    /// One direction of a session: a key and a counter that never repeats (Noise §5.1).
    public struct CipherState: Sendable {
        var key: [UInt8]?
        public private(set) var nonce: UInt64 = 0

        init(key: [UInt8]? = nil, nonce: UInt64 = 0) {
            self.key = key
            self.nonce = nonce
        }

        var hasKey: Bool { key != nil }

        /// Encrypts with the next nonce. Noise reserves 2^64−1: a session that reached it must end.
        mutating func encrypt(ad: [UInt8], plaintext: [UInt8]) throws(NoiseError) -> [UInt8] {
            guard let key else { return plaintext }
            guard nonce < UInt64.max else { throw .nonceExhausted }
            defer { nonce += 1 }
            return ChaChaPoly.seal(key: key, nonce: Noise.nonce(nonce), ad: ad, plaintext: plaintext)
        }

        /// Decrypts with the next nonce; an authentication failure leaves the counter unchanged (the session ends).
        mutating func decrypt(ad: [UInt8], ciphertext: [UInt8]) throws(NoiseError) -> [UInt8] {
            guard let key else { return ciphertext }
            guard nonce < UInt64.max else { throw .nonceExhausted }
            guard let p = ChaChaPoly.open(key: key, nonce: Noise.nonce(nonce), ad: ad, ciphertext: ciphertext) else {
                throw .authenticationFailed
            }
            nonce += 1
            return p
        }

        mutating func erase() {
            if key != nil { Sodium.zero(&key!) }
            key = nil
        }
    }

    /// Noise §5.2.
    struct SymmetricState: Sendable {
        var ck: [UInt8]
        var h: [UInt8]
        var cipher = CipherState()

        init(protocolName: String) {
            let name = Array(protocolName.utf8)
            h = name.count <= Noise.hashLength ? name + [UInt8](repeating: 0, count: Noise.hashLength - name.count) : Noise.hash(name)
            ck = h
        }

        mutating func mixKey(_ ikm: [UInt8]) {
            let out = Noise.hkdf(ck, ikm, outputs: 2)
            ck = out[0]
            cipher = CipherState(key: Array(out[1].prefix(32)))
        }

        mutating func mixHash(_ data: [UInt8]) { h = Noise.hash(h + data) }

        mutating func encryptAndHash(_ plaintext: [UInt8]) throws(NoiseError) -> [UInt8] {
            let c = try cipher.encrypt(ad: h, plaintext: plaintext)
            mixHash(c)
            return c
        }

        mutating func decryptAndHash(_ ciphertext: [UInt8]) throws(NoiseError) -> [UInt8] {
            let p = try cipher.decrypt(ad: h, ciphertext: ciphertext)
            mixHash(ciphertext)
            return p
        }

        /// (initiator→responder, responder→initiator).
        mutating func split() -> (CipherState, CipherState) {
            let out = Noise.hkdf(ck, [], outputs: 2)
            Sodium.zero(&ck)
            cipher.erase()
            return (CipherState(key: Array(out[0].prefix(32))), CipherState(key: Array(out[1].prefix(32))))
        }
    }
}

public enum NoiseError: Error, Equatable, Sendable, CustomStringConvertible {
    case authenticationFailed
    case nonceExhausted
    case badMessage(String)
    case badPeerKey(String)
    case refused(String)
    case unexpected(String)
    /// The responder refused the connection before the handshake (SPEC.md §12.4): overloaded.
    case busy(BusyReason)

    public var description: String {
        switch self {
        case .authenticationFailed:
            return "authentication failed: the bytes were altered, replayed, or come from another lab's node"
        case .nonceExhausted: return "the session used every nonce; reconnect"
        case .badMessage(let m): return "malformed handshake message: \(m)"
        case .badPeerKey(let m): return "the peer's identity does not check: \(m)"
        case .refused(let m): return m
        case .unexpected(let m): return m
        case .busy(let r): return "the node is refusing connections: \(r.description) (an overload or a flood; retry shortly)"
        }
    }
}

/// Why a responder refused a connection before its handshake (SPEC.md §12.4), sent unauthenticated as
/// `u16 0 || u8 code`: a hint for the operator, never trusted for anything else.
public enum BusyReason: UInt8, Sendable, Equatable, CaseIterable, CustomStringConvertible {
    case overloaded = 1
    case tooManyFromAddress = 2

    public var description: String {
        switch self {
        case .overloaded: return "overloaded (too many handshakes in progress)"
        case .tooManyFromAddress: return "too many handshakes in progress from this address"
        }
    }
}
