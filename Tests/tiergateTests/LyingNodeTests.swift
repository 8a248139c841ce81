import Foundation
import Logging
import NIOPosix
import Testing
import TiergateCore
import TiergateNode
@testable import TiergateStorage

/// A node that lies (issue "a stop nobody can hide", SPEC.md §10.1): it speaks the real protocol over real TCP and
/// Noise, acknowledges halts and forgets them, so its status, WATCH pushes, attestations and tokens all say "no
/// halt". The honest nodes are real `tiergate node` processes; the liar runs in this process (the same node code,
/// with the test-only `hideEntry` filter). Under the default policy it cannot hide a halt from anyone.
@Suite(.serialized) struct LyingNodeTests {
    final class Liar {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let runtime: NodeRuntime
        let port: Int
        var address: String { "127.0.0.1:\(port)" }

        init(_ w: Workdir, key: String, peers: [NodeProcess]) throws {
            let genesis = try GenesisDocument(fileBytes: w.bytes("roster.json")).roster
            let identity = try KeyFiles.readSecretKey(path: w.file("keys/\(key).key"), passphrase: nil)
            var cfg = NodeConfig(genesis: genesis, dataDirectory: w.file("liar"), listen: Endpoint(host: "127.0.0.1", port: 0),
                                 peers: peers.map { Endpoint(host: "127.0.0.1", port: $0.port) }, identity: identity)
            try FileManager.default.createDirectory(atPath: cfg.dataDirectory, withIntermediateDirectories: true)
            cfg.gossip.antiEntropyIntervalMs = 200
            cfg.gossip.hideEntry = { e in if case .halt = e.entry.body { return true } else { return false } }
            var logger = Logger(label: "liar")
            logger.logLevel = .critical
            runtime = try NodeRuntime(config: cfg, group: group, logger: logger)
            port = try runtime.start().port!
        }

        func stop() {
            try? runtime.shutdown().wait()
            try? group.syncShutdownGracefully()
        }
    }

    /// What the node at `address` reports: halted, and whether tier 1 is authorised.
    func status(_ w: Workdir, _ address: String) throws -> (halted: Bool, tier1: Bool)? {
        let r = try w.tg("status", "--node", address, "--roster", "roster.json", "--key", "keys/dave.key", "--json")
        guard r.code == 0 else { return nil }
        let j = try r.json()
        return (j["halted"] == .bool(true), j["authorized_tier"] == .int(1))
    }

    /// Starts `tiergate gate` over `nodes` for a `sleep 600` job and waits until it started the job or exited.
    func startGate(_ w: Workdir, nodes: [String], token: String? = nil, extra: [String] = []) throws -> (Process, Pipe, String) {
        try CLI.startGate(["gate", "--tier", "1", "--roster", "roster.json"] + nodes.flatMap { ["--node", $0] }
            + (token.map { ["--token", $0] } ?? []) + extra + ["--key", "keys/dave.key", "--grace", "5", "--", "sleep", "600"], in: w.path)
    }

    @Test func aLyingNodeCannotHideAHalt() throws {
        let w = Workdir()
        try w.lab()
        func honest(_ key: String, peers: [String]) throws -> NodeProcess {
            try NodeProcess(in: w.path, args: ["node", "--data", key, "--listen", "127.0.0.1:0", "--roster", "roster.json", "--key", "keys/\(key).key",
                                               "--anti-entropy-interval", "200ms"] + peers.flatMap { ["--peer", $0] })
        }
        let alice = try honest("alice", peers: [])
        defer { alice.terminate() }
        let bob = try honest("bob", peers: [alice.address])
        defer { bob.terminate() }
        let liar = try Liar(w, key: "carol", peers: [alice, bob])
        defer { liar.stop() }

        // Tier 1 authorised (3 of 5), everywhere, the liar included.
        let p = try w.tg("propose", "--tier", "1", "--title", "t1", "--key", "keys/alice.key", "--roster", "roster.json", "--node", alice.address).lastLine
        for v in ["alice", "bob", "carol"] {
            #expect(try w.tg("vote", p, "--yes", "--key", "keys/\(v).key", "--roster", "roster.json", "--node", alice.address).code == 0)
        }
        #expect(ClusterTests().eventually { [alice.address, bob.address, liar.address].allSatisfy { (try? status(w, $0))??.tier1 == true } })
        // Before any halt the liar issues tokens like any node (its own attestation and an honest one).
        #expect(try w.tg("token", "--node", liar.address, "--tier", "1", "--out", "before.token", "--roster", "roster.json", "--key", "keys/dave.key").code == 0)

        // A gate watching the liar and alice runs the job.
        let (gate, gateErr, started) = try startGate(w, nodes: [liar.address, alice.address])
        defer { if gate.isRunning { gate.terminate() } }
        #expect(started.contains("started sleep"), "\(started)")
        // The control: a gate told to trust the liar alone (--min-answers 1) — the configuration the default forbids.
        let (blind, _, blindLog) = try startGate(w, nodes: [liar.address], extra: ["--min-answers", "1"])
        defer { if blind.isRunning { blind.terminate() } }
        #expect(blindLog.contains("started sleep"), "\(blindLog)")

        // erin halts at bob's node (a third node). The liar hears it by gossip and hides it; the gate stops anyway.
        let halted = Date()
        #expect(try w.tg("halt", "--reason", "hidden?", "--key", "keys/erin.key", "--roster", "roster.json", "--node", bob.address).code == 0)
        gate.waitUntilExit()
        let ms = Int(Date().timeIntervalSince(halted) * 1000)
        let rest = String(decoding: gateErr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        print("lying node: halt at a third node → gate watching the liar and an honest node stopped its job after \(ms) ms")
        #expect(gate.terminationStatus == 76, "\(rest)")
        #expect(rest.contains("halt by erin") && rest.contains("hidden?") && rest.contains(alice.address), "\(rest)")
        #expect(ClusterTests().eventually { (try? status(w, alice.address))??.halted == true && (try? status(w, bob.address))??.halted == true })
        #expect((try status(w, liar.address))?.halted == false, "the liar still says no halt")
        #expect(blind.isRunning, "the gate that watches only the liar never learns of the halt: the lie is real")
        blind.terminate()

        // The liar cannot issue a token alone: the honest nodes refuse to attest while halted (fail closed).
        let t = try w.tg("token", "--node", liar.address, "--tier", "1", "--out", "after.token", "--roster", "roster.json", "--key", "keys/dave.key")
        #expect(t.code == 1 && t.stderr.contains("1 distinct member node(s) attested; the policy needs 2"), "\(t.stderr)")
        // check naming the liar and an honest node denies (the token from before the halt is still unexpired).
        let c = try w.tg("check", "--tier", "1", "--token", "before.token", "--roster", "roster.json", "--node", liar.address, "--node", alice.address, "--key", "keys/dave.key")
        #expect(c.code == 1 && c.stderr.contains("hidden?"), "\(c.stderr)")
        // The liar alone is not enough answers: cannot evaluate, never allow.
        let alone = try w.tg("check", "--tier", "1", "--token", "before.token", "--roster", "roster.json", "--node", liar.address, "--key", "keys/dave.key")
        #expect(alone.code == 2, "\(alone.stderr)")

        // A gate that subscribes after the halt was stored never starts the job — even with a token that still
        // checks offline (from before the halt): the first state alice pushes carries the halt.
        let (late, lateErr, lateLog) = try startGate(w, nodes: [liar.address, alice.address], token: "before.token")
        late.waitUntilExit()
        let lateRest = lateLog + String(decoding: lateErr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(late.terminationStatus == 1 && !lateRest.contains("started sleep") && lateRest.contains("halt by erin"), "\(lateRest)")

        // halt --node LIAR --node HONEST: the liar "acknowledges" (and drops it), the honest node stores it.
        let h2 = try w.tg("halt", "--reason", "second stop", "--key", "keys/dave.key", "--roster", "roster.json",
                          "--node", liar.address, "--node", alice.address, "--json")
        #expect(h2.code == 0, "\(h2.stderr)")
        let second = try w.tg("status", "--node", bob.address, "--roster", "roster.json", "--key", "keys/dave.key")
        #expect(ClusterTests().eventually {
            ((try? w.tg("status", "--node", bob.address, "--roster", "roster.json", "--key", "keys/dave.key"))?.stdout ?? "").contains("second stop")
        }, "the second halt reached every honest node: \(second.stdout)")
    }
}
