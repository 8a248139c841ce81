/// What a node answers to STATUS (SPEC.md §8.6): the verdict as typed fields, with bounded lists and their totals,
/// and facts about the node itself. The CLI, `check`, `gate`, the demo and the tests all read this one type; the
/// offline `status --ledger` builds one from a local verdict, so one renderer serves both.
public struct NodeStatus: Sendable {
    /// Facts about the answering node (nil for a verdict computed offline).
    public struct NodeInfo: Hashable, Sendable {
        public var name: String
        public var peerNodes: UInt32
        public var digest: Digest
        public var detachedHalts: UInt32
        public var buffered: UInt32
        public var framesIn: UInt64
        public var connectionsClosedForMisbehaviour: UInt64
        /// Inbound connections still in their handshake, open sessions, and sessions watching the verdict.
        public var pendingHandshakes: UInt32 = 0
        public var sessions: UInt32 = 0
        public var watchers: UInt32 = 0
        /// Connections refused since start, by reason (SPEC.md §12.4).
        public var refused: [(reason: String, count: UInt64)] = []
        /// Each connected peer node: the key its link proved and when it was last heard from (ms since the epoch).
        public var peersHeard: [(key: PublicKey, lastHeard: UInt64)] = []
        /// The peers' clocks minus this node's (ms), as `GossipNode.clockOffsetMs`; nil before any peer was heard.
        public var clockOffsetMs: Int64?
        /// Non-empty when the offset exceeds `max_skew_ms`: the node then refuses to attest (SPEC.md §8.5).
        public var clockWarning = ""
        /// Non-empty while the ledger cannot be written (a full disk): new entries are refused (SPEC.md §8.3).
        public var storageWarning = ""

        public static let maxRefusalReasons = 16
        public static let maxPeersHeard = 256

        public static func == (a: NodeInfo, b: NodeInfo) -> Bool {
            var wa = ByteWriter(), wb = ByteWriter()
            a.encode(into: &wa)
            b.encode(into: &wb)
            return wa.bytes == wb.bytes
        }

        public func hash(into h: inout Hasher) {
            var w = ByteWriter()
            encode(into: &w)
            h.combine(w.bytes)
        }

        func encode(into w: inout ByteWriter) {
            w.string(name)
            w.u32(peerNodes)
            w.raw(digest.bytes)
            w.u32(detachedHalts)
            w.u32(buffered)
            w.u64(framesIn)
            w.u64(connectionsClosedForMisbehaviour)
            w.u32(pendingHandshakes)
            w.u32(sessions)
            w.u32(watchers)
            w.list(Array(refused.prefix(Self.maxRefusalReasons))) { w, r in
                w.string(r.reason)
                w.u64(r.count)
            }
            w.list(Array(peersHeard.prefix(Self.maxPeersHeard))) { w, p in
                w.raw(p.key.bytes)
                w.u64(p.lastHeard)
            }
            NodeStatus.optU64(&w, clockOffsetMs.map { UInt64(bitPattern: $0) })
            w.string(clockWarning)
            w.string(storageWarning)
        }

        static func decode(_ r: inout ByteReader) throws(DecodeError) -> NodeInfo {
            var n = NodeInfo(name: try r.text("node.name", max: 64), peerNodes: try r.u32("node.peer_nodes"),
                             digest: try r.digest("node.digest"), detachedHalts: try r.u32("node.detached_halts"),
                             buffered: try r.u32("node.buffered"), framesIn: try r.u64("node.frames_in"),
                             connectionsClosedForMisbehaviour: try r.u64("node.connections_closed_for_misbehaviour"))
            n.pendingHandshakes = try r.u32("node.pending_handshakes")
            n.sessions = try r.u32("node.sessions")
            n.watchers = try r.u32("node.watchers")
            n.refused = try r.list("node.refused", max: Self.maxRefusalReasons) { (r: inout ByteReader) throws(DecodeError) in
                (try r.text("node.refused.reason", max: 64), try r.u64("node.refused.count"))
            }
            n.peersHeard = try r.list("node.peers_heard", max: Self.maxPeersHeard) { (r: inout ByteReader) throws(DecodeError) in
                (try r.publicKey("node.peers_heard.key"), try r.u64("node.peers_heard.last_heard"))
            }
            n.clockOffsetMs = try NodeStatus.optU64(&r, "node.clock_offset_ms").map { Int64(bitPattern: $0) }
            n.clockWarning = try r.text("node.clock_warning", max: 1024)
            n.storageWarning = try r.text("node.storage_warning", max: 1024)
            return n
        }

        public init(name: String, peerNodes: UInt32, digest: Digest, detachedHalts: UInt32, buffered: UInt32,
                    framesIn: UInt64, connectionsClosedForMisbehaviour: UInt64) {
            self.name = name
            self.peerNodes = peerNodes
            self.digest = digest
            self.detachedHalts = detachedHalts
            self.buffered = buffered
            self.framesIn = framesIn
            self.connectionsClosedForMisbehaviour = connectionsClosedForMisbehaviour
        }
    }

    /// The verdict; its lists may be a part of the whole (see the totals). `halts` holds the halts in force and
    /// the newest resolved ones; `proposals` the page, oldest first.
    public var verdict: Verdict
    public var haltsTotal: Int
    public var resolvedTotal: Int
    public var proposalsTotal: Int
    /// Position of the page's newest proposal in the newest-first order.
    public var offset: Int
    public var ignoredTotal: Int
    public var historyTotal: Int
    public var equivocationsTotal: Int
    public var drillsTotal: Int
    public var node: NodeInfo?

    public static let maxHalts = 1024
    public static let maxResolved = 64
    public static let maxPage = 1000
    public static let maxIgnored = 100
    public static let maxHistory = 100
    public static let maxEquivocations = 256
    public static let maxDrills = 16
    public static let maxDrillAcks = 256
    /// Votes shown per proposal (the counts stay exact): non-members' votes are listed too, so a list could
    /// otherwise grow without bound.
    public static let maxVotes = 256
    /// The node stops adding proposals before the STATUS frame would exceed this.
    public static let pageBudgetBytes = 3_670_016  // 3.5 MiB

    /// A status holding the whole verdict (offline use; nothing is left out).
    public init(verdict: Verdict, node: NodeInfo? = nil) {
        self.verdict = verdict
        haltsTotal = verdict.activeHalts.count
        resolvedTotal = verdict.halts.count - haltsTotal
        proposalsTotal = verdict.proposals.count
        offset = 0
        ignoredTotal = verdict.ignored.count
        historyTotal = verdict.history.count
        equivocationsTotal = verdict.equivocations.count
        drillsTotal = verdict.drills.count
        self.node = node
    }

    /// What a node sends: `limit` proposals from `offset` in the newest-first order, under the byte budget; the
    /// other lists cut to their bounds.
    public static func page(of full: Verdict, offset: Int, limit: Int, node: NodeInfo?) -> NodeStatus {
        var s = NodeStatus(verdict: full, node: node)
        let inForce = full.activeHalts
        let resolved = full.halts.filter { $0.resolvedBy != nil }
        s.verdict.halts = Array(inForce.prefix(maxHalts)) + Array(resolved.suffix(maxResolved))
        s.verdict.ignored = Array(full.ignored.prefix(maxIgnored))
        s.verdict.history = Array(full.history.suffix(maxHistory))
        s.verdict.equivocations = Array(full.equivocations.prefix(maxEquivocations))
        s.verdict.drills = full.drills.suffix(maxDrills).map { d in
            var d = d
            d.acks = Array(d.acks.prefix(maxDrillAcks))
            return d
        }
        let newestFirst = full.proposals.reversed()
        let start = min(offset, full.proposals.count)
        s.offset = start
        s.verdict.proposals = []
        var w = ByteWriter()
        s.encode(into: &w)
        var used = w.bytes.count
        for var p in newestFirst.dropFirst(start).prefix(min(limit, maxPage)) {
            p.votes = Array(p.votes.prefix(maxVotes))
            var pw = ByteWriter()
            Self.encode(p, into: &pw)
            guard used + pw.bytes.count <= pageBudgetBytes else { break }
            used += pw.bytes.count
            s.verdict.proposals.append(p)
        }
        s.verdict.proposals.reverse()  // oldest first, as in a verdict
        return s
    }

    /// The STATUS payload after the request number.
    public var encoded: [UInt8] {
        var w = ByteWriter()
        encode(into: &w)
        return w.bytes
    }

    public var isPartial: Bool {
        verdict.proposals.count < proposalsTotal || verdict.ignored.count < ignoredTotal
            || verdict.history.count < historyTotal || verdict.activeHalts.count < haltsTotal
            || verdict.equivocations.count < equivocationsTotal || verdict.drills.count < drillsTotal
    }
}

// MARK: - Encoding (SPEC.md §8.6)

extension NodeStatus {
    static func optU64(_ w: inout ByteWriter, _ v: UInt64?) {
        w.u8(v == nil ? 0 : 1)
        if let v { w.u64(v) }
    }

    static func encode(_ r: Reason?, into w: inout ByteWriter) {
        w.u8(r == nil ? 0 : 1)
        if let r {
            w.string(r.code.rawValue)
            w.string(r.text)
        }
    }

    static func encode(_ d: DrillStatus, into w: inout ByteWriter) {
        w.raw(d.id.bytes)
        w.string(d.member)
        w.u64(d.time)
        w.string(d.reason)
        w.u64(d.deadline)
        w.u8(d.state.code)
        w.list(d.missing) { $0.string($1) }
        w.list(d.acks) { w, a in
            w.raw(a.id.bytes)
            w.string(a.member)
            w.u64(a.time)
            w.u64(a.receivedAt)
            w.u64(a.stoppedAt)
            w.u32(a.jobs)
            w.u8(a.canary.rawValue)
            w.u64(a.latencyMs)
            w.u8(a.onTime ? 1 : 0)
            w.u8(a.expected ? 1 : 0)
        }
    }

    static func drill(_ r: inout ByteReader) throws(DecodeError) -> DrillStatus {
        let id = try r.digest("drill.id")
        let member = try r.text("drill.member", max: 128)
        let time = try r.u64("drill.time")
        let reason = try r.text("drill.reason", max: Limits.maxReason)
        let deadline = try r.u64("drill.deadline")
        let code = try r.u8("drill.state")
        guard let state = DrillState(code: code) else { throw .invalidValue(field: "drill.state", reason: "unknown state \(code)") }
        let missing = try r.list("drill.missing", max: Limits.maxDrillEnforcers) { (r: inout ByteReader) throws(DecodeError) in
            try r.text("drill.missing[]", max: 128)
        }
        let acks = try r.list("drill.acks", max: maxDrillAcks) { (r: inout ByteReader) throws(DecodeError) in
            let id = try r.digest("drill_ack.id")
            let member = try r.text("drill_ack.member", max: 128)
            let time = try r.u64("drill_ack.time")
            let received = try r.u64("drill_ack.received_at")
            let stopped = try r.u64("drill_ack.stopped_at")
            let jobs = try r.u32("drill_ack.jobs")
            let c = try r.u8("drill_ack.canary")
            guard let canary = CanaryOutcome(rawValue: c) else { throw .invalidValue(field: "drill_ack.canary", reason: "unknown outcome \(c)") }
            return DrillAckStatus(id: id, member: member, time: time, receivedAt: received, stoppedAt: stopped, jobs: jobs, canary: canary,
                                  latencyMs: try r.u64("drill_ack.latency_ms"), onTime: try bool(&r, "drill_ack.on_time"),
                                  expected: try bool(&r, "drill_ack.expected"))
        }
        return DrillStatus(id: id, member: member, time: time, reason: reason, deadline: deadline, acks: acks, missing: missing, state: state)
    }

    static func encode(_ h: HaltStatus, into w: inout ByteWriter) {
        w.raw(h.id.bytes)
        w.string(h.member)
        w.u64(h.time)
        w.string(h.reason)
        w.u8(h.resolvedBy == nil ? 0 : 1)
        if let r = h.resolvedBy { w.raw(r.bytes) }
        optU64(&w, h.resolvedAt)
        // Anonymous halts (SPEC.md §8.6): the ring size, 0 for a named halt, then the key image.
        w.u32(UInt32(h.ringSize ?? 0))
        if let k = h.keyImage, h.ringSize != nil { w.raw(k.bytes) }
    }

    static func encode(_ p: ProposalStatus, into w: inout ByteWriter) {
        w.raw(p.id.bytes)
        w.u8(ProposalStatus.actionCode(p.action))
        w.u32(p.tier)
        w.string(p.title)
        w.string(p.proposer)
        w.u64(p.time)
        w.u64(p.closesAt)
        w.u64(p.rosterVersion)
        w.list(p.evidence) { w, e in
            w.string(e.name)
            w.raw(e.hash.bytes)
        }
        w.list(p.resolvesHalts) { $0.raw($1.bytes) }
        w.u32(UInt32(clamping: p.yes))
        w.u32(UInt32(clamping: p.no))
        w.u32(UInt32(clamping: p.abstain))
        w.u32(UInt32(clamping: p.needYes))
        w.list(p.roles) { w, r in
            w.string(r.role)
            w.u32(UInt32(clamping: r.have))
            w.u32(UInt32(clamping: r.need))
        }
        w.list(p.vetoedBy) { $0.string($1) }
        w.u8(p.passed ? 1 : 0)
        optU64(&w, p.passedAt)
        encode(p.outcome, into: &w)
        w.u8(p.open ? 1 : 0)
        encode(p.invalid, into: &w)
        w.list(p.votes) { w, v in
            w.string(v.member)
            w.u8(v.choice.rawValue)
            w.u64(v.time)
            w.string(v.reason)
            encode(v.ignored, into: &w)
        }
    }

    /// The payload of STATUS after the request number.
    public func encode(into w: inout ByteWriter) {
        let v = verdict
        w.u64(v.at)
        w.u32(v.authorizedTier)
        w.u32(v.baseTier)
        w.u8(v.halted ? 1 : 0)
        Self.optU64(&w, v.authorizedSince)
        Self.optU64(&w, v.lapsesAt)
        w.u64(v.rosterVersion)
        w.raw(v.rosterHash.bytes)
        w.lengthPrefixed(v.roster.encoded())
        w.u8(v.pendingRoster == nil ? 0 : 1)
        if let p = v.pendingRoster {
            w.u64(p.version)
            w.u64(p.activatesAt)
        }
        w.u64(UInt64(v.entryCount))
        let inForce = v.halts.filter { $0.resolvedBy == nil }
        let resolved = v.halts.filter { $0.resolvedBy != nil }
        w.u32(UInt32(clamping: haltsTotal))
        w.list(inForce) { Self.encode($1, into: &$0) }
        w.u32(UInt32(clamping: resolvedTotal))
        w.list(resolved) { Self.encode($1, into: &$0) }
        w.u32(UInt32(clamping: proposalsTotal))
        w.u32(UInt32(clamping: offset))
        w.list(Array(v.proposals.reversed())) { Self.encode($1, into: &$0) }  // newest first on the wire
        w.u32(UInt32(clamping: equivocationsTotal))
        w.list(v.equivocations) { w, e in
            w.string(e.member)
            w.raw(e.key.bytes)
            w.u64(e.seq)
            w.list(e.ids) { $0.raw($1.bytes) }
        }
        w.u32(UInt32(clamping: ignoredTotal))
        w.list(v.ignored) { w, i in
            w.raw(i.id.bytes)
            w.string(i.reason.code.rawValue)
            w.string(i.reason.text)
        }
        w.u32(UInt32(clamping: historyTotal))
        w.list(v.history) { w, c in
            w.u64(c.time)
            w.u32(c.tier)
            w.string(c.cause)
        }
        w.u32(UInt32(clamping: drillsTotal))
        w.list(v.drills) { Self.encode($1, into: &$0) }
        let sc = v.drillSchedule
        w.u64(sc.intervalMs)
        Self.optU64(&w, sc.lastSuccess)
        Self.optU64(&w, sc.dueAt)
        w.u8(sc.overdue ? 1 : 0)
        w.u8(sc.lapseOnOverdue ? 1 : 0)
        w.u8(node == nil ? 0 : 1)
        if let n = node { n.encode(into: &w) }
    }
}

// MARK: - Decoding

extension NodeStatus {
    static func bool(_ r: inout ByteReader, _ field: String) throws(DecodeError) -> Bool {
        switch try r.u8(field) {
        case 0: return false
        case 1: return true
        default: throw .invalidValue(field: field, reason: "a boolean must be 0 or 1")
        }
    }

    static func optU64(_ r: inout ByteReader, _ field: String) throws(DecodeError) -> UInt64? {
        try bool(&r, field) ? try r.u64(field) : nil
    }

    static func reason(_ r: inout ByteReader, _ field: String) throws(DecodeError) -> Reason? {
        guard try bool(&r, field) else { return nil }
        let code = try r.text(field + ".code", max: 64, minLength: 1)
        guard let c = ReasonCode(rawValue: code) else {
            throw .invalidValue(field: field + ".code", reason: "unknown reason code '\(code)' (a newer node?)")
        }
        return Reason(c, try r.text(field + ".text", max: 2048))
    }

    static func halt(_ r: inout ByteReader) throws(DecodeError) -> HaltStatus {
        let id = try r.digest("halt.id")
        let member = try r.text("halt.member", max: 128)
        let time = try r.u64("halt.time")
        let reason = try r.text("halt.reason", max: Limits.maxReason)
        let resolvedBy = try bool(&r, "halt.resolved_by") ? try r.digest("halt.resolved_by") : nil
        let resolvedAt = try optU64(&r, "halt.resolved_at")
        let ring = try r.u32("halt.ring_size")
        guard ring <= UInt32(RingSignature.maxRing) else { throw .invalidValue(field: "halt.ring_size", reason: "at most \(RingSignature.maxRing)") }
        let image = ring > 0 ? try r.publicKey("halt.key_image") : nil
        return HaltStatus(id: id, member: member, time: time, reason: reason, resolvedBy: resolvedBy, resolvedAt: resolvedAt,
                          ringSize: ring > 0 ? Int(ring) : nil, keyImage: image)
    }

    static func proposal(_ r: inout ByteReader) throws(DecodeError) -> ProposalStatus {
        let id = try r.digest("proposal.id")
        let code = try r.u8("proposal.action")
        guard let action = ProposalStatus.actionName(code) else {
            throw .invalidValue(field: "proposal.action", reason: "unknown action \(code)")
        }
        let tier = try r.u32("proposal.tier")
        let title = try r.text("proposal.title", max: Limits.maxTitle)
        let proposer = try r.text("proposal.proposer", max: 128)
        let time = try r.u64("proposal.time")
        let closesAt = try r.u64("proposal.closes_at")
        let rosterVersion = try r.u64("proposal.roster_version")
        let evidence = try r.list("proposal.evidence", max: Limits.maxEvidence) { (r: inout ByteReader) throws(DecodeError) in
            Evidence(name: try r.text("evidence.name", max: Limits.maxEvidenceName), hash: try r.digest("evidence.blake2b"))
        }
        let resolves = try r.list("proposal.resolves_halts", max: Limits.maxResumeHalts) { (r: inout ByteReader) throws(DecodeError) in
            try r.digest("proposal.resolves_halts")
        }
        let yes = Int(try r.u32("proposal.yes")), no = Int(try r.u32("proposal.no"))
        let abstain = Int(try r.u32("proposal.abstain")), needYes = Int(try r.u32("proposal.need_yes"))
        let roles = try r.list("proposal.roles", max: Limits.maxRuleRoles) { (r: inout ByteReader) throws(DecodeError) in
            RoleProgress(role: try r.text("role.role", max: 64, minLength: 1), have: Int(try r.u32("role.have")),
                         need: Int(try r.u32("role.need")))
        }
        let vetoed = try r.list("proposal.vetoed_by", max: Limits.maxMembers) { (r: inout ByteReader) throws(DecodeError) in
            try r.text("proposal.vetoed_by", max: 128)
        }
        let passed = try bool(&r, "proposal.passed")
        let passedAt = try optU64(&r, "proposal.passed_at")
        let outcome = try reason(&r, "proposal.outcome")
        let open = try bool(&r, "proposal.open")
        let invalid = try reason(&r, "proposal.invalid")
        let votes = try r.list("proposal.votes", max: Self.maxVotes) { (r: inout ByteReader) throws(DecodeError) in
            let member = try r.text("vote.member", max: 128)
            let c = try r.u8("vote.choice")
            guard let choice = VoteChoice(rawValue: c) else { throw .invalidValue(field: "vote.choice", reason: "unknown choice \(c)") }
            return CastVote(member: member, choice: choice, time: try r.u64("vote.time"),
                            reason: try r.text("vote.reason", max: Limits.maxReason), ignored: try reason(&r, "vote.ignored"))
        }
        return ProposalStatus(
            id: id, action: action, tier: tier, title: title, proposer: proposer, time: time, closesAt: closesAt,
            rosterVersion: rosterVersion, evidence: evidence, resolvesHalts: resolves, yes: yes, no: no, abstain: abstain,
            needYes: needYes, roles: roles, vetoedBy: vetoed, passed: passed, passedAt: passedAt, outcome: outcome,
            open: open, invalid: invalid, votes: votes)
    }

    /// Decodes the payload of STATUS after the request number; the reader must then be at its end.
    public init(from r: inout ByteReader) throws(DecodeError) {
        let at = try r.u64("status.at")
        let authorized = try r.u32("status.authorized_tier")
        let base = try r.u32("status.base_tier")
        let halted = try Self.bool(&r, "status.halted")
        let since = try Self.optU64(&r, "status.authorized_since")
        let lapses = try Self.optU64(&r, "status.lapses_at")
        let rosterVersion = try r.u64("status.roster_version")
        let rosterHash = try r.digest("status.roster_hash")
        let roster = try Roster(decoding: try r.lengthPrefixed("status.roster", max: Limits.maxRosterBytes))
        guard roster.hash == rosterHash, roster.version == rosterVersion else {
            throw .invalidValue(field: "status.roster", reason: "does not match the roster version and hash")
        }
        var pending: (version: UInt64, activatesAt: UInt64)? = nil
        if try Self.bool(&r, "status.pending_roster") {
            pending = (try r.u64("status.pending_roster.version"), try r.u64("status.pending_roster.activates_at"))
        }
        let entries = try r.u64("status.entries")
        guard entries <= UInt64(Int64.max) else { throw .invalidValue(field: "status.entries", reason: "out of range") }
        let haltsTotal = Int(try r.u32("status.halts_total"))
        let inForce = try r.list("status.halts", max: Self.maxHalts) { (r: inout ByteReader) throws(DecodeError) in try Self.halt(&r) }
        guard inForce.allSatisfy({ $0.resolvedBy == nil }) else {
            throw .invalidValue(field: "status.halts", reason: "a halt in force has resolved_by")
        }
        let resolvedTotal = Int(try r.u32("status.resolved_total"))
        let resolved = try r.list("status.resolved_halts", max: Self.maxResolved) { (r: inout ByteReader) throws(DecodeError) in try Self.halt(&r) }
        guard resolved.allSatisfy({ $0.resolvedBy != nil }) else {
            throw .invalidValue(field: "status.resolved_halts", reason: "a resolved halt without resolved_by")
        }
        let proposalsTotal = Int(try r.u32("status.proposals_total"))
        let offset = Int(try r.u32("status.offset"))
        let page = try r.list("status.proposals", max: Self.maxPage) { (r: inout ByteReader) throws(DecodeError) in try Self.proposal(&r) }
        let equivocationsTotal = Int(try r.u32("status.equivocations_total"))
        let equivocations = try r.list("status.equivocations", max: Self.maxEquivocations) { (r: inout ByteReader) throws(DecodeError) in
            EquivocationStatus(member: try r.text("equivocation.member", max: 128), key: try r.publicKey("equivocation.key"),
                               seq: try r.u64("equivocation.seq"),
                               ids: try r.list("equivocation.ids", max: 2) { (r: inout ByteReader) throws(DecodeError) in try r.digest("equivocation.ids") })
        }
        let ignoredTotal = Int(try r.u32("status.ignored_total"))
        let ignored = try r.list("status.ignored", max: Self.maxIgnored) { (r: inout ByteReader) throws(DecodeError) in
            let id = try r.digest("ignored.id")
            let code = try r.text("ignored.code", max: 64, minLength: 1)
            guard let c = ReasonCode(rawValue: code) else {
                throw .invalidValue(field: "ignored.code", reason: "unknown reason code '\(code)' (a newer node?)")
            }
            return IgnoredEntry(id: id, reason: Reason(c, try r.text("ignored.text", max: 2048)))
        }
        let historyTotal = Int(try r.u32("status.history_total"))
        let history = try r.list("status.history", max: Self.maxHistory) { (r: inout ByteReader) throws(DecodeError) in
            TierChange(time: try r.u64("history.time"), tier: try r.u32("history.tier"), cause: try r.text("history.cause", max: 2048))
        }
        let drillsTotal = Int(try r.u32("status.drills_total"))
        let drills = try r.list("status.drills", max: Self.maxDrills) { (r: inout ByteReader) throws(DecodeError) in try Self.drill(&r) }
        let schedule = DrillSchedule(
            intervalMs: try r.u64("status.drill_interval_ms"), lastSuccess: try Self.optU64(&r, "status.drill_last_success"),
            dueAt: try Self.optU64(&r, "status.drill_due_at"), overdue: try Self.bool(&r, "status.drill_overdue"),
            lapseOnOverdue: try Self.bool(&r, "status.drill_lapse_on_overdue"))
        var node: NodeInfo? = nil
        if try Self.bool(&r, "status.node") {
            node = try NodeInfo.decode(&r)
        }
        guard haltsTotal >= inForce.count, resolvedTotal >= resolved.count, proposalsTotal >= offset + page.count,
              ignoredTotal >= ignored.count, historyTotal >= history.count, equivocationsTotal >= equivocations.count,
              drillsTotal >= drills.count, halted == (haltsTotal > 0) else {
            throw .invalidValue(field: "status", reason: "a total is smaller than its list, or halted disagrees with the halts")
        }
        verdict = Verdict(
            at: at, authorizedTier: authorized, baseTier: base, halted: halted, authorizedSince: since, lapsesAt: lapses,
            rosterVersion: rosterVersion, rosterHash: rosterHash, roster: roster, pendingRoster: pending,
            halts: inForce + resolved, proposals: page.reversed(), equivocations: equivocations, ignored: ignored,
            history: history, entryCount: Int(clamping: entries), drills: drills, drillSchedule: schedule, validUntil: at)
        self.drillsTotal = drillsTotal
        self.haltsTotal = haltsTotal
        self.resolvedTotal = resolvedTotal
        self.proposalsTotal = proposalsTotal
        self.offset = offset
        self.ignoredTotal = ignoredTotal
        self.historyTotal = historyTotal
        self.equivocationsTotal = equivocationsTotal
        self.node = node
    }
}

extension ProposalStatus {
    static func actionCode(_ name: String) -> UInt8 {
        switch name {
        case "advance": return 1
        case "resume": return 2
        default: return 3
        }
    }

    static func actionName(_ code: UInt8) -> String? {
        switch code {
        case 1: return "advance"
        case 2: return "resume"
        case 3: return "amend"
        default: return nil
        }
    }
}

extension NodeStatus: Hashable {
    public static func == (a: NodeStatus, b: NodeStatus) -> Bool { a.encoded == b.encoded }
    public func hash(into h: inout Hasher) { h.combine(encoded) }
}
