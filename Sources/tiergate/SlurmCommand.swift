import ArgumentParser
import Foundation
import TiergateCore
import TiergateCLIKit
import TiergateStorage
import TiergateNode

struct SlurmCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slurm",
        abstract: "Enforce the authorised tier through Slurm: admit jobs (PrologSlurmctld) and stop them on a halt.",
        discussion: """
            Both read one configuration file (JSON, default /etc/tiergate/slurm.json; see examples/slurm/): the
            genesis roster, the cluster's key (an observer's, root-only), two or more nodes, the partitions whose jobs
            must declare a tier, and whether to suspend or cancel. A job declares its tier with `--comment tier=N`.
            Neither ever drains a node. See examples/slurm/README.md for slurm.conf.
            """,
        subcommands: [SlurmProlog.self, SlurmEnforce.self])
}

/// Shared by both: the configuration, the genesis roster and the key.
struct SlurmSetup {
    let config: SlurmConfig
    let genesis: Roster
    let identity: SigningKey

    init(path: String) throws {
        let bytes = try Files.read(path, max: 1 << 20)
        do { config = try SlurmConfig(json: try JSONValue.parse(bytes)) } catch {
            throw CLIFailure.cannotEvaluate("\(path): \(error)")
        }
        genesis = try Load.trustedGenesis(config.roster).roster
        identity = try Load.signingKey(config.key, passphraseFile: config.passphraseFile)
    }

    @discardableResult
    func run(_ tool: String, _ args: [String]) -> (code: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        do { try p.run() } catch { return (-1, "cannot run \(tool): \(error)") }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Leaves `why` where the job's owner sees it (`scontrol show job`: AdminComment), marked as tiergate's.
    func note(_ job: String, _ why: String) {
        let text = String((SlurmPolicy.marker + " " + why).replacingOccurrences(of: "\"", with: "'").prefix(900))
        run(config.scontrol, ["update", "JobId=\(job)", "AdminComment=\(text)"])
    }

    /// Puts `message` where the job's owner sees it at once: `srun` and `salloc` print it on their stderr (`scontrol
    /// notify`), a running batch job gets it in its stderr; for a batch job that has not run yet (refused at
    /// admission) it is appended to the job's stderr file, written as the job's owner (`setpriv`) so that a path
    /// the owner controls can never make root write elsewhere. Only as root; best effort (the AdminComment has it).
    func tellOwner(_ job: String, _ message: String) {
        run(config.scontrol, ["notify", job, message])
        guard getuid() == 0 else { return }
        let show = run(config.scontrol, ["show", "job", job])
        let out = SlurmJobOutput(showJob: show.output)
        guard show.code == 0, out.batch, let path = out.stderr, let uid = out.uid, let gid = out.gid else { return }
        run(config.setpriv, ["--reuid=\(uid)", "--regid=\(gid)", "--clear-groups", "--",
                             "/bin/sh", "-c", "printf '%s\\n' \"$1\" >> \"$2\"", "sh", message, path])
    }
}

struct SlurmProlog: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prolog",
        abstract: "Admit a job (run as Slurm's PrologSlurmctld): 0 admit, 1 refuse. Never drains a node.",
        discussion: """
            Reads SLURM_JOB_ID, SLURM_JOB_COMMENT and SLURM_JOB_PARTITION from Slurm. A job declaring `tier=N` above
            the base tier, or declaring none on a protected partition (then: the lab's highest tier), is admitted
            only with a token for that tier that checks, and answers from enough members' nodes with no halt. A
            refused job is held, and the reason is left in its AdminComment (`scontrol show job ID`); `tiergate slurm
            enforce` releases it once its tier is authorised. Any failure to evaluate refuses (fail closed).
            """)

    @Option(help: "The configuration file.") var config = "/etc/tiergate/slurm.json"

    func run() throws {
        let env = ProcessInfo.processInfo.environment
        guard let job = env["SLURM_JOB_ID"], !job.isEmpty else {
            Out.err("tiergate slurm prolog: SLURM_JOB_ID is not set; Slurm runs this as PrologSlurmctld (see examples/slurm/)")
            throw ExitCode(2)
        }
        let setup: SlurmSetup
        do { setup = try SlurmSetup(path: config) } catch {
            Out.err("tiergate slurm prolog: job \(job) refused: \(error)")
            throw ExitCode(1)
        }
        let j = SlurmJob(id: job, comment: env["SLURM_JOB_COMMENT"] ?? "", partition: env["SLURM_JOB_PARTITION"] ?? "",
                         state: "PENDING", reason: "", adminComment: "")
        func refuse(_ why: String) throws -> Never {
            Out.err("tiergate slurm prolog: job \(job) refused: \(why)")
            setup.note(job, "refused: \(why)")
            setup.tellOwner(job, "tiergate: job \(job) refused: \(why). A batch job is held and released when its tier is authorised (scontrol show job \(job): AdminComment)")
            setup.run(setup.config.scontrol, ["hold", job])  // no retry loop; the enforcer releases it when allowed
            throw ExitCode(1)
        }
        let tier: UInt32
        switch SlurmPolicy.tier(of: j, config: setup.config, roster: setup.genesis) {
        case .failure(let e): try refuse("\(e)")
        case .success(let t): tier = t
        }
        if tier <= setup.genesis.baseTier { return }  // the base tier needs no authorisation
        var endpoints: [Endpoint] = []
        for n in setup.config.nodes {
            guard let e = Endpoint(n) else { try refuse("the configuration names '\(n)', not HOST:PORT") }
            endpoints.append(e)
        }
        let token: TierToken
        switch GateCommand.fetch(tier: tier, from: endpoints, genesis: setup.genesis, identity: setup.identity) {
        case .failure(let f): try refuse("tier \(tier): \(f.message)")
        case .success(let t): token = t
        }
        let checked: TokenCheck
        do { checked = try TokenChecker.check(token, genesis: setup.genesis, tier: tier, now: SystemClock.nowMs()) } catch {
            try refuse("tier \(tier): the token does not check: \(error)")
        }
        do {
            _ = try OnlineCheck.confirm(setup.config.nodes, roster: setup.genesis, identity: setup.identity, tier: tier,
                                        need: setup.config.minAnswers ?? Int(checked.roster.policy.freshness.minAttesters))
        } catch let f as CLIFailure {
            try refuse(f.message)
        }
        Out.err("tiergate slurm prolog: job \(job) admitted at tier \(tier) (attested by \(checked.attesters.joined(separator: ", ")))")
    }
}

struct SlurmEnforce: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enforce",
        abstract: "Stop Slurm jobs above the authorised tier on a halt or lapse; hold pending ones; release after a resume.",
        discussion: """
            A service for the controller host (run it as root, with the configuration's key). It watches every
            configured node (each pushes its verdict and signed halts at once, SPEC.md §8.7) and, within a second of
            any valid halt from any node, a node reporting a halt, or a lapse, suspends (or cancels, per the
            configuration) every running job above the authorised tier and holds pending ones, each with the reason
            in its AdminComment; once the tier is authorised again it resumes and releases what it stopped (never an
            administrator's hold). While it reaches no node for longer than the token TTL, the authorised tier is
            taken to be the base tier (fail closed). Every action is logged with the halt's id, author and reason.

            Drills (`tiergate drill`): the enforcer reads the queue and works out what a halt would stop, without
            stopping it; jobs on the configuration's "canary_partition" are stopped for real (and stay stopped:
            scancel them afterwards). It acknowledges the drill with the configuration's key (an observer key):
            the number of jobs and its time to stop go into the ledger (SPEC.md §5.8).
            """)

    @Option(help: "The configuration file.") var config = "/etc/tiergate/slurm.json"
    @Option(help: "Seconds between looks at the job queue when nothing changes.") var interval: Double = 1

    static func log(_ s: String) { Out.err("slurm-enforce \(TimeText.format(SystemClock.nowMs())): \(s)") }
    func log(_ s: String) { Self.log(s) }

    func run() throws {
        try guarded {
            let setup = try SlurmSetup(path: config)
            var endpoints: [Endpoint] = []
            for n in setup.config.nodes {
                guard let e = Endpoint(n) else { throw CLIFailure.cannotEvaluate("\(config): '\(n)' is not HOST:PORT") }
                endpoints.append(e)
            }
            let mailbox = Mailbox<NodeWatcher.Event>()
            let watching = NodeWatchers(endpoints, genesis: setup.genesis, identity: setup.identity) { mailbox.put($0) }
            let acker = DrillAcknowledger(genesis: setup.genesis, identity: setup.identity, endpoints: endpoints) { SlurmEnforce.log($0) }
            defer { watching.stop() }
            Signals.onTermination { _ in enforceStop = 1 }
            log("watching \(endpoints.map { "\($0)" }.joined(separator: ", ")); jobs above the authorised tier are \(setup.config.action == .suspend ? "suspended" : "cancelled")")

            var states: [Endpoint: WatchState] = [:]
            var lastHeard = SystemClock.nowMs()
            let started = SystemClock.nowMs()
            var lastAllowed: UInt32? = nil
            var nextLook: UInt64 = 0
            while enforceStop == 0 {
                var changed = false
                if let ev = mailbox.take(timeoutMs: 200) {
                    switch ev {
                    case .state(let e, _, let s):
                        states[e] = s
                        lastHeard = SystemClock.nowMs()
                        for d in acker.newDrills(in: s, from: e, rosters: []) { drill(d, state: s, setup: setup, acker: acker) }
                    case .lost(let e, let why):
                        if states.removeValue(forKey: e) != nil { log("lost node \(e): \(why); reconnecting") }
                    }
                    changed = true
                }
                let now = SystemClock.nowMs()
                // Wait for the first answers before acting (a fresh start must not suspend everything at once).
                if states.isEmpty && now < started + 5_000 { continue }
                guard changed || now >= nextLook else { continue }
                nextLook = now + UInt64(interval * 1000)
                let (allowed, why) = allowedTier(states, setup: setup, now: now, lastHeard: lastHeard)
                if allowed != lastAllowed {
                    log("authorised tier \(allowed)\(why.isEmpty ? "" : ": \(why)")")
                    lastAllowed = allowed
                }
                let q = setup.run(setup.config.squeue, ["--json"])
                guard q.code == 0, let jobs = try? SlurmJob.parse(squeueJSON: Array(q.output.utf8)) else {
                    log("cannot read the job queue (\(setup.config.squeue) --json, exit \(q.code)): \(q.output.prefix(300))")
                    continue
                }
                let byID = Dictionary(jobs.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
                // Stop (or start) every job first, then explain: the notes cost a Slurm call each and must not
                // delay the next job's suspension.
                let plan = SlurmPolicy.plan(jobs: jobs, allowed: allowed, config: setup.config, roster: setup.genesis)
                let done = plan.filter { perform($0, setup: setup) }
                for action in done { explain(action, job: byID[action.jobID], setup: setup, allowed: allowed, why: why) }
            }
            log("stopping")
        }
    }

    /// A drill (SPEC.md §5.8): what a halt would stop now — running jobs above the base tier — without stopping
    /// them, except the canaries, which are stopped for real; then the signed acknowledgement.
    func drill(_ d: VerifiedDrill, state s: WatchState, setup: SlurmSetup, acker: DrillAcknowledger) {
        let received = SystemClock.nowMs()
        let q = setup.run(setup.config.squeue, ["--json"])
        guard q.code == 0, let jobs = try? SlurmJob.parse(squeueJSON: Array(q.output.utf8)) else {
            // Not acknowledged: the drill shows this enforcer as missing, which is the truth.
            log("drill \(d.id.short)…: cannot read the job queue (exit \(q.code)), so a halt would stop nothing here; not acknowledged")
            return
        }
        let partition = Dictionary(jobs.map { ($0.id, $0.partition) }, uniquingKeysWith: { a, _ in a })
        let stops = SlurmPolicy.plan(jobs: jobs, allowed: s.baseTier, config: setup.config, roster: setup.genesis).filter {
            switch $0 {
            case .suspend, .cancel: return true
            default: return false
            }
        }
        var canary = CanaryOutcome.none
        if let c = setup.config.canaryPartition {
            let canaries = stops.filter { partition[$0.jobID] == c }
            if !canaries.isEmpty {
                // No enforcer marker in the AdminComment: the enforcer never resumes a stopped canary.
                let ok = canaries.map { perform($0, setup: setup) }.allSatisfy { $0 }
                canary = ok ? .stopped : .failed
                for a in canaries {
                    setup.run(setup.config.scontrol, ["update", "JobId=\(a.jobID)", "AdminComment=drill canary: \(a.verb) by drill \(d.id.short)"])
                    log("job \(a.jobID) (canary) \(a.verb) by drill \(d.id.short)…")
                }
            }
        }
        acker.acknowledge(d, rosterVersion: s.rosterVersion, receivedAt: received, stoppedAt: SystemClock.nowMs(),
                          jobs: UInt32(clamping: stops.count), canary: canary)
    }

    /// The tier every watched node allows (the lowest), the base tier if any node shows a halt — verified here,
    /// or only reported — or lapse, and the base tier while no node has answered for longer than the token TTL.
    func allowedTier(_ states: [Endpoint: WatchState], setup: SlurmSetup, now: UInt64, lastHeard: UInt64) -> (UInt32, String) {
        let base = setup.genesis.baseTier
        let ttl = setup.genesis.policy.tokenTTLMs
        guard !states.isEmpty else {
            return now > lastHeard + ttl ? (base, "no node reachable for longer than the token TTL (fail closed)") : (base, "no node answered yet")
        }
        for (e, s) in states.sorted(by: { "\($0.key)" < "\($1.key)" }) {
            let (valid, _) = s.verifiedHalts(genesis: setup.genesis, rosters: [])
            if let h = valid.first { return (base, "halt \(h.id.short)… by \(h.member) (\(h.reason)), from node \(e)") }
            if s.halted { return (base, "node \(e) reports \(s.haltsTotal) halt(s) in force") }
        }
        var allowed = UInt32.max
        var why = ""
        for (e, s) in states {
            var t = s.authorizedTier
            if let at = s.lapsesAt, at <= now, t > s.baseTier {
                t = s.baseTier
                why = "authorisation lapsed at \(TimeText.format(at)) (node \(e))"
            }
            allowed = min(allowed, t)
        }
        return (allowed, why)
    }

    /// Runs the Slurm command for `action`; false (logged) when Slurm refused it.
    func perform(_ action: SlurmPolicy.Action, setup: SlurmSetup) -> Bool {
        let c = setup.config
        let (tool, args) = action.command(c)
        var r = setup.run(tool, args)
        if case .release(let j) = action {
            // Held by us, or requeued by the prolog's refusal with a start time minutes ahead: release it (if held)
            // and let it start now; either step alone may be a no-op.
            let start = setup.run(c.scontrol, ["update", "JobId=\(j)", "StartTime=now"])
            if start.code == 0 { r.code = 0 }
        }
        guard r.code == 0 else {
            log("could not \(action.verb.dropLast(2)) job \(action.jobID): \(tool) \(args.joined(separator: " ")) exited \(r.code): \(r.output.prefix(300))")
            return false
        }
        return true
    }

    /// Leaves the reason for a done action in the job (AdminComment, and the owner's terminal or stderr) and the log.
    func explain(_ action: SlurmPolicy.Action, job: SlurmJob?, setup: SlurmSetup, allowed: UInt32, why: String) {
        var reason: String
        switch job.map({ SlurmPolicy.tier(of: $0, config: setup.config, roster: setup.genesis) }) {
        case .failure(let e)?: reason = "its tier cannot be read (\(e)), so it counts as the highest tier"
        case .success(let t)?: reason = "tier \(t) is above the authorised tier \(allowed)"
        case nil: reason = "its tier is above the authorised tier \(allowed)"
        }
        if !why.isEmpty { reason += " (\(why))" }
        switch action {
        case .suspend, .cancel:
            setup.note(action.jobID, "\(action.verb): \(reason)")
            setup.run(setup.config.scontrol, ["notify", action.jobID, "tiergate: job \(action.jobID) \(action.verb): \(reason)"])
        case .hold:
            setup.note(action.jobID, "\(action.verb): \(reason)")
        case .resume, .release:
            setup.run(setup.config.scontrol, ["update", "JobId=\(action.jobID)", "AdminComment="])
        }
        log("job \(action.jobID) \(action.verb): \(action.isStop ? reason : "its tier is authorised again (tier \(allowed))")")
    }
}

extension SlurmPolicy.Action {
    var verb: String {
        switch self {
        case .suspend: return "suspended"
        case .cancel: return "cancelled"
        case .hold: return "held"
        case .resume: return "resumed"
        case .release: return "released"
        }
    }

    func command(_ c: SlurmConfig) -> (String, [String]) {
        switch self {
        case .suspend(let j): return (c.scontrol, ["suspend", j])
        case .cancel(let j): return (c.scancel, [j])
        case .hold(let j): return (c.scontrol, ["hold", j])
        case .resume(let j): return (c.scontrol, ["resume", j])
        case .release(let j): return (c.scontrol, ["release", j])
        }
    }

    var isStop: Bool {
        switch self {
        case .suspend, .cancel, .hold: return true
        case .resume, .release: return false
        }
    }
}

nonisolated(unsafe) var enforceStop: Int32 = 0
