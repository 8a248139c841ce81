/// The head of one author's feed.
public struct FeedHead: Hashable, Sendable {
    public var seq: UInt64
    public var id: Digest
    public var time: UInt64

    public init(seq: UInt64, id: Digest, time: UInt64) {
        self.seq = seq
        self.id = id
        self.time = time
    }
}

/// Tracks each author's feed head and checks that a new entry extends it (SPEC.md §4.5, §6.3).
///
/// Memory is one ``FeedHead`` per author, whatever the number of entries.
public struct FeedChain: Sendable {
    public private(set) var heads: [PublicKey: FeedHead] = [:]

    public init() {}

    /// Why `entry` does not extend its author's feed, or nil when it does.
    public func violation(_ entry: Entry) -> String? {
        let head = heads[entry.author]
        let expected = (head?.seq ?? 0) + 1
        guard entry.seq == expected else {
            if let h = head, entry.seq <= h.seq {
                return "feed position \(entry.seq) of this author is already taken (head is \(h.seq))"
            }
            return "gap in the author's feed: seq \(entry.seq) but the next position is \(expected)"
        }
        if let h = head {
            guard entry.prev == h.id else { return "prev does not match the id of the author's entry \(h.seq)" }
            guard entry.time >= h.time else { return "time goes backwards in the author's feed" }
        }
        return nil
    }

    /// Records `entry` as the new head. The caller MUST have checked ``violation(_:)``.
    public mutating func extend(_ entry: Entry, id: Digest) {
        heads[entry.author] = FeedHead(seq: entry.seq, id: id, time: entry.time)
    }
}
