#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix
import TiergateCore
import TiergateStorage

public enum ClientError: Error, CustomStringConvertible {
    case unreachable(Endpoint, String)
    case refused(String)
    /// The node refused the connection before the handshake: overloaded (SPEC.md §12.4). Worth a retry.
    case busy(String)
    case timeout(String)
    case protocolError(String)
    /// The node answered, and the answer is no.
    case denied(String)

    public var description: String {
        switch self {
        case .unreachable(let e, let r): return "cannot reach node \(e): \(r); check the address and that the node runs"
        case .refused(let r): return "the node closed the connection: \(r)"
        case .busy(let r): return r
        case .timeout(let what): return "no answer from the node (\(what)) in time"
        case .protocolError(let r): return "protocol error: \(r)"
        case .denied(let r): return r
        }
    }
}

/// A blocking client of the node protocol for the CLI (SPEC.md §8): HELLO as a client, then requests.
///
/// MUST NOT be used from an event loop thread (it waits on futures).
public final class NodeClient: @unchecked Sendable {
    /// Every client in a process shares one event loop group (a gate reconnecting makes no new threads).
    static let group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    let channel: Channel
    let handler: ClientHandler
    let timeout: TimeAmount
    var nextRequest: UInt64 = 1
    public let endpoint: Endpoint
    /// The genesis hash of the lab (the node's HELLO confirms it).
    public let genesis: Digest
    /// The member key the node proved in the handshake.
    public private(set) var nodeKey: PublicKey?

    /// Connects over the encrypted, member-authenticated link (SPEC.md §12) as `identity` — a roster member's key,
    /// an observer's for read-only use — to a node of the lab whose genesis roster hash is `genesis`, then HELLO.
    /// With `nodeKeys`, the node must prove one of these keys (the CLI passes the roster's non-observer members),
    /// so that someone who merely knows the genesis hash cannot pose as a node.
    public init(endpoint: Endpoint, genesis: Digest, identity: any Ed25519Signer, nodeKeys: Set<PublicKey>? = nil, timeout: TimeAmount = .seconds(10)) throws {
        self.endpoint = endpoint
        self.timeout = timeout
        self.genesis = genesis
        let handler = ClientHandler(loop: Self.group.next())
        self.handler = handler
        let secure = NIOLoopBoundBox.makeEmptyBox(valueType: SecureHandler.self, eventLoop: handler.loop)
        do {
            channel = try ClientBootstrap(group: handler.loop)
                .connectTimeout(.seconds(5))
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .channelInitializer { ch in
                    ch.eventLoop.makeCompletedFuture {
                        let s = SecureHandler(
                            role: .initiator, genesis: genesis, identity: identity, timeout: timeout,
                            authorize: { key in
                                guard let keys = nodeKeys, !keys.contains(key) else { return nil }
                                return "the node proved key \(key.fingerprint), which is not a node-running member of the roster"
                            },
                            onFailure: { reason in
                                handler.fail(secure.value?.busy != nil ? ClientError.busy(reason) : ClientError.refused(reason))
                            })
                        secure.value = s
                        try ch.pipeline.syncOperations.addHandler(s)
                        try ch.pipeline.syncOperations.addHandler(handler)
                    }
                }
                .connect(host: endpoint.host, port: endpoint.port).wait()
        } catch {
            throw ClientError.unreachable(endpoint, Self.connectFailure(error))
        }
        send(.hello(version: WireMessage.protocolVersion, genesis: genesis, role: .client, name: "tiergate-cli"))
        let first = try wait(handler.next(), "handshake and HELLO")
        guard case .hello(_, let theirs, _, _) = first else {
            close()
            throw ClientError.protocolError("expected HELLO, got \(first.name)")
        }
        guard theirs == genesis else {
            close()
            throw ClientError.refused("the node serves genesis roster \(theirs.short)…, not \(genesis.short)… (another lab?)")
        }
        nodeKey = try? channel.eventLoop.submit { secure.value?.peer }.wait()
    }

    deinit { close() }

    /// What went wrong in a connect, in words (NIO's own description is a nest of type names).
    static func connectFailure(_ error: Error) -> String {
        func text(_ e: Error) -> String {
            if let io = e as? IOError { return String(cString: strerror(io.errnoCode)).lowercased() }
            if case ChannelError.connectTimeout(let t) = e { return "no answer within \(t.nanoseconds / 1_000_000_000) s" }
            return "\(e)"
        }
        guard let c = error as? NIOConnectionError else { return text(error) }
        if c.connectionErrors.isEmpty {
            return c.dnsAError != nil || c.dnsAAAAError != nil ? "cannot resolve host '\(c.host)'" : "no address to connect to for '\(c.host)'"
        }
        let all = c.connectionErrors.map { text($0.error) }
        return Array(Set(all)).sorted().joined(separator: "; ")
    }

    public func close() {
        if channel.isActive { try? channel.close().wait() }
    }

    func send(_ m: WireMessage) {
        var buf = channel.allocator.buffer(capacity: 64)
        buf.writeBytes(m.encodedFrame())
        channel.writeAndFlush(buf, promise: nil)
    }

    func wait(_ f: EventLoopFuture<WireMessage>, _ what: String) throws -> WireMessage {
        let timer = channel.eventLoop.scheduleTask(in: timeout) { self.handler.fail(ClientError.timeout(what)) }
        defer { timer.cancel() }
        let m = try f.wait()
        if case .error(let reason) = m { throw ClientError.refused(reason) }
        return m
    }

    func request(_ build: (UInt64) -> WireMessage, _ what: String) throws -> WireMessage {
        let r = nextRequest
        nextRequest += 1
        let f = handler.next()
        send(build(r))
        return try wait(f, what)
    }

    /// Submits a signed entry; returns once the node has it on disk (or says why not).
    public func submit(_ entry: SignedEntry) throws -> (AckStatus, String) {
        let m = try request({ .submit(request: $0, entry: entry.bytes) }, "SUBMIT")
        guard case .ack(_, let status, let reason) = m else { throw ClientError.protocolError("expected ACK, got \(m.name)") }
        return (status, reason)
    }

    /// The node's status (SPEC.md §8.6): the verdict, the page of proposals asked for, and facts about the node.
    public func status(_ query: StatusQuery = StatusQuery()) throws -> NodeStatus {
        let m = try request({ .statusRequest(request: $0, query) }, "STATUS")
        guard case .status(_, let status) = m else { throw ClientError.protocolError("expected STATUS, got \(m.name)") }
        return status
    }

    /// The head of `author`'s feed on the node.
    public func head(of author: PublicKey) throws -> FeedHead? {
        let m = try request({ .headRequest(request: $0, author: author) }, "HEAD")
        guard case .head(_, let seq, let id, let time, _) = m else { throw ClientError.protocolError("expected HEAD, got \(m.name)") }
        return seq == 0 ? nil : FeedHead(seq: seq, id: id, time: time)
    }

    /// Asks the node for a tier token. Returns the token bytes, or throws `refused` with the node's reason.
    public func token(tier: UInt32) throws -> [UInt8] {
        let m = try request({ .tokenRequest(request: $0, tier: tier) }, "TOKEN")
        guard case .token(_, let reason, let token) = m else { throw ClientError.protocolError("expected TOKEN, got \(m.name)") }
        guard !token.isEmpty else { throw ClientError.denied(reason) }
        return token
    }

    /// The node's whole ledger file.
    public func export() throws -> [UInt8] {
        var out: [UInt8] = []
        let r = nextRequest
        nextRequest += 1
        var f = handler.next()
        send(.exportRequest(request: r))
        while true {
            let m = try wait(f, "EXPORT")
            guard case .export(_, let last, let chunk) = m else { throw ClientError.protocolError("expected EXPORT, got \(m.name)") }
            out += chunk
            if last { return out }
            f = handler.next()
        }
    }
}

/// Delivers each decoded message to the oldest waiting promise (or queues it).
final class ClientHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let loop: EventLoop
    var parser = FrameParser()
    var waiting: [EventLoopPromise<WireMessage>] = []
    var queued: [WireMessage] = []
    var failure: Error?

    init(loop: EventLoop) { self.loop = loop }

    func next() -> EventLoopFuture<WireMessage> {
        loop.flatSubmit {
            if !self.queued.isEmpty { return self.loop.makeSucceededFuture(self.queued.removeFirst()) }
            if let f = self.failure { return self.loop.makeFailedFuture(f) }
            let p = self.loop.makePromise(of: WireMessage.self)
            self.waiting.append(p)
            return p.futureResult
        }
    }

    func fail(_ error: Error) {
        loop.execute {
            self.failure = self.failure ?? error
            let w = self.waiting
            self.waiting = []
            for p in w { p.fail(error) }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buf = unwrapInboundIn(data)
        if let bytes = buf.readBytes(length: buf.readableBytes) { parser.append(bytes) }
        do {
            while let m = try parser.next() {
                if !waiting.isEmpty { waiting.removeFirst().succeed(m) } else { queued.append(m) }
            }
        } catch {
            fail(ClientError.protocolError("\(error)"))
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(ClientError.refused("connection closed"))
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        fail(error)
        context.close(promise: nil)
    }
}
