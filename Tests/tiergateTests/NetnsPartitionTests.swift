import Foundation
import Testing
import TiergateCore

/// A real partition (issue 15, SPEC.md §8.5): five node processes, each in a network namespace of its own, joined
/// by a bridge in a sixth — a switch. For 60 s the switch is split in two (nodes 0 and 1 moved to a second bridge):
/// nothing is reset, packets to the other side just go nowhere and TCP links stall. A halt submitted on the
/// minority side meanwhile reaches the other minority node but not the majority; after the heal it reaches every
/// node. Needs root (CAP_NET_ADMIN) and iproute2; under CI=true a machine without them fails this test loudly.
@Suite(.serialized) struct NetnsPartitionTests {
    static let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Runs an iproute2 command; a failure throws with its output.
    @discardableResult
    static func run(_ exe: String, _ args: [String]) throws -> String {
        let r = try CLI.run(args, executable: exe)
        guard r.code == 0 else {
            throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "\(exe) \(args.joined(separator: " ")): \(r.stdout)\(r.stderr)"])
        }
        return r.stdout
    }

    @Test func aHaltOnTheMinoritySideReachesEveryNodeAfterTheHeal() throws {
        guard let ip = Self.ip, getuid() == 0, (try? Self.run(ip, ["netns", "add", "tgprobe\(getpid())"])) != nil else {
            return CI.skipOrFail("NetnsPartitionTests", "network namespaces are not available here (needs root and iproute2)")
        }
        try? Self.run(ip, ["netns", "del", "tgprobe\(getpid())"])
        let tag = "tg\(getpid() % 100_000)"
        let hub = "\(tag)h"
        let ns = (0..<5).map { "\(tag)n\($0)" }
        let addr = (0..<5).map { "10.77.\(getpid() % 200).\($0 + 1)" }
        defer {
            for n in ns + [hub] { try? Self.run(ip, ["netns", "del", n]) }  // deleting a namespace removes its veths
        }
        try Self.run(ip, ["netns", "add", hub])
        try Self.run(ip, ["-n", hub, "link", "set", "lo", "up"])
        for br in ["br0", "br1"] {
            try Self.run(ip, ["-n", hub, "link", "add", br, "type", "bridge"])
            try Self.run(ip, ["-n", hub, "link", "set", br, "up"])
        }
        for i in 0..<5 {
            try Self.run(ip, ["netns", "add", ns[i]])
            try Self.run(ip, ["-n", ns[i], "link", "set", "lo", "up"])
            try Self.run(ip, ["link", "add", "\(tag)a\(i)", "netns", ns[i], "type", "veth", "peer", "name", "\(tag)b\(i)", "netns", hub])
            try Self.run(ip, ["-n", ns[i], "addr", "add", "\(addr[i])/24", "dev", "\(tag)a\(i)"])
            try Self.run(ip, ["-n", ns[i], "link", "set", "\(tag)a\(i)", "up"])
            try Self.run(ip, ["-n", hub, "link", "set", "\(tag)b\(i)", "master", "br0"])
            try Self.run(ip, ["-n", hub, "link", "set", "\(tag)b\(i)", "up"])
        }

        let w = Workdir()
        try w.lab()
        let names = ["alice", "bob", "carol", "dave", "erin"]
        var nodes: [NodeProcess] = []
        defer { nodes.forEach { $0.terminate() } }
        for i in 0..<5 {
            let peers = (0..<5).filter { $0 != i }.flatMap { ["--peer", "\(addr[$0]):7400"] }
            let n = try NodeProcess(in: w.path, args: ["node", "--data", "n\(i)", "--listen", "\(addr[i]):7400", "--roster", "roster.json",
                                                       "--key", "keys/\(names[i]).key"] + peers,
                                    wrapper: (ip, ["netns", "exec", ns[i]]))
            n.host = addr[i]
            nodes.append(n)
        }
        // The test talks to each node from the node's own namespace (its machine), partitioned or not.
        func tg(_ i: Int, _ args: [String]) throws -> CLI.Result { try CLI.run(["netns", "exec", ns[i], CLI.binary] + args, in: w.path, executable: ip) }
        func status(_ i: Int) -> JSONValue? {
            guard let r = try? tg(i, ["status", "--node", nodes[i].address, "--roster", "roster.json", "--key", "keys/dave.key", "--json"]), r.code == 0 else { return nil }
            return try? r.json()
        }
        /// Distinct member nodes this node hears from (two links per pair: each side dials the other).
        func peers(_ i: Int) -> Int {
            guard case .array(let heard)? = status(i)?["node"]?["peers_heard"] else { return -1 }
            return Set(heard.map { "\($0["key"] ?? .null)" }).count
        }
        func halted(_ i: Int) -> Bool { status(i)?["halted"] == .bool(true) }
        #expect(ClusterTests().eventually(30) { (0..<5).allSatisfy { peers($0) == 4 } }, "a full mesh before the partition")

        // Partition {0, 1} | {2, 3, 4}: the minority's switch ports move to a bridge of their own.
        let minority = [0, 1], majority = [2, 3, 4]
        for i in minority { try Self.run(ip, ["-n", hub, "link", "set", "\(tag)b\(i)", "master", "br1"]) }
        let partitioned = Date()
        // Midway, a halt on the minority side: it reaches the other minority node, not the majority.
        Thread.sleep(forTimeInterval: 20)
        let h = try tg(1, ["halt", "--reason", "halt during the partition", "--key", "keys/erin.key", "--roster", "roster.json", "--node", nodes[0].address])
        #expect(h.code == 0, "\(h.stderr)")
        #expect(ClusterTests().eventually(10) { halted(1) }, "the minority side gossips")
        let remaining = 60 - Date().timeIntervalSince(partitioned)
        if remaining > 0 { Thread.sleep(forTimeInterval: remaining) }
        #expect(majority.allSatisfy { !halted($0) }, "the partition held for 60 s")
        #expect(peers(0) == 1 && peers(2) == 2, "the dead links were noticed: each side hears only its own")

        // Heal; time each node until it has the halt.
        for i in minority { try Self.run(ip, ["-n", hub, "link", "set", "\(tag)b\(i)", "master", "br0"]) }
        let healed = Date()
        var delays: [Int: Double] = [:]
        while delays.count < majority.count, Date().timeIntervalSince(healed) < 30 {
            for i in majority where delays[i] == nil && halted(i) { delays[i] = Date().timeIntervalSince(healed) }
            usleep(20_000)
        }
        let text = majority.map { i in "node \(i) " + (delays[i].map { String(format: "%.2f s", $0) } ?? "never") }.joined(separator: ", ")
        print("netns partition: 60 s, halt on the minority side; after the heal the majority had it: \(text) (each a status call from the node's namespace, polled in turn; goal: within 3 s)")
        #expect(delays.count == majority.count, "every node has the halt after the heal: \(text)")
        #expect(minority.allSatisfy { halted($0) })
    }
}
