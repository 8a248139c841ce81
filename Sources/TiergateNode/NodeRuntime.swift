import Dispatch
import Logging
import NIOCore
import NIOPosix
import TiergateCore
import TiergateStorage

#if canImport(Glibc)
import Glibc
#endif

/// The thin I/O shell around ``GossipNode``: owns the sockets, the ledger file and the timers, and executes the
/// state machine's directives. Every method runs on the node's single event loop, so the state needs no locks.
/// The loop never blocks on the disk: appends with fsync and ledger reads for EXPORT run on one dedicated I/O
/// thread, in order, and the directives that follow an append (ACKs, pushes) run only once it is durable.
public final class NodeRuntime: @unchecked Sendable {
    public let config: NodeConfig
    let loop: EventLoop
    let group: EventLoopGroup
    var logger: Logger
    var gossip: GossipNode
    let writer: LedgerWriter
    var channels: [PeerID: Channel] = [:]
    var nextPeerID: PeerID = 1
    var dialers: [Dialer] = []
    var rng = SystemRandomNumberGenerator()
    var serverChannel: Channel?
    var tickTask: RepeatedTask?
    var stopped = false
    /// Inbound connections in their handshake, by admission id (SPEC.md §12.4).
    var pendingChannels: [Int: Channel] = [:]
    var nextConnectionID = 1
    /// The key each registered session proved (for the per-key session count).
    var sessionKeys: [PeerID: PublicKey] = [:]
    /// Whether the clock warning is in force (logged on each change).
    var clockWarned = false
    var nextStorageCheck: UInt64 = 0
    /// The one thread that touches the ledger file after start-up; jobs run on it in submission order.
    let io = NIOThreadPool(numberOfThreads: 1)
    /// Completes when the last queued directive batch has run; the next batch waits for it (order is kept).
    var ioTail: EventLoopFuture<Void>
    /// Directive batches waiting behind an append (a batch runs at once only when none is waiting).
    var queuedBatches = 0
    /// An append failed: nothing queued after it runs (no ACK, no push), and the node stops.
    var persistFailed = false
    /// Completed with nil on a requested stop, or with the error that forces the node to stop.
    let stopPromise: EventLoopPromise<NodeError?>
    var stopRequested = false
    /// Called on the node's event loop after new entries are durable (benchmarks and tests observe with it).
    public var onPersist: (@Sendable (_ entries: [SignedEntry], _ detachedHalts: [SignedEntry]) -> Void)?
    /// Called on the node's event loop after anything new is durable; set before `start()` (the HTTP side's live
    /// page and notifications).
    public var onChange: [@Sendable () -> Void] = []
    /// Called on the I/O thread with each append's duration, fsync included (nanoseconds); set before `start()`.
    public var onAppendDuration: (@Sendable (UInt64) -> Void)?
    /// What the node answered since start: SUBMIT by status, token requests by outcome (counted as sent).
    var submissions: [String: UInt64] = [:]
    /// Anonymous halts stored from peers outside the SUBMIT window (``NodeNotice``).
    var anonymousHaltsOutOfWindow: UInt64 = 0
    /// Each connection's remote address, for what is logged about it after it may have closed.
    var addresses: [PeerID: String] = [:]
    var tokens: [String: UInt64] = [:]
    /// Entries in the ledger by kind (halts held detached included), counted at load and on each append.
    var entriesByKind: [String: UInt64] = [:]

    /// One configured peer that this node dials and re-dials forever.
    final class Dialer: @unchecked Sendable {  // confined to the node's event loop
        let endpoint: Endpoint
        var backoff = Backoff()
        var peer: PeerID?
        var misbehaved = false
        init(endpoint: Endpoint) { self.endpoint = endpoint }
    }

    /// Opens the ledger (cutting a torn tail), loads it, and prepares the node. Call ``start()`` next.
    public init(config: NodeConfig, group: EventLoopGroup, logger: Logger) throws {
        self.config = config
        self.group = group
        self.loop = group.next()
        self.ioTail = loop.makeSucceededVoidFuture()
        self.logger = logger
        do { writer = try LedgerWriter(path: config.ledgerPath, genesis: config.genesis.hash) } catch {
            if case .read(.corruptFrame) = error {
                // Not a torn tail: frames after the damage would be lost by a cut. Say what to do instead.
                throw NodeError.corruptLedger(path: config.ledgerPath, problems: ["\(error)"])
            }
            throw NodeError.io("\(error)")
        }
        if writer.recoveredBytes > 0 {
            logger.warning("cut a torn tail from the ledger", metadata: ["ledger.bytes_cut": "\(writer.recoveredBytes)"])
        }
        let store = try EntryStore.load(path: config.ledgerPath, genesis: config.genesis)
        let roster = store.verdict(at: SystemClock.nowMs()).roster
        guard let me = roster.member(withKey: config.identity.publicKey) else {
            throw NodeError.io("key \(config.identity.publicKey.fingerprint) is not a member of the roster in force (version \(roster.version)); a node runs with a member's key")
        }
        guard !me.isObserver else {
            throw NodeError.io("\(me.name) is an observer; observers read through a node (status, token), they do not run one")
        }
        for feed in store.feeds.values { for e in feed { entriesByKind[e.entry.kind.metricName, default: 0] += 1 } }
        entriesByKind["halt", default: 0] += UInt64(store.detachedHalts.count)
        entriesByKind[EntryKind.drillAck.metricName, default: 0] += UInt64(store.drillAcks.count)
        gossip = GossipNode(store: store, settings: config.gossip)
        gossip.connections.maxPending = config.maxPendingHandshakes
        gossip.connections.maxPendingPerAddress = config.maxPendingPerAddress
        gossip.connections.handshakeTimeoutMs = UInt64(max(config.handshakeTimeoutMs, 1))
        gossip.connections.loadedHandshakeTimeoutMs = UInt64(max(min(config.loadedHandshakeTimeoutMs, config.handshakeTimeoutMs), 1))
        gossip.connections.maxSessionsPerKey = config.maxSessionsPerKey
        // Made last: a promise created before a throw above would be leaked (NIO traps on that).
        stopPromise = loop.makePromise(of: NodeError?.self)
        logger.info("ledger loaded", metadata: ["ledger.entries": "\(store.entryCount)", "ledger.path": "\(config.ledgerPath)"])
    }

    /// Binds the listener, then (on the node's event loop) starts the I/O thread, dialing peers and the periodic
    /// tick; the future gives the bound address. Never blocks: `NodeService` awaits it.
    public func bind() -> EventLoopFuture<SocketAddress> {
        // Every channel of this node lives on its one event loop (the runtime state is confined to it).
        ServerBootstrap(group: loop, childGroup: loop)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 1 << 20, high: config.maxOutboundBytes))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let id = self.nextConnectionID
                    self.nextConnectionID += 1
                    let address = channel.remoteAddress?.ipAddress ?? "?"
                    switch self.gossip.connections.admit(id, address: address, now: SystemClock.nowMs()) {
                    case .refuse(let reason):
                        // Refused before the handshake, with a hint the client can show (counted and logged in
                        // aggregate, never one line per connection).
                        self.logFirstRefusal()
                        try channel.pipeline.syncOperations.addHandler(BusyHandler(reason))
                    case .accept(let timeout):
                        try self.addHandlers(to: channel, dialer: nil, pending: id, timeoutMs: timeout)
                    case .acceptEvicting(let old, let timeout):
                        if let victim = self.pendingChannels.removeValue(forKey: old) {
                            var buf = victim.allocator.buffer(capacity: 3)
                            buf.writeBytes(SecureLink.busyMessage(.overloaded))
                            victim.writeAndFlush(buf).whenComplete { _ in victim.close(promise: nil) }
                        }
                        try self.addHandlers(to: channel, dialer: nil, pending: id, timeoutMs: timeout)
                    }
                }
            }
            .bind(host: config.listen.host, port: config.listen.port)
            .hop(to: loop)
            .flatMapThrowing { server in
                self.serverChannel = server
                self.io.start()
                for p in self.config.peers { self.dial(Dialer(endpoint: p), after: 0) }
                self.tickTask = self.loop.scheduleRepeatedTask(initialDelay: .milliseconds(100), delay: .milliseconds(100)) { _ in
                    self.tick()
                }
                guard let address = server.localAddress else { throw NodeError.cannotListen("the listener has no address") }
                return address
            }
    }

    /// ``bind()``, waited for: for synchronous callers (tests, benchmarks); never call it from async code or an
    /// event loop.
    public func start() throws -> SocketAddress { try bind().wait() }

    /// Completes when the node must stop: with nil after ``requestStop()``, or with the error that stops it (the
    /// ledger cannot be written). The library never exits the process: the caller decides.
    public var stopReason: EventLoopFuture<NodeError?> { stopPromise.futureResult }

    /// Asks the node to stop (graceful shutdown); ``stopReason`` then completes with nil.
    @discardableResult
    public func requestStop() -> EventLoopFuture<Void> {
        loop.submit { self.finish(nil) }
    }

    func finish(_ error: NodeError?) {
        guard !stopRequested else { return }
        stopRequested = true
        stopPromise.succeed(error)
    }

    /// Stops dialing, closes every connection and the listener, and waits for queued ledger writes.
    public func shutdown() -> EventLoopFuture<Void> {
        loop.flatSubmit {
            self.stopped = true
            self.finish(nil)
            self.tickTask?.cancel()
            let closes = self.channels.values.map { $0.close(mode: .all) } + [self.serverChannel?.close() ?? self.loop.makeSucceededVoidFuture()]
            return EventLoopFuture.andAllComplete(closes + [self.ioTail], on: self.loop)
        }.flatMap {
            let done = self.loop.makePromise(of: Void.self)
            self.io.shutdownGracefully { _ in done.succeed(()) }
            return done.futureResult
        }
    }

    // MARK: Peers

    func dial(_ d: Dialer, after delayMs: UInt64) {
        guard !stopped else { return }
        if !dialers.contains(where: { $0 === d }) { dialers.append(d) }
        loop.scheduleTask(in: .milliseconds(Int64(delayMs))) {
            guard !self.stopped else { return }
            ClientBootstrap(group: self.loop)
                .connectTimeout(.seconds(3))
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .channelOption(.writeBufferWaterMark, value: .init(low: 1 << 20, high: self.config.maxOutboundBytes))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try self.addHandlers(to: channel, dialer: d) }
                }
                .connect(host: d.endpoint.host, port: d.endpoint.port)
                .whenFailure { error in
                    let delay = d.backoff.next(random: &self.rng)
                    self.logger.debug("dial failed", metadata: ["peer.address": "\(d.endpoint)", "retry.ms": "\(delay)", "error": "\(error)"])
                    self.dial(d, after: delay)
                }
        }
    }

    /// The pipeline of every connection (SPEC.md §12): the encrypted, member-authenticated link, then the protocol.
    /// `pending`: the admission id of an inbound connection (nil for the node's own dials, which need no slot).
    func addHandlers(to channel: Channel, dialer: Dialer?, pending: Int? = nil, timeoutMs: UInt64? = nil) throws {
        let address = channel.remoteAddress.map { "\($0)" } ?? "?"
        let ip = channel.remoteAddress?.ipAddress ?? "?"
        if let pending { pendingChannels[pending] = channel }
        let secure = SecureHandler(
            role: dialer == nil ? .responder : .initiator, genesis: config.genesis.hash, identity: config.identity,
            timeout: .milliseconds(timeoutMs.map { Int64($0) } ?? config.handshakeTimeoutMs),
            authorize: { key in
                self.gossip.admission(of: key, now: SystemClock.nowMs()) ?? self.gossip.connections.sessionRefusal(for: key)
            },
            onFailure: { reason in
                if let pending {
                    // Inbound: counted by reason and logged in aggregate (a flood writes a line per address per
                    // 10 s, not one per connection). A slot already freed (evicted, expired) was counted then.
                    self.logger.debug("link refused", metadata: ["peer.address": "\(address)", "reason": "\(reason)"])
                    if self.pendingChannels.removeValue(forKey: pending) != nil {
                        self.gossip.connections.finished(pending)
                        self.gossip.connections.note(Self.refusal(for: reason), address: ip, now: SystemClock.nowMs())
                        self.logFirstRefusal()
                    }
                } else {
                    self.logger.warning("link refused", metadata: ["peer.address": "\(address)", "reason": "\(reason)"])
                    dialer?.misbehaved = true
                }
            })
        let handler = ConnectionHandler(runtime: self, outbound: dialer, secure: secure) {
            if let pending, self.pendingChannels.removeValue(forKey: pending) != nil { self.gossip.connections.finished(pending) }
        }
        try channel.pipeline.syncOperations.addHandler(secure)
        try channel.pipeline.syncOperations.addHandler(handler)
    }

    func logFirstRefusal() {
        if let line = gossip.connections.takeFirstRefusalLine() { logger.warning("\(line)") }
    }

    /// The counter a failed inbound handshake goes to.
    static func refusal(for reason: String) -> AdmissionControl.Refusal {
        if reason.contains("per-key cap") { return .sessionsPerKey }
        if reason.contains("not a member") { return .notMember }
        if reason.contains("not completed within") { return .timeout }
        return .failed
    }

    func register(_ channel: Channel, dialer: Dialer?, key: PublicKey) -> PeerID {
        loop.preconditionInEventLoop()
        if stopped { channel.close(promise: nil) }  // a link completed during shutdown does not stay open
        let id = nextPeerID
        nextPeerID += 1
        channels[id] = channel
        addresses[id] = channel.remoteAddress.map { "\($0)" } ?? "?"
        sessionKeys[id] = key
        gossip.connections.sessionOpened(key)
        dialer?.peer = id
        logger.debug("connected", metadata: ["peer.id": "\(id)", "peer.address": "\(addresses[id] ?? "?")", "peer.key": "\(key.fingerprint)"])
        execute(gossip.connected(id, outbound: dialer != nil, now: SystemClock.nowMs(), key: key))
        // Slowloris guard: a peer that never says HELLO is closed.
        loop.scheduleTask(in: .milliseconds(config.helloTimeoutMs)) {
            if self.channels[id] != nil, !self.gossip.isReady(id) {
                self.close(id, reason: "no HELLO within \(self.config.helloTimeoutMs) ms", misbehaved: true)
            }
        }
        return id
    }

    /// A connection ended; `id` is nil when it never completed the handshake.
    func unregistered(_ id: PeerID?, dialer: Dialer?) {
        loop.preconditionInEventLoop()
        if let id {
            channels[id] = nil
            // Kept until what was queued before the disconnect has run: a notice logged after its append names it.
            ioTail = ioTail.always { _ in self.addresses[id] = nil }
            gossip.disconnected(id)
            if let key = sessionKeys.removeValue(forKey: id) { gossip.connections.sessionClosed(key) }
        }
        if let d = dialer, !stopped {
            d.peer = nil
            let delay = d.backoff.next(misbehaved: d.misbehaved, random: &rng)
            d.misbehaved = false
            logger.debug("redialing", metadata: ["peer.address": "\(d.endpoint)", "retry.ms": "\(delay)"])
            dial(d, after: delay)
        }
    }

    func received(_ message: WireMessage, from id: PeerID) {
        execute(gossip.received(message, from: id, now: SystemClock.nowMs()))
    }

    func violation(_ error: FrameError, from id: PeerID) {
        execute(gossip.protocolViolation(id, error))
    }

    func helloCompleted(_ id: PeerID, dialer: Dialer?) {
        if gossip.isReady(id) { dialer?.backoff.reset() }
    }

    func tick() {
        let now = SystemClock.nowMs()
        // Under load, handshakes past the short deadline give their slots back. Otherwise each handshake's own timer
        // (the same deadline) closes it and logs why; sweeping here too raced it and logged "the peer closed".
        for id in gossip.connections.underLoad ? gossip.connections.expired(now: now) : [] {
            if let ch = pendingChannels.removeValue(forKey: id) { ch.close(promise: nil) }
        }
        logFirstRefusal()
        for line in gossip.connections.drainLog(now: now) { logger.warning("\(line)") }
        // A clock off from the peers' by more than max_skew: said loudly, once per change (SPEC.md §8.5).
        let clock = gossip.clockRefusal(now: now)
        if let why = clock, !clockWarned {
            logger.error("\(why)", metadata: ["clock.offset_ms": "\(gossip.clockOffsetMs ?? 0)"])
        } else if clock == nil, clockWarned {
            logger.notice("this node's clock is within max_skew of its peers' again; it attests and issues tokens")
        }
        clockWarned = clock != nil
        checkStorage(now: now)
        execute(gossip.tick(now: now, random: &rng))
    }

    // MARK: Directives

    /// Runs directives in order. An append (`.persist`) goes to the I/O thread; the directives after it — and every
    /// later batch — wait until it is durable, so nothing is acknowledged or pushed before it is on disk.
    func execute(_ directives: [Directive]) {
        guard !directives.isEmpty, !persistFailed else { return }  // after a failed append: nothing more
        if queuedBatches == 0, !directives.contains(where: \.isPersist) {
            run(directives[...])
            return
        }
        queuedBatches += 1
        ioTail = ioTail.flatMap { self.runQueued(directives[...]) }.always { _ in self.queuedBatches -= 1 }
    }

    /// Runs `directives` up to the next `.persist`, appends it on the I/O thread, then continues after it.
    private func runQueued(_ directives: ArraySlice<Directive>) -> EventLoopFuture<Void> {
        guard !persistFailed else { return loop.makeSucceededVoidFuture() }  // nothing after a failed append
        guard let i = directives.firstIndex(where: \.isPersist) else {
            run(directives)
            return loop.makeSucceededVoidFuture()
        }
        run(directives[..<i])
        guard case .persist(let entries, let halts, let evidence) = directives[i] else { preconditionFailure() }
        let writer = self.writer
        let batch = UncheckedSendable((entries, halts, evidence))
        let timed = onAppendDuration
        return io.runIfActive(eventLoop: loop) {
            let (entries, halts, evidence) = batch.value
            let start = DispatchTime.now().uptimeNanoseconds
            if !entries.isEmpty { try writer.append(entries: entries) }
            for h in halts { try writer.appendDetachedHalt(h) }
            for ev in evidence { try writer.appendEvidence(ev) }
            timed?(DispatchTime.now().uptimeNanoseconds - start)
        }.flatMap {
            self.persisted(entries, halts)
            return self.runQueued(directives[(i + 1)...])
        }.flatMapError { error in
            // Never acknowledge or push what is not durable. A full disk is a refusal, not a stop (SPEC.md §8.3):
            // the append left the file as it was, the rest of this batch is answered "disk full", and the store is
            // reloaded from the file. Any other write error stops the node; a restart reloads the ledger.
            let full: Bool
            if case LedgerWriteError.full = error { full = true } else { full = self.gossip.storageRefusal != nil }
            guard full else {
                self.persistFailed = true
                self.logger.critical("cannot persist to the ledger; stopping", metadata: ["error": "\(error)"])
                self.finish(.persistFailed("\(self.config.ledgerPath): \(error)"))
                return self.loop.makeSucceededVoidFuture()
            }
            self.storageFull("\(error)")
            self.refuseRest(directives[(i + 1)...])
            return self.loop.makeSucceededVoidFuture()
        }
    }

    /// The ledger's disk is full: refuse new entries (status, watches and gossip of what is held go on), reload the
    /// store from the file (which holds exactly what is durable), and look for space again every second.
    private func storageFull(_ error: String) {
        let first = gossip.storageRefusal == nil
        gossip.storageRefusal = "disk full at \(config.dataDirectory): new entries are refused until space is freed"
        guard first else { return }
        logger.error("disk full: refusing new entries until space is freed; status, watches and gossip go on",
                     metadata: ["ledger.path": "\(config.ledgerPath)", "error": "\(error)"])
        let path = config.ledgerPath, genesis = config.genesis
        ioTail = ioTail.flatMap {
            self.io.runIfActive(eventLoop: self.loop) { UncheckedSendable(try EntryStore.load(path: path, genesis: genesis)) }
                .map { self.gossip.replaceStore($0.value) }
                .recover { error in
                    self.persistFailed = true
                    self.logger.critical("cannot reload the ledger after a full disk; stopping", metadata: ["error": "\(error)"])
                    self.finish(.persistFailed("\(path): \(error)"))
                }
        }
    }

    /// What followed a refused append in its batch: storage ACKs become "disk full" refusals; pushes and watch
    /// updates of what was not stored are dropped; nothing else is appended.
    private func refuseRest(_ directives: ArraySlice<Directive>) {
        let reason = gossip.storageRefusal ?? "disk full"
        var kept: [Directive] = []
        for d in directives {
            switch d {
            case .persist: continue
            case .send(let id, .ack(let r, .stored, _)):
                kept.append(.send(id, .ack(request: r, status: .rejected, reason: "\(reason); deliver it to another node (a halt: to two members' nodes)")))
            case .send(_, .entries), .send(_, .evidence), .send(_, .watch), .notice: continue
            default: kept.append(d)
            }
        }
        run(kept[...])
    }

    /// While the disk is full: once there is room again, accept entries again (anti-entropy brings what was missed).
    private func checkStorage(now: UInt64) {
        guard gossip.storageRefusal != nil, now >= nextStorageCheck else { return }
        nextStorageCheck = now + 1_000
        var st = statvfs()
        guard statvfs(config.dataDirectory, &st) == 0 else { return }
        let free = UInt64(st.f_bavail) * UInt64(st.f_frsize)
        if free >= 256 * 1024 {
            gossip.storageRefusal = nil
            logger.notice("disk space is available again (\(free / 1024) KiB free); accepting entries", metadata: ["ledger.path": "\(config.ledgerPath)"])
        }
    }

    private func persisted(_ entries: [SignedEntry], _ halts: [SignedEntry]) {
        onPersist?(entries, halts)
        for e in entries + halts { entriesByKind[e.entry.kind.metricName, default: 0] += 1 }
        for f in onChange { f() }
        for e in entries + halts where e.entry.kind.isHalt || e.entry.kind == .drill {
            logger.notice("\(e.entry.kind.name) stored", metadata: ["entry.id": "\(e.id.hex)", "entry.time": "\(e.entry.time)"])
        }
    }

    private func run(_ directives: ArraySlice<Directive>) {
        for d in directives {
            switch d {
            case .persist:
                preconditionFailure("appends go through runQueued")
            case .send(let id, let message):
                guard let ch = channels[id] else { continue }
                if !ch.isWritable {
                    close(id, reason: "peer is not reading (outbound queue over \(config.maxOutboundBytes) bytes)", misbehaved: true)
                    continue
                }
                var buf = ch.allocator.buffer(capacity: 64)
                buf.writeBytes(message.encodedFrame())
                ch.writeAndFlush(buf, promise: nil)
                switch message {
                case .ack(_, let status, _): submissions[status.metricName, default: 0] += 1
                case .token(_, let reason, let token): tokens[reason.isEmpty && !token.isEmpty ? "issued" : "refused", default: 0] += 1
                default: break
                }
            case .close(let id, let reason, let misbehaved):
                close(id, reason: reason, misbehaved: misbehaved)
            case .export(let id, let request):
                export(to: id, request: request)
            case .notice(let n):
                notice(n)
            }
        }
    }

    /// Logs and counts what the core reports to the operator (SPEC.md §8.3, §8.8).
    private func notice(_ n: NodeNotice) {
        switch n {
        case .anonymousHaltOutOfWindow(let id, let keyImage, let time, let ahead, let from, let member):
            anonymousHaltsOutOfWindow += 1
            let address = addresses[from] ?? "?"
            logger.warning(
                "anonymous halt stored from a peer outside the window a SUBMIT is held to: its signer's clock, or a node that dates halts into other periods, chose its period",
                metadata: ["entry.id": "\(id.hex)", "entry.time": "\(TimeText.format(time))", "key_image": "\(keyImage.fingerprint)",
                           "window": "\(ahead ? "dated ahead of this node's clock by more than max_skew" : "dated before the previous period")",
                           "peer.address": "\(address)", "peer.member": "\(member ?? "?")"])
        }
    }

    func close(_ id: PeerID, reason: String, misbehaved: Bool) {
        guard let ch = channels[id] else { return }
        if misbehaved {
            logger.warning("closing connection", metadata: ["peer.id": "\(id)", "peer.address": "\(addresses[id] ?? "?")", "reason": "\(reason)"])
            if let d = dialers.first(where: { $0.peer == id }) { d.misbehaved = true }
        }
        var buf = ch.allocator.buffer(capacity: 64)
        buf.writeBytes(WireMessage.error(String(reason.prefix(1000))).encodedFrame())
        ch.writeAndFlush(buf).whenComplete { _ in ch.close(promise: nil) }
        gossip.disconnected(id)
    }

    /// Streams the ledger file: each chunk is read on the I/O thread (after every append queued before it) and
    /// the next is read only once the previous one was written to the socket, so a slow reader holds one chunk.
    func export(to id: PeerID, request: UInt64) {
        let path = config.ledgerPath
        let fd = UncheckedSendable(open(path, O_RDONLY | O_CLOEXEC))
        guard fd.value >= 0 else {
            run([.send(id, .error("cannot read the ledger for export"))])
            return
        }
        func next(offset: Int) {
            ioTail = ioTail.flatMap {
                self.io.runIfActive(eventLoop: self.loop) { () -> [UInt8] in
                    var chunk = [UInt8](repeating: 0, count: WireMessage.maxExportChunk)
                    var n = 0
                    while n < chunk.count {
                        let r = chunk.withUnsafeMutableBytes { pread(fd.value, $0.baseAddress! + n, $0.count - n, off_t(offset + n)) }
                        if r < 0 && errno == EINTR { continue }
                        if r <= 0 { break }
                        n += r
                    }
                    return Array(chunk[..<n])
                }.map { chunk in
                    let last = chunk.count < WireMessage.maxExportChunk
                    guard let ch = self.channels[id] else { Glibc.close(fd.value); return }
                    var buf = ch.allocator.buffer(capacity: chunk.count + 32)
                    buf.writeBytes(WireMessage.export(request: request, last: last, chunk: chunk).encodedFrame())
                    let written = ch.writeAndFlush(buf)
                    if last {
                        Glibc.close(fd.value)
                    } else {
                        written.whenComplete { result in
                            if case .success = result { next(offset: offset + chunk.count) } else { Glibc.close(fd.value) }
                        }
                    }
                }.recover { _ in Glibc.close(fd.value) }
            }
        }
        next(offset: 0)
    }

    // MARK: Introspection (the HTTP side, tests)

    public func verdict() -> EventLoopFuture<Verdict> {
        loop.submit { self.gossip.store.verdict(at: SystemClock.nowMs()) }
    }

    /// Everything the HTTP side shows, taken on the node's loop in one step (the verdict comes from its cache).
    public func snapshot() -> EventLoopFuture<NodeSnapshot> {
        loop.submit {
            let now = SystemClock.nowMs()
            let v = self.gossip.verdict(now: now)
            var lastSeen: [String: UInt64] = [:]
            for m in v.roster.members { if let t = self.gossip.store.head(of: m.key)?.entry.time { lastSeen[m.name] = t } }
            return NodeSnapshot(now: now, verdict: v, node: self.gossip.nodeInfo(now: now), entriesByKind: self.entriesByKind,
                                submissions: self.submissions, tokens: self.tokens, anonymousHaltsOutOfWindow: self.anonymousHaltsOutOfWindow,
                                memberLastSeen: lastSeen,
                                anyPeerInSync: self.gossip.anyPeerInSync(now: now), storageWritable: self.gossip.storageRefusal == nil && !self.persistFailed)
        }
    }
}


/// One TCP connection: parses frames and hands messages to the runtime.
final class ConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let runtime: NodeRuntime
    let dialer: NodeRuntime.Dialer?
    let secure: SecureHandler
    let onEstablished: () -> Void
    var id: PeerID?
    var parser = FrameParser()

    init(runtime: NodeRuntime, outbound: NodeRuntime.Dialer?, secure: SecureHandler, onEstablished: @escaping () -> Void) {
        self.runtime = runtime
        self.dialer = outbound
        self.secure = secure
        self.onEstablished = onEstablished
    }

    /// Fired by ``SecureHandler`` once the peer proved a roster key.
    func channelActive(context: ChannelHandlerContext) {
        onEstablished()
        id = runtime.register(context.channel, dialer: dialer, key: secure.peer!)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        runtime.unregistered(id, dialer: dialer)  // NIO fires this once per channel
        id = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let id else { return }
        var buf = unwrapInboundIn(data)
        if let bytes = buf.readBytes(length: buf.readableBytes) { parser.append(bytes) }
        do {
            while self.id != nil, let m = try parser.next() {
                runtime.received(m, from: id)
                runtime.helloCompleted(id, dialer: dialer)
                if runtime.channels[id] == nil { break }
            }
        } catch {
            runtime.violation(error, from: id)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension ConnectionHandler: Sendable {}

/// Refuses a connection before its handshake (SPEC.md §12.4): writes `u16 0 || u8 reason` and closes.
final class BusyHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let reason: BusyReason
    var done = false
    init(_ reason: BusyReason) { self.reason = reason }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { refuse(context) }
    }

    func channelActive(context: ChannelHandlerContext) { refuse(context) }

    private func refuse(_ context: ChannelHandlerContext) {
        guard !done else { return }
        done = true
        let channel = context.channel
        var buf = channel.allocator.buffer(capacity: 3)
        buf.writeBytes(SecureLink.busyMessage(reason))
        channel.writeAndFlush(buf).whenComplete { _ in channel.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}  // nothing it sends is read
}

@available(*, unavailable)
extension BusyHandler: Sendable {}
