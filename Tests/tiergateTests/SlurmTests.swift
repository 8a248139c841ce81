import Foundation
import Testing
import TiergateCore
import TiergateTestKit

/// Enforcement through a real Slurm (issue 16): munge, slurmctld and slurmd from Debian on this host (installed if
/// missing, started here and stopped afterwards), with `tiergate slurm prolog` as PrologSlurmctld and `tiergate slurm
/// enforce` watching two of three real node processes. Under CI=true a machine where Slurm cannot run fails loudly.
@Suite(.serialized) struct SlurmTests {
    @Test func haltsStopSlurmJobsAndRefusalsNeverDrainTheNode() throws {
        if let why = SlurmSandbox.ensureInstalled() { return CI.skipOrFail("SlurmTests", why) }
        let w = Workdir()
        try w.lab()

        // Three Tiergate nodes; the enforcer and the prolog use two of them, as dave (the cluster's key here).
        let names = ["alice", "bob", "carol"]
        var nodes: [NodeProcess] = []
        defer { nodes.forEach { $0.terminate() } }
        for i in 0..<3 {
            nodes.append(try NodeProcess(in: w.path, args: ["node", "--data", "n\(i)", "--listen", "127.0.0.1:0", "--roster", "roster.json",
                                                          "--key", "keys/\(names[i]).key", "--anti-entropy-interval", "200ms"] + nodes.flatMap { ["--peer", $0.address] }))
        }
        let config = """
            { "roster": "\(w.file("roster.json"))", "key": "\(w.file("keys/dave.key"))",
              "nodes": ["\(nodes[0].address)", "\(nodes[1].address)"], "protected_partitions": ["gpu"], "action": "suspend" }
            """
        w.write("slurm.json", Array(config.utf8))
        let slurm = try SlurmSandbox(dir: w.path + "/slurm", prolog: "exec \(CLI.binary) slurm prolog --config \(w.file("slurm.json"))")
        defer { slurm.stop() }
        let env = slurm.env
        func job(_ id: String) -> (state: String, reason: String, comment: String) { slurm.job(id) }
        func sbatch(_ args: [String]) -> String { slurm.sbatch(args) }

        // 1. Paused by default, before the enforcer runs: the prolog refuses a tier-1 job and holds it, with the
        //    reason where its owner sees it; the node is not drained.
        let first = slurm.sbatch(["-p", "main", "--comment", "tier=1", "-o", w.file("first.out"), "-e", w.file("first.err")])
        #expect(ClusterTests().eventually(20) { job(first).comment.contains("refused: tier 1") }, "\(job(first))")
        #expect(ClusterTests().eventually(20) { job(first).reason.contains("Held") }, "\(job(first))")
        // … and in the job's own stderr file, written as its owner, before the job ever ran.
        #expect(w.text("first.err").contains("tiergate: job \(first) refused: tier 1"))
        // An interactive srun is refused with the reason on its own stderr, and ends (not left waiting).
        let srun = TestHost.sh("/usr/bin/timeout", ["60", "/usr/bin/srun", "-p", "main", "--comment", "tier=2", "/bin/true"], env: env)
        #expect(srun.code != 0 && srun.code != 124, "srun exited \(srun.code): \(srun.out)")
        #expect(srun.out.contains("refused: tier 2") && srun.out.contains("issues no token for tier 2"), "the reason reaches srun's user: \(srun.out)")
        #expect(!slurm.drained, "a refusal never drains the node")
        // A tier read from one exact place: `frontier=5` in a job name or comment is not a tier, and a malformed one is refused.
        let malformed = sbatch(["-p", "main", "--comment", "tier=x"])
        #expect(ClusterTests().eventually(20) { job(malformed).comment.contains("is not a tier") }, "\(job(malformed))")
        #expect(ClusterTests().eventually(20) { job(malformed).reason.contains("Held") }, "\(job(malformed))")

        // The enforcer, as a service.
        let enforcer = try CLI.background(["slurm", "enforce", "--config", w.file("slurm.json")], in: w.path, stderr: w.file("enforce.log"), env: env)
        defer { enforcer.stopAndWait() }
        func enforced() -> String { w.text("enforce.log") }

        // 2. Tier 1 passes (3 of 5 at node 0): the enforcer releases the held job, and the prolog admits it.
        let p = try w.tg("propose", "--tier", "1", "--title", "t1", "--key", "keys/alice.key", "--roster", "roster.json", "--node", nodes[0].address).lastLine
        for v in ["alice", "bob", "carol"] {
            #expect(try w.tg("vote", p, "--yes", "--key", "keys/\(v).key", "--roster", "roster.json", "--node", nodes[0].address).code == 0)
        }
        #expect(ClusterTests().eventually(30) { job(first).state == "RUNNING" }, "\(job(first)) \(enforced())")
        // An undeclared job on the protected partition counts as the highest tier: refused.
        let undeclared = sbatch(["-p", "gpu"])
        // (Held by whichever acts first: the enforcer, seeing it pending above the authorised tier, or the prolog.)
        #expect(ClusterTests().eventually(20) { job(undeclared).comment.contains("tier 4 is above") || job(undeclared).comment.contains("refused: tier 4") }, "\(job(undeclared))")
        #expect(job(undeclared).state == "PENDING")
        // An undeclared job elsewhere runs at the base tier.
        let base = sbatch(["-p", "main"])
        #expect(ClusterTests().eventually(20) { job(base).state == "RUNNING" }, "\(job(base))")

        // 3. A halt at node 2 (not watched by the enforcer): the running tier-1 job is suspended; the base job runs on.
        let halted = Date()
        let h = try w.tg("halt", "--reason", "stop the cluster", "--key", "keys/erin.key", "--roster", "roster.json", "--node", nodes[2].address, "--json")
        #expect(h.code == 0, "\(h.stderr)")
        #expect(ClusterTests().eventually(20) { job(first).state == "SUSPENDED" }, "\(job(first)) \(enforced())")
        print("slurm: halt submitted → running tier-1 job suspended after \(Int(Date().timeIntervalSince(halted) * 1000)) ms (goal: within 5 s)")
        #expect(job(first).comment.contains("suspended") && enforced().contains("stop the cluster"), "\(job(first)) \(enforced())")
        #expect(job(base).state == "RUNNING", "base-tier work is not stopped")

        // 4. A resume quorum (3 of 5): the suspended job runs again.
        let st = try w.tg("status", "--node", nodes[0].address, "--roster", "roster.json", "--key", "keys/dave.key", "--json").json()
        guard case .array(let hs)? = st["halts"], case .string(let haltID)? = hs.first?["id"] else {
            Issue.record("no halt id")
            return
        }
        let r = try w.tg("propose", "--tier", "1", "--title", "resume", "--resume", haltID, "--key", "keys/bob.key", "--roster", "roster.json", "--node", nodes[0].address).lastLine
        for v in ["alice", "bob", "carol"] {
            #expect(try w.tg("vote", r, "--yes", "--key", "keys/\(v).key", "--roster", "roster.json", "--node", nodes[0].address).code == 0)
        }
        #expect(ClusterTests().eventually(30) { job(first).state == "RUNNING" }, "\(job(first)) \(enforced())")
        #expect(!slurm.drained, "never drained")
    }
}
