import Foundation
import Testing
import TiergateCore

/// Two signers with one key never equivocate by accident (SPEC.md §7.3): 20 `propose` processes started at once
/// with alice's key against a real node take turns on the signer lock; every one is stored at its own position and
/// the node holds no equivocation. (Before the lock, two concurrent signers took the same position 3 times in 4.)
@Suite(.serialized) struct SignerLockTests {
    @Test func twentyConcurrentSignersWithOneKeyNeverEquivocate() throws {
        let w = Workdir()
        try w.lab()
        let node = try NodeProcess(in: w.path, args: ["node", "--data", "n", "--listen", "127.0.0.1:0", "--roster", "roster.json",
                                                      "--key", "keys/bob.key"])
        defer { node.terminate() }
        let results = UncheckedResults()
        let dir = w.path, address = node.address
        // One thread per signer, so that all 20 run at once (concurrentPerform would run only as many as there are
        // cores, and on a loaded 2-core machine two signers need not overlap at all).
        let group = DispatchGroup()
        for i in 0..<20 {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                let r = try? CLI.run(["propose", "--tier", "1", "--title", "concurrent \(i)", "--key", "keys/alice.key",
                                      "--roster", "roster.json", "--node", address], in: dir)
                results.append(r)
            }
        }
        group.wait()
        let all = results.all
        #expect(all.count == 20)
        #expect(all.allSatisfy { $0?.code == 0 }, "\(all.compactMap { $0?.code == 0 ? nil : $0?.stderr })")
        let s = try w.tg("status", "--node", node.address, "--roster", "roster.json", "--key", "keys/dave.key", "--json").json()
        #expect(s["equivocations"] == .array([]))
        #expect(s["proposals_total"] == .int(20), "every proposal stored, each at its own position")
        let waited = all.filter { $0?.stderr.contains("waiting for it to finish") == true }.count
        #expect(waited > 0, "the signers did contend for the lock")
    }
}

final class UncheckedResults: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [CLI.Result?] = []
    func append(_ r: CLI.Result?) { lock.withLock { items.append(r) } }
    var all: [CLI.Result?] { lock.withLock { items } }
}
