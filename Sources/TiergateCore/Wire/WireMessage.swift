/// A peer's role, announced in HELLO.
public enum PeerRole: UInt8, Sendable {
    case node = 1
    case client = 2
}

/// One head of a node's frontier (SPEC.md §8.2).
public struct FrontierHead: Hashable, Sendable {
    public var author: PublicKey
    public var seq: UInt64
    public var head: Digest
    public init(author: PublicKey, seq: UInt64, head: Digest) {
        self.author = author
        self.seq = seq
        self.head = head
    }
}

public struct Frontier: Hashable, Sendable {
    public var heads: [FrontierHead]
    public var detachedHalts: [Digest]
    public var evidenceAuthors: [PublicKey]
    public init(heads: [FrontierHead], detachedHalts: [Digest], evidenceAuthors: [PublicKey]) {
        self.heads = heads
        self.detachedHalts = detachedHalts
        self.evidenceAuthors = evidenceAuthors
    }
}

public enum AckStatus: UInt8, Sendable {
    case stored = 0
    case alreadyStored = 1
    case rejected = 2

    /// The label value in the node's metrics.
    public var metricName: String {
        switch self {
        case .stored: return "stored"
        case .alreadyStored: return "already_stored"
        case .rejected: return "rejected"
        }
    }
}

/// What a STATUS_REQUEST asks for (SPEC.md §8.6).
public struct StatusQuery: Hashable, Sendable {
    /// The verdict's time; 0 = the node's now.
    public var at: UInt64
    /// The page of proposals, newest first; `limit` 0 asks for none (what `check` and `gate` need).
    public var offset: UInt32
    public var limit: UInt32
    /// Only this proposal (the page then holds it, or nothing when the node does not know it).
    public var proposal: Digest?

    public init(at: UInt64 = 0, offset: UInt32 = 0, limit: UInt32 = 0, proposal: Digest? = nil) {
        self.at = at
        self.offset = offset
        self.limit = limit
        self.proposal = proposal
    }

    /// The default page of `status`.
    public static let defaultLimit: UInt32 = 100
}

/// The messages of the node protocol (SPEC.md §8.2).
public enum WireMessage: Hashable, Sendable {
    case hello(version: UInt32, genesis: Digest, role: PeerRole, name: String)
    case error(String)
    case entries([[UInt8]])
    case evidence(first: [UInt8], second: [UInt8])
    case digest(Digest)
    case frontier(replyWanted: Bool, Frontier)
    case submit(request: UInt64, entry: [UInt8])
    case ack(request: UInt64, status: AckStatus, reason: String)
    case statusRequest(request: UInt64, StatusQuery)
    case status(request: UInt64, NodeStatus)
    case headRequest(request: UInt64, author: PublicKey)
    case head(request: UInt64, seq: UInt64, id: Digest, time: UInt64, entry: [UInt8])
    case exportRequest(request: UInt64)
    case export(request: UInt64, last: Bool, chunk: [UInt8])
    case tokenRequest(request: UInt64, tier: UInt32)
    /// `token` is empty when refused; `reason` says why.
    case token(request: UInt64, reason: String, token: [UInt8])
    case attestRequest(request: UInt64, core: Digest, tier: UInt32, issuedAt: UInt64)
    /// `attestation` is nil when refused; `reason` says why.
    case attest(request: UInt64, reason: String, attestation: Attestation?)
    /// Subscribe to the node's verdict (SPEC.md §8.7).
    case watchRequest(request: UInt64)
    /// The node's verdict now: at once on subscription, then on every change.
    case watch(request: UInt64, seq: UInt64, WatchState)
    /// Keeps an idle session alive; never answered.
    case ping(UInt64)

    public static let protocolVersion: UInt32 = 1
    /// The largest frame body; checked before buffering.
    public static let maxFrameBody = 4 << 20
    public static let maxEntriesPerMessage = 1024
    public static let maxFrontier = 4096
    public static let maxExportChunk = 1 << 20

    public var typeCode: UInt8 {
        switch self {
        case .hello: return 1
        case .error: return 2
        case .entries: return 3
        case .evidence: return 4
        case .digest: return 5
        case .frontier: return 6
        case .submit: return 7
        case .ack: return 8
        case .statusRequest: return 9
        case .status: return 10
        case .headRequest: return 11
        case .head: return 12
        case .exportRequest: return 13
        case .export: return 14
        case .tokenRequest: return 15
        case .token: return 16
        case .attestRequest: return 17
        case .attest: return 18
        case .watchRequest: return 19
        case .watch: return 20
        case .ping: return 21
        }
    }

    public var name: String {
        ["", "HELLO", "ERROR", "ENTRIES", "EVIDENCE", "DIGEST", "FRONTIER", "SUBMIT", "ACK", "STATUS_REQUEST", "STATUS",
         "HEAD_REQUEST", "HEAD", "EXPORT_REQUEST", "EXPORT", "TOKEN_REQUEST", "TOKEN", "ATTEST_REQUEST", "ATTEST",
         "WATCH_REQUEST", "WATCH", "PING"][Int(typeCode)]
    }

    /// The body (`u8 type || payload`), without the length prefix.
    public func encodedBody() -> [UInt8] {
        var w = ByteWriter()
        w.u8(typeCode)
        switch self {
        case .hello(let v, let g, let role, let name):
            w.u32(v)
            w.raw(g.bytes)
            w.u8(role.rawValue)
            w.string(name)
        case .error(let reason): w.string(reason)
        case .entries(let list): w.list(list) { $0.lengthPrefixed($1) }
        case .evidence(let a, let b):
            w.lengthPrefixed(a)
            w.lengthPrefixed(b)
        case .digest(let d): w.raw(d.bytes)
        case .frontier(let reply, let f):
            w.u8(reply ? 1 : 0)
            w.list(f.heads) { w, h in
                w.raw(h.author.bytes)
                w.u64(h.seq)
                w.raw(h.head.bytes)
            }
            w.list(f.detachedHalts) { $0.raw($1.bytes) }
            w.list(f.evidenceAuthors) { $0.raw($1.bytes) }
        case .submit(let r, let e):
            w.u64(r)
            w.lengthPrefixed(e)
        case .ack(let r, let s, let reason):
            w.u64(r)
            w.u8(s.rawValue)
            w.string(reason)
        case .statusRequest(let r, let q):
            w.u64(r)
            w.u64(q.at)
            w.u32(q.offset)
            w.u32(q.limit)
            w.u8(q.proposal == nil ? 0 : 1)
            if let p = q.proposal { w.raw(p.bytes) }
        case .status(let r, let status):
            w.u64(r)
            status.encode(into: &w)
        case .headRequest(let r, let a):
            w.u64(r)
            w.raw(a.bytes)
        case .head(let r, let seq, let id, let time, let entry):
            w.u64(r)
            w.u64(seq)
            w.raw(id.bytes)
            w.u64(time)
            w.lengthPrefixed(entry)
        case .exportRequest(let r): w.u64(r)
        case .export(let r, let last, let chunk):
            w.u64(r)
            w.u8(last ? 1 : 0)
            w.lengthPrefixed(chunk)
        case .tokenRequest(let r, let tier):
            w.u64(r)
            w.u32(tier)
        case .token(let r, let reason, let token):
            w.u64(r)
            w.string(reason)
            w.lengthPrefixed(token)
        case .attestRequest(let r, let core, let tier, let issued):
            w.u64(r)
            w.raw(core.bytes)
            w.u32(tier)
            w.u64(issued)
        case .attest(let r, let reason, let a):
            w.u64(r)
            w.string(reason)
            w.u8(a == nil ? 0 : 1)
            if let a { a.encode(into: &w) }
        case .watchRequest(let r): w.u64(r)
        case .watch(let r, let seq, let state):
            w.u64(r)
            w.u64(seq)
            state.encode(into: &w)
        case .ping(let v): w.u64(v)
        }
        return w.bytes
    }

    /// `u32 length || body`.
    public func encodedFrame() -> [UInt8] {
        let body = encodedBody()
        precondition(body.count <= WireMessage.maxFrameBody, "message exceeds the frame limit")
        var w = ByteWriter()
        w.u32(UInt32(body.count))
        w.raw(body)
        return w.bytes
    }

    /// Decodes a frame body, rejecting anything non-canonical.
    public init(body: [UInt8]) throws(DecodeError) {
        var r = ByteReader(body)
        let type = try r.u8("message.type")
        switch type {
        case 1:
            let v = try r.u32("hello.version")
            let g = try r.digest("hello.genesis")
            let roleByte = try r.u8("hello.role")
            guard let role = PeerRole(rawValue: roleByte) else {
                throw .invalidValue(field: "hello.role", reason: "unknown role \(roleByte)")
            }
            self = .hello(version: v, genesis: g, role: role, name: try r.text("hello.name", max: 64))
        case 2: self = .error(try r.text("error.reason", max: 1024))
        case 3:
            self = .entries(try r.list("entries", max: WireMessage.maxEntriesPerMessage) {
                (r: inout ByteReader) throws(DecodeError) in try r.lengthPrefixed("entries[]", max: Limits.maxEntryBytes)
            })
        case 4:
            self = .evidence(
                first: try r.lengthPrefixed("evidence.first", max: Limits.maxEntryBytes),
                second: try r.lengthPrefixed("evidence.second", max: Limits.maxEntryBytes))
        case 5: self = .digest(try r.digest("digest"))
        case 6:
            let flag = try r.u8("frontier.reply_wanted")
            guard flag <= 1 else { throw .invalidValue(field: "frontier.reply_wanted", reason: "must be 0 or 1") }
            let heads = try r.list("frontier.heads", max: WireMessage.maxFrontier) { (r: inout ByteReader) throws(DecodeError) in
                FrontierHead(author: try r.publicKey("frontier.author"), seq: try r.u64("frontier.seq"), head: try r.digest("frontier.head"))
            }
            try Roster.checkAscending(heads.map(\.author), field: "frontier.heads")
            let halts = try r.list("frontier.detached_halts", max: WireMessage.maxFrontier) {
                (r: inout ByteReader) throws(DecodeError) in try r.digest("frontier.detached_halts[]")
            }
            try Roster.checkAscending(halts, field: "frontier.detached_halts")
            let ev = try r.list("frontier.evidence", max: WireMessage.maxFrontier) {
                (r: inout ByteReader) throws(DecodeError) in try r.publicKey("frontier.evidence[]")
            }
            try Roster.checkAscending(ev, field: "frontier.evidence")
            self = .frontier(replyWanted: flag == 1, Frontier(heads: heads, detachedHalts: halts, evidenceAuthors: ev))
        case 7: self = .submit(request: try r.u64("submit.request"), entry: try r.lengthPrefixed("submit.entry", max: Limits.maxEntryBytes))
        case 8:
            let req = try r.u64("ack.request")
            let s = try r.u8("ack.status")
            guard let status = AckStatus(rawValue: s) else { throw .invalidValue(field: "ack.status", reason: "unknown status \(s)") }
            self = .ack(request: req, status: status, reason: try r.text("ack.reason", max: 1024))
        case 9:
            let req = try r.u64("status_request.request")
            var q = StatusQuery(at: try r.u64("status_request.at"), offset: try r.u32("status_request.offset"),
                                limit: try r.u32("status_request.limit"))
            if try NodeStatus.bool(&r, "status_request.proposal") { q.proposal = try r.digest("status_request.proposal") }
            self = .statusRequest(request: req, q)
        case 10: self = .status(request: try r.u64("status.request"), try NodeStatus(from: &r))
        case 11: self = .headRequest(request: try r.u64("head_request.request"), author: try r.publicKey("head_request.author"))
        case 12:
            self = .head(
                request: try r.u64("head.request"), seq: try r.u64("head.seq"), id: try r.digest("head.id"),
                time: try r.u64("head.time"), entry: try r.lengthPrefixed("head.entry", max: Limits.maxEntryBytes))
        case 13: self = .exportRequest(request: try r.u64("export_request.request"))
        case 14:
            let req = try r.u64("export.request")
            let last = try r.u8("export.last")
            guard last <= 1 else { throw .invalidValue(field: "export.last", reason: "must be 0 or 1") }
            self = .export(request: req, last: last == 1, chunk: try r.lengthPrefixed("export.chunk", max: WireMessage.maxExportChunk))
        case 15: self = .tokenRequest(request: try r.u64("token_request.request"), tier: try r.u32("token_request.tier"))
        case 16:
            self = .token(
                request: try r.u64("token.request"), reason: try r.text("token.reason", max: 1024),
                token: try r.lengthPrefixed("token.token", max: TierToken.maxBytes))
        case 17:
            self = .attestRequest(
                request: try r.u64("attest_request.request"), core: try r.digest("attest_request.core"),
                tier: try r.u32("attest_request.tier"), issuedAt: try r.u64("attest_request.issued_at"))
        case 18:
            let req = try r.u64("attest.request")
            let reason = try r.text("attest.reason", max: 1024)
            let has = try r.u8("attest.present")
            guard has <= 1 else { throw .invalidValue(field: "attest.present", reason: "must be 0 or 1") }
            self = .attest(request: req, reason: reason, attestation: has == 1 ? try Attestation.decode(&r) : nil)
        case 19: self = .watchRequest(request: try r.u64("watch_request.request"))
        case 20: self = .watch(request: try r.u64("watch.request"), seq: try r.u64("watch.seq"), try WatchState(from: &r))
        case 21: self = .ping(try r.u64("ping.value"))
        default:
            throw .invalidValue(field: "message.type", reason: "unknown message type \(type)")
        }
        try r.finish()
    }
}

/// Why a frame stream was rejected.
public enum FrameError: Error, Equatable, Sendable, CustomStringConvertible {
    case tooLarge(declared: Int, max: Int)
    case malformed(DecodeError)

    public var description: String {
        switch self {
        case .tooLarge(let d, let m): return "frame of \(d) bytes exceeds the \(m)-byte limit"
        case .malformed(let e): return "malformed message: \(e)"
        }
    }
}

/// Incremental frame parser (SPEC.md §8.1): `append(bytes)`, then `next()` until it returns nil.
///
/// The declared length is checked against the limit before the body is buffered, so a peer can make the parser
/// hold at most one maximal frame.
public struct FrameParser: Sendable {
    private var buffer: [UInt8] = []
    private var start = 0
    public let maxBody: Int

    public init(maxBody: Int = WireMessage.maxFrameBody) { self.maxBody = maxBody }

    /// Bytes buffered and not yet returned.
    public var buffered: Int { buffer.count - start }

    public mutating func append<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        if start > 0 && start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        } else if start > 1 << 16 && start * 2 > buffer.count {
            buffer.removeFirst(start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete message, or nil when more bytes are needed.
    public mutating func next() throws(FrameError) -> WireMessage? {
        guard buffer.count - start >= 4 else { return nil }
        let n = Int(buffer[start]) << 24 | Int(buffer[start + 1]) << 16 | Int(buffer[start + 2]) << 8 | Int(buffer[start + 3])
        guard n <= maxBody else { throw .tooLarge(declared: n, max: maxBody) }
        guard n >= 1 else { throw .malformed(.truncated(field: "message.type")) }
        guard buffer.count - start >= 4 + n else { return nil }
        let body = Array(buffer[(start + 4)..<(start + 4 + n)])
        start += 4 + n
        do { return try WireMessage(body: body) } catch { throw .malformed(error) }
    }
}
