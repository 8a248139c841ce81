/// A proposal as the decision function needs it.
public struct ProposalRecord: Hashable, Sendable {
    public var id: Digest
    public var author: PublicKey
    public var time: UInt64
    public var rosterVersion: UInt64
    public var proposal: Proposal
}

/// A member's binding vote on one proposal: the one with the lowest feed position (SPEC.md §5.3).
public struct VoteRecord: Hashable, Sendable {
    public var id: Digest
    public var seq: UInt64
    public var time: UInt64
    public var rosterVersion: UInt64
    public var choice: VoteChoice
    public var reason: String
}

public struct HaltRecord: Hashable, Sendable {
    public var id: Digest
    /// The member's key; for an anonymous halt, its key image.
    public var author: PublicKey
    public var time: UInt64
    public var rosterVersion: UInt64
    public var reason: String
    /// Set for an anonymous halt (SPEC.md §5.4): its period, slot and ring.
    public var anonymous: AnonymousHalt? = nil
}

/// A drill (SPEC.md §5.8), connected to its author's feed.
public struct DrillRecord: Hashable, Sendable {
    public var id: Digest
    public var author: PublicKey
    public var time: UInt64
    public var rosterVersion: UInt64
    public var reason: String
}

/// An enforcer's acknowledgement of a drill: the earliest (time, then id) of its author for that drill.
public struct DrillAckRecord: Hashable, Sendable {
    public var id: Digest
    public var author: PublicKey
    public var time: UInt64
    public var ack: DrillAck
}

/// Two different entries by one author at one feed position: portable proof of equivocation (P6).
public struct EquivocationEvidence: Hashable, Sendable {
    public var first: SignedEntry
    public var second: SignedEntry

    /// Checks that this really is equivocation: same author and position, different ids, both signed.
    public func isValid(lab: String, genesis: Digest) -> Bool {
        // Drill acknowledgements are in no feed (seq 0): two of them are never equivocation (SPEC.md §4.3).
        first.entry.author == second.entry.author && first.entry.seq == second.entry.seq && first.entry.seq >= 1 && first.id != second.id
            && (try? first.verified(lab: lab, genesis: genesis)) != nil
            && (try? second.verified(lab: lab, genesis: genesis)) != nil
    }

    public var author: PublicKey { first.entry.author }
}

/// The order-independent summary of a set of verified entries from which ``Verdict`` is computed.
///
/// Memory is bounded by proposals × members plus halts, never by the number of entries: later votes by the same
/// member on the same proposal are not kept (the first one binds), and nothing else is retained per entry.
public struct Tally: Sendable {
    public private(set) var proposals: [Digest: ProposalRecord] = [:]
    public private(set) var votes: [Digest: [PublicKey: VoteRecord]] = [:]
    public private(set) var halts: [Digest: HaltRecord] = [:]
    public private(set) var equivocations: [PublicKey: EquivocationEvidence] = [:]
    public private(set) var drills: [Digest: DrillRecord] = [:]
    /// drill id → acknowledger → its acknowledgement (one per acknowledger and drill).
    public private(set) var drillAcks: [Digest: [PublicKey: DrillAckRecord]] = [:]
    /// How many entries were counted (connected to their feed).
    public private(set) var entryCount = 0
    /// Votes after the first by the same member on the same proposal (ignored).
    public private(set) var repeatedVotes = 0
    /// Changes whenever something is added that can change the chain of roster versions (SPEC.md §5.2): an amend
    /// proposal, a binding vote on one, equivocation evidence. With the time, it keys caches of the roster in force.
    public private(set) var rosterEpoch = 0
    /// Changes whenever anything is added: with ``Verdict/validUntil`` it keys the node's verdict cache.
    public private(set) var epoch = 0

    public init() {}

    /// Adds a verified entry. `connected` says whether the entry is linked to its feed's start (SPEC.md §5.1):
    /// only connected entries count, except halts, which count wherever they are seen (P3).
    public mutating func add(_ signed: SignedEntry, connected: Bool) {
        let e = signed.entry
        epoch += 1
        if connected { entryCount += 1 }
        switch e.body {
        case .halt(let h):
            halts[signed.id] = HaltRecord(
                id: signed.id, author: e.author, time: e.time, rosterVersion: e.rosterVersion, reason: h.reason)
        case .anonymousHalt(let a):
            // In no feed: counted wherever seen, like a halt; the decision rule checks its ring (§5.4).
            halts[signed.id] = HaltRecord(
                id: signed.id, author: e.author, time: e.time, rosterVersion: e.rosterVersion, reason: a.reason, anonymous: a)
        case .proposal(let p) where connected:
            if case .amend = p.action { rosterEpoch += 1 }
            proposals[signed.id] = ProposalRecord(
                id: signed.id, author: e.author, time: e.time, rosterVersion: e.rosterVersion, proposal: p)
        case .vote(let v) where connected:
            let record = VoteRecord(
                id: signed.id, seq: e.seq, time: e.time, rosterVersion: e.rosterVersion, choice: v.choice,
                reason: v.reason)
            if let existing = votes[v.proposal]?[e.author] {
                repeatedVotes += 1
                if existing.seq < record.seq || (existing.seq == record.seq && existing.id < record.id) { return }
            }
            if case .amend = proposals[v.proposal]?.proposal.action { rosterEpoch += 1 }
            votes[v.proposal, default: [:]][e.author] = record
        case .drill(let d) where connected:
            drills[signed.id] = DrillRecord(id: signed.id, author: e.author, time: e.time, rosterVersion: e.rosterVersion, reason: d.reason)
        case .drillAck(let a):
            // Never in a feed: counted wherever seen; one per acknowledger and drill, the earliest.
            let record = DrillAckRecord(id: signed.id, author: e.author, time: e.time, ack: a)
            if let existing = drillAcks[a.drill]?[e.author], (existing.time, existing.id) <= (record.time, record.id) { return }
            drillAcks[a.drill, default: [:]][e.author] = record
        default:
            break
        }
    }

    /// Records proof that `evidence.author` equivocated. The caller MUST have checked ``EquivocationEvidence/isValid``.
    public mutating func addEquivocation(_ evidence: EquivocationEvidence) {
        let key = evidence.author
        if let existing = equivocations[key] {
            // Keep one canonical proof per author regardless of arrival order.
            let a = [existing.first.id, existing.second.id].sorted()
            let b = [evidence.first.id, evidence.second.id].sorted()
            if !(b.lexicographicallyPrecedes(a)) { return }
        }
        equivocations[key] = evidence
        epoch += 1
        rosterEpoch += 1  // the member's votes are void, amendment votes included
        // Both sides are signed by a member; halts among them count (doubt resolves toward pause).
        for side in [evidence.first, evidence.second] {
            if case .halt = side.entry.body { add(side, connected: false) }
        }
    }
}
