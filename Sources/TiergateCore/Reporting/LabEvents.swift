/// Something that happened in the lab, as people are told of it: derived from a verdict alone (pure), so that the
/// status page's timeline, the notifications (`node --notify`) and `tiergate watch` all say the same thing, and a
/// node that restarts can tell what it already announced (every event has a stable `key`).
public struct LabEvent: Hashable, Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case proposalOpened = "proposal_opened"
        case voteCast = "vote_cast"
        case proposalPassed = "proposal_passed"
        case proposalExpired = "proposal_expired"
        case halt
        case resume
        case lapseDue = "lapse_due"
        case equivocation
        case drill
        case drillSucceeded = "drill_succeeded"
        case drillFailed = "drill_failed"
        case drillOverdue = "drill_overdue"
    }

    public var kind: Kind
    /// When it happened (ms since the epoch); 0 when the ledger does not say (an equivocation).
    public var time: UInt64
    /// Identifies the event across verdicts: kind and the ids it concerns.
    public var key: String
    /// One line for people (a chat message).
    public var text: String
    /// The same, structured (a JSON object: ids in hex, times in RFC 3339).
    public var fields: JSONValue

    /// `{"event": KIND, "time": …, "text": …, "key": …, …fields}`: what notifications POST and `watch` prints.
    public var json: JSONValue {
        var o: [(String, JSONValue)] = [("event", .string(kind.rawValue)), ("time", time == 0 ? .null : .string(TimeText.format(time))),
                                        ("text", .string(text)), ("key", .string(key))]
        if case .object(let f) = fields { o += f }
        return .object(o)
    }
}

public enum LabEvents {
    /// A lapse is announced this long before it happens.
    public static let lapseNoticeMs: UInt64 = 24 * 3_600_000

    /// Every event the verdict shows as of `now`, oldest first (ties in a fixed order).
    public static func all(_ v: Verdict, now: UInt64) -> [LabEvent] {
        var out: [LabEvent] = []
        let lab = v.roster.lab
        for p in v.proposals {
            let what = p.action == "advance" ? "tier \(p.tier)" : "\(p.action) (tier \(p.tier))"
            var base: [(String, JSONValue)] = [("lab", .string(lab)), ("proposal", .string(p.id.hex)), ("action", .string(p.action)),
                                               ("tier", .int(Int(p.tier))), ("title", .string(p.title))]
            out.append(LabEvent(
                kind: .proposalOpened, time: p.time, key: "proposal_opened:\(p.id.hex)",
                text: "\(p.proposer) proposed \(what): \"\(p.title)\" — needs \(p.needYes) yes\(roleText(p.roles)), closes \(TimeText.format(p.closesAt))",
                fields: .object(base + [("proposer", .string(p.proposer)), ("closes_at", .string(TimeText.format(p.closesAt))),
                                        ("need_yes", .int(p.needYes)),
                                        ("evidence", .array(p.evidence.map { .object([("name", .string($0.name)), ("hash", .string($0.hash.hex))]) }))])))
            base.append(("yes", .int(p.yes)))
            base.append(("need_yes", .int(p.needYes)))
            let counted = p.votes.filter { $0.ignored == nil }
            for vote in counted {
                // The count as of this vote (later votes are their own events).
                let yesThen = counted.filter { $0.choice == .yes && $0.time <= vote.time }.count
                out.append(LabEvent(
                    kind: .voteCast, time: vote.time, key: "vote_cast:\(p.id.hex):\(vote.member):\(vote.time)",
                    text: "\(vote.member) voted \(vote.choice.name) on \"\(p.title)\"\(vote.reason.isEmpty ? "" : " (\(vote.reason))") — \(yesThen) of \(p.needYes) yes so far",
                    fields: .object(base + [("member", .string(vote.member)), ("choice", .string(vote.choice.name)), ("reason", .string(vote.reason)),
                                            ("yes_so_far", .int(yesThen))])))
            }
            if p.passed, let at = p.passedAt {
                out.append(LabEvent(kind: .proposalPassed, time: at, key: "proposal_passed:\(p.id.hex)",
                                    text: "PASSED: \(what), \"\(p.title)\" (\(p.yes) yes)\(p.outcome.map { " — \($0.text)" } ?? "")",
                                    fields: .object(base)))
            } else if !p.open, p.invalid == nil, p.closesAt <= now {
                out.append(LabEvent(kind: .proposalExpired, time: p.closesAt, key: "proposal_expired:\(p.id.hex)",
                                    text: "EXPIRED without passing: \(what), \"\(p.title)\" (\(p.yes) of \(p.needYes) yes)", fields: .object(base)))
            }
        }
        for h in v.halts {
            let f: [(String, JSONValue)] = [("lab", .string(lab)), ("halt", .string(h.id.hex)), ("member", .string(h.member)), ("reason", .string(h.reason))]
            out.append(LabEvent(kind: .halt, time: h.time, key: "halt:\(h.id.hex)",
                                text: "HALT by \(h.member): \(h.reason) — the lab is held at the base tier \(v.baseTier) until a resume quorum",
                                fields: .object(f)))
            if let by = h.resolvedBy {
                out.append(LabEvent(kind: .resume, time: h.resolvedAt ?? 0, key: "resume:\(h.id.hex)",
                                    text: "RESUMED: the halt by \(h.member) (\(h.reason)) was lifted by proposal \(by.short)…",
                                    fields: .object(f + [("proposal", .string(by.hex))])))
            }
        }
        if let at = v.lapsesAt, v.authorizedTier > v.baseTier, now + lapseNoticeMs >= at {
            out.append(LabEvent(kind: .lapseDue, time: at > lapseNoticeMs ? at - lapseNoticeMs : 0, key: "lapse_due:\(at)",
                                text: "Authorisation of tier \(v.authorizedTier) lapses at \(TimeText.format(at)) unless it is re-affirmed; then the lab falls back to tier \(v.baseTier)",
                                fields: .object([("lab", .string(lab)), ("tier", .int(Int(v.authorizedTier))), ("lapses_at", .string(TimeText.format(at)))])))
        }
        for e in v.equivocations {
            out.append(LabEvent(kind: .equivocation, time: 0, key: "equivocation:\(e.key.hex):\(e.seq)",
                                text: "EQUIVOCATION: \(e.member)'s key signed two different entries at position \(e.seq); its votes stop counting until a roster amendment rotates it",
                                fields: .object([("lab", .string(lab)), ("member", .string(e.member)), ("public_key", .string(e.key.hex)), ("seq", .uint(e.seq)),
                                                 ("entries", .array(e.ids.map { .string($0.hex) }))])))
        }
        for d in v.drills {
            let f: [(String, JSONValue)] = [("lab", .string(lab)), ("drill", .string(d.id.hex)), ("member", .string(d.member)), ("reason", .string(d.reason))]
            out.append(LabEvent(kind: .drill, time: d.time, key: "drill:\(d.id.hex)",
                                text: "DRILL by \(d.member): \(d.reason) — every enforcer acts as on a halt without stopping work, and acknowledges by \(TimeText.format(d.deadline))",
                                fields: .object(f + [("deadline", .string(TimeText.format(d.deadline)))])))
            let acks: JSONValue = .array(d.acks.map { .object([("member", .string($0.member)), ("latency_ms", .uint($0.latencyMs)), ("on_time", .bool($0.onTime))]) })
            switch d.state {
            case .succeeded:
                let at = d.acks.filter { $0.expected && $0.onTime }.map(\.time).max() ?? d.time
                out.append(LabEvent(kind: .drillSucceeded, time: at, key: "drill_succeeded:\(d.id.hex)",
                                    text: "Drill \(d.summaryLine)", fields: .object(f + [("acks", acks)])))
            case .failed:
                out.append(LabEvent(kind: .drillFailed, time: d.deadline, key: "drill_failed:\(d.id.hex)",
                                    text: "Drill \(d.summaryLine)", fields: .object(f + [("acks", acks), ("missing", .array(d.missing.map { .string($0) }))])))
            case .pending:
                break
            }
        }
        let sc = v.drillSchedule
        if sc.overdue {
            let since = sc.dueAt ?? 0
            out.append(LabEvent(kind: .drillOverdue, time: since, key: "drill_overdue:\(since)",
                                text: "DRILL OVERDUE: " + (sc.lastSuccess.map { "none has succeeded since \(TimeText.format($0))" } ?? "no drill has succeeded yet")
                                    + "; one is due every \(DurationText.format(sc.intervalMs))"
                                    + (sc.lapseOnOverdue ? " — authorisation above the base tier is suspended until one succeeds" : ""),
                                fields: .object([("lab", .string(lab)), ("due_at", sc.dueAt.map { .string(TimeText.format($0)) } ?? .null),
                                                 ("lapse_on_overdue", .bool(sc.lapseOnOverdue))])))
        }
        let order = Dictionary(uniqueKeysWithValues: LabEvent.Kind.allCases.enumerated().map { ($1, $0) })
        return out.sorted { ($0.time, order[$0.kind]!, $0.key) < ($1.time, order[$1.kind]!, $1.key) }
    }

    static func roleText(_ roles: [RoleProgress]) -> String {
        roles.isEmpty ? "" : " (" + roles.map { "\($0.need) \($0.role)" }.joined(separator: ", ") + ")"
    }

    /// The events of `now` not in `seen` (by key), oldest first; `seen` gains them.
    public static func new(_ v: Verdict, now: UInt64, seen: inout Set<String>) -> [LabEvent] {
        let fresh = all(v, now: now).filter { !seen.contains($0.key) }
        for e in fresh { seen.insert(e.key) }
        return fresh
    }
}
