import CoreMetrics
import Dispatch
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import TiergateCore
import TiergateStorage

/// Everything the HTTP side shows, taken on the node's loop in one step (``NodeRuntime/snapshot()``).
public struct NodeSnapshot: Sendable {
    public var now: UInt64
    public var verdict: Verdict
    public var node: NodeStatus.NodeInfo
    public var entriesByKind: [String: UInt64]
    public var submissions: [String: UInt64]
    public var tokens: [String: UInt64]
    /// Anonymous halts stored from peers outside the window a SUBMIT is held to (SPEC.md §8.3).
    public var anonymousHaltsOutOfWindow: UInt64
    /// Each member's latest entry time (ms), for members who signed anything.
    public var memberLastSeen: [String: UInt64]
    public var anyPeerInSync: Bool
    public var storageWritable: Bool
}

/// The node's metrics (SPEC.md §8.8), kept through swift-metrics and exported by swift-prometheus. Gauges are set
/// from a snapshot at each scrape; counters advance by what the node counted since the last scrape; the append
/// latency (fsync included) is a histogram fed by the I/O thread.
public final class NodeMetrics: @unchecked Sendable {
    public let registry = PrometheusCollectorRegistry()
    let factory: PrometheusMetricsFactory
    private let lock = NIOLock()
    private var gauges: [String: CoreMetrics.Gauge] = [:]
    private var counters: [String: (CoreMetrics.Counter, UInt64)] = [:]
    /// Ledger appends, each with its fsync: `tiergate_ledger_append_seconds`.
    public let appendTimer: CoreMetrics.Timer

    public init() {
        var f = PrometheusMetricsFactory(registry: registry)
        f.defaultDurationHistogramBuckets = [.microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
                                             .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
                                             .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5)]
        factory = f
        appendTimer = CoreMetrics.Timer(label: "tiergate_ledger_append_seconds", dimensions: [], factory: f)
    }

    /// Identifies a series among those made here: its name and labels.
    private static func seriesKey(_ name: String, _ labels: [(String, String)]) -> String {
        name + labels.map { "|\($0.0)=\($0.1)" }.joined()
    }

    private func gauge(_ name: String, _ labels: [(String, String)] = []) -> CoreMetrics.Gauge {
        let key = Self.seriesKey(name, labels)
        if let g = gauges[key] { return g }
        let g = CoreMetrics.Gauge(label: name, dimensions: labels, factory: factory)
        gauges[key] = g
        return g
    }

    /// A counter that mirrors `total` (a count since the node started): advanced by the difference.
    private func count(_ name: String, _ labels: [(String, String)], total: UInt64) {
        let key = Self.seriesKey(name, labels)
        let (c, last) = counters[key] ?? (CoreMetrics.Counter(label: name, dimensions: labels, factory: factory), 0)
        if total > last { c.increment(by: Int64(clamping: total - last)) }
        counters[key] = (c, max(total, last))
    }

    /// Sets every series from `s`, then renders the registry in the Prometheus text format.
    public func render(_ s: NodeSnapshot) -> [UInt8] {
        lock.withLock {
            let v = s.verdict
            gauge("tiergate_authorised_tier").record(Int64(v.authorizedTier))
            gauge("tiergate_base_tier").record(Int64(v.baseTier))
            gauge("tiergate_halted").record(v.halted ? 1 : 0)
            gauge("tiergate_halts_in_force").record(Int64(v.activeHalts.count))
            gauge("tiergate_open_proposals").record(Int64(v.proposals.filter(\.open).count))
            gauge("tiergate_equivocations").record(Int64(v.equivocations.count))
            gauge("tiergate_lapses_at_seconds").record(Double(v.lapsesAt ?? 0) / 1000)
            gauge("tiergate_roster_version").record(Int64(clamping: v.rosterVersion))
            gauge("tiergate_drill_overdue").record(v.drillSchedule.overdue ? 1 : 0)
            gauge("tiergate_drill_last_success_seconds").record(Double(v.drillSchedule.lastSuccess ?? 0) / 1000)
            for k in EntryKind.allCases {
                gauge("tiergate_ledger_entries", [("kind", k.metricName)]).record(Int64(clamping: s.entriesByKind[k.metricName] ?? 0))
            }
            for m in v.roster.members {
                gauge("tiergate_member_last_seen_seconds", [("member", m.name)]).record(Double(s.memberLastSeen[m.name] ?? 0) / 1000)
            }
            // Peer nodes, by the key their link proved (the newest of a peer's links).
            var heard: [PublicKey: UInt64] = [:]
            for p in s.node.peersHeard { heard[p.key] = max(heard[p.key] ?? 0, p.lastHeard) }
            gauge("tiergate_peers_connected").record(Int64(heard.count))
            var current: Set<String> = []
            for (key, last) in heard {
                let labels = [("peer", key.fingerprint), ("member", v.roster.member(withKey: key)?.name ?? "?")]
                current.insert(Self.seriesKey("tiergate_peer_last_heard_seconds_ago", labels))
                gauge("tiergate_peer_last_heard_seconds_ago", labels).record(Double(s.now > last ? s.now - last : 0) / 1000)
            }
            // A peer no longer connected: its series goes (a frozen "seconds ago" would mislead).
            for k in gauges.keys where k.hasPrefix("tiergate_peer_last_heard_seconds_ago|") && !current.contains(k) {
                gauges.removeValue(forKey: k)?.destroy()
            }
            gauge("tiergate_sessions").record(Int64(s.node.sessions))
            gauge("tiergate_watchers").record(Int64(s.node.watchers))
            gauge("tiergate_pending_handshakes").record(Int64(s.node.pendingHandshakes))
            gauge("tiergate_clock_offset_seconds").record(Double(s.node.clockOffsetMs ?? 0) / 1000)
            gauge("tiergate_clock_ok").record(s.node.clockWarning.isEmpty ? 1 : 0)
            gauge("tiergate_storage_writable").record(s.storageWritable ? 1 : 0)
            gauge("tiergate_in_sync").record(s.anyPeerInSync ? 1 : 0)
            for r in AdmissionControl.Refusal.allCases {
                count("tiergate_connections_refused_total", [("reason", r.metricName)], total: s.node.refused.first { $0.reason == r.rawValue }?.count ?? 0)
            }
            count("tiergate_connections_closed_for_misbehaviour_total", [], total: s.node.connectionsClosedForMisbehaviour)
            for r in ["stored", "already_stored", "rejected"] { count("tiergate_submissions_total", [("result", r)], total: s.submissions[r] ?? 0) }
            for r in ["issued", "refused"] { count("tiergate_tokens_total", [("result", r)], total: s.tokens[r] ?? 0) }
            count("tiergate_frames_received_total", [], total: s.node.framesIn)
            count("tiergate_anonymous_halts_out_of_window_total", [], total: s.anonymousHaltsOutOfWindow)
            var out: [UInt8] = []
            registry.emit(into: &out)
            return out
        }
    }
}

/// The HTTP side of a node (`node --http`, SPEC.md §8.8), off by default: `/metrics`, `/healthz`, `/readyz`, the
/// live status page at `/` (with `/app.js`, `/app.css`) and its Server-Sent Events at `/events`. SwiftNIO's HTTP/1
/// codec on a loop of its own; it asks the node for a snapshot (a hop to the node's loop, served from its verdict
/// cache) and renders here, so a scraper never slows the node's own work.
public final class NodeHTTPServer: @unchecked Sendable {
    let runtime: NodeRuntime
    let endpoint: Endpoint
    let logger: Logger
    public let metrics: NodeMetrics
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    var loop: EventLoop { group.next() }
    private var channel: Channel?
    /// Subscribers to `/events` (touched on this server's loop only).
    private var streams: [ObjectIdentifier: Channel] = [:]
    private var refresh: RepeatedTask?
    static let maxStreams = 64

    /// A connection that sends nothing this long is closed (a page's event stream excepted).
    let idleTimeout: TimeAmount

    public init(runtime: NodeRuntime, endpoint: Endpoint, metrics: NodeMetrics, logger: Logger, idleTimeout: TimeAmount = .seconds(60)) {
        self.runtime = runtime
        self.endpoint = endpoint
        self.metrics = metrics
        self.logger = logger
        self.idleTimeout = idleTimeout
    }

    /// Binds; the future gives the bound address.
    public func start() -> EventLoopFuture<SocketAddress> {
        ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 128)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 256 << 10, high: 1 << 20))
            .childChannelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    try ch.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: self.idleTimeout))
                    try ch.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try ch.pipeline.syncOperations.addHandler(HTTPHandler(server: self))
                }
            }
            .bind(host: endpoint.host, port: endpoint.port)
            .flatMapThrowing { ch in
                self.channel = ch
                // Pages open for a while are refreshed every 5 s (times, a lapse coming due) and told at once of
                // every change (the node's onChange).
                self.refresh = self.loop.scheduleRepeatedTask(initialDelay: .seconds(5), delay: .seconds(5)) { _ in self.broadcast() }
                guard let a = ch.localAddress else { throw NodeError.cannotListen("the HTTP listener has no address") }
                return a
            }
    }

    /// Stops serving. Call it after the node's shutdown, which ends its change reports.
    public func stop() -> EventLoopFuture<Void> {
        let done = loop.flatSubmit {
            self.refresh?.cancel()
            let closes = self.streams.values.map { $0.close(mode: .all) } + [self.channel?.close() ?? self.loop.makeSucceededVoidFuture()]
            self.streams = [:]
            return EventLoopFuture.andAllComplete(closes, on: self.loop)
        }
        return group.shutdown(after: done, reportingOn: runtime.loop)
    }

    /// The node changed (called on the node's loop): every open page gets the new state.
    public func changed() { loop.execute { self.broadcast() } }

    func broadcast() {
        guard !streams.isEmpty else { return }
        runtime.snapshot().hop(to: loop).whenSuccess { s in
            let event = Self.sse(StatusPage.fragment(s.verdict, now: s.now))
            for ch in self.streams.values {
                // A page that stops reading is closed, not buffered for without bound (it reconnects by itself).
                guard ch.isWritable else {
                    ch.close(promise: nil)
                    continue
                }
                var buf = ch.allocator.buffer(capacity: event.utf8.count)
                buf.writeString(event)
                ch.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(buf)), promise: nil)
            }
        }
    }

    /// One Server-Sent Event named `status` whose data is `html` (each line its own `data:` field).
    static func sse(_ html: String) -> String {
        "event: status\n" + html.split(separator: "\n", omittingEmptySubsequences: false).map { "data: \($0)\n" }.joined() + "\n"
    }

    func subscribe(_ ch: Channel) -> Bool {
        guard streams.count < Self.maxStreams else { return false }
        streams[ObjectIdentifier(ch)] = ch
        ch.closeFuture.hop(to: loop).whenComplete { _ in self.streams[ObjectIdentifier(ch)] = nil }
        return true
    }

    /// A snapshot, or a failure when the node's loop does not answer within 2 s (the node is stuck: not alive).
    func snapshot() -> EventLoopFuture<NodeSnapshot> {
        let p = loop.makePromise(of: NodeSnapshot.self)
        let timeout = loop.scheduleTask(in: .seconds(2)) { p.fail(NodeError.io("the node's event loop did not answer within 2 s")) }
        runtime.snapshot().hop(to: loop).whenComplete { r in
            timeout.cancel()
            p.completeWith(r)
        }
        return p.futureResult
    }
}

/// Routes one request at a time (NIO's server pipeline orders pipelined requests).
final class HTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let server: NodeHTTPServer
    var head: HTTPRequestHead?
    var streaming = false

    init(server: NodeHTTPServer) { self.server = server }

    static let pageHeaders: [(String, String)] = [
        ("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
        ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"), ("Cache-Control", "no-store"),
    ]

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h
        case .body: break  // no route takes a body
        case .end:
            guard let h = head, !streaming else { return }
            head = nil
            route(h, context: context)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case IdleStateHandler.IdleStateEvent.read = event, !streaming {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func route(_ h: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = String(h.uri.split(separator: "?", maxSplits: 1).first ?? "")
        guard h.method == .GET || h.method == .HEAD else {
            return text(context, h, .methodNotAllowed, "only GET and HEAD\n", extra: [("Allow", "GET, HEAD")])
        }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        /// `body` runs on the channel's loop with this handler, its context and the node's snapshot.
        func withSnapshot(_ body: @escaping (HTTPHandler, ChannelHandlerContext, NodeSnapshot) -> Void) {
            server.snapshot().hop(to: context.eventLoop).whenComplete { r in
                let (me, ctx) = loopBound.value
                switch r {
                case .success(let s): body(me, ctx, s)
                case .failure(let e): me.text(ctx, h, .serviceUnavailable, "not alive: \(e)\n")
                }
            }
        }
        switch path {
        case "/":
            withSnapshot { me, ctx, s in
                me.respond(ctx, h, .ok, "text/html; charset=utf-8", Array(StatusPage.page(s.verdict, node: s.node.name, now: s.now).utf8), extra: Self.pageHeaders)
            }
        case "/app.js":
            respond(context, h, .ok, "text/javascript; charset=utf-8", Array(StatusPage.script.utf8), extra: Self.pageHeaders)
        case "/app.css":
            respond(context, h, .ok, "text/css; charset=utf-8", Array(StatusPage.style.utf8), extra: Self.pageHeaders)
        case "/metrics":
            withSnapshot { me, ctx, s in
                me.respond(ctx, h, .ok, "text/plain; version=0.0.4; charset=utf-8", me.server.metrics.render(s))
            }
        case "/healthz":
            withSnapshot { me, ctx, s in
                if s.storageWritable {
                    me.text(ctx, h, .ok, "ok: alive, ledger writable\n")
                } else {
                    me.text(ctx, h, .serviceUnavailable, "not healthy: the ledger cannot be written (\(s.node.storageWarning.isEmpty ? "append failed" : s.node.storageWarning))\n")
                }
            }
        case "/readyz":
            withSnapshot { me, ctx, s in
                if s.anyPeerInSync {
                    me.text(ctx, h, .ok, "ready: in sync with at least one peer node\n")
                } else {
                    me.text(ctx, h, .serviceUnavailable, "not ready: in sync with no peer node yet\n")
                }
            }
        case "/events" where h.method == .HEAD:
            respond(context, h, .ok, "text/event-stream; charset=utf-8", [], extra: Self.pageHeaders)
        case "/events":
            let ch = context.channel
            server.loop.submit { self.server.subscribe(ch) }.hop(to: context.eventLoop).whenSuccess { ok in
                let (me, ctx) = loopBound.value
                guard ok else {
                    return me.text(ctx, h, .serviceUnavailable, "too many open pages\n")
                }
                me.streaming = true
                var headers = HTTPHeaders(Self.pageHeaders)
                headers.add(name: "Content-Type", value: "text/event-stream; charset=utf-8")
                ctx.write(me.wrapOutboundOut(.head(HTTPResponseHead(version: h.version, status: .ok, headers: headers))), promise: nil)
                ctx.flush()
                me.server.changed()  // the state now, at once
            }
        default:
            text(context, h, .notFound, "not found: try /, /metrics, /healthz, /readyz, /events\n")
        }
    }

    /// A plain-text answer (health, readiness, errors).
    func text(_ context: ChannelHandlerContext, _ h: HTTPRequestHead, _ status: HTTPResponseStatus, _ message: String,
              extra: [(String, String)] = []) {
        respond(context, h, status, "text/plain; charset=utf-8", Array(message.utf8), extra: extra)
    }

    func respond(_ context: ChannelHandlerContext, _ h: HTTPRequestHead, _ status: HTTPResponseStatus, _ type: String, _ body: [UInt8],
                 extra: [(String, String)] = []) {
        var headers = HTTPHeaders(extra)
        headers.add(name: "Content-Type", value: type)
        headers.add(name: "Content-Length", value: "\(body.count)")
        if !h.isKeepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: h.version, status: status, headers: headers))), promise: nil)
        if h.method != .HEAD {
            var buf = context.channel.allocator.buffer(capacity: body.count)
            buf.writeBytes(body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buf))), promise: nil)
        }
        let keep = h.isKeepAlive
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in if !keep { channel.close(promise: nil) } }
    }
}

@available(*, unavailable)
extension HTTPHandler: Sendable {}
