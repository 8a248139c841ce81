import ArgumentParser
import TiergateCore
import TiergateCLIKit
import TiergateStorage

struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Simulate N nodes running the real gossip state machine; measure how fast one halt reaches them all.",
        discussion: """
            Deterministic (same --seed, same result). Each node dials --fanout random others; messages take 1–10 ms
            (simulated); anti-entropy runs every --interval. A halt is injected at node 0. Reports the hops and
            simulated time until 50 %, 99 % and 100 % of nodes hold it, bytes sent per node, and the bytes per node
            per anti-entropy interval once all are in sync (constant: one digest).

            Example: tiergate simulate --nodes 10000 --fanout 4 --interval 200 --loss 0.01 --seed 7
                     tiergate simulate --nodes 1000 --partition 0.4:3000     # 40 % cut off for 3 s, then healed
            """)

    @Option(help: "Number of nodes.") var nodes: Int = 1000
    @Option(help: "Links each node dials.") var fanout: Int = 4
    @Option(help: "Anti-entropy interval in ms.") var interval: UInt64 = 200
    @Option(help: "Probability a message is lost (0 to 1).") var loss: Double = 0
    @Option(help: "FRACTION:MS — the first FRACTION of nodes is cut off from the rest until MS after the halt.")
    var partition: String?
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Flag(help: "Print a JSON object.") var json = false

    func validate() throws {
        guard nodes >= 2, nodes <= 200_000 else { throw ValidationError("--nodes must be between 2 and 200000") }
        guard fanout >= 1 else { throw ValidationError("--fanout must be at least 1") }
        guard interval >= 1 else { throw ValidationError("--interval must be at least 1 ms") }
        guard loss >= 0, loss < 1 else { throw ValidationError("--loss must be in [0, 1)") }
        if let p = partition {
            let parts = p.split(separator: ":")
            guard parts.count == 2, let f = Double(parts[0]), f > 0, f < 1, UInt64(parts[1]) != nil else {
                throw ValidationError("--partition takes FRACTION:MS, e.g. 0.4:3000")
            }
        }
    }

    func run() throws {
        var s = Simulation.Settings()
        s.nodes = nodes
        s.fanout = fanout
        s.antiEntropyIntervalMs = interval
        s.loss = loss
        s.seed = seed
        if let p = partition {
            let parts = p.split(separator: ":")
            s.partitionSize = Int(Double(nodes) * Double(parts[0])!)
            s.healAtMs = UInt64(parts[1])!
        }
        // A simulated five-member lab; keys from fixed seeds (simulation only).
        let keys = (0..<5).map { try! SigningKey(seed: Blake2b.hash256(Array("tiergate/v1/simulation-key/\($0)".utf8)).bytes) }
        let members = keys.enumerated().map { Member(name: "m\($0.offset)", key: $0.element.publicKey, roles: ["member"]) }
        let roster = Roster(lab: "sim", baseTier: 0, maxTier: 4, members: members, policy: .defaultPolicy(memberCount: 5))
        let halt = SignedEntry(signing: Entry(
            lab: "sim", genesis: roster.hash, rosterVersion: 1, author: keys[0].publicKey, seq: 1, prev: .zero,
            time: 1_767_225_600_000, body: .halt(Halt(reason: "simulated halt"))), with: keys[0])
        let clock = ContinuousClock()
        var sim = Simulation(settings: s, genesis: roster)
        var report: Simulation.Report!
        let elapsed = clock.measure { report = sim.run(halt: halt) }
        let wall = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        if json {
            Out.json(.object([
                ("nodes", .int(report.nodes)), ("links", .int(report.links)), ("fanout", .int(fanout)),
                ("interval_ms", .uint(interval)), ("loss", .number(String(loss))), ("seed", .uint(seed)),
                ("reached", .int(report.reached)), ("complete", .bool(report.reached == report.nodes)),
                ("milestones", .array(report.milestones.map { m in
                    .object([("percent", .int(m.percent)), ("hops", .int(m.hops)), ("ms", .uint(m.ms))])
                })),
                ("messages", .int(report.messages)), ("bytes_per_node", .number(String(format2(report.bytesPerNode)))),
                ("in_sync_bytes_per_node_per_interval", .number(String(format2(report.inSyncBytesPerNodePerInterval)))),
                ("dropped", .int(report.droppedMessages)), ("closed_links", .int(report.closedLinks)), ("wall_seconds", .number(String(format2(wall)))),
            ]))
        } else {
            Out.line("simulated \(report.nodes) nodes, \(report.links) links (fanout \(fanout)), anti-entropy every \(interval) ms, loss \(loss)\(partition.map { ", partition \($0)" } ?? "")")
            for m in report.milestones {
                Out.line("  \(String(m.percent).leftPad(3)) % of nodes hold the halt after \(String(m.hops).leftPad(2)) hops, \(String(m.ms).leftPad(6)) ms simulated")
            }
            Out.line("  reached \(report.reached)/\(report.nodes) nodes\(report.reached == report.nodes ? " (full dissemination)" : " — NOT all nodes")")
            Out.line("  \(report.messages) messages, \(format2(report.bytesPerNode)) bytes sent per node until all held it; \(report.droppedMessages) dropped, \(report.closedLinks) links closed")
            Out.line("  in sync: \(format2(report.inSyncBytesPerNodePerInterval)) bytes per node per anti-entropy interval")
            Out.line("  (\(format2(wall)) s of wall time)")
            for u in report.unreached { Out.line("  unreached: node \(u.node) with \(u.links) links, \(u.ready) ready") }
        }
        if report.reached != report.nodes { throw ExitCode(1) }
    }

    private func format2(_ v: Double) -> String {
        let r = (v * 100).rounded() / 100
        return String(r)
    }
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
