import NIOCore
import NIOEmbedded
import Testing
import TiergateCore
@testable import TiergateNode
import TiergateTestKit

/// The secure link's NIO handler on `EmbeddedChannel`s: no sockets, no sleeps. Bytes are carried between two
/// pipelines by hand and time is advanced on the embedded event loop, so timeouts are tested exactly.
struct HandlerTests {
    /// Records what reaches the top of a pipeline.
    final class Top: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        var active = false
        var read: [UInt8] = []
        var errors: [String] = []
        func channelActive(context: ChannelHandlerContext) { active = true }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var b = unwrapInboundIn(data)
            read += b.readBytes(length: b.readableBytes) ?? []
        }
        func errorCaught(context: ChannelHandlerContext, error: Error) { errors.append("\(error)") }
    }

    struct Side {
        let channel: EmbeddedChannel
        let top: Top
        let handler: SecureHandler
        let failures: Box
    }

    final class Box { var reasons: [String] = [] }

    static func side(_ role: NoiseHandshake.Role, _ lab: Lab, as name: String, refuse: String? = nil) throws -> Side {
        let failures = Box()
        let handler = SecureHandler(
            role: role, genesis: lab.genesis.hash, identity: lab.keys[name]!, timeout: .seconds(5),
            authorize: { _ in refuse }, onFailure: { failures.reasons.append($0) })
        let top = Top()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.pipeline.syncOperations.addHandler(top)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 7400)).wait()
        return Side(channel: channel, top: top, handler: handler, failures: failures)
    }

    /// Moves every pending outbound buffer of `from` into `to`; returns how many bytes moved.
    @discardableResult
    static func carry(_ from: Side, _ to: Side) throws -> Int {
        var moved = 0
        while let b = try from.channel.readOutbound(as: ByteBuffer.self) {
            moved += b.readableBytes
            if to.channel.isActive { try to.channel.writeInbound(b) }
        }
        return moved
    }

    static func pump(_ a: Side, _ b: Side) throws {
        for _ in 0..<10 where try carry(a, b) + carry(b, a) > 0 {}
    }

    @Test func aHandshakeOverEmbeddedChannelsCarriesSealedBytes() throws {
        let lab = Lab()
        let dialer = try Self.side(.initiator, lab, as: "alice")
        let listener = try Self.side(.responder, lab, as: "bob")
        #expect(!dialer.top.active && !listener.top.active, "nothing above the link is active before the handshake")
        // The application writes before the link is up: held back, then sealed once it is.
        dialer.channel.writeAndFlush(ByteBuffer(bytes: Array("HELLO before established".utf8)), promise: nil)
        try Self.pump(dialer, listener)
        #expect(dialer.top.active && listener.top.active)
        #expect(dialer.handler.peer == lab.keys["bob"]!.publicKey && listener.handler.peer == lab.keys["alice"]!.publicKey)
        #expect(listener.top.read == Array("HELLO before established".utf8))
        // After the handshake, bytes on the wire are sealed: the plaintext never appears.
        listener.channel.writeAndFlush(ByteBuffer(bytes: Array("secret reply".utf8)), promise: nil)
        let wire = try #require(try listener.channel.readOutbound(as: ByteBuffer.self))
        #expect(!Array(wire.readableBytesView).containsSubsequence(Array("secret reply".utf8)))
        try dialer.channel.writeInbound(wire)
        #expect(dialer.top.read == Array("secret reply".utf8))
        #expect(dialer.failures.reasons.isEmpty && listener.failures.reasons.isEmpty)
    }

    /// The handshake timeout, exactly: open at 4.999 s, closed at 5 s, with the reason given once.
    @Test func aStalledHandshakeIsClosedAtItsTimeout() throws {
        let lab = Lab()
        let listener = try Self.side(.responder, lab, as: "bob")
        listener.channel.embeddedEventLoop.advanceTime(by: .milliseconds(4_999))
        #expect(listener.channel.isActive)
        listener.channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(!listener.channel.isActive)
        #expect(listener.failures.reasons == ["handshake not completed within 5000 ms"])
        #expect(!listener.top.active)
    }

    /// A key the listener refuses: the dialer is told why (encrypted) and both sides close; nothing above is active
    /// on the listener.
    @Test func aRefusedKeyIsToldWhyAndClosed() throws {
        let lab = Lab()
        let dialer = try Self.side(.initiator, lab, as: "alice")
        let listener = try Self.side(.responder, lab, as: "bob", refuse: "not a member")
        try Self.pump(dialer, listener)
        #expect(!listener.top.active)
        #expect(listener.failures.reasons.count == 1 && listener.failures.reasons[0].contains("not a member"))
        #expect(!listener.channel.isActive)
        // The dialer's handshake completed before the refusal; the farewell it received says why.
        #expect(String(decoding: dialer.top.read, as: UTF8.self).contains("not a member"))
    }

    /// Bytes from a peer speaking anything else fail the handshake at once and close the link.
    @Test func garbageFailsTheHandshake() throws {
        let lab = Lab()
        let listener = try Self.side(.responder, lab, as: "bob")
        try listener.channel.writeInbound(ByteBuffer(bytes: Array("GET / HTTP/1.1\r\n\r\n".utf8)))
        #expect(!listener.channel.isActive)
        #expect(listener.failures.reasons.count == 1 && listener.failures.reasons[0].hasPrefix("handshake failed"))
    }
}

extension Array where Element: Equatable {
    func containsSubsequence(_ other: [Element]) -> Bool {
        guard !other.isEmpty, other.count <= count else { return other.isEmpty }
        return (0...(count - other.count)).contains { Array(self[$0..<($0 + other.count)]) == other }
    }
}
