/// Where a drill stands (SPEC.md §5.8).
public enum DrillState: String, Hashable, Sendable, CaseIterable {
    /// Within its deadline, and not every enforcer has acknowledged in time yet.
    case pending
    /// Every enforcer the policy names acknowledged a stop completed within the deadline.
    case succeeded
    /// The deadline passed without that (or the policy names no enforcer).
    case failed

    public var code: UInt8 {
        switch self {
        case .pending: return 0
        case .succeeded: return 1
        case .failed: return 2
        }
    }

    public init?(code: UInt8) {
        guard let s = DrillState.allCases.first(where: { $0.code == code }) else { return nil }
        self = s
    }
}

/// One enforcer's acknowledgement of a drill, as a verdict reports it.
public struct DrillAckStatus: Hashable, Sendable {
    public var id: Digest
    public var member: String
    /// When it was signed (the enforcer's clock).
    public var time: UInt64
    public var receivedAt: UInt64
    public var stoppedAt: UInt64
    public var jobs: UInt32
    public var canary: CanaryOutcome
    /// Time to stop: `stoppedAt` minus the drill's time (0 when the enforcer's clock put the stop earlier).
    public var latencyMs: UInt64
    /// `stoppedAt` is within the policy's deadline of the drill.
    public var onTime: Bool
    /// The acknowledger is one of the enforcers the policy names (others are shown, and count for nothing).
    public var expected: Bool
}

/// A drill and its acknowledgements at the verdict's time.
public struct DrillStatus: Hashable, Sendable {
    public var id: Digest
    public var member: String
    public var time: UInt64
    public var reason: String
    /// The drill's time plus the policy's deadline.
    public var deadline: UInt64
    /// By member name.
    public var acks: [DrillAckStatus]
    /// The enforcers the policy names that have no on-time acknowledgement (yet).
    public var missing: [String]
    public var state: DrillState
}

/// The drill schedule at the verdict's time (SPEC.md §5.8).
public struct DrillSchedule: Hashable, Sendable {
    /// The policy's interval; 0: no schedule.
    public var intervalMs: UInt64
    /// The time of the latest successful drill.
    public var lastSuccess: UInt64?
    /// When the next successful drill is due: the last success plus the interval; nil without a schedule, or
    /// when no drill has succeeded yet (then it is overdue).
    public var dueAt: UInt64?
    /// A drill is due and none has succeeded within the interval.
    public var overdue: Bool
    /// The policy suspends authorisation above the base tier while a drill is overdue.
    public var lapseOnOverdue: Bool

    public static let none = DrillSchedule(intervalMs: 0, lastSuccess: nil, dueAt: nil, overdue: false, lapseOnOverdue: false)
}

extension Verdict {
    /// The drill with this id, if it counts.
    public func drill(_ id: Digest) -> DrillStatus? { drills.first { $0.id == id } }
}
