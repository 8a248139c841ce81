import NIOCore
import NIOPosix
import TiergateCore
import TiergateStorage

/// Why a secure link ended before or during its session (delivered through `errorCaught`).
public struct LinkFailure: Error, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }
}

/// The bottom of every node and client pipeline (SPEC.md §12): runs the Noise XX handshake, then encrypts every
/// outbound byte and decrypts every inbound one. Handlers above it see `channelActive` only once the peer has
/// proved a roster key, and only authenticated plaintext. Any failure closes the connection.
final class SecureHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var link: SecureLink
    private let timeout: TimeAmount
    /// Asked (on the channel's event loop) whether to admit the peer's proved key; returns a refusal reason.
    private let authorize: (PublicKey) -> String?
    /// Told why a link failed (for logging and backoff); called at most once.
    private let onFailure: (String) -> Void
    private var timer: Scheduled<Void>?
    private var pendingWrites: [(ByteBuffer, EventLoopPromise<Void>?)] = []
    private var finished = false
    /// The member key the peer proved, once established.
    private(set) var peer: PublicKey?
    /// Set when the responder refused the connection before the handshake, saying why (SPEC.md §12.4).
    private(set) var busy: BusyReason?

    /// Signs the handshake for an identity held by an agent, off the event loop (SPEC.md §7.4).
    private let identity: any Ed25519Signer

    init(role: NoiseHandshake.Role, genesis: Digest, identity: any Ed25519Signer, timeout: TimeAmount,
         authorize: @escaping (PublicKey) -> String?, onFailure: @escaping (String) -> Void) {
        self.link = SecureLink(role: role, genesis: genesis, identity: identity)
        self.identity = identity
        self.timeout = timeout
        self.authorize = authorize
        self.onFailure = onFailure
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { begin(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        begin(context: context)  // channelActive goes up only once the handshake completes
    }

    private func begin(context: ChannelHandlerContext) {
        guard timer == nil, !finished else { return }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) {
            let (handler, context) = bound.value
            if handler.peer == nil {
                handler.fail(context: context, "handshake not completed within \(handler.timeout.nanoseconds / 1_000_000) ms")
            }
        }
        do {
            for o in try link.start() { handle(o, context: context) }
        } catch {
            fail(context: context, "\(error)")
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !finished else { return }
        var buf = unwrapInboundIn(data)
        let bytes = buf.readBytes(length: buf.readableBytes) ?? []
        do {
            for o in try link.receive(bytes, authorize: authorize) { handle(o, context: context) }
        } catch {
            // A read that completes the handshake and then fails loses that read's outputs; name it by the link.
            if case .busy(let why) = error as? NoiseError {
                busy = why
                fail(context: context, "\(error)")
                return
            }
            let reason = peer == nil && link.peer == nil ? "handshake failed: \(error)" : "link failed: \(error)"
            if let farewell = link.farewell {
                // An authenticated peer we refuse learns why, encrypted, before the close.
                finished = true
                timer?.cancel()
                onFailure(reason)
                let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
                context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: farewell))).whenComplete { _ in
                    loopBound.value.close(promise: nil)
                }
                return
            }
            fail(context: context, reason)
        }
    }

    private func handle(_ o: SecureLink.Output, context: ChannelHandlerContext) {
        switch o {
        case .send(let bytes):
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: bytes)), promise: nil)
        case .established(let key):
            timer?.cancel()
            peer = key
            context.fireChannelActive()
            let pending = pendingWrites
            pendingWrites = []
            for (b, p) in pending { sealAndWrite(context: context, b, promise: p) }
            context.flush()
        case .plaintext(let bytes):
            context.fireChannelRead(wrapInboundOut(context.channel.allocator.buffer(bytes: bytes)))
        case .signatureNeeded(let message):
            // An agent answers over a socket, maybe after a confirmation or a touch: never on the event loop.
            let identity = self.identity
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            NIOThreadPool.singleton.runIfActive(eventLoop: context.eventLoop) {
                try identity.signature(over: message)
            }.whenComplete { result in
                let (handler, context) = bound.value
                guard !handler.finished else { return }
                do {
                    for o in try handler.link.provideIdentitySignature(try result.get()) { handler.handle(o, context: context) }
                } catch {
                    handler.fail(context: context, "handshake failed: cannot prove key \(identity.publicKey.fingerprint): \(error)")
                }
            }
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        sealAndWrite(context: context, unwrapOutboundIn(data), promise: promise)
    }

    private func sealAndWrite(context: ChannelHandlerContext, _ buffer: ByteBuffer, promise: EventLoopPromise<Void>?) {
        var buf = buffer
        guard link.isEstablished else {
            if finished { promise?.fail(LinkFailure(reason: "the link is closed")) } else { pendingWrites.append((buf, promise)) }
            return
        }
        let plain = buf.readBytes(length: buf.readableBytes) ?? []
        do {
            let sealed = try link.seal(plain)
            context.write(wrapOutboundOut(context.channel.allocator.buffer(bytes: sealed)), promise: promise)
        } catch {
            promise?.fail(error)
            fail(context: context, "cannot encrypt: \(error)")
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        link.erase()
        if peer == nil && !finished {
            finished = true
            onFailure("the peer closed the connection during the handshake (it may be overloaded, serve another lab, or refuse this key: its log says which)")
        }
        for (_, p) in pendingWrites { p?.fail(LinkFailure(reason: "the link closed")) }
        pendingWrites = []
        context.fireChannelInactive()
    }

    private func fail(context: ChannelHandlerContext, _ reason: String) {
        guard !finished else { return }
        finished = true
        timer?.cancel()
        onFailure(reason)
        context.fireErrorCaught(LinkFailure(reason: reason))
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension SecureHandler: Sendable {}
