import CSodium

/// A linkable ring signature (LSAG, Liu–Wei–Wong 2004, in the form Monero uses) over members' Ed25519 keys on
/// edwards25519, built from libsodium's group operations (SPEC.md §2.5). It proves "one of the keys in this ring
/// signed", without saying which, and carries a *key image* that is the same for every signature one key makes in
/// one context (genesis, period, slot), so a second use of that context is seen (linkability).
///
///     H_i   = from_uniform(BLAKE2b-256(u8(22) || "tiergate/v1/ring-point" || genesis || u64 period || u32 slot || K_i))
///     I     = x · H_π                                  (x: the signer's Ed25519 secret scalar, mod L)
///     T     = u8(16) || "tiergate/v1/ring" || u32 len(m) || m || u32 n || K_0 … K_{n-1} || I
///     c(L,R)= BLAKE2b-512(T || L || R) mod L
///     sign:   α random; c_{π+1} = c(α·B, α·H_π); for the others s_i random, c_{i+1} = c(s_i·B + c_i·K_i, s_i·H_i + c_i·I);
///             s_π = α − c_π·x;  signature = c_0 || s_0 … s_{n-1}
///     verify: c = c_0; for i in 0..<n: c = c(s_i·B + c·K_i, s_i·H_i + c·I); accept iff c = c_0
public enum RingSignature {
    public struct Context: Hashable, Sendable {
        public var genesis: Digest
        public var period: UInt64
        public var slot: UInt32
        public init(genesis: Digest, period: UInt64, slot: UInt32) {
            self.genesis = genesis
            self.period = period
            self.slot = slot
        }
    }

    public enum RingError: Error, Equatable, CustomStringConvertible {
        case badRing(String)
        case notInRing
        case badKeyImage
        case malformed(String)

        public var description: String {
            switch self {
            case .badRing(let why): "bad ring: \(why)"
            case .notInRing: "the signing key is not in the ring"
            case .badKeyImage: "the key image is not a valid point of the prime-order subgroup"
            case .malformed(let why): "malformed ring signature: \(why)"
            }
        }
    }

    public static let maxRing = 256
    /// The encoded signature's length for a ring of `n` keys: c_0 and one s per key.
    public static func signatureLength(ring n: Int) -> Int { 32 * (n + 1) }

    static let identity: [UInt8] = [1] + [UInt8](repeating: 0, count: 31)
    static let zero = [UInt8](repeating: 0, count: 32)
    /// L, the order of the prime-order subgroup, little-endian.
    static let order: [UInt8] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ]

    /// Whether a 32-byte little-endian scalar is canonical (< L).
    public static func isCanonicalScalar(_ s: [UInt8]) -> Bool {
        guard s.count == 32 else { return false }
        for i in stride(from: 31, through: 0, by: -1) where s[i] != order[i] { return s[i] < order[i] }
        return false  // equal to L
    }

    // MARK: - Group operations (libsodium), with the identity handled explicitly so results are total.

    static func reduce64(_ wide: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        wide.withUnsafeBufferPointer { w in out.withUnsafeMutableBufferPointer { o in crypto_core_ed25519_scalar_reduce(o.baseAddress!, w.baseAddress!) } }
        return out
    }

    static func mulBase(_ s: [UInt8]) -> [UInt8] {
        if s == zero { return identity }
        var out = [UInt8](repeating: 0, count: 32)
        let rc = s.withUnsafeBufferPointer { n in out.withUnsafeMutableBufferPointer { o in crypto_scalarmult_ed25519_base_noclamp(o.baseAddress!, n.baseAddress!) } }
        return rc == 0 ? out : identity
    }

    /// s·P for a point of the prime-order subgroup (checked by the caller); canonical nonzero s never gives the identity.
    static func mul(_ s: [UInt8], _ p: [UInt8]) -> [UInt8]? {
        if s == zero { return identity }
        var out = [UInt8](repeating: 0, count: 32)
        let rc = s.withUnsafeBufferPointer { n in
            p.withUnsafeBufferPointer { q in out.withUnsafeMutableBufferPointer { o in crypto_scalarmult_ed25519_noclamp(o.baseAddress!, n.baseAddress!, q.baseAddress!) } }
        }
        return rc == 0 ? out : nil
    }

    static func add(_ a: [UInt8], _ b: [UInt8]) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: 32)
        let rc = a.withUnsafeBufferPointer { p in
            b.withUnsafeBufferPointer { q in out.withUnsafeMutableBufferPointer { o in crypto_core_ed25519_add(o.baseAddress!, p.baseAddress!, q.baseAddress!) } }
        }
        return rc == 0 ? out : nil
    }

    static func scalarMul(_ a: [UInt8], _ b: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { y in out.withUnsafeMutableBufferPointer { o in crypto_core_ed25519_scalar_mul(o.baseAddress!, x.baseAddress!, y.baseAddress!) } } }
        return out
    }

    static func scalarSub(_ a: [UInt8], _ b: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { y in out.withUnsafeMutableBufferPointer { o in crypto_core_ed25519_scalar_sub(o.baseAddress!, x.baseAddress!, y.baseAddress!) } } }
        return out
    }

    static func randomScalar() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        repeat {
            out.withUnsafeMutableBufferPointer { o in crypto_core_ed25519_scalar_random(o.baseAddress!) }
        } while out == zero
        return out
    }

    /// H_i: the ring member's hash point in this context (prime-order subgroup, never the identity in practice).
    public static func hashPoint(_ key: PublicKey, _ ctx: Context) -> [UInt8] {
        Sodium.ensureInitialized()
        var w = ByteWriter()
        w.raw(SigningDomain.ringPoint.prefix)
        w.raw(ctx.genesis.bytes)
        w.u64(ctx.period)
        w.u32(ctx.slot)
        w.raw(key.bytes)
        return mapToPoint(Blake2b.hash256(w.bytes).bytes)
    }

    /// libsodium's `crypto_core_ed25519_from_uniform` (Elligator 2, then the cofactor cleared), as SPEC.md §2.5 states.
    public static func mapToPoint(_ r: [UInt8]) -> [UInt8] {
        Sodium.ensureInitialized()
        precondition(r.count == 32)
        var out = [UInt8](repeating: 0, count: 32)
        r.withUnsafeBufferPointer { u in out.withUnsafeMutableBufferPointer { o in _ = crypto_core_ed25519_from_uniform(o.baseAddress!, u.baseAddress!) } }
        return out
    }

    static func transcript(message: [UInt8], ring: [PublicKey], image: [UInt8]) -> [UInt8] {
        var w = ByteWriter()
        w.raw(SigningDomain.ring.prefix)
        w.u32(UInt32(message.count))
        w.raw(message)
        w.u32(UInt32(ring.count))
        for k in ring { w.raw(k.bytes) }
        w.raw(image)
        return w.bytes
    }

    static func challenge(_ t: [UInt8], _ l: [UInt8], _ r: [UInt8]) -> [UInt8] {
        reduce64(Blake2b.hash(t + l + r, outputLength: 64))
    }

    /// A ring must be 1…256 distinct valid keys in ascending order (so it has one encoding).
    public static func checkRing(_ ring: [PublicKey]) throws(RingError) {
        guard !ring.isEmpty, ring.count <= maxRing else { throw .badRing("\(ring.count) keys (1…\(maxRing))") }
        for (i, k) in ring.enumerated() {
            guard Ed25519.isUsablePublicKey(k.bytes) else { throw .badRing("key \(i) is not a valid Ed25519 point") }
            if i > 0, !(ring[i - 1] < k) { throw .badRing("keys not strictly ascending at \(i)") }
        }
    }

    /// The key image of `signer` in `ctx`: what links two of its signatures in one context.
    public static func keyImage(of signer: SigningKey, _ ctx: Context) -> [UInt8] {
        var x = secretScalar(signer)
        defer { Sodium.zero(&x) }
        return mul(x, hashPoint(signer.publicKey, ctx))!
    }

    /// The signer's Ed25519 secret scalar mod L: the clamped first half of SHA-512(seed) (libsodium's X25519
    /// conversion of the key is exactly that), reduced.
    static func secretScalar(_ signer: SigningKey) -> [UInt8] {
        var clamped = signer.x25519Secret()
        var wide = [UInt8](repeating: 0, count: 64)
        defer {
            Sodium.zero(&clamped)
            Sodium.zero(&wide)
        }
        for i in 0..<32 { wide[i] = clamped[i] }
        return reduce64(wide)
    }

    /// Signs `message` for `ring` (which must hold the signer's key) in `ctx`: (key image, signature). `nonceSeed` is
    /// for test vectors only: the nonces are then `BLAKE2b-512(nonceSeed || u16 i) mod L` (i = 65535 for α, i for
    /// s_i; never equal for rings of at most 256), so an independent implementation can reproduce the signature;
    /// production signing leaves it nil (fresh random nonces).
    public static func sign(message: [UInt8], ring: [PublicKey], signer: SigningKey, context ctx: Context,
                            nonceSeed: [UInt8]? = nil) throws(RingError) -> (image: [UInt8], signature: [UInt8]) {
        Sodium.ensureInitialized()
        try checkRing(ring)
        guard let pi = ring.firstIndex(of: signer.publicKey) else { throw .notInRing }
        var x = secretScalar(signer)
        defer { Sodium.zero(&x) }
        precondition(mulBase(x) == signer.publicKey.bytes, "the secret scalar does not give the public key")
        let n = ring.count
        let points = ring.map { hashPoint($0, ctx) }
        // A hash point off the prime-order subgroup or of small order has probability ~2^-250; refuse, never trap.
        guard points.allSatisfy({ Ed25519.isUsablePublicKey($0) }), let image = mul(x, points[pi]) else {
            throw .badRing("a degenerate hash point in this context")
        }
        let t = transcript(message: message, ring: ring, image: image)
        func nonce(_ i: Int) -> [UInt8] {
            guard let seed = nonceSeed else { return randomScalar() }
            return reduce64(Blake2b.hash(seed + [UInt8(i >> 8), UInt8(i & 0xff)], outputLength: 64))
        }
        while true {
            var alpha = nonce(0xFFFF)
            defer { Sodium.zero(&alpha) }
            var c = [[UInt8]](repeating: zero, count: n)
            var s = [[UInt8]](repeating: zero, count: n)
            c[(pi + 1) % n] = challenge(t, mulBase(alpha), mul(alpha, points[pi])!)
            var i = (pi + 1) % n
            var ok = true
            while i != pi {
                s[i] = nonce(i)
                guard let l = add(mulBase(s[i]), mul(c[i], ring[i].bytes)!),
                      let r = add(mul(s[i], points[i])!, mul(c[i], image)!) else { ok = false; break }
                c[(i + 1) % n] = challenge(t, l, r)
                i = (i + 1) % n
            }
            s[pi] = scalarSub(alpha, scalarMul(c[pi], x))
            // A zero scalar (probability ~2^-252) would make a point the identity: sign afresh rather than special-case.
            if !ok || s.contains(zero) || c.contains(zero) {
                precondition(nonceSeed == nil, "a vector's nonce seed gave a zero scalar; pick another seed")
                continue
            }
            return (image, c[0] + s.joined())
        }
    }

    /// Verifies `signature` (c_0 || s_0 … s_{n-1}) by some key of `ring` over `message` in `ctx`, with key image
    /// `image`. Every scalar must be canonical and the image a valid point of the prime-order subgroup.
    public static func verify(message: [UInt8], ring: [PublicKey], image: [UInt8], signature: [UInt8], context ctx: Context) -> Bool {
        Sodium.ensureInitialized()
        guard (try? checkRing(ring)) != nil, signature.count == signatureLength(ring: ring.count) else { return false }
        guard image.count == 32, Ed25519.isUsablePublicKey(image) else { return false }
        let scalars = stride(from: 0, to: signature.count, by: 32).map { Array(signature[$0..<($0 + 32)]) }
        guard scalars.allSatisfy(isCanonicalScalar) else { return false }
        let t = transcript(message: message, ring: ring, image: image)
        let c0 = scalars[0]
        var c = c0
        for (i, key) in ring.enumerated() {
            let s = scalars[i + 1]
            guard let cK = mul(c, key.bytes), let l = add(mulBase(s), cK),
                  let sH = mul(s, hashPoint(key, ctx)), let cI = mul(c, image), let r = add(sH, cI) else { return false }
            c = challenge(t, l, r)
        }
        return Sodium.constantTimeEqual(c, c0)
    }
}
