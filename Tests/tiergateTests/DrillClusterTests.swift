import Foundation
import Testing
import TiergateCore
import TiergateTestKit

/// Halt drills end to end (issue 18): five member nodes, three gates and the Slurm enforcer of a real Slurm, each
/// with its own observer key. Every acknowledgement reaches the ledger with its time to stop and verifies offline;
/// a canary gate and a canary Slurm job are really stopped; an enforcer that is down shows as missing; and with
/// lapse_on_overdue, `token` and `check` deny above the base tier until a drill has succeeded and once one is overdue.
@Suite(.serialized) struct DrillClusterTests {
    static let members = [("alice", "leader"), ("bob", "safety"), ("carol", "board"), ("dave", "auditor"), ("erin", "staff")]
    static let enforcers = ["gate-a", "gate-b", "gate-c", "slurm"]

    /// Nine keys; a roster whose policy makes a successful drill due hourly (20 s to acknowledge) and suspends
    /// authorisation above the base tier while one is overdue; tokens live 2 h (so a token outlives the due time).
    static func lab(_ w: Workdir) throws {
        for n in members.map(\.0) + enforcers { #expect(try w.tg("keygen", "--name", n, "--out", "keys").code == 0) }
        w.write("policy.json", Array(#"{"token_ttl": "2h", "drill": {"interval": "1h", "deadline": "20s", "lapse_on_overdue": true}}"#.utf8))
        var args = ["roster", "init", "--lab", "acme", "--out", "roster.json", "--policy", "policy.json"]
        for (n, role) in members { args += ["--member", "\(n):keys/\(n).pub:\(role)"] }
        for n in enforcers { args += ["--member", "\(n):keys/\(n).pub:observer"] }
        let r = try w.tg(args)
        #expect(r.code == 0, "\(r.stderr)")
        for n in members.map(\.0) + enforcers { #expect(try w.tg("roster", "sign", "roster.json", "--key", "keys/\(n).key").code == 0) }
        let show = try w.tg("roster", "show", "roster.json")
        #expect(show.stdout.contains("drills:") && show.stdout.contains("gate-a, gate-b, gate-c, slurm"), "\(show.stdout)")
    }

    @Test func drillsAcrossFiveNodesThreeGatesAndSlurm() throws {
        if let why = SlurmSandbox.ensureInstalled() { return CI.skipOrFail("DrillClusterTests", why) }
        let w = Workdir()
        try Self.lab(w)
        var nodes: [NodeProcess] = []
        defer { nodes.forEach { $0.terminate() } }
        for (i, n) in Self.members.map(\.0).enumerated() {
            nodes.append(try NodeProcess(in: w.path, args: ["node", "--data", "n\(i)", "--listen", "127.0.0.1:0", "--roster", "roster.json",
                                                          "--key", "keys/\(n).key", "--anti-entropy-interval", "200ms"] + nodes.flatMap { ["--peer", $0.address] }))
        }
        let ask = ["--roster", "roster.json", "--key", "keys/dave.key"]
        func status(_ i: Int = 0) throws -> JSONValue { try w.tg(["status", "--node", nodes[i].address, "--json"] + ask).json() }

        // Tier 1 passes, but no drill has succeeded yet: the lab rests at its base tier, and no token is issued.
        let p = try w.tg("propose", "--tier", "1", "--title", "t1", "--key", "keys/alice.key", "--roster", "roster.json", "--node", nodes[0].address).lastLine
        for v in ["alice", "bob", "carol"] {
            #expect(try w.tg("vote", p, "--yes", "--key", "keys/\(v).key", "--roster", "roster.json", "--node", nodes[0].address).code == 0)
        }
        #expect(try ClusterTests().eventually(20) {
            guard case .array(let ps)? = try status(4)["proposals"] else { return false }
            return ps.first?["passed"] == .bool(true)
        })
        var st = try status()
        #expect(st["authorized_tier"] == .number("0") && st["drill_schedule"]?["overdue"] == .bool(true), "\(st)")
        let text = try w.tg(["status", "--node", nodes[0].address] + ask).stdout
        #expect(text.contains("DRILL OVERDUE") && text.contains("no drill has succeeded yet"), "\(text)")
        let refused = try w.tg(["token", "--node", nodes[0].address, "--tier", "1", "--out", "t1.token"] + ask)
        #expect(refused.code == 1, "no token above the base tier before a successful drill: \(refused.stderr)")

        // The enforcers: three gates at the base tier (gate-c's job is a canary) and the Slurm enforcer, each with
        // its own observer key, each watching two or three members' nodes.
        func gate(_ name: String, _ watch: [Int], canary: Bool = false) throws -> Process {
            try CLI.background(["gate", "--tier", "0", "--roster", "roster.json", "--key", "keys/\(name).key", "--grace", "2"]
                                   + watch.flatMap { ["--node", nodes[$0].address] } + (canary ? ["--canary"] : []) + ["--", "sleep", "600"],
                               in: w.path, stderr: w.file("\(name).log"))
        }
        let gates = [try gate("gate-a", [0, 1]), try gate("gate-b", [1, 2]), try gate("gate-c", [3, 4], canary: true)]
        defer { gates.forEach { $0.stopAndWait() } }
        for (i, name) in ["gate-a", "gate-b", "gate-c"].enumerated() {
            #expect(ClusterTests().eventually(20) { w.text("\(name).log").contains("started sleep") }, "\(name): \(w.text("\(name).log"))")
            #expect(gates[i].isRunning)
        }
        let slurm = try SlurmSandbox(dir: w.path + "/slurm", prolog: nil)
        defer { slurm.stop() }
        w.write("slurm.json", Array("""
            { "roster": "\(w.file("roster.json"))", "key": "\(w.file("keys/slurm.key"))",
              "nodes": ["\(nodes[2].address)", "\(nodes[3].address)"], "action": "suspend", "canary_partition": "canary" }
            """.utf8))
        let enforcer = try CLI.background(["slurm", "enforce", "--config", w.file("slurm.json")], in: w.path, stderr: w.file("enforce.log"), env: slurm.env)
        defer { enforcer.stopAndWait() }
        #expect(ClusterTests().eventually(20) { w.text("enforce.log").contains("authorised tier 0") }, "\(w.text("enforce.log"))")
        let baseJob = slurm.sbatch(["-p", "main", "--comment", "tier=0"])
        #expect(ClusterTests().eventually(20) { slurm.job(baseJob).state == "RUNNING" }, "\(slurm.job(baseJob))")

        // Drill 1, delivered to two members' nodes; --wait prints the report once every enforcer has acknowledged.
        let d1 = try w.tg("drill", "--reason", "first drill", "--key", "keys/bob.key", "--roster", "roster.json",
                          "--node", nodes[0].address, "--node", nodes[1].address, "--wait", "--json")
        #expect(d1.code == 0, "drill 1 succeeded: \(d1.stdout) \(d1.stderr)\ngate-a: \(w.text("gate-a.log"))\ngate-c: \(w.text("gate-c.log"))\nslurm: \(w.text("enforce.log"))")
        let report1 = try d1.json()
        guard case .string(let drill1)? = report1["drill"]?["id"], case .array(let acks1)? = report1["drill"]?["acks"] else {
            Issue.record("no drill report: \(d1.stdout)")
            return
        }
        #expect(Set(acks1.compactMap { if case .string(let m)? = $0["member"] { return m } else { return nil } }) == Set(Self.enforcers))
        for a in acks1 {
            #expect(a["on_time"] == .bool(true) && a["expected"] == .bool(true), "\(a)")
            if case .number(let ms)? = a["latency_ms"], case .string(let m)? = a["member"] { print("drill: \(m) stopped in \(ms) ms") }
        }
        // The canary gate really stopped its job and exited 76; the other gates' jobs run on.
        #expect(acks1.contains { $0["member"] == .string("gate-c") && $0["canary"] == .string("stopped") && $0["jobs"] == .number("1") })
        #expect(ClusterTests().eventually(20) { !gates[2].isRunning }, "\(w.text("gate-c.log"))")
        #expect(gates[2].terminationStatus == 76, "\(w.text("gate-c.log"))")
        #expect(gates[0].isRunning && gates[1].isRunning, "a drill is not a halt")
        #expect(acks1.contains { $0["member"] == .string("gate-a") && $0["jobs"] == .number("1") && $0["canary"] == .string("none") })
        #expect(acks1.contains { $0["member"] == .string("slurm") && $0["jobs"] == .number("0") }, "a base-tier job is not stopped by a halt")
        #expect(slurm.job(baseJob).state == "RUNNING")

        // The drill succeeded: tier 1 is authorised, a token is issued and checks; until the drill falls due.
        #expect(try ClusterTests().eventually(20) { try status(4)["authorized_tier"] == .number("1") })
        let token = try w.tg(["token", "--node", nodes[0].address, "--tier", "1", "--out", "t1.token"] + ask)
        #expect(token.code == 0, "\(token.stderr)")
        #expect(try w.tg("check", "--tier", "1", "--token", "t1.token", "--roster", "roster.json").code == 0)
        st = try status()
        guard case .string(let due)? = st["drill_schedule"]?["due_at"], let dueMs = TimeText.parse(due) else {
            Issue.record("no due time: \(st)")
            return
        }
        #expect(st["lapses_at"] == .string(due), "the due time is a lapse every enforcer applies at its own clock")
        #expect(try w.tg("check", "--tier", "1", "--token", "t1.token", "--roster", "roster.json", "--at", TimeText.format(dueMs - 1_000)).code == 0)
        let overdue = try w.tg("check", "--tier", "1", "--token", "t1.token", "--roster", "roster.json", "--at", TimeText.format(dueMs + 1_000), "--json")
        #expect(overdue.code == 1, "an overdue drill suspends tier 1 for the offline checker too: \(overdue.stdout) \(overdue.stderr)")

        // Drill 2 with gate-b down: the Slurm canary (tier 1, canary partition) is suspended for real, the other
        // tier-1 job only counted; gate-b and gate-c (which stopped after drill 1) show as missing, and it fails.
        gates[1].stopAndWait()
        let canaryJob = slurm.sbatch(["-p", "canary", "--comment", "tier=1"])
        let tier1Job = slurm.sbatch(["-p", "main", "--comment", "tier=1"])
        #expect(ClusterTests().eventually(20) { slurm.job(canaryJob).state == "RUNNING" && slurm.job(tier1Job).state == "RUNNING" },
                "\(slurm.job(canaryJob)) \(slurm.job(tier1Job)) \(w.text("enforce.log"))")
        let d2 = try w.tg("drill", "--reason", "second drill", "--key", "keys/alice.key", "--roster", "roster.json",
                          "--node", nodes[4].address, "--node", nodes[3].address, "--wait")
        #expect(d2.code == 1, "drill 2 failed: \(d2.stdout) \(d2.stderr)")
        #expect(d2.stdout.contains("gate-b") && d2.stdout.contains("MISSING") && d2.stdout.contains("gate-c"), "\(d2.stdout)")
        #expect(ClusterTests().eventually(20) { slurm.job(canaryJob).state == "SUSPENDED" }, "\(slurm.job(canaryJob)) \(w.text("enforce.log"))")
        #expect(slurm.job(tier1Job).state == "RUNNING" && slurm.job(baseJob).state == "RUNNING", "a drill stops only canaries")
        #expect(ClusterTests().eventually(5) { slurm.job(canaryJob).state == "SUSPENDED" && slurm.job(canaryJob).comment.contains("drill canary") },
                "the enforcer does not resume a canary: \(slurm.job(canaryJob))")
        let text2 = try w.tg(["status", "--node", nodes[2].address] + ask).stdout
        #expect(text2.contains("FAILED") && text2.contains("gate-b: MISSING") && text2.contains("canary stopped"), "\(text2)")
        #expect(try status(2)["authorized_tier"] == .number("1"), "a failed drill does not undo the last success before it falls due")

        // Offline: the ledger of node 4, which no enforcer delivered to directly for drill 1, holds every
        // acknowledgement; `ledger verify` and `drill report --ledger` recompute them from the signed entries.
        #expect(try w.tg(["ledger", "export", "--node", nodes[4].address, "--out", "lab.ledger"] + ask).code == 0)
        let verify = try w.tg("ledger", "verify", "lab.ledger", "--roster", "roster.json", "--json")
        #expect(verify.code == 0, "\(verify.stdout)")
        guard case .array(let drills)? = try verify.json()["verdict"]?["drills"] else {
            Issue.record("no drills in ledger verify: \(verify.stdout)")
            return
        }
        #expect(drills.count == 2 && drills[0]["state"] == .string("succeeded") && drills[1]["state"] == .string("failed"), "\(drills)")
        let offline = try w.tg("drill", "report", drill1, "--ledger", "lab.ledger", "--roster", "roster.json")
        #expect(offline.code == 0, "\(offline.stdout) \(offline.stderr)")
        for e in Self.enforcers { #expect(offline.stdout.contains(e), "\(offline.stdout)") }
        #expect(offline.stdout.contains("time to stop") && offline.stdout.contains(" ms"), "\(offline.stdout)")
    }
}
