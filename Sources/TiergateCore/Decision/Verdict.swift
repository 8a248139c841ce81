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
    public var ignored: String?
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
    /// What passing did: "applied", "re-affirmed", or why it had no effect; nil while not passed.
    public var outcome: String?
    public var open: Bool
    /// Why the proposal cannot count at all (stale roster version, non-member proposer), or nil.
    public var invalid: String?
    public var votes: [CastVote]
}

public struct HaltStatus: Hashable, Sendable {
    public var id: Digest
    public var member: String
    public var time: UInt64
    public var reason: String
    /// The resume proposal that cleared it, or nil while active.
    public var resolvedBy: Digest?
    public var resolvedAt: UInt64?
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
    public var reason: String
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

    init(genesis: Roster, tally: Tally, now: UInt64) {
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
    func invalidity(of p: ProposalRecord) -> String? {
        guard p.time <= horizon else { return "dated beyond the allowed clock skew; not counted yet" }
        let idx = rosterIndex(at: p.time)
        guard p.rosterVersion == UInt64(idx + 1) else {
            return "names roster version \(p.rosterVersion) but version \(idx + 1) was in force at its time"
        }
        guard let m = rosters[idx].member(withKey: p.author) else { return "proposer is not a member" }
        guard !m.isObserver else { return "proposer is an observer; observers never propose" }
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
        let closes = min(p.proposal.closesAt, p.time &+ rule.windowMs)
        let versionEnds = cutoff(after: idx)
        let invalid = invalidity(of: p)

        var cast: [CastVote] = []
        var counted: [(VoteRecord, Member)] = []
        for (key, v) in tally.votes[p.id] ?? [:] {
            let member = roster.member(withKey: key)
            var why: String? = nil
            if v.time > horizon {
                why = "dated beyond the allowed clock skew; not counted yet"
            } else if member == nil {
                why = "not a member of roster version \(p.rosterVersion)"
            } else if member!.isObserver {
                why = "observers never vote"
            } else if tally.equivocations[key] != nil {
                why = "member equivocated; votes void until the key is rotated"
            } else if v.rosterVersion != p.rosterVersion {
                why = "names roster version \(v.rosterVersion), the proposal \(p.rosterVersion)"
            } else if v.time < p.time {
                why = "dated before the proposal"
            } else if v.time > closes {
                why = "cast after voting closed"
            } else if v.time > versionEnds {
                why = "cast after roster version \(p.rosterVersion) was superseded"
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

    mutating func run() -> Verdict {
        rosters = [genesis]
        activation = [0]
        horizon = now &+ genesis.policy.maxSkewMs
        var pending: (version: UInt64, activatesAt: UInt64)? = nil
        var pendingHash: Digest? = nil

        // 1. The roster chain: at each version, the earliest passed valid amendment defines the next one.
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
            guard let b = best else { break }
            let activatesAt = b.time &+ current.policy.amendCoolingOffMs
            // A version starting exactly at `now` is not in force yet (strictly after its start, §5.2).
            if activatesAt >= now {
                pending = (version + 1, activatesAt)
                pendingHash = b.roster.hash
                break
            }
            rosters.append(b.roster)
            activation.append(activatesAt)
            horizon = now &+ b.roster.policy.maxSkewMs
        }

        // 2. Every proposal's tally under the roster chain.
        var statuses: [Digest: ProposalStatus] = [:]
        enum Event {
            case halt(HaltRecord)
            case pass(ProposalRecord, UInt64)
            case activate(Int)
        }
        var events: [(time: UInt64, order: Int, id: Digest, event: Event)] = []
        for p in tally.proposals.values {
            let t = tally(p)
            statuses[p.id] = t.status
            if let at = t.passedAt {
                switch p.proposal.action {
                case .amend: break
                case .resume: events.append((at, 2, p.id, .pass(p, at)))
                case .advance: events.append((at, 3, p.id, .pass(p, at)))
                }
            }
        }
        for v in 1..<max(rosters.count, 1) {
            // After every other event at the same instant: at its start instant the previous version is in force.
            events.append((activation[v], 4, rosters[v].hash, .activate(v)))
        }

        // 3. Halts: from any member with halt authority, wherever seen.
        var haltStatus: [Digest: HaltStatus] = [:]
        for h in tally.halts.values {
            if h.time > horizon {
                ignored.append(IgnoredEntry(id: h.id, reason: "halt dated beyond the allowed clock skew; not counted yet"))
                continue
            }
            let idx = rosterIndex(at: h.time)
            guard h.rosterVersion == UInt64(idx + 1) else {
                ignored.append(IgnoredEntry(id: h.id, reason: "halt names roster version \(h.rosterVersion), not the one in force"))
                continue
            }
            guard let m = rosters[idx].member(withKey: h.author) else {
                ignored.append(IgnoredEntry(id: h.id, reason: "halt by a key that is not a member"))
                continue
            }
            guard rosters[idx].policy.mayHalt(roles: m.roles) else {
                ignored.append(IgnoredEntry(id: h.id, reason: "\(m.name) has no halt authority"))
                continue
            }
            haltStatus[h.id] = HaltStatus(id: h.id, member: m.name, time: h.time, reason: h.reason)
            events.append((h.time, 0, h.id, .halt(h)))
        }
        events.sort { ($0.time, $0.order, $0.id) < ($1.time, $1.order, $1.id) }

        // 4. Replay the events in time order.
        var rosterIdx = 0
        var tier = genesis.baseTier
        var since: UInt64? = nil
        var active: [Digest: UInt32] = [:]  // halt id -> authorised tier when it struck
        var history: [TierChange] = []
        func base() -> UInt32 { rosters[rosterIdx].baseTier }
        func lapseCheck(_ t: UInt64) {
            if let s = since, tier > base(), s &+ rosters[rosterIdx].policy.lapseMs <= t {
                tier = base()
                since = nil
                history.append(TierChange(time: s &+ rosters[rosterIdx].policy.lapseMs, tier: tier, cause: "authorisation lapsed"))
            }
        }
        for ev in events {
            lapseCheck(ev.time)
            switch ev.event {
            case .activate(let v):
                rosterIdx = v
                let r = rosters[v]
                // Authorisation granted by votes is kept (within the new ladder); the base tier is a default, so a
                // lab resting at its base moves to the new base.
                let next = since == nil ? r.baseTier : min(max(tier, r.baseTier), r.maxTier)
                if next != tier {
                    tier = next
                    history.append(TierChange(time: ev.time, tier: tier, cause: "roster version \(v + 1) took effect"))
                }
                if tier == r.baseTier { since = nil }
            case .halt(let h):
                active[h.id] = tier
                if tier != base() {
                    tier = base()
                    history.append(TierChange(time: h.time, tier: tier, cause: "halted by \(name(h.author)): \(h.reason)"))
                }
                since = nil
            case .pass(let p, let at):
                var outcome: String
                switch p.proposal.action {
                case .advance(let t):
                    if !active.isEmpty {
                        outcome = "no effect: halted when it passed"
                    } else if t == tier &+ 1 && t <= rosters[rosterIdx].maxTier {
                        tier = t
                        since = at
                        outcome = "applied"
                        history.append(TierChange(time: at, tier: t, cause: "proposal \(p.id.short) passed"))
                    } else if t == tier && t > base() {
                        since = at
                        outcome = "re-affirmed"
                    } else {
                        outcome = "no effect: authorised tier was \(tier) when it passed (one tier at a time)"
                    }
                case .resume(let t, let ids):
                    var ceiling: UInt32? = nil
                    for h in ids {
                        if let struckAt = active.removeValue(forKey: h) {
                            ceiling = max(ceiling ?? 0, struckAt)
                            haltStatus[h]?.resolvedBy = p.id
                            haltStatus[h]?.resolvedAt = at
                        }
                    }
                    if ceiling == nil {
                        outcome = "no effect: none of its halts was active"
                    } else if !active.isEmpty {
                        outcome = "resolved \(ids.count) halt(s); still halted by others"
                    } else {
                        let resumed = max(min(t, ceiling!, rosters[rosterIdx].maxTier), base())
                        if resumed != tier {
                            history.append(TierChange(time: at, tier: resumed, cause: "resumed by proposal \(p.id.short)"))
                        }
                        tier = resumed
                        since = resumed > base() ? at : nil
                        outcome = resumed < t ? "applied: resumed at tier \(resumed) (the tier when halted)" : "applied"
                    }
                case .amend:
                    outcome = "applied"
                }
                statuses[p.id]?.outcome = outcome
            }
        }
        lapseCheck(now)
        for (id, s) in statuses where s.passed && s.outcome == nil {
            guard case .amend(let proposed) = tally.proposals[id]!.proposal.action else { continue }
            if let v = rosters.firstIndex(of: proposed), v > 0 {
                statuses[id]?.outcome = "applied: roster version \(v + 1) in force"
            } else if let p = pending, p.version == proposed.version, pendingHash == proposed.hash {
                statuses[id]?.outcome = "passed; roster version \(p.version) takes effect after the cooling-off period"
            } else {
                statuses[id]?.outcome = "no effect: another amendment of roster version \(proposed.version - 1) passed first"
            }
        }

        let roster = rosters[rosterIdx]
        let halted = !active.isEmpty
        let authorized = halted ? roster.baseTier : tier
        var equivocations: [EquivocationStatus] = []
        for (key, ev) in tally.equivocations {
            equivocations.append(
                EquivocationStatus(member: name(key), key: key, seq: ev.first.entry.seq, ids: [ev.first.id, ev.second.id].sorted()))
        }
        equivocations.sort { $0.member < $1.member }
        return Verdict(
            at: now, authorizedTier: authorized, baseTier: roster.baseTier, halted: halted,
            authorizedSince: authorized > roster.baseTier ? since : nil,
            lapsesAt: authorized > roster.baseTier ? since.map { $0 &+ roster.policy.lapseMs } : nil,
            rosterVersion: roster.version, rosterHash: roster.hash, roster: roster, pendingRoster: pending,
            halts: haltStatus.values.sorted { ($0.time, $0.id) < ($1.time, $1.id) },
            proposals: statuses.values.sorted { ($0.time, $0.id) < ($1.time, $1.id) },
            equivocations: equivocations, ignored: ignored.sorted { $0.id < $1.id }, history: history,
            entryCount: tally.entryCount)
    }
}
