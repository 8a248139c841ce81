import ArgumentParser
import TiergateCore

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the authorised tier, halts, proposals with quorum progress, and equivocations.",
        discussion: """
            Exit 0 when the status could be computed (whatever it is), 2 when the ledger or roster cannot be read,
            1 when the ledger does not verify.

            Example: tiergate status --ledger lab.ledger --roster roster.json --json
            """)

    @Option(help: "A local ledger file.") var ledger: String
    @Option(help: "The lab's genesis roster file.") var roster: String
    @Option(help: "Compute the status at this RFC 3339 UTC time instead of now.") var at: String?
    @Flag(help: "Print a JSON object.") var json = false

    func run() throws {
        let at = try Load.time(at, option: "--at")
        try guarded(json: json) {
            let doc = try Load.trustedGenesis(roster)
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
