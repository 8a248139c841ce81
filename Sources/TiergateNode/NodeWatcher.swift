import NIOCore
import NIOPosix
import TiergateCore
import TiergateStorage

/// A subscription to one node's verdict (SPEC.md §8.7), kept up forever: it connects over the secure link,
/// sends WATCH_REQUEST, reports every WATCH the node pushes, PINGs the node every second, declares the node dead
/// after 5 s of silence, and reconnects with the backoff of §8.5 — so a halt stored while the link was down arrives
/// with the state the node sends on resubscription. Events are delivered on the watcher's event loop; a `gate`
/// watches several nodes with one watcher each and acts on the first halt from any.
public final class NodeWatcher: @unchecked Sendable {  // mutable state confined to `loop`
    public enum Event: Sendable {
        /// The node pushed its state; `key` is the member key its link proved.
        case state(Endpoint, key: PublicKey, WatchState)
        /// The link ended or could not be made; the watcher retries.
        case lost(Endpoint, reason: String)
    }

    public let endpoint: Endpoint
    let genesis: Digest
    let identity: any Ed25519Signer
    let nodeKeys: Set<PublicKey>?
    let loop: EventLoop
    let onEvent: @Sendable (Event) -> Void
    /// Silence after which the node is declared dead (its keepalive PING comes every second).
    public var deadAfterMs: UInt64 = 5_000
    public var pingIntervalMs: UInt64 = 1_000

    private var channel: Channel?
    private var backoff = Backoff()
    private var rng = SystemRandomNumberGenerator()
    private var stopped = false
    private var lastHeard: UInt64 = 0
    private var timer: RepeatedTask?
    private var failure: String?
    private var generation = 0

    public init(endpoint: Endpoint, genesis: Digest, identity: any Ed25519Signer, nodeKeys: Set<PublicKey>?,
                group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton, onEvent: @escaping @Sendable (Event) -> Void) {
        self.endpoint = endpoint
        self.genesis = genesis
        self.identity = identity
        self.nodeKeys = nodeKeys
        self.loop = group.next()
        self.onEvent = onEvent
    }

    /// Starts connecting; events follow.
    public func start() {
        loop.execute {
            self.timer = self.loop.scheduleRepeatedTask(initialDelay: .milliseconds(Int64(self.pingIntervalMs)),
                                                        delay: .milliseconds(Int64(self.pingIntervalMs))) { _ in self.keepalive() }
            self.connect()
        }
    }

    /// Stops watching and closes the link.
    public func stop() -> EventLoopFuture<Void> {
        loop.flatSubmit {
            self.stopped = true
            self.timer?.cancel()
            return self.channel?.close() ?? self.loop.makeSucceededVoidFuture()
        }.recover { _ in }
    }

    private func connect() {
        guard !stopped else { return }
        generation += 1
        let gen = generation
        failure = nil
        let nodeKeys = self.nodeKeys
        ClientBootstrap(group: loop)
            .connectTimeout(.seconds(3))
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    let secure = SecureHandler(
                        role: .initiator, genesis: self.genesis, identity: self.identity, timeout: .seconds(5),
                        authorize: { key in
                            guard let keys = nodeKeys, !keys.contains(key) else { return nil }
                            return "the node proved key \(key.fingerprint), which is not a node-running member of the roster"
                        },
                        onFailure: { reason in self.failure = self.failure ?? reason })
                    try ch.pipeline.syncOperations.addHandler(secure)
                    try ch.pipeline.syncOperations.addHandler(WatchHandler(watcher: self, secure: secure, generation: gen))
                }
            }
            .connect(host: endpoint.host, port: endpoint.port)
            .whenComplete { result in
                switch result {
                case .success(let ch):
                    if self.stopped { ch.close(promise: nil) } else { self.channel = ch }
                case .failure(let error):
                    self.closed(gen, reason: "cannot connect: \(error)")
                }
            }
    }

    private func keepalive() {
        guard let ch = channel, ch.isActive, lastHeard > 0 else { return }
        let now = SystemClock.nowMs()
        if now > lastHeard, now - lastHeard >= deadAfterMs {
            failure = "nothing heard for \((now - lastHeard) / 1000) s: the link is dead"
            ch.close(promise: nil)
            return
        }
        send(.ping(now), on: ch)
    }

    func send(_ m: WireMessage, on ch: Channel) {
        var buf = ch.allocator.buffer(capacity: 64)
        buf.writeBytes(m.encodedFrame())
        ch.writeAndFlush(buf, promise: nil)
    }

    // Called by the handler, on the loop.

    func established(_ ch: Channel) {
        lastHeard = SystemClock.nowMs()
        send(.hello(version: WireMessage.protocolVersion, genesis: genesis, role: .client, name: "tiergate-gate"), on: ch)
        send(.watchRequest(request: 1), on: ch)
    }

    func received(_ m: WireMessage, key: PublicKey, on ch: Channel) {
        lastHeard = SystemClock.nowMs()
        switch m {
        case .hello(_, let theirs, _, _):
            if theirs != genesis {
                failure = "the node serves genesis roster \(theirs.short)…, not \(genesis.short)… (another lab?)"
                ch.close(promise: nil)
            }
        case .watch(_, _, let state):
            backoff.reset()
            onEvent(.state(endpoint, key: key, state))
        case .error(let reason):
            failure = "the node closed the connection: \(reason)"
        default:
            break  // PING, and anything else a newer node may send
        }
    }

    func protocolError(_ reason: String, on ch: Channel) {
        failure = "protocol error: \(reason)"
        ch.close(promise: nil)
    }

    func closed(_ gen: Int, reason fallback: String) {
        guard gen == generation else { return }
        generation += 1  // once per connection, whichever of the close paths reports it first
        channel = nil
        lastHeard = 0
        onEvent(.lost(endpoint, reason: failure ?? fallback))
        guard !stopped else { return }
        let delay = backoff.next(random: &rng)
        loop.scheduleTask(in: .milliseconds(Int64(delay))) { self.connect() }
    }
}

/// The protocol end of a watcher's link.
final class WatchHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let watcher: NodeWatcher
    let secure: SecureHandler
    let generation: Int
    var parser = FrameParser()

    init(watcher: NodeWatcher, secure: SecureHandler, generation: Int) {
        self.watcher = watcher
        self.secure = secure
        self.generation = generation
    }

    /// Fired by ``SecureHandler`` once the node proved a roster key.
    func channelActive(context: ChannelHandlerContext) {
        watcher.established(context.channel)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buf = unwrapInboundIn(data)
        if let bytes = buf.readBytes(length: buf.readableBytes) { parser.append(bytes) }
        guard let key = secure.peer else { return }
        do {
            while let m = try parser.next() { watcher.received(m, key: key, on: context.channel) }
        } catch {
            watcher.protocolError("\(error)", on: context.channel)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        watcher.closed(generation, reason: "connection closed")
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension WatchHandler: Sendable {}
