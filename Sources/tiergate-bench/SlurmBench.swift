import Foundation
import TiergateCore
import TiergateStorage
import TiergateNode
import TiergateCLIKit
import TiergateTestKit

extension Bench {
    /// Halt → every protected running Slurm job suspended, end to end with Slurm's own latency (issue 16): a real
    /// single-host Slurm (SlurmSandbox), two in-process nodes at tier 1, `tiergate slurm enforce` as a process
    /// watching both, `jobs` tier-1 jobs on the protected partition. Each round: a halt submitted to one node, timed
    /// until `squeue` shows every job SUSPENDED; then a resume quorum, and every job RUNNING again. Baseline, in the
    /// same run: a shell loop of `scontrol suspend` over the same jobs, timed the same way (what
    /// Slurm itself costs).
    func slurm() throws -> JSONValue {
        let rounds = quick ? 2 : 20
        let jobs = quick ? 2 : 8
        say("\n== slurm: halt submitted → every protected running job SUSPENDED (squeue), \(jobs) jobs, \(rounds) halts")
        if let why = SlurmSandbox.ensureInstalled() {
            say("  skipped: \(why)")
            return .object([("skipped", .string(why))])
        }
        let (doc, keys) = Bench.lab(members: 5)
        var nodes = try pair("slurm", doc: doc, keys: keys)
        defer { nodes.stop() }
        let sdir = dir + "/slurm"
        try? FileManager.default.removeItem(atPath: sdir)
        try FileManager.default.createDirectory(atPath: sdir, withIntermediateDirectories: true)
        try Files.replace(sdir + "/roster.json", doc.fileBytes())
        try KeyFiles.writeSecretKey(keys[4], path: sdir + "/enforcer.key", passphrase: nil)
        try Files.replace(sdir + "/slurm.json", Array("""
            { "roster": "\(sdir)/roster.json", "key": "\(sdir)/enforcer.key",
              "nodes": ["127.0.0.1:\(nodes.ports[0])", "127.0.0.1:\(nodes.ports[1])"], "protected_partitions": ["gpu"], "action": "suspend" }
            """.utf8))
        let slurm = try SlurmSandbox(dir: sdir + "/cluster", prolog: nil)
        defer { slurm.stop() }

        let enforcer = Process()
        enforcer.executableURL = URL(fileURLWithPath: binary)
        enforcer.arguments = ["slurm", "enforce", "--config", sdir + "/slurm.json"]
        enforcer.environment = ProcessInfo.processInfo.environment.merging(slurm.env) { _, b in b }
        FileManager.default.createFile(atPath: sdir + "/enforce.log", contents: nil)
        enforcer.standardError = FileHandle(forWritingAtPath: sdir + "/enforce.log")
        enforcer.standardOutput = FileHandle.nullDevice
        try enforcer.run()
        defer { if enforcer.isRunning { enforcer.terminate(); enforcer.waitUntilExit() } }
        let enforceLog = { (try? String(contentsOfFile: sdir + "/enforce.log", encoding: .utf8)) ?? "" }
        guard TestHost.eventually(15, { enforceLog().contains("authorised tier 1") }) else {
            throw SandboxError("the enforcer did not see tier 1: \(enforceLog())")
        }

        let ids = (0..<jobs).map { _ in slurm.sbatch(["-p", "gpu", "--comment", "tier=1"]) }
        func all(_ state: String) -> Bool {
            let s = slurm.states()
            return ids.allSatisfy { s[$0] == state }
        }
        guard !ids.contains(""), TestHost.eventually(60, { all("RUNNING") }) else {
            throw SandboxError("the jobs did not start: \(slurm.states()) \(slurm.logs())")
        }
        /// Milliseconds from `start` until squeue shows every job in `state` (polled as fast as squeue answers).
        func until(_ state: String, from start: UInt64, timeout: Double = 30) -> Double? {
            guard TestHost.eventually(timeout, every: 5_000, { all(state) }) else { return nil }
            return Double(Bench.monotonicNs() - start) / 1e6
        }

        // Baseline: an operator's script suspends the same jobs, one `scontrol suspend` each, from a shell (so that
        // the figure is Slurm's own cost, not this process's spawning).
        var baseline: [Double] = []
        let list = ids.joined(separator: " ")
        for _ in 0..<rounds {
            let start = Bench.monotonicNs()
            _ = slurm.run("/bin/sh", ["-c", "for j in \(list); do /usr/bin/scontrol suspend $j; done"])
            if let ms = until("SUSPENDED", from: start) { baseline.append(ms) }
            _ = slurm.run("/bin/sh", ["-c", "for j in \(list); do /usr/bin/scontrol resume $j; done"])
            _ = until("RUNNING", from: start)
        }

        // Halts through Tiergate: each by a member in turn, then lifted by a resume quorum (3 of 5).
        let client = try NodeClient(endpoint: Endpoint(host: "127.0.0.1", port: nodes.ports[0]), genesis: doc.roster.hash, identity: keys[0])
        defer { client.close() }
        func sign(_ i: Int, _ body: EntryBody) -> SignedEntry {
            let head = nodes.heads[i] ?? (0, .zero)
            let e = SignedEntry(signing: Entry(lab: doc.roster.lab, genesis: doc.roster.hash, rosterVersion: 1, author: keys[i].publicKey,
                                               seq: head.0 + 1, prev: head.1, time: SystemClock.nowMs(), body: body), with: keys[i])
            nodes.heads[i] = (e.entry.seq, e.id)
            return e
        }
        var samples: [Double] = []
        var missed = 0
        for round in 0..<rounds {
            let halt = sign(3 + round % 2, .halt(Halt(reason: "bench halt \(round)")))
            let start = Bench.monotonicNs()
            _ = try client.submit(halt)
            if let ms = until("SUSPENDED", from: start) { samples.append(ms) } else { missed += 1 }
            let resume = sign(0, .proposal(Proposal(action: .resume(tier: 1, halts: [halt.id]), title: "resume \(round)",
                                                    closesAt: SystemClock.nowMs() + 86_400_000)))
            _ = try client.submit(resume)
            for v in 0..<3 { _ = try client.submit(sign(v, .vote(Vote(proposal: resume.id, choice: .yes)))) }
            guard until("RUNNING", from: Bench.monotonicNs(), timeout: 60) != nil else {
                throw SandboxError("the jobs did not run again after resume \(round): \(slurm.states()) \(enforceLog().suffix(2000))")
            }
        }
        let t = Bench.percentiles(samples)
        let b = Bench.percentiles(baseline)
        say("  through tiergate slurm enforce: all \(jobs) suspended after p50 \(fmt(t.p50)) ms, p99 \(fmt(t.p99)) ms, max \(fmt(t.max)) ms (\(samples.count) of \(rounds) halts; goal p99 ≤ 2,000 ms)")
        say("  baseline: a shell loop of scontrol suspend, same jobs: p50 \(fmt(b.p50)) ms, p99 \(fmt(b.p99)) ms")
        say("  ratio of p99s: \(fmt(t.p99 / b.p99, 2))")
        return .object([
            ("jobs", .int(jobs)), ("halts", .int(rounds)), ("suspended_within_30s", .int(samples.count)), ("missed", .int(missed)),
            ("p50_ms", .number(fmt(t.p50, 3))), ("p99_ms", .number(fmt(t.p99, 3))), ("max_ms", .number(fmt(t.max, 3))),
            ("baseline_scontrol_p50_ms", .number(fmt(b.p50, 3))), ("baseline_scontrol_p99_ms", .number(fmt(b.p99, 3))),
            ("ratio", .number(fmt(t.p99 / b.p99, 3))),
        ])
    }
}
