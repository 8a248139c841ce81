/// A roster member: a name, an Ed25519 key, and roles.
public struct Member: Hashable, Sendable {
    public var name: String
    public var key: PublicKey
    public var roles: [String]

    /// The read-only role (SPEC.md §3.2): an observer holds no other role, and nothing it signs ever counts.
    public static let observerRole = "observer"
    public var isObserver: Bool { roles.contains(Member.observerRole) }

    public init(name: String, key: PublicKey, roles: [String]) {
        self.name = name
        self.key = key
        self.roles = roles.sorted()
    }
}

extension Sequence where Element == Member {
    /// The members who vote, halt, attest and run nodes: every one but the observers (SPEC.md §3.2).
    public var voters: [Member] { filter { !$0.isObserver } }
}

/// The roster content (SPEC.md §3): who the lab's members are and the policy they govern by.
///
/// The genesis roster (version 1) is signed by every member listed in it; its hash is the lab's trust anchor.
/// Later versions are carried inside passed amendment proposals.
public struct Roster: Hashable, Sendable {
    public var lab: String
    public var version: UInt64
    /// Hash of the roster this one amends; zero for genesis.
    public var previous: Digest
    public var baseTier: UInt32
    public var maxTier: UInt32
    /// Sorted by name.
    public var members: [Member]
    public var policy: Policy
    /// The encoding format it was signed in (SPEC.md §3.1): 2, or 1 for rosters of the first release (whose
    /// freshness rule is a bare count). Kept, so that a roster's bytes, hash and signatures never change.
    public var format: UInt8

    public init(
        lab: String, version: UInt64 = 1, previous: Digest = .zero, baseTier: UInt32, maxTier: UInt32,
        members: [Member], policy: Policy, format: UInt8 = Roster.formatVersion
    ) {
        self.format = format
        self.lab = lab
        self.version = version
        self.previous = previous
        self.baseTier = baseTier
        self.maxTier = maxTier
        self.members = members.sorted { $0.name < $1.name }
        self.policy = policy
    }

    /// The member holding `key`, if any.
    public func member(withKey key: PublicKey) -> Member? { members.first { $0.key == key } }
    public func member(named name: String) -> Member? { members.first { $0.name == name } }

    /// The exact bytes hashed for the roster hash and signed by founders.
    public var signingMessage: [UInt8] { SigningDomain.roster.message(encoded()) }

    /// BLAKE2b-256 of ``signingMessage``; for the genesis roster this is the lab's trust anchor.
    public var hash: Digest { Blake2b.hash256(signingMessage) }
}

// MARK: - Canonical encoding (SPEC.md §3.1)

extension Roster {
    /// The format writers produce when the drill policy is the default; ``legacyFormat`` is still read.
    public static let formatVersion: UInt8 = 2
    public static let legacyFormat: UInt8 = 1
    /// Format 3 adds the drill policy (SPEC.md §3.1); writers use it only when that policy is not the default, so
    /// a roster without drill settings keeps the bytes (and hash) it had.
    public static let drillFormat: UInt8 = 3

    /// Why an anonymous halt dated `time` and naming this roster does not fit it (SPEC.md §5.4), or nil: this roster
    /// must allow anonymous halts, the slot be below its `per_period`, the period be `time`'s, and the ring be
    /// exactly its halt set. The decision rule adds the version in force at `time`; nodes and watchers accept
    /// what fits a roster they know.
    public func anonymousHaltMisfit(_ a: AnonymousHalt, at time: UInt64) -> Reason? {
        let p = policy.anonymous
        guard p.allowed else {
            return Reason(.anonymousHaltNotAllowed, "roster version \(version) does not allow anonymous halts")
        }
        guard a.slot < p.perPeriod else {
            return Reason(.anonymousHaltNotAllowed, "slot \(a.slot) is beyond the \(p.perPeriod) anonymous halt(s) allowed per period")
        }
        guard a.period == p.period(at: time) else {
            return Reason(.anonymousHaltWrongPeriod, "period \(a.period) is not its time's period (\(p.period(at: time)))")
        }
        guard a.ring == policy.haltSet(in: self) else {
            return Reason(.anonymousHaltWrongRing, "its ring is not the members who may halt under roster version \(version)")
        }
        return nil
    }

    /// Format 4 adds the anonymous-halt policy (SPEC.md §3.1), used only when anonymous halts are allowed.
    public static let anonymousFormat: UInt8 = 4

    /// The format a writer uses for `policy`.
    public static func format(for policy: Policy) -> UInt8 {
        policy.anonymous != .default ? anonymousFormat : policy.drill == .default ? formatVersion : drillFormat
    }

    public func encoded() -> [UInt8] {
        var w = ByteWriter()
        w.u8(format)
        w.string(lab)
        w.u64(version)
        w.raw(previous.bytes)
        w.u32(baseTier)
        w.u32(maxTier)
        w.list(members) { w, m in
            w.string(m.name)
            w.raw(m.key.bytes)
            w.list(m.roles) { $0.string($1) }
        }
        Roster.encode(policy, format: format, into: &w)
        return w.bytes
    }

    static func encode(_ p: Policy, format: UInt8, into w: inout ByteWriter) {
        encode(p.advance, into: &w)
        w.list(p.advanceOverrides) { w, o in
            w.u32(o.tier)
            Roster.encode(o.rule, into: &w)
        }
        w.list(p.haltRoles) { $0.string($1) }
        encode(p.resume, into: &w)
        encode(p.amend, into: &w)
        w.u64(p.amendCoolingOffMs)
        w.u64(p.tokenTTLMs)
        w.u64(p.lapseMs)
        w.u64(p.maxSkewMs)
        w.u32(p.freshness.minAttesters)
        // Format 1 has no role minimums here (validate() rejects a format-1 roster that has some).
        if format != Roster.legacyFormat { encode(p.freshness.roleMinimums, into: &w) }
        if format >= Roster.drillFormat {
            w.list(p.drill.roles) { $0.string($1) }
            w.list(p.drill.enforcers) { $0.string($1) }
            w.u64(p.drill.intervalMs)
            w.u64(p.drill.deadlineMs)
            w.u8(p.drill.lapseOnOverdue ? 1 : 0)
        }
        if format >= Roster.anonymousFormat {
            w.u32(p.anonymous.perPeriod)
            w.u64(p.anonymous.periodMs)
        }
    }

    /// `list<(ident role, u32 count)>(16)`: the role minimums of a rule and of the freshness rule (SPEC.md §3.1).
    static func encode(_ mins: [RoleMinimum], into w: inout ByteWriter) {
        w.list(mins) { w, m in
            w.string(m.role)
            w.u32(m.count)
        }
    }

    static func decodeRoleMinimums(_ r: inout ByteReader, _ field: String) throws(DecodeError) -> [RoleMinimum] {
        let mins = try r.list(field, max: Limits.maxRuleRoles) { (r: inout ByteReader) throws(DecodeError) in
            RoleMinimum(role: try r.identifier("\(field)[].role"), count: try r.u32("\(field)[].count"))
        }
        try checkAscending(mins.map(\.role), field: field)
        return mins
    }

    static func encode(_ r: Rule, into w: inout ByteWriter) {
        w.u32(r.minYes)
        encode(r.roleMinimums, into: &w)
        w.list(r.vetoRoles) { $0.string($1) }
        w.u64(r.windowMs)
    }

    /// Decodes canonical roster bytes and checks them with ``validate()``.
    public init(decoding bytes: [UInt8]) throws(DecodeError) {
        guard bytes.count <= Limits.maxRosterBytes else {
            throw .tooLong(field: "roster", length: bytes.count, max: Limits.maxRosterBytes)
        }
        var r = ByteReader(bytes)
        let format = try r.u8("roster.format")
        guard (Roster.legacyFormat...Roster.anonymousFormat).contains(format) else {
            throw .unsupportedVersion(field: "roster format", version: Int(format))
        }
        let lab = try r.identifier("roster.lab")
        let version = try r.u64("roster.version")
        let previous = try r.digest("roster.previous")
        let base = try r.u32("roster.base_tier")
        let maxTier = try r.u32("roster.max_tier")
        let members = try r.list("roster.members", max: Limits.maxMembers) { (r: inout ByteReader) throws(DecodeError) in
            let name = try r.identifier("member.name")
            let key = try r.publicKey("member.key")
            let roles = try r.list("member.roles", max: Limits.maxRolesPerMember) {
                (r: inout ByteReader) throws(DecodeError) in try r.identifier("member.roles[]")
            }
            try Roster.checkAscending(roles, field: "member.roles")
            return Member(name: name, key: key, roles: roles)
        }
        try Roster.checkAscending(members.map(\.name), field: "roster.members (by name)")
        let policy = try Roster.decodePolicy(&r, format: format)
        try r.finish()
        self.init(
            lab: lab, version: version, previous: previous, baseTier: base, maxTier: maxTier, members: members,
            policy: policy, format: format)
        try validate()
    }

    static func decodePolicy(_ r: inout ByteReader, format: UInt8) throws(DecodeError) -> Policy {
        let advance = try decodeRule(&r, "policy.advance")
        let overrides = try r.list("policy.advance_overrides", max: Limits.maxOverrides) {
            (r: inout ByteReader) throws(DecodeError) in
            TierRule(tier: try r.u32("override.tier"), rule: try decodeRule(&r, "override.rule"))
        }
        try checkAscending(overrides.map(\.tier), field: "policy.advance_overrides (by tier)")
        let haltRoles = try r.list("policy.halt_roles", max: Limits.maxRuleRoles) {
            (r: inout ByteReader) throws(DecodeError) in try r.identifier("policy.halt_roles[]", allowStar: true)
        }
        try checkAscending(haltRoles, field: "policy.halt_roles")
        let resume = try decodeRule(&r, "policy.resume")
        let amend = try decodeRule(&r, "policy.amend")
        return Policy(
            advance: advance, advanceOverrides: overrides, haltRoles: haltRoles, resume: resume, amend: amend,
            amendCoolingOffMs: try r.u64("policy.amend_cooling_off_ms"), tokenTTLMs: try r.u64("policy.token_ttl_ms"),
            lapseMs: try r.u64("policy.lapse_ms"), maxSkewMs: try r.u64("policy.max_skew_ms"),
            freshness: try decodeFreshness(&r, format: format), drill: try decodeDrill(&r, format: format),
            anonymous: try decodeAnonymous(&r, format: format))
    }

    static func decodeAnonymous(_ r: inout ByteReader, format: UInt8) throws(DecodeError) -> AnonymousPolicy {
        guard format >= anonymousFormat else { return .default }
        return AnonymousPolicy(perPeriod: try r.u32("policy.anonymous.per_period"), periodMs: try r.u64("policy.anonymous.period_ms"))
    }

    static func decodeDrill(_ r: inout ByteReader, format: UInt8) throws(DecodeError) -> DrillPolicy {
        guard format >= drillFormat else { return .default }
        let roles = try r.list("policy.drill.roles", max: Limits.maxRuleRoles) {
            (r: inout ByteReader) throws(DecodeError) in try r.identifier("policy.drill.roles[]", allowStar: true)
        }
        try checkAscending(roles, field: "policy.drill.roles")
        let enforcers = try r.list("policy.drill.enforcers", max: Limits.maxDrillEnforcers) {
            (r: inout ByteReader) throws(DecodeError) in try r.identifier("policy.drill.enforcers[]")
        }
        try checkAscending(enforcers, field: "policy.drill.enforcers")
        let interval = try r.u64("policy.drill.interval_ms")
        let deadline = try r.u64("policy.drill.deadline_ms")
        let lapse = try r.u8("policy.drill.lapse_on_overdue")
        guard lapse <= 1 else { throw .invalidValue(field: "policy.drill.lapse_on_overdue", reason: "a boolean is 0 or 1") }
        return DrillPolicy(roles: roles, enforcers: enforcers, intervalMs: interval, deadlineMs: deadline, lapseOnOverdue: lapse == 1)
    }

    static func decodeFreshness(_ r: inout ByteReader, format: UInt8) throws(DecodeError) -> FreshnessRule {
        if format == legacyFormat { return FreshnessRule(minAttesters: try r.u32("policy.freshness_quorum")) }
        let min = try r.u32("policy.freshness.min_attesters")
        return FreshnessRule(minAttesters: min, roleMinimums: try decodeRoleMinimums(&r, "policy.freshness.role_minimums"))
    }

    static func decodeRule(_ r: inout ByteReader, _ field: String) throws(DecodeError) -> Rule {
        let minYes = try r.u32("\(field).min_yes")
        let mins = try decodeRoleMinimums(&r, "\(field).role_minimums")
        let veto = try r.list("\(field).veto_roles", max: Limits.maxRuleRoles) {
            (r: inout ByteReader) throws(DecodeError) in try r.identifier("\(field).veto_roles[]")
        }
        try checkAscending(veto, field: "\(field).veto_roles")
        let window = try r.u64("\(field).window_ms")
        return Rule(minYes: minYes, roleMinimums: mins, vetoRoles: veto, windowMs: window)
    }

    static func checkAscending<T: Comparable>(_ items: [T], field: String) throws(DecodeError) {
        for i in items.indices.dropFirst() where !(items[i - 1] < items[i]) {
            throw .notCanonicalOrder(field: field)
        }
    }
}

// MARK: - Consistency (SPEC.md §3.3)

extension Roster {
    /// Checks that the roster is consistent: every rule reachable by its members, someone able to halt, keys and
    /// names distinct, bounds respected. Throws the first violation found.
    public func validate() throws(DecodeError) {
        try TextRules.checkIdentifier(lab, field: "lab")
        guard version >= 1 else { throw .invalidValue(field: "roster.version", reason: "versions start at 1") }
        if version == 1, !previous.isZero {
            throw .invalidValue(field: "roster.previous", reason: "the genesis roster (version 1) has no previous roster")
        }
        if version > 1, previous.isZero {
            throw .invalidValue(field: "roster.previous", reason: "an amended roster names the hash of the roster it amends")
        }
        guard baseTier <= maxTier else {
            throw .invalidValue(field: "roster.base_tier", reason: "base tier \(baseTier) is above max tier \(maxTier)")
        }
        guard !members.isEmpty else { throw .invalidValue(field: "roster.members", reason: "a roster needs at least one member") }
        guard members.count <= Limits.maxMembers else {
            throw .tooLong(field: "roster.members", length: members.count, max: Limits.maxMembers)
        }
        for m in members {
            try TextRules.checkIdentifier(m.name, field: "member.name")
            guard !m.roles.isEmpty else { throw .invalidValue(field: "member \(m.name).roles", reason: "every member has at least one role") }
            for role in m.roles where role == "*" {
                throw .invalidValue(field: "member \(m.name).roles", reason: "'*' is not a role a member can hold")
            }
            if m.isObserver, m.roles.count > 1 {
                throw .invalidValue(field: "member \(m.name).roles", reason: "'observer' is read-only and holds no other role")
            }
        }
        try Roster.checkAscending(members.map(\.name), field: "roster.members (by name)")
        guard Set(members.map(\.key)).count == members.count else {
            throw .invalidValue(field: "roster.members", reason: "two members share one public key")
        }
        for m in members where !Ed25519.isUsablePublicKey(m.key.bytes) {
            throw .invalidValue(field: "member \(m.name).key", reason: "not a valid Ed25519 public key (small order or not on the curve)")
        }
        try check(policy.advance, "policy.advance")
        for o in policy.advanceOverrides {
            guard o.tier > baseTier, o.tier <= maxTier else {
                throw .invalidValue(
                    field: "policy.advance_overrides", reason: "tier \(o.tier) is outside the ladder above base tier \(baseTier) up to \(maxTier)")
            }
            try check(o.rule, "policy.advance_overrides[\(o.tier)]")
        }
        try check(policy.resume, "policy.resume")
        try check(policy.amend, "policy.amend")
        guard !policy.haltRoles.isEmpty,
            members.contains(where: { policy.mayHalt(roles: $0.roles) })
        else {
            throw .invalidValue(field: "policy.halt_roles", reason: "no member could halt; stop-work authority is required")
        }
        guard policy.tokenTTLMs >= Limits.minTokenTTLMs, policy.tokenTTLMs <= Limits.maxTokenTTLMs else {
            throw .invalidValue(field: "policy.token_ttl", reason: "must be between 1s and 24h")
        }
        guard policy.lapseMs >= policy.tokenTTLMs else {
            throw .invalidValue(field: "policy.lapse", reason: "must be at least the token TTL")
        }
        guard policy.lapseMs <= Limits.maxDurationMs else {
            throw .invalidValue(field: "policy.lapse", reason: "must be at most 10 years (3650d)")
        }
        guard policy.amendCoolingOffMs <= Limits.maxDurationMs else {
            throw .invalidValue(field: "policy.amend_cooling_off", reason: "must be at most 10 years (3650d)")
        }
        guard policy.maxSkewMs <= 3_600_000 else {
            throw .invalidValue(field: "policy.max_skew", reason: "must be at most 1h")
        }
        guard (Roster.legacyFormat...Roster.anonymousFormat).contains(format) else {
            throw .unsupportedVersion(field: "roster format", version: Int(format))
        }
        try checkDrill()
        try checkAnonymous()
        let fresh = policy.freshness
        let freshField = format == Roster.legacyFormat ? "policy.freshness_quorum" : "policy.freshness.min_attesters"
        guard fresh.minAttesters >= 1, fresh.minAttesters <= UInt32(members.voters.count) else {
            throw .invalidValue(field: freshField, reason: "must be between 1 and the number of members that are not observers")
        }
        if format == Roster.legacyFormat, !fresh.roleMinimums.isEmpty {
            throw .invalidValue(field: "policy.freshness.role_minimums", reason: "a format-1 roster cannot carry them; write the roster in format 2")
        }
        for m in fresh.roleMinimums {
            if m.role == "*" || m.role == Member.observerRole {
                throw .invalidValue(field: "policy.freshness.role_minimums", reason: "'\(m.role)' cannot be a role minimum: observers never attest")
            }
            let holders = members.voters.filter { $0.roles.contains(m.role) }.count
            guard m.count >= 1, UInt32(holders) >= m.count else {
                throw .invalidValue(field: "policy.freshness.role_minimums", reason: "needs \(m.count) '\(m.role)' attester(s) but \(holders) member(s) hold it")
            }
        }
    }

    private func checkAnonymous() throws(DecodeError) {
        let a = policy.anonymous
        if format < Roster.anonymousFormat {
            guard a == .default else {
                throw .invalidValue(field: "policy.anonymous_halts", reason: "a format-\(format) roster allows no anonymous halts; write the roster in format 4")
            }
            return
        }
        guard a.perPeriod <= AnonymousHalt.maxSlots else {
            throw .invalidValue(field: "policy.anonymous_halts.per_period", reason: "must be at most \(AnonymousHalt.maxSlots)")
        }
        guard a.periodMs >= AnonymousPolicy.minPeriodMs, a.periodMs <= Limits.maxDurationMs else {
            throw .invalidValue(field: "policy.anonymous_halts.period", reason: "must be between 1h and 10 years (3650d)")
        }
    }

    private func checkDrill() throws(DecodeError) {
        let d = policy.drill
        if format < Roster.drillFormat {
            guard d == .default else {
                throw .invalidValue(field: "policy.drill", reason: "a format-\(format) roster has the default drill policy; write the roster in format 3")
            }
            return
        }
        if d.roles.contains(Member.observerRole) {
            throw .invalidValue(field: "policy.drill.roles", reason: "observers never start drills")
        }
        if !d.roles.isEmpty, !members.contains(where: { policy.mayDrill(roles: $0.roles) }) {
            throw .invalidValue(field: "policy.drill.roles", reason: "no member could start a drill")
        }
        for name in d.enforcers {
            guard let m = member(named: name) else {
                throw .invalidValue(field: "policy.drill.enforcers", reason: "'\(name)' is not a member")
            }
            guard m.isObserver else {
                throw .invalidValue(field: "policy.drill.enforcers", reason: "'\(name)' is not an observer: enforcers acknowledge drills with observer keys")
            }
        }
        guard d.intervalMs == 0 || (d.intervalMs >= DrillPolicy.minIntervalMs && d.intervalMs <= Limits.maxDurationMs) else {
            throw .invalidValue(field: "policy.drill.interval", reason: "must be 0 (no schedule) or between 1m and 10 years (3650d)")
        }
        guard d.deadlineMs >= 1_000, d.deadlineMs <= DrillPolicy.maxDeadlineMs else {
            throw .invalidValue(field: "policy.drill.deadline", reason: "must be between 1s and 24h")
        }
        if d.intervalMs != 0, d.deadlineMs >= d.intervalMs {
            throw .invalidValue(field: "policy.drill.deadline", reason: "must be shorter than the interval")
        }
        if d.lapseOnOverdue {
            guard d.intervalMs > 0 else {
                throw .invalidValue(field: "policy.drill.lapse_on_overdue", reason: "needs an interval: without one no drill is ever overdue")
            }
            guard !policy.drillEnforcers(in: self).isEmpty else {
                throw .invalidValue(field: "policy.drill.lapse_on_overdue", reason: "needs at least one enforcer (observer) to acknowledge drills")
            }
        }
    }

    private func check(_ rule: Rule, _ field: String) throws(DecodeError) {
        if rule.vetoRoles.contains("*") || rule.roleMinimums.contains(where: { $0.role == "*" }) {
            throw .invalidValue(field: field, reason: "'*' is only meaningful in halt_roles")
        }
        guard rule.minYes >= 1 else {
            throw .invalidValue(field: "\(field).min_yes", reason: "must be at least 1: nothing may pass without assent")
        }
        if rule.vetoRoles.contains(Member.observerRole) || rule.roleMinimums.contains(where: { $0.role == Member.observerRole }) {
            throw .invalidValue(field: field, reason: "observers never vote; 'observer' cannot be a veto role or a role minimum")
        }
        let voters = members.voters.count
        guard rule.minYes <= UInt32(voters) else {
            throw .invalidValue(
                field: "\(field).min_yes", reason: "\(rule.minYes) yes votes needed but only \(voters) voting members exist")
        }
        for m in rule.roleMinimums {
            let holders = members.filter { $0.roles.contains(m.role) }.count
            guard m.count >= 1, UInt32(holders) >= m.count else {
                throw .invalidValue(
                    field: "\(field).role_minimums", reason: "needs \(m.count) '\(m.role)' but \(holders) member(s) hold it")
            }
        }
        guard rule.windowMs >= Limits.minWindowMs, rule.windowMs <= Limits.maxDurationMs else {
            throw .invalidValue(field: "\(field).window", reason: "the voting window must be between 1s and 10 years (3650d)")
        }
    }
}
