/// Quorum progress of one role minimum.
public struct RoleProgress: Hashable, Sendable {
    public var role: String
    public var have: Int
    public var need: Int
}

/// A vote as shown in a verdict.
public struct CastVote: Hashable, Sendable {
    public var member: String
    public var choice: VoteChoice
    public var time: UInt64
    public var reason: String
    /// Why the vote does not count, or nil when it counts.
    public var ignored: Reason?
}

/// Everything a person or script needs to know about one proposal at the verdict's time.
public struct ProposalStatus: Hashable, Sendable {
    public var id: Digest
    public var action: String
    public var tier: UInt32
    public var title: String
    public var proposer: String
    public var time: UInt64
    public var closesAt: UInt64
    public var rosterVersion: UInt64
    public var evidence: [Evidence]
    public var resolvesHalts: [Digest]
    public var yes: Int
    public var no: Int
    public var abstain: Int
    public var needYes: Int
    public var roles: [RoleProgress]
    public var vetoedBy: [String]
    public var passed: Bool
    public var passedAt: UInt64?
    /// What passing did (applied, re-affirmed, or why it had no effect); nil while not passed.
    public var outcome: Reason?
    public var open: Bool
    /// Why the proposal cannot count at all (stale roster version, non-member proposer), or nil.
    public var invalid: Reason?
    public var votes: [CastVote]
}

public struct HaltStatus: Hashable, Sendable {
    public var id: Digest
    /// The member's name; for an anonymous halt, "anonymous (one of N members who may halt)".
    public var member: String
    public var time: UInt64
    public var reason: String
    /// The resume proposal that cleared it, or nil while active.
    public var resolvedBy: Digest?
    public var resolvedAt: UInt64?
    /// For an anonymous halt: how many members it hides among, and its key image (SPEC.md §2.5).
    public var ringSize: Int? = nil
    public var keyImage: PublicKey? = nil

    public var isAnonymous: Bool { ringSize != nil }
    public static func anonymousName(ringSize n: Int) -> String { "anonymous (one of \(n) member\(n == 1 ? "" : "s") who may halt)" }
}

/// Two or more anonymous halts with one key image: one member signed more than its quota in one (period, slot),
/// without being named (SPEC.md §4.3). They all still count.
public struct KeyImageReuse: Hashable, Sendable {
    public var keyImage: PublicKey
    public var ids: [Digest]
    public init(keyImage: PublicKey, ids: [Digest]) {
        self.keyImage = keyImage
        self.ids = ids
    }
}

public struct EquivocationStatus: Hashable, Sendable {
    public var member: String
    public var key: PublicKey
    public var seq: UInt64
    public var ids: [Digest]
}

/// An entry that was seen but does not count, and why.
public struct IgnoredEntry: Hashable, Sendable {
    public var id: Digest
    public var reason: Reason
}

/// One change of the authorised tier, for the audit trail.
public struct TierChange: Hashable, Sendable {
    public var time: UInt64
    public var tier: UInt32
    public var cause: String
}

/// The state of the lab at one instant, recomputed from the genesis roster and the entries alone (SPEC.md §5).
public struct Verdict: Sendable {
    public var at: UInt64
    public var authorizedTier: UInt32
    public var baseTier: UInt32
    public var halted: Bool
    /// When authorisation above the base tier was granted or last re-affirmed; nil at the base tier.
    public var authorizedSince: UInt64?
    /// When that authorisation lapses unless re-affirmed.
    public var lapsesAt: UInt64?
    public var rosterVersion: UInt64
    public var rosterHash: Digest
    public var roster: Roster
    /// A passed amendment that is still cooling off: (version, takes effect at).
    public var pendingRoster: (version: UInt64, activatesAt: UInt64)?
    public var halts: [HaltStatus]
    public var proposals: [ProposalStatus]
    public var equivocations: [EquivocationStatus]
    public var ignored: [IgnoredEntry]
    public var history: [TierChange]
    public var entryCount: Int
    /// Every counted drill, oldest first, with its acknowledgements (SPEC.md §5.8).
    public var drills: [DrillStatus] = []
    public var drillSchedule: DrillSchedule = .none
    /// Key images used by more than one anonymous halt (SPEC.md §4.3), by key image.
    public var keyImageReuse: [KeyImageReuse] = []
    /// The first instant after `at` at which time alone (no new entry) could change this verdict: a lapse, a
    /// window closing, a roster version starting, an entry dated ahead coming within the skew. Until then, with
    /// the same entries, the verdict is this one with only `at` changed (SPEC.md §8.6). `UInt64.max`: never.
    public var validUntil: UInt64 = .max

    public var activeHalts: [HaltStatus] { halts.filter { $0.resolvedBy == nil } }
}

extension Verdict {
    /// Computes the verdict at time `now` (ms since the Unix epoch).
    ///
    /// Deterministic and independent of the order in which entries were added to `tally`: every choice below is
    /// made by time, then by a fixed kind order, then by entry id.
    public static func compute(genesis: Roster, tally: Tally, at now: UInt64) -> Verdict {
        var computation = VerdictComputation(genesis: genesis, tally: tally, now: now)
        return computation.run()
    }
}

private struct VerdictComputation {
    let genesis: Roster
    let tally: Tally
    let now: UInt64
    /// Entries dated after this are not counted yet (P4): `now` plus the newest roster's maximum clock skew.
    var horizon: UInt64 = 0

    var rosters: [Roster] = []  // index = version - 1
    var activation: [UInt64] = []  // activation time of each version
    var ignored: [IgnoredEntry] = []
    /// Collects the instants after `now` at which the verdict could change by time alone (``Verdict/validUntil``).
    final class NextChange {
        let now: UInt64
        var at = UInt64.max
        init(now: UInt64) { self.now = now }
        func note(_ t: UInt64) { if t > now && t < at { at = t } }
    }
    let nextChange: NextChange

    /// The instant an entry dated `time`, beyond the horizon now, comes within the clock skew.
    func noteDatedAhead(_ time: UInt64) { nextChange.note(now.addingSaturating(time &- horizon)) }

    init(genesis: Roster, tally: Tally, now: UInt64) {
        self.nextChange = NextChange(now: now)
        self.genesis = genesis
        self.tally = tally
        self.now = now
    }

    func rosterIndex(at time: UInt64) -> Int {
        var i = 0
        // A version is in force strictly after its activation instant (SPEC.md §5.2).
        while i + 1 < activation.count, activation[i + 1] < time { i += 1 }
        return i
    }

    func cutoff(after index: Int) -> UInt64 {
        index + 1 < activation.count ? activation[index + 1] : UInt64.max
    }

    func name(_ key: PublicKey) -> String {
        for r in rosters.reversed() { if let m = r.member(withKey: key) { return m.name } }
        return "non-member \(key.fingerprint)"
    }

    func rule(for p: ProposalRecord, in roster: Roster) -> Rule {
        switch p.proposal.action {
        case .advance(let tier): return roster.policy.advanceRule(for: tier)
        case .resume: return roster.policy.resume
        case .amend: return roster.policy.amend
        }
    }

    /// Why `p` cannot count, or nil. Versions in force are taken from `activation` as known so far.
    func invalidity(of p: ProposalRecord) -> Reason? {
        guard p.time <= horizon else {
            noteDatedAhead(p.time)
            return Reason(.proposalDatedAhead, "dated beyond the allowed clock skew; not counted yet") }
        let idx = rosterIndex(at: p.time)
        guard p.rosterVersion == UInt64(idx + 1) else {
            return Reason(.proposalWrongRosterVersion, "names roster version \(p.rosterVersion) but version \(idx + 1) was in force at its time")
        }
        guard let m = rosters[idx].member(withKey: p.author) else { return Reason(.proposalByNonMember, "proposer is not a member") }
        guard !m.isObserver else { return Reason(.proposalByObserver, "proposer is an observer; observers never propose") }
        return nil
    }

    struct Tallied {
        var status: ProposalStatus
        var passedAt: UInt64?
    }

    /// Counts the votes on `p` in time order and finds the instant its rule was first met.
    func tally(_ p: ProposalRecord) -> Tallied {
        // Versions come from signed input: never convert an unchecked UInt64 to Int.
        let idx = p.rosterVersion <= UInt64(rosters.count) ? Int(p.rosterVersion) - 1 : rosters.count - 1
        let roster = rosters[idx]
        let rule = rule(for: p, in: roster)
        let closes = min(p.proposal.closesAt, p.time.addingSaturating(rule.windowMs))
        let versionEnds = cutoff(after: idx)
        nextChange.note(closes.addingSaturating(1))  // `open` turns false after these instants
        nextChange.note(versionEnds.addingSaturating(1))
        let invalid = invalidity(of: p)

        var cast: [CastVote] = []
        var counted: [(VoteRecord, Member)] = []
        for (key, v) in tally.votes[p.id] ?? [:] {
            let member = roster.member(withKey: key)
            var why: Reason? = nil
            if v.time > horizon {
                noteDatedAhead(v.time)
                why = Reason(.voteDatedAhead, "dated beyond the allowed clock skew; not counted yet")
            } else if member == nil {
                why = Reason(.voteByNonMember, "not a member of roster version \(p.rosterVersion)")
            } else if member!.isObserver {
                why = Reason(.voteByObserver, "observers never vote")
            } else if tally.equivocations[key] != nil {
                why = Reason(.voteByEquivocator, "member equivocated; votes void until the key is rotated")
            } else if v.rosterVersion != p.rosterVersion {
                why = Reason(.voteWrongRosterVersion, "names roster version \(v.rosterVersion), the proposal \(p.rosterVersion)")
            } else if v.time < p.time {
                why = Reason(.voteBeforeProposal, "dated before the proposal")
            } else if v.time > closes {
                why = Reason(.voteAfterWindow, "cast after voting closed")
            } else if v.time > versionEnds {
                why = Reason(.voteAfterRosterSuperseded, "cast after roster version \(p.rosterVersion) was superseded")
            }
            if let m = member, why == nil { counted.append((v, m)) }
            cast.append(CastVote(member: name(key), choice: v.choice, time: v.time, reason: v.reason, ignored: why))
        }
        cast.sort { ($0.time, $0.member) < ($1.time, $1.member) }
        counted.sort { ($0.0.time, $0.1.key) < ($1.0.time, $1.1.key) }

        var yes: [Member] = []
        var no = 0
        var abstain = 0
        var vetoed: [String] = []
        var passedAt: UInt64? = nil
        func met() -> Bool {
            guard yes.count >= Int(rule.minYes), vetoed.isEmpty else { return false }
            return rule.roleMinimums.allSatisfy { m in yes.filter { $0.roles.contains(m.role) }.count >= Int(m.count) }
        }
        for (v, m) in counted {
            switch v.choice {
            case .yes: yes.append(m)
            case .no:
                no += 1
                if m.roles.contains(where: { rule.vetoRoles.contains($0) }) { vetoed.append(m.name) }
            case .abstain: abstain += 1
            }
            if passedAt == nil, invalid == nil, met() { passedAt = v.time }
        }
        let tier: UInt32
        var resolves: [Digest] = []
        switch p.proposal.action {
        case .advance(let t): tier = t
        case .resume(let t, let h):
            tier = t
            resolves = h
        case .amend(let r): tier = r.baseTier
        }
        let status = ProposalStatus(
            id: p.id, action: p.proposal.action.name, tier: tier, title: p.proposal.title, proposer: name(p.author),
            time: p.time, closesAt: closes, rosterVersion: p.rosterVersion, evidence: p.proposal.evidence,
            resolvesHalts: resolves, yes: yes.count, no: no, abstain: abstain, needYes: Int(rule.minYes),
            roles: rule.roleMinimums.map { m in
                RoleProgress(role: m.role, have: yes.filter { $0.roles.contains(m.role) }.count, need: Int(m.count))
            },
            vetoedBy: vetoed, passed: passedAt != nil, passedAt: passedAt, outcome: nil,
            open: passedAt == nil && vetoed.isEmpty && invalid == nil && now <= closes && now <= versionEnds,
            invalid: invalid, votes: cast)
        return Tallied(status: status, passedAt: passedAt)
    }

    /// A passed amendment still cooling off at `now`.
    struct Pending {
        var version: UInt64
        var activatesAt: UInt64
        var hash: Digest
    }

    enum Event {
        case halt(HaltRecord)
        case pass(ProposalRecord, UInt64)
        case activate(Int)
    }

    /// A timed event of the replay; ties are broken by `order` (halts first, activations last), then by id.
    struct TimedEvent {
        var time: UInt64
        var order: Int
        var id: Digest
        var event: Event
    }

    /// The authorised tier as the replay moves through time.
    struct ReplayState {
        var rosterIdx = 0
        var tier: UInt32
        var since: UInt64? = nil
        var active: [Digest: UInt32] = [:]  // halt id -> authorised tier when it struck
        var history: [TierChange] = []
        /// Halts already replayed.
        var replayedHalts: Set<Digest> = []
        /// Halts a passed resume named before their own (later) replay time: they never come into force.
        var resolvedAhead: Set<Digest> = []
    }

    /// SPEC.md §5: the phases, in order.
    mutating func run() -> Verdict {
        rosters = [genesis]
        activation = [0]
        horizon = now.addingSaturating(genesis.policy.maxSkewMs)
        let pending = rosterVersions()
        var (statuses, events) = passing()
        var haltStatus = halts(into: &events)
        events.sort { ($0.time, $0.order, $0.id) < ($1.time, $1.order, $1.id) }
        var state = ReplayState(tier: genesis.baseTier)
        for ev in events { replay(ev, &state, &statuses, &haltStatus) }
        lapse(at: now, &state)
        amendmentOutcomes(&statuses, pending: pending)
        let drills = drillStatuses()
        var v = report(state, statuses: statuses, halts: haltStatus, pending: pending)
        applySchedule(drills, to: &v)
        v.keyImageReuse = keyImageReuse()
        v.validUntil = nextChange.at  // the schedule noted its due time after the report was made
        return v
    }

    /// Roster versions (§5.2): at each version, the earliest passed valid amendment defines the next one; it is in
    /// force strictly after its cooling-off ends. Returns a passed amendment still cooling off at `now`.
    mutating func rosterVersions() -> Pending? {
        let amendments = tally.proposals.values.filter {
            if case .amend = $0.proposal.action { return true } else { return false }
        }
        while true {
            let version = UInt64(rosters.count)
            let current = rosters[rosters.count - 1]
            var best: (time: UInt64, id: Digest, roster: Roster)? = nil
            for p in amendments where p.rosterVersion == version {
                guard case .amend(let next) = p.proposal.action,
                    next.version == version + 1, next.previous == current.hash, next.lab == current.lab,
                    let at = tally(p).passedAt
                else { continue }
                if best == nil || (at, p.id) < (best!.time, best!.id) { best = (at, p.id, next) }
            }
            guard let b = best else { return nil }
            let activatesAt = b.time.addingSaturating(current.policy.amendCoolingOffMs)
            // A version starting exactly at `now` is not in force yet (strictly after its start, §5.2).
            if activatesAt >= now {
                nextChange.note(activatesAt.addingSaturating(1))
                return Pending(version: version + 1, activatesAt: activatesAt, hash: b.roster.hash) }
            rosters.append(b.roster)
            activation.append(activatesAt)
            horizon = now.addingSaturating(b.roster.policy.maxSkewMs)
        }
    }

    /// Passing (§5.3): every proposal's tally under the roster chain; passed resumes and advances become events,
    /// and so does the start of every roster version after the first.
    func passing() -> (statuses: [Digest: ProposalStatus], events: [TimedEvent]) {
        var statuses: [Digest: ProposalStatus] = [:]
        var events: [TimedEvent] = []
        for p in tally.proposals.values {
            let t = tally(p)
            statuses[p.id] = t.status
            if let at = t.passedAt {
                switch p.proposal.action {
                case .amend: break
                case .resume: events.append(TimedEvent(time: at, order: 2, id: p.id, event: .pass(p, at)))
                case .advance: events.append(TimedEvent(time: at, order: 3, id: p.id, event: .pass(p, at)))
                }
            }
        }
        for v in 1..<max(rosters.count, 1) {
            // After every other event at the same instant: at its start instant the previous version is in force.
            events.append(TimedEvent(time: activation[v], order: 4, id: rosters[v].hash, event: .activate(v)))
        }
        return (statuses, events)
    }

    /// Halts (§5.4): from any member with halt authority under the version in force at the halt's time, wherever
    /// seen, whatever their date: a halt dated beyond the horizon is a stop now, replayed at the horizon. Counted
    /// halts become events; the others are reported as ignored, with a reason.
    mutating func halts(into events: inout [TimedEvent]) -> [Digest: HaltStatus] {
        var haltStatus: [Digest: HaltStatus] = [:]
        for h in tally.halts.values {
            // Replayed at the horizon, which moves with `now`: until the halt's own time is within the skew, the
            // verdict may change at any instant (a cache must not keep it).
            if h.time > horizon { nextChange.note(now.addingSaturating(1)) }
            if let a = h.anonymous {
                if let why = anonymousHaltRefusal(h, a) {
                    ignored.append(IgnoredEntry(id: h.id, reason: why))
                    continue
                }
                haltStatus[h.id] = HaltStatus(id: h.id, member: HaltStatus.anonymousName(ringSize: a.ring.count), time: h.time,
                                              reason: h.reason, ringSize: a.ring.count, keyImage: h.author)
                events.append(TimedEvent(time: min(h.time, horizon), order: 0, id: h.id, event: .halt(h)))
                continue
            }
            // The version in force at its time decides membership and authority. It may name an earlier version
            // (signed from a stale view, or dated past a version's start by a fast clock) if its author could halt
            // under that one too: a stop is not lost to a roster change (§5.4).
            let idx = rosterIndex(at: h.time)
            guard h.rosterVersion >= 1, h.rosterVersion <= UInt64(idx + 1) else {
                ignored.append(IgnoredEntry(id: h.id, reason: Reason(.haltWrongRosterVersion, "halt names roster version \(h.rosterVersion), not yet in force at its time")))
                continue
            }
            guard let m = rosters[idx].member(withKey: h.author) else {
                ignored.append(IgnoredEntry(id: h.id, reason: Reason(.haltByNonMember, "halt by a key that is not a member")))
                continue
            }
            guard rosters[idx].policy.mayHalt(roles: m.roles) else {
                ignored.append(IgnoredEntry(id: h.id, reason: Reason(.haltWithoutAuthority, "\(m.name) has no halt authority")))
                continue
            }
            let named = Int(h.rosterVersion) - 1
            if named != idx {
                guard let old = rosters[named].member(withKey: h.author), rosters[named].policy.mayHalt(roles: old.roles) else {
                    ignored.append(IgnoredEntry(id: h.id, reason: Reason(.haltWrongRosterVersion,
                        "halt names roster version \(h.rosterVersion), under which its author could not halt")))
                    continue
                }
            }
            haltStatus[h.id] = HaltStatus(id: h.id, member: m.name, time: h.time, reason: h.reason)
            events.append(TimedEvent(time: min(h.time, horizon), order: 0, id: h.id, event: .halt(h)))
        }
        return haltStatus
    }

    /// Why an anonymous halt does not count (§5.4), or nil when it does: its version must be in force by its time,
    /// both that version and the one in force allow anonymous halts, its slot and period fit its version, and its
    /// ring is exactly its version's halt set with every key still able to halt under the version in force.
    func anonymousHaltRefusal(_ h: HaltRecord, _ a: AnonymousHalt) -> Reason? {
        let idx = rosterIndex(at: h.time)
        guard h.rosterVersion >= 1, h.rosterVersion <= UInt64(idx + 1) else {
            return Reason(.anonymousHaltWrongRosterVersion, "anonymous halt names roster version \(h.rosterVersion), not yet in force at its time")
        }
        let named = rosters[Int(h.rosterVersion) - 1], current = rosters[idx]
        guard current.policy.anonymous.allowed else {
            return Reason(.anonymousHaltNotAllowed, "roster version \(current.version), in force at its time, does not allow anonymous halts")
        }
        if let misfit = named.anonymousHaltMisfit(a, at: h.time) { return misfit }
        let stillMayHalt = Set(current.policy.haltSet(in: current))
        guard a.ring.allSatisfy(stillMayHalt.contains) else {
            return Reason(.anonymousHaltWrongRing, "its ring holds a key that may not halt under roster version \(current.version), in force at its time")
        }
        return nil
    }

    /// Lapse (§5.5): authorisation above the base tier that was not re-affirmed within the policy's `lapse`.
    func lapse(at t: UInt64, _ s: inout ReplayState) {
        let base = rosters[s.rosterIdx].baseTier
        let lapseMs = rosters[s.rosterIdx].policy.lapseMs
        if let since = s.since, s.tier > base { nextChange.note(since.addingSaturating(lapseMs)) }
        // `since + lapse ≤ t`, exactly (no sum that could pass 2^64).
        if let since = s.since, s.tier > base, t >= since, t - since >= lapseMs {
            s.tier = base
            s.since = nil
            s.history.append(TierChange(time: since.addingSaturating(lapseMs), tier: base, cause: "authorisation lapsed"))
        }
    }

    /// Replay (§5.5): one event, after the lapse check at its time.
    func replay(_ ev: TimedEvent, _ s: inout ReplayState, _ statuses: inout [Digest: ProposalStatus],
                _ haltStatus: inout [Digest: HaltStatus]) {
        lapse(at: ev.time, &s)
        let base = rosters[s.rosterIdx].baseTier
        switch ev.event {
        case .activate(let v):
            s.rosterIdx = v
            let r = rosters[v]
            // Authorisation granted by votes is kept (within the new ladder); the base tier is a default, so a
            // lab resting at its base moves to the new base.
            let next = s.since == nil ? r.baseTier : min(max(s.tier, r.baseTier), r.maxTier)
            if next != s.tier {
                s.tier = next
                s.history.append(TierChange(time: ev.time, tier: s.tier, cause: "roster version \(v + 1) took effect"))
            }
            if s.tier == r.baseTier { s.since = nil }
        case .halt(let h):
            s.replayedHalts.insert(h.id)
            if s.resolvedAhead.contains(h.id) { return }  // a resume that passed earlier in the replay named it
            s.active[h.id] = s.tier
            if s.tier != base {
                s.tier = base
                let by = h.anonymous.map { HaltStatus.anonymousName(ringSize: $0.ring.count) } ?? name(h.author)
                s.history.append(TierChange(time: h.time, tier: s.tier, cause: "halted by \(by): \(h.reason)"))
            }
            s.since = nil
        case .pass(let p, let at):
            statuses[p.id]?.outcome = passOutcome(p, at: at, &s, &haltStatus)
        }
    }

    /// What a passed advance or resume does to the replay state, and the outcome reported for it.
    func passOutcome(_ p: ProposalRecord, at: UInt64, _ s: inout ReplayState,
                     _ haltStatus: inout [Digest: HaltStatus]) -> Reason {
        let base = rosters[s.rosterIdx].baseTier
        let maxTier = rosters[s.rosterIdx].maxTier
        switch p.proposal.action {
        case .advance(let t):
            if !s.active.isEmpty { return Reason(.haltedWhenPassed, "no effect: halted when it passed") }
            if s.tier < UInt32.max && t == s.tier + 1 && t <= maxTier {
                s.tier = t
                s.since = at
                s.history.append(TierChange(time: at, tier: t, cause: "proposal \(p.id.short) passed"))
                return Reason(.applied, "applied")
            }
            if t == s.tier && t > base {
                s.since = at
                return Reason(.reaffirmed, "re-affirmed")
            }
            return Reason(.notNextTier, "no effect: authorised tier was \(s.tier) when it passed (one tier at a time)")
        case .resume(let t, let ids):
            var ceiling: UInt32? = nil
            var ahead = 0
            for h in ids {
                if let struckAt = s.active.removeValue(forKey: h) {
                    ceiling = max(ceiling ?? 0, struckAt)
                    haltStatus[h]?.resolvedBy = p.id
                    haltStatus[h]?.resolvedAt = at
                } else if haltStatus[h] != nil, !s.replayedHalts.contains(h), !s.resolvedAhead.contains(h) {
                    // A counted halt dated after this pass (a fast clock): resolved before it comes into force.
                    s.resolvedAhead.insert(h)
                    haltStatus[h]?.resolvedBy = p.id
                    haltStatus[h]?.resolvedAt = at
                    ahead += 1
                }
            }
            guard let ceiling else {
                return ahead > 0 ? Reason(.resolvedAhead, "resolved \(ahead) halt(s) dated after it passed, before they came into force")
                    : Reason(.noActiveHalt, "no effect: none of its halts was active")
            }
            if !s.active.isEmpty {
                return Reason(.stillHaltedByOthers, "resolved \(ids.count) halt(s); still halted by others")
            }
            let resumed = max(min(t, ceiling, maxTier), base)
            if resumed != s.tier {
                s.history.append(TierChange(time: at, tier: resumed, cause: "resumed by proposal \(p.id.short)"))
            }
            s.tier = resumed
            s.since = resumed > base ? at : nil
            return resumed < t ? Reason(.appliedAtHaltedTier, "applied: resumed at tier \(resumed) (the tier when halted)")
                : Reason(.applied, "applied")
        case .amend:
            return Reason(.amendmentInForce, "applied")
        }
    }

    /// Outcomes of passed amendments (§5.2): in force, cooling off, or beaten by another amendment.
    func amendmentOutcomes(_ statuses: inout [Digest: ProposalStatus], pending: Pending?) {
        for (id, s) in statuses where s.passed && s.outcome == nil {
            guard case .amend(let proposed) = tally.proposals[id]!.proposal.action else { continue }
            if let v = rosters.firstIndex(of: proposed), v > 0 {
                statuses[id]?.outcome = Reason(.amendmentInForce, "applied: roster version \(v + 1) in force")
            } else if let p = pending, p.version == proposed.version, p.hash == proposed.hash {
                statuses[id]?.outcome = Reason(.amendmentCoolingOff, "passed; roster version \(p.version) takes effect after the cooling-off period")
            } else {
                statuses[id]?.outcome = Reason(.amendmentSuperseded, "no effect: another amendment of roster version \(proposed.version - 1) passed first")
            }
        }
    }

    /// Drills (§5.8): each counted drill with its acknowledgements; the drills and acknowledgements that do not
    /// count are reported as ignored.
    mutating func drillStatuses() -> [DrillStatus] {
        var out: [DrillStatus] = []
        for d in tally.drills.values {
            if d.time > horizon {
                noteDatedAhead(d.time)
                ignored.append(IgnoredEntry(id: d.id, reason: Reason(.drillDatedAhead, "drill dated after now + max_skew: not counted yet")))
                continue
            }
            let r = rosters[rosterIndex(at: d.time)]
            guard d.rosterVersion == r.version else {
                ignored.append(IgnoredEntry(id: d.id, reason: Reason(.drillWrongRosterVersion, "drill names roster version \(d.rosterVersion), not the one in force at its time")))
                continue
            }
            guard let m = r.member(withKey: d.author) else {
                ignored.append(IgnoredEntry(id: d.id, reason: Reason(.drillByNonMember, "drill by a key that is not a member")))
                continue
            }
            guard r.policy.mayDrill(roles: m.roles) else {
                ignored.append(IgnoredEntry(id: d.id, reason: Reason(.drillWithoutAuthority, "\(m.name) may not start drills")))
                continue
            }
            let deadline = d.time.addingSaturating(r.policy.drill.deadlineMs)
            let enforcers = r.policy.drillEnforcers(in: r)
            var acks: [DrillAckStatus] = []
            // By key, not name: an enforcer renamed by a later amendment still acknowledged.
            var onTime = Set<PublicKey>()
            for a in (tally.drillAcks[d.id] ?? [:]).values {
                if a.time > horizon {
                    noteDatedAhead(a.time)
                    ignored.append(IgnoredEntry(id: a.id, reason: Reason(.drillAckDatedAhead, "drill acknowledgement dated after now + max_skew: not counted yet")))
                    continue
                }
                guard rosters.contains(where: { $0.member(withKey: a.author) != nil }) else {
                    ignored.append(IgnoredEntry(id: a.id, reason: Reason(.drillAckByNonMember, "drill acknowledgement by a key that is not a member")))
                    continue
                }
                if a.ack.stoppedAt <= deadline { onTime.insert(a.author) }
                acks.append(DrillAckStatus(
                    id: a.id, member: name(a.author), time: a.time, receivedAt: a.ack.receivedAt, stoppedAt: a.ack.stoppedAt,
                    jobs: a.ack.jobs, canary: a.ack.canary,
                    latencyMs: a.ack.stoppedAt >= d.time ? a.ack.stoppedAt - d.time : 0,
                    onTime: a.ack.stoppedAt <= deadline, expected: enforcers.contains { $0.key == a.author }))
            }
            acks.sort { ($0.member, $0.id) < ($1.member, $1.id) }
            let missing = enforcers.filter { !onTime.contains($0.key) }.map(\.name)
            let state: DrillState
            if !enforcers.isEmpty && missing.isEmpty {
                state = .succeeded
            } else if now >= deadline {
                state = .failed
            } else {
                state = .pending
                nextChange.note(deadline)
            }
            out.append(DrillStatus(id: d.id, member: m.name, time: d.time, reason: d.reason, deadline: deadline, acks: acks,
                                   missing: missing, state: state))
        }
        for (drill, acks) in tally.drillAcks where tally.drills[drill] == nil {
            for a in acks.values {
                ignored.append(IgnoredEntry(id: a.id, reason: Reason(.drillAckUnknownDrill, "acknowledges drill \(drill.short)…, which this ledger does not hold")))
            }
        }
        return out.sorted { ($0.time, $0.id) < ($1.time, $1.id) }
    }

    /// Key-image reuse (§4.3): anonymous halts sharing a key image, counted or not, each reported once.
    func keyImageReuse() -> [KeyImageReuse] {
        var byImage: [PublicKey: [Digest]] = [:]
        for h in tally.halts.values where h.anonymous != nil { byImage[h.author, default: []].append(h.id) }
        return byImage.filter { $0.value.count >= 2 }.map { KeyImageReuse(keyImage: $0.key, ids: $0.value.sorted()) }
            .sorted { $0.keyImage < $1.keyImage }
    }

    /// The schedule (§5.8): with an interval, a successful drill is due that long after the last one; while one is
    /// overdue and the policy says so, authorisation above the base tier is suspended, and it lapses at the due
    /// time (so every enforcer applies it at its own clock, like a lapse).
    func applySchedule(_ drills: [DrillStatus], to v: inout Verdict) {
        v.drills = drills
        let policy = v.roster.policy.drill
        guard policy.intervalMs > 0 else { return }
        let last = drills.filter { $0.state == .succeeded }.map(\.time).max()
        let due = last.map { $0.addingSaturating(policy.intervalMs) }
        let overdue = due.map { now >= $0 } ?? true
        if let due, !overdue { nextChange.note(due) }
        v.drillSchedule = DrillSchedule(intervalMs: policy.intervalMs, lastSuccess: last, dueAt: due, overdue: overdue,
                                        lapseOnOverdue: policy.lapseOnOverdue)
        guard policy.lapseOnOverdue, v.authorizedTier > v.baseTier else { return }
        if overdue {
            v.history.append(TierChange(time: due ?? now, tier: v.baseTier, cause: due == nil
                ? "authorisation above the base tier suspended: no drill has succeeded yet (the policy requires one every \(DurationText.format(policy.intervalMs)))"
                : "authorisation above the base tier suspended: drill overdue"))
            v.authorizedTier = v.baseTier
            v.authorizedSince = nil
            v.lapsesAt = nil
        } else if let due {
            v.lapsesAt = min(v.lapsesAt ?? .max, due)
        }
    }

    /// Report (§5.6): the verdict at `now`.
    func report(_ s: ReplayState, statuses: [Digest: ProposalStatus], halts haltStatus: [Digest: HaltStatus],
                pending: Pending?) -> Verdict {
        let roster = rosters[s.rosterIdx]
        let halted = !s.active.isEmpty
        let authorized = halted ? roster.baseTier : s.tier
        var equivocations: [EquivocationStatus] = []
        // Only keys on a roster version of the chain built for `now` (SPEC.md §6.4): the evidence of a key that
        // only a proposed, pending or losing amendment names is checked, then ignored.
        for (key, ev) in tally.equivocations where rosters.contains(where: { $0.member(withKey: key) != nil }) {
            equivocations.append(
                EquivocationStatus(member: name(key), key: key, seq: ev.first.entry.seq, ids: [ev.first.id, ev.second.id].sorted()))
        }
        equivocations.sort { $0.member < $1.member }
        return Verdict(
            at: now, authorizedTier: authorized, baseTier: roster.baseTier, halted: halted,
            authorizedSince: authorized > roster.baseTier ? s.since : nil,
            lapsesAt: authorized > roster.baseTier ? s.since.map { $0.addingSaturating(roster.policy.lapseMs) } : nil,
            rosterVersion: roster.version, rosterHash: roster.hash, roster: roster,
            pendingRoster: pending.map { ($0.version, $0.activatesAt) },
            halts: haltStatus.values.sorted { ($0.time, $0.id) < ($1.time, $1.id) },
            proposals: statuses.values.sorted { ($0.time, $0.id) < ($1.time, $1.id) },
            equivocations: equivocations, ignored: ignored.sorted { $0.id < $1.id }, history: s.history,
            entryCount: tally.entryCount, validUntil: nextChange.at)
    }
}
