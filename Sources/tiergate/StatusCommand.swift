import ArgumentParser
import TiergateCore
import TiergateCLIKit
import TiergateStorage

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the authorised tier, halts, proposals with quorum progress, and equivocations.",
        discussion: """
            With --node, the node computes the status from its ledger; with --ledger, it is computed here.
            A node sends the newest proposals (--limit, default 100; --offset to page back); the JSON says how many
            exist (proposals_total). Halts in force are always counted in full.
            Exit 0 when the status could be computed (whatever it is), 2 when the ledger or roster cannot be read,
            1 when the ledger does not verify.

            Examples: tiergate status --ledger lab.ledger --roster roster.json --json
                      tiergate status --node 127.0.0.1:7400 --roster roster.json --key me.key
            """)

    @Option(help: "A local ledger file (with --roster).") var ledger: String?
    @Option(help: "The lab's genesis roster file.") var roster: String?
    @Option(help: "Ask this node, HOST:PORT.") var node: String?
    @OptionGroup var link: LinkKeyOptions

    func validate() throws {
        guard (ledger != nil) != (node != nil) else { throw ValidationError("give either --node HOST:PORT --roster R or --ledger FILE --roster R") }
        guard roster != nil else { throw ValidationError("give --roster (the lab's genesis roster): \(ledger != nil ? "the ledger is checked against it" : "the node link is bound to that lab")") }
    }
    @Option(help: "Compute the status at this RFC 3339 UTC time instead of now.") var at: String?
    @Flag(help: "Print a JSON object.") var json = false
    @Option(help: "With --node: how many proposals to show, newest first (at most 1000).") var limit: UInt32 = StatusQuery.defaultLimit
    @Option(help: "With --node: skip this many of the newest proposals.") var offset: UInt32 = 0

    func run() throws {
        let at = try Load.time(at, option: "--at")
        try guarded(json: json) {
            if let n = node {
                let client = try Remote.connect(n, roster: try Load.trustedGenesis(roster!).roster, identity: try link.load())
                let status: NodeStatus
                do {
                    status = try client.status(StatusQuery(at: self.at == nil ? 0 : at, offset: offset, limit: limit))
                } catch { throw CLIFailure.cannotEvaluate("node \(n): \(error)") }
                if json {
                    guard case .object(let fields) = status.json() else { return }
                    Out.json(.object([("ok", .bool(true))] + fields.filter { $0.0 != "roster_in_force" }))
                } else {
                    Out.line(status.text())
                }
                return
            }
            let doc = try Load.trustedGenesis(roster!)
            let ledger = ledger!
            let audit = try Load.audit(ledger, genesis: doc.roster)
            guard audit.isValid else {
                throw CLIFailure.negative(
                    "\(ledger) does not verify (\(audit.problems.count) problem(s), first: \(audit.problems[0])); run `tiergate ledger verify` for all")
            }
            let verdict = Verdict.compute(genesis: doc.roster, tally: audit.tally, at: at)
            if json {
                guard case .object(let fields) = verdict.json() else { return }
                Out.json(.object([("ok", .bool(true))] + fields))
            } else {
                Out.line(verdict.text())
            }
        }
    }
}
