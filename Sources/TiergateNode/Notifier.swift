import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import TiergateCore
import TiergateStorage

/// An `http://HOST[:PORT][/PATH]` address to notify (`node --notify`).
public struct NotifyURL: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var path: String

    /// Parses `http://…`; nil with the reason otherwise (https needs TLS, which this build does not link: put a
    /// local forwarder in front of an https webhook).
    public static func parse(_ s: String) -> Result<NotifyURL, NotifyURLError> {
        guard s.hasPrefix("http://") else {
            if s.hasPrefix("https://") {
                return .failure(NotifyURLError(message: "\(s): https is not supported (no TLS library in this build); point --notify at a local forwarder, e.g. an http://127.0.0.1 relay"))
            }
            return .failure(NotifyURLError(message: "\(s): expected http://HOST[:PORT][/PATH]"))
        }
        let rest = s.dropFirst(7)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let hostPort = String(rest[..<slash])
        let path = slash == rest.endIndex ? "/" : String(rest[slash...])
        var host = hostPort
        var port = 80
        if hostPort.hasPrefix("[") {  // [v6]:port
            guard let close = hostPort.firstIndex(of: "]") else { return .failure(NotifyURLError(message: "\(s): unterminated [address]")) }
            host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            let after = hostPort[hostPort.index(after: close)...]
            if after.hasPrefix(":") {
                guard let p = Int(after.dropFirst()), (1...65535).contains(p) else { return .failure(NotifyURLError(message: "\(s): bad port")) }
                port = p
            }
        } else if let colon = hostPort.lastIndex(of: ":") {
            host = String(hostPort[..<colon])
            guard let p = Int(hostPort[hostPort.index(after: colon)...]), (1...65535).contains(p) else { return .failure(NotifyURLError(message: "\(s): bad port")) }
            port = p
        }
        guard !host.isEmpty, !path.contains(" ") else { return .failure(NotifyURLError(message: "\(s): expected http://HOST[:PORT][/PATH]")) }
        return .success(NotifyURL(host: host, port: port, path: path))
    }

    public var description: String { "http://\(host.contains(":") ? "[\(host)]" : host):\(port)\(path)" }
}

public struct NotifyURLError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// `node --notify URL`: POSTs every new lab event (LabEvents: proposal opened, vote cast, passed or expired, halt,
/// resume, lapse due within 24 h, equivocation) as one JSON object — Slack-compatible `text` plus structured
/// fields — to each URL. On its own loop: a slow or dead receiver never delays the node. Each delivery is retried
/// with backoff (1 s, 2 s, 4 s … 60 s) for about ten minutes, then logged as given up. Events already in the ledger
/// when the node starts are not announced again.
public final class Notifier: @unchecked Sendable {
    let urls: [NotifyURL]
    let runtime: NodeRuntime
    let logger: Logger
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    var loop: EventLoop { group.next() }
    private var seen: Set<String> = []
    private var primed = false
    private var timer: RepeatedTask?
    private var stopped = false
    static let maxAttempts = 15

    public init(urls: [NotifyURL], runtime: NodeRuntime, logger: Logger) {
        self.urls = urls
        self.runtime = runtime
        self.logger = logger
    }

    public func start() {
        loop.execute {
            self.check()
            // Time alone brings some events (a window closing unpassed, a lapse coming due).
            self.timer = self.loop.scheduleRepeatedTask(initialDelay: .seconds(2), delay: .seconds(2)) { _ in self.check() }
        }
    }

    /// Stops notifying. Call it after the node's shutdown, which ends its change reports.
    public func stop() -> EventLoopFuture<Void> {
        let done = loop.submit {
            self.stopped = true
            self.timer?.cancel()
        }
        return group.shutdown(after: done, reportingOn: runtime.loop)
    }

    /// The node stored something (called on the node's loop).
    public func changed() { loop.execute { self.check() } }

    private func check() {
        guard !stopped else { return }
        runtime.snapshot().hop(to: loop).whenSuccess { s in
            if !self.primed {
                self.primed = true
                for e in LabEvents.all(s.verdict, now: s.now) { self.seen.insert(e.key) }
                return
            }
            for e in LabEvents.new(s.verdict, now: s.now, seen: &self.seen) {
                let body = Array(e.json.serialized().utf8)
                for u in self.urls { self.deliver(body, to: u, event: e.key, attempt: 1) }
            }
        }
    }

    private func deliver(_ body: [UInt8], to url: NotifyURL, event: String, attempt: Int) {
        guard !stopped else { return }
        post(body, to: url).whenComplete { r in
            var why: String?
            switch r {
            case .success(let status) where (200..<300).contains(Int(status.code)): return
            case .success(let status): why = "answered \(status.code) \(status.reasonPhrase)"
            case .failure(let e): why = "\(e)"
            }
            guard attempt < Self.maxAttempts, !self.stopped else {
                self.logger.error("gave up notifying", metadata: ["notify.url": "\(url)", "event": "\(event)", "attempts": "\(attempt)", "error": "\(why ?? "")"])
                return
            }
            let delay = min(1 << (attempt - 1), 60)
            self.logger.warning("notification failed; retrying", metadata: ["notify.url": "\(url)", "event": "\(event)", "retry_in_s": "\(delay)", "error": "\(why ?? "")"])
            self.loop.scheduleTask(in: .seconds(Int64(delay))) { self.deliver(body, to: url, event: event, attempt: attempt + 1) }
        }
    }

    /// One POST on a fresh connection (`Connection: close`), with a 10 s limit; the response status.
    private func post(_ body: [UInt8], to url: NotifyURL) -> EventLoopFuture<HTTPResponseStatus> {
        let done = loop.makePromise(of: HTTPResponseStatus.self)
        let limit = loop.scheduleTask(in: .seconds(10)) { done.fail(NodeError.io("no answer within 10 s")) }
        done.futureResult.whenComplete { _ in limit.cancel() }
        ClientBootstrap(group: loop)
            .connectTimeout(.seconds(5))
            .channelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    try ch.pipeline.syncOperations.addHTTPClientHandlers()
                    try ch.pipeline.syncOperations.addHandler(ResponseStatusHandler(done))
                }
            }
            .connect(host: url.host, port: url.port)
            .whenComplete { r in
                switch r {
                case .failure(let e): done.fail(e)
                case .success(let ch):
                    var headers = HTTPHeaders()
                    headers.add(name: "Host", value: url.host.contains(":") ? "[\(url.host)]:\(url.port)" : "\(url.host):\(url.port)")
                    headers.add(name: "Content-Type", value: "application/json")
                    headers.add(name: "Content-Length", value: "\(body.count)")
                    headers.add(name: "Connection", value: "close")
                    headers.add(name: "User-Agent", value: "tiergate-node")
                    var buf = ch.allocator.buffer(capacity: body.count)
                    buf.writeBytes(body)
                    ch.write(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: .POST, uri: url.path, headers: headers)), promise: nil)
                    ch.write(HTTPClientRequestPart.body(.byteBuffer(buf)), promise: nil)
                    ch.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
                    done.futureResult.whenComplete { _ in ch.close(promise: nil) }
                }
            }
        return done.futureResult
    }
}

/// Completes `done` with the response's status (or fails it if the connection ends first).
final class ResponseStatusHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    let done: EventLoopPromise<HTTPResponseStatus>
    var status: HTTPResponseStatus?
    init(_ done: EventLoopPromise<HTTPResponseStatus>) { self.done = done }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): status = h.status
        case .body: break
        case .end: if let s = status { done.succeed(s) }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        done.fail(NodeError.io("the receiver closed the connection without an answer"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        done.fail(error)
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension ResponseStatusHandler: Sendable {}

extension MultiThreadedEventLoopGroup {
    /// Shuts this group down once `done` completes; the result completes on `loop` (another group's), since this
    /// group's own loop is about to stop and a future continued there would never complete.
    func shutdown(after done: EventLoopFuture<Void>, reportingOn loop: EventLoop) -> EventLoopFuture<Void> {
        done.hop(to: loop).flatMap {
            let p = loop.makePromise(of: Void.self)
            self.shutdownGracefully { _ in p.succeed(()) }
            return p.futureResult
        }
    }
}
