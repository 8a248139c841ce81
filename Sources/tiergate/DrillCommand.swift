import ArgumentParser
import Foundation
import TiergateCore
import TiergateCLIKit
import TiergateStorage
import TiergateNode

struct DrillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drill",
        abstract: "Exercise the halt path: every enforcer acts as on a halt without stopping work, and acknowledges.",
        discussion: """
            A drill is a signed entry, pushed like a halt; it changes no tier. Every enforcer watching the nodes —
            `tiergate gate` and `tiergate slurm enforce` — determines what it would have stopped, stops its canary
            job if it has one (gate --canary, or the Slurm canary partition), and signs a drill acknowledgement
            with its observer key, recorded in the ledger with its time to stop. The policy names the enforcers
            that must acknowledge and the deadline (SPEC.md §5.8); `tiergate drill report` prints the table.

            Examples:
              tiergate drill --reason "monthly drill" --key keys/bob.key --roster roster.json \\
                --node 10.0.0.1:7400 --node 10.0.0.2:7400 --wait
              tiergate drill report 3f2a…(64 hex) --node 10.0.0.1:7400 --roster roster.json --key keys/bob.key
            """,
        subcommands: [DrillStart.self, DrillReport.self],
        defaultSubcommand: DrillStart.self)
}

struct DrillStart: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start",
        abstract: "Start a drill (the default: `tiergate drill --reason …`); prints its id.",
        discussion: """
            Allowed to the members the policy's drill roles name (by default: those who may halt). With --wait,
            waits for the acknowledgements until the policy's deadline and prints the report: exit 0 when every
            enforcer stopped in time, 1 when one did not (it is named).

            Example: tiergate drill start --reason "monthly drill" --key keys/bob.key --roster roster.json \\
                       --node 10.0.0.1:7400 --node 10.0.0.2:7400 --wait
            """)

    @Option(help: "Why, in one line (required).") var reason: String
    @Flag(help: "Wait for the enforcers' acknowledgements (until the policy's deadline) and print the report.") var wait = false
    @OptionGroup var signing: SigningOptions

    func validate() throws {
        do { _ = try TextRules.checkText(Array(reason.utf8), field: "--reason", minLength: 1) } catch {
            throw ValidationError("\(error)")
        }
        guard reason.utf8.count <= Limits.maxReason else { throw ValidationError("--reason is longer than \(Limits.maxReason) bytes") }
        guard !signing.node.isEmpty else {
            throw ValidationError("a drill exercises the nodes and the enforcers watching them: deliver it with --node HOST:PORT")
        }
    }

    func run() throws {
        try guarded(json: signing.json) {
            var ctx = try SigningContext.load(signing)
            if !ctx.roster.policy.mayDrill(roles: ctx.member.roles) {
                throw CLIFailure.negative(
                    "\(ctx.member.name) (roles \(ctx.member.roles.joined(separator: ","))) may not start drills under this roster's policy")
            }
            let enforcers = ctx.roster.policy.drillEnforcers(in: ctx.roster).map(\.name)
            let signed = try ctx.signAndDeliver(.drill(Drill(reason: reason)), describe: [
                "reason:    \"\(reason)\"",
                "enforcers: \(enforcers.isEmpty ? "none named (no observer in the roster)" : enforcers.joined(separator: ", ")), "
                    + "within \(DurationText.format(ctx.roster.policy.drill.deadlineMs))",
            ])
            guard wait, case .nodes(let clients, _) = ctx.destination, let client = clients.first else {
                ctx.report(signed, extra: [("drill_id", .string(signed.id.hex))], lastLine: signed.id.hex)
                return
            }
            let deadline = signed.entry.time + ctx.roster.policy.drill.deadlineMs
            Out.err("waiting for the enforcers' acknowledgements until \(TimeText.format(deadline))")
            var drill: DrillStatus?
            while true {
                let status: NodeStatus
                do { status = try client.status(StatusQuery(at: 0, offset: 0, limit: 0)) } catch {
                    throw CLIFailure.cannotEvaluate("node \(client.endpoint): \(error)")
                }
                drill = status.verdict.drill(signed.id)
                if let d = drill, d.state != .pending { break }
                if SystemClock.nowMs() > deadline + 2_000 { break }  // the node's clock may be a little behind
                usleep(100_000)
            }
            try DrillReport.print(drill, id: signed.id, json: signing.json)
        }
    }
}

struct DrillReport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Print a drill's acknowledgements: each enforcer's time to stop, and who is missing.",
        discussion: """
            From a node (--node, which holds the 16 newest drills) or offline from a ledger file (--ledger, the
            whole history, recomputed here from the signed entries). Exit 0 when every enforcer the policy names
            stopped within the deadline, 1 when the drill failed or is still pending, 2 when the drill is unknown.

            Example: tiergate drill report 3f2a…(64 hex) --ledger lab.ledger --roster roster.json --json
            """)

    @Argument(help: "The drill's id (64 hex digits), as `tiergate drill` printed it.") var drillID: String
    @Option(help: "A local ledger file (with --roster).") var ledger: String?
    @Option(help: "The lab's genesis roster file.") var roster: String
    @Option(help: "Ask this node, HOST:PORT.") var node: String?
    @OptionGroup var link: LinkKeyOptions
    @Flag(help: "Print a JSON object.") var json = false

    func validate() throws {
        guard Digest(hex: drillID) != nil else { throw ValidationError("DRILL_ID is 64 hex digits, got '\(drillID)'") }
        guard (ledger != nil) != (node != nil) else { throw ValidationError("give either --node HOST:PORT or --ledger FILE (with --roster)") }
    }

    func run() throws {
        let id = Digest(hex: drillID)!
        try guarded(json: json) {
            let doc = try Load.trustedGenesis(roster)
            if let n = node {
                let client = try Remote.connect(n, roster: doc.roster, identity: try link.load())
                defer { client.close() }
                let status: NodeStatus
                do { status = try client.status(StatusQuery(at: 0, offset: 0, limit: 0)) } catch {
                    throw CLIFailure.cannotEvaluate("node \(n): \(error)")
                }
                guard let d = status.verdict.drill(id) else {
                    throw CLIFailure.cannotEvaluate("node \(n) holds no drill \(id.short)… among its \(status.verdict.drills.count) newest "
                        + "(of \(status.drillsTotal)); for an older one, export the ledger and use --ledger")
                }
                try Self.print(d, id: id, json: json)
                return
            }
            let audit = try Load.audit(ledger!, genesis: doc.roster)
            guard audit.isValid else {
                throw CLIFailure.negative("\(ledger!) does not verify (\(audit.problems.count) problem(s), first: \(audit.problems[0])); run `tiergate ledger verify`")
            }
            let v = Verdict.compute(genesis: doc.roster, tally: audit.tally, at: SystemClock.nowMs())
            guard let d = v.drill(id) else {
                if let why = v.ignored.first(where: { $0.id == id }) {
                    throw CLIFailure.negative("drill \(id.short)… does not count: \(why.reason)")
                }
                throw CLIFailure.cannotEvaluate("\(ledger!) holds no drill \(id.short)…")
            }
            try Self.print(d, id: id, json: json)
        }
    }

    /// Prints the report; exit 0 only for a drill that succeeded.
    static func print(_ d: DrillStatus?, id: Digest, json: Bool) throws {
        guard let d else { throw CLIFailure.cannotEvaluate("the node does not report drill \(id.short)… (does it count? see `tiergate status`)") }
        if json {
            Out.json(.object([("ok", .bool(d.state == .succeeded)), ("drill", Verdict.drillJSON(d))]))
        } else {
            Out.line(d.report())
        }
        if d.state != .succeeded { throw ExitCode(1) }
    }
}

/// The enforcer's side of drills (SPEC.md §5.8, §9.5), shared by `gate` and `slurm enforce`: which pushed drills
/// are new and verify, and the signed acknowledgement, delivered to every node watched.
final class DrillAcknowledger: @unchecked Sendable {  // `seen` is used from the enforcer's main thread only
    let genesis: Roster
    let identity: SigningKey
    let endpoints: [Endpoint]
    let log: @Sendable (String) -> Void
    private var seen: Set<Digest> = []

    init(genesis: Roster, identity: SigningKey, endpoints: [Endpoint], log: @escaping @Sendable (String) -> Void) {
        self.genesis = genesis
        self.identity = identity
        self.endpoints = endpoints
        self.log = log
    }

    /// The drills in `state` not handled before that verify against the roster (a node's word is not enough).
    func newDrills(in state: WatchState, from e: Endpoint, rosters: [Roster]) -> [VerifiedDrill] {
        let (valid, unverified) = state.verifiedDrills(genesis: genesis, rosters: rosters)
        for u in unverified { log("node \(e) sent \(u); not acknowledged") }
        return valid.filter { seen.insert($0.id).inserted }
    }

    /// Signs the acknowledgement and delivers it to every node watched, on another thread; `done` gets how many
    /// stored it. Returns the signed entry.
    @discardableResult
    func acknowledge(_ d: VerifiedDrill, rosterVersion: UInt64, receivedAt: UInt64, stoppedAt: UInt64, jobs: UInt32,
                     canary: CanaryOutcome, done: (@Sendable (Int) -> Void)? = nil) -> SignedEntry {
        let entry = Entry(
            lab: genesis.lab, genesis: genesis.hash, rosterVersion: rosterVersion, author: identity.publicKey, seq: 0, prev: .zero,
            time: max(SystemClock.nowMs(), stoppedAt),
            body: .drillAck(DrillAck(drill: d.id, receivedAt: receivedAt, stoppedAt: stoppedAt, jobs: jobs, canary: canary)))
        let signed = SignedEntry(signing: entry, with: identity)
        let latency = stoppedAt >= d.time ? stoppedAt - d.time : 0
        log("drill \(d.id.short)… by \(d.member) (\(d.reason)): would stop \(jobs) job(s)"
            + (canary == .none ? "" : ", canary \(canary.name)") + "; time to stop \(latency) ms; acknowledging as \(signed.id.short)…")
        let (genesis, identity, endpoints, log) = (self.genesis, self.identity, self.endpoints, self.log)
        Thread.detachNewThread {
            var stored = 0
            var failures: [String] = []
            for e in endpoints {
                do {
                    let client = try Remote.connect("\(e)", roster: genesis, identity: identity)
                    defer { client.close() }
                    try Remote.submit(signed, to: client)
                    stored += 1
                } catch let f as CLIFailure {
                    failures.append(f.message)
                } catch {
                    failures.append("node \(e): \(error)")
                }
            }
            log("drill acknowledgement \(signed.id.short)… stored by \(stored) of \(endpoints.count) node(s)"
                + (failures.isEmpty ? "" : "; \(failures.joined(separator: "; "))"))
            done?(stored)
        }
        return signed
    }
}
