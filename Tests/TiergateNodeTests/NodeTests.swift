import Foundation
import Logging
import NIOCore
import NIOPosix
import Testing
import TiergateCore
@testable import TiergateStorage
@testable import TiergateNode
import TiergateTestKit

/// Collects a node's log lines so tests can assert what was logged and why.
final class LogSink: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ s: String) { lock.withLock { lines.append(s) } }
    var all: [String] { lock.withLock { lines } }
    func contains(_ text: String) -> Bool { all.contains { $0.contains(text) } }
}

struct CapturingLogHandler: LogHandler {
    let sink: LogSink
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .debug
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        let meta = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        sink.append("\(event.level) \(event.message) \(meta)")
    }
}

/// A node running in this process on 127.0.0.1 with an ephemeral port, stopped by `stop()`.
final class TestNode {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let runtime: NodeRuntime
    let port: Int
    let dir = TempDir()
    let lab: Lab
    let logs = LogSink()

    /// `identity`: the member key the node runs with; `attester`: the key that signs attestations (nil: none).
    init(lab: Lab, peers: [Int] = [], helloTimeoutMs: Int64 = 5_000, handshakeTimeoutMs: Int64 = 5_000, rateLimit: Double? = nil,
         attester: String? = nil, identity: String? = nil, ledger: [SignedEntry] = [], maxPending: Int? = nil) throws {
        self.lab = lab
        if !ledger.isEmpty {
            let writer = try LedgerWriter(path: dir.file("ledger"), genesis: lab.genesis.hash)
            try writer.append(entries: ledger)
        }
        var cfg = NodeConfig(
            genesis: lab.genesis, dataDirectory: dir.path, listen: Endpoint(host: "127.0.0.1", port: 0),
            peers: peers.map { Endpoint(host: "127.0.0.1", port: $0) }, identity: lab.keys[identity ?? attester ?? "alice"]!)
        cfg.helloTimeoutMs = helloTimeoutMs
        cfg.handshakeTimeoutMs = handshakeTimeoutMs
        if let m = maxPending { cfg.maxPendingHandshakes = m }
        cfg.gossip.antiEntropyIntervalMs = 200
        cfg.gossip.attester = attester.flatMap { lab.keys[$0] }
        if let r = rateLimit {
            cfg.gossip.rateLimitPerSecond = r
            cfg.gossip.rateBurst = r
        }
        let sink = logs
        var logger = Logger(label: "test.node") { _ in CapturingLogHandler(sink: sink) }
        logger.logLevel = .debug  // per-connection refusal reasons are debug lines (warnings are aggregated)
        runtime = try NodeRuntime(config: cfg, group: group, logger: logger)
        port = try runtime.start().port!
    }

    func stop() {
        try? runtime.shutdown().wait()
        try? group.syncShutdownGracefully()
    }

    /// `count` nodes in a line, each dialing the one before it (the caller stops them).
    static func chain(_ lab: Lab, count: Int = 3) throws -> [TestNode] {
        var nodes: [TestNode] = []
        do {
            for _ in 0..<count { nodes.append(try TestNode(lab: lab, peers: nodes.last.map { [$0.port] } ?? [])) }
        } catch {
            nodes.forEach { $0.stop() }
            throw error
        }
        return nodes
    }

    /// A client over the encrypted link, as `member` (default dave, the auditor).
    func client(_ lab: Lab, as member: String = "dave") throws -> NodeClient {
        try NodeClient(endpoint: Endpoint(host: "127.0.0.1", port: port), genesis: lab.genesis.hash, identity: lab.keys[member]!)
    }
}

/// A raw TCP connection for sending arbitrary bytes.
final class RawPeer {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { throw POSIXError(.ECONNREFUSED) }
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    /// After ``handshake(genesis:as:)``: the encrypted session; `send` seals and `readUntilClosed` opens.
    var link: SecureLink?
    private var early: [UInt8] = []

    /// Runs the Noise XX handshake as the initiator (SPEC.md §12) with `key`, over this blocking socket.
    /// Returns nil when it completed; otherwise the error.
    @discardableResult
    func handshake(genesis: Digest, as key: SigningKey) -> Error? {
        var l = SecureLink(role: .initiator, genesis: genesis, identity: key)
        do {
            for case .send(let b) in try l.start() { sendRaw(b) }
            var buf = [UInt8](repeating: 0, count: 4096)
            while !l.isEstablished {
                let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
                guard n > 0 else { return POSIXError(.ECONNRESET) }
                for o in try l.receive(Array(buf[..<n]), authorize: { _ in nil }) {
                    switch o {
                    case .send(let b): sendRaw(b)
                    case .plaintext(let p): early += p
                    case .established: break
                    case .signatureNeeded: return POSIXError(.EINVAL)  // this client's key is in memory
                    }
                }
            }
        } catch { return error }
        link = l
        return nil
    }

    func sendRaw(_ bytes: [UInt8]) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + done, bytes.count - done, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            done += n
        }
    }

    /// Sends protocol bytes: sealed when a session is up, else as they are.
    func send(_ bytes: [UInt8]) {
        if link != nil { sendRaw(try! link!.seal(bytes)) } else { sendRaw(bytes) }
    }

    func send(_ m: WireMessage) { send(m.encodedFrame()) }

    /// Reads until the node closes the connection (or 10 s pass); returns the messages received and whether it closed.
    func readUntilClosed() -> (messages: [WireMessage], closed: Bool) {
        var parser = FrameParser()
        parser.append(early)
        var out: [WireMessage] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        let deadline = Date().addingTimeInterval(10)  // a peer that keeps talking must not hang the test
        while Date() < deadline {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n == 0 { break }
            if n < 0 { return (out, errno == ECONNRESET) }
            if link != nil {
                guard let outputs = try? link!.receive(Array(buf[..<n]), authorize: { _ in nil }) else { return (out, true) }
                for case .plaintext(let p) in outputs { parser.append(p) }
            } else {
                parser.append(buf[..<n])
            }
            while let m = try? parser.next() { out.append(m) }
        }
        return (out, Date() < deadline)
    }
}

extension Array where Element == WireMessage {
    var errorReason: String? {
        for m in self { if case .error(let r) = m { return r } }
        return nil
    }
}

@Suite(.serialized) struct HostilePeerTests {
    func hello(_ lab: Lab, role: PeerRole = .node) -> WireMessage {
        .hello(version: 1, genesis: lab.genesis.hash, role: role, name: "test")
    }

    /// Runs `attack` against a fresh node; asserts the connection is closed with a reason (an ERROR inside the session,
    /// or a logged reason when no session was established), that nothing was stored, and that the node still serves
    /// a well-behaved client and peer. With `authenticate`, the attacker first completes a real handshake with a
    /// member's key (dave): these are attacks by a compromised member, after the link layer admitted it.
    func expectClosed(
        _ name: String, authenticate: Bool = true, logged: String? = nil, rateLimit: Double? = nil, helloTimeoutMs: Int64 = 5_000,
        handshakeTimeoutMs: Int64 = 5_000, _ attack: (RawPeer, Lab) -> Void
    ) throws {
        var lab = Lab()
        let node = try TestNode(lab: lab, helloTimeoutMs: helloTimeoutMs, handshakeTimeoutMs: handshakeTimeoutMs, rateLimit: rateLimit)
        defer { node.stop() }
        let bystander = try node.client(lab)  // connected before the attack, must survive it
        let raw = try RawPeer(port: node.port)
        if authenticate { #expect(raw.handshake(genesis: lab.genesis.hash, as: lab.keys["dave"]!) == nil, "\(name): handshake") }
        attack(raw, lab)
        let (messages, closed) = raw.readUntilClosed()
        #expect(closed, "\(name): connection not closed")
        if authenticate {
            #expect(messages.errorReason != nil, "\(name): no ERROR with a reason")
        } else {
            #expect(messages.isEmpty, "\(name): the node spoke the protocol before a session existed")
        }
        if let logged {
            #expect(waitFor(5) { node.logs.contains(logged) }, "\(name): log lacks '\(logged)': \(node.logs.all)")
        }
        let status = try bystander.status()
        #expect(status.verdict.entryCount == 0, "\(name): state changed")
        // The node still accepts good work from others.
        let h = lab.halt("erin", at: SystemClock.nowMs())
        let (ack, _) = try node.client(lab).submit(h)
        #expect(ack == .stored, "\(name): node no longer serves")
        bystander.close()
    }

    @Test func oversizedFrameIsRefusedOnItsHeader() throws {
        try expectClosed("oversized") { raw, lab in
            raw.send(hello(lab))
            raw.send([0x00, 0x50, 0x00, 0x00, 3])  // declares 5 MiB
        }
    }

    @Test func malformedFrameCloses() throws {
        try expectClosed("malformed") { raw, lab in
            raw.send(hello(lab))
            raw.send([0, 0, 0, 3, 99, 1, 2])
        }
    }

    @Test func entryWithABadSignatureCloses() throws {
        try expectClosed("bad signature") { raw, lab in
            var l = lab
            var bytes = l.halt("erin", at: SystemClock.nowMs()).bytes
            bytes[bytes.count - 5] ^= 0x10
            raw.send(hello(lab))
            raw.send(.entries([bytes]))
        }
    }

    @Test func wrongLabInHelloIsRefused() throws {
        try expectClosed("wrong lab in HELLO") { raw, _ in
            raw.send(.hello(version: 1, genesis: Lab(lab: "other").genesis.hash, role: .node, name: "x"))
        }
    }

    @Test func anotherLabsEntryIsRefused() throws {
        try expectClosed("other lab entry") { raw, lab in
            var other = Lab(lab: "other")
            raw.send(hello(lab))
            raw.send(.entries([other.halt("erin", at: SystemClock.nowMs()).bytes]))
        }
    }

    @Test func aFloodIsCutOff() throws {
        try expectClosed("flood", rateLimit: 200) { raw, lab in
            raw.send(hello(lab))
            var burst: [UInt8] = []
            for _ in 0..<2_000 { burst += WireMessage.digest(.zero).encodedFrame() }
            raw.send(burst)
        }
    }

    @Test func aPeerThatStallsTheHandshakeIsClosed() throws {
        try expectClosed("handshake stall", authenticate: false, logged: "handshake not completed within 300 ms", handshakeTimeoutMs: 300) { raw, _ in
            raw.sendRaw([0, 32, 1, 2, 3])  // the start of message 1, then nothing
        }
    }

    @Test func aPeerThatNeverSaysHelloIsClosed() throws {
        try expectClosed("slowloris", helloTimeoutMs: 300) { raw, _ in
            raw.send([0, 0])  // two bytes of a frame header inside the session, then nothing
        }
    }

    @Test func plaintextProtocolIsRefused() throws {
        try expectClosed("plaintext HELLO", authenticate: false, logged: "malformed handshake message") { raw, lab in
            raw.sendRaw(hello(lab).encodedFrame())  // the unencrypted protocol of old
        }
    }

    /// A node that cannot take another handshake says so (SPEC.md §12.4) and the client names the cause — not
    /// another lab, not its key; and once a slot frees, the next connection gets through.
    @Test func anOverloadedNodeSaysSoAndTheClientNamesTheCause() throws {
        let lab = Lab()
        let node = try TestNode(lab: lab, maxPending: 2)
        defer { node.stop() }
        var idle = [try RawPeer(port: node.port), try RawPeer(port: node.port)]  // both slots, held in silence
        #expect(waitFor(5) { (try? node.runtime.loop.submit { node.runtime.gossip.connections.pendingCount }.wait()) == 2 })
        do {
            _ = try node.client(lab)
            Issue.record("connected through a full node")
        } catch ClientError.busy(let why) {
            #expect(why.contains("the node is refusing connections: overloaded"), "\(why)")
        }
        idle.removeAll()
        #expect(waitFor(5) { (try? node.client(lab).status()) != nil }, "a freed slot serves the next client")
        let refused = try node.client(lab).status().node?.refused ?? []
        #expect(refused.contains { $0.reason == AdmissionControl.Refusal.overloaded.rawValue && $0.count >= 1 }, "\(refused)")
    }

    @Test func aClientMayNotGossip() throws {
        try expectClosed("client gossiping") { raw, lab in
            var l = lab
            raw.send(hello(lab, role: .client))
            raw.send(.entries([l.halt("erin", at: SystemClock.nowMs()).bytes]))
        }
    }
}

@Suite(.serialized) struct NodeIntegrationTests {
    @Test func threeNodesConvergeOverRealSocketsAndPersist() throws {
        var lab = Lab()
        let nodes = try TestNode.chain(lab)
        defer { nodes.forEach { $0.stop() } }
        let (a, b, c) = (nodes[0], nodes[1], nodes[2])
        let now = SystemClock.nowMs()
        let p = lab.propose("alice", tier: 1, at: now)
        #expect(try a.client(lab).submit(p).0 == .stored)
        for (node, voter) in [(b, "alice"), (c, "bob"), (a, "carol")] {
            let v = lab.vote(voter, p, at: now + 1)
            #expect(try node.client(lab).submit(v).0 == .stored)
        }
        let h = lab.halt("erin", at: now + 2)
        #expect(try c.client(lab).submit(h).0 == .stored)
        // Every node ends with the same verdict (bounded wait; the assertion is on state, not on timing).
        var digests: Set<String> = []
        for _ in 0..<100 {
            digests = Set(try [a, b, c].map { n -> String in
                try n.client(lab).status().node?.digest.hex ?? ""
            })
            if digests.count == 1 { break }
            usleep(50_000)
        }
        #expect(digests.count == 1)
        for n in [a, b, c] {
            let s = try n.client(lab).status()
            #expect(s.verdict.halted)
            #expect(s.verdict.entryCount == 5)
            // What a node acknowledged is in its ledger file, which verifies offline.
            let exported = try n.client(lab).export()
            let path = n.dir.file("copy.ledger")
            FileManager.default.createFile(atPath: path, contents: Data(exported))
            let audit = try LedgerAudit.run(path: path, genesis: lab.genesis)
            #expect(audit.isValid && audit.frames == 5)
        }
    }

    @Test func aNodeKeepsRetryingAPeerThatIsNotUpYet() throws {
        var lab = Lab()
        // Reserve a free port, then release it for the late node.
        let probe = try TestNode(lab: lab)
        let port = probe.port
        probe.stop()
        let early = try TestNode(lab: lab, peers: [port])
        defer { early.stop() }
        usleep(300_000)  // a few failed dials (backoff) before the peer exists
        let lateDir = TempDir()
        var cfg = NodeConfig(genesis: lab.genesis, dataDirectory: lateDir.path, listen: Endpoint(host: "127.0.0.1", port: port), peers: [], identity: lab.keys["bob"]!)
        cfg.gossip.antiEntropyIntervalMs = 200
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var logger = Logger(label: "late")
        logger.logLevel = .critical
        let late = try NodeRuntime(config: cfg, group: group, logger: logger)
        _ = try late.start()
        defer {
            try? late.shutdown().wait()
            try? group.syncShutdownGracefully()
        }
        let h = lab.halt("erin", at: SystemClock.nowMs())
        #expect(try early.client(lab).submit(h).0 == .stored)
        var halted = false
        for _ in 0..<200 where !halted {
            halted = try late.verdict().wait().halted
            if !halted { usleep(50_000) }
        }
        #expect(halted, "the late node got the halt once the dialer reached it")
        withExtendedLifetime(lateDir) {}
    }

    @Test func submitRejectsAGapAndExplains() throws {
        var lab = Lab()
        let a = try TestNode(lab: lab)
        defer { a.stop() }
        _ = lab.halt("bob", at: SystemClock.nowMs())
        let p = lab.propose("bob", tier: 1, at: SystemClock.nowMs())
        let (status, reason) = try a.client(lab).submit(p)
        #expect(status == .rejected)
        #expect(reason.contains("deliver positions 1...1 first"))
    }
}
