import Foundation
import Testing
import TiergateCore

/// Signing with a wrong clock, with the real binary under libfaketime (Debian's `faketime`, which scripts/setup
/// installs): a key whose last entry was signed with a clock two hours fast never dates a vote or proposal ahead
/// silently (it would not count for two hours); a halt is dated at the feed time, said, and counts at once.
struct ClockTests {
    static let faketime: String? = ["/usr/bin/faketime", "/usr/local/bin/faketime"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }


    @Test func aFeedDatedAheadIsNeverSignedAheadSilently() throws {
        guard let faketime = Self.faketime else {
            Issue.record("faketime is missing: run scripts/setup (it installs Debian's faketime)")
            return
        }
        let w = Workdir()
        try w.lab()
        let fast = try CLI.run(["-f", "+2h", CLI.binary, "propose", "--tier", "1", "--title", "signed with a fast clock",
                                "--key", "keys/alice.key", "--roster", "roster.json", "--ledger", "L"],
                               in: w.path, executable: faketime)
        #expect(fast.code == 0, "\(fast.stderr)")

        let vote = try w.tg("vote", fast.lastLine, "--yes", "--key", "keys/alice.key", "--roster", "roster.json", "--ledger", "L")
        #expect(vote.code == 2)
        #expect(vote.stderr.contains("ahead of this machine's clock") && vote.stderr.contains("would not count"), "\(vote.stderr)")
        #expect(vote.stderr.contains("1 h 59 min") || vote.stderr.contains("2 h 0 min"), "\(vote.stderr)")

        let halt = try w.tg("halt", "--reason", "stop", "--key", "keys/alice.key", "--roster", "roster.json", "--ledger", "L", "--json")
        #expect(halt.code == 0, "\(halt.stderr)")
        #expect(halt.stderr.contains("the halt is dated then") && halt.stderr.contains("counts at once"))
        // It counts now, though dated two hours ahead (SPEC.md §5.4).
        let status = try w.tg("status", "--ledger", "L", "--roster", "roster.json", "--json").json()
        #expect(status["halted"] == .bool(true))
    }
}

/// A node whose clock is 3 minutes slow (1 minute past the 2-minute max_skew), as real processes under libfaketime
/// (SPEC.md §5.4, §8.5, §9.5): a halt signed at a correct clock counts there at once, so `check` asking only the slow
/// node denies and a gate watching only the slow node stops its running job; and the slow node, seeing its peer's
/// clock 3 minutes ahead, says so in status and log and refuses to issue tokens or attest (fail closed). The lab's
/// policy lets one node's attestation make a token, so the gate can start from the correct node's token.
@Suite(.serialized) struct SlowNodeTests {
    @Test func aSlowNodeFailsClosed() throws {
        guard let faketime = ClockTests.faketime else {
            Issue.record("faketime is missing: run scripts/setup (it installs Debian's faketime)")
            return
        }
        let w = Workdir()
        let members = [("alice", "leader"), ("bob", "safety"), ("carol", "board"), ("dave", "auditor"), ("erin", "staff")]
        for (n, _) in members { #expect(try w.tg("keygen", "--name", n, "--out", "keys").code == 0) }
        w.write("policy.json", Array(#"{ "freshness": { "min_attesters": 1 } }"#.utf8))
        #expect(try w.tg(["roster", "init", "--lab", "acme", "--out", "roster.json", "--policy", "policy.json"]
                         + members.flatMap { ["--member", "\($0.0):keys/\($0.0).pub:\($0.1)"] }).code == 0)
        for (n, _) in members { #expect(try w.tg("roster", "sign", "roster.json", "--key", "keys/\(n).key").code == 0) }

        // Two nodes with correct clocks (so each sees one peer in step and is not the odd one out), one slow.
        let correct = try NodeProcess(in: w.path, args: ["node", "--data", "ok", "--listen", "127.0.0.1:0", "--roster", "roster.json", "--key", "keys/alice.key"])
        defer { correct.terminate() }
        let second = try NodeProcess(in: w.path, args: ["node", "--data", "ok2", "--listen", "127.0.0.1:0", "--roster", "roster.json", "--key", "keys/carol.key",
                                                        "--peer", correct.address])
        defer { second.terminate() }
        // Only the wall clock is 3 minutes slow; NIO's timers run on the monotonic clock, which stays true.
        let slow = try NodeProcess(in: w.path, args: ["node", "--data", "slow", "--listen", "127.0.0.1:0", "--roster", "roster.json", "--key", "keys/bob.key",
                                                      "--peer", correct.address, "--peer", second.address],
                                   wrapper: (faketime, ["-f", "-3m"]), environment: ["DONT_FAKE_MONOTONIC": "1"])
        defer { slow.terminate() }
        func status(_ n: NodeProcess) throws -> JSONValue? {
            let r = try w.tg("status", "--node", n.address, "--roster", "roster.json", "--key", "keys/dave.key", "--json")
            return r.code == 0 ? try r.json() : nil
        }
        // Tier 1, proposed and voted 5 minutes ago (so the slow node, 3 minutes behind, counts it too: entries dated
        // beyond its clock + max_skew would wait), at the correct node; the slow node has it by gossip.
        let past = ["-f", "-5m", CLI.binary]
        let p = try CLI.run(past + ["propose", "--tier", "1", "--title", "t1", "--key", "keys/alice.key", "--roster", "roster.json", "--node", correct.address],
                            in: w.path, executable: faketime).lastLine
        for v in ["alice", "bob", "carol"] {
            #expect(try CLI.run(past + ["vote", p, "--yes", "--key", "keys/\(v).key", "--roster", "roster.json", "--node", correct.address],
                                in: w.path, executable: faketime).code == 0)
        }
        #expect(try w.tg("token", "--node", correct.address, "--tier", "1", "--out", "t.token", "--roster", "roster.json", "--key", "keys/dave.key").code == 0)

        // The slow node learns its peer's clock from the keepalive PINGs, says so, and issues no token.
        #expect(ClusterTests().eventually {
            guard case .string(let warning)? = (try? status(slow))??["node"]?["clock_warning"] else { return false }
            return warning.contains("behind its peers'")
        }, "\(slow.log.suffix(1500))")
        #expect(slow.log.contains("behind its peers'"), "logged loudly")
        let t = try w.tg("token", "--node", slow.address, "--tier", "1", "--out", "slow.token", "--roster", "roster.json", "--key", "keys/dave.key")
        #expect(t.code == 1 && t.stderr.contains("clock"), "\(t.stderr)")

        // A gate watching only the slow node (told one answer is enough) runs a job on the correct node's token.
        let (gate, err, started) = try CLI.startGate(
            ["gate", "--tier", "1", "--roster", "roster.json", "--node", slow.address, "--min-answers", "1", "--token", "t.token",
             "--key", "keys/dave.key", "--grace", "5", "--", "sleep", "600"], in: w.path)
        defer { if gate.isRunning { gate.terminate() } }
        #expect(started.contains("started sleep"), "\(started)")
        guard started.contains("started sleep") else { return }
        #expect(started.contains("behind gate's"), "the gate notices the node's clock")

        // A halt signed at a correct clock, at the correct node: the slow node counts it at once (it is dated 3
        // minutes ahead of its clock), pushes it, and the gate stops the job; check asking the slow node denies.
        let halted = Date()
        #expect(try w.tg("halt", "--reason", "stop, signed at a correct clock", "--key", "keys/erin.key", "--roster", "roster.json", "--node", correct.address).code == 0)
        gate.waitUntilExit()
        let ms = Int(Date().timeIntervalSince(halted) * 1000)
        let rest = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        print("slow node: a gate watching a node 3 minutes slow stopped its job \(ms) ms after the halt was submitted elsewhere")
        #expect(gate.terminationStatus == 76 && rest.contains("halt by erin"), "\(rest)")
        let c = try w.tg("check", "--tier", "1", "--token", "t.token", "--roster", "roster.json", "--node", slow.address, "--min-answers", "1", "--key", "keys/dave.key")
        #expect(c.code == 1 && c.stderr.contains("stop, signed at a correct clock"), "\(c.stderr)")
    }
}
