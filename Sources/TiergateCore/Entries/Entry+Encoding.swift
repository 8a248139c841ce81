// Canonical encoding of entries (SPEC.md §4.2). Field names in errors match the spec's tables.

extension Entry {
    public static let formatVersion: UInt8 = 1

    public func encoded() -> [UInt8] {
        var w = ByteWriter()
        w.u8(Entry.formatVersion)
        w.u8(kind.rawValue)
        w.string(lab)
        w.raw(genesis.bytes)
        w.u64(rosterVersion)
        w.raw(author.bytes)
        w.u64(seq)
        w.raw(prev.bytes)
        w.u64(time)
        switch body {
        case .proposal(let p):
            w.u8(p.action.code)
            switch p.action {
            case .advance(let tier): w.u32(tier)
            case .resume(let tier, _): w.u32(tier)
            case .amend: w.u32(0)
            }
            w.string(p.title)
            w.list(p.evidence) { w, e in
                w.string(e.name)
                w.raw(e.hash.bytes)
            }
            w.u64(p.closesAt)
            if case .resume(_, let halts) = p.action {
                w.list(halts) { $0.raw($1.bytes) }
            } else {
                w.u32(0)
            }
            if case .amend(let roster) = p.action {
                w.lengthPrefixed(roster.encoded())
            } else {
                w.u32(0)
            }
        case .vote(let v):
            w.raw(v.proposal.bytes)
            w.u8(v.choice.rawValue)
            w.string(v.reason)
        case .halt(let h):
            w.string(h.reason)
        case .drill(let d):
            w.string(d.reason)
        case .drillAck(let a):
            w.raw(a.drill.bytes)
            w.u64(a.receivedAt)
            w.u64(a.stoppedAt)
            w.u32(a.jobs)
            w.u8(a.canary.rawValue)
        case .anonymousHalt(let a):
            w.u64(a.period)
            w.u32(a.slot)
            w.list(a.ring) { $0.raw($1.bytes) }
            w.string(a.reason)
        }
        return w.bytes
    }

    /// The exact bytes given to Ed25519 and hashed into the entry id.
    public var signingMessage: [UInt8] { SigningDomain.entry.message(encoded()) }

    /// Decodes entry content, rejecting anything non-canonical (SPEC.md §4.3).
    public init(decoding bytes: [UInt8]) throws(DecodeError) {
        var r = ByteReader(bytes)
        self = try Entry.decode(&r)
        try r.finish()
    }

    static func decode(_ r: inout ByteReader) throws(DecodeError) -> Entry {
        let format = try r.u8("entry.format")
        guard format == formatVersion else { throw .unsupportedVersion(field: "entry format", version: Int(format)) }
        let kindByte = try r.u8("entry.kind")
        guard let kind = EntryKind(rawValue: kindByte) else {
            throw .invalidValue(field: "entry.kind", reason: "unknown kind \(kindByte)")
        }
        let lab = try r.identifier("entry.lab")
        let genesis = try r.digest("entry.genesis")
        let rosterVersion = try r.u64("entry.roster_version")
        guard rosterVersion >= 1 else { throw .invalidValue(field: "entry.roster_version", reason: "versions start at 1") }
        let author = try r.publicKey("entry.author")
        let seq = try r.u64("entry.seq")
        let standalone = kind == .drillAck ? "a drill acknowledgement" : "an anonymous halt"
        if kind.isStandalone {
            guard seq == 0 else { throw .invalidValue(field: "entry.seq", reason: "\(standalone) is in no feed: seq must be 0") }
        } else {
            guard seq >= 1 else { throw .invalidValue(field: "entry.seq", reason: "feeds start at sequence number 1") }
        }
        let prev = try r.digest("entry.prev")
        if kind.isStandalone {
            guard prev.isZero else { throw .invalidValue(field: "entry.prev", reason: "\(standalone) is in no feed: prev must be zero") }
        } else {
            guard (seq == 1) == prev.isZero else {
                throw .invalidValue(field: "entry.prev", reason: "must be zero exactly when seq is 1")
            }
        }
        let time = try r.u64("entry.time")
        let body: EntryBody
        switch kind {
        case .proposal: body = .proposal(try decodeProposal(&r, time: time))
        case .vote:
            let proposal = try r.digest("vote.proposal")
            let c = try r.u8("vote.choice")
            guard let choice = VoteChoice(rawValue: c) else {
                throw .invalidValue(field: "vote.choice", reason: "unknown choice \(c)")
            }
            let reason = try r.text("vote.reason", max: Limits.maxReason)
            body = .vote(Vote(proposal: proposal, choice: choice, reason: reason))
        case .halt:
            body = .halt(Halt(reason: try r.text("halt.reason", max: Limits.maxReason, minLength: 1)))
        case .drill:
            body = .drill(Drill(reason: try r.text("drill.reason", max: Limits.maxReason, minLength: 1)))
        case .drillAck:
            let drill = try r.digest("drill_ack.drill")
            let received = try r.u64("drill_ack.received_at")
            let stopped = try r.u64("drill_ack.stopped_at")
            guard stopped >= received else {
                throw .invalidValue(field: "drill_ack.stopped_at", reason: "must not be before received_at")
            }
            let jobs = try r.u32("drill_ack.jobs")
            let c = try r.u8("drill_ack.canary")
            guard let canary = CanaryOutcome(rawValue: c) else {
                throw .invalidValue(field: "drill_ack.canary", reason: "unknown canary outcome \(c)")
            }
            body = .drillAck(DrillAck(drill: drill, receivedAt: received, stoppedAt: stopped, jobs: jobs, canary: canary))
        case .anonymousHalt:
            let period = try r.u64("anonymous_halt.period")
            let slot = try r.u32("anonymous_halt.slot")
            guard slot < AnonymousHalt.maxSlots else {
                throw .invalidValue(field: "anonymous_halt.slot", reason: "must be below \(AnonymousHalt.maxSlots)")
            }
            let ring = try r.list("anonymous_halt.ring", max: RingSignature.maxRing) {
                (r: inout ByteReader) throws(DecodeError) in try r.publicKey("anonymous_halt.ring[]")
            }
            guard !ring.isEmpty else { throw .invalidValue(field: "anonymous_halt.ring", reason: "at least one key") }
            try Roster.checkAscending(ring, field: "anonymous_halt.ring")
            let reason = try r.text("anonymous_halt.reason", max: Limits.maxReason, minLength: 1)
            body = .anonymousHalt(AnonymousHalt(period: period, slot: slot, ring: ring, reason: reason))
        }
        return Entry(
            lab: lab, genesis: genesis, rosterVersion: rosterVersion, author: author, seq: seq, prev: prev, time: time,
            body: body)
    }

    private static func decodeProposal(_ r: inout ByteReader, time: UInt64) throws(DecodeError) -> Proposal {
        let actionCode = try r.u8("proposal.action")
        guard (1...3).contains(actionCode) else {
            throw .invalidValue(field: "proposal.action", reason: "unknown action \(actionCode)")
        }
        let tier = try r.u32("proposal.tier")
        let title = try r.text("proposal.title", max: Limits.maxTitle, minLength: 1)
        let evidence = try r.list("proposal.evidence", max: Limits.maxEvidence) {
            (r: inout ByteReader) throws(DecodeError) in
            Evidence(
                name: try r.text("evidence.name", max: Limits.maxEvidenceName, minLength: 1),
                hash: try r.digest("evidence.hash"))
        }
        let closesAt = try r.u64("proposal.closes_at")
        guard closesAt > time else { throw .invalidValue(field: "proposal.closes_at", reason: "must be after the proposal's time") }
        let halts = try r.list("proposal.halts", max: Limits.maxResumeHalts) {
            (r: inout ByteReader) throws(DecodeError) in try r.digest("proposal.halts[]")
        }
        try Roster.checkAscending(halts, field: "proposal.halts")
        let rosterBytes = try r.lengthPrefixed("proposal.roster", max: Limits.maxRosterBytes)
        let action: ProposalAction
        switch actionCode {
        case 1:
            guard halts.isEmpty, rosterBytes.isEmpty else {
                throw .invalidValue(field: "proposal", reason: "an advance proposal carries no halts and no roster")
            }
            action = .advance(tier: tier)
        case 2:
            guard !halts.isEmpty, rosterBytes.isEmpty else {
                throw .invalidValue(field: "proposal", reason: "a resume proposal names at least one halt and carries no roster")
            }
            action = .resume(tier: tier, halts: halts)
        default:
            guard tier == 0, halts.isEmpty, !rosterBytes.isEmpty else {
                throw .invalidValue(field: "proposal", reason: "an amend proposal carries a roster, tier 0 and no halts")
            }
            action = .amend(try Roster(decoding: rosterBytes))
        }
        return Proposal(action: action, title: title, evidence: evidence, closesAt: closesAt)
    }
}
