/// Why a signed entry was rejected before it could count for anything.
public enum EntryError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformed(DecodeError)
    case tooLarge(Int)
    case badSignature
    case wrongLab(expected: String, got: String)
    case wrongGenesis

    public var description: String {
        switch self {
        case .malformed(let e): return "malformed entry: \(e)"
        case .tooLarge(let n): return "entry of \(n) bytes exceeds the \(Limits.maxEntryBytes)-byte limit"
        case .badSignature: return "invalid signature"
        case .wrongLab(let e, let g): return "entry is for lab '\(g)', expected '\(e)'"
        case .wrongGenesis: return "entry names another genesis roster (another lab instance)"
        }
    }
}

/// An entry with its Ed25519 signature (SPEC.md §4.4): the wire and ledger form is `content || signature`.
public struct SignedEntry: Hashable, Sendable {
    public let entry: Entry
    /// Canonical content bytes (without the domain tag).
    public let content: [UInt8]
    public let signature: [UInt8]
    /// BLAKE2b-256 of the signing message (domain tag + content).
    public let id: Digest

    /// Signs `entry` with `key`. The key MUST be the entry's author key.
    public init(signing entry: Entry, with key: SigningKey) {
        precondition(entry.author == key.publicKey, "signing an entry whose author is another key")
        let content = entry.encoded()
        let message = SigningDomain.entry.message(content)
        self.entry = entry
        self.content = content
        self.signature = key.sign(message)
        self.id = Blake2b.hash256(message)
    }

    /// Signs `entry` through `signer` (a key file's key, or an agent's, SPEC.md §7.4), whose signature is verified
    /// before it is used; throws what the signer throws, or ``SignerFault`` for a signature that does not verify.
    public init(signing entry: Entry, by signer: any Ed25519Signer) throws {
        precondition(entry.author == signer.publicKey, "signing an entry whose author is another key")
        let content = entry.encoded()
        let message = SigningDomain.entry.message(content)
        let signature = try signer.signature(over: message)
        guard signer.publicKey.verify(signature: signature, message: message) else {
            throw SignerFault(fingerprint: signer.publicKey.fingerprint)
        }
        self.init(entry: entry, content: content, signature: signature, id: Blake2b.hash256(message))
    }

    private init(entry: Entry, content: [UInt8], signature: [UInt8], id: Digest) {
        self.entry = entry
        self.content = content
        self.signature = signature
        self.id = id
    }

    /// The bytes stored and sent: content followed by the 64-byte signature.
    public var bytes: [UInt8] { content + signature }

    public var signingMessage: [UInt8] { SigningDomain.entry.message(content) }

    /// The signature's length for this entry: 64 (Ed25519), or 32·(n+1) for an anonymous halt's ring of n.
    public static func signatureLength(for entry: Entry) -> Int {
        if case .anonymousHalt(let a) = entry.body { return RingSignature.signatureLength(ring: a.ring.count) }
        return Ed25519.signatureLength
    }

    /// Decodes `content || signature` without checking the signature (see ``verified(lab:genesis:)``).
    public init(decoding bytes: [UInt8]) throws(EntryError) {
        guard bytes.count <= Limits.maxEntryBytes else { throw .tooLarge(bytes.count) }
        // Every signature is at least 64 bytes (an Ed25519 one, or a ring signature over at least one key).
        guard bytes.count > Ed25519.signatureLength else {
            throw .malformed(.truncated(field: "entry.signature"))
        }
        var r = ByteReader(bytes)
        let entry: Entry
        do {
            entry = try Entry.decode(&r)
        } catch {
            throw .malformed(error)
        }
        let length = Self.signatureLength(for: entry)
        guard r.remaining == length else {
            if r.remaining < length { throw .malformed(.truncated(field: "entry.signature")) }
            throw .malformed(.trailingBytes(count: r.remaining - length))
        }
        let content = Array(bytes[..<r.offset])
        self.init(
            entry: entry, content: content, signature: Array(bytes[r.offset...]),
            id: Blake2b.hash256(SigningDomain.entry.message(content)))
    }

    /// Whether the signature verifies: under the author key, or for an anonymous halt as a ring signature by one of
    /// its ring with the key image `author` (SPEC.md §2.5, §4.2).
    public var signatureIsValid: Bool {
        if case .anonymousHalt(let a) = entry.body {
            return RingSignature.verify(
                message: signingMessage, ring: a.ring, image: entry.author.bytes, signature: signature,
                context: a.context(genesis: entry.genesis))
        }
        return entry.author.verify(signature: signature, message: signingMessage)
    }

    /// An anonymous halt (SPEC.md §4.1) ring-signed by `signer` for `ring` in the context (genesis, period, slot):
    /// the entry's author is the key image. The signer must be in the ring.
    /// `nonceSeed` is for test vectors and fixtures only (deterministic nonces, ``RingSignature/sign``).
    public static func anonymousHalt(
        lab: String, genesis: Digest, rosterVersion: UInt64, time: UInt64, halt: AnonymousHalt, signer: SigningKey,
        nonceSeed: [UInt8]? = nil
    ) throws(RingSignature.RingError) -> SignedEntry {
        let ctx = halt.context(genesis: genesis)
        let image = RingSignature.keyImage(of: signer, ctx)
        guard let author = PublicKey(bytes: image) else { throw .badKeyImage }
        let entry = Entry(lab: lab, genesis: genesis, rosterVersion: rosterVersion, author: author, seq: 0, prev: .zero,
                          time: time, body: .anonymousHalt(halt))
        let content = entry.encoded()
        let message = SigningDomain.entry.message(content)
        let (signedImage, signature) = try RingSignature.sign(message: message, ring: halt.ring, signer: signer, context: ctx, nonceSeed: nonceSeed)
        precondition(signedImage == image, "the key image changed between computing and signing")
        return SignedEntry(entry: entry, content: content, signature: signature, id: Blake2b.hash256(message))
    }

    /// Checks the signature and that the entry belongs to this lab instance; returns self.
    @discardableResult
    public func verified(lab: String, genesis: Digest) throws(EntryError) -> SignedEntry {
        guard entry.lab == lab else { throw .wrongLab(expected: lab, got: entry.lab) }
        guard entry.genesis == genesis else { throw .wrongGenesis }
        guard signatureIsValid else { throw .badSignature }
        return self
    }
}
