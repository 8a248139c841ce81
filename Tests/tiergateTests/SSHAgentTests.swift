import Foundation
import Testing
import TiergateCore
import TiergateTestKit

/// Member keys held by a real OpenSSH ssh-agent (SPEC.md §7.4): keys made by ssh-keygen, listed in the roster from
/// their OpenSSH public keys, signing the roster, votes and halts and proving themselves on node links through the
/// agent; and each way the agent can fail is exit 2 with nothing signed.
@Suite(.serialized) struct SSHAgentTests {
    static let tools = ["/usr/bin/ssh-agent", "/usr/bin/ssh-add", "/usr/bin/ssh-keygen"]

    /// A real ssh-agent in the foreground (`-D`) on a socket of its own; stopped by `stop()`.
    final class Agent {
        let process = Process()
        let socket: String

        init(_ w: Workdir, _ name: String, environment: [String: String] = [:]) throws {
            socket = w.file(name + ".sock")
            process.executableURL = URL(fileURLWithPath: "/usr/bin/ssh-agent")
            process.arguments = ["-D", "-a", socket]
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, b in b }
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            process.standardInput = FileHandle.nullDevice
            try process.run()
            #expect(TestHost.eventually(10) { FileManager.default.fileExists(atPath: socket) }, "ssh-agent did not create \(socket)")
        }

        /// `ssh-add` a private key file; `confirm`: the agent asks before each signature (`ssh-add -c`).
        func add(_ keyFile: String, confirm: Bool = false) {
            let r = TestHost.sh("/usr/bin/ssh-add", (confirm ? ["-c"] : []) + [keyFile], env: ["SSH_AUTH_SOCK": socket])
            #expect(r.code == 0, "ssh-add: \(r.out)")
        }

        /// SIGKILL: the test runner's blocked signals are inherited, and ssh-agent waits in ppoll with that mask, so
        /// a SIGTERM may never arrive.
        func stop() {
            guard process.isRunning else { return }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// A relay in front of an agent that flips a bit of every signature (scripts/ssh-agent-proxy).
    final class CorruptingProxy {
        let process = Process()
        let socket: String
        init(_ w: Workdir, upstream: Agent) throws {
            socket = w.file("corrupting.sock")
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", CLI.repoRoot + "/scripts/ssh-agent-proxy", socket, upstream.socket, "--corrupt-signatures"]
            let out = Pipe()
            process.standardOutput = out
            process.standardInput = FileHandle.nullDevice
            try process.run()
            let ready = String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
            #expect(ready.hasPrefix("ready"), "the proxy said '\(ready)'")
        }
        /// SIGKILL: the test runner's blocked signals are inherited, and ssh-agent waits in ppoll with that mask, so
        /// a SIGTERM may never arrive.
        func stop() {
            guard process.isRunning else { return }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// `ssh-keygen -t ed25519` in the workdir: NAME (private) and NAME.pub; returns the SHA256 fingerprint as
    /// ssh-keygen prints it.
    static func sshKey(_ w: Workdir, _ name: String) -> String {
        let r = TestHost.sh("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "\(name)@lab", "-f", w.file(name)])
        #expect(r.code == 0, "ssh-keygen: \(r.out)")
        let l = TestHost.sh("/usr/bin/ssh-keygen", ["-l", "-f", w.file(name + ".pub")])
        return l.out.split(separator: " ").dropFirst().first.map(String.init) ?? ""
    }

    static func ready() -> Bool {
        if let why = TestHost.ensureDebian(["openssh-client"], providing: tools) {
            CI.skipOrFail("SSHAgentTests", why)
            return false
        }
        return true
    }

    /// A lab of alice (a key file, leader) and carol and bob (ssh-keygen keys, safety; carol given as an OpenSSH key
    /// line, bob as an OpenSSH .pub file), whose private key files are deleted once they are in the agent, so every
    /// signature of theirs can only come from the agent. Returns (carol's, bob's) SHA256 fingerprints.
    static func lab(_ w: Workdir, agent: Agent, confirmAgent: Agent? = nil) throws -> (carol: String, bob: String) {
        let carol = sshKey(w, "carol"), bob = sshKey(w, "bob")
        agent.add(w.file("carol"))
        agent.add(w.file("bob"))
        confirmAgent?.add(w.file("carol"), confirm: true)
        try FileManager.default.removeItem(atPath: w.file("carol"))
        try FileManager.default.removeItem(atPath: w.file("bob"))
        #expect(try w.tg("keygen", "--name", "alice", "--out", "keys").code == 0)
        let carolLine = w.text("carol.pub").trimmingCharacters(in: .whitespacesAndNewlines)
        let r = try w.tg("roster", "init", "--lab", "acme", "--out", "roster.json", "--member", "alice:keys/alice.pub:leader",
                         "--member", "carol:\(carolLine):safety", "--member", "bob:bob.pub:safety")
        #expect(r.code == 0, "\(r.stderr)")
        return (carol, bob)
    }

    @Test func agentHeldKeysSignTheRosterVotesAndHaltsAndProveThemselvesOnLinks() throws {
        guard Self.ready() else { return }
        let w = Workdir()
        let agent = try Agent(w, "agent")
        defer { agent.stop() }
        let (carol, bob) = try Self.lab(w, agent: agent)
        let env = ["SSH_AUTH_SOCK": agent.socket, "TIERGATE_STATE_DIR": w.file("state")]

        // roster show names every key by both fingerprints; OpenSSH's are what ssh-keygen -l prints.
        let shown = try w.tg("roster", "show", "roster.json")
        #expect(shown.stdout.contains(carol) && shown.stdout.contains(bob), "\(shown.stdout)")
        let json = try w.tg("roster", "show", "roster.json", "--json").json()
        let fps = json["fingerprints"]?.array?.compactMap { $0["openssh_fingerprint"]?.string } ?? []
        #expect(fps.contains(carol) && fps.contains(bob), "\(fps)")

        // Founders sign: alice from her file, carol by fingerprint and bob by comment through the agent.
        #expect(try w.tg("roster", "sign", "roster.json", "--key", "keys/alice.key").code == 0)
        let signCarol = try CLI.run(["roster", "sign", "roster.json", "--key", "ssh-agent:\(carol)"], in: w.path, env: env)
        #expect(signCarol.code == 0, "\(signCarol.stderr)")
        let signBob = try CLI.run(["roster", "sign", "roster.json", "--key", "ssh-agent:bob@lab"], in: w.path, env: env)
        #expect(signBob.code == 0, "\(signBob.stderr)")
        #expect(try w.tg("roster", "verify", "roster.json").code == 0)

        // A vote through the agent into a ledger, which ledger verify accepts.
        let initState = try CLI.run(["key", "init", "--key", "ssh-agent:\(carol)"], in: w.path, env: env)
        #expect(initState.code == 0, "\(initState.stderr)")
        #expect(try CLI.run(["key", "init", "--key", "ssh-agent:\(carol)"], in: w.path, env: env).code == 2, "a second init must not reset the state")
        #expect(try w.tg("ledger", "init", "lab.ledger", "--roster", "roster.json").code == 0)
        let p = try w.tg("propose", "--tier", "1", "--title", "t1", "--key", "keys/alice.key", "--roster", "roster.json", "--ledger", "lab.ledger", "--json")
        #expect(p.code == 0, "\(p.stderr)")
        let proposal = try #require(try p.json()["id"]?.string)
        let vote = try CLI.run(["vote", proposal, "--yes", "--key", "ssh-agent:\(carol)", "--roster", "roster.json", "--ledger", "lab.ledger"], in: w.path, env: env)
        #expect(vote.code == 0, "\(vote.stderr)")
        let verify = try w.tg("ledger", "verify", "lab.ledger", "--roster", "roster.json", "--json")
        #expect(verify.code == 0, "\(verify.stdout)")
        let status = try w.tg("status", "--ledger", "lab.ledger", "--roster", "roster.json", "--json").json()
        let yes = status["proposals"]?.array?.first?["votes"]?.array?.filter { $0["member"]?.string == "carol" && $0["choice"]?.string == "yes" }
        #expect(yes?.count == 1, "\(String(describing: status["proposals"]))")

        // A node link proved through the agent, and a halt signed by it, stored by the node.
        let node = try NodeProcess(in: w.path, args: ["node", "--data", "a", "--listen", "127.0.0.1:0", "--roster", "roster.json", "--key", "keys/alice.key"])
        defer { node.terminate() }
        let st = try CLI.run(["status", "--node", node.address, "--roster", "roster.json", "--key", "ssh-agent:\(carol)"], in: w.path, env: env)
        #expect(st.code == 0, "\(st.stderr)")
        let halt = try CLI.run(["halt", "--reason", "agent-held halt", "--key", "ssh-agent:\(carol)", "--roster", "roster.json", "--node", node.address], in: w.path, env: env)
        #expect(halt.code == 0, "\(halt.stderr)")
        let after = try CLI.run(["status", "--node", node.address, "--roster", "roster.json", "--key", "keys/alice.key", "--json"], in: w.path).json()
        #expect(after["halted"] == .bool(true), "\(after)")
    }

    @Test func everyAgentFailureIsExit2AndSignsNothing() throws {
        guard Self.ready() else { return }
        let w = Workdir()
        let agent = try Agent(w, "agent")
        defer { agent.stop() }
        // An agent that must ask before each use, whose askpass always declines.
        let declining = try Agent(w, "declining", environment: ["SSH_ASKPASS": "/bin/false", "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0"])
        defer { declining.stop() }
        let (carol, _) = try Self.lab(w, agent: agent, confirmAgent: declining)
        let proxy = try CorruptingProxy(w, upstream: agent)
        defer { proxy.stop() }
        let env = ["SSH_AUTH_SOCK": agent.socket, "TIERGATE_STATE_DIR": w.file("state")]
        #expect(try w.tg("roster", "sign", "roster.json", "--key", "keys/alice.key").code == 0)
        #expect(try CLI.run(["roster", "sign", "roster.json", "--key", "ssh-agent:\(carol)"], in: w.path, env: env).code == 0)
        #expect(try CLI.run(["roster", "sign", "roster.json", "--key", "ssh-agent:bob@lab"], in: w.path, env: env).code == 0)
        #expect(try CLI.run(["key", "init", "--key", "ssh-agent:\(carol)"], in: w.path, env: env).code == 0)
        #expect(try w.tg("ledger", "init", "lab.ledger", "--roster", "roster.json").code == 0)
        let p = try w.tg("propose", "--tier", "1", "--title", "t1", "--key", "keys/alice.key", "--roster", "roster.json", "--ledger", "lab.ledger", "--json")
        let proposal = try #require(try p.json()["id"]?.string)
        let node = try NodeProcess(in: w.path, args: ["node", "--data", "a", "--listen", "127.0.0.1:0", "--roster", "roster.json", "--key", "keys/alice.key"])
        defer { node.terminate() }

        let ledgerBefore = w.bytes("lab.ledger")
        let stateFile = try #require(try FileManager.default.contentsOfDirectory(atPath: w.file("state")).first { $0.hasSuffix(".signer") })
        let stateBefore = w.bytes("state/" + stateFile)
        let rosterBefore = w.bytes("roster.json")

        let wrong = "SHA256:" + String(repeating: "A", count: 43)
        let cases: [(String, [String: String], String, String)] = [
            ("wrong fingerprint", env, "ssh-agent:\(wrong)", "holds no ssh-ed25519 key matching"),
            ("no agent running (SSH_AUTH_SOCK unset)", ["SSH_AUTH_SOCK": "", "TIERGATE_STATE_DIR": w.file("state")], "ssh-agent:\(carol)", "SSH_AUTH_SOCK is not set"),
            ("an agent socket nobody listens on", ["SSH_AUTH_SOCK": w.file("gone.sock"), "TIERGATE_STATE_DIR": w.file("state")], "ssh-agent:\(carol)", "cannot reach the ssh-agent"),
            ("an agent that refuses to sign", ["SSH_AUTH_SOCK": declining.socket, "TIERGATE_STATE_DIR": w.file("state")], "ssh-agent:\(carol)", "refused to sign"),
            ("an agent returning a bad signature", ["SSH_AUTH_SOCK": proxy.socket, "TIERGATE_STATE_DIR": w.file("state")], "ssh-agent:\(carol)", "does not verify"),
        ]
        for (what, e, key, words) in cases {
            // A vote to the ledger, a halt to a file, a halt to a node, and a founder signature: none happens.
            let vote = try CLI.run(["vote", proposal, "--yes", "--key", key, "--roster", "roster.json", "--ledger", "lab.ledger"], in: w.path, env: e)
            #expect(vote.code == 2 && vote.stderr.contains(words), "\(what), vote: \(vote.code) \(vote.stderr)")
            let out = try CLI.run(["halt", "--reason", "x", "--key", key, "--roster", "roster.json", "--out", "halt.entry"], in: w.path, env: e)
            #expect(out.code == 2 && out.stderr.contains(words), "\(what), halt --out: \(out.code) \(out.stderr)")
            #expect(!FileManager.default.fileExists(atPath: w.file("halt.entry")), "\(what): an entry file was written")
            let toNode = try CLI.run(["halt", "--reason", "x", "--key", key, "--roster", "roster.json", "--node", node.address], in: w.path, env: e)
            #expect(toNode.code == 2, "\(what), halt --node: \(toNode.code) \(toNode.stderr)")
            let sign = try CLI.run(["roster", "sign", "roster.json", "--key", key], in: w.path, env: e)
            #expect(sign.code == 2 && sign.stderr.contains(words), "\(what), roster sign: \(sign.code) \(sign.stderr)")
            #expect(w.bytes("lab.ledger") == ledgerBefore, "\(what): the ledger changed")
            #expect(w.bytes("state/" + stateFile) == stateBefore, "\(what): the signer state moved")
            #expect(w.bytes("roster.json") == rosterBefore, "\(what): the roster file changed")
        }
        // The node stored nothing from any of them.
        let st = try CLI.run(["status", "--node", node.address, "--roster", "roster.json", "--key", "keys/alice.key", "--json"], in: w.path).json()
        #expect(st["halted"] == .bool(false), "\(st)")
        // A passphrase file goes with key files only.
        w.write("pass", Array("x".utf8))
        let pass = try CLI.run(["vote", proposal, "--yes", "--key", "ssh-agent:\(carol)", "--passphrase-file", "pass", "--roster", "roster.json", "--ledger", "lab.ledger"], in: w.path, env: env)
        #expect(pass.code == 2 && pass.stderr.contains("passphrase-file goes with a key file"), "\(pass.stderr)")
        // Control: the same vote through the honest agent is signed.
        let ok = try CLI.run(["vote", proposal, "--yes", "--key", "ssh-agent:\(carol)", "--roster", "roster.json", "--ledger", "lab.ledger"], in: w.path, env: env)
        #expect(ok.code == 0, "\(ok.stderr)")
        #expect(w.bytes("lab.ledger") != ledgerBefore)
    }
}

extension JSONValue {
    fileprivate var array: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
    fileprivate var string: String? { if case .string(let s) = self { s } else { nil } }
}
