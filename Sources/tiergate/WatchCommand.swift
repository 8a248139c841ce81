import ArgumentParser
import Foundation
import TiergateCore
import TiergateCLIKit
import TiergateNode
import TiergateStorage

struct WatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Stream the lab's events as JSON lines: proposals, votes, passes, expiries, halts, resumes, lapses due, equivocations.",
        discussion: """
            One JSON object per line on stdout, flushed, the same objects `node --notify` POSTs: {"event": KIND,
            "time": …, "text": …, "key": …, …}. KIND is proposal_opened, vote_cast, proposal_passed, proposal_expired,
            halt, resume, lapse_due or equivocation; "key" identifies an event across nodes and restarts. Every
            listed node is watched (each pushes a change the moment it has it, SPEC.md §8.7); an event seen through
            several nodes is printed once. Events already in the ledger are printed only with --replay. Runs until
            SIGINT or SIGTERM (exit 0); losing a node is said on stderr, and it is re-dialed.

            Example:
              tiergate watch --node 10.0.0.1:7400 --node 10.0.0.2:7400 --roster roster.json --key keys/dave.key | jq .text
            """)

    @Option(parsing: .singleValue, help: "A node to watch, HOST:PORT; repeatable.") var node: [String] = []
    @Option(help: "The lab's genesis roster file.") var roster: String
    @OptionGroup var link: LinkKeyOptions
    @Flag(help: "First print the events already in the ledger (the newest proposals' page).") var replay = false

    func validate() throws {
        guard !node.isEmpty else { throw ValidationError("name at least one --node HOST:PORT") }
        for n in node where Endpoint(n) == nil { throw ValidationError("--node takes HOST:PORT, got '\(n)'") }
    }

    func run() throws {
        try guarded {
            let genesis = try Load.trustedGenesis(roster).roster
            let identity = try link.load()
            let endpoints = node.compactMap(Endpoint.init)
            let mailbox = Mailbox<NodeWatcher.Event>()
            let watching = NodeWatchers(endpoints, genesis: genesis, identity: identity) { mailbox.put($0) }
            defer { watching.stop() }
            Signals.onTermination { _ in watchStop = 1 }

            var seen: Set<String> = []
            var primed = replay
            var clients: [Endpoint: NodeClient] = [:]
            var nextLook: [Endpoint: UInt64] = [:]
            /// The node's newest proposals page, its halts and equivocations: what is new in it is printed.
            func look(_ e: Endpoint) {
                let now = SystemClock.nowMs()
                nextLook[e] = now + 10_000  // time alone brings events too (expiries, a lapse coming due)
                do {
                    let client = try clients[e] ?? Remote.connect("\(e)", roster: genesis, identity: identity)
                    clients[e] = client
                    let status = try client.status(StatusQuery(at: 0, offset: 0, limit: UInt32(NodeStatus.maxPage)))
                    let events = LabEvents.new(status.verdict, now: max(now, status.verdict.at), seen: &seen)
                    guard primed else {
                        primed = true
                        return
                    }
                    for ev in events { Out.line(ev.json.serialized()) }
                    fflush(nil)  // a pipe to a script: each line as it comes
                } catch {
                    clients[e]?.close()
                    clients[e] = nil
                    Out.err("watch: node \(e): \(error); retrying")
                }
            }
            while watchStop == 0 {
                if let ev = mailbox.take(timeoutMs: 200) {
                    switch ev {
                    case .state(let e, _, _): look(e)
                    case .lost(let e, let why):
                        Out.err("watch: lost node \(e): \(why); reconnecting")
                        clients[e]?.close()
                        clients[e] = nil
                    }
                }
                let now = SystemClock.nowMs()
                for (e, at) in nextLook where now >= at { look(e) }
            }
            for c in clients.values { c.close() }
        }
    }
}

nonisolated(unsafe) var watchStop: Int32 = 0
