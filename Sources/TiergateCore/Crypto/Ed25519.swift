import CSodium

/// An Ed25519 public key (32 bytes), the identity of a member's feed.
public struct PublicKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == 32 else { return nil }
        self.bytes = bytes
    }

    public init?(hex: String) {
        guard let b = Hex.decode(hex), b.count == 32 else { return nil }
        bytes = b
    }

    public var hex: String { Hex.encode(bytes) }

    /// The key's fingerprint, as specified in SPEC.md §2.4: the first 10 bytes of
    /// BLAKE2b-256("tiergate/v1/fingerprint" tag || key), in five dash-separated groups of four hex digits.
    public var fingerprint: String {
        let digest = Blake2b.hash256(SigningDomain.fingerprint.prefix + bytes)
        let hex = Hex.encode(digest.bytes.prefix(10))
        var groups: [Substring] = []
        var rest = Substring(hex)
        while !rest.isEmpty {
            groups.append(rest.prefix(4))
            rest = rest.dropFirst(4)
        }
        return groups.joined(separator: "-")
    }

    public var description: String { fingerprint }

    /// Verifies a detached Ed25519 signature with libsodium's strict verifier
    /// (`crypto_sign_verify_detached`: rejects non-canonical S and small-order keys).
    public func verify(signature: [UInt8], message: [UInt8]) -> Bool {
        Ed25519.verify(signature: signature, message: message, publicKey: bytes)
    }

    public static func < (lhs: PublicKey, rhs: PublicKey) -> Bool {
        lhs.bytes.lexicographicallyPrecedes(rhs.bytes)
    }
}

/// Raw Ed25519 operations over libsodium.
public enum Ed25519 {
    public static let signatureLength = 64

    /// Whether `key` is a point libsodium accepts as a public key: on the curve, canonical, not of small order.
    public static func isUsablePublicKey(_ key: [UInt8]) -> Bool {
        Sodium.ensureInitialized()
        guard key.count == 32 else { return false }
        return key.withUnsafeBufferPointer { crypto_core_ed25519_is_valid_point($0.baseAddress!) == 1 }
    }

    /// Verifies a detached signature; false for any malformed length.
    public static func verify(signature: [UInt8], message: [UInt8], publicKey: [UInt8]) -> Bool {
        Sodium.ensureInitialized()
        guard signature.count == 64, publicKey.count == 32 else { return false }
        return signature.withUnsafeBufferPointer { s in
            message.withUnsafeBufferPointer { m in
                publicKey.withUnsafeBufferPointer { pk in
                    crypto_sign_verify_detached(s.baseAddress!, m.baseAddress, UInt64(m.count), pk.baseAddress!) == 0
                }
            }
        }
    }
}

/// An Ed25519 signing key held in libsodium guarded memory (`sodium_malloc`), zeroed and freed on deinit.
///
/// The secret never leaves this object except through ``withSeed(_:)`` for sealing to disk; it has no
/// `description` that could print it.
public final class SigningKey: @unchecked Sendable {
    private let secret: UnsafeMutableRawPointer  // 64 bytes: libsodium's seed || public key layout
    public let publicKey: PublicKey

    private init(secret: UnsafeMutableRawPointer, publicKey: PublicKey) {
        self.secret = secret
        self.publicKey = publicKey
    }

    /// A fresh random key pair.
    public static func generate() -> SigningKey {
        var seed = Sodium.randomBytes(32)
        defer { Sodium.zero(&seed) }
        return try! SigningKey(seed: seed)
    }

    /// The key pair derived from a 32-byte seed (RFC 8032 private key); used for test vectors and key files.
    public convenience init(seed: [UInt8]) throws {
        guard seed.count == 32 else { throw CryptoError.badSeedLength(seed.count) }
        Sodium.ensureInitialized()
        guard let secret = sodium_malloc(64) else { throw CryptoError.outOfSecureMemory }
        var pk = [UInt8](repeating: 0, count: 32)
        seed.withUnsafeBufferPointer { s in
            pk.withUnsafeMutableBufferPointer { p in
                _ = crypto_sign_seed_keypair(p.baseAddress!, secret.assumingMemoryBound(to: UInt8.self), s.baseAddress!)
            }
        }
        self.init(secret: secret, publicKey: PublicKey(bytes: pk)!)
    }

    deinit {
        sodium_memzero(secret, 64)
        sodium_free(secret)
    }

    /// Signs `message` (detached, deterministic per RFC 8032).
    public func sign(_ message: [UInt8]) -> [UInt8] {
        var sig = [UInt8](repeating: 0, count: 64)
        message.withUnsafeBufferPointer { m in
            sig.withUnsafeMutableBufferPointer { s in
                _ = crypto_sign_detached(
                    s.baseAddress!, nil, m.baseAddress, UInt64(m.count), secret.assumingMemoryBound(to: UInt8.self))
            }
        }
        return sig
    }

    /// Lends libsodium's 64-byte secret key to `body` (the X25519 conversion needs it); never copied out.
    func withSecretKey<R>(_ body: (UnsafePointer<UInt8>) throws -> R) rethrows -> R {
        try body(UnsafePointer(secret.assumingMemoryBound(to: UInt8.self)))
    }

    /// Lends the 32-byte seed to `body`; the caller MUST NOT keep a copy beyond the call.
    public func withSeed<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: secret, count: 32))
    }
}

public enum CryptoError: Error, Equatable, CustomStringConvertible {
    case badSeedLength(Int)
    case outOfSecureMemory

    public var description: String {
        switch self {
        case .badSeedLength(let n): return "an Ed25519 seed is 32 bytes, got \(n)"
        case .outOfSecureMemory: return "libsodium could not allocate guarded memory for a secret key"
        }
    }
}
