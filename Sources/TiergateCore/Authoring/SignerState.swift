/// The signer's record of the last feed position it signed, per lab (P6; SPEC.md §7.3).
///
/// Kept next to the secret key (`KEY.signer`), replaced atomically and fsynced *before* a signed entry leaves the
/// signer, so that a signer never signs two entries at one position, even across crashes.
public struct SignerState: Equatable, Sendable {
    public static let format = "tiergate-signer-state-v1"

    public struct Feed: Equatable, Sendable {
        public var seq: UInt64
        public var id: Digest
        public var time: UInt64
        /// The last signed entry, kept so that an entry lost between signing and delivery can be delivered again.
        public var lastEntry: [UInt8]

        public init(seq: UInt64, id: Digest, time: UInt64, lastEntry: [UInt8]) {
            self.seq = seq
            self.id = id
            self.time = time
            self.lastEntry = lastEntry
        }
    }

    public var publicKey: PublicKey
    public var feeds: [Digest: Feed]

    public init(publicKey: PublicKey, feeds: [Digest: Feed] = [:]) {
        self.publicKey = publicKey
        self.feeds = feeds
    }

    public static func path(forKey keyPath: String) -> String { keyPath + ".signer" }

    public func json() -> JSONValue {
        .object([
            ("format", .string(SignerState.format)),
            ("public_key", .string(publicKey.hex)),
            ("feeds", .array(feeds.sorted { $0.key < $1.key }.map { g, f in
                .object([
                    ("genesis", .string(g.hex)), ("seq", .uint(f.seq)), ("id", .string(f.id.hex)),
                    ("time", .uint(f.time)), ("last_entry", .string(Hex.encode(f.lastEntry))),
                ])
            })),
        ])
    }

    public init(json: JSONValue) throws(JSONError) {
        var o = try JSONObjectReader(json, path: "")
        guard try o.string("format") == SignerState.format else {
            throw JSONError(path: "format", reason: "expected \"\(SignerState.format)\"")
        }
        guard let key = PublicKey(hex: try o.string("public_key")) else {
            throw JSONError(path: "public_key", reason: "expected 64 hex digits")
        }
        var feeds: [Digest: Feed] = [:]
        for (i, item) in try o.array("feeds").enumerated() {
            var f = try JSONObjectReader(item, path: "feeds[\(i)]")
            guard let g = Digest(hex: try f.string("genesis")), let id = Digest(hex: try f.string("id")),
                let entry = Hex.decode(try f.string("last_entry"))
            else { throw JSONError(path: "feeds[\(i)]", reason: "bad hex") }
            feeds[g] = Feed(seq: try f.uint("seq"), id: id, time: try f.uint("time"), lastEntry: entry)
            try f.finish()
        }
        try o.finish()
        self.init(publicKey: key, feeds: feeds)
    }
}

/// Why the signer refuses to sign (each says what to do).
public enum AuthoringError: Error, Equatable, Sendable, CustomStringConvertible {
    case stateMissing(path: String)
    case stateForOtherKey(path: String)
    case stale(stateSeq: UInt64, ledgerSeq: UInt64)
    case undelivered(stateSeq: UInt64, ledgerSeq: UInt64)
    case forked(seq: UInt64)

    public var description: String {
        switch self {
        case .stateMissing(let p):
            return "the signer state \(p) is missing, so this key's last signed feed position is unknown; "
                + "run `tiergate key resync --key KEY --roster R --ledger L` against an up-to-date ledger first "
                + "(for an ssh-agent key that has never signed in this lab: `tiergate key init --key ssh-agent:FINGERPRINT`)"
        case .stateForOtherKey(let p): return "the signer state \(p) belongs to another key"
        case .stale(let s, let l):
            return "the signer state says this key last signed position \(s) but the ledger already holds position \(l); "
                + "the state is stale (restored from a backup, or the key is used elsewhere). Run `tiergate key resync` first"
        case .undelivered(let s, let l):
            return "this key signed up to position \(s) but the ledger's head for it is \(l); "
                + "deliver the missing entries to this ledger first (tiergate submit / --ledger with the --out files)"
        case .forked(let s):
            return "the ledger holds a different entry at this key's position \(s) than the one it signed: "
                + "the key has equivocated; stop using it and have the roster rotate it"
        }
    }
}

/// Decides the next feed position for a signer (SPEC.md §7.3).
public enum Authoring {
    /// Where the next entry goes.
    public struct Position: Equatable, Sendable {
        public var seq: UInt64
        public var prev: Digest
        public var notBefore: UInt64
        /// An entry the signer signed but the ledger lacks; deliver it before the new one.
        public var redeliver: [UInt8]?
    }

    /// - Parameters:
    ///   - feed: what the signer state records for this lab (nil: never signed for it).
    ///   - ledgerHead: `.some(head)` when delivering to a ledger whose head for this key is `head` (nil: the ledger
    ///     holds nothing by this key); `.none` when there is no ledger to compare with (`--out`).
    public static func nextPosition(feed: SignerState.Feed?, ledgerHead: FeedHead??) throws(AuthoringError) -> Position {
        guard let f = feed else {
            if case .some(.some(let h)) = ledgerHead { throw .stale(stateSeq: 0, ledgerSeq: h.seq) }
            return Position(seq: 1, prev: .zero, notBefore: 0, redeliver: nil)
        }
        if case .some(let maybeHead) = ledgerHead {
            let headSeq = maybeHead?.seq ?? 0
            let headId = maybeHead?.id ?? .zero
            if headSeq > f.seq { throw .stale(stateSeq: f.seq, ledgerSeq: headSeq) }
            if headSeq == f.seq {
                guard headId == f.id else { throw .forked(seq: f.seq) }
            } else if headSeq + 1 == f.seq, let e = try? SignedEntry(decoding: f.lastEntry), e.id == f.id,
                e.entry.prev == headId
            {
                return Position(seq: f.seq + 1, prev: f.id, notBefore: f.time, redeliver: f.lastEntry)
            } else {
                throw .undelivered(stateSeq: f.seq, ledgerSeq: headSeq)
            }
        }
        return Position(seq: f.seq + 1, prev: f.id, notBefore: f.time, redeliver: nil)
    }
}
