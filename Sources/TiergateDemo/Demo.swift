import Foundation
import TiergateCore
import TiergateStorage
import TiergateNode
import TiergateCLIKit

struct DemoFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// The demo story (`tiergate demo`): five real node processes and each step checked. It runs the `tiergate`
/// binary that hosts it (`/proc/self/exe`) for every command and node.
public struct Demo {
    static let members: [(name: String, role: String)] = [
        ("lena", "leader"), ("sam", "safety"), ("bo", "board"), ("ana", "auditor"), ("kit", "staff"),
    ]
    /// The training cluster's key: an observer (reads status, fetches tokens; never votes).
    static let observer = "cluster"

    let keep: Bool
    let json: Bool
    let dir: String
    let ownsDir: Bool
    let binary: String
    let color: Bool
    var nodes: [(process: Process, address: String)] = []
    /// One open client per node, for fast status polls while measuring.
    var clients: [NodeClient] = []
    var steps: [(title: String, ok: Bool, details: [String])] = []
    var current: [String] = []

    public init(keep: Bool, dir: String?, json: Bool) throws {
        self.keep = keep
        self.json = json
        binary = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        if let d = dir {
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
            self.dir = d
            ownsDir = false
        } else {
            self.dir = NSTemporaryDirectory() + "tiergate-demo-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
            try FileManager.default.createDirectory(atPath: self.dir, withIntermediateDirectories: true)
            ownsDir = true
        }
        color = !json && isatty(1) == 1
    }

    // MARK: Output

    func say(_ s: String) { if !json { print(s); fflush(nil) } }
    mutating func note(_ s: String) {
        current.append(s)
        say("   " + s)
    }
    func bold(_ s: String) -> String { color ? "\u{1b}[1m\(s)\u{1b}[0m" : s }
    func green(_ s: String) -> String { color ? "\u{1b}[32m\(s)\u{1b}[0m" : s }
    func red(_ s: String) -> String { color ? "\u{1b}[31m\(s)\u{1b}[0m" : s }

    mutating func step(_ title: String, _ body: (inout Demo) throws -> Void) throws {
        say("\n" + bold(title))
        current = []
        do {
            try body(&self)
            steps.append((title, true, current))
            say("   " + green("✔ as expected"))
        } catch {
            current.append("FAILED: \(error)")
            steps.append((title, false, current))
            say("   " + red("✘ \(error)"))
            throw error
        }
    }

    public func transcript() -> JSONValue {
        .object([
            ("ok", .bool(steps.allSatisfy(\.ok) && steps.count == 10)),
            ("dir", .string(dir)),
            ("nodes", .array(nodes.map { .string($0.address) })),
            ("steps", .array(steps.map { s in
                .object([("step", .string(s.title)), ("ok", .bool(s.ok)), ("details", .array(s.details.map { .string($0) }))])
            })),
        ])
    }

    // MARK: Running commands

    struct Run {
        var code: Int32
        var out: String
        var err: String
        var last: String { out.split(separator: "\n").last.map(String.init) ?? "" }
    }

    /// Runs `tiergate ARGS` in the demo directory, showing the command.
    @discardableResult
    mutating func tg(_ args: [String], show: Bool = true) throws -> Run {
        if show { note("$ tiergate " + args.map { $0.contains(" ") ? "\"\($0)\"" : $0 }.joined(separator: " ")) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        let o = Pipe(), e = Pipe()
        p.standardOutput = o
        p.standardError = e
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let (out, err) = o.readBothToEnd(with: e)
        p.waitUntilExit()
        return Run(code: p.terminationStatus, out: String(decoding: out, as: UTF8.self), err: String(decoding: err, as: UTF8.self))
    }

    func status(_ node: Int) -> Verdict? {
        try? clients[node].status().verdict
    }

    func waitUntil(_ seconds: Double = 15, _ condition: () -> Bool) -> Bool {
        waitUntil(seconds: seconds, condition)
    }

    func waitUntil(seconds: Double, pollMs: UInt32 = 20, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(pollMs * 1000)
        }
        return condition()
    }

    /// Quorum progress of proposal `id` as node `node` sees it (the one progress renderer, `progressLine`).
    func progress(_ node: Int, _ id: String) -> String {
        guard let d = Digest(hex: id), let p = try? clients[node].status(StatusQuery(proposal: d)).verdict.proposals.first
        else { return "(not seen yet)" }
        return p.progressLine + (p.passed ? "  → PASSED" : "")
    }

    // MARK: The story

    public mutating func run() -> Bool {
        say(bold("Tiergate demo") + " — five nodes on 127.0.0.1, files in \(dir)")
        var ok = true
        do {
            try setUp()
            try story()
        } catch {
            ok = false
            say(red("\ndemo FAILED: \(error)"))
        }
        finish(ok: ok)
        return ok
    }

    mutating func setUp() throws {
        try step("1. Five members, one roster: tiers 0–4, base tier 2; tier 3 needs 3 of 5 incl. safety, no auditor veto; anyone halts; resuming needs 4 of 5") { d in
            try FileManager.default.createDirectory(atPath: d.dir + "/keys", withIntermediateDirectories: true)
            var members: [Member] = []
            for m in Demo.members + [(Demo.observer, Member.observerRole)] {
                let key = try SigningKey(seed: Blake2b.hash256(Array("tiergate/v1/demo-key/\(m.name)".utf8)).bytes)
                let path = d.dir + "/keys/\(m.name).key"
                if !FileManager.default.fileExists(atPath: path) {
                    try KeyFiles.writeSecretKey(key, path: path, passphrase: nil)
                    try KeyFiles.replace(SignerState.path(forKey: path), Array(SignerState(publicKey: key.publicKey).json().serialized(pretty: true).utf8), mode: 0o600)
                    try KeyFiles.writeNew(d.dir + "/keys/\(m.name).pub", Array(KeyFiles.publicKeyJSON(name: m.name, key: key.publicKey).utf8), mode: 0o644)
                }
                members.append(Member(name: m.name, key: key.publicKey, roles: [m.role]))
            }
            let day: UInt64 = 86_400_000
            let policy = Policy(
                advance: Rule(minYes: 3, roleMinimums: [RoleMinimum(role: "safety", count: 1)], vetoRoles: ["auditor"], windowMs: day),
                haltRoles: ["*"], resume: Rule(minYes: 4, windowMs: day), amend: Rule(minYes: 4, windowMs: 7 * day),
                tokenTTLMs: 10 * 60_000, anonymous: AnonymousPolicy(perPeriod: 1, periodMs: 30 * day))
            let roster = Roster(lab: "demo-lab", baseTier: 2, maxTier: 4, members: members, policy: policy, format: Roster.format(for: policy))
            let doc = GenesisDocument(roster: roster)
            try KeyFiles.replace(d.dir + "/roster.json", doc.fileBytes())
            for m in Demo.members + [(Demo.observer, Member.observerRole)] {
                let r = try d.tg(["roster", "sign", "roster.json", "--key", "keys/\(m.name).key"], show: m.name == "lena")
                guard r.code == 0 else { throw DemoFailure("roster sign by \(m.name) failed: \(r.err)") }
            }
            let v = try d.tg(["roster", "verify", "roster.json"])
            guard v.code == 0 else { throw DemoFailure("roster does not verify: \(v.out)") }
            d.note("roster \(roster.hash.short)… signed by all five founders (\(Demo.members.map { "\($0.name)/\($0.role)" }.joined(separator: ", "))) and the training cluster's observer key")
            // Five nodes, each peered with up to two earlier ones.
            for (i, m) in Demo.members.enumerated() {
                var args = ["node", "--data", "node\(i + 1)", "--listen", "127.0.0.1:0", "--roster", "roster.json", "--key", "keys/\(m.name).key", "--anti-entropy-interval", "300ms", "--log-level", "warning"]
                // Without --keep, the nodes must not outlive the demo, even if it dies.
                if !d.keep { args.append("--exit-with-parent") }
                for p in d.nodes.suffix(2) { args += ["--peer", p.address] }
                d.nodes.append(try d.startNode(args, index: i))
            }
            let clusterKey = try KeyFiles.readSecretKey(path: d.dir + "/keys/\(Demo.observer).key", passphrase: nil)
            d.note("node links: Noise XX (X25519, ChaCha20-Poly1305, BLAKE2b) bound to this roster; only its members' keys connect")
            for n in d.nodes { d.clients.append(try Remote.connect(n.address, roster: roster, identity: clusterKey)) }
            d.note("nodes: " + d.nodes.enumerated().map { "node\($0.offset + 1) \($0.element.address)" }.joined(separator: ", "))
        }
    }

    func startNode(_ args: [String], index: Int) throws -> (process: Process, address: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        let out = Pipe()
        p.standardOutput = out
        _ = FileManager.default.createFile(atPath: dir + "/node\(index + 1).log", contents: nil)
        p.standardError = FileHandle(forWritingAtPath: dir + "/node\(index + 1).log")
        p.standardInput = FileHandle.nullDevice
        try p.run()
        var line = Data()
        while !line.contains(0x0a) {
            let d = out.fileHandleForReading.availableData
            if d.isEmpty { throw DemoFailure("node \(index + 1) exited; see \(dir)/node\(index + 1).log") }
            line += d
        }
        let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.hasPrefix("listening on ") else { throw DemoFailure("node \(index + 1) said: \(text)") }
        return (p, String(text.dropFirst("listening on ".count)))
    }

    mutating func story() throws {
        var proposal = ""
        try step("2. Paused is the default: no token for tier 3, so nothing at tier 3 can launch") { d in
            let t = try d.tg(["token", "--node", d.nodes[0].address, "--tier", "3", "--out", "tier3.token", "--roster", "roster.json", "--key", "keys/cluster.key"])
            guard t.code == 1 else { throw DemoFailure("a token was issued without any vote (exit \(t.code))") }
            d.note("denied (exit 1): " + t.err.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "error: ", with: ""))
            guard d.status(0)?.authorizedTier == 2 else { throw DemoFailure("authorised tier is not the base tier 2") }
            d.note("authorised tier: 2 (the base tier)")
        }
        try step("3. lena (leader) proposes tier 3 with the safety case's hash; votes arrive at different nodes") { d in
            try "Safety case for training run v5 at tier 3: evaluations, mitigations, stop conditions.\n".write(toFile: d.dir + "/safety-case.md", atomically: true, encoding: .utf8)
            let p = try d.tg(["propose", "--tier", "3", "--title", "Train v5 at tier 3", "--evidence", "safety-case.md", "--key", "keys/lena.key", "--roster", "roster.json", "--node", d.nodes[0].address])
            guard p.code == 0 else { throw DemoFailure("propose failed: \(p.err)") }
            proposal = p.last
            d.note("proposal \(proposal.prefix(16))… stored at node1")
            for (voter, choice, node) in [("kit", "--yes", 4), ("bo", "--yes", 2), ("ana", "--abstain", 3), ("sam", "--yes", 1)] {
                guard d.waitUntil(seconds: 15, { d.progress(node, proposal) != "(not seen yet)" }) else { throw DemoFailure("the proposal never reached node\(node + 1)") }
                let v = try d.tg(["vote", proposal, choice, "--reason", "demo", "--key", "keys/\(voter).key", "--roster", "roster.json", "--node", d.nodes[node].address])
                guard v.code == 0 else { throw DemoFailure("\(voter)'s vote failed: \(v.err)") }
                d.note("\(voter) voted \(choice.dropFirst(2)) at node\(node + 1) → quorum: \(d.progress(node, proposal))")
            }
        }
        try step("4. Quorum reached: every node agrees on tier 3; a token is issued and check allows") { d in
            guard d.waitUntil(seconds: 15, { (0..<5).allSatisfy { d.status($0)?.authorizedTier == 3 } }) else {
                throw DemoFailure("not every node authorises tier 3")
            }
            d.note("all five nodes: authorised tier 3")
            let t = try d.tg(["token", "--node", d.nodes[2].address, "--tier", "3", "--out", "tier3.token", "--roster", "roster.json", "--key", "keys/cluster.key"])
            guard t.code == 0 else { throw DemoFailure("no token: \(t.err)") }
            let c = try d.tg(["check", "--tier", "3", "--token", "tier3.token", "--roster", "roster.json", "--node", d.nodes[4].address, "--node", d.nodes[3].address, "--key", "keys/cluster.key"])
            guard c.code == 0 else { throw DemoFailure("check denied: \(c.err)") }
            d.note(c.out.trimmingCharacters(in: .whitespacesAndNewlines))
            let o = try d.tg(["vote", proposal, "--no", "--key", "keys/cluster.key", "--roster", "roster.json", "--node", d.nodes[2].address])
            guard o.code == 1 else { throw DemoFailure("the observer key could vote (exit \(o.code))") }
            d.note("the cluster's observer key fetched that token, but cannot vote: " + o.err.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "error: ", with: ""))
        }
        var gate: Process? = nil
        var gateLog = ""
        try step("5. gate starts a stand-in training job at tier 3") { d in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: d.binary)
            p.arguments = ["gate", "--tier", "3", "--roster", "roster.json", "--node", d.nodes[1].address, "--node", d.nodes[2].address, "--key", "keys/cluster.key", "--grace", "3",
                           "--", "/bin/sh", "-c", "while true; do sleep 1; done"]
            p.currentDirectoryURL = URL(fileURLWithPath: d.dir)
            gateLog = d.dir + "/gate.log"
            _ = FileManager.default.createFile(atPath: gateLog, contents: nil)
            p.standardError = FileHandle(forWritingAtPath: gateLog)
            p.standardOutput = FileHandle.nullDevice
            d.note("$ tiergate gate --tier 3 --roster roster.json --node \(d.nodes[1].address) --node \(d.nodes[2].address) --key keys/cluster.key -- /bin/sh -c 'while true; do sleep 1; done'")
            d.note("(gate watches two members' nodes: each pushes its verdict and the signed halts in force the moment they change)")
            try p.run()
            gate = p
            guard d.waitUntil(seconds: 10, { ((try? String(contentsOfFile: gateLog, encoding: .utf8)) ?? "").contains("started") }) else {
                throw DemoFailure("gate did not start the job: \((try? String(contentsOfFile: gateLog, encoding: .utf8)) ?? "")")
            }
            d.note("job running under gate (pid \(p.processIdentifier))")
        }
        try step("6. kit (staff) halts alone, with a reason; the halt spreads and the job is stopped") { d in
            let start = Date()
            let h = try d.tg(["halt", "--reason", "eval run 7 shows an unexpected capability jump", "--key", "keys/kit.key", "--roster", "roster.json", "--node", d.nodes[4].address])
            guard h.code == 0 else { throw DemoFailure("halt failed: \(h.err)") }
            var seen = Array(repeating: -1.0, count: 5)
            var stopped = -1.0
            _ = d.waitUntil(seconds: 10, pollMs: 2) {
                for i in 0..<5 where seen[i] < 0 && d.status(i)?.halted == true { seen[i] = Date().timeIntervalSince(start) }
                if stopped < 0, let g = gate, !g.isRunning { stopped = Date().timeIntervalSince(start) }
                return seen.allSatisfy { $0 >= 0 } && stopped >= 0
            }
            guard seen.allSatisfy({ $0 >= 0 }) else { throw DemoFailure("not every node saw the halt") }
            guard stopped >= 0, gate?.terminationStatus == 76 else { throw DemoFailure("gate did not stop the job (exit \(gate?.terminationStatus ?? -1))") }
            d.note(String(format: "halt on every node within %.0f ms of its submission (node1…node5: %@ ms)", (seen.max() ?? 0) * 1000,
                          seen.map { String(format: "%.0f", $0 * 1000) }.joined(separator: ", ")))
            d.note(String(format: "job stopped and gate exited (code 76) %.0f ms after the halt", stopped * 1000))
            let why = ((try? String(contentsOfFile: gateLog, encoding: .utf8)) ?? "").split(separator: "\n").first { $0.contains("stopping") } ?? ""
            d.note(String(why))
        }
        try step("7. check is denied again; a resume proposal gathers its quorum (4 of 5)") { d in
            let c = try d.tg(["check", "--tier", "3", "--token", "tier3.token", "--roster", "roster.json", "--node", d.nodes[0].address, "--node", d.nodes[1].address, "--key", "keys/cluster.key"])
            guard c.code == 1 else { throw DemoFailure("check did not deny after the halt (exit \(c.code))") }
            d.note("denied (exit 1): " + c.err.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "error: ", with: ""))
            guard let haltID = d.status(0)?.activeHalts.first?.id.hex else { throw DemoFailure("no halt id") }
            let r = try d.tg(["propose", "--tier", "3", "--title", "Resume v5: anomaly traced to an eval bug", "--resume", haltID, "--key", "keys/sam.key", "--roster", "roster.json", "--node", d.nodes[1].address])
            guard r.code == 0 else { throw DemoFailure("resume proposal failed: \(r.err)") }
            for (voter, node) in [("sam", 1), ("lena", 1), ("bo", 1), ("ana", 1)] {
                let v = try d.tg(["vote", r.last, "--yes", "--key", "keys/\(voter).key", "--roster", "roster.json", "--node", d.nodes[node].address], show: voter == "sam")
                guard v.code == 0 else { throw DemoFailure("\(voter)'s resume vote failed: \(v.err)") }
                d.note("\(voter) votes yes → \(d.progress(node, r.last))")
            }
            guard d.waitUntil(seconds: 15, { (0..<5).allSatisfy { d.status($0)?.halted == false && d.status($0)?.authorizedTier == 3 } }) else {
                throw DemoFailure("not every node resumed at tier 3")
            }
            d.note("all five nodes: halt resolved, authorised tier 3")
        }
        try step("8. The stop is practised: bo (safety) runs a drill; the cluster's canary job is really stopped, and its time to stop is recorded") { d in
            // The cluster's gate runs a canary: a drill stops it as a halt would, and the gate acknowledges with the
            // cluster's observer key. The roster names no enforcers, so every observer (the cluster) must answer.
            let p = Process()
            p.executableURL = URL(fileURLWithPath: d.binary)
            p.arguments = ["gate", "--tier", "3", "--canary", "--roster", "roster.json", "--node", d.nodes[2].address, "--node", d.nodes[3].address,
                           "--key", "keys/cluster.key", "--grace", "3", "--", "/bin/sh", "-c", "while true; do sleep 1; done"]
            p.currentDirectoryURL = URL(fileURLWithPath: d.dir)
            let log = d.dir + "/canary.log"
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            p.standardError = FileHandle(forWritingAtPath: log)
            p.standardOutput = FileHandle.nullDevice
            d.note("$ tiergate gate --tier 3 --canary --roster roster.json --node \(d.nodes[2].address) --node \(d.nodes[3].address) --key keys/cluster.key -- (a canary job)")
            try p.run()
            defer { if p.isRunning { p.terminate(); p.waitUntilExit() } }
            guard d.waitUntil(seconds: 10, { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("started") }) else {
                throw DemoFailure("the canary gate did not start: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
            }
            let r = try d.tg(["drill", "--reason", "monthly halt drill", "--key", "keys/bo.key", "--roster", "roster.json",
                              "--node", d.nodes[0].address, "--node", d.nodes[1].address, "--wait"])
            guard r.code == 0 else { throw DemoFailure("the drill did not succeed: \(r.out) \(r.err)") }
            for line in r.out.split(separator: "\n").dropFirst() { d.note(String(line)) }
            guard d.waitUntil(seconds: 10, { !p.isRunning }), p.terminationStatus == 76 else {
                throw DemoFailure("the canary gate did not stop its job (exit \(p.isRunning ? -1 : p.terminationStatus))")
            }
            d.note("the canary job was stopped and its gate exited (code 76); the authorised tier is still \(d.status(0)?.authorizedTier ?? 0): a drill is not a halt")
        }
        try step("9. A just culture: a member halts anonymously — provably one of the five who may halt, not which — and only the resume quorum lifts it") { d in
            let h = try d.tg(["halt", "--anonymous", "--reason", "I am not comfortable with eval 12's results", "--key", "keys/ana.key",
                              "--roster", "roster.json", "--out", "anonymous-halt.entry"])
            guard h.code == 0 else { throw DemoFailure("the anonymous halt was not signed: \(h.err)") }
            d.note("a member signed a ring signature over all five members' keys into anonymous-halt.entry; the cluster's observer key submits it:")
            let s = try d.tg(["submit", "anonymous-halt.entry", "--node", d.nodes[2].address, "--node", d.nodes[3].address, "--key", "keys/cluster.key",
                              "--roster", "roster.json"])
            guard s.code == 0 else { throw DemoFailure("the anonymous halt was not stored: \(s.err)") }
            guard d.waitUntil(seconds: 10, { (0..<5).allSatisfy { d.status($0)?.halted == true } }), let shown = d.status(0)?.activeHalts.first else {
                throw DemoFailure("not every node has the anonymous halt")
            }
            d.note("every node: HALTED by \(shown.member): \"\(shown.reason)\"")
            let r = try d.tg(["propose", "--tier", "3", "--title", "Resume: eval 12 reviewed with the team", "--resume", shown.id.hex, "--key", "keys/lena.key",
                              "--roster", "roster.json", "--node", d.nodes[0].address])
            guard r.code == 0 else { throw DemoFailure("resume proposal failed: \(r.err)") }
            for voter in ["lena", "sam", "bo", "ana"] {
                let v = try d.tg(["vote", r.last, "--yes", "--key", "keys/\(voter).key", "--roster", "roster.json", "--node", d.nodes[0].address])
                guard v.code == 0 else { throw DemoFailure("\(voter)'s resume vote failed: \(v.err)") }
            }
            guard d.waitUntil(seconds: 15, { (0..<5).allSatisfy { d.status($0)?.halted == false && d.status($0)?.authorizedTier == 3 } }) else {
                throw DemoFailure("not every node resumed at tier 3")
            }
            d.note("4 of 5 voted to resume: all five nodes back at tier 3; nobody learned who halted")
        }
        try step("10. An auditor exports a node's ledger and verifies it offline, from the genesis roster alone") { d in
            let e = try d.tg(["ledger", "export", "--node", d.nodes[3].address, "--out", "audit.ledger", "--roster", "roster.json", "--key", "keys/ana.key"])
            guard e.code == 0 else { throw DemoFailure("export failed: \(e.err)") }
            let v = try d.tg(["ledger", "verify", "audit.ledger", "--roster", "roster.json", "--json"])
            guard v.code == 0, let j = try? JSONValue.parse(v.out), j["valid"] == .bool(true) else { throw DemoFailure("the ledger does not verify: \(v.out)") }
            d.note("VALID: \(j["frames"].map { $0.serialized() } ?? "?") entries, every signature and feed chain checked")
            if case .array(let ps) = j["verdict"]?["proposals"] {
                for p in ps {
                    guard case .string(let title) = p["title"], case .array(let votes) = p["votes"] else { continue }
                    d.note("\"\(title)\":")
                    for v in votes {
                        if case .string(let who) = v["member"], case .string(let what) = v["choice"], case .string(let when) = v["time"] {
                            d.note("    \(when)  \(who.padding(5)) \(what)")
                        }
                    }
                }
            }
        }
    }

    mutating func finish(ok: Bool) {
        if keep && ok {
            say("\n" + bold("The cluster keeps running") + " (--keep). Try:")
            say("  \(binary) status --node \(nodes.first?.address ?? "") --roster \(dir)/roster.json --key \(dir)/keys/\(Demo.observer).key")
            say("  \(binary) halt --reason test --key \(dir)/keys/kit.key --roster \(dir)/roster.json --node \(nodes.last?.address ?? "")")
            say("  \(binary) ledger verify \(dir)/audit.ledger --roster \(dir)/roster.json")
            say("Stop it with: kill \(nodes.map { String($0.process.processIdentifier) }.joined(separator: " "))")
            return
        }
        for c in clients { c.close() }
        clients = []
        for n in nodes where n.process.isRunning {
            n.process.terminate()
            n.process.waitUntilExit()
        }
        if ownsDir && !keep { try? FileManager.default.removeItem(atPath: dir) }
        if ok { say("\n" + green("demo passed") + ": every step behaved as expected; all processes stopped, " + (ownsDir ? "files removed." : "files kept in \(dir).")) }
    }
}

extension String {
    func padding(_ n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
}
