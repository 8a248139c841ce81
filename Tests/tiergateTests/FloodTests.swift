import Foundation
import Testing
import TiergateCore
@testable import TiergateStorage

/// Admission under a flood (SPEC.md §12.4, issue "a stop nobody can hide or block"): an outsider who holds no key
/// holds and churns 500 idle connections and 1,000 half-open handshakes (`scripts/flood`, from 50 loopback source
/// addresses, reconnecting at once whenever the node closes one) while members check status and halt through the
/// same node. Real node processes, real TCP, real Noise.
@Suite(.serialized) struct FloodTests {
    static let repoRoot: String = {
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/")
    }()

    @Test func legitimateCallsGetThroughAFloodAndTheLogStaysSmall() throws {
        let w = Workdir()
        try w.lab()
        let a = try NodeProcess(in: w.path, args: ["node", "--data", "a", "--listen", "127.0.0.1:0", "--roster", "roster.json", "--key", "keys/alice.key"])
        defer { a.terminate() }
        let b = try NodeProcess(in: w.path, args: ["node", "--data", "b", "--listen", "127.0.0.1:0", "--roster", "roster.json", "--key", "keys/bob.key",
                                                   "--peer", a.address])
        defer { b.terminate() }
        func status(_ n: NodeProcess) throws -> JSONValue? {
            let r = try w.tg("status", "--node", n.address, "--roster", "roster.json", "--key", "keys/dave.key", "--json")
            return r.code == 0 ? try r.json() : nil
        }
        #expect(ClusterTests().eventually { (try? status(a))??["node"]?["peers"] == .int(1) }, "the peer link is up before the flood")
        let logBefore = a.log.utf8.count

        let flood = Process()
        flood.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        flood.arguments = ["python3", Self.repoRoot + "/scripts/flood", "--target", a.address, "--idle", "500", "--half-open", "1000",
                           "--addresses", "50", "--seconds", "120"]
        let floodOut = Pipe()
        flood.standardOutput = floodOut
        flood.standardError = FileHandle.nullDevice
        try flood.run()
        defer { if flood.isRunning { flood.interrupt(); flood.terminate() } }
        // Let the flood fill every slot it can before the members start.
        #expect(ClusterTests().eventually(10) {
            guard case .object(let refused)? = (try? status(a))??["node"]?["refused"] else { return false }
            return refused.count >= 1
        }, "the flood is being refused")

        var ok = 0
        var peersUp = 0
        var failures: [String] = []
        for i in 0..<100 {
            let r: CLI.Result
            if i % 10 == 9 {
                r = try w.tg("halt", "--reason", "drill \(i)", "--key", "keys/erin.key", "--roster", "roster.json", "--node", a.address)
            } else {
                r = try w.tg("status", "--node", a.address, "--roster", "roster.json", "--key", "keys/dave.key", "--json")
                if r.code == 0, try r.json()["node"]?["peers"] == .int(1) { peersUp += 1 }
            }
            if r.code == 0 { ok += 1 } else { failures.append(r.stderr) }
        }
        let during = try status(a)
        flood.interrupt()
        flood.waitUntilExit()
        let stats = String(decoding: floodOut.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let logGrowth = a.log.utf8.count - logBefore
        print("flood: \(ok) of 100 legitimate calls succeeded; peer link up in \(peersUp) of 90 status answers; node log grew \(logGrowth) bytes; attacker: \(stats.trimmingCharacters(in: .whitespacesAndNewlines)); node refused: \(during?["node"]?["refused"].map { "\($0)" } ?? "?")")
        #expect(ok >= 99, "legitimate calls failed: \(failures.prefix(3))")
        #expect(peersUp == 90, "the existing peer link stayed up")
        #expect(logGrowth < 100_000, "the node's log grew \(logGrowth) bytes")
        #expect(a.log.contains("refused") && a.log.contains("connections from 127.0.1."), "the flood is logged in aggregate: \(a.log.suffix(2000))")
        // The counters say why: slots full (50 addresses share 256), evictions for the members, short timeouts.
        guard case .object(let refused)? = during?["node"]?["refused"] else { Issue.record("no refusal counters"); return }
        let reasons = Set(refused.map(\.0))
        #expect(reasons.contains(AdmissionControl.Refusal.overloaded.rawValue) && reasons.contains(AdmissionControl.Refusal.evicted.rawValue), "\(refused)")
        #expect(stats.contains("\"busy_overloaded\""), "the attacker was told it was refused: \(stats)")
        // Every halt reached the peer too (the link carried them during the flood).
        #expect(ClusterTests().eventually { (try? status(b))??["halts_total"] == .int(10) })
    }
}
