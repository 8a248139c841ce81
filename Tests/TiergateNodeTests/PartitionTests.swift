import Foundation
import Logging
import NIOCore
import NIOPosix
import Testing
import TiergateCore
@testable import TiergateStorage
import TiergateNode
import TiergateTestKit

/// A TCP proxy on 127.0.0.1 that the test controls: `cut()` drops every connection and refuses new ones until
/// `heal()`. Nodes dial the proxy instead of each other, so the test can partition live nodes.
final class LinkProxy: @unchecked Sendable {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private(set) var port = 0
    private let target: Int
    private let lock = NSLock()
    private var open: [Channel] = []
    private var isCut = false

    init(to target: Int) throws {
        self.target = target
        let server = try ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.autoRead, value: false)
            .childChannelInitializer { inbound in self.attach(inbound) }
            .bind(host: "127.0.0.1", port: 0).wait()
        port = server.localAddress!.port!
    }

    private func attach(_ inbound: Channel) -> EventLoopFuture<Void> {
        lock.lock()
        let cut = isCut
        lock.unlock()
        if cut { return inbound.close() }
        // Neither side reads until both handlers are in place, so no byte is dropped.
        return ClientBootstrap(group: inbound.eventLoop).channelOption(.autoRead, value: false)
            .connect(host: "127.0.0.1", port: target).flatMap { outbound in
                self.lock.lock()
                self.open += [inbound, outbound]
                self.lock.unlock()
                let a = Glue(partner: outbound, proxy: self, toTarget: true)
                let b = Glue(partner: inbound, proxy: self, toTarget: false)
                return inbound.pipeline.addHandler(a).and(outbound.pipeline.addHandler(b)).map { _ in }
            }.flatMapError { _ in inbound.close() }
    }

    func cut() {
        lock.lock()
        isCut = true
        let all = open
        open = []
        lock.unlock()
        for c in all { c.close(promise: nil) }
    }

    func heal() {
        lock.lock()
        isCut = false
        lock.unlock()
    }

    func stop() {
        cut()
        try? group.syncShutdownGracefully()
    }

    /// A man in the middle: flips the bits `mask` of the byte at stream `offset` in one direction (toTarget: from
    /// the dialer to the target). Offsets count from the first byte of the proxy's first connection in that direction.
    func tamper(toTarget: Bool, offset: Int, mask: UInt8 = 0x01) {
        lock.withLock { flip = (toTarget, offset, mask) }
    }

    /// Every byte relayed so far, per direction (toTarget: true is dialer → target).
    func recorded(toTarget: Bool) -> [UInt8] { lock.withLock { toTarget ? sentToTarget : sentToDialer } }

    private var flip: (toTarget: Bool, offset: Int, mask: UInt8)?
    private var sentToTarget: [UInt8] = []
    private var sentToDialer: [UInt8] = []

    fileprivate func relay(_ bytes: inout [UInt8], toTarget: Bool) {
        lock.withLock {
            let base = toTarget ? sentToTarget.count : sentToDialer.count
            if let f = flip, f.toTarget == toTarget, f.offset >= base, f.offset < base + bytes.count {
                bytes[f.offset - base] ^= f.mask
            }
            if toTarget { sentToTarget += bytes } else { sentToDialer += bytes }
        }
    }

    /// Copies bytes to the partner channel; closing one side closes the other.
    final class Glue: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        let partner: Channel?
        let proxy: LinkProxy
        let toTarget: Bool
        init(partner: Channel, proxy: LinkProxy, toTarget: Bool) {
            self.partner = partner
            self.proxy = proxy
            self.toTarget = toTarget
        }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buf = unwrapInboundIn(data)
            var bytes = buf.readBytes(length: buf.readableBytes) ?? []
            proxy.relay(&bytes, toTarget: toTarget)
            partner?.writeAndFlush(context.channel.allocator.buffer(bytes: bytes), promise: nil)
        }
        func channelReadComplete(context: ChannelHandlerContext) { context.read() }
        // Start reading once both sides are wired: when added to an active channel, or when it becomes active.
        func handlerAdded(context: ChannelHandlerContext) { if context.channel.isActive { context.read() } }
        func channelActive(context: ChannelHandlerContext) {
            context.read()
            context.fireChannelActive()
        }
        func channelInactive(context: ChannelHandlerContext) { partner?.close(promise: nil) }
        func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }
    }
}

func waitFor(_ seconds: Double = 15, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        usleep(50_000)
    }
    return try condition()
}

@Suite(.serialized) struct PartitionTests {
    /// Five nodes split 2 | 3 by cutting the proxied links; votes on both sides; a halt on the minority side;
    /// heal. All converge on one verdict with the halt, and the minority never obtains a token meanwhile.
    @Test func splitVoteHaltHealConverges() throws {
        var lab = Lab()
        // Minority: 0, 1. Majority: 2, 3, 4. Links inside each side are direct; the two cross links go through proxies.
        let n0 = try TestNode(lab: lab, attester: "alice")
        let cross1 = try LinkProxy(to: n0.port)  // n2 -> n0
        let n1 = try TestNode(lab: lab, peers: [n0.port], attester: "bob")
        let cross2 = try LinkProxy(to: n1.port)  // n3 -> n1
        let n2 = try TestNode(lab: lab, peers: [cross1.port], attester: "carol")
        let n3 = try TestNode(lab: lab, peers: [n2.port, cross2.port], attester: "dave")
        let n4 = try TestNode(lab: lab, peers: [n2.port, n3.port], attester: "erin")
        let all = [n0, n1, n2, n3, n4]
        defer {
            all.forEach { $0.stop() }
            [cross1, cross2].forEach { $0.stop() }
        }
        let now = SystemClock.nowMs()
        let p = lab.propose("alice", tier: 1, at: now)
        #expect(try n0.client(lab).submit(p).0 == .stored)
        #expect(try waitFor { try all.allSatisfy { try $0.client(lab).status().proposalsTotal > 0 } }, "everyone has the proposal")

        cross1.cut()
        cross2.cut()
        // Minority side: alice and bob vote yes (2 of the 3 needed); a halt by bob.
        for (node, who) in [(n0, "alice"), (n1, "bob")] { #expect(try node.client(lab).submit(lab.vote(who, p, at: now + 1)).0 == .stored) }
        // Majority side: carol, dave, erin vote yes: quorum there.
        for (node, who) in [(n2, "carol"), (n3, "dave"), (n4, "erin")] { #expect(try node.client(lab).submit(lab.vote(who, p, at: now + 2)).0 == .stored) }
        #expect(try waitFor { try [n2, n3, n4].allSatisfy { try $0.client(lab).status().verdict.authorizedTier == 1 } }, "the majority side authorises tier 1")
        usleep(500_000)
        for node in [n0, n1] {
            #expect(try node.client(lab).status().verdict.authorizedTier == 0, "the minority side never sees quorum")
            #expect(throws: ClientError.self, "the minority side cannot obtain a token") { try node.client(lab).token(tier: 1) }
        }
        let h = lab.halt("bob", at: now + 3, reason: "minority halt")
        #expect(try n1.client(lab).submit(h).0 == .stored)
        #expect(try waitFor { try [n0, n1].allSatisfy { try $0.client(lab).status().verdict.halted == true } })
        #expect(try n2.client(lab).status().verdict.halted == false, "the halt has not crossed the partition yet")

        cross1.heal()
        cross2.heal()
        #expect(try waitFor(20) {
            let s = try all.map { try $0.client(lab).status() }
            return s.allSatisfy { $0.verdict.halted && $0.verdict.authorizedTier == 0 }
                && Set(s.map { $0.node?.digest }).count == 1
        }, "after healing every node holds the same entries and the same verdict, halt included")
    }

    /// An equivocating member sends two different entries at one position to different nodes: the evidence
    /// reaches every node and that member's votes stop counting.
    @Test func equivocationAcrossNodesIsProvenEverywhere() throws {
        var lab = Lab()
        let nodes = try TestNode.chain(lab)
        defer { nodes.forEach { $0.stop() } }
        let (a, b, c) = (nodes[0], nodes[1], nodes[2])
        let now = SystemClock.nowMs()
        let p = lab.propose("alice", tier: 1, at: now)
        #expect(try a.client(lab).submit(p).0 == .stored)
        let bob = lab.keys["bob"]!.publicKey
        let head = lab.heads[bob]
        let yes = lab.vote("bob", p, .yes, at: now + 1)
        lab.heads[bob] = head
        let no = lab.vote("bob", p, .no, at: now + 1)
        #expect(try a.client(lab).submit(yes).0 == .stored)
        _ = try? c.client(lab).submit(no)  // may be accepted or already contradicted there
        for who in ["alice", "carol"] { #expect(try b.client(lab).submit(lab.vote(who, p, at: now + 2)).0 == .stored) }
        #expect(try waitFor {
            try [a, b, c].allSatisfy { n in
                let s = try n.client(lab).status()
                return s.verdict.equivocations.count == 1 && s.verdict.authorizedTier == 0  // bob's yes is void: 2 of 3
            }
        }, "every node holds the proof and voids bob's vote")
    }

    /// A peer that completes HELLO and then withholds everything: the halt still arrives through another path.
    @Test func aWithholdingPeerCannotSuppressAHalt() throws {
        var lab = Lab()
        let nodes = try TestNode.chain(lab)
        defer { nodes.forEach { $0.stop() } }
        let (a, c) = (nodes[0], nodes[2])  // b links them
        // The withholder talks to both a and c, reads everything and forwards nothing.
        let toA = try RawPeer(port: a.port)
        let toC = try RawPeer(port: c.port)
        for r in [toA, toC] { r.send(.hello(version: 1, genesis: lab.genesis.hash, role: .node, name: "withholder")) }
        let h = lab.halt("erin", at: SystemClock.nowMs())
        #expect(try a.client(lab).submit(h).0 == .stored)
        #expect(try waitFor { try c.client(lab).status().verdict.halted == true }, "the halt reached c through b")
        withExtendedLifetime([toA, toC]) {}
    }
}
