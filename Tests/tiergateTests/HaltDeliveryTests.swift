import Foundation
import Testing
import TiergateCore
@testable import TiergateStorage

/// `halt` to several nodes (SPEC.md §8.3, issue "a stop nobody can hide"): with two or more `--node`s a halt
/// succeeds only once the nodes of two different members stored it, so one node that drops it cannot lose the
/// stop. Real `tiergate node` processes that do not gossip with each other: each node has what it was handed.
@Suite(.serialized) struct HaltDeliveryTests {
    func node(_ w: Workdir, _ member: String, data: String) throws -> NodeProcess {
        try NodeProcess(in: w.path, args: ["node", "--data", data, "--listen", "127.0.0.1:0", "--roster", "roster.json",
                                           "--key", "keys/\(member).key"])
    }

    func halted(_ w: Workdir, _ n: NodeProcess) throws -> Bool {
        let r = try w.tg("status", "--node", n.address, "--roster", "roster.json", "--key", "keys/dave.key", "--json")
        guard r.code == 0 else { return false }
        return try r.json()["halted"] == .bool(true)
    }

    @Test func aHaltReachesTwoMembersNodesOrFailsSayingSo() throws {
        let w = Workdir()
        try w.lab()
        let a = try node(w, "alice", data: "a")
        defer { a.terminate() }
        let b = try node(w, "bob", data: "b")
        defer { b.terminate() }
        let a2 = try node(w, "alice", data: "a2")  // a second node run with alice's key
        defer { a2.terminate() }

        // Two members' nodes: both store it, and the JSON says who did.
        let ok = try w.tg("halt", "--reason", "eval anomaly", "--key", "keys/erin.key", "--roster", "roster.json",
                          "--node", a.address, "--node", b.address, "--json")
        #expect(ok.code == 0, "\(ok.stderr)")
        let j = try ok.json()
        guard case .array(let stored)? = j["nodes"]?["stored_by"] else { Issue.record("no stored_by: \(ok.stdout)"); return }
        #expect(Set(stored.compactMap { if case .string(let m)? = $0["member"] { m } else { nil } }) == ["alice", "bob"])
        #expect(try halted(w, a) && halted(w, b))
        #expect(!(try halted(w, a2)), "a2 was not given the halt and does not gossip")

        // One of two nodes unreachable: exit 2, and the error says what was reached.
        let oneDown = try w.tg("halt", "--reason", "second", "--key", "keys/erin.key", "--roster", "roster.json",
                               "--node", a2.address, "--node", "127.0.0.1:1")
        #expect(oneDown.code == 2)
        #expect(oneDown.stderr.contains("two different members") && oneDown.stderr.contains(a2.address), "\(oneDown.stderr)")
        #expect(try halted(w, a2), "the halt is in force where it was stored")

        // Two nodes of the same member are not two members.
        let sameMember = try w.tg("halt", "--reason", "third", "--key", "keys/erin.key", "--roster", "roster.json",
                                  "--node", a.address, "--node", a2.address)
        #expect(sameMember.code == 2 && sameMember.stderr.contains("two different members"), "\(sameMember.stderr)")

        // `submit` follows the same rule for a halt carried in a file.
        let file = try w.tg("halt", "--reason", "offline", "--key", "keys/bob.key", "--roster", "roster.json", "--out", "h.entry")
        #expect(file.code == 0, "\(file.stderr)")
        let sub = try w.tg("submit", "h.entry", "--node", a.address, "--node", b.address, "--roster", "roster.json", "--key", "keys/dave.key")
        #expect(sub.code == 0, "\(sub.stderr)")
        #expect(sub.stderr.contains("alice's node") && sub.stderr.contains("bob's node"))
        let subOne = try w.tg("submit", "h.entry", "--node", a.address, "--node", "127.0.0.1:1", "--key", "keys/dave.key")
        #expect(subOne.code == 2)

        // A vote or proposal needs one node: a proposal given one unreachable and one live node is stored.
        let p = try w.tg("propose", "--tier", "1", "--title", "t", "--key", "keys/carol.key", "--roster", "roster.json",
                         "--node", "127.0.0.1:1", "--node", b.address)
        #expect(p.code == 0, "\(p.stderr)")
        #expect(p.stderr.contains("not reached"))
    }
}

/// A node process whose ledger has a damaged length field refuses to start, cuts nothing, and says what to do
/// (SPEC.md §6.3); before, it "cut a torn tail" with only a warning and lost the acknowledged entries after it.
@Suite(.serialized) struct CorruptLedgerNodeTests {
    @Test func aNodeRefusesACorruptLedgerAndSaysWhatToDo() throws {
        let w = Workdir()
        try w.lab()
        let args = ["node", "--data", "n", "--listen", "127.0.0.1:0", "--roster", "roster.json", "--key", "keys/alice.key"]
        var node = try NodeProcess(in: w.path, args: args)
        for i in 0..<5 {
            let r = try w.tg("halt", "--reason", "halt \(i)", "--key", "keys/erin.key", "--roster", "roster.json", "--node", node.address)
            #expect(r.code == 0, "\(r.stderr)")
        }
        node.terminate()
        // Flip the top bit of the length of the second-to-last frame.
        let reader = try LedgerReader(path: w.file("n/ledger"))
        var offsets: [Int] = []
        while let f = try reader.next() { offsets.append(f.offset) }
        var bytes = w.bytes("n/ledger")
        let damaged = offsets[offsets.count - 2]
        bytes[damaged + 1] ^= 0x80
        w.write("n/ledger", bytes)
        do {
            node = try NodeProcess(in: w.path, args: args)
            node.terminate()
            Issue.record("the node started on a corrupt ledger")
        } catch {
            #expect("\(error)".contains("Move it aside") && "\(error)".contains("re-fetches"), "\(error)")
            #expect("\(error)".contains("corrupt frame #\(offsets.count - 2)"), "\(error)")
        }
        #expect(w.bytes("n/ledger") == bytes, "nothing was cut")
        let v = try w.tg("ledger", "verify", "n/ledger", "--roster", "roster.json")
        #expect(v.code == 1 && v.stdout.contains("corrupt frame") && !v.stdout.contains("torn tail:"), "\(v.stdout)")
    }
}
