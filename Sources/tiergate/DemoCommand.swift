import ArgumentParser
import Foundation
import TiergateCore
import TiergateStorage
import TiergateNode
import TiergateCLIKit
import TiergateDemo

/// `tiergate demo`: five real node processes on 127.0.0.1 and the whole life of a tier decision, each step checked.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a local five-node cluster through propose → vote → token → gate → halt → resume → audit.",
        discussion: """
            Starts five `tiergate node` processes on 127.0.0.1 (ephemeral ports) for a demo lab whose members use the
            INSECURE demo keys of keys/demo (derived from published seeds). Every step is checked, not just printed;
            the demo exits 0 only if each behaved. Without --keep it stops every process and removes its files.

            Example: tiergate demo            tiergate demo --keep --dir /tmp/tg-demo
            """)

    @Flag(help: "Leave the cluster running and print commands to try against it.") var keep = false
    @Option(help: "Directory for the demo's files (default: a new temporary directory).") var dir: String?
    @Flag(help: "Print a JSON transcript (one object) instead of text.") var json = false

    func run() throws {
        var demo = try Demo(keep: keep, dir: dir, json: json)
        let ok = demo.run()
        if json { Out.json(demo.transcript()) }
        if !ok { throw ExitCode(1) }
    }
}
