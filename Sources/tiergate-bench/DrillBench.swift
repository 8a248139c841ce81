import Foundation
import TiergateCore
import TiergateStorage
import TiergateNode
import TiergateCLIKit

extension Bench {
    /// Drill → every enforcer's acknowledgement recorded on every node (issue 18). Five in-process nodes (real TCP,
    /// full mesh) and K real `tiergate gate` processes, each with its own observer key, each watching two nodes.
    /// A drill is submitted to node 0 and timed until every node holds all K acknowledgements. Baseline, measured
    /// in the same run: a halt submitted to node 0, timed until every node holds it — the propagation a drill's path
    /// starts with; what the drill adds is each gate's work, its signature and the acknowledgements' delivery.
    /// Finally one halt stops every gate (the path a drill exercises, for real).
    func drill() throws -> JSONValue {
        let n = 5
        let gateN = quick ? 3 : 10
        let repeats = quick ? 4 : 30
        say("\n== drill: drill at a node → all \(gateN) gates' acknowledgements on all \(n) nodes, vs a halt reaching all \(n) nodes")
        let memberKeys = (0..<n).map { try! SigningKey(seed: Blake2b.hash256(Array("tiergate/v1/bench-key/\($0)".utf8)).bytes) }
        let gateKeys = (0..<gateN).map { try! SigningKey(seed: Blake2b.hash256(Array("tiergate/v1/bench-gate-key/\($0)".utf8)).bytes) }
        var policy = Policy.defaultPolicy(memberCount: n)
        policy.lapseMs = 365 * 86_400_000
        let members = memberKeys.enumerated().map { Member(name: "m\($0.offset)", key: $0.element.publicKey, roles: ["staff"]) }
            + gateKeys.enumerated().map { Member(name: "g\($0.offset)", key: $0.element.publicKey, roles: [Member.observerRole]) }
        var doc = GenesisDocument(roster: Roster(lab: "bench", baseTier: 0, maxTier: 4, members: members, policy: policy))
        for k in memberKeys + gateKeys { try! doc.sign(with: k) }

        let cluster = try haltCluster("drill", n: n, doc: doc, keys: memberKeys) { _, ports in ports }
        defer { cluster.stop() }
        // When each node had all K acknowledgements of a drill on disk (monotonic ns).
        let acks = UncheckedBox([Digest: [Int: Set<PublicKey>]]())
        let complete = UncheckedBox([Digest: [Int: UInt64]]())
        for (i, r) in cluster.runtimes.enumerated() {
            let seen = cluster.seen
            r.onPersist = { entries, detached in
                let now = Bench.monotonicNs()
                for e in entries + detached {
                    switch e.entry.body {
                    case .halt: seen.update { $0[e.id, default: [:]][i] = $0[e.id]?[i] ?? now }
                    case .drillAck(let a):
                        var count = 0
                        acks.update { $0[a.drill, default: [:]][i, default: []].insert(e.entry.author); count = $0[a.drill]![i]!.count }
                        if count == gateN { complete.update { $0[a.drill, default: [:]][i] = $0[a.drill]?[i] ?? now } }
                    default: break
                    }
                }
            }
        }

        let gdir = dir + "/drill-gates"
        try? FileManager.default.removeItem(atPath: gdir)
        try FileManager.default.createDirectory(atPath: gdir, withIntermediateDirectories: true)
        try Files.replace(gdir + "/roster.json", doc.fileBytes())
        let exited = UncheckedBox([Int: UInt64]())
        for i in 0..<gateN { try KeyFiles.writeSecretKey(gateKeys[i], path: gdir + "/g\(i).key", passphrase: nil) }
        let procs = try startGates(gateN, in: gdir, exited: exited) { i in
            ["--tier", "0", "--roster", "roster.json", "--node", "127.0.0.1:\(cluster.ports[i % n])",
             "--node", "127.0.0.1:\(cluster.ports[(i + 1) % n])", "--key", "g\(i).key"]
        }
        defer { for p in procs where p.isRunning { p.terminate(); p.waitUntilExit() } }
        let running = gatesStarted(gateN, in: gdir)

        // Every entry here is m1's, in one feed.
        var head: (UInt64, Digest) = (0, .zero)
        func submit(_ body: EntryBody, key: SigningKey) throws -> (SignedEntry, UInt64) {
            let e = SignedEntry(signing: Entry(
                lab: doc.roster.lab, genesis: doc.roster.hash, rosterVersion: 1, author: key.publicKey, seq: head.0 + 1, prev: head.1,
                time: SystemClock.nowMs(), body: body), with: key)
            head = (head.0 + 1, e.id)
            let client = try NodeClient(endpoint: Endpoint(host: "127.0.0.1", port: cluster.ports[0]), genesis: doc.roster.hash, identity: key)
            defer { client.close() }
            let start = Bench.monotonicNs()
            _ = try client.submit(e)
            return (e, start)
        }
        // Drills, one at a time, by m1.
        var drillMs: [Double] = []
        var ids: [Digest] = []
        for k in 0..<repeats {
            let (d, start) = try submit(.drill(Drill(reason: "bench drill \(k)")), key: memberKeys[1])
            ids.append(d.id)
            let until = start + 20_000_000_000
            while (complete.value[d.id]?.count ?? 0) < n && Bench.monotonicNs() < until { usleep(500) }
            if let all = complete.value[d.id], all.count == n { drillMs.append(Double(all.values.max()! - start) / 1e6) }
            usleep(100_000)
        }
        // What the gates themselves reported: time to stop, from the drill's signing to the end of their work.
        let v = try cluster.runtimes[0].verdict().wait()
        let reported = v.drills.filter { ids.contains($0.id) }.flatMap { $0.acks.map { Double($0.latencyMs) } }
        let succeeded = v.drills.filter { ids.contains($0.id) && $0.state == .succeeded }.count

        // Baseline: halts submitted to node 0, until every node holds each; the first one also stops every gate.
        var haltMs: [Double] = []
        var gateStart: UInt64 = 0
        for k in 0..<repeats {
            let (h, start) = try submit(.halt(Halt(reason: "bench halt \(k)")), key: memberKeys[1])
            if k == 0 { gateStart = start }
            let until = start + 10_000_000_000
            while (cluster.seen.value[h.id]?.count ?? 0) < n && Bench.monotonicNs() < until { usleep(200) }
            if let all = cluster.seen.value[h.id], all.count == n { haltMs.append(Double(all.values.max()! - start) / 1e6) }
            usleep(50_000)
        }
        let deadline = Date().addingTimeInterval(15)
        while exited.value.count < gateN, Date() < deadline { usleep(1_000) }
        let stopMs = exited.value.values.map { Double($0 > gateStart ? $0 - gateStart : 0) / 1e6 }
        let stopped = procs.filter { !$0.isRunning && $0.terminationStatus == 76 }.count

        let dp = Bench.percentiles(drillMs)
        let hp = Bench.percentiles(haltMs)
        let rp = Bench.percentiles(reported)
        let sp = Bench.percentiles(stopMs)
        say("  \(gateN) gates running (\(running) started); \(drillMs.count) of \(repeats) drills had every acknowledgement on every node (\(succeeded) succeeded)")
        say("  drill → all acknowledgements on all \(n) nodes: p50 \(fmt(dp.p50)) ms, p99 \(fmt(dp.p99)) ms, max \(fmt(dp.max)) ms")
        say("  time to stop the gates reported (\(reported.count) acknowledgements): p50 \(fmt(rp.p50)) ms, p99 \(fmt(rp.p99)) ms")
        say("  baseline: halt → all \(n) nodes: p50 \(fmt(hp.p50)) ms, p99 \(fmt(hp.p99)) ms; the first halt stopped \(stopped) gate(s) after p99 \(fmt(sp.p99)) ms")
        say("  ratio of p99s (drill acknowledged everywhere / halt everywhere): \(fmt(dp.p99 / hp.p99, 2)); drill p99 / gates stopped by a halt p99: \(fmt(dp.p99 / sp.p99, 2))")
        return .object([
            ("nodes", .int(n)), ("gates", .int(gateN)), ("gates_running", .int(running)), ("drills", .int(repeats)),
            ("drills_fully_acknowledged", .int(drillMs.count)), ("drills_succeeded", .int(succeeded)),
            ("drill_p50_ms", .number(fmt(dp.p50, 3))), ("drill_p99_ms", .number(fmt(dp.p99, 3))), ("drill_max_ms", .number(fmt(dp.max, 3))),
            ("reported_time_to_stop_p50_ms", .number(fmt(rp.p50, 3))), ("reported_time_to_stop_p99_ms", .number(fmt(rp.p99, 3))),
            ("baseline_halt_p50_ms", .number(fmt(hp.p50, 3))), ("baseline_halt_p99_ms", .number(fmt(hp.p99, 3))),
            ("halt_stopped_gates", .int(stopped)), ("halt_gate_stop_p99_ms", .number(fmt(sp.p99, 3))),
            ("ratio", .number(fmt(dp.p99 / hp.p99, 3))),
        ])
    }
}
