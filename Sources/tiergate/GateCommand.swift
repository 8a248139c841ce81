import ArgumentParser
import TiergateCore
import TiergateCLIKit
import TiergateStorage
import TiergateNode

#if canImport(Glibc)
import Glibc
#endif

/// The child's process group, for the signal handler (written before the handler is installed).
nonisolated(unsafe) var gateChildGroup: pid_t = 0
nonisolated(unsafe) var gateForwardedSignal: Int32 = 0

struct GateCommand: ParsableCommand {
    static let exitStopped: Int32 = 76

    static let configuration = CommandConfiguration(
        commandName: "gate",
        abstract: "Run CMD only while tier N is authorised; stop it on a halt, a lapse or a lost token.",
        discussion: """
            Checks a token (--token, or one fetched from the node) and the node, then starts CMD in its own process
            group. While it runs, gate polls the node (every --poll, default 500 ms) for halts and the authorised
            tier, and refreshes the token before it expires. On a halt, a lapse, or a refresh failure that outlives
            the token, it sends SIGTERM to the group, then SIGKILL after --grace seconds. SIGINT/SIGTERM sent to
            gate are forwarded to CMD. Every decision is logged to stderr with its reason.

            Exit codes: CMD's own exit code (128+signal if it died of a signal) when it ended by itself;
            76 when gate stopped it (halt, lapse, lost authorisation); 1 when the launch was denied; 2 when gate
            could not evaluate (unreadable roster, unreachable node before launch).

            Example (a Kubernetes entrypoint):
              tiergate gate --tier 3 --roster /etc/tiergate/roster.json --node tiergate-a:7400 -- python train.py
            """)

    @Option(help: "The tier to run at.") var tier: UInt32
    @Option(help: "The lab's genesis roster file.") var roster: String
    @Option(help: "The node to fetch tokens from and to watch, HOST:PORT.") var node: String
    @Option(help: "Start with this token file instead of fetching one.") var token: String?
    @OptionGroup var link: LinkKeyOptions
    @Option(help: "Seconds between SIGTERM and SIGKILL when stopping CMD.") var grace: Double = 10
    @Option(help: "Milliseconds between polls of the node.") var poll: UInt32 = 500
    @Argument(parsing: .postTerminator, help: "The command to run, after --.") var command: [String] = []

    func validate() throws {
        guard !command.isEmpty else { throw ValidationError("give the command to run after --, e.g. -- python train.py") }
        guard grace >= 0, poll >= 50 else { throw ValidationError("--grace must be ≥ 0 and --poll ≥ 50") }
    }

    func log(_ s: String) { Out.err("gate \(TimeText.format(SystemClock.nowMs())): \(s)") }

    func run() throws {
        try guarded {
            let doc = try Load.trustedGenesis(roster)
            let genesis = doc.roster
            let identity = try link.load()
            var client = try Remote.connect(node, roster: genesis, identity: identity)
            var current: TierToken
            if let t = token {
                do { current = try TierToken(decoding: try Files.read(t, max: TierToken.maxBytes)) } catch let e as CLIFailure { throw e } catch {
                    throw CLIFailure.cannotEvaluate("\(t) is not a valid token file: \(error)")
                }
            } else {
                current = try fetch(client)
            }
            let first: TokenCheck
            do { first = try TokenChecker.check(current, genesis: genesis, tier: tier, now: SystemClock.nowMs()) } catch {
                throw CLIFailure.negative("launch denied: \(error)")
            }
            let view = try OnlineCheck.view(client, address: node)
            if view.halted { throw CLIFailure.negative("launch denied: node \(node) reports \(view.reason)") }
            if view.tier < tier { throw CLIFailure.negative("launch denied: node \(node) reports authorised tier \(view.tier)") }
            log("allow tier \(tier): token valid until \(TimeText.format(first.expiresAt)), attested by \(first.attesters.joined(separator: ", "))")

            let pid = try spawn(command)
            gateChildGroup = pid
            for sig in [SIGINT, SIGTERM] {
                signal(sig) { s in
                    gateForwardedSignal = s
                    if gateChildGroup > 0 { kill(-gateChildGroup, s) }
                }
            }
            log("started \(command.joined(separator: " ")) as pid \(pid) (process group \(pid))")

            var stopReason: String? = nil
            while stopReason == nil {
                if let code = reap(pid, block: false) {
                    log("command exited with \(code)")
                    throw ExitCode(code)
                }
                usleep(poll * 1000)
                let now = SystemClock.nowMs()
                // Watch the node over the open session (reconnecting when it dropped): a halt or a lower tier stops the run.
                do {
                    let v: OnlineCheck.NodeView
                    if let seen = try? OnlineCheck.view(client, address: node) {
                        v = seen
                    } else {
                        client = try Remote.connect(node, roster: genesis, identity: identity)
                        v = try OnlineCheck.view(client, address: node)
                    }
                    if v.halted { stopReason = "halt seen at node \(node): \(v.reason)"; continue }
                    if v.tier < tier { stopReason = "authorisation lost: node \(node) reports tier \(v.tier) (lapse or revocation)"; continue }
                } catch {
                    log("cannot reach node \(node) (\(error)); relying on the token until \(TimeText.format(current.expiresAt))")
                }
                // Refresh the token at half its lifetime.
                if now >= current.issuedAt + (current.expiresAt - current.issuedAt) / 2 {
                    do {
                        // The watch above has just used (or re-opened) the session.
                        let fresh = try fetch(client)
                        _ = try TokenChecker.check(fresh, genesis: genesis, tier: tier, now: now)
                        current = fresh
                        log("token refreshed, valid until \(TimeText.format(current.expiresAt))")
                    } catch let f as CLIFailure where f.code == 1 {
                        stopReason = "token refresh refused: \(f.message)"
                        continue
                    } catch {
                        log("token refresh failed (\(error)); retrying")
                    }
                }
                if now >= current.expiresAt { stopReason = "the token expired at \(TimeText.format(current.expiresAt)) and could not be refreshed" }
            }
            log("stopping pid \(pid): \(stopReason!)")
            stop(pid)
            throw ExitCode(GateCommand.exitStopped)
        }
    }

    func fetch(_ client: NodeClient) throws -> TierToken {
        do { return try TierToken(decoding: try client.token(tier: tier)) } catch ClientError.denied(let reason) {
            throw CLIFailure.negative("node \(node) issues no token for tier \(tier): \(reason)")
        } catch {
            throw CLIFailure.cannotEvaluate("node \(node): \(error)")
        }
    }

    /// Starts `argv` in a new process group.
    func spawn(_ argv: [String]) throws -> pid_t {
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        // Own process group; an empty signal mask and default handlers, whatever this process blocks or ignores.
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attr, 0)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attr, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attr, &defaults)
        var pid: pid_t = 0
        let cargs = argv.map { strdup($0) } + [nil]
        defer { cargs.forEach { free($0) } }
        let rc = posix_spawnp(&pid, argv[0], nil, &attr, cargs, environ)
        guard rc == 0 else { throw CLIFailure.cannotEvaluate("cannot start \(argv[0]): \(String(cString: strerror(rc)))") }
        return pid
    }

    /// The child's exit code once it has exited (128+signal for a signal), or nil while it runs.
    func reap(_ pid: pid_t, block: Bool) -> Int32? {
        var status: Int32 = 0
        let r = waitpid(pid, &status, block ? 0 : WNOHANG)
        guard r == pid else { return r < 0 ? 1 : nil }
        let sig = status & 0x7f
        return sig == 0 ? (status >> 8) & 0xff : 128 + sig
    }

    /// SIGTERM to the group, SIGKILL after the grace period.
    func stop(_ pid: pid_t) {
        kill(-pid, SIGTERM)
        let deadline = SystemClock.nowMs() + UInt64(grace * 1000)
        while SystemClock.nowMs() < deadline {
            if let code = reap(pid, block: false) {
                log("pid \(pid) stopped (\(code))")
                kill(-pid, SIGKILL)  // anything left in its group
                return
            }
            usleep(20_000)
        }
        log("pid \(pid) did not stop within \(grace) s: SIGKILL")
        kill(-pid, SIGKILL)
        _ = reap(pid, block: true)
    }
}
