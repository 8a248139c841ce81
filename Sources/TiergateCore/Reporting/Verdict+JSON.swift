// The JSON form of a verdict (`status --json`, `ledger verify --json`), documented in SPEC.md §5.6.

extension Verdict {
    public func json() -> JSONValue {
        func time(_ t: UInt64?) -> JSONValue { t.map { .string(TimeText.format($0)) } ?? .null }
        return .object([
            ("at", time(at)),
            ("authorized_tier", .uint(UInt64(authorizedTier))),
            ("base_tier", .uint(UInt64(baseTier))),
            ("halted", .bool(halted)),
            ("authorized_since", time(authorizedSince)),
            ("lapses_at", time(lapsesAt)),
            ("roster_version", .uint(rosterVersion)),
            ("roster_hash", .string(rosterHash.hex)),
            ("pending_roster", pendingRoster.map { p in
                .object([("version", .uint(p.version)), ("activates_at", time(p.activatesAt))])
            } ?? .null),
            ("entries", .int(entryCount)),
            ("halts", .array(activeHalts.map(Verdict.haltJSON))),
            ("resolved_halts", .array(halts.filter { $0.resolvedBy != nil }.map(Verdict.haltJSON))),
            ("proposals", .array(proposals.map(Verdict.proposalJSON))),
            ("equivocations", .array(equivocations.map { e in
                .object([
                    ("member", .string(e.member)), ("public_key", .string(e.key.hex)), ("seq", .uint(e.seq)),
                    ("entries", .array(e.ids.map { .string($0.hex) })),
                ])
            })),
            ("ignored", .array(ignored.map { .object([("id", .string($0.id.hex)), ("reason", .string($0.reason))]) })),
            ("history", .array(history.map { c in
                .object([("time", time(c.time)), ("tier", .uint(UInt64(c.tier))), ("cause", .string(c.cause))])
            })),
        ])
    }

    static func haltJSON(_ h: HaltStatus) -> JSONValue {
        .object([
            ("id", .string(h.id.hex)), ("member", .string(h.member)), ("time", .string(TimeText.format(h.time))),
            ("reason", .string(h.reason)), ("resolved_by", h.resolvedBy.map { .string($0.hex) } ?? .null),
            ("resolved_at", h.resolvedAt.map { .string(TimeText.format($0)) } ?? .null),
        ])
    }

    static func proposalJSON(_ p: ProposalStatus) -> JSONValue {
        .object([
            ("id", .string(p.id.hex)), ("action", .string(p.action)), ("tier", .uint(UInt64(p.tier))),
            ("title", .string(p.title)), ("proposer", .string(p.proposer)), ("time", .string(TimeText.format(p.time))),
            ("closes_at", .string(TimeText.format(p.closesAt))), ("roster_version", .uint(p.rosterVersion)),
            ("evidence", .array(p.evidence.map { .object([("name", .string($0.name)), ("blake2b", .string($0.hash.hex))]) })),
            ("resolves_halts", .array(p.resolvesHalts.map { .string($0.hex) })),
            ("yes", .int(p.yes)), ("no", .int(p.no)), ("abstain", .int(p.abstain)), ("need_yes", .int(p.needYes)),
            ("roles", .array(p.roles.map { .object([("role", .string($0.role)), ("have", .int($0.have)), ("need", .int($0.need))]) })),
            ("vetoed_by", .array(p.vetoedBy.map { .string($0) })),
            ("passed", .bool(p.passed)), ("passed_at", p.passedAt.map { .string(TimeText.format($0)) } ?? .null),
            ("outcome", p.outcome.map { .string($0) } ?? .null), ("open", .bool(p.open)),
            ("invalid", p.invalid.map { .string($0) } ?? .null),
            ("votes", .array(p.votes.map { v in
                .object([
                    ("member", .string(v.member)), ("choice", .string(v.choice.name)),
                    ("time", .string(TimeText.format(v.time))), ("reason", .string(v.reason)),
                    ("counted", .bool(v.ignored == nil)), ("ignored", v.ignored.map { .string($0) } ?? .null),
                ])
            })),
        ])
    }
}

extension ProposalStatus {
    /// `yes 2/3, safety 0/1, veto none` — the progress line people read.
    public var progressLine: String {
        var parts = ["yes \(yes)/\(needYes)"]
        for r in roles { parts.append("\(r.role) \(r.have)/\(r.need)") }
        parts.append(vetoedBy.isEmpty ? "veto none" : "vetoed by \(vetoedBy.joined(separator: ", "))")
        parts.append("no \(no), abstain \(abstain)")
        return parts.joined(separator: ", ")
    }
}

extension Verdict {
    /// A human-readable report.
    public func text() -> String {
        var out: [String] = []
        let state = halted ? "HALTED" : (authorizedTier > baseTier ? "AUTHORISED" : "PAUSED (base tier)")
        out.append("authorised tier: \(authorizedTier)   [\(state)]   base tier: \(baseTier)   as of \(TimeText.format(at))")
        if let s = authorizedSince, let l = lapsesAt {
            out.append("authorised since \(TimeText.format(s)); lapses at \(TimeText.format(l)) unless re-affirmed")
        }
        out.append("roster version \(rosterVersion) (\(rosterHash.short)…), \(roster.members.count) members; \(entryCount) entries")
        if let p = pendingRoster {
            out.append("roster version \(p.version) passed and takes effect at \(TimeText.format(p.activatesAt))")
        }
        for h in activeHalts {
            out.append("HALT \(h.id.short)… by \(h.member) at \(TimeText.format(h.time)): \(h.reason)")
        }
        if !proposals.isEmpty { out.append("proposals:") }
        for p in proposals {
            let state = p.passed ? "PASSED \(TimeText.format(p.passedAt!)) — \(p.outcome ?? "")" :
                (p.invalid.map { "INVALID: \($0)" } ?? (p.open ? "open until \(TimeText.format(p.closesAt))" : "closed, not passed"))
            out.append("  \(p.id.short)… \(p.action) tier \(p.tier) \"\(p.title)\" by \(p.proposer)")
            out.append("      \(p.progressLine) — \(state)")
            for v in p.votes {
                let note = v.ignored.map { " (not counted: \($0))" } ?? ""
                let reason = v.reason.isEmpty ? "" : " \"\(v.reason)\""
                out.append("      \(TimeText.format(v.time))  \(v.member): \(v.choice.name)\(reason)\(note)")
            }
        }
        for e in equivocations {
            out.append("EQUIVOCATION by \(e.member) at feed position \(e.seq): entries \(e.ids.map { $0.short + "…" }.joined(separator: " and ")); votes void")
        }
        for i in ignored.prefix(20) { out.append("ignored \(i.id.short)…: \(i.reason)") }
        if ignored.count > 20 { out.append("… and \(ignored.count - 20) more ignored entries") }
        return out.joined(separator: "\n")
    }
}
