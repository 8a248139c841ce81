import ArgumentParser
import TiergateCore
import TiergateCLIKit
import TiergateStorage
import TiergateBuildInfo

@main
struct Tiergate: AsyncParsableCommand {
    /// "0.1.0 (spec 1, commit 3f2a9c1d0e4b)".
    static let version = Versions.line

    static let configuration = CommandConfiguration(
        commandName: "tiergate",
        abstract: "Paused by default: signed, role-aware quorum for advancing an AI lab's capability tiers.",
        discussion: """
            Exit codes (every command): 0 success / allowed / valid; 1 a negative verdict (invalid, denied);
            2 could not evaluate (unreadable input, wrong passphrase, refused permissions); 64 usage error.

            Example, offline with a local ledger:
              tiergate keygen --name alice --out keys/
              tiergate roster init --lab acme --out roster.json --member alice:keys/alice.pub:leader ...
              tiergate propose --tier 1 --title "Scale to 10^25 FLOP" --key keys/alice.key --roster roster.json --ledger lab.ledger
              tiergate status --ledger lab.ledger --roster roster.json
            """,
        version: version,
        subcommands: [
            KeygenCommand.self, KeyCommand.self, RosterCommand.self, ProposeCommand.self, VoteCommand.self,
            HaltCommand.self, DrillCommand.self, SubmitCommand.self, StatusCommand.self, LedgerCommand.self, NodeCommand.self, TokenCommand.self, CheckCommand.self, GateCommand.self, SlurmCommand.self, WatchCommand.self, SimulateCommand.self, DemoCommand.self,
        ]
    )

    static func main() async {
        StandardDescriptors.ensureOpen()  // before any file is opened
        await main(nil)
    }
}
