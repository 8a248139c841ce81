import ArgumentParser
import Dispatch
import Foundation
import Logging
import NIOCore
import NIOPosix
import TiergateCore
import TiergateStorage
import TiergateNode
import TiergateCLIKit

/// `tiergate-bench`: the benchmarks, a program of their own (not part of the product binary). It runs the
/// `tiergate` binary beside it (or `--tiergate PATH`) where a benchmark measures the CLI end to end.
@main
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tiergate-bench",
        abstract: "Benchmarks, each reported as a ratio against a baseline measured in the same run.",
        discussion: """
            NAMES: verify, check, halt, gates, simulate, catchup, link, slurm, scrape, drill, ring (default: all).
              verify    ledger verify end to end (a child process) vs libsodium's raw verify loop on all cores
              check     wall time of `tiergate check` (offline) vs `tiergate --version`, 200 runs each
              halt      a 50-node loopback cluster (in-process nodes, real TCP): halt submission to every node
              gates     halt to stopped work: 1,000 WATCH sessions on one node, and 50 real `tiergate gate`
                        processes watching two nodes, vs 100 clients polling STATUS every 500 ms (the old gate)
              simulate  the simulator at 1,000 and 10,000 nodes vs Serf's published convergence model
              catchup   a node that missed N entries rejoins: entries/s as a ratio of the verify rate
              link      the secure link (SPEC §12): a full Noise XX handshake in X25519 operations' time; transport
                        seal+open throughput vs libsodium's raw ChaCha20-Poly1305 on the same 64 KiB chunks
              slurm     a real single-host Slurm (root; munge and slurm-wlm installed if missing) with `tiergate
                        slurm enforce`: halt → every protected running job SUSPENDED in squeue, repeated halts and
                        resumes, vs a shell loop of `scontrol suspend` over the same jobs
              scrape    a halt's propagation to every node while the node it reaches has its /metrics scraped
                        100 times a second, vs not scraped
              drill     a drill → every gate's signed acknowledgement on every node (10 real gates, 5 nodes), vs
                        a halt reaching every node
              ring      anonymous halts: ring-signature sign and verify over 8, 64 and 256 members vs one Ed25519
                        verify
            --quick runs each in seconds, for a smoke check. Benchmarks never fail on timing.

            Example: tiergate-bench verify --json
            """)

    @Argument(help: "Which benchmarks to run.") var names: [String] = []
    @Flag(help: "Small sizes: each benchmark runs in seconds.") var quick = false
    @Flag(help: "Print one JSON object with every figure.") var json = false
    @Option(help: "Entries in the verify benchmark's large ledger (default 1,000,000; quick 20,000).") var entries: Int?
    @Option(help: "The tiergate binary to measure (default: the one beside tiergate-bench).") var tiergate: String?

    func validate() throws {
        let known = ["verify", "check", "halt", "gates", "simulate", "catchup", "link", "slurm", "scrape", "drill", "ring"]
        for n in names where !known.contains(n) { throw ValidationError("unknown benchmark '\(n)'; choose from \(known.joined(separator: ", "))") }
    }

    func run() throws {
        let selected = names.isEmpty ? ["verify", "check", "halt", "gates", "simulate", "catchup", "link", "slurm", "scrape", "drill", "ring"] : names
        let beside = (Bench.selfPath as NSString).deletingLastPathComponent + "/tiergate"
        let binary = tiergate ?? beside
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw ValidationError("no tiergate binary at \(binary); build it (swift build) or pass --tiergate PATH")
        }
        let bench = Bench(quick: quick, json: json, binary: binary)
        defer { try? FileManager.default.removeItem(atPath: bench.dir) }  // generated ledgers, rosters, node data
        var results: [(String, JSONValue)] = [("machine", bench.machine())]
        for n in selected {
            switch n {
            case "verify": results.append((n, try bench.verify(large: entries ?? (quick ? 20_000 : 1_000_000))))
            case "check": results.append((n, try bench.check()))
            case "halt": results.append((n, try bench.halt()))
            case "gates": results.append((n, try bench.gates()))
            case "simulate": results.append((n, bench.simulate()))
            case "catchup": results.append((n, try bench.catchup()))
            case "link": results.append((n, try bench.link()))
            case "slurm": results.append((n, try bench.slurm()))
            case "scrape": results.append((n, try bench.scrape()))
            case "drill": results.append((n, try bench.drill()))
            case "ring": results.append((n, try bench.ring()))
            default: break
            }
        }
        if json { Out.json(.object(results)) }
    }
}

struct Bench {
    let quick: Bool
    let json: Bool
    static let selfPath = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    /// The `tiergate` binary the CLI benchmarks run.
    let binary: String
    let dir: String

    init(quick: Bool, json: Bool, binary: String) {
        self.quick = quick
        self.json = json
        self.binary = binary
        dir = NSTemporaryDirectory() + "tiergate-bench-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    func say(_ s: String) {
        if !json {
            print(s)
            fflush(nil)
        }
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    static func time(_ body: () throws -> Void) rethrows -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        try body()
        return seconds(clock.now - start)
    }

    func fmt(_ v: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", v) }

    func machine() -> JSONValue {
        let cpu = ((try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "")
            .split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { String($0.split(separator: ":", maxSplits: 1).last ?? "").trimmingCharacters(in: .whitespaces) } ?? "unknown"
        let cores = ProcessInfo.processInfo.activeProcessorCount
        say("machine: \(cores) cores, \(cpu)")
        return .object([("cores", .int(cores)), ("cpu", .string(cpu))])
    }

    // MARK: A synthetic lab

    /// A lab of `members` members (keys from fixed seeds), genesis signed.
    static func lab(members: Int) -> (GenesisDocument, [SigningKey]) {
        let keys = (0..<members).map { try! SigningKey(seed: Blake2b.hash256(Array("tiergate/v1/bench-key/\($0)".utf8)).bytes) }
        let ms = keys.enumerated().map { Member(name: "m\($0.offset)", key: $0.element.publicKey, roles: [$0.offset % 5 == 0 ? "safety" : "staff"]) }
        var policy = Policy.defaultPolicy(memberCount: members)
        policy.lapseMs = 365 * 86_400_000
        let roster = Roster(lab: "bench", baseTier: 0, maxTier: 4, members: ms, policy: policy)
        var doc = GenesisDocument(roster: roster)
        for k in keys { try! doc.sign(with: k) }
        return (doc, keys)
    }

    /// Writes a ledger of about `count` entries: several proposals, mostly votes, some halts; feeds signed in
    /// parallel. Returns the entry size (for the baseline).
    static func writeLedger(path: String, genesis: Roster, keys: [SigningKey], count: Int) throws -> (entries: Int, messageBytes: Int) {
        let start: UInt64 = 1_767_225_600_000
        let proposals = 8
        let perMember = max(2, count / keys.count)
        // Proposal ids must be known before votes are signed: member 0 proposes first.
        var proposalEntries: [SignedEntry] = []
        var prev = Digest.zero
        for i in 0..<proposals {
            let e = SignedEntry(signing: Entry(
                lab: genesis.lab, genesis: genesis.hash, rosterVersion: 1, author: keys[0].publicKey, seq: UInt64(i + 1), prev: prev,
                time: start + UInt64(i), body: .proposal(Proposal(action: .advance(tier: UInt32(1 + i % 4)), title: "proposal \(i)", closesAt: start + 86_400_000))), with: keys[0])
            prev = e.id
            proposalEntries.append(e)
        }
        let feeds = UncheckedBox(Array(repeating: [SignedEntry](), count: keys.count))
        let props = proposalEntries
        DispatchQueue.concurrentPerform(iterations: keys.count) { m in
            var out: [SignedEntry] = []
            out.reserveCapacity(perMember)
            var seq: UInt64 = m == 0 ? UInt64(proposals) : 0
            var prev = m == 0 ? props.last!.id : Digest.zero
            for j in 0..<(m == 0 ? perMember - proposals : perMember) {
                seq += 1
                let body: EntryBody = (j % 997 == 996)
                    ? .halt(Halt(reason: "bench halt \(j)"))
                    : .vote(Vote(proposal: props[j % proposals].id, choice: j % 3 == 0 ? .yes : .abstain, reason: "bench"))
                let e = SignedEntry(signing: Entry(
                    lab: genesis.lab, genesis: genesis.hash, rosterVersion: 1, author: keys[m].publicKey, seq: seq, prev: prev,
                    time: start + 1_000 + UInt64(j), body: body), with: keys[m])
                prev = e.id
                out.append(e)
            }
            feeds.update { $0[m] = out }
        }
        unlink(path)
        let w = try LedgerWriter(path: path, genesis: genesis.hash)
        try w.append(entries: props)
        var total = props.count
        var messageBytes = 0
        for f in feeds.value {
            // Append in chunks to keep memory of the frame buffer small.
            var i = 0
            while i < f.count {
                let chunk = Array(f[i..<min(i + 10_000, f.count)])
                try w.append(entries: chunk)
                i += chunk.count
            }
            total += f.count
            if let e = f.first { messageBytes = e.signingMessage.count }
        }
        return (total, messageBytes)
    }

    /// libsodium's crypto_sign_verify_detached on `n` messages of `size` bytes, on all cores: verifications/s.
    static func rawVerifyRate(n: Int, size: Int) -> Double {
        let key = try! SigningKey(seed: [UInt8](repeating: 7, count: 32))
        let distinct = 256
        let msgs = (0..<distinct).map { i in (0..<size).map { UInt8(truncatingIfNeeded: $0 &+ i) } }
        let sigs = msgs.map { key.sign($0) }
        let pk = key.publicKey.bytes
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let ok = UncheckedBox(0)
        let t = time {
            DispatchQueue.concurrentPerform(iterations: cores) { c in
                var good = 0
                var i = c
                while i < n {
                    if Ed25519.verify(signature: sigs[i % distinct], message: msgs[i % distinct], publicKey: pk) { good += 1 }
                    i += cores
                }
                ok.update { $0 += good }
            }
        }
        precondition(ok.value == n)
        return Double(n) / t
    }

    /// Runs `tiergate ARGS`; returns wall seconds, exit code and peak RSS (KiB) of the child.
    ///
    /// The peak is the child's own `VmHWM`, sampled from /proc every few milliseconds while it runs: `wait4`'s
    /// `ru_maxrss` is useless here, because a spawned child inherits the parent's high-water mark at exec.
    func runChild(_ args: [String], sampleRSS: Bool = false) -> (seconds: Double, code: Int32, maxRSSKiB: Int) {
        var pid: pid_t = 0
        let argv = [binary] + args
        let cargs = argv.map { strdup($0) } + [nil]
        defer { cargs.forEach { free($0) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        SpawnActions.closeAll(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var status: Int32 = 0
        var peak = 0
        let t = Bench.time {
            posix_spawn(&pid, binary, &actions, nil, cargs, environ)
            if sampleRSS {
                while waitpid(pid, &status, WNOHANG) == 0 {
                    peak = max(peak, Bench.highWaterKiB(pid))
                    usleep(2_000)
                }
            } else {
                waitpid(pid, &status, 0)
            }
        }
        return (t, (status >> 8) & 0xff, peak)
    }

    /// VmHWM (peak resident set) of a running process, in KiB; 0 when unreadable.
    static func highWaterKiB(_ pid: pid_t) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
        else { return 0 }
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "0") ?? 0
    }

    // MARK: verify

    func verify(large: Int) throws -> JSONValue {
        say("\n== verify: ledger verify end to end vs libsodium's raw verify rate (same cores, same run)")
        let (doc, keys) = Bench.lab(members: 64)
        let rosterPath = dir + "/roster.json"
        try KeyFiles.replace(rosterPath, doc.fileBytes())
        var rows: [JSONValue] = []
        let sizes = quick ? [2_000, large] : [100_000, large]
        for n in sizes {
            let path = dir + "/bench-\(n).ledger"
            let gen = Bench.time { _ = try? Bench.writeLedger(path: path, genesis: doc.roster, keys: keys, count: n) }
            let (entries, size): (Int, Int) = try {
                let r = try LedgerReader(path: path)
                var c = 0
                var sz = 0
                while let f = try r.next() {
                    c += 1
                    if sz == 0 { sz = f.payload.count - 64 + 18 }
                }
                return (c, sz)
            }()
            // Baseline before and after, averaged: load from outside the benchmark drifts during a long run.
            let rawBefore = Bench.rawVerifyRate(n: min(entries, 200_000), size: size)
            let ours = runChild(["ledger", "verify", path, "--roster", rosterPath, "--json", "--at", "2026-01-02T00:00:00Z"], sampleRSS: true)
            let ourRate = Double(entries) / ours.seconds
            let raw = (rawBefore + Bench.rawVerifyRate(n: min(entries, 200_000), size: size)) / 2
            let ratio = ourRate / raw
            say("  \(entries) entries (generated in \(fmt(gen, 1)) s): verify \(fmt(ourRate, 0)) entries/s, libsodium raw \(fmt(raw, 0))/s → ratio \(fmt(ratio)) (goal ≥ 0.8); exit \(ours.code); peak RSS \(ours.maxRSSKiB / 1024) MiB of the verifying process (goal ≤ 100)")
            rows.append(.object([
                ("entries", .int(entries)), ("seconds", .number(fmt(ours.seconds, 3))), ("entries_per_second", .number(fmt(ourRate, 0))),
                ("baseline_verifies_per_second", .number(fmt(raw, 0))), ("ratio", .number(fmt(ratio, 3))),
                ("peak_rss_mib", .number(fmt(Double(ours.maxRSSKiB) / 1024, 1))), ("exit_code", .int(Int(ours.code))),
            ]))
            unlink(path)
        }
        return .array(rows)
    }

    // MARK: check

    func check() throws -> JSONValue {
        say("\n== check: `tiergate check` (offline, valid token) vs `tiergate --version`, wall time per run")
        let runs = quick ? 20 : 200
        var lab = TokenLab()
        let token = dir + "/bench.token"
        let roster = dir + "/token-roster.json"
        try KeyFiles.replace(token, lab.token())
        try KeyFiles.replace(roster, lab.doc.fileBytes())
        func sample(_ args: [String]) -> [Double] {
            (0..<runs).map { _ in runChild(args).seconds }.sorted()
        }
        let base = sample(["--version"])
        let ours = sample(["check", "--tier", "1", "--token", token, "--roster", roster])
        let code = runChild(["check", "--tier", "1", "--token", token, "--roster", roster]).code
        func pct(_ a: [Double], _ p: Double) -> Double { a[min(a.count - 1, Int(Double(a.count) * p))] }
        let ratio = pct(ours, 0.5) / pct(base, 0.5)
        say("  \(runs) runs: check median \(fmt(pct(ours, 0.5) * 1000)) ms, p99 \(fmt(pct(ours, 0.99) * 1000)) ms; --version median \(fmt(pct(base, 0.5) * 1000)) ms, p99 \(fmt(pct(base, 0.99) * 1000)) ms → ratio \(fmt(ratio)) (goal ≤ 1.5); check exit \(code)")
        return .object([
            ("runs", .int(runs)), ("check_median_ms", .number(fmt(pct(ours, 0.5) * 1000, 3))), ("check_p99_ms", .number(fmt(pct(ours, 0.99) * 1000, 3))),
            ("version_median_ms", .number(fmt(pct(base, 0.5) * 1000, 3))), ("version_p99_ms", .number(fmt(pct(base, 0.99) * 1000, 3))),
            ("ratio", .number(fmt(ratio, 3))), ("check_exit_code", .int(Int(code))),
        ])
    }

    // MARK: halt

    func halt() throws -> JSONValue {
        let n = quick ? 10 : 50
        let repeats = quick ? 5 : 20
        say("\n== halt: \(n) in-process nodes on 127.0.0.1 (real TCP), each dialing 3 random others; halt at one node → all")
        let (doc, keys) = Bench.lab(members: 5)
        var rng = Simulation.SplitMix(seed: 42)
        let cluster = try haltCluster("halt", n: n, doc: doc, keys: keys) { i, ports in
            (0..<min(3, i)).map { _ in ports[Int.random(in: 0..<i, using: &rng)] }
        }
        let (ports, seen) = (cluster.ports, cluster.seen)
        defer { cluster.stop() }
        usleep(1_500_000)  // let every dial complete
        var samples: [Double] = []
        var heads: [Int: (UInt64, Digest)] = [:]
        for k in 0..<repeats {
            let author = k % keys.count
            let head = heads[author] ?? (0, .zero)
            let h = SignedEntry(signing: Entry(
                lab: doc.roster.lab, genesis: doc.roster.hash, rosterVersion: 1, author: keys[author].publicKey, seq: head.0 + 1, prev: head.1,
                time: SystemClock.nowMs(), body: .halt(Halt(reason: "bench \(k)"))), with: keys[author])
            heads[author] = (head.0 + 1, h.id)
            let target = k % n
            let client = try NodeClient(endpoint: Endpoint(host: "127.0.0.1", port: ports[target]), genesis: doc.roster.hash, identity: keys[author])
            let start = Bench.monotonicNs()
            _ = try client.submit(h)
            var done = false
            let deadline = start + 10_000_000_000
            while !done && Bench.monotonicNs() < deadline {
                done = (seen.value[h.id]?.count ?? 0) == n
                if !done { usleep(200) }
            }
            let last = seen.value[h.id]?.values.max() ?? deadline
            samples.append(Double(last - start) / 1e6)
            client.close()
        }
        samples.sort()
        func pct(_ p: Double) -> Double { samples[min(samples.count - 1, Int(Double(samples.count) * p))] }
        say("  \(repeats) halts: every node has it (on disk) after p50 \(fmt(pct(0.5))) ms, p99 \(fmt(pct(0.99))) ms, max \(fmt(samples.last!)) ms (goal: p99 < 300 ms); measured from SUBMIT to the last node's fsync")
        return .object([
            ("nodes", .int(n)), ("repeats", .int(repeats)), ("mode", .string("in-process nodes, real TCP on 127.0.0.1, 2 event-loop threads")),
            ("p50_ms", .number(fmt(pct(0.5), 3))), ("p99_ms", .number(fmt(pct(0.99), 3))), ("max_ms", .number(fmt(samples.last!, 3))),
        ])
    }

    /// In-process nodes of `doc`'s lab on 127.0.0.1 (real TCP, 2 event-loop threads); node i dials the ports
    /// `peers(i, ports so far)` gives. `seen` records when each node had each halt on disk (monotonic ns).
    struct HaltCluster {
        let group: MultiThreadedEventLoopGroup
        let runtimes: [NodeRuntime]
        let ports: [Int]
        let seen: UncheckedBox<[Digest: [Int: UInt64]]>
        func stop() {
            for r in runtimes { try? r.shutdown().wait() }
            try? group.syncShutdownGracefully()
        }
    }

    func haltCluster(_ tag: String, n: Int, doc: GenesisDocument, keys: [SigningKey], peers: (Int, [Int]) -> [Int]) throws -> HaltCluster {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        var runtimes: [NodeRuntime] = []
        var ports: [Int] = []
        let seen = UncheckedBox([Digest: [Int: UInt64]]())
        for i in 0..<n {
            let d = dir + "/\(tag)-node\(i)"
            try? FileManager.default.removeItem(atPath: d)
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
            var cfg = NodeConfig(genesis: doc.roster, dataDirectory: d, listen: Endpoint(host: "127.0.0.1", port: 0),
                                 peers: peers(i, ports).map { Endpoint(host: "127.0.0.1", port: $0) }, identity: keys[i % keys.count])
            cfg.gossip.antiEntropyIntervalMs = 1_000
            let r = try NodeRuntime(config: cfg, group: group, logger: logger)
            let index = i
            r.onPersist = { entries, halts in
                let now = Bench.monotonicNs()
                for e in entries + halts where e.entry.kind == .halt { seen.update { $0[e.id, default: [:]][index] = $0[e.id]?[index] ?? now } }
            }
            ports.append(try r.start().port!)
            runtimes.append(r)
        }
        return HaltCluster(group: group, runtimes: runtimes, ports: ports, seen: seen)
    }

    // MARK: gates

    /// Two in-process nodes (peers) of `doc`'s lab with tier 1 authorised at both, for the gates benchmark.
    struct Pair {
        let group: MultiThreadedEventLoopGroup
        let runtimes: [NodeRuntime]
        let ports: [Int]
        /// Each author's feed head (seq, id) after the set-up entries, by key index.
        var heads: [Int: (UInt64, Digest)] = [:]
        func stop() {
            for r in runtimes { try? r.shutdown().wait() }
            try? group.syncShutdownGracefully()
        }
    }

    func pair(_ tag: String, doc: GenesisDocument, keys: [SigningKey]) throws -> Pair {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        var runtimes: [NodeRuntime] = []
        var ports: [Int] = []
        for i in 0..<2 {
            let d = dir + "/gates-\(tag)-node\(i)"
            try? FileManager.default.removeItem(atPath: d)
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
            var cfg = NodeConfig(genesis: doc.roster, dataDirectory: d, listen: Endpoint(host: "127.0.0.1", port: 0),
                                 peers: ports.map { Endpoint(host: "127.0.0.1", port: $0) }, identity: keys[i])
            // Every client here comes from 127.0.0.1: the per-address handshake share would make them queue.
            cfg.maxPendingPerAddress = cfg.maxPendingHandshakes
            let r = try NodeRuntime(config: cfg, group: group, logger: logger)
            ports.append(try r.start().port!)
            runtimes.append(r)
        }
        // Tier 1: a proposal and 3 of 5 yes votes, at node 0; both nodes must have it.
        let now = SystemClock.nowMs()
        let p = SignedEntry(signing: Entry(
            lab: doc.roster.lab, genesis: doc.roster.hash, rosterVersion: 1, author: keys[0].publicKey, seq: 1, prev: .zero, time: now - 1000,
            body: .proposal(Proposal(action: .advance(tier: 1), title: "bench", closesAt: now + 86_400_000))), with: keys[0])
        let client = try NodeClient(endpoint: Endpoint(host: "127.0.0.1", port: ports[0]), genesis: doc.roster.hash, identity: keys[0])
        defer { client.close() }
        _ = try client.submit(p)
        var heads: [Int: (UInt64, Digest)] = [:]
        for i in 0..<3 {
            let v = SignedEntry(signing: Entry(
                lab: doc.roster.lab, genesis: doc.roster.hash, rosterVersion: 1, author: keys[i].publicKey, seq: i == 0 ? 2 : 1, prev: i == 0 ? p.id : .zero,
                time: now - 900 + UInt64(i), body: .vote(Vote(proposal: p.id, choice: .yes))), with: keys[i])
            _ = try client.submit(v)
            heads[i] = (v.entry.seq, v.id)
        }
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline, !(try runtimes.allSatisfy { try $0.verdict().wait().authorizedTier == 1 }) { usleep(20_000) }
        return Pair(group: group, runtimes: runtimes, ports: ports, heads: heads)
    }

    /// A halt by `keys[3]` (its first entry), submitted to `port`; returns the monotonic time just before SUBMIT.
    func submitHalt(doc: GenesisDocument, key: SigningKey, port: Int) throws -> UInt64 {
        let h = SignedEntry(signing: Entry(
            lab: doc.roster.lab, genesis: doc.roster.hash, rosterVersion: 1, author: key.publicKey, seq: 1, prev: .zero,
            time: SystemClock.nowMs(), body: .halt(Halt(reason: "bench halt"))), with: key)
        let client = try NodeClient(endpoint: Endpoint(host: "127.0.0.1", port: port), genesis: doc.roster.hash, identity: key)
        defer { client.close() }
        let start = Bench.monotonicNs()
        _ = try client.submit(h)
        return start
    }

    static func percentiles(_ ms: [Double]) -> (p50: Double, p99: Double, max: Double) {
        let s = ms.sorted()
        guard !s.isEmpty else { return (.nan, .nan, .nan) }
        func pct(_ p: Double) -> Double { s[min(s.count - 1, Int(Double(s.count) * p))] }
        return (pct(0.5), pct(0.99), s.last!)
    }

    func gates() throws -> JSONValue {
        let watchN = quick ? 50 : 1_000
        let gateN = quick ? 5 : 50
        let pollN = quick ? 10 : 100
        let pollMs: UInt32 = 500
        say("\n== gates: halt submitted → work stopped; WATCH pushes vs polling STATUS every \(pollMs) ms (the gate it replaces)")
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        limit.rlim_cur = limit.rlim_max
        setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)  // 1,000 sessions hold 2,000 descriptors in this process
        let (doc, keys) = Bench.lab(members: 5)

        // 1. WATCH sessions on one node, in this process (real TCP and Noise), each its own subscription.
        let a = try pair("watch", doc: doc, keys: keys)
        let clients = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let firstState = UncheckedBox(Set<Int>())
        let haltSeen = UncheckedBox([Int: UInt64]())
        let watchers = (0..<watchN).map { i in
            NodeWatcher(endpoint: Endpoint(host: "127.0.0.1", port: a.ports[0]), genesis: doc.roster.hash, identity: keys[i % keys.count],
                        nodeKeys: nil, group: clients) { event in
                guard case .state(_, _, let s) = event else { return }
                let now = Bench.monotonicNs()
                firstState.update { _ = $0.insert(i) }
                if s.halted { haltSeen.update { if $0[i] == nil { $0[i] = now } } }
            }
        }
        watchers.forEach { $0.start() }
        var deadline = Date().addingTimeInterval(60)
        while firstState.value.count < watchN, Date() < deadline { usleep(20_000) }
        let subscribed = firstState.value.count
        let watchStart = try submitHalt(doc: doc, key: keys[3], port: a.ports[0])
        deadline = Date().addingTimeInterval(10)
        while haltSeen.value.count < subscribed, Date() < deadline { usleep(1_000) }
        let watchMs = haltSeen.value.values.map { Double($0 > watchStart ? $0 - watchStart : 0) / 1e6 }
        for w in watchers { _ = try? w.stop().wait() }
        try? clients.syncShutdownGracefully()
        a.stop()
        let w = Bench.percentiles(watchMs)
        say("  \(watchN) WATCH sessions on one node (\(subscribed) subscribed): halt pushed to \(watchMs.count) of them after p50 \(fmt(w.p50)) ms, p99 \(fmt(w.p99)) ms, max \(fmt(w.max)) ms (goal: p99 < 100 ms)")

        // 2. The baseline: clients polling STATUS every 500 ms (random phase), as gate did before WATCH.
        let b = try pair("poll", doc: doc, keys: keys)
        let polled = UncheckedBox([Int: UInt64]())
        let stop = UncheckedBox(false)
        let ready = UncheckedBox(0)
        let threads = DispatchGroup()
        for i in 0..<pollN {
            threads.enter()
            Thread.detachNewThread {
                defer { threads.leave() }
                guard let c = try? NodeClient(endpoint: Endpoint(host: "127.0.0.1", port: b.ports[0]), genesis: doc.roster.hash, identity: keys[i % keys.count]) else { return }
                defer { c.close() }
                usleep(UInt32.random(in: 0..<pollMs) * 1000)
                ready.update { $0 += 1 }
                while !stop.value {
                    if let s = try? c.status(StatusQuery(at: 0, limit: 0)), s.verdict.halted {
                        let now = Bench.monotonicNs()
                        polled.update { if $0[i] == nil { $0[i] = now } }
                        return
                    }
                    usleep(pollMs * 1000)
                }
            }
        }
        deadline = Date().addingTimeInterval(30)
        while ready.value < pollN, Date() < deadline { usleep(20_000) }
        usleep(pollMs * 1000)
        let pollStart = try submitHalt(doc: doc, key: keys[3], port: b.ports[0])
        deadline = Date().addingTimeInterval(10)
        while polled.value.count < ready.value, Date() < deadline { usleep(1_000) }
        stop.update { $0 = true }
        threads.wait()
        b.stop()
        let pollMsSamples = polled.value.values.map { Double($0 > pollStart ? $0 - pollStart : 0) / 1e6 }
        let p = Bench.percentiles(pollMsSamples)
        say("  baseline: \(pollN) clients polling STATUS every \(pollMs) ms: halt seen after p50 \(fmt(p.p50)) ms, p99 \(fmt(p.p99)) ms, max \(fmt(p.max)) ms")

        // 3. Real gate processes, each watching both nodes and running `sleep 600`; time from SUBMIT to its exit.
        let c = try pair("gate", doc: doc, keys: keys)
        let gdir = dir + "/gates-cli"
        try? FileManager.default.removeItem(atPath: gdir)
        try FileManager.default.createDirectory(atPath: gdir, withIntermediateDirectories: true)
        try Files.replace(gdir + "/roster.json", doc.fileBytes())
        try KeyFiles.writeSecretKey(keys[4], path: gdir + "/gate.key", passphrase: nil)
        let exited = UncheckedBox([Int: UInt64]())
        let procs = try startGates(gateN, in: gdir, exited: exited) { _ in
            ["--tier", "1", "--roster", "roster.json", "--node", "127.0.0.1:\(c.ports[0])", "--node", "127.0.0.1:\(c.ports[1])", "--key", "gate.key"]
        }
        defer { for p in procs where p.isRunning { p.terminate() } }
        let running = gatesStarted(gateN, in: gdir)
        let gateStart = try submitHalt(doc: doc, key: keys[3], port: c.ports[0])
        deadline = Date().addingTimeInterval(15)
        while exited.value.count < gateN, Date() < deadline { usleep(1_000) }
        let gateMs = exited.value.values.map { Double($0 > gateStart ? $0 - gateStart : 0) / 1e6 }
        let stoppedByGate = procs.filter { !$0.isRunning && $0.terminationStatus == 76 }.count
        c.stop()
        let g = Bench.percentiles(gateMs)
        say("  \(gateN) gate processes (\(running) running their job): \(stoppedByGate) stopped it (exit 76) after p50 \(fmt(g.p50)) ms, p99 \(fmt(g.p99)) ms, max \(fmt(g.max)) ms from SUBMIT to gate's exit (goal: p99 < 250 ms)")
        say("  ratios to polling p99: WATCH \(fmt(w.p99 / p.p99, 3)), gates \(fmt(g.p99 / p.p99, 3))")
        return .object([
            ("watch_sessions", .int(watchN)), ("watch_subscribed", .int(subscribed)), ("watch_received", .int(watchMs.count)),
            ("watch_p50_ms", .number(fmt(w.p50, 3))), ("watch_p99_ms", .number(fmt(w.p99, 3))), ("watch_max_ms", .number(fmt(w.max, 3))),
            ("poll_clients", .int(pollN)), ("poll_interval_ms", .int(Int(pollMs))),
            ("baseline_poll_p50_ms", .number(fmt(p.p50, 3))), ("baseline_poll_p99_ms", .number(fmt(p.p99, 3))),
            ("gates", .int(gateN)), ("gates_running", .int(running)), ("gates_stopped", .int(stoppedByGate)),
            ("gate_p50_ms", .number(fmt(g.p50, 3))), ("gate_p99_ms", .number(fmt(g.p99, 3))), ("gate_max_ms", .number(fmt(g.max, 3))),
            ("watch_ratio_to_polling_p99", .number(fmt(w.p99 / p.p99, 3))), ("gate_ratio_to_polling_p99", .number(fmt(g.p99 / p.p99, 3))),
        ])
    }

    /// Starts `count` real `tiergate gate` processes in `dir`, gate i with `arguments(i)` and running `sleep`, its
    /// log in `dir/gate-i.log`; `exited[i]` gets the monotonic time it exited.
    func startGates(_ count: Int, in dir: String, exited: UncheckedBox<[Int: UInt64]>, arguments: (Int) -> [String]) throws -> [Process] {
        var procs: [Process] = []
        for i in 0..<count {
            let proc = Process()
            proc.executableURL = URL(fileURLWithPath: binary)
            proc.arguments = ["gate"] + arguments(i) + ["--grace", "5", "--", "sleep", "3600"]
            proc.currentDirectoryURL = URL(fileURLWithPath: dir)
            FileManager.default.createFile(atPath: dir + "/gate-\(i).log", contents: nil)
            proc.standardError = FileHandle(forWritingAtPath: dir + "/gate-\(i).log")
            proc.standardOutput = FileHandle.nullDevice
            proc.terminationHandler = { _ in
                let now = Bench.monotonicNs()
                exited.update { $0[i] = now }
            }
            try proc.run()
            procs.append(proc)
        }
        return procs
    }

    /// How many of the gates of ``startGates(_:in:exited:arguments:)`` started their job, waiting up to a minute for all.
    func gatesStarted(_ count: Int, in dir: String) -> Int {
        func started() -> Int {
            (0..<count).filter { ((try? String(contentsOfFile: dir + "/gate-\($0).log", encoding: .utf8)) ?? "").contains("started sleep") }.count
        }
        let deadline = Date().addingTimeInterval(60)
        while started() < count, Date() < deadline { usleep(50_000) }
        return started()
    }

    static func monotonicNs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    // MARK: simulate

    func simulate() -> JSONValue {
        say("\n== simulate: the real gossip state machine on a simulated network (fanout 4, 1–10 ms links, 200 ms anti-entropy)")
        var rows: [JSONValue] = []
        let (doc, keys) = Bench.lab(members: 5)
        let halt = SignedEntry(signing: Entry(
            lab: doc.roster.lab, genesis: doc.roster.hash, rosterVersion: 1, author: keys[0].publicKey, seq: 1, prev: .zero,
            time: 1_767_225_600_000, body: .halt(Halt(reason: "sim"))), with: keys[0])
        for n in quick ? [300] : [1_000, 10_000] {
            var s = Simulation.Settings()
            s.nodes = n
            s.antiEntropyIntervalMs = 200
            var sim = Simulation(settings: s, genesis: doc.roster)
            var report: Simulation.Report!
            let wall = Bench.time { report = sim.run(halt: halt) }
            let full = report.milestones.last { $0.percent == 100 }
            // Serf's convergence model (serf.io/docs/internals/simulator): ~2.2 s for 99.99 % of 1,000 nodes at a
            // 200 ms gossip interval with fanout 3; it grows with log(n).
            let serf = 2.2 * log(Double(n)) / log(1_000)
            say("  \(n) nodes: 100 % after \(full?.hops ?? -1) hops, \(full?.ms ?? 0) ms simulated (Serf model ≈ \(fmt(serf, 1)) s → ratio \(fmt(Double(full?.ms ?? 0) / 1000 / serf, 3))); \(fmt(report.bytesPerNode, 0)) bytes/node; in sync \(fmt(report.inSyncBytesPerNodePerInterval, 1)) bytes/node/interval; \(fmt(wall, 1)) s wall")
            rows.append(.object([
                ("nodes", .int(n)), ("reached", .int(report.reached)), ("hops_to_100", .int(full?.hops ?? -1)), ("ms_to_100", .uint(full?.ms ?? 0)),
                ("serf_model_seconds", .number(fmt(serf, 2))), ("ratio_vs_serf", .number(fmt(Double(full?.ms ?? 0) / 1000 / serf, 4))),
                ("bytes_per_node", .number(fmt(report.bytesPerNode, 1))), ("in_sync_bytes_per_node_per_interval", .number(fmt(report.inSyncBytesPerNodePerInterval, 2))),
                ("wall_seconds", .number(fmt(wall, 2))),
            ]))
        }
        // In-sync cost must not grow with members or entries: one digest per interval.
        say("  in-sync anti-entropy cost is one 37-byte DIGEST per node per interval, whatever the number of members or entries")
        return .array(rows)
    }

    // MARK: catch-up

    func catchup() throws -> JSONValue {
        let n = quick ? 5_000 : 100_000
        say("\n== catchup: a node that missed \(n) entries rejoins (real TCP, in-process)")
        let (doc, keys) = Bench.lab(members: 64)
        let a = dir + "/catchup-a"
        try? FileManager.default.removeItem(atPath: a)
        try FileManager.default.createDirectory(atPath: a, withIntermediateDirectories: true)
        let (entries, size) = try Bench.writeLedger(path: a + "/ledger", genesis: doc.roster, keys: keys, count: n)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        defer { try? group.syncShutdownGracefully() }
        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        let ra = try NodeRuntime(config: NodeConfig(genesis: doc.roster, dataDirectory: a, listen: Endpoint(host: "127.0.0.1", port: 0), peers: [], identity: keys[0]), group: group, logger: logger)
        let port = try ra.start().port!
        let b = dir + "/catchup-b"
        try? FileManager.default.removeItem(atPath: b)
        try FileManager.default.createDirectory(atPath: b, withIntermediateDirectories: true)
        let rb = try NodeRuntime(config: NodeConfig(genesis: doc.roster, dataDirectory: b, listen: Endpoint(host: "127.0.0.1", port: 0), peers: [Endpoint(host: "127.0.0.1", port: port)], identity: keys[1]), group: group, logger: logger)
        let count = UncheckedBox(0)
        rb.onPersist = { e, _ in count.update { $0 += e.count } }
        let start = Bench.monotonicNs()
        _ = try rb.start()
        var done = false
        while !done && Bench.monotonicNs() - start < 600_000_000_000 {
            usleep(2_000)
            done = count.value >= entries
        }
        let seconds = Double(Bench.monotonicNs() - start) / 1e9
        try? ra.shutdown().wait()
        try? rb.shutdown().wait()
        let rate = Double(entries) / seconds
        let raw = Bench.rawVerifyRate(n: min(entries, 200_000), size: size)
        say("  caught up \(entries) entries in \(fmt(seconds, 2)) s: \(fmt(rate, 0)) entries/s; libsodium raw verify \(fmt(raw, 0))/s → ratio \(fmt(rate / raw, 3))")
        return .object([
            ("entries", .int(entries)), ("seconds", .number(fmt(seconds, 3))), ("entries_per_second", .number(fmt(rate, 0))),
            ("baseline_verifies_per_second", .number(fmt(raw, 0))), ("ratio", .number(fmt(rate / raw, 3))),
        ])
    }
}

extension Bench {
    /// The secure link's cost against its own primitives, measured in this run (SPEC.md §12).
    func link() throws -> JSONValue {
        say("link: Noise XX handshakes and transport (one core)")
        let a = try SigningKey(seed: Blake2b.hash256(Array("tiergate/v1/bench-key/0".utf8)).bytes)
        let b = try SigningKey(seed: Blake2b.hash256(Array("tiergate/v1/bench-key/1".utf8)).bytes)
        let genesis = Blake2b.hash256(Array("bench".utf8))
        let handshakes = quick ? 50 : 2_000
        var sink = 0
        /// Two links that completed a handshake in memory (every byte through the real state machines).
        func pair() throws -> (SecureLink, SecureLink) {
            var i = SecureLink(role: .initiator, genesis: genesis, identity: a)
            var r = SecureLink(role: .responder, genesis: genesis, identity: b)
            var toR = try i.start().compactMap { if case .send(let x) = $0 { x } else { nil } }
            while !(i.isEstablished && r.isEstablished) {
                var toI: [[UInt8]] = []
                for m in toR { for case .send(let x) in try r.receive(m, authorize: { _ in nil }) { toI.append(x) } }
                toR = []
                for m in toI { for case .send(let x) in try i.receive(m, authorize: { _ in nil }) { toR.append(x) } }
            }
            return (i, r)
        }
        let hsSeconds = try Bench.time {
            for _ in 0..<handshakes {
                let (i, _) = try pair()
                sink &+= i.peer!.bytes[0] == 0 ? 1 : 0
            }
        }
        // Baseline: one X25519 scalar multiplication (a handshake does 4 DH + 1 keygen per side, 2 signs, 2 verifies).
        let dhN = quick ? 500 : 20_000
        let secret = Sodium.randomBytes(32)
        let pub = X25519.publicKey(secret: Sodium.randomBytes(32))
        let dhSeconds = Bench.time { for _ in 0..<dhN { sink &+= Int(X25519.sharedSecret(secret: secret, publicKey: pub)![0]) } }
        let perHandshakeMs = hsSeconds / Double(handshakes) * 1000
        let perDHMs = dhSeconds / Double(dhN) * 1000
        say("  \(handshakes) handshakes: \(fmt(perHandshakeMs, 3)) ms each (both sides); one X25519 \(fmt(perDHMs, 4)) ms → \(fmt(perHandshakeMs / perDHMs, 1)) X25519-equivalents")

        // Transport: 64 KiB of frame stream sealed by one end and opened by the other, vs raw AEAD on the same sizes.
        var (i, r) = try pair()
        let chunk = Sodium.randomBytes(SecureLink.maxPlaintextChunk)
        let rounds = quick ? 200 : 8_000
        let linkSeconds = try Bench.time {
            for _ in 0..<rounds {
                let wire = try i.seal(chunk)
                for case .plaintext(let p) in try r.receive(wire, authorize: { _ in nil }) { sink &+= Int(p[0]) }
            }
        }
        let key = Sodium.randomBytes(32)
        let rawSeconds = Bench.time {
            for n in 0..<rounds {
                var nonce = [UInt8](repeating: 0, count: 12)
                nonce[4] = UInt8(truncatingIfNeeded: n)
                let c = ChaChaPoly.seal(key: key, nonce: nonce, ad: [], plaintext: chunk)
                sink &+= Int(ChaChaPoly.open(key: key, nonce: nonce, ad: [], ciphertext: c)![0])
            }
        }
        let mb = Double(rounds * chunk.count) / 1_048_576
        let linkRate = mb / linkSeconds
        let rawRate = mb / rawSeconds
        say("  transport: \(fmt(linkRate, 0)) MiB/s sealed+opened; raw ChaCha20-Poly1305 seal+open \(fmt(rawRate, 0)) MiB/s → ratio \(fmt(linkRate / rawRate, 3))")
        if sink == -1 { say("") }  // keep the work observable
        return .object([
            ("handshakes", .int(handshakes)), ("handshake_ms", .number(fmt(perHandshakeMs, 4))),
            ("baseline_x25519_ms", .number(fmt(perDHMs, 5))), ("handshake_in_x25519_ops", .number(fmt(perHandshakeMs / perDHMs, 2))),
            ("transport_mib_per_second", .number(fmt(linkRate, 1))), ("baseline_aead_mib_per_second", .number(fmt(rawRate, 1))),
            ("ratio", .number(fmt(linkRate / rawRate, 3))),
        ])
    }
}

/// A small fixed lab with a passed advance to tier 1 and a token for it.
struct TokenLab {
    let doc: GenesisDocument
    let keys: [SigningKey]

    init() {
        (doc, keys) = Bench.lab(members: 5)
    }

    mutating func token() throws -> [UInt8] {
        let now = SystemClock.nowMs()
        var settings = GossipSettings()
        settings.attester = keys[0]
        var node = GossipNode(store: EntryStore(genesis: doc.roster), settings: settings)
        let p = SignedEntry(signing: Entry(
            lab: doc.roster.lab, genesis: doc.roster.hash, rosterVersion: 1, author: keys[0].publicKey, seq: 1, prev: .zero, time: now - 1000,
            body: .proposal(Proposal(action: .advance(tier: 1), title: "bench", closesAt: now + 86_400_000))), with: keys[0])
        _ = node.inject(p)
        for i in 0..<3 {
            let v = SignedEntry(signing: Entry(
                lab: doc.roster.lab, genesis: doc.roster.hash, rosterVersion: 1, author: keys[i + 1].publicKey, seq: 1, prev: .zero, time: now - 900 + UInt64(i),
                body: .vote(Vote(proposal: p.id, choice: .yes))), with: keys[i + 1])
            _ = node.inject(v)
        }
        // Attested by two members' nodes, as the default freshness rule requires (SPEC.md §3.2).
        var store = node.store
        let v = store.verdict(at: now)
        let digest = store.digest
        var token = TierToken(
            lab: doc.roster.lab, genesis: doc.roster.hash, tier: 1, issuedAt: now, expiresAt: now + doc.roster.policy.tokenTTLMs,
            entries: TokenChecker.evidenceEntries(store: store, verdict: v).map(\.bytes))
        token.attestations = keys[0..<2].map { Attestation(core: token.coreHash, key: $0, time: now, digest: digest, tier: v.authorizedTier) }
        if (try? TokenChecker.check(token, genesis: doc.roster, tier: 1, now: now)) != nil { return token.encoded() }
        throw CLIFailure.cannotEvaluate("could not build the benchmark token")
    }
}

/// A value shared with concurrent code; every access goes through its lock.
final class UncheckedBox<T>: @unchecked Sendable {
    private var stored: T
    private let lock = NSLock()
    init(_ v: T) { stored = v }
    var value: T {
        lock.lock()
        defer { lock.unlock() }
        return stored
    }
    func update(_ f: (inout T) -> Void) {
        lock.lock()
        f(&stored)
        lock.unlock()
    }
}
