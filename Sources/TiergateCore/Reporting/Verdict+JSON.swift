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
            ("ignored", .array(ignored.map { .object([("id", .string($0.id.hex)), ("reason", .string($0.reason.text)), ("reason_code", .string($0.reason.code.rawValue))]) })),
            ("history", .array(history.map { c in
                .object([("time", time(c.time)), ("tier", .uint(UInt64(c.tier))), ("cause", .string(c.cause))])
            })),
            ("key_image_reuse", .array(keyImageReuse.map { k in
                .object([("key_image", .string(k.keyImage.hex)), ("entries", .array(k.ids.map { .string($0.hex) }))])
            })),
            ("drills", .array(drills.map(Verdict.drillJSON))),
            ("drill_schedule", .object([
                ("interval", .string(DurationText.format(drillSchedule.intervalMs))),
                ("last_success", time(drillSchedule.lastSuccess)),
                ("due_at", time(drillSchedule.dueAt)),
                ("overdue", .bool(drillSchedule.overdue)),
                ("lapse_on_overdue", .bool(drillSchedule.lapseOnOverdue)),
            ])),
        ])
    }

    /// One drill and its acknowledgements (SPEC.md §5.8); latencies in milliseconds.
    public static func drillJSON(_ d: DrillStatus) -> JSONValue {
        .object([
            ("id", .string(d.id.hex)), ("member", .string(d.member)), ("time", .string(TimeText.format(d.time))),
            ("reason", .string(d.reason)), ("deadline", .string(TimeText.format(d.deadline))), ("state", .string(d.state.rawValue)),
            ("missing", .array(d.missing.map { .string($0) })),
            ("acks", .array(d.acks.map { a in
                .object([
                    ("id", .string(a.id.hex)), ("member", .string(a.member)), ("time", .string(TimeText.format(a.time))),
                    ("received_at", .string(TimeText.format(a.receivedAt))), ("stopped_at", .string(TimeText.format(a.stoppedAt))),
                    ("latency_ms", .uint(a.latencyMs)), ("jobs", .uint(UInt64(a.jobs))), ("canary", .string(a.canary.name)),
                    ("on_time", .bool(a.onTime)), ("expected", .bool(a.expected)),
                ])
            })),
        ])
    }

    static func haltJSON(_ h: HaltStatus) -> JSONValue {
        .object([
            ("id", .string(h.id.hex)), ("member", .string(h.member)), ("time", .string(TimeText.format(h.time))),
            ("reason", .string(h.reason)), ("resolved_by", h.resolvedBy.map { .string($0.hex) } ?? .null),
            ("resolved_at", h.resolvedAt.map { .string(TimeText.format($0)) } ?? .null),
            ("anonymous", .bool(h.isAnonymous)),
            ("ring_size", h.ringSize.map { .int($0) } ?? .null),
            ("key_image", h.keyImage.map { .string($0.hex) } ?? .null),
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
            ("outcome", p.outcome.map { .string($0.text) } ?? .null), ("outcome_code", p.outcome.map { .string($0.code.rawValue) } ?? .null), ("open", .bool(p.open)),
            ("invalid", p.invalid.map { .string($0.text) } ?? .null), ("invalid_code", p.invalid.map { .string($0.code.rawValue) } ?? .null),
            ("votes", .array(p.votes.map { v in
                .object([
                    ("member", .string(v.member)), ("choice", .string(v.choice.name)),
                    ("time", .string(TimeText.format(v.time))), ("reason", .string(v.reason)),
                    ("counted", .bool(v.ignored == nil)), ("ignored", v.ignored.map { .string($0.text) } ?? .null), ("ignored_code", v.ignored.map { .string($0.code.rawValue) } ?? .null),
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
    /// A human-readable report (the one renderer of status text: ``NodeStatus/text()``).
    public func text() -> String { NodeStatus(verdict: self).text() }
}

extension NodeStatus {
    /// The status as people read it: `tiergate status` offline and from a node, the demo, and the tests.
    public func text() -> String {
        let v = verdict
        var out: [String] = []
        let state = v.halted ? "HALTED" : (v.authorizedTier > v.baseTier ? "AUTHORISED" : "PAUSED (base tier)")
        out.append("authorised tier: \(v.authorizedTier)   [\(state)]   base tier: \(v.baseTier)   as of \(TimeText.format(v.at))")
        if let s = v.authorizedSince, let l = v.lapsesAt {
            out.append("authorised since \(TimeText.format(s)); lapses at \(TimeText.format(l)) unless re-affirmed")
        }
        out.append("roster version \(v.rosterVersion) (\(v.rosterHash.short)…), \(v.roster.members.count) members; \(v.entryCount) entries")
        if let n = node {
            out.append("node \(n.name): \(n.peerNodes) peer node(s) connected, digest \(n.digest.short)…, \(n.detachedHalts) detached halt(s), \(n.buffered) buffered")
            if !n.clockWarning.isEmpty { out.append("WARNING: \(n.clockWarning)") }
            if !n.storageWarning.isEmpty { out.append("WARNING: \(n.storageWarning)") }
            for p in n.peersHeard { out.append("  peer node \(p.key.fingerprint): last heard \(TimeText.format(p.lastHeard))") }
            if let off = n.clockOffsetMs { out.append("  peers' clocks: \(off >= 0 ? "+" : "-")\(off.magnitude) ms from this node's") }
            out.append("connections: \(n.sessions) session(s), \(n.watchers) watching, \(n.pendingHandshakes) handshake(s) in progress"
                + (n.refused.isEmpty ? "" : "; refused since start: " + n.refused.map { "\($0.count) \($0.reason)" }.joined(separator: ", ")))
        }
        if let p = v.pendingRoster {
            out.append("roster version \(p.version) passed and takes effect at \(TimeText.format(p.activatesAt))")
        }
        for h in v.activeHalts {
            out.append("HALT \(h.id.short)… by \(h.member) at \(TimeText.format(h.time)): \(h.reason)")
        }
        if haltsTotal > v.activeHalts.count { out.append("… and \(haltsTotal - v.activeHalts.count) more halts in force") }
        // One key image on several anonymous halts: a member signed beyond its quota (SPEC.md §4.3). From a node the
        // reuse list is not carried; the halts' key images show it.
        var reuse = v.keyImageReuse
        if reuse.isEmpty {
            let byImage = Dictionary(grouping: v.halts.filter(\.isAnonymous), by: { $0.keyImage! })
            reuse = byImage.filter { $0.value.count >= 2 }.map { KeyImageReuse(keyImage: $0.key, ids: $0.value.map(\.id).sorted()) }
                .sorted { $0.keyImage < $1.keyImage }
        }
        for k in reuse {
            out.append("KEY IMAGE REUSE: anonymous halts \(k.ids.map { $0.short + "…" }.joined(separator: ", ")) were signed by one member (unnamed) in one period slot, beyond the quota; all count until resumed")
        }
        if !v.proposals.isEmpty {
            let shown = v.proposals.count < proposalsTotal
                ? " (the \(v.proposals.count) newest from position \(offset + 1) of \(proposalsTotal); --offset for more)" : ""
            out.append("proposals:\(shown)")
        } else if proposalsTotal > 0 {
            out.append("proposals: \(proposalsTotal), none shown")
        }
        for p in v.proposals {
            out.append("  \(p.id.short)… \(p.action) tier \(p.tier) \"\(p.title)\" by \(p.proposer)")
            out.append("      \(p.progressLine) — \(p.stateLine)")
            for vote in p.votes {
                let note = vote.ignored.map { " (not counted: \($0))" } ?? ""
                let reason = vote.reason.isEmpty ? "" : " \"\(vote.reason)\""
                out.append("      \(TimeText.format(vote.time))  \(vote.member): \(vote.choice.name)\(reason)\(note)")
            }
        }
        if equivocationsTotal > v.equivocations.count { out.append("\(equivocationsTotal) equivocations, the first \(v.equivocations.count) shown:") }
        for e in v.equivocations {
            out.append("EQUIVOCATION by \(e.member) at feed position \(e.seq): entries \(e.ids.map { $0.short + "…" }.joined(separator: " and ")); votes void")
        }
        let sc = v.drillSchedule
        if let d = v.drills.last {
            out.append("last drill \(d.id.short)… by \(d.member) at \(TimeText.format(d.time)): \(d.summaryLine)")
            for a in d.acks {
                out.append("  \(a.member): stopped in \(a.latencyMs) ms\(a.onTime ? "" : " (LATE)"), \(a.jobs) job(s)\(a.canary == .none ? "" : ", canary \(a.canary.name)")\(a.expected ? "" : " (not an enforcer)")")
            }
            for m in d.missing where !d.acks.contains(where: { $0.member == m }) { out.append("  \(m): \(d.state == .pending ? "waiting" : "MISSING")") }
        }
        if sc.intervalMs > 0 {
            if sc.overdue {
                out.append("DRILL OVERDUE: " + (sc.lastSuccess.map { "the last successful drill was at \(TimeText.format($0))" } ?? "no drill has succeeded yet")
                    + "; one is due every \(DurationText.format(sc.intervalMs))"
                    + (sc.lapseOnOverdue ? " (authorisation above the base tier is suspended until one succeeds)" : ""))
            } else if let due = sc.dueAt {
                out.append("next drill due by \(TimeText.format(due))")
            }
        }
        for i in v.ignored.prefix(20) { out.append("ignored \(i.id.short)…: \(i.reason)") }
        if ignoredTotal > min(20, v.ignored.count) { out.append("… and \(ignoredTotal - min(20, v.ignored.count)) more ignored entries") }
        return out.joined(separator: "\n")
    }

    /// The JSON form: the verdict's fields (SPEC.md §5.6), the roster in force, the totals of the lists that may be
    /// partial, and `node` when a node answered.
    public func json() -> JSONValue {
        guard case .object(var fields) = verdict.json() else { return verdict.json() }
        fields.append(("proposals_total", .int(proposalsTotal)))
        fields.append(("proposals_offset", .int(offset)))
        fields.append(("halts_total", .int(haltsTotal)))
        fields.append(("resolved_halts_total", .int(resolvedTotal)))
        fields.append(("ignored_total", .int(ignoredTotal)))
        fields.append(("history_total", .int(historyTotal)))
        fields.append(("equivocations_total", .int(equivocationsTotal)))
        fields.append(("drills_total", .int(drillsTotal)))
        fields.append(("roster_in_force", verdict.roster.json()))
        if let n = node {
            fields.append(("node", .object([
                ("name", .string(n.name)), ("peers", .uint(UInt64(n.peerNodes))), ("digest", .string(n.digest.hex)),
                ("detached_halts", .uint(UInt64(n.detachedHalts))), ("buffered", .uint(UInt64(n.buffered))),
                ("frames_in", .uint(n.framesIn)),
                ("connections_closed_for_misbehaviour", .uint(n.connectionsClosedForMisbehaviour)),
                ("pending_handshakes", .uint(UInt64(n.pendingHandshakes))), ("sessions", .uint(UInt64(n.sessions))),
                ("watchers", .uint(UInt64(n.watchers))),
                ("refused", .object(n.refused.map { ($0.reason, .uint($0.count)) })),
                ("clock_offset_ms", n.clockOffsetMs.map { .int(Int($0)) } ?? .null),
                ("clock_warning", n.clockWarning.isEmpty ? .null : .string(n.clockWarning)),
                ("storage_warning", n.storageWarning.isEmpty ? .null : .string(n.storageWarning)),
                ("peers_heard", .array(n.peersHeard.map { p in
                    .object([("key", .string(p.key.hex)), ("last_heard", .string(TimeText.format(p.lastHeard)))])
                })),
            ])))
        }
        return .object(fields)
    }
}

extension ProposalStatus {
    /// `PASSED … — applied`, `INVALID: …`, `open until …` or `closed, not passed`.
    public var stateLine: String {
        if passed, let at = passedAt { return "PASSED \(TimeText.format(at)) — \(outcome?.text ?? "")" }
        if let invalid { return "INVALID: \(invalid)" }
        return open ? "open until \(TimeText.format(closesAt))" : "closed, not passed"
    }
}

extension DrillStatus {
    /// `succeeded: 4 of 4 enforcers in time, slowest 120 ms` / `pending: …` / `FAILED: missing gate-b`.
    public var summaryLine: String {
        let expected = acks.filter(\.expected)
        let slowest = expected.filter(\.onTime).map(\.latencyMs).max()
        let timing = slowest.map { ", slowest \($0) ms" } ?? ""
        switch state {
        case .succeeded: return "succeeded: \(expected.filter(\.onTime).count) enforcer(s) stopped in time\(timing)"
        case .pending: return "pending until \(TimeText.format(deadline)): waiting for \(missing.joined(separator: ", "))"
        case .failed:
            return missing.isEmpty ? "FAILED: the policy names no enforcer" : "FAILED: no acknowledgement in time from \(missing.joined(separator: ", "))"
        }
    }

    /// The table `tiergate drill report` prints.
    public func report() -> String {
        var out = ["drill \(id.hex)", "  by \(member) at \(TimeText.format(time)): \"\(reason)\"",
                   "  deadline \(TimeText.format(deadline)); \(summaryLine)"]
        let header = ["enforcer", "received", "time to stop", "jobs", "canary", "in time"]
        var rows: [[String]] = [header]
        for a in acks {
            rows.append([a.member + (a.expected ? "" : " (not an enforcer)"), TimeText.format(a.receivedAt), "\(a.latencyMs) ms",
                         "\(a.jobs)", a.canary.name, a.onTime ? "yes" : "LATE"])
        }
        for m in missing where !acks.contains(where: { $0.member == m }) {
            rows.append([m, "—", "—", "—", "—", "MISSING"])
        }
        let widths = header.indices.map { i in rows.map { $0[i].count }.max() ?? 0 }
        for r in rows {
            out.append("  " + r.indices.map { i in i == r.count - 1 ? r[i] : r[i] + String(repeating: " ", count: widths[i] - r[i].count) }.joined(separator: "  "))
        }
        return out.joined(separator: "\n")
    }
}
