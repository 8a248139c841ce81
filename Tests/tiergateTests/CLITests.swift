import Foundation
import Testing
import TiergateCore
@testable import TiergateStorage

@Suite(.serialized) struct CLITests {
    /// The script of the ledger issue, with the CLI only.
    @Test func aNodeStartedWithExitWithParentStopsWhenItsStarterDies() throws {
        let w = Workdir()
        try w.lab()
        // A shell starts the node in the background, waits until it listens, prints its pid, and exits.
        let script = """
            "\(CLI.binary)" node --data d --listen 127.0.0.1:0 --roster roster.json --key keys/alice.key --exit-with-parent > node.log 2>&1 &
            pid=$!
            for i in $(seq 100); do grep -q 'listening on' node.log && break; sleep 0.1; done
            echo $pid
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", script]
        p.currentDirectoryURL = URL(fileURLWithPath: w.path)
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        p.waitUntilExit()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        guard let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            Issue.record("no pid from the starter: \(text)")
            return
        }
        defer { kill(pid, SIGKILL) }
        // Gone: no such process, or a zombie waiting for its new parent to reap it.
        func running() -> Bool {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            return stat[stat.index(close, offsetBy: 2)] != "Z"
        }
        var gone = false
        for _ in 0..<100 where !gone {
            gone = !running()
            if !gone { usleep(100_000) }
        }
        #expect(gone, "the node outlived the process that started it")
        let log = w.text("node.log")
        #expect(log.contains("listening on") && log.contains("the process that started this node exited"), "\(log)")
    }

    @Test func proposeVoteHaltStatusVerifyAsAScript() throws {
        let w = Workdir()
        try w.lab()
        #expect(try w.tg("roster", "verify", "roster.json").code == 0)

        let evidence = w.file("safety-case.txt")
        try "the safety case".write(toFile: evidence, atomically: true, encoding: .utf8)
        let propose = try w.tg("propose", "--tier", "1", "--title", "Train v5 at tier 1", "--evidence", evidence,
                               "--key", "keys/alice.key", "--roster", "roster.json", "--ledger", "L")
        #expect(propose.code == 0, "\(propose.stderr)")
        let id = propose.lastLine
        #expect(Digest(hex: id) != nil)
        // What is signed is shown before signing: kind, title, evidence hash, fingerprint, id.
        #expect(propose.stderr.contains("signing proposal"))
        #expect(propose.stderr.contains("Train v5 at tier 1"))
        #expect(propose.stderr.contains(Blake2b.hash256(Array("the safety case".utf8)).hex))
        #expect(propose.stderr.contains(id))

        var status = try w.tg("status", "--ledger", "L", "--roster", "roster.json", "--json").json()
        #expect(status["authorized_tier"] == .int(0))
        for n in ["bob", "carol", "dave"] {
            let v = try w.tg("vote", id, "--yes", "--key", "keys/\(n).key", "--roster", "roster.json", "--ledger", "L")
            #expect(v.code == 0, "\(v.stderr)")
            #expect(v.stderr.contains("Train v5 at tier 1"), "the vote shows what it approves")
        }
        status = try w.tg("status", "--ledger", "L", "--roster", "roster.json", "--json").json()
        #expect(status["authorized_tier"] == .int(1))
        #expect(status["halted"] == .bool(false))
        guard case .array(let proposals) = status["proposals"] else { Issue.record("no proposals"); return }
        #expect(proposals.first?["yes"] == .int(3))
        #expect(proposals.first?["passed"] == .bool(true))

        let halt = try w.tg("halt", "--reason", "eval anomaly", "--key", "keys/erin.key", "--roster", "roster.json", "--ledger", "L")
        #expect(halt.code == 0)
        status = try w.tg("status", "--ledger", "L", "--roster", "roster.json", "--json").json()
        #expect(status["halted"] == .bool(true))
        #expect(status["authorized_tier"] == .int(0))

        let verify = try w.tg("ledger", "verify", "L", "--roster", "roster.json")
        #expect(verify.code == 0, "\(verify.stdout)")
        #expect(verify.stdout.contains("VALID"))

        // Any changed byte of an entry: exit 1, naming the entry.
        let good = w.bytes("L")
        for offset in [LedgerFormat.headerLength + 7, good.count / 2, good.count - 20] {
            var b = good
            b[offset] ^= 0x20
            w.write("L", b)
            let bad = try w.tg("ledger", "verify", "L", "--roster", "roster.json", "--json")
            #expect(bad.code == 1, "flip at \(offset)")
            guard case .array(let problems) = try bad.json()["problems"], let first = problems.first else {
                Issue.record("no problems listed for flip at \(offset)")
                continue
            }
            #expect(first["entry"] != nil && first["offset"] != nil)
        }
        w.write("L", good)
        #expect(try w.tg("ledger", "verify", "L", "--roster", "roster.json").code == 0)
    }

    @Test func rosterVerifyExitCodes() throws {
        let w = Workdir()
        try w.lab()
        #expect(try w.tg("roster", "verify", "roster.json").code == 0)
        let text = String(decoding: w.bytes("roster.json"), as: UTF8.self)
        let alice = try KeyFiles.readPublicKey(path: w.file("keys/alice.pub")).key.hex
        // One hex digit of a member key changed after signing: 1.
        var changed = alice
        changed.replaceSubrange(changed.startIndex...changed.startIndex, with: alice.first == "0" ? "1" : "0")
        w.write("key.json", Array(text.replacingOccurrences(of: alice, with: changed).utf8))
        let keyResult = try w.tg("roster", "verify", "key.json")
        #expect(keyResult.code == 1, "\(keyResult.stdout)\(keyResult.stderr)")
        // A policy value changed after signing: 1.
        w.write("policy.json", Array(text.replacingOccurrences(of: "\"token_ttl\": \"10m\"", with: "\"token_ttl\": \"11m\"").utf8))
        #expect(try w.tg("roster", "verify", "policy.json").code == 1)
        // A signature missing: 1.
        let unsigned = try w.tg("roster", "init", "--lab", "x", "--out", "unsigned.json", "--member", "alice:keys/alice.pub:leader")
        #expect(unsigned.code == 0)
        #expect(try w.tg("roster", "verify", "unsigned.json").code == 1)
        // Not a roster: 2.
        w.write("junk.json", Array("{\"hello\": 1}".utf8))
        #expect(try w.tg("roster", "verify", "junk.json").code == 2)
        w.write("notjson", Array("roster".utf8))
        #expect(try w.tg("roster", "verify", "notjson").code == 2)
        #expect(try w.tg("roster", "verify", "missing.json").code == 2)
        // JSON output keeps the exit code and is one object.
        let j = try w.tg("roster", "verify", "policy.json", "--json")
        #expect(j.code == 1)
        #expect(try j.json()["valid"] == .bool(false))
    }

    @Test func keyFileHygiene() throws {
        let w = Workdir()
        try "s3cret passphrase\n".write(toFile: w.file("pass"), atomically: true, encoding: .utf8)
        let r = try w.tg("keygen", "--name", "alice", "--out", "k", "--passphrase-file", "pass", "--json")
        #expect(r.code == 0)
        #expect(try r.json()["encrypted"] == .bool(true))
        let mode = try FileManager.default.attributesOfItem(atPath: w.file("k/alice.key"))[.posixPermissions] as! Int
        #expect(mode == 0o600)
        #expect(!r.stdout.contains("s3cret") && !r.stderr.contains("s3cret"))
        // Refuses to overwrite.
        #expect(try w.tg("keygen", "--name", "alice", "--out", "k").code == 2)
        // The roster and signing with a sealed key.
        #expect(try w.tg("roster", "init", "--lab", "x", "--out", "r.json", "--member", "alice:k/alice.pub:leader").code == 0)
        try "wrong\n".write(toFile: w.file("wrong"), atomically: true, encoding: .utf8)
        let wrong = try w.tg("roster", "sign", "r.json", "--key", "k/alice.key", "--passphrase-file", "wrong")
        #expect(wrong.code == 2)
        #expect(wrong.stderr.contains("wrong passphrase"))
        #expect(try w.tg("roster", "sign", "r.json", "--key", "k/alice.key").code == 2)
        #expect(try w.tg("roster", "sign", "r.json", "--key", "k/alice.key", "--passphrase-file", "pass").code == 0)
        // A key readable by others is refused, with what to do.
        chmod(w.file("k/alice.key"), 0o644)
        let open = try w.tg("roster", "sign", "r.json", "--key", "k/alice.key", "--passphrase-file", "pass")
        #expect(open.code == 2)
        #expect(open.stderr.contains("chmod 600"))
    }

    @Test func usageErrorsExit64AndEveryCommandHasHelp() throws {
        let w = Workdir()
        #expect(try w.tg("propose", "--title", "x").code == 64)
        #expect(try w.tg("vote", "nothex", "--yes", "--key", "k", "--roster", "r", "--ledger", "l").code == 64)
        #expect(try w.tg("vote", String(repeating: "a", count: 64), "--yes", "--no", "--key", "k", "--roster", "r", "--ledger", "l").code == 64)
        #expect(try w.tg("halt", "--reason", "x", "--key", "k", "--roster", "r").code == 64, "no destination")
        #expect(try w.tg("status", "--ledger", "l", "--roster", "r", "--at", "yesterday").code == 64)
        #expect(try w.tg("drill", "--reason", "x", "--key", "k", "--roster", "r", "--ledger", "l").code == 64, "a drill goes to nodes")
        #expect(try w.tg("drill", "report", "nothex", "--roster", "r", "--ledger", "l").code == 64)
        #expect(try w.tg("drill", "report", String(repeating: "a", count: 64), "--roster", "r").code == 64, "--node or --ledger")
        for cmd in [["keygen"], ["key", "resync"], ["roster", "init"], ["roster", "sign"], ["roster", "show"], ["roster", "verify"],
                    ["propose"], ["vote"], ["halt"], ["drill"], ["drill", "start"], ["drill", "report"], ["status"], ["ledger", "verify"], ["ledger", "append"]] {
            let h = try w.tg(cmd + ["--help"])
            #expect(h.code == 0, "\(cmd) --help")
            #expect(h.stdout.contains("USAGE") && h.stdout.contains("xample"), "\(cmd) --help shows usage and an example")
        }
        // The release, the spec version it speaks, and the commit it was built from (this checkout's HEAD).
        let v = try w.tg("--version")
        let head = try CLI.run(["-C", CLI.repoRoot, "rev-parse", "--short=12", "HEAD"], executable: "/usr/bin/git").stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(v.code == 0 && v.stdout.hasPrefix("0.1.0 (spec \(WireMessage.protocolVersion), commit \(head)"), "\(v.stdout) vs HEAD \(head)")
    }

    @Test func offlineAuthoringCarriesEntriesBetweenMachines() throws {
        let w = Workdir()
        try w.lab()
        let p = try w.tg("propose", "--tier", "1", "--title", "t", "--key", "keys/alice.key", "--roster", "roster.json", "--ledger", "L")
        let id = p.lastLine
        // bob signs on an air-gapped machine: --out, then the file is appended elsewhere.
        let out = try w.tg("vote", id, "--yes", "--key", "keys/bob.key", "--roster", "roster.json", "--out", "bob.entry")
        #expect(out.code == 0)
        #expect(out.stderr.contains("warning: signing offline"))
        #expect(try w.tg("ledger", "append", "bob.entry", "--ledger", "L", "--roster", "roster.json").code == 0)
        // Appending the same entry again is harmless.
        #expect(try w.tg("ledger", "append", "bob.entry", "--ledger", "L", "--roster", "roster.json").code == 0)
        // A tampered entry file is refused.
        var b = w.bytes("bob.entry")
        b[b.count - 1] ^= 1
        w.write("forged.entry", b)
        #expect(try w.tg("ledger", "append", "forged.entry", "--ledger", "L", "--roster", "roster.json").code == 1)
        // Voting on a proposal the ledger does not hold is refused (nothing shown, nothing signed).
        let blind = try w.tg("vote", String(repeating: "ab", count: 32), "--yes", "--key", "keys/carol.key", "--roster", "roster.json", "--ledger", "L")
        #expect(blind.code == 2)
        let status = try w.tg("status", "--ledger", "L", "--roster", "roster.json", "--json").json()
        guard case .array(let ps) = status["proposals"] else { Issue.record(); return }
        #expect(ps.first?["yes"] == .int(1))
    }

    @Test func signerStateGuardsAgainstEquivocation() throws {
        let w = Workdir()
        try w.lab()
        let p = try w.tg("propose", "--tier", "1", "--title", "t", "--key", "keys/alice.key", "--roster", "roster.json", "--ledger", "L").lastLine
        // bob signs to a file and never delivers it; signing again into the ledger would leave a gap: refused.
        #expect(try w.tg("vote", p, "--yes", "--key", "keys/bob.key", "--roster", "roster.json", "--out", "lost.entry").code == 0)
        let gap = try w.tg("halt", "--reason", "x", "--key", "keys/bob.key", "--roster", "roster.json", "--out", "second.entry")
        #expect(gap.code == 0)
        let refused = try w.tg("halt", "--reason", "x", "--key", "keys/bob.key", "--roster", "roster.json", "--ledger", "L")
        #expect(refused.code == 2)
        #expect(refused.stderr.contains("deliver the missing entries"))
        // Deliver the first; then the signer delivers its saved last entry itself before the new one.
        #expect(try w.tg("ledger", "append", "lost.entry", "--ledger", "L", "--roster", "roster.json").code == 0)
        let ok = try w.tg("vote", p, "--no", "--key", "keys/bob.key", "--roster", "roster.json", "--ledger", "L")
        #expect(ok.code == 0, "\(ok.stderr)")
        #expect(ok.stderr.contains("previously signed entry"))
        // Lost signer state: refused until resync from the ledger.
        try FileManager.default.removeItem(atPath: w.file("keys/bob.key.signer"))
        let lost = try w.tg("halt", "--reason", "x", "--key", "keys/bob.key", "--roster", "roster.json", "--ledger", "L")
        #expect(lost.code == 2)
        #expect(lost.stderr.contains("key resync"))
        #expect(try w.tg("key", "resync", "--key", "keys/bob.key", "--roster", "roster.json", "--ledger", "L").code == 0)
        #expect(try w.tg("halt", "--reason", "x", "--key", "keys/bob.key", "--roster", "roster.json", "--ledger", "L").code == 0)
        #expect(try w.tg("ledger", "verify", "L", "--roster", "roster.json").code == 0)
        let status = try w.tg("status", "--ledger", "L", "--roster", "roster.json", "--json").json()
        #expect(status["equivocations"] == .array([]))
    }

    @Test func unreadableInputsExit2AndInvalidLedgersExit1() throws {
        let w = Workdir()
        try w.lab()
        #expect(try w.tg("status", "--ledger", "missing", "--roster", "roster.json").code == 2)
        w.write("junk", Array(repeating: 0x41, count: 100))
        #expect(try w.tg("ledger", "verify", "junk", "--roster", "roster.json").code == 2)
        #expect(try w.tg("ledger", "verify", "junk", "--roster", "missing.json").code == 2)
        // A ledger with a torn tail: verify reports it (1); the next append cuts it and says so.
        #expect(try w.tg("halt", "--reason", "a", "--key", "keys/erin.key", "--roster", "roster.json", "--ledger", "L").code == 0)
        let full = w.bytes("L")
        #expect(try w.tg("halt", "--reason", "b", "--key", "keys/erin.key", "--roster", "roster.json", "--ledger", "L").code == 0)
        let two = w.bytes("L")
        w.write("L", Array(two[..<(full.count + 10)]))
        let torn = try w.tg("ledger", "verify", "L", "--roster", "roster.json")
        #expect(torn.code == 1)
        #expect(torn.stdout.contains("torn tail"))
        // erin's state says position 2 was signed; the ledger now ends at 1: the saved entry is delivered again.
        let again = try w.tg("halt", "--reason", "c", "--key", "keys/erin.key", "--roster", "roster.json", "--ledger", "L")
        #expect(again.code == 0, "\(again.stderr)")
        #expect(again.stderr.contains("cut a torn tail"))
        #expect(again.stderr.contains("previously signed entry"))
        #expect(try w.tg("ledger", "verify", "L", "--roster", "roster.json").code == 0)
    }
}
