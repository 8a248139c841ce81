import CSodium

/// X25519 Diffie-Hellman over libsodium (`crypto_scalarmult`), and the conversion of Ed25519 member keys to
/// X25519 keys (`crypto_sign_ed25519_pk_to_curve25519`) used by the node handshake (SPEC.md §12).
public enum X25519 {
    public static let keyLength = 32

    /// A key pair: the secret in an array the owner zeroes when done (``Sodium/zero(_:)``).
    public struct KeyPair: Sendable {
        public var secret: [UInt8]
        public let publicKey: [UInt8]

        /// The pair for a given 32-byte secret (test vectors; the handshake uses ``generate()``).
        public init(secret: [UInt8]) {
            precondition(secret.count == 32)
            self.secret = secret
            self.publicKey = X25519.publicKey(secret: secret)
        }

        public static func generate() -> KeyPair { KeyPair(secret: Sodium.randomBytes(32)) }
    }

    /// The public key of `secret` (`crypto_scalarmult_base`).
    public static func publicKey(secret: [UInt8]) -> [UInt8] {
        Sodium.ensureInitialized()
        precondition(secret.count == 32)
        var out = [UInt8](repeating: 0, count: 32)
        secret.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { o in _ = crypto_scalarmult_base(o.baseAddress!, s.baseAddress!) }
        }
        return out
    }

    /// The shared secret of `secret` and `publicKey`; nil when the public key is malformed or of small order
    /// (libsodium refuses an all-zero result), which the handshake treats as a failure.
    public static func sharedSecret(secret: [UInt8], publicKey: [UInt8]) -> [UInt8]? {
        Sodium.ensureInitialized()
        guard secret.count == 32, publicKey.count == 32 else { return nil }
        var out = [UInt8](repeating: 0, count: 32)
        let rc = secret.withUnsafeBufferPointer { s in
            publicKey.withUnsafeBufferPointer { p in
                out.withUnsafeMutableBufferPointer { o in crypto_scalarmult(o.baseAddress!, s.baseAddress!, p.baseAddress!) }
            }
        }
        return rc == 0 ? out : nil
    }

    /// The X25519 public key that corresponds to an Ed25519 public key; nil for a key libsodium cannot convert.
    public static func fromEd25519(_ key: PublicKey) -> [UInt8]? {
        Sodium.ensureInitialized()
        var out = [UInt8](repeating: 0, count: 32)
        let rc = key.bytes.withUnsafeBufferPointer { k in
            out.withUnsafeMutableBufferPointer { o in crypto_sign_ed25519_pk_to_curve25519(o.baseAddress!, k.baseAddress!) }
        }
        return rc == 0 ? out : nil
    }
}

/// ChaCha20-Poly1305 (IETF, 96-bit nonce; libsodium `crypto_aead_chacha20poly1305_ietf_*`).
public enum ChaChaPoly {
    public static let keyLength = 32
    public static let nonceLength = 12
    public static let tagLength = 16

    /// Encrypts `plaintext` with associated data `ad`; returns ciphertext || 16-byte tag.
    public static func seal(key: [UInt8], nonce: [UInt8], ad: [UInt8], plaintext: [UInt8]) -> [UInt8] {
        Sodium.ensureInitialized()
        precondition(key.count == keyLength && nonce.count == nonceLength)
        var out = [UInt8](repeating: 0, count: plaintext.count + tagLength)
        var outLen: UInt64 = 0
        key.withUnsafeBufferPointer { k in
            nonce.withUnsafeBufferPointer { n in
                ad.withUnsafeBufferPointer { a in
                    plaintext.withUnsafeBufferPointer { p in
                        out.withUnsafeMutableBufferPointer { o in
                            _ = crypto_aead_chacha20poly1305_ietf_encrypt(
                                o.baseAddress!, &outLen, p.baseAddress, UInt64(p.count), a.baseAddress, UInt64(a.count),
                                nil, n.baseAddress!, k.baseAddress!)
                        }
                    }
                }
            }
        }
        return out
    }

    /// Decrypts and authenticates ciphertext || tag; nil when anything was altered (or the lengths are wrong).
    public static func open(key: [UInt8], nonce: [UInt8], ad: [UInt8], ciphertext: [UInt8]) -> [UInt8]? {
        Sodium.ensureInitialized()
        guard key.count == keyLength, nonce.count == nonceLength, ciphertext.count >= tagLength else { return nil }
        var out = [UInt8](repeating: 0, count: ciphertext.count - tagLength)
        var outLen: UInt64 = 0
        let rc = key.withUnsafeBufferPointer { k in
            nonce.withUnsafeBufferPointer { n in
                ad.withUnsafeBufferPointer { a in
                    ciphertext.withUnsafeBufferPointer { c in
                        out.withUnsafeMutableBufferPointer { o in
                            crypto_aead_chacha20poly1305_ietf_decrypt(
                                o.baseAddress, &outLen, nil, c.baseAddress!, UInt64(c.count), a.baseAddress, UInt64(a.count),
                                n.baseAddress!, k.baseAddress!)
                        }
                    }
                }
            }
        }
        return rc == 0 ? out : nil
    }
}

extension SigningKey {
    /// The X25519 secret that corresponds to this Ed25519 key (`crypto_sign_ed25519_sk_to_curve25519`).
    /// The caller zeroes it when done.
    public func x25519Secret() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        withSecretKey { sk in
            out.withUnsafeMutableBufferPointer { o in _ = crypto_sign_ed25519_sk_to_curve25519(o.baseAddress!, sk) }
        }
        return out
    }
}
