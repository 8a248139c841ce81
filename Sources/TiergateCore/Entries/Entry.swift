/// What kind of entry (SPEC.md §4.1).
public enum EntryKind: UInt8, Sendable, CaseIterable {
    case proposal = 1
    case vote = 2
    case halt = 3
    /// An exercise of the halt path (SPEC.md §4.1, §5.8): enforcers act as on a halt without stopping work.
    case drill = 4
    /// An enforcer's answer to a drill, signed with its observer key; never part of a feed.
    case drillAck = 5
    /// A halt by one of the members who may halt, not saying which (SPEC.md §2.5, §5.4): ring-signed, in no feed.
    case anonymousHalt = 6

    public var name: String {
        switch self {
        case .proposal: return "proposal"
        case .vote: return "vote"
        case .halt: return "halt"
        case .drill: return "drill"
        case .drillAck: return "drill_ack"
        case .anonymousHalt: return "anonymous_halt"
        }
    }

    /// Whether entries of this kind stand alone, outside any feed (seq 0, prev zero): drill acknowledgements and
    /// anonymous halts.
    public var isStandalone: Bool { self == .drillAck || self == .anonymousHalt }

    /// Whether entries of this kind stop the lab (a halt, named or anonymous).
    public var isHalt: Bool { self == .halt || self == .anonymousHalt }

    /// The label value in the node's metrics.
    public var metricName: String { name }
}

/// An evidence file a proposal rests on: its name and BLAKE2b-256.
public struct Evidence: Hashable, Sendable {
    public var name: String
    public var hash: Digest
    public init(name: String, hash: Digest) {
        self.name = name
        self.hash = hash
    }
}

/// What a proposal asks for.
public enum ProposalAction: Hashable, Sendable {
    /// Authorise `tier` (one above the authorised tier), or re-affirm the authorised tier.
    case advance(tier: UInt32)
    /// Clear these halts and resume at `tier`.
    case resume(tier: UInt32, halts: [Digest])
    /// Replace the roster in force with this one.
    case amend(Roster)

    public var code: UInt8 {
        switch self {
        case .advance: return 1
        case .resume: return 2
        case .amend: return 3
        }
    }

    public var name: String {
        switch self {
        case .advance: return "advance"
        case .resume: return "resume"
        case .amend: return "amend"
        }
    }
}

public struct Proposal: Hashable, Sendable {
    public var action: ProposalAction
    public var title: String
    public var evidence: [Evidence]
    /// Voting closes at this time (ms since the Unix epoch); votes dated later do not count.
    public var closesAt: UInt64

    public init(action: ProposalAction, title: String, evidence: [Evidence] = [], closesAt: UInt64) {
        self.action = action
        self.title = title
        self.evidence = evidence
        self.closesAt = closesAt
    }
}

public enum VoteChoice: UInt8, Sendable, CaseIterable {
    case yes = 1
    case no = 2
    case abstain = 3

    public var name: String {
        switch self {
        case .yes: return "yes"
        case .no: return "no"
        case .abstain: return "abstain"
        }
    }
}

public struct Vote: Hashable, Sendable {
    public var proposal: Digest
    public var choice: VoteChoice
    public var reason: String
    public init(proposal: Digest, choice: VoteChoice, reason: String = "") {
        self.proposal = proposal
        self.choice = choice
        self.reason = reason
    }
}

public struct Halt: Hashable, Sendable {
    public var reason: String
    public init(reason: String) { self.reason = reason }
}

/// A drill (SPEC.md §4.1): every enforcer treats it as a halt it must not act on, and acknowledges it.
public struct Drill: Hashable, Sendable {
    public var reason: String
    public init(reason: String) { self.reason = reason }
}

/// What an enforcer did with a designated canary job on a drill.
public enum CanaryOutcome: UInt8, Sendable, CaseIterable {
    /// No canary was designated (or none was running).
    case none = 0
    /// The canary was really stopped; `stoppedAt` is when it had stopped.
    case stopped = 1
    /// Stopping the canary failed.
    case failed = 2

    public var name: String {
        switch self {
        case .none: return "none"
        case .stopped: return "stopped"
        case .failed: return "failed"
        }
    }
}

/// An enforcer's acknowledgement of a drill (SPEC.md §4.1), signed with its observer key: when it received the
/// drill, when it would have completed the stop, and how many jobs it would have stopped. Times are the
/// enforcer's clock.
public struct DrillAck: Hashable, Sendable {
    /// The drill's entry id.
    public var drill: Digest
    public var receivedAt: UInt64
    /// When the stop would have been complete (with a canary: when the canary had stopped). ≥ `receivedAt`.
    public var stoppedAt: UInt64
    public var jobs: UInt32
    public var canary: CanaryOutcome

    public init(drill: Digest, receivedAt: UInt64, stoppedAt: UInt64, jobs: UInt32, canary: CanaryOutcome = .none) {
        self.drill = drill
        self.receivedAt = receivedAt
        self.stoppedAt = stoppedAt
        self.jobs = jobs
        self.canary = canary
    }
}

/// A halt ring-signed by one of the members who may halt (SPEC.md §4.1): the entry's `author` is the key image in
/// the context (genesis, period, slot), and its signature a ring signature over `ring`.
public struct AnonymousHalt: Hashable, Sendable {
    public var period: UInt64
    public var slot: UInt32
    /// Every key that may halt under the named roster version, ascending.
    public var ring: [PublicKey]
    public var reason: String
    public static let maxSlots: UInt32 = 16

    public init(period: UInt64, slot: UInt32, ring: [PublicKey], reason: String) {
        self.period = period
        self.slot = slot
        self.ring = ring
        self.reason = reason
    }

    public func context(genesis: Digest) -> RingSignature.Context { .init(genesis: genesis, period: period, slot: slot) }
}

public enum EntryBody: Hashable, Sendable {
    case proposal(Proposal)
    case vote(Vote)
    case halt(Halt)
    case drill(Drill)
    case drillAck(DrillAck)
    case anonymousHalt(AnonymousHalt)

    public var kind: EntryKind {
        switch self {
        case .proposal: return .proposal
        case .vote: return .vote
        case .halt: return .halt
        case .drill: return .drill
        case .drillAck: return .drillAck
        case .anonymousHalt: return .anonymousHalt
        }
    }
}

/// The signed content of an entry (SPEC.md §4): who, where in their feed, when, under which roster, and what.
public struct Entry: Hashable, Sendable {
    public var lab: String
    /// Hash of the genesis roster: binds the entry to one lab instance.
    public var genesis: Digest
    public var rosterVersion: UInt64
    public var author: PublicKey
    /// Position in the author's feed, from 1; 0 for a standalone entry (a drill acknowledgement).
    public var seq: UInt64
    /// Id of the author's previous entry; zero when `seq == 1`.
    public var prev: Digest
    /// Milliseconds since the Unix epoch (UTC), as the signer's clock said.
    public var time: UInt64
    public var body: EntryBody

    public init(
        lab: String, genesis: Digest, rosterVersion: UInt64, author: PublicKey, seq: UInt64, prev: Digest,
        time: UInt64, body: EntryBody
    ) {
        self.lab = lab
        self.genesis = genesis
        self.rosterVersion = rosterVersion
        self.author = author
        self.seq = seq
        self.prev = prev
        self.time = time
        self.body = body
    }

    public var kind: EntryKind { body.kind }
}
