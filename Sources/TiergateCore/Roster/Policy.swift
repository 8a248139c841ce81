/// A threshold rule (SPEC.md §3.2): how many distinct current members must vote yes, which roles must be among
/// them, which roles can veto, and how long the vote may stay open.
public struct Rule: Hashable, Sendable {
    /// At least this many distinct members vote yes. Always ≥ 1: nothing passes without assent (P1).
    public var minYes: UInt32
    /// For each role, at least this many of the yes voters hold it. Sorted by role, no duplicates.
    public var roleMinimums: [RoleMinimum]
    /// A "no" from any member holding one of these roles blocks the proposal. Sorted, no duplicates.
    public var vetoRoles: [String]
    /// The longest voting window (from the proposal's time to its `closes_at`).
    public var windowMs: UInt64

    public init(minYes: UInt32, roleMinimums: [RoleMinimum] = [], vetoRoles: [String] = [], windowMs: UInt64) {
        self.minYes = minYes
        self.roleMinimums = roleMinimums.sorted { $0.role < $1.role }
        self.vetoRoles = vetoRoles.sorted()
        self.windowMs = windowMs
    }
}

public struct RoleMinimum: Hashable, Sendable {
    public var role: String
    public var count: UInt32
    public init(role: String, count: UInt32) {
        self.role = role
        self.count = count
    }
}

/// Who must attest a tier token's freshness (SPEC.md §3.1, §9.2): the nodes of at least `minAttesters` distinct
/// members that are not observers, and for each role minimum at least `count` of those attesters holding the role.
/// With `minAttesters ≥ 2` no single member's node can issue a token, so no single node can hide a halt.
public struct FreshnessRule: Hashable, Sendable {
    public var minAttesters: UInt32
    /// Sorted by role, no duplicates.
    public var roleMinimums: [RoleMinimum]

    public init(minAttesters: UInt32, roleMinimums: [RoleMinimum] = []) {
        self.minAttesters = minAttesters
        self.roleMinimums = roleMinimums.sorted { $0.role < $1.role }
    }

    /// The default for `voters` members that are not observers: two whenever there are two or more.
    public static func defaultRule(voters: Int) -> FreshnessRule {
        FreshnessRule(minAttesters: voters >= 2 ? 2 : 1)
    }

    /// Why `attesters` (distinct members, observers already excluded) do not meet the rule; nil when they do.
    public func shortfall(_ attesters: [Member]) -> String? {
        let distinct = Dictionary(attesters.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a }).values
        if distinct.count < Int(minAttesters) {
            return "\(distinct.count) distinct member node(s) attested; the policy needs \(minAttesters)"
        }
        for m in roleMinimums {
            let have = distinct.filter { $0.roles.contains(m.role) }.count
            if have < Int(m.count) {
                return "\(have) attesting node(s) of a '\(m.role)' member; the policy needs \(m.count)"
            }
        }
        return nil
    }

    /// Plain words for people: "2 members' nodes, at least 1 safety".
    public var summary: String {
        let roles = roleMinimums.map { "at least \($0.count) \($0.role)" }
        return (["\(minAttesters) member node\(minAttesters == 1 ? "" : "s")"] + roles).joined(separator: ", ")
    }
}

/// Halt drills (SPEC.md §3.1, §5.8): who may start one, which enforcers must acknowledge it, how often one is due
/// and how long enforcers have to acknowledge. Roster format 3; formats 1 and 2 have the default.
public struct DrillPolicy: Hashable, Sendable {
    /// Roles whose holders may start a drill; `*` every member; empty: the halt roles.
    public var roles: [String]
    /// Names of the members (observers) that must acknowledge each drill; empty: every observer.
    public var enforcers: [String]
    /// A successful drill is due this often; 0: no schedule.
    public var intervalMs: UInt64
    /// An acknowledgement counts as on time when the stop it reports completed within this of the drill.
    public var deadlineMs: UInt64
    /// While a drill is overdue, authorisation above the base tier is suspended (fail closed).
    public var lapseOnOverdue: Bool

    public init(roles: [String] = [], enforcers: [String] = [], intervalMs: UInt64 = 0, deadlineMs: UInt64 = 60_000,
                lapseOnOverdue: Bool = false) {
        self.roles = roles.sorted()
        self.enforcers = enforcers.sorted()
        self.intervalMs = intervalMs
        self.deadlineMs = deadlineMs
        self.lapseOnOverdue = lapseOnOverdue
    }

    /// What a roster of format 1 or 2 means: drills by those who may halt, every observer acknowledges, one
    /// minute to do so, no schedule.
    public static let `default` = DrillPolicy()
    public static let minIntervalMs: UInt64 = 60_000
    public static let maxDeadlineMs: UInt64 = 86_400_000
}

/// Anonymous halts (SPEC.md §3.1, §5.4): how many each member who may halt may sign per period. Roster format 4;
/// earlier formats have the default (none).
public struct AnonymousPolicy: Hashable, Sendable {
    /// Anonymous halts per member per period; 0: not allowed.
    public var perPeriod: UInt32
    /// The period's length; periods count from the Unix epoch.
    public var periodMs: UInt64

    public init(perPeriod: UInt32 = 0, periodMs: UInt64 = 30 * 86_400_000) {
        self.perPeriod = perPeriod
        self.periodMs = periodMs
    }

    public static let `default` = AnonymousPolicy()
    public static let minPeriodMs: UInt64 = 3_600_000
    public var allowed: Bool { perPeriod >= 1 }
    /// The period a time falls in.
    public func period(at time: UInt64) -> UInt64 { time / periodMs }
}

/// A per-tier override of the advance rule.
public struct TierRule: Hashable, Sendable {
    public var tier: UInt32
    public var rule: Rule
    public init(tier: UInt32, rule: Rule) {
        self.tier = tier
        self.rule = rule
    }
}

/// The lab's governance policy, part of every roster (SPEC.md §3.2).
public struct Policy: Hashable, Sendable {
    /// The rule for advancing to any tier without an override.
    public var advance: Rule
    /// Per-tier overrides, ascending by tier.
    public var advanceOverrides: [TierRule]
    /// Roles whose holders may halt alone; `*` means every member.
    public var haltRoles: [String]
    /// The rule for clearing halts.
    public var resume: Rule
    /// The rule for amending the roster (members, keys, roles, policy).
    public var amend: Rule
    /// A passed amendment takes effect this long after it passed.
    public var amendCoolingOffMs: UInt64
    /// The longest lifetime of a tier token.
    public var tokenTTLMs: UInt64
    /// Authorisation above the base tier lapses this long after it was granted or last re-affirmed.
    public var lapseMs: UInt64
    /// The largest tolerated clock difference; entries dated further in the future are not counted yet.
    public var maxSkewMs: UInt64
    /// Which member nodes must attest a token's freshness.
    public var freshness: FreshnessRule
    /// Halt drills.
    public var drill: DrillPolicy
    /// Anonymous halts.
    public var anonymous: AnonymousPolicy

    public init(
        advance: Rule, advanceOverrides: [TierRule] = [], haltRoles: [String] = ["*"], resume: Rule, amend: Rule,
        amendCoolingOffMs: UInt64 = 0, tokenTTLMs: UInt64 = 10 * 60_000, lapseMs: UInt64 = 30 * 86_400_000,
        maxSkewMs: UInt64 = 120_000, freshness: FreshnessRule = FreshnessRule(minAttesters: 1), drill: DrillPolicy = .default,
        anonymous: AnonymousPolicy = .default
    ) {
        self.drill = drill
        self.anonymous = anonymous
        self.advance = advance
        self.advanceOverrides = advanceOverrides.sorted { $0.tier < $1.tier }
        self.haltRoles = haltRoles.sorted()
        self.resume = resume
        self.amend = amend
        self.amendCoolingOffMs = amendCoolingOffMs
        self.tokenTTLMs = tokenTTLMs
        self.lapseMs = lapseMs
        self.maxSkewMs = maxSkewMs
        self.freshness = freshness
    }

    /// The default policy for `memberCount` members (CLI.md): advance and resume by strict majority, halt by
    /// anyone, amend by two thirds (rounded up), 7-day voting windows, 10-minute tokens, 30-day lapse,
    /// 2-minute skew, tokens attested by two members' nodes (one when there is one voting member).
    public static func defaultPolicy(memberCount: Int) -> Policy {
        let n = UInt32(max(memberCount, 1))
        let week: UInt64 = 7 * 86_400_000
        let majority = Rule(minYes: n / 2 + 1, windowMs: week)
        let twoThirds = Rule(minYes: (2 * n + 2) / 3, windowMs: week)
        return Policy(advance: majority, resume: majority, amend: twoThirds, freshness: .defaultRule(voters: Int(n)))
    }

    /// The advance rule for `tier` (an override, or the default advance rule).
    public func advanceRule(for tier: UInt32) -> Rule {
        advanceOverrides.first { $0.tier == tier }?.rule ?? advance
    }

    /// Whether a member holding `roles` may start a drill (the drill roles, or the halt roles when none are named).
    public func mayDrill(roles: [String]) -> Bool {
        guard !roles.contains(Member.observerRole) else { return false }
        let allowed = drill.roles.isEmpty ? haltRoles : drill.roles
        return allowed.contains("*") || roles.contains { allowed.contains($0) }
    }

    /// The members that must acknowledge a drill under `roster` (SPEC.md §5.8).
    public func drillEnforcers(in roster: Roster) -> [Member] {
        drill.enforcers.isEmpty ? roster.members.filter(\.isObserver) : drill.enforcers.compactMap { roster.member(named: $0) }
    }

    /// The keys that may halt under `roster`, ascending: the ring of an anonymous halt naming it (SPEC.md §5.4).
    /// (``Roster/anonymousHaltMisfit(_:at:)`` checks a halt against it.)
    public func haltSet(in roster: Roster) -> [PublicKey] {
        roster.members.filter { mayHalt(roles: $0.roles) }.map(\.key).sorted()
    }

    /// Whether a member holding `roles` may halt alone.
    public func mayHalt(roles: [String]) -> Bool {
        guard !roles.contains(Member.observerRole) else { return false }  // observers are read-only
        return haltRoles.contains("*") || roles.contains { haltRoles.contains($0) }
    }
}

/// Bounds of protocol v1 (SPEC.md §2.3).
public enum Limits {
    public static let maxMembers = 256
    public static let maxRolesPerMember = 16
    public static let maxRuleRoles = 16
    public static let maxOverrides = 64
    public static let maxTitle = 256
    public static let maxReason = 1024
    public static let maxEvidence = 32
    public static let maxEvidenceName = 128
    public static let maxResumeHalts = 64
    public static let maxDrillEnforcers = 256
    public static let maxRosterBytes = 128 * 1024
    public static let maxEntryBytes = 192 * 1024
    public static let minTokenTTLMs: UInt64 = 1_000
    public static let maxTokenTTLMs: UInt64 = 86_400_000
    public static let minWindowMs: UInt64 = 1_000
    /// The longest voting window, lapse and amendment cooling-off (SPEC.md §3.1): 10 years of 365 days. With
    /// every duration this small, no sum of a time and a duration reaches 2^64 before the year 584,000,000; the
    /// decision rule still saturates every such sum (§5).
    public static let maxDurationMs: UInt64 = 3_650 * 86_400_000
}
