/// Why a token does not allow a launch (exit 1), each with a reason a person can act on.
public enum TokenDenial: Error, Equatable, Sendable, CustomStringConvertible {
    case wrongLab(String)
    case tierTooLow(token: UInt32, asked: UInt32)
    case expired(at: UInt64)
    case fromTheFuture(issuedAt: UInt64)
    case ttlTooLong(UInt64, max: UInt64)
    case badEntry(String)
    case notAuthorised(tier: UInt32, recomputed: UInt32, halted: Bool)
    case attestations(String)
    case haltedOnline(String)

    public var description: String {
        switch self {
        case .wrongLab(let r): return "token is for another lab or roster: \(r)"
        case .tierTooLow(let t, let a): return "token is for tier \(t), launch asks for tier \(a)"
        case .expired(let at): return "token expired at \(TimeText.format(at)); get a fresh one (tiergate token)"
        case .fromTheFuture(let at): return "token is issued at \(TimeText.format(at)), beyond the allowed clock skew: check the clocks"
        case .ttlTooLong(let t, let m): return "token lifetime \(DurationText.format(t)) exceeds the policy's token TTL \(DurationText.format(m))"
        case .badEntry(let r): return "token carries an invalid entry (tampered?): \(r)"
        case .notAuthorised(let t, let r, let h):
            return "the token's entries do not authorise tier \(t) now (recomputed: tier \(r)\(h ? ", halted" : "")): quorum not met, lapsed or halted"
        case .attestations(let r): return "freshness attestations do not hold: \(r)"
        case .haltedOnline(let r): return "a node reports: \(r)"
        }
    }
}

/// What an allowed check established.
public struct TokenCheck: Sendable {
    public var tier: UInt32
    public var expiresAt: UInt64
    public var attesters: [String]
    public var rosterVersion: UInt64
    /// The roster in force in the token's recomputed verdict (its freshness rule says how many nodes to ask).
    public var roster: Roster
}

/// Offline token verification (SPEC.md §9.3): everything from the genesis roster and the token, at time `now`.
public enum TokenChecker {
    public static func check(_ token: TierToken, genesis: Roster, tier asked: UInt32, now: UInt64) throws(TokenDenial) -> TokenCheck {
        let g = genesis.hash
        guard token.lab == genesis.lab, token.genesis == g else {
            throw .wrongLab("token names lab '\(token.lab)', genesis \(token.genesis.short)…; the roster is '\(genesis.lab)', \(g.short)…")
        }
        guard token.tier >= asked else { throw .tierTooLow(token: token.tier, asked: asked) }
        var tally = Tally()
        var atPosition: [PublicKey: [UInt64: SignedEntry]] = [:]
        for (i, bytes) in token.entries.enumerated() {
            let e: SignedEntry
            do { e = try SignedEntry(decoding: bytes).verified(lab: genesis.lab, genesis: g) } catch {
                throw .badEntry("entry #\(i): \(error)")
            }
            tally.add(e, connected: true)
            // Two different entries of one author at one feed position are equivocation, here as in a ledger
            // (SPEC.md §9.3): that member's votes stop counting.
            if e.entry.kind.isStandalone { continue }  // a drill acknowledgement has no feed position
            if let other = atPosition[e.entry.author]?[e.entry.seq], other.id != e.id {
                tally.addEquivocation(EquivocationEvidence(first: other, second: e))
            } else {
                atPosition[e.entry.author, default: [:]][e.entry.seq] = e
            }
        }
        let verdict = Verdict.compute(genesis: genesis, tally: tally, at: now)
        let policy = verdict.roster.policy
        guard token.issuedAt <= now.addingSaturating(policy.maxSkewMs) else { throw .fromTheFuture(issuedAt: token.issuedAt) }
        guard now < token.expiresAt else { throw .expired(at: token.expiresAt) }
        guard token.expiresAt - token.issuedAt <= policy.tokenTTLMs else {
            throw .ttlTooLong(token.expiresAt - token.issuedAt, max: policy.tokenTTLMs)
        }
        guard !verdict.halted, verdict.authorizedTier >= token.tier else {
            throw .notAuthorised(tier: token.tier, recomputed: verdict.authorizedTier, halted: verdict.halted)
        }
        let core = token.coreHash
        var attesters = Set<PublicKey>()
        var members: [Member] = []
        var names: [String] = []
        for a in token.attestations {
            guard let m = verdict.roster.member(withKey: a.attester) else {
                throw .attestations("attester \(a.attester.fingerprint) is not a member of roster version \(verdict.rosterVersion)")
            }
            guard !m.isObserver else { throw .attestations("\(m.name) is an observer; observers do not attest") }
            guard a.isValid(core: core) else { throw .attestations("\(m.name)'s attestation signature is invalid") }
            guard a.authorizedTier >= token.tier else { throw .attestations("\(m.name) attested tier \(a.authorizedTier) only") }
            // Times come from the token: saturating arithmetic, never a trap.
            guard a.time.addingSaturating(policy.maxSkewMs) >= token.issuedAt, a.time <= token.issuedAt.addingSaturating(policy.maxSkewMs) else {
                throw .attestations("\(m.name)'s attestation is not from the token's issue time")
            }
            if attesters.insert(a.attester).inserted {
                names.append(m.name)
                members.append(m)
            }
        }
        if let short = policy.freshness.shortfall(members) { throw .attestations(short) }
        return TokenCheck(tier: token.tier, expiresAt: token.expiresAt, attesters: names, rosterVersion: verdict.rosterVersion, roster: verdict.roster)
    }

    /// The entries a token must carry so that a checker recomputes the verdict (SPEC.md §9.1): every passed
    /// proposal with its binding votes (all choices), and every halt; where the policy suspends authorisation
    /// while a drill is overdue, the latest successful drill and its acknowledgements.
    public static func evidenceEntries(store: EntryStore, verdict: Verdict) -> [SignedEntry] {
        var wanted = Set<Digest>()
        for p in verdict.proposals where p.passed {
            wanted.insert(p.id)
            for (_, v) in store.tally.votes[p.id] ?? [:] { wanted.insert(v.id) }
        }
        for h in verdict.halts { wanted.insert(h.id) }
        // Where authorisation depends on a recent successful drill (§5.8), the latest one and its acknowledgements.
        if verdict.drillSchedule.lapseOnOverdue, let d = verdict.drills.last(where: { $0.state == .succeeded }) {
            wanted.insert(d.id)
            for a in d.acks { wanted.insert(a.id) }
        }
        var out: [SignedEntry] = []
        for feed in store.feeds.values { for e in feed where wanted.contains(e.id) { out.append(e) } }
        for (id, h) in store.detachedHalts where wanted.contains(id) && !out.contains(where: { $0.id == id }) { out.append(h) }
        for (id, a) in store.drillAcks where wanted.contains(id) { out.append(a) }
        return out.sorted { ($0.entry.time, $0.id) < ($1.entry.time, $1.id) }
    }
}
