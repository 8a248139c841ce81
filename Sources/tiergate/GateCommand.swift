import ArgumentParser
import TiergateCore
import TiergateCLIKit
import TiergateStorage
import TiergateNode
import Foundation

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
            Checks a token (--token, or one fetched from a node) and subscribes to every --node (give the nodes of
            several members): each pushes its verdict at once on every change, with the signed halts in force,
            over the encrypted link (SPEC.md §8.7). CMD starts, in its own process group, only when the token
            checks and at least as many members' nodes as the policy's freshness rule names (--min-answers)
            answered, none with a halt or a lower tier. While it runs, the first halt from ANY node — verified by
            gate against the roster — or any node reporting a halt or a lower tier stops it: SIGTERM to the group,
            SIGKILL after --grace seconds. Lost links are re-made with backoff, and each (re)subscription delivers
            the halts in force, so a halt stored while a link was down still arrives. Only while no node is
            reachable does gate rely on its token alone, until it expires. The token is refreshed at half its
            lifetime. SIGINT/SIGTERM sent to gate are forwarded to CMD. Every decision is logged to stderr.
            CMD gets gate's standard input, output and error and whatever else gate was started with (a
            jobserver's pipe, an MPI launcher's PMI_FD), never a descriptor gate opened itself (its node links).

            Drills (`tiergate drill`): gate treats a drill pushed by any node as a halt it must not act on — it
            checks that it could signal CMD's process group — and acknowledges it with its key (an observer
            key), recording its time to stop in the ledger. With --canary, CMD is a canary job: a drill really
            stops it (as a halt would), the acknowledgement records when it had stopped, and gate exits 76.

            Run as a container's entrypoint (PID 1), gate also reaps the orphans the job leaves behind.

            Exit codes: CMD's own exit code (128+signal if it died of a signal) when it ended by itself;
            76 when gate stopped it (halt, lapse, lost authorisation); 1 when the launch was denied; 2 when gate
            could not evaluate (unreadable roster, too few nodes answered before launch).

            Example (a Kubernetes entrypoint):
              tiergate gate --tier 3 --roster /etc/tiergate/roster.json \\
                --node tiergate-a:7400 --node tiergate-b:7400 --node tiergate-c:7400 -- python train.py
            """)

    @Option(help: "The tier to run at.") var tier: UInt32
    @Option(help: "The lab's genesis roster file.") var roster: String
    @Option(parsing: .singleValue, help: "A node to watch (and fetch tokens from), HOST:PORT; repeat for the nodes of several members.")
    var node: [String] = []
    @Option(help: "Answers needed before launch, from distinct members' nodes (default: the policy's freshness min_attesters).")
    var minAnswers: Int?
    @Option(help: "Start with this token file instead of fetching one.") var token: String?
    @OptionGroup var link: LinkKeyOptions
    @Option(help: "Seconds between SIGTERM and SIGKILL when stopping CMD.") var grace: Double = 10
    @Option(help: "Seconds to wait for the nodes' first answers before deciding on the launch.") var connectWait: Double = 5
    @Flag(help: "CMD is a canary job: a drill stops it for real (exit 76), proving the stop path end to end.") var canary = false
    @Argument(parsing: .postTerminator, help: "The command to run, after --.") var command: [String] = []

    func validate() throws {
        guard !command.isEmpty else { throw ValidationError("give the command to run after --, e.g. -- python train.py") }
        guard !node.isEmpty else { throw ValidationError("give --node HOST:PORT, once per node to watch (the nodes of several members)") }
        guard grace >= 0, connectWait > 0 else { throw ValidationError("--grace must be ≥ 0 and --connect-wait > 0") }
        if let m = minAnswers, m < 1 { throw ValidationError("--min-answers must be at least 1") }
    }

    static func log(_ s: String) { Out.err("gate \(TimeText.format(SystemClock.nowMs())): \(s)") }
    func log(_ s: String) { Self.log(s) }

    /// What reaches gate's main thread: node pushes and lost links, and the outcome of a token refresh.
    enum Event {
        case watch(NodeWatcher.Event)
        case refreshed(Result<TierToken, CLIFailure>)
    }

    func run() throws {
        SpawnActions.recordInheritedDescriptors()  // before anything is opened: what the job gets besides 0, 1 and 2
        try guarded {
            let doc = try Load.trustedGenesis(roster)
            let genesis = doc.roster
            let identity = try link.loadFile()  // a gate acknowledges drills unattended: an observer key file
            var endpoints: [Endpoint] = []
            for n in node {
                guard let e = Endpoint(n) else { throw CLIFailure.cannotEvaluate("--node takes HOST:PORT, got '\(n)'") }
                endpoints.append(e)
            }
            let mailbox = Mailbox<Event>()
            let watching = NodeWatchers(endpoints, genesis: genesis, identity: identity) { mailbox.put(.watch($0)) }
            defer { watching.stop() }

            var current: TierToken
            if let t = token {
                do { current = try TierToken(decoding: try Files.read(t, max: TierToken.maxBytes)) } catch let e as CLIFailure { throw e } catch {
                    throw CLIFailure.cannotEvaluate("\(t) is not a valid token file: \(error)")
                }
            } else {
                current = try GateCommand.fetch(tier: tier, from: endpoints, genesis: genesis, identity: identity).get()
            }
            let first: TokenCheck
            do { first = try TokenChecker.check(current, genesis: genesis, tier: tier, now: SystemClock.nowMs()) } catch {
                throw CLIFailure.negative("launch denied: \(error)")
            }
            var rosters = [first.roster]
            let acker = DrillAcknowledger(genesis: genesis, identity: identity, endpoints: endpoints) { GateCommand.log($0) }
            let need = minAnswers ?? Int(first.roster.policy.freshness.minAttesters)

            // Before launch: the first answers of enough members' nodes, none halted or below the tier.
            var watch = WatchBook()
            let deadline = SystemClock.nowMs() + UInt64(connectWait * 1000)
            while true {
                // Enough members answered and every node answered or failed: decide now, not at the deadline.
                if watch.answeringMembers >= need, endpoints.allSatisfy({ watch.states[$0] != nil || watch.lost[$0] != nil }) { break }
                let now = SystemClock.nowMs()
                guard now < deadline, let ev = mailbox.take(timeoutMs: deadline - now) else { break }
                if case .watch(let w) = ev, let reason = watch.apply(w, tier: tier, genesis: genesis, rosters: rosters, log: log) {
                    throw CLIFailure.negative("launch denied: \(reason)")
                }
                if case .watch(.state(let e, _, let s)) = ev {
                    // Not running yet: a halt now would deny the launch, and there is nothing to stop.
                    for d in acker.newDrills(in: s, from: e, rosters: rosters) {
                        let now = SystemClock.nowMs()
                        acker.acknowledge(d, rosterVersion: s.rosterVersion, receivedAt: now, stoppedAt: now, jobs: 0, canary: .none)
                    }
                }
            }
            guard watch.answeringMembers >= need else {
                throw CLIFailure.cannotEvaluate(
                    "launch denied: \(watch.answeringMembers) member node(s) answered, \(need) needed (the policy's freshness rule, or --min-answers); "
                        + "give --node for the nodes of \(need) members and check they run\(watch.lost.isEmpty ? "" : " (\(watch.lost.values.joined(separator: "; ")))")")
            }
            log("allow tier \(tier): token valid until \(TimeText.format(first.expiresAt)), attested by \(first.attesters.joined(separator: ", ")); "
                + "watching \(endpoints.count) node(s), \(watch.answeringMembers) member(s) answered with no halt")

            let pid = try spawn(command)
            gateChildGroup = pid
            Signals.onTermination { s in
                gateForwardedSignal = s
                if gateChildGroup > 0 { kill(-gateChildGroup, s) }
            }
            log("started \(command.joined(separator: " ")) as pid \(pid) (process group \(pid))")

            var stopReason: String? = nil
            var refreshing = false
            var retryRefreshAt: UInt64 = 0
            var reportedAlone = false
            while stopReason == nil {
                if let code = reap(pid, block: false) {
                    log("command exited with \(code)")
                    throw ExitCode(code)
                }
                // Wait for a push (a halt acts at once), reaping the child at least every 50 ms.
                if let ev = mailbox.take(timeoutMs: 50) {
                    switch ev {
                    case .watch(let w):
                        if let reason = watch.apply(w, tier: tier, genesis: genesis, rosters: rosters, log: log) { stopReason = reason; continue }
                        if case .state(let e, _, let s) = w {
                            for d in acker.newDrills(in: s, from: e, rosters: rosters) { try drill(d, state: s, pid: pid, acker: acker) }
                        }
                    case .refreshed(let result):
                        refreshing = false
                        switch result {
                        case .success(let fresh):
                            if let c = try? TokenChecker.check(fresh, genesis: genesis, tier: tier, now: SystemClock.nowMs()) {
                                current = fresh
                                rosters = [c.roster]
                                log("token refreshed, valid until \(TimeText.format(current.expiresAt))")
                            } else {
                                log("a node issued a token that does not check; retrying")
                                retryRefreshAt = SystemClock.nowMs() + 1_000
                            }
                        case .failure(let f) where f.code == 1:
                            stopReason = "token refresh refused: \(f.message)"
                            continue
                        case .failure(let f):
                            log("token refresh failed (\(f.message)); retrying")
                            retryRefreshAt = SystemClock.nowMs() + 1_000
                        }
                    }
                }
                let now = SystemClock.nowMs()
                if let reason = watch.lapsed(tier: tier, now: now) { stopReason = reason; continue }
                if watch.reachable.isEmpty {
                    if !reportedAlone {
                        log("no node reachable; relying on the token until \(TimeText.format(current.expiresAt))")
                        reportedAlone = true
                    }
                } else {
                    reportedAlone = false
                }
                // Refresh the token at half its lifetime, off this thread (a push must not wait behind it).
                if !refreshing, now >= retryRefreshAt, now >= current.issuedAt + (current.expiresAt - current.issuedAt) / 2 {
                    refreshing = true
                    let order = endpoints.filter { watch.reachable.contains($0) } + endpoints.filter { !watch.reachable.contains($0) }
                    let tier = self.tier
                    Thread.detachNewThread {
                        mailbox.put(.refreshed(GateCommand.fetch(tier: tier, from: order, genesis: genesis, identity: identity)))
                    }
                }
                if now >= current.expiresAt { stopReason = "the token expired at \(TimeText.format(current.expiresAt)) and could not be refreshed" }
            }
            log("stopping pid \(pid): \(stopReason!)")
            stop(pid)
            throw ExitCode(GateCommand.exitStopped)
        }
    }

    /// A drill while CMD runs (SPEC.md §9.5): what a halt would do, without doing it — or, for a canary, doing it.
    func drill(_ d: VerifiedDrill, state s: WatchState, pid: pid_t, acker: DrillAcknowledger) throws {
        let received = SystemClock.nowMs()
        guard canary else {
            // The halt path up to the signal: CMD's process group exists and gate may signal it (signal 0
            // delivers nothing).
            let reachable = kill(-pid, 0) == 0
            acker.acknowledge(d, rosterVersion: s.rosterVersion, receivedAt: received, stoppedAt: SystemClock.nowMs(),
                              jobs: reachable ? 1 : 0, canary: .none)
            return
        }
        log("drill \(d.id.short)… by \(d.member) (\(d.reason)): stopping the canary, pid \(pid)")
        stop(pid)
        let stopped = SystemClock.nowMs()
        let delivered = DispatchSemaphore(value: 0)
        acker.acknowledge(d, rosterVersion: s.rosterVersion, receivedAt: received, stoppedAt: stopped, jobs: 1, canary: .stopped) { _ in
            delivered.signal()
        }
        if delivered.wait(timeout: .now() + 15) == .timedOut { log("the drill acknowledgement was not delivered within 15 s") }
        log("canary stopped by drill \(d.id.short)…")
        throw ExitCode(GateCommand.exitStopped)
    }

    /// A token from the first node that issues one; a refusal (exit 1) only when a node refused and none issued.
    static func fetch(tier: UInt32, from endpoints: [Endpoint], genesis: Roster, identity: any Ed25519Signer) -> Result<TierToken, CLIFailure> {
        var failures: [String] = []
        var refused: String?
        for e in endpoints {
            do {
                let client = try Remote.connect("\(e)", roster: genesis, identity: identity)
                defer { client.close() }
                return .success(try TierToken(decoding: try client.token(tier: tier)))
            } catch ClientError.denied(let reason) {
                refused = refused ?? "node \(e) issues no token for tier \(tier): \(reason)"
            } catch let f as CLIFailure {
                failures.append(f.message)
            } catch {
                failures.append("node \(e): \(error)")
            }
        }
        if let r = refused { return .failure(.negative(r)) }
        return .failure(.cannotEvaluate("no node issued a token: \(failures.joined(separator: "; "))"))
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
        // What the gate was started with, never what it opened: its links to the nodes (SpawnActions).
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        SpawnActions.closeAll(&actions, keeping: SpawnActions.inheritedAtStart)
        let rc = posix_spawnp(&pid, argv[0], &actions, &attr, cargs, environ)
        guard rc == 0 else { throw CLIFailure.cannotEvaluate("cannot start \(argv[0]): \(String(cString: strerror(rc)))") }
        return pid
    }

    /// The child's exit code once it has exited (128+signal for a signal), or nil while it runs.
    func reap(_ pid: pid_t, block: Bool) -> Int32? {
        var status: Int32 = 0
        func code() -> Int32 {
            let sig = status & 0x7f
            return sig == 0 ? (status >> 8) & 0xff : 128 + sig
        }
        if getpid() == 1 {
            // As PID 1 (a container's entrypoint) gate also reaps the orphans re-parented to it — processes the job
            // left behind — which would otherwise stay zombies for the container's life.
            while true {
                let r = waitpid(-1, &status, block ? 0 : WNOHANG)
                if r == pid { return code() }
                if r == 0 { return nil }
                if r < 0 { return errno == EINTR ? nil : 1 }
            }
        }
        let r = waitpid(pid, &status, block ? 0 : WNOHANG)
        guard r == pid else { return r < 0 ? 1 : nil }
        return code()
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

/// What gate knows of the nodes it watches: each one's last state and whether its link is up.
struct WatchBook {
    var states: [Endpoint: (key: PublicKey, state: WatchState)] = [:]
    var reachable: Set<Endpoint> = []
    var lost: [Endpoint: String] = [:]
    /// Halts already verified (logged once).
    var seenHalts: Set<Digest> = []
    /// Nodes whose clock was seen off by more than max_skew (logged once).
    var skewed: Set<Endpoint> = []

    /// Distinct members whose nodes answered (the key each link proved).
    var answeringMembers: Int { Set(states.values.map(\.key)).count }

    /// Applies one event; returns why the job must not run (or must stop), if it must.
    mutating func apply(_ event: NodeWatcher.Event, tier: UInt32, genesis: Roster, rosters: [Roster], log: (String) -> Void) -> String? {
        switch event {
        case .lost(let e, let reason):
            if reachable.remove(e) != nil || lost[e] == nil { log("lost node \(e): \(reason); reconnecting") }
            lost[e] = reason
            return nil
        case .state(let e, let key, let s):
            if !reachable.contains(e) { log("watching node \(e) (key \(key.fingerprint))") }
            let now = SystemClock.nowMs()
            let skew = rosters.last?.policy.maxSkewMs ?? genesis.policy.maxSkewMs
            let off = Int64(clamping: Int128(s.at) - Int128(now))
            if off.magnitude > skew, !skewed.contains(e) {
                skewed.insert(e)
                log("node \(e)'s clock is \(off.magnitude / 1000) s \(off < 0 ? "behind" : "ahead of") gate's (more than max_skew): gate applies lapses at its own clock")
            }
            reachable.insert(e)
            lost[e] = nil
            states[e] = (key, s)
            // Halts are verified here, against the roster: a valid halt from any node stops the run, whatever
            // the other nodes say (one node hiding it changes nothing).
            let (valid, unverified) = s.verifiedHalts(genesis: genesis, rosters: rosters)
            for u in unverified { log("node \(e) sent \(u)") }
            if let h = valid.first {
                seenHalts.insert(h.id)
                return "halt by \(h.member) (\(h.reason)), signed \(TimeText.format(h.time)), verified against the roster; pushed by node \(e)"
            }
            // A node's word alone is enough to stop (the safe direction): a halt the gate cannot verify (by a
            // member of a roster version it has not seen), or authorisation lost.
            if s.halted { return "node \(e) reports a halt in force (\(s.haltsTotal) halt(s)) that gate could not verify itself; stopping (fail closed)" }
            if s.authorizedTier < tier { return "authorisation lost: node \(e) reports tier \(s.authorizedTier) (lapse or revocation)" }
            return nil
        }
    }

    /// Applied on every turn of gate's loop, at gate's own clock (SPEC.md §9.5): a lapse any node announced stops
    /// the job when gate's clock reaches it, even if the node's clock is slow and it has not pushed the lapse yet.
    func lapsed(tier: UInt32, now: UInt64) -> String? {
        for (e, v) in states.sorted(by: { "\($0.key)" < "\($1.key)" }) {
            guard v.state.authorizedTier >= tier, let at = v.state.lapsesAt, at <= now else { continue }
            return "authorisation lapsed at \(TimeText.format(at)) (as node \(e) announced), by gate's clock"
        }
        return nil
    }
}

/// One ``NodeWatcher`` per node (each link must prove the key of a member who runs a node), all started at once;
/// every event goes to `deliver`. Used by `gate`, `slurm enforce` and `watch`.
final class NodeWatchers: Sendable {
    let watchers: [NodeWatcher]

    init(_ endpoints: [Endpoint], genesis: Roster, identity: any Ed25519Signer, deliver: @escaping @Sendable (NodeWatcher.Event) -> Void) {
        let nodeKeys = Set(genesis.members.voters.map(\.key))
        watchers = endpoints.map { NodeWatcher(endpoint: $0, genesis: genesis.hash, identity: identity, nodeKeys: nodeKeys, onEvent: deliver) }
        watchers.forEach { $0.start() }
    }

    func stop() { for w in watchers { _ = try? w.stop().wait() } }
}

/// A thread-safe queue that one thread waits on.
final class Mailbox<T>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [T] = []

    func put(_ item: T) {
        condition.lock()
        items.append(item)
        condition.signal()
        condition.unlock()
    }

    /// The oldest item, waiting up to `timeoutMs` for one.
    func take(timeoutMs: UInt64) -> T? {
        condition.lock()
        defer { condition.unlock() }
        let until = Date(timeIntervalSinceNow: Double(timeoutMs) / 1000)
        while items.isEmpty {
            if !condition.wait(until: until) { break }
        }
        return items.isEmpty ? nil : items.removeFirst()
    }
}
