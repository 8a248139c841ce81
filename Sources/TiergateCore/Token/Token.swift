/// A node's signed statement that, as of `time`, its ledger (digest) shows no halt in force and tier ≥ `tier`
/// authorised — bound to one token by the token's core hash (SPEC.md §9.2).
public struct Attestation: Hashable, Sendable {
    public var attester: PublicKey
    public var time: UInt64
    public var ledgerDigest: Digest
    public var authorizedTier: UInt32
    public var signature: [UInt8]

    /// The exact bytes signed: tag || core hash || attester || time || digest || halted (0) || tier.
    public static func message(core: Digest, attester: PublicKey, time: UInt64, digest: Digest, tier: UInt32) -> [UInt8] {
        var w = ByteWriter()
        w.raw(core.bytes)
        w.raw(attester.bytes)
        w.u64(time)
        w.raw(digest.bytes)
        w.u8(0)
        w.u32(tier)
        return SigningDomain.attestation.message(w.bytes)
    }

    public init(core: Digest, key: SigningKey, time: UInt64, digest: Digest, tier: UInt32) {
        attester = key.publicKey
        self.time = time
        ledgerDigest = digest
        authorizedTier = tier
        signature = key.sign(Attestation.message(core: core, attester: key.publicKey, time: time, digest: digest, tier: tier))
    }

    public init(attester: PublicKey, time: UInt64, ledgerDigest: Digest, authorizedTier: UInt32, signature: [UInt8]) {
        self.attester = attester
        self.time = time
        self.ledgerDigest = ledgerDigest
        self.authorizedTier = authorizedTier
        self.signature = signature
    }

    public func isValid(core: Digest) -> Bool {
        attester.verify(signature: signature, message: Attestation.message(core: core, attester: attester, time: time, digest: ledgerDigest, tier: authorizedTier))
    }

    func encode(into w: inout ByteWriter) {
        w.raw(attester.bytes)
        w.u64(time)
        w.raw(ledgerDigest.bytes)
        w.u8(0)
        w.u32(authorizedTier)
        w.raw(signature)
    }

    static func decode(_ r: inout ByteReader) throws(DecodeError) -> Attestation {
        let a = try r.publicKey("attestation.attester")
        let t = try r.u64("attestation.time")
        let d = try r.digest("attestation.digest")
        let halted = try r.u8("attestation.halted")
        guard halted == 0 else { throw .invalidValue(field: "attestation.halted", reason: "an attestation states that no halt is in force") }
        let tier = try r.u32("attestation.tier")
        let sig = try r.raw(64, "attestation.signature")
        return Attestation(attester: a, time: t, ledgerDigest: d, authorizedTier: tier, signature: sig)
    }
}

/// A tier token (SPEC.md §9): self-contained proof that `tier` is authorised, checkable offline from the genesis
/// roster alone: the entries that make the verdict, plus freshness attestations by member nodes.
public struct TierToken: Hashable, Sendable {
    public static let magic: [UInt8] = Array("TGTOKEN1".utf8)
    public static let maxEntries = 4096
    public static let maxAttestations = 64
    /// Must fit in one node-protocol frame with room to spare.
    public static let maxBytes = 4_000_000

    public var lab: String
    public var genesis: Digest
    public var tier: UInt32
    public var issuedAt: UInt64
    public var expiresAt: UInt64
    /// Signed entries (wire form): passed proposals with their binding votes, amendments, halts and resumes.
    public var entries: [[UInt8]]
    public var attestations: [Attestation]

    public init(lab: String, genesis: Digest, tier: UInt32, issuedAt: UInt64, expiresAt: UInt64, entries: [[UInt8]], attestations: [Attestation] = []) {
        self.lab = lab
        self.genesis = genesis
        self.tier = tier
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.entries = entries
        self.attestations = attestations
    }

    /// The token without its attestations: what every attestation is bound to.
    public func encodedCore() -> [UInt8] {
        var w = ByteWriter()
        w.u8(1)
        w.string(lab)
        w.raw(genesis.bytes)
        w.u32(tier)
        w.u64(issuedAt)
        w.u64(expiresAt)
        w.list(entries) { $0.lengthPrefixed($1) }
        return w.bytes
    }

    /// H(tag "tiergate/v1/token" || core).
    public var coreHash: Digest { Blake2b.hash256(SigningDomain.token.message(encodedCore())) }

    /// The token file: magic || core || attestations.
    public func encoded() -> [UInt8] {
        var w = ByteWriter()
        w.raw(TierToken.magic)
        w.raw(encodedCore())
        w.list(attestations) { w, a in a.encode(into: &w) }
        return w.bytes
    }

    public init(decoding bytes: [UInt8]) throws(DecodeError) {
        guard bytes.count <= TierToken.maxBytes else { throw .tooLong(field: "token", length: bytes.count, max: TierToken.maxBytes) }
        guard bytes.count >= 8, Array(bytes[0..<8]) == TierToken.magic else {
            throw .invalidValue(field: "token.magic", reason: "not a Tiergate token (expected TGTOKEN1)")
        }
        var r = ByteReader(bytes, offset: 8)
        let format = try r.u8("token.format")
        guard format == 1 else { throw .unsupportedVersion(field: "token format", version: Int(format)) }
        lab = try r.identifier("token.lab")
        genesis = try r.digest("token.genesis")
        tier = try r.u32("token.tier")
        issuedAt = try r.u64("token.issued_at")
        expiresAt = try r.u64("token.expires_at")
        guard expiresAt > issuedAt else { throw .invalidValue(field: "token.expires_at", reason: "must be after issued_at") }
        entries = try r.list("token.entries", max: TierToken.maxEntries) { (r: inout ByteReader) throws(DecodeError) in
            try r.lengthPrefixed("token.entries[]", max: Limits.maxEntryBytes)
        }
        attestations = try r.list("token.attestations", max: TierToken.maxAttestations) { (r: inout ByteReader) throws(DecodeError) in
            try Attestation.decode(&r)
        }
        try r.finish()
    }
}
