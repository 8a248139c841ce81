import Foundation
import Testing
import TiergateCore
import TiergateTestKit
@testable import TiergateStorage

/// A real `tiergate node` process on 127.0.0.1.
final class NodeProcess {
    let process = Process()
    let stdout = Pipe()
    let stderrFile: String
    var port = 0
    let args: [String]
    let dir: String
    /// Runs `tiergate` through this program (faketime, `ip netns exec`), with `prefix` before the binary's path.
    let wrapper: (executable: String, prefix: [String])?
    let environment: [String: String]?
    /// The host the node listens on, as the tests reach it.
    var host = "127.0.0.1"

    init(in dir: String, args: [String], wrapper: (executable: String, prefix: [String])? = nil, environment: [String: String]? = nil) throws {
        self.dir = dir
        self.args = args
        self.wrapper = wrapper
        self.environment = environment
        stderrFile = dir + "/node-\(UUID().uuidString).log"
        try start()
    }

    private func start() throws {
        CLI.command(process, args, wrapper: wrapper)
        if let env = environment { process.environment = ProcessInfo.processInfo.environment.merging(env) { _, b in b } }
        process.currentDirectoryURL = URL(fileURLWithPath: dir)
        process.standardOutput = stdout
        FileManager.default.createFile(atPath: stderrFile, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: stderrFile)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Wait for "listening on HOST:PORT".
        let text = nextLine()
        if text.isEmpty { throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "node exited: \(log)"]) }
        guard text.hasPrefix("listening on "), let p = Int(text.split(separator: ":").last!.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw CocoaError(.fileReadCorruptFile, userInfo: [NSLocalizedDescriptionKey: "unexpected first line: \(text)"])
        }
        port = p
    }

    /// What the node printed on stdout after the last line read.
    private var unread = Data()

    /// The next line the node prints on stdout (without its newline); "" when it closed stdout first.
    func nextLine() -> String {
        while !unread.contains(0x0a) {
            let d = stdout.fileHandleForReading.availableData
            if d.isEmpty { return "" }
            unread += d
        }
        let nl = unread.firstIndex(of: 0x0a)!
        let line = String(decoding: unread[unread.startIndex..<nl], as: UTF8.self)
        unread = Data(unread[unread.index(after: nl)...])
        return line
    }

    var address: String { "\(host):\(port)" }
    var log: String { (try? String(contentsOfFile: stderrFile, encoding: .utf8)) ?? "" }

    func kill9() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func terminate() {
        guard process.isRunning else { return }
        if wrapper != nil {
            // faketime waits for its child and does not pass signals on: the node is its child.
            let pid = process.processIdentifier
            let children = ((try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? "")
                .split(separator: " ").compactMap { Int32($0) }
            for c in children { kill(c, SIGTERM) }
        }
        process.terminate()  // SIGTERM: graceful
        process.waitUntilExit()
    }
}

@Suite(.serialized) struct ClusterTests {
    /// Polls `condition` up to `seconds`; the test asserts on the final state, never on how long it took.
    func eventually(_ seconds: Double = 20, _ condition: () throws -> Bool) rethrows -> Bool {
        try TestHost.eventually(seconds, condition)
    }

    func status(_ w: Workdir, _ n: NodeProcess) throws -> JSONValue? {
        let r = try w.tg("status", "--node", n.address, "--roster", "roster.json", "--key", "keys/dave.key", "--json")
        return r.code == 0 ? try r.json() : nil
    }

    @Test func fiveNodeProcessesConvergeSurviveKillAndVerifyOffline() throws {
        let w = Workdir()
        try w.lab()
        let names = ["alice", "bob", "carol", "dave", "erin"]
        func nodeArgs(_ i: Int, port: Int = 0, peers: [NodeProcess]) -> [String] {
            ["node", "--data", "data\(i)", "--listen", "127.0.0.1:\(port)", "--roster", "roster.json", "--key", "keys/\(names[i]).key",
             "--anti-entropy-interval", "200ms"] + peers.flatMap { ["--peer", $0.address] }
        }
        var nodes: [NodeProcess] = []
        defer { nodes.forEach { $0.terminate() } }
        // Partial mesh: 1 - 2, 1 - 3, 2 - 4, 3 - 4, 4 - 5.
        nodes.append(try NodeProcess(in: w.path, args: nodeArgs(0, peers: [])))
        nodes.append(try NodeProcess(in: w.path, args: nodeArgs(1, peers: [nodes[0]])))
        nodes.append(try NodeProcess(in: w.path, args: nodeArgs(2, peers: [nodes[0]])))
        nodes.append(try NodeProcess(in: w.path, args: nodeArgs(3, peers: [nodes[1], nodes[2]])))
        nodes.append(try NodeProcess(in: w.path, args: nodeArgs(4, peers: [nodes[3]])))

        let p = try w.tg("propose", "--tier", "1", "--title", "Train at tier 1", "--key", "keys/alice.key", "--roster", "roster.json", "--node", nodes[0].address)
        #expect(p.code == 0, "\(p.stderr)")
        let proposal = p.lastLine
        // The proposal must have reached a node before a vote there can show it; votes go to nodes 2, 3, 4.
        for (i, voter) in [(1, "bob"), (2, "carol"), (3, "dave")] {
            #expect(try eventually { try status(w, nodes[i])?["proposals"].map { if case .array(let a) = $0 { !a.isEmpty } else { false } } ?? false })
            let v = try w.tg("vote", proposal, "--yes", "--key", "keys/\(voter).key", "--roster", "roster.json", "--node", nodes[i].address)
            #expect(v.code == 0, "\(voter): \(v.stderr)")
        }
        #expect(try eventually { try nodes.allSatisfy { try status(w, $0)?["authorized_tier"] == .int(1) } }, "every node authorises tier 1")

        // A halt at node 5 shows up everywhere.
        #expect(try w.tg("halt", "--reason", "eval anomaly", "--key", "keys/erin.key", "--roster", "roster.json", "--node", nodes[4].address).code == 0)
        #expect(try eventually { try nodes.allSatisfy { try status(w, $0)?["halted"] == .bool(true) } }, "every node is halted")

        // Node 3 is killed; votes on a resume are cast while it is down; it restarts and catches up.
        let port3 = nodes[2].port
        nodes[2].kill9()
        let haltID: String = try {
            guard case .array(let hs) = try status(w, nodes[0])?["halts"], case .string(let id) = hs.first?["id"] else { return "" }
            return id
        }()
        let r = try w.tg("propose", "--tier", "1", "--title", "Resume", "--resume", haltID, "--key", "keys/bob.key", "--roster", "roster.json", "--node", nodes[1].address, "--key", "keys/dave.key")
        #expect(r.code == 0, "\(r.stderr)")
        for voter in ["alice", "bob", "dave"] {
            let target = voter == "alice" ? nodes[0] : nodes[1]
            #expect(try eventually { try status(w, target)?["proposals"].map { if case .array(let a) = $0 { a.count == 2 } else { false } } ?? false })
            #expect(try w.tg("vote", r.lastLine, "--yes", "--key", "keys/\(voter).key", "--roster", "roster.json", "--node", target.address).code == 0)
        }
        #expect(try eventually { try status(w, nodes[0])?["halted"] == .bool(false) })
        nodes[2] = try NodeProcess(in: w.path, args: nodeArgs(2, port: port3, peers: [nodes[0]]))
        #expect(try eventually {
            let d = try nodes.map { try status(w, $0)?["node"]?["digest"] }
            return Set(d.map { "\(String(describing: $0))" }).count == 1
        }, "all five hold the same entries after the restart")
        #expect(try status(w, nodes[2])?["halted"] == .bool(false))
        #expect(try status(w, nodes[2])?["authorized_tier"] == .int(1))

        // Every node's ledger verifies offline and holds the same entries.
        var verdicts: Set<String> = []
        for (i, n) in nodes.enumerated() {
            #expect(try w.tg("ledger", "export", "--node", n.address, "--out", "export\(i).ledger", "--roster", "roster.json", "--key", "keys/dave.key").code == 0)
            let v = try w.tg("ledger", "verify", "export\(i).ledger", "--roster", "roster.json", "--json", "--at", "2100-01-01T00:00:00Z")
            #expect(v.code == 0, "node \(i + 1): \(v.stdout)")
            let j = try v.json()
            #expect(j["frames"] == .int(9), "node \(i + 1) holds every entry once")
            verdicts.insert(j["verdict"]?["proposals"].map { $0.serialized() } ?? "")
        }
        #expect(verdicts.count == 1, "the same proposals and votes everywhere")
    }
}

@Suite(.serialized) struct GateTests {
    /// Runs argv[1:] holding descriptors 0, 1, 2 and 7 (/dev/null, as a jobserver's pipe would be) and no other: the
    /// test runner's children inherit a socket of Foundation's `Process` besides.
    static let startHolding7 = """
        import os, sys
        os.dup2(os.open("/dev/null", os.O_RDONLY), 7)
        os.closerange(3, 7); os.closerange(8, 65536)
        os.execv(sys.argv[1], sys.argv[1:])
        """

    @Test func gateRunsTheJobUntilAHaltAnywhereStopsIt() throws {
        let w = Workdir()
        try w.lab()
        let names = ["alice", "bob", "carol"]
        var nodes: [NodeProcess] = []
        defer { nodes.forEach { $0.terminate() } }
        for i in 0..<3 {
            let peers = nodes.flatMap { ["--peer", $0.address] }
            nodes.append(try NodeProcess(in: w.path, args: ["node", "--data", "g\(i)", "--listen", "127.0.0.1:0", "--roster", "roster.json",
                                                          "--key", "keys/\(names[i]).key", "--anti-entropy-interval", "200ms"] + peers))
        }
        // Paused by default: no token, and gate refuses to start the job.
        #expect(try w.tg("token", "--node", nodes[0].address, "--tier", "1", "--out", "t.token", "--roster", "roster.json", "--key", "keys/dave.key").code == 1)
        let denied = try w.tg("gate", "--tier", "1", "--roster", "roster.json", "--node", nodes[0].address, "--node", nodes[1].address, "--key", "keys/dave.key", "--", "sleep", "600")
        #expect(denied.code == 1)
        // Node links need a roster key: none given → exit 2 saying so; $TIERGATE_KEY serves; an outsider is refused.
        let noKey = try w.tg("status", "--node", nodes[0].address, "--roster", "roster.json")
        #expect(noKey.code == 2 && noKey.stderr.contains("needs a roster key"), "\(noKey.stderr)")
        #expect(try w.tg("status", "--node", nodes[0].address, "--key", "keys/dave.key").code == 64, "--roster is required with --node")
        #expect(try w.tg(env: ["TIERGATE_KEY": "keys/dave.key"], "status", "--node", nodes[0].address, "--roster", "roster.json").code == 0)
        #expect(try w.tg("keygen", "--name", "mallory", "--out", "outsider").code == 0)
        let outsider = try w.tg("status", "--node", nodes[0].address, "--roster", "roster.json", "--key", "outsider/mallory.key")
        #expect(outsider.code == 2 && outsider.stderr.contains("not a member"), "\(outsider.stderr)")
        // Authorise tier 1 (3 of 5), all at node 0.
        let p = try w.tg("propose", "--tier", "1", "--title", "t1", "--key", "keys/alice.key", "--roster", "roster.json", "--node", nodes[0].address).lastLine
        for v in ["alice", "bob", "carol"] {
            #expect(try w.tg("vote", p, "--yes", "--key", "keys/\(v).key", "--roster", "roster.json", "--node", nodes[0].address).code == 0)
        }
        #expect(try w.tg("token", "--node", nodes[0].address, "--tier", "1", "--out", "t.token", "--roster", "roster.json", "--key", "keys/dave.key").code == 0)
        #expect(try w.tg("check", "--tier", "1", "--token", "t.token", "--roster", "roster.json").code == 0)
        // A token is a bearer credential: its file is readable by its owner only.
        let mode = ((try? FileManager.default.attributesOfItem(atPath: w.file("t.token")))?[.posixPermissions] as? Int) ?? -1
        #expect(mode == 0o600, "token file mode \(String(mode, radix: 8))")

        // gate starts the job against node 1 (it learns of the authorisation by gossip).
        let ok = ClusterTests().eventually {
            (try? w.tg("status", "--node", nodes[1].address, "--roster", "roster.json", "--key", "keys/dave.key", "--json").json()["authorized_tier"]) == .int(1)
        }
        #expect(ok)
        // It watches nodes 1 and 0 (two members' nodes, as the default freshness rule asks).
        let (gate, gateErr, text) = try CLI.startGate(
            ["gate", "--tier", "1", "--roster", "roster.json", "--node", nodes[1].address, "--node", nodes[0].address, "--key", "keys/dave.key", "--grace", "5", "--", "sleep", "600"],
            in: w.path, wrapper: ("/usr/bin/env", ["python3", "-c", Self.startHolding7]))
        defer { if gate.isRunning { gate.terminate() } }
        #expect(text.contains("started sleep"), "gate did not start the job: \(text)")
        let childPid = Int32(text.split(separator: " ").drop { $0 != "pid" }.dropFirst().first ?? "") ?? 0
        #expect(childPid > 0 && kill(childPid, 0) == 0, "the job runs")
        // The job holds standard input, output and error, and the descriptor 7 gate was started with (as a
        // jobserver's pipe would be): not the gate's links to the nodes, nor its event loops' epoll instances (with
        // which a job could read a pushed halt off the link or silence it). Polled: the job itself (sleep) opens and
        // closes its locale files as it starts.
        func fds() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(childPid)/fd")) ?? []).sorted() }
        func target(_ fd: String) -> String { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(childPid)/fd/\(fd)")) ?? "?" }
        #expect(ClusterTests().eventually(5) { fds() == ["0", "1", "2", "7"] }, "the job holds descriptors \(fds().map { "\($0) → \(target($0))" })")

        // A staff member halts at node 2; gate (watching nodes 1 and 0) stops the job on the pushed halt.
        let halted = Date()
        #expect(try w.tg("halt", "--reason", "stop the line", "--key", "keys/erin.key", "--roster", "roster.json", "--node", nodes[2].address).code == 0)
        gate.waitUntilExit()
        let elapsed = Date().timeIntervalSince(halted)
        print("gate: halt submitted to node 3 → job stopped and gate exited after \(Int(elapsed * 1000)) ms")
        #expect(gate.terminationStatus == 76)
        #expect(kill(childPid, 0) != 0, "the job is gone")
        let rest = String(decoding: gateErr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(rest.contains("halt by erin") && rest.contains("stop the line") && rest.contains("verified against the roster"), "\(rest)")

        // check: the offline-valid token is now denied online; an unreachable node means "cannot evaluate".
        let after = try w.tg("check", "--tier", "1", "--token", "t.token", "--roster", "roster.json", "--node", nodes[1].address, "--node", nodes[0].address, "--key", "keys/dave.key")
        #expect(after.code == 1)
        #expect(after.stderr.contains("stop the line"))
        // Too few members' nodes answer (one is unreachable): cannot evaluate, saying how many were needed.
        let unreachable = try w.tg("check", "--tier", "1", "--token", "t.token", "--roster", "roster.json", "--node", "127.0.0.1:1", "--key", "keys/dave.key")
        #expect(unreachable.code == 2 && unreachable.stderr.contains("0 member node(s) answered, 2 needed"), "\(unreachable.stderr)")
    }
}

@Suite(.serialized) struct DemoTests {
    @Test func theDemoRunsToTheEndAndLeavesNothingBehind() throws {
        let r = try CLI.run(["demo", "--json"])
        #expect(r.code == 0, "\(r.stdout)\n\(r.stderr)")
        let j = try r.json()
        #expect(j["ok"] == .bool(true))
        guard case .array(let steps) = j["steps"], case .string(let dir) = j["dir"] else { Issue.record("no transcript"); return }
        #expect(steps.count == 10)
        #expect(steps.allSatisfy { $0["ok"] == .bool(true) })
        #expect(!FileManager.default.fileExists(atPath: dir), "the demo removed its files")
        // Its nodes are gone: nothing listens on their ports any more.
        guard case .array(let nodes) = j["nodes"] else { return }
        for case .string(let address) in nodes {
            #expect(!CLI.isListening(address), "\(address) still accepts connections")
        }
    }
}

@Suite(.serialized) struct BenchSmokeTests {
    /// `tiergate-bench --quick` runs every benchmark and reports its figure, baseline and ratio (never a timing
    /// assertion); the suite runs only this smoke, and the product binary has no bench command.
    @Test func quickBenchmarksRunAndReportRatios() throws {
        let started = Date()
        let r = try CLI.run(["--quick", "--json", "--tiergate", CLI.binary], executable: CLI.benchBinary)
        #expect(r.code == 0, "\(r.stderr)")
        let j = try r.json()
        guard case .array(let verify) = j["verify"], let large = verify.last else { Issue.record("no verify figures"); return }
        #expect(large["ratio"] != nil && large["baseline_verifies_per_second"] != nil && large["peak_rss_mib"] != nil)
        #expect(large["exit_code"] == .int(0), "ledger verify of the generated ledger succeeded")
        #expect(j["link"]?["ratio"] != nil && j["link"]?["handshake_in_x25519_ops"] != nil, "the secure link figures are reported")
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory()))?.filter { $0.hasPrefix("tiergate-bench-") } ?? []
        #expect(!leftovers.contains { name in
            // Only this run's directory is ours to check: bench names it after its pid, which we do not know;
            // a finished bench removes its directory, so none may be newer than this test's start.
            guard let attrs = try? FileManager.default.attributesOfItem(atPath: NSTemporaryDirectory() + name),
                  let created = attrs[.modificationDate] as? Date else { return false }
            return created > started
        }, "bench left its scratch directory behind")
        #expect(j["check"]?["ratio"] != nil && j["check"]?["check_exit_code"] == .int(0))
        #expect(j["halt"]?["p99_ms"] != nil)
        guard case .array(let sims) = j["simulate"], let sim = sims.first else { Issue.record("no simulate figures"); return }
        #expect(sim["reached"] == sim["nodes"])
        #expect(j["catchup"]?["ratio"] != nil)
        #expect(j["scrape"]?["ratio"] != nil && j["scrape"]?["scrapes_failed"] == .int(0), "\(String(describing: j["scrape"]))")
        #expect(j["drill"]?["ratio"] != nil && j["drill"]?["drills_succeeded"] == j["drill"]?["drills"], "\(String(describing: j["drill"]))")
        if case .array(let rings)? = j["ring"]?["rings"] {
            #expect(rings.count == 2 && rings.allSatisfy { $0["verify_ratio"] != nil && $0["sign_ratio"] != nil }, "\(rings)")
        } else { Issue.record("no ring figures: \(String(describing: j["ring"]))") }
        // The Slurm benchmark runs a real slurmctld; where it cannot (not root), it says why, and CI fails on that.
        if ProcessInfo.processInfo.environment["CI"] == "true" || j["slurm"]?["skipped"] == nil {
            #expect(j["slurm"]?["p99_ms"] != nil && j["slurm"]?["ratio"] != nil && j["slurm"]?["missed"] == .int(0), "\(String(describing: j["slurm"]))")
        }
    }
}

/// `gate` as a container's entrypoint (PID 1 of its own PID namespace, made with `unshare`): the orphans its job
/// leaves behind are reaped, not left as zombies (issue 16, Kubernetes). Needs root; under CI=true fails loudly
/// without it.
@Suite(.serialized) struct GateAsInitTests {
    @Test func gateAsPID1ReapsOrphans() throws {
        let unshare = ["/usr/bin/unshare", "/bin/unshare"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let unshare, getuid() == 0 else {
            return CI.skipOrFail("GateAsInitTests", "unshare (util-linux) as root is needed to run gate as PID 1")
        }
        let w = Workdir()
        try w.lab()
        let a = try NodeProcess(in: w.path, args: ["node", "--data", "a", "--listen", "127.0.0.1:0", "--roster", "roster.json", "--key", "keys/alice.key"])
        defer { a.terminate() }
        let b = try NodeProcess(in: w.path, args: ["node", "--data", "b", "--listen", "127.0.0.1:0", "--roster", "roster.json", "--key", "keys/bob.key", "--peer", a.address])
        defer { b.terminate() }
        let p = try w.tg("propose", "--tier", "1", "--title", "t1", "--key", "keys/alice.key", "--roster", "roster.json", "--node", a.address).lastLine
        for v in ["alice", "bob", "carol"] {
            #expect(try w.tg("vote", p, "--yes", "--key", "keys/\(v).key", "--roster", "roster.json", "--node", a.address).code == 0)
        }
        #expect(ClusterTests().eventually {
            (try? w.tg("token", "--node", a.address, "--tier", "1", "--out", "t.token", "--roster", "roster.json", "--key", "keys/dave.key").code) == 0
        })
        // The job leaves a short-lived orphan every 0.2 s and runs for 4 s.
        let gate = Process()
        gate.executableURL = URL(fileURLWithPath: unshare)
        gate.arguments = ["--pid", "--fork", "--kill-child", CLI.binary, "gate", "--tier", "1", "--roster", "roster.json", "--node", a.address, "--node", b.address,
                          "--token", "t.token", "--key", "keys/dave.key", "--", "/bin/sh", "-c", "for i in $(seq 20); do (sleep 0.1 &); sleep 0.2; done"]
        gate.currentDirectoryURL = URL(fileURLWithPath: w.path)
        gate.standardOutput = FileHandle.nullDevice
        let err = Pipe()
        gate.standardError = err
        try gate.run()
        defer { if gate.isRunning { gate.terminate() } }
        // The gate is unshare's child; find it, then count zombies whose parent it is, while the job runs.
        var gatePid: Int32 = 0
        _ = ClusterTests().eventually(10) {
            let kids = ((try? String(contentsOfFile: "/proc/\(gate.processIdentifier)/task/\(gate.processIdentifier)/children", encoding: .utf8)) ?? "")
            gatePid = kids.split(separator: " ").compactMap { Int32($0) }.first ?? 0
            return gatePid > 0
        }
        #expect(gatePid > 0)
        // The job's orphans under gate that are zombies now. One that exited a moment ago may not be reaped yet
        // (gate reaps on each turn of its loop); one that is still a zombie a second later was never reaped.
        func zombies() -> Set<Int32> {
            var out = Set<Int32>()
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
                guard let pid = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                      let close = stat.lastIndex(of: ")") else { continue }
                let fields = stat[stat.index(after: close)...].split(separator: " ")
                if fields.count > 2, fields[0] == "Z", Int32(fields[1]) == gatePid { out.insert(pid) }
            }
            return out
        }
        usleep(1_500_000)
        let first = zombies()
        usleep(1_000_000)
        let lasting = first.intersection(zombies())
        gate.waitUntilExit()
        let log = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(log.contains("started"), "\(log)")
        #expect(lasting.isEmpty, "\(lasting.count) orphan(s) of the job left as zombies under gate (PID 1) for a second or more")
        #expect(gate.terminationStatus == 0, "the job's own exit code: \(log)")
    }
}
