import Foundation
import Testing
import TiergateCore
import TiergateTestKit

/// Anonymous halts end to end (SPEC.md §2.5, §5.4, §8.3, §10.2): a member signs one to a file, the cluster's observer
/// key submits it to two members' nodes, every node and the exported ledger show it as anonymous, tokens are refused,
/// a resume quorum lifts it, and a second one in the same period is reported as key-image reuse.
@Suite(.serialized) struct AnonymousHaltCLITests {
    static let policy = #"{"halt_roles": ["board", "leader", "safety", "staff"], "anonymous_halts": {"per_period": 1, "period": "1d"}}"#

    @Test func anAnonymousHaltStopsTheLabWithoutNamingItsSigner() throws {
        let w = Workdir()
        try w.lab(policy: Self.policy, observers: ["cluster"])
        #expect(w.text("roster.json").contains("tiergate-roster-v4"))
        let shown = try w.tg("roster", "show", "roster.json")
        #expect(shown.stdout.contains("anonymous halts: 1 per member per 1d"), "\(shown.stdout)")
        var nodes: [NodeProcess] = []
        defer { nodes.forEach { $0.terminate() } }
        for (i, n) in ["alice", "bob"].enumerated() {
            nodes.append(try NodeProcess(in: w.path, args: ["node", "--data", "n\(i)", "--listen", "127.0.0.1:0", "--roster", "roster.json",
                                                          "--key", "keys/\(n).key", "--anti-entropy-interval", "200ms"] + nodes.flatMap { ["--peer", $0.address] }))
        }
        let ask = ["--roster", "roster.json", "--key", "keys/cluster.key"]
        func status(_ i: Int) throws -> JSONValue { try w.tg(["status", "--node", nodes[i].address, "--json"] + ask).json() }
        let p = try w.tg("propose", "--tier", "1", "--title", "t1", "--key", "keys/alice.key", "--roster", "roster.json", "--node", nodes[0].address).lastLine
        for v in ["alice", "bob", "carol"] {
            #expect(try w.tg("vote", p, "--yes", "--key", "keys/\(v).key", "--roster", "roster.json", "--node", nodes[0].address).code == 0)
        }
        #expect(TestHost.eventually(10) { (try? status(1))?["authorized_tier"] == .uint(1) })

        // Wrong ways first: delivering it yourself, an agent-held key, a member without halt authority.
        let direct = try w.tg("halt", "--anonymous", "--reason", "x", "--key", "keys/erin.key", "--roster", "roster.json", "--node", nodes[0].address)
        #expect(direct.code != 0 && direct.stderr.contains("only written with --out"), "\(direct.stderr)")
        let agent = try w.tg("halt", "--anonymous", "--reason", "x", "--key", "ssh-agent:SHA256:x", "--roster", "roster.json", "--out", "a.entry")
        #expect(agent.code == 2 && agent.stderr.contains("ssh-agent never gives out"), "\(agent.stderr)")
        let auditor = try w.tg("halt", "--anonymous", "--reason", "x", "--key", "keys/dave.key", "--roster", "roster.json", "--out", "d.entry")
        #expect(auditor.code == 1 && !FileManager.default.fileExists(atPath: w.file("d.entry")), "\(auditor.stderr)")

        // erin signs it to a file; the cluster's observer key carries it to two members' nodes.
        let signed = try w.tg("halt", "--anonymous", "--reason", "unsafe eval result", "--key", "keys/erin.key", "--roster", "roster.json", "--out", "halt.entry")
        #expect(signed.code == 0, "\(signed.stderr)")
        #expect(signed.stderr.contains("4 members who may halt"), "\(signed.stderr)")
        let haltId = signed.lastLine
        let submit = try w.tg(["submit", "halt.entry", "--node", nodes[0].address, "--node", nodes[1].address] + ask)
        #expect(submit.code == 0, "\(submit.stderr)")
        for i in 0..<2 {
            let s = try status(i)
            #expect(s["halted"] == .bool(true))
            guard case .array(let halts)? = s["halts"], let h = halts.first else { Issue.record("no halt at node \(i)"); continue }
            #expect(h["id"] == .string(haltId) && h["anonymous"] == .bool(true) && h["ring_size"] == .int(4))
            #expect(h["member"] == .string("anonymous (one of 4 members who may halt)"))
        }
        let text = try w.tg(["status", "--node", nodes[1].address] + ask)
        #expect(text.stdout.contains("by anonymous (one of 4 members who may halt)") && !text.stdout.contains("erin"), "\(text.stdout)")
        // Nothing in the exported ledger names erin as its author; it verifies offline and shows the halt.
        #expect(try w.tg(["ledger", "export", "--node", nodes[1].address, "--out", "lab.ledger"] + ask).code == 0)
        let verify = try w.tg("ledger", "verify", "lab.ledger", "--roster", "roster.json", "--json")
        #expect(verify.code == 0, "\(verify.stdout)")
        #expect(try verify.json()["verdict"]?["halted"] == .bool(true))
        // No token while it is in force.
        #expect(try w.tg(["token", "--node", nodes[0].address, "--tier", "1", "--out", "t.token"] + ask).code == 1)

        // A second anonymous halt by erin in the same period (quota 1): the CLI, reading the ledger, says it reuses a
        // key image; the nodes keep both and report the reuse, without naming erin.
        let again = try w.tg("halt", "--anonymous", "--reason", "still unsafe", "--key", "keys/erin.key", "--roster", "roster.json",
                             "--view", "lab.ledger", "--out", "again.entry")
        #expect(again.code == 0 && again.stderr.contains("reuses a key image"), "\(again.stderr)")
        #expect(try w.tg(["submit", "again.entry", "--node", nodes[0].address, "--node", nodes[1].address] + ask).code == 0)
        let reuse = try w.tg(["status", "--node", nodes[0].address] + ask)
        #expect(reuse.stdout.contains("KEY IMAGE REUSE"), "\(reuse.stdout)")

        // Only the resume quorum lifts them.
        let r = try w.tg("propose", "--resume", haltId, "--resume", again.lastLine, "--tier", "1", "--title", "resume", "--key", "keys/alice.key",
                         "--roster", "roster.json", "--node", nodes[0].address)
        #expect(r.code == 0, "\(r.stderr)")
        for v in ["alice", "bob", "carol"] {
            #expect(try w.tg("vote", r.lastLine, "--yes", "--key", "keys/\(v).key", "--roster", "roster.json", "--node", nodes[0].address).code == 0)
        }
        #expect(TestHost.eventually(10) { (try? status(1))?["halted"] == .bool(false) })
        #expect(try status(1)["authorized_tier"] == .uint(1))
    }

    /// A node takes an anonymous halt by SUBMIT only in its period or the next, by its own clock; from a peer it takes
    /// one dated anywhere, but says so (SPEC.md §8.3, §8.8). Here the member's machine and the node it submits to both
    /// run three days slow — as a member who runs a node could set them to date a halt into a period whose quota is
    /// unspent — and the correct node that has it by gossip logs a warning naming that node and counts it.
    @Test func aPeerThatDatesAnAnonymousHaltIntoAnotherPeriodIsReported() throws {
        guard let faketime = ClockTests.faketime else {
            Issue.record("faketime is missing: run scripts/setup (it installs Debian's faketime)")
            return
        }
        let w = Workdir()
        try w.lab(policy: Self.policy, observers: ["cluster"])
        let slow = ["-f", "-3d"]
        let skewed = try NodeProcess(in: w.path, args: ["node", "--data", "skewed", "--listen", "127.0.0.1:0", "--roster", "roster.json", "--key", "keys/alice.key"],
                                     wrapper: (faketime, slow), environment: ["DONT_FAKE_MONOTONIC": "1"])
        defer { skewed.terminate() }
        let correct = try NodeProcess(in: w.path, args: ["node", "--data", "correct", "--listen", "127.0.0.1:0", "--roster", "roster.json", "--key", "keys/bob.key",
                                                       "--http", "127.0.0.1:0", "--anti-entropy-interval", "200ms", "--peer", skewed.address])
        defer { correct.terminate() }
        let httpLine = correct.nextLine()
        #expect(httpLine.hasPrefix("http on "), "\(httpLine)")
        let ask = ["--roster", "roster.json", "--key", "keys/cluster.key"]

        let signed = try CLI.run(slow + [CLI.binary, "halt", "--anonymous", "--reason", "dated three days back", "--key", "keys/erin.key",
                                         "--roster", "roster.json", "--out", "old.entry"], in: w.path, executable: faketime)
        #expect(signed.code == 0, "\(signed.stderr)")
        // The correct node refuses it by SUBMIT; the skewed one takes it, and gossip brings it to the correct one.
        let refused = try w.tg(["submit", "old.entry", "--node", correct.address] + ask)
        #expect(refused.code != 0 && refused.stderr.contains("before the previous period"), "\(refused.stderr)")
        #expect(try w.tg(["submit", "old.entry", "--node", skewed.address] + ask).code == 0)
        #expect(TestHost.eventually(20) { (try? w.tg(["status", "--node", correct.address, "--json"] + ask).json())?["halted"] == .bool(true) },
                "the correct node holds it and it counts")
        #expect(TestHost.eventually(10) { correct.log.contains("outside the window a SUBMIT is held to") }, "\(correct.log.suffix(2000))")
        let warning = correct.log.split(separator: "\n").first { $0.contains("outside the window a SUBMIT is held to") }.map(String.init) ?? ""
        #expect(warning.contains(signed.lastLine) && warning.contains("peer.member=alice") && warning.contains("127.0.0.1") && warning.contains("before the previous period"), "\(warning)")
        #expect(!skewed.log.contains("outside the window"), "the node that took it by SUBMIT had it in its window")
        let metrics = OperationsTests.http("GET", "http://" + String(httpLine.dropFirst("http on ".count)) + "/metrics")
        #expect(metrics.body.contains("tiergate_anonymous_halts_out_of_window_total 1"), "\(metrics.body.prefix(4000))")
    }
}
