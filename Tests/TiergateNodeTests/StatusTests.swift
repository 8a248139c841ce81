import Foundation
import Testing
import TiergateCore
@testable import TiergateStorage
import TiergateNode
import TiergateTestKit

/// The typed STATUS answer (SPEC.md §8.6) from a real node over real TCP and Noise: paged, bounded, and served
/// while the node keeps accepting work.
struct StatusTests {
    /// A node whose ledger holds 10,000 open proposals (alice's feed) still answers STATUS — the newest page, a
    /// single proposal, the tier alone — and stores a halt submitted in between. Before the typed answer, STATUS
    /// failed here with "status too large" and `check`/`gate` then denied with the wrong reason.
    @Test func tenThousandOpenProposalsArePagedAndTheNodeKeepsServing() throws {
        var lab = Lab()
        let now = SystemClock.nowMs()
        let count = 10_000
        let proposals = (0..<count).map { i in
            lab.propose("alice", tier: 1, at: now - UInt64(count - i), title: "proposal \(i) " + String(repeating: "x", count: 200), window: 7 * day)
        }
        let node = try TestNode(lab: lab, ledger: proposals)
        defer { node.stop() }
        let client = try node.client(lab)

        let top = try client.status(StatusQuery(limit: StatusQuery.defaultLimit))
        #expect(top.proposalsTotal == count)
        #expect(top.offset == 0)
        #expect(top.verdict.proposals.count == Int(StatusQuery.defaultLimit))
        #expect(top.verdict.proposals.last?.id == proposals.last?.id, "the page holds the newest proposals, oldest first")
        #expect(top.verdict.proposals.allSatisfy { $0.open })
        #expect(top.verdict.entryCount == count)
        #expect(top.text().contains("the 100 newest from position 1 of 10000"))

        // A page of 1,000 proposals of ~300 bytes each fits the byte budget; the frame stays under 4 MiB.
        let big = try client.status(StatusQuery(offset: 500, limit: 5_000))
        #expect(big.verdict.proposals.count == NodeStatus.maxPage)
        #expect(big.verdict.proposals.last?.id == proposals[count - 1 - 500].id)
        #expect(WireMessage.status(request: 1, big).encodedFrame().count < WireMessage.maxFrameBody)

        // What `check` and `gate` ask: no proposals, the tier and the halts.
        let bare = try client.status()
        #expect(bare.verdict.proposals.isEmpty && bare.proposalsTotal == count && !bare.verdict.halted)

        // One proposal by id, as `vote` shows it before signing.
        let one = try client.status(StatusQuery(proposal: proposals[17].id))
        #expect(one.verdict.proposals.map(\.id) == [proposals[17].id])
        let unknown = try client.status(StatusQuery(proposal: Blake2b.hash256([1])))
        #expect(unknown.verdict.proposals.isEmpty)

        // The node keeps accepting submissions, and the next answer reflects them.
        let h = lab.halt("erin", at: SystemClock.nowMs())
        #expect(try client.submit(h).0 == .stored)
        let after = try client.status()
        #expect(after.verdict.halted && after.haltsTotal == 1 && after.verdict.activeHalts.first?.id == h.id)
        #expect(after.verdict.entryCount == count + 1)
    }

    /// A node whose STATUS lies about its totals or booleans is refused by the client's decoder, not believed.
    @Test func aMalformedStatusIsRejected() throws {
        var lab = Lab()
        let p = lab.propose("alice", tier: 1, at: t0)
        let h = lab.halt("erin", at: t0 + 1)
        let good = NodeStatus(verdict: lab.verdict([p, h], at: t0 + 2))
        func decode(_ s: NodeStatus) throws -> NodeStatus {
            var r = ByteReader(s.encoded)
            let d = try NodeStatus(from: &r)
            try r.finish()
            return d
        }
        #expect(try decode(good) == good)
        var lying = good
        lying.haltsTotal = 0  // says "no halts" while one is listed and halted is set
        #expect(throws: DecodeError.self) { try decode(lying) }
        var short = good
        short.proposalsTotal = 0
        #expect(throws: DecodeError.self) { try decode(short) }
        var notHalted = good
        notHalted.verdict.halted = false
        #expect(throws: DecodeError.self) { try decode(notHalted) }
        // A boolean other than 0 or 1 (`halted` is the 17th byte: u64 at, u32, u32).
        var bytes = good.encoded
        bytes[16] = 2
        var r = ByteReader(bytes)
        #expect(throws: DecodeError.self) { _ = try NodeStatus(from: &r) }
    }
}
