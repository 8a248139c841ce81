import Foundation
import Testing
import TiergateCore
@testable import TiergateStorage
import TiergateNode
import TiergateTestKit

/// P10: kill -9 at random instants under concurrent submissions; nothing acknowledged is lost, the ledger verifies.
@Suite(.serialized) struct CrashSafetyTests {
    /// A writer thread: one member signing halts into its feed and submitting them, recording what was acknowledged.
    final class Submitter: @unchecked Sendable {
        let key: SigningKey
        let genesis: Roster
        var seq: UInt64 = 0
        var prev = Digest.zero
        var acknowledged: [Digest] = []
        let lock = NSLock()

        init(key: SigningKey, genesis: Roster) {
            self.key = key
            self.genesis = genesis
        }

        /// Submits until the connection fails (the node was killed).
        func run(port: Int) {
            guard let client = try? NodeClient(endpoint: Endpoint(host: "127.0.0.1", port: port), genesis: genesis.hash, identity: key, timeout: .seconds(5)) else { return }
            defer { client.close() }
            // Resume after whatever the node holds (entries stored but not acknowledged before a crash included).
            if let head = try? client.head(of: key.publicKey) {
                seq = head.seq
                prev = head.id
            }
            while true {
                let e = SignedEntry(signing: Entry(
                    lab: genesis.lab, genesis: genesis.hash, rosterVersion: 1, author: key.publicKey, seq: seq + 1, prev: prev,
                    time: SystemClock.nowMs(), body: .halt(Halt(reason: "load \(seq + 1)"))), with: key)
                guard let (status, _) = try? client.submit(e) else { return }
                guard status == .stored || status == .alreadyStored else { return }
                lock.lock()
                acknowledged.append(e.id)
                lock.unlock()
                seq += 1
                prev = e.id
            }
        }
    }

    @Test func killNineAtRandomInstantsLosesNothingAcknowledged() throws {
        let w = Workdir()
        try w.lab()
        let doc = try GenesisDocument(fileBytes: w.bytes("roster.json"))
        let names = ["alice", "bob", "carol"]
        let keys = try names.map { n -> SigningKey in
            chmod(w.file("keys/\(n).key"), 0o600)
            return try KeyFiles.readSecretKey(path: w.file("keys/\(n).key"), passphrase: nil)
        }
        let submitters = keys.map { Submitter(key: $0, genesis: doc.roster) }
        var rng = SystemRandomNumberGenerator()
        var port = 0
        var kills = 0
        for round in 0..<22 {
            let node = try NodeProcess(in: w.path, args: ["node", "--data", "crash", "--listen", "127.0.0.1:\(port)", "--roster", "roster.json", "--key", "keys/dave.key", "--log-level", "error"])
            port = node.port
            let group = DispatchGroup()
            let p = node.port
            for s in submitters { DispatchQueue.global().async(group: group) { s.run(port: p) } }
            usleep(UInt32.random(in: 30_000...250_000, using: &rng))
            node.kill9()
            kills += 1
            group.wait()  // every submitter saw its connection die
            _ = round
        }
        // Restart once more, and check everything.
        let node = try NodeProcess(in: w.path, args: ["node", "--data", "crash", "--listen", "127.0.0.1:\(port)", "--roster", "roster.json", "--key", "keys/dave.key", "--log-level", "error"])
        defer { node.terminate() }
        #expect(try w.tg("ledger", "export", "--node", node.address, "--out", "after.ledger", "--roster", "roster.json", "--key", "keys/alice.key").code == 0)
        let audit = try LedgerAudit.run(path: w.file("after.ledger"), genesis: doc.roster)
        #expect(audit.isValid, "\(audit.problems)")
        let stored = Set(audit.tally.halts.keys)
        let acknowledged = submitters.flatMap(\.acknowledged)
        let lost = acknowledged.filter { !stored.contains($0) }
        print("crash safety: \(kills) kills with SIGKILL, \(acknowledged.count) acknowledged entries, \(stored.count) stored, \(lost.count) lost")
        #expect(kills >= 20)
        #expect(acknowledged.count > 100, "the load really ran")
        #expect(lost.isEmpty, "acknowledged but lost: \(lost.count)")
    }
}
