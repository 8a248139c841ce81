import Testing
@testable import TiergateCore
@testable import TiergateStorage
import TiergateTestKit

struct WireTests {
    /// A STATUS with a verdict holding proposals, votes and halts, and node facts.
    static func sampleStatus(_ entries: [SignedEntry]) -> NodeStatus {
        var tally = Tally()
        for e in entries { tally.add(e, connected: true) }
        let v = Verdict.compute(genesis: Lab().genesis, tally: tally, at: t0 + 60_000)
        return NodeStatus.page(of: v, offset: 0, limit: 10, node: NodeStatus.NodeInfo(
            name: "node-a", peerNodes: 3, digest: Blake2b.hash256([9]), detachedHalts: 1, buffered: 2, framesIn: 99,
            connectionsClosedForMisbehaviour: 4))
    }

    static func samples() -> [WireMessage] {
        let e = EncodingTests.sampleEntries()
        let k = VectorKeys.key("alice").publicKey
        return [
            .hello(version: 1, genesis: Lab().genesis.hash, role: .node, name: "node-a"),
            .error("go away"),
            .entries(e.map(\.bytes)),
            .evidence(first: e[0].bytes, second: e[1].bytes),
            .digest(Blake2b.hash256([1])),
            .frontier(replyWanted: true, Frontier(heads: [FrontierHead(author: k, seq: 3, head: e[0].id)], detachedHalts: [e[2].id], evidenceAuthors: [k])),
            .submit(request: 7, entry: e[1].bytes),
            .ack(request: 7, status: .rejected, reason: "gap"),
            .statusRequest(request: 8, StatusQuery(at: t0, offset: 2, limit: 50)),
            .statusRequest(request: 8, StatusQuery(proposal: e[0].id)),
            .status(request: 8, WireTests.sampleStatus(e)),
            .headRequest(request: 9, author: k),
            .head(request: 9, seq: 2, id: e[0].id, time: t0, entry: e[0].bytes),
            .exportRequest(request: 10),
            .export(request: 10, last: true, chunk: [1, 2, 3]),
            .watchRequest(request: 11),
            .watch(request: 11, seq: 2, WatchState(at: t0, halted: true, authorizedTier: 0, baseTier: 0, lapsesAt: t0 + day, rosterVersion: 1,
                                                   rosterHash: Lab().genesis.hash, haltsTotal: 2, halts: [e[2].bytes])),
            .ping(42),
        ]
    }

    /// A member who makes many keys equivocate, or a proposal with many (non-member) votes, cannot make a STATUS
    /// undecodable or oversized: every list is cut to its wire bound and carries its total.
    @Test func statusListsStayWithinTheirBounds() throws {
        var lab = Lab()
        let p = lab.propose("alice", tier: 1, at: t0)
        var v = lab.verdict([p], at: t0 + 1)
        v.equivocations = (0..<300).map { i in
            EquivocationStatus(member: "m\(i)", key: lab.keys["alice"]!.publicKey, seq: UInt64(i), ids: [.zero, .zero])
        }
        v.proposals[0].votes = (0..<300).map { CastVote(member: "x\($0)", choice: .yes, time: t0 + UInt64($0), reason: "", ignored: nil) }
        let s = NodeStatus.page(of: v, offset: 0, limit: 10, node: nil)
        #expect(s.verdict.equivocations.count == NodeStatus.maxEquivocations && s.equivocationsTotal == 300)
        #expect(s.verdict.proposals[0].votes.count == NodeStatus.maxVotes)
        #expect(s.isPartial)
        var r = ByteReader(s.encoded)
        let decoded = try NodeStatus(from: &r)
        try r.finish()
        #expect(decoded == s)
        #expect(WireMessage.status(request: 1, s).encodedFrame().count < WireMessage.maxFrameBody)
    }

    @Test func everyMessageRoundTrips() throws {
        for m in Self.samples() {
            #expect(try WireMessage(body: m.encodedBody()) == m, "\(m.name)")
        }
    }

    @Test func parserHandlesByteByByteAndMergedChunks() throws {
        let stream = Self.samples().flatMap { $0.encodedFrame() }
        var p = FrameParser()
        var got: [WireMessage] = []
        for b in stream {
            p.append([b])
            while let m = try p.next() { got.append(m) }
        }
        #expect(got == Self.samples())
        var q = FrameParser()
        q.append(stream)
        var all: [WireMessage] = []
        while let m = try q.next() { all.append(m) }
        #expect(all == Self.samples())
        #expect(q.buffered == 0)
    }

    @Test func frameLimitIsCheckedBeforeBuffering() throws {
        var p = FrameParser(maxBody: 100)
        p.append([0, 0, 0, 100, 5] + [UInt8](repeating: 0, count: 99))  // exactly the limit: a DIGEST with bad length
        #expect(throws: FrameError.self) { try p.next() }  // malformed (digest is 32 bytes), but not "too large"
        var q = FrameParser(maxBody: 100)
        q.append([0, 0, 0, 101])  // one over: refused on the header alone
        #expect(throws: FrameError.tooLarge(declared: 101, max: 100)) { try q.next() }
        var r = FrameParser()
        r.append([0xff, 0xff, 0xff, 0xff])
        #expect(throws: FrameError.tooLarge(declared: 0xffff_ffff, max: WireMessage.maxFrameBody)) { try r.next() }
    }

    @Test func malformedMessagesGetSpecificErrors() {
        #expect(throws: DecodeError.invalidValue(field: "message.type", reason: "unknown message type 99")) { try WireMessage(body: [99]) }
        #expect(throws: DecodeError.trailingBytes(count: 1)) { try WireMessage(body: WireMessage.digest(.zero).encodedBody() + [0]) }
        #expect(throws: DecodeError.truncated(field: "digest")) { try WireMessage(body: [5, 1, 2]) }
        #expect(throws: DecodeError.invalidValue(field: "hello.role", reason: "unknown role 9")) {
            try WireMessage(body: [1, 0, 0, 0, 1] + [UInt8](repeating: 0, count: 32) + [9, 0, 0, 0, 0])
        }
        var unsorted = ByteWriter()
        unsorted.u8(6)
        unsorted.u8(0)
        let a = VectorKeys.key("alice").publicKey, b = VectorKeys.key("bob").publicKey
        unsorted.list([max(a, b), min(a, b)]) { w, k in w.raw(k.bytes); w.u64(1); w.raw(Digest.zero.bytes) }
        unsorted.u32(0)
        unsorted.u32(0)
        #expect(throws: DecodeError.notCanonicalOrder(field: "frontier.heads")) { try WireMessage(body: unsorted.bytes) }
    }
}

/// Two or more GossipNodes wired back to back in memory.
struct Mesh {
    var nodes: [GossipNode]
    /// (node, peer) -> (node, peer)
    var links: [Int: [PeerID: (Int, PeerID)]] = [:]
    var inflight: [(to: Int, peer: PeerID, message: WireMessage)] = []
    var persisted: [[SignedEntry]]
    var closed: [(Int, String)] = []
    var now = t0
    var bytes = 0

    init(count: Int, genesis: Roster) {
        nodes = Array(repeating: GossipNode(store: EntryStore(genesis: genesis)), count: count)
        persisted = Array(repeating: [], count: count)
    }

    mutating func link(_ a: Int, _ b: Int) {
        let pa = (links[a]?.count ?? 0) + 1, pb = (links[b]?.count ?? 0) + 1
        links[a, default: [:]][pa] = (b, pb)
        links[b, default: [:]][pb] = (a, pa)
        apply(a, nodes[a].connected(pa, outbound: true, now: now))
        apply(b, nodes[b].connected(pb, outbound: false, now: now))
    }

    mutating func apply(_ node: Int, _ ds: [Directive]) {
        for d in ds {
            switch d {
            case .send(let p, let m):
                bytes += m.encodedFrame().count
                if let (o, op) = links[node]?[p] { inflight.append((o, op, m)) }
            case .persist(let e, let h, _): persisted[node] += e + h
            case .close(let p, let reason, _):
                closed.append((node, reason))
                if let (o, op) = links[node]?[p] {
                    links[node]?[p] = nil
                    links[o]?[op] = nil
                    nodes[o].disconnected(op)
                }
            case .export, .notice: break
            }
        }
    }

    /// Delivers messages until none are in flight; returns how many were delivered.
    @discardableResult
    mutating func settle() -> Int {
        var n = 0
        while !inflight.isEmpty {
            let (to, p, m) = inflight.removeFirst()
            n += 1
            apply(to, nodes[to].received(m, from: p, now: now))
        }
        return n
    }

    mutating func tickAll() {
        var rng = Simulation.SplitMix(seed: 1)
        now += 10_000
        for i in nodes.indices { apply(i, nodes[i].tick(now: now, random: &rng)) }
    }
}

struct GossipTests {
    @Test func aSubmittedEntryIsPersistedAckedAndPushedAtOnce() {
        var lab = Lab()
        var mesh = Mesh(count: 3, genesis: lab.genesis)
        mesh.link(0, 1)
        mesh.link(1, 2)
        mesh.settle()
        let h = lab.halt("erin", at: t0)
        // A client on node 0 (peer 99) submits.
        mesh.links[0]?[99] = nil
        _ = mesh.nodes[0].connected(99, outbound: false, now: t0)
        _ = mesh.nodes[0].received(.hello(version: 1, genesis: lab.genesis.hash, role: .client, name: "cli"), from: 99, now: t0)
        let ds = mesh.nodes[0].received(.submit(request: 1, entry: h.bytes), from: 99, now: t0)
        // Persist comes before the ACK and before the push.
        guard case .persist(let stored, _, _) = ds.first else { Issue.record("first directive must persist"); return }
        #expect(stored == [h])
        #expect(ds.contains { if case .send(99, .ack(1, .stored, _)) = $0 { return true } else { return false } })
        mesh.apply(0, ds)
        mesh.settle()
        for i in 0..<3 { #expect(mesh.nodes[i].store.verdict(at: t0 + 1).halted, "node \(i)") }
        // Submitting it again is acknowledged as already stored, and nothing is pushed.
        let again = mesh.nodes[0].received(.submit(request: 2, entry: h.bytes), from: 99, now: t0)
        #expect(again.count == 1)
    }

    /// STATUS, TOKEN and ATTEST share one cached verdict: recomputed when an entry is added or when time crosses
    /// `validUntil`, never otherwise; an answer from the cache equals a fresh computation.
    @Test func theVerdictIsCachedByTallyEpochAndValidity() {
        var lab = Lab()
        var node = GossipNode(store: EntryStore(genesis: lab.genesis))
        _ = node.connected(1, outbound: false, now: t0)
        _ = node.received(.hello(version: 1, genesis: lab.genesis.hash, role: .client, name: "cli"), from: 1, now: t0)
        func status(_ at: UInt64) -> NodeStatus? {
            let ds = node.received(.statusRequest(request: 1, StatusQuery(limit: 10)), from: 1, now: at)
            guard case .send(_, .status(_, let s))? = ds.first else { return nil }
            return s
        }
        let p = lab.propose("alice", tier: 1, at: t0, window: hour)
        _ = node.received(.submit(request: 2, entry: p.bytes), from: 1, now: t0)
        let before = node.verdictsComputed
        let first = status(t0 + 1)
        let second = status(t0 + 2)
        #expect(node.verdictsComputed == before + 1, "the second answer comes from the cache")
        #expect(first?.verdict.at == t0 + 1 && second?.verdict.at == t0 + 2)
        #expect(second.map { VerdictValidityTests.same($0.verdict, node.store.verdict(at: t0 + 2)) } == true)
        // A new entry changes the tally epoch: recomputed.
        _ = node.received(.submit(request: 3, entry: lab.vote("bob", p, at: t0 + 3).bytes), from: 1, now: t0 + 3)
        let third = status(t0 + 4)
        #expect(node.verdictsComputed == before + 2)
        #expect(third?.verdict.proposals.first?.yes == 1)
        // Time crosses the window's close (validUntil): recomputed, and the proposal is closed.
        let closed = status(t0 + hour + 1)
        #expect(node.verdictsComputed == before + 3)
        #expect(closed?.verdict.proposals.first?.open == false)
        // A clock that went backwards never reads the cache.
        _ = status(t0 + 5)
        #expect(node.verdictsComputed == before + 4)
    }

    @Test func antiEntropyRepairsAndCostsOneDigestWhenInSync() {
        var lab = Lab()
        let up = VerdictTests.authorised(&lab)
        var mesh = Mesh(count: 2, genesis: lab.genesis)
        for e in up { _ = mesh.nodes[0].inject(e) }
        mesh.link(0, 1)
        mesh.settle()
        // The HELLO exchange triggers anti-entropy: node 1 catches up without any push.
        #expect(mesh.nodes[1].store.entryCount == up.count)
        #expect(mesh.nodes[1].store.computeDigest() == mesh.nodes[0].store.computeDigest())
        // In sync: one tick each sends one DIGEST and nothing else follows.
        mesh.bytes = 0
        mesh.tickAll()
        let delivered = mesh.settle()
        #expect(delivered == 2)
        #expect(mesh.bytes == 2 * 37)
    }

    @Test func frontierExchangeSendsOnlyWhatIsMissing() {
        var lab = Lab()
        let up = VerdictTests.authorised(&lab)
        var a = EntryStore(genesis: lab.genesis)
        var b = EntryStore(genesis: lab.genesis)
        for e in up { _ = try! a.insert(e) }
        for e in up.prefix(2) { _ = try! b.insert(e) }
        let (missing, ev, truncated) = a.missing(from: b.frontier)
        #expect(!truncated)
        #expect(Set(missing.map(\.id)) == Set(up.suffix(2).map(\.id)))
        #expect(ev.isEmpty)
        #expect(b.lacksSomething(of: a.frontier))
        #expect(!a.lacksSomething(of: b.frontier))
    }

    @Test func aLargeCatchUpProceedsInBoundedBatches() {
        var lab = Lab()
        var settings = GossipSettings()
        settings.antiEntropyBatchBytes = 20_000  // about 60 entries per batch
        var mesh = Mesh(count: 2, genesis: lab.genesis)
        mesh.nodes = [GossipNode(store: EntryStore(genesis: lab.genesis), settings: settings), GossipNode(store: EntryStore(genesis: lab.genesis), settings: settings)]
        let p = lab.propose("alice", tier: 1, at: t0)
        _ = mesh.nodes[0].inject(p)
        for i in 0..<600 { _ = mesh.nodes[0].inject(lab.vote(["bob", "carol", "dave"][i % 3], p, .abstain, at: t0 + UInt64(i))) }
        var largest = 0
        mesh.link(0, 1)
        while !mesh.inflight.isEmpty {
            let (to, peer, m) = mesh.inflight.removeFirst()
            largest = max(largest, m.encodedFrame().count)
            mesh.apply(to, mesh.nodes[to].received(m, from: peer, now: mesh.now))
        }
        #expect(mesh.nodes[1].store.entryCount == 601)
        #expect(mesh.nodes[1].store.computeDigest() == mesh.nodes[0].store.computeDigest())
        #expect(largest < 25_000, "no message beyond the batch bound")
    }

    /// A catch-up sends each entry once. DIGESTs and FRONTIERs wanting a reply that arrive before a batch's
    /// follow-up start nothing (before, each started a duplicate 4 MiB batch until the link's send queue passed
    /// 16 MiB and the catching-up peer was cut as "not reading"); a follow-up that predates the batch in flight
    /// (two exchanges crossed at connect) gets the *next* entries, so two batches can be in flight but none twice;
    /// a follow-up that never comes only delays the next exchange by `batchFollowUpTimeoutMs`.
    @Test func aCatchUpSendsEachEntryOnce() {
        var lab = Lab()
        var settings = GossipSettings()
        settings.antiEntropyBatchBytes = 20_000
        var a = GossipNode(store: EntryStore(genesis: lab.genesis), settings: settings)
        var bStore = EntryStore(genesis: lab.genesis)  // the catching-up peer's store
        let p = lab.propose("alice", tier: 1, at: t0)
        _ = a.inject(p)
        for i in 0..<600 { _ = a.inject(lab.vote(["bob", "carol", "dave"][i % 3], p, .abstain, at: t0 + UInt64(i))) }
        _ = a.connected(1, outbound: false, now: t0)
        _ = a.received(.hello(version: 1, genesis: lab.genesis.hash, role: .node, name: "b"), from: 1, now: t0)
        var sent: [Digest] = []
        func batch(_ ds: [Directive]) -> [SignedEntry] {
            let list = ds.flatMap { d -> [SignedEntry] in
                guard case .send(_, .entries(let l)) = d else { return [] }
                return l.map { try! SignedEntry(decoding: $0) }
            }
            sent += list.map(\.id)
            return list
        }
        let stale = bStore.frontier
        let first = a.received(.frontier(replyWanted: true, stale), from: 1, now: t0)
        let one = batch(first)
        #expect(!one.isEmpty, "the first batch goes out")
        #expect(first.contains { if case .send(_, .frontier(true, _)) = $0 { return true } else { return false } }, "and asks for the follow-up")
        // Before the batch is in: B's periodic DIGEST and a FRONTIER wanting a reply start nothing.
        #expect(a.received(.digest(bStore.computeDigest()), from: 1, now: t0 + 1_000).isEmpty)
        #expect(batch(a.received(.frontier(replyWanted: true, stale), from: 1, now: t0 + 1_500)).isEmpty)
        // A follow-up from before the batch arrived gets the next entries, not the same ones.
        let two = batch(a.received(.frontier(replyWanted: false, stale), from: 1, now: t0 + 1_900))
        #expect(!two.isEmpty && Set(one.map(\.id)).isDisjoint(with: two.map(\.id)))
        // B stores both; its follow-ups carry the catch-up to the end.
        for e in one + two { _ = try? bStore.insertVerified(e) }
        var now = t0 + 2_000
        while true {
            let next = batch(a.received(.frontier(replyWanted: false, bStore.frontier), from: 1, now: now))
            if next.isEmpty { break }
            for e in next { _ = try? bStore.insertVerified(e) }
            now += 100
        }
        #expect(bStore.entryCount == 601)
        #expect(sent.count == 601 && Set(sent).count == 601, "every entry sent exactly once")
        // Nothing in flight any more: a DIGEST is answered again.
        _ = a.inject(lab.halt("erin", at: t0 + 700))
        #expect(!a.received(.digest(bStore.computeDigest()), from: 1, now: now + settings.batchFollowUpTimeoutMs).isEmpty)
    }

    /// A STATUS asked at the asker's clock (as check and gate ask) is the verdict at that instant, whatever the
    /// node's own clock says: a node three days slow does not report an authorisation that has lapsed by then.
    @Test func statusAtTheAskersClockIgnoresTheNodesSlowClock() {
        var lab = Lab(policy: { n in
            var p = Policy.defaultPolicy(memberCount: n)
            p.lapseMs = day
            return p
        })
        var node = GossipNode(store: EntryStore(genesis: lab.genesis))
        for e in VerdictTests.authorised(&lab) { _ = node.inject(e) }
        _ = node.connected(1, outbound: false, now: t0)
        _ = node.received(.hello(version: 1, genesis: lab.genesis.hash, role: .client, name: "check"), from: 1, now: t0)
        func tier(at: UInt64, nodeClock: UInt64) -> UInt32? {
            let ds = node.received(.statusRequest(request: 1, StatusQuery(at: at)), from: 1, now: nodeClock)
            guard case .send(_, .status(_, let s))? = ds.first else { return nil }
            return s.verdict.authorizedTier
        }
        #expect(tier(at: 0, nodeClock: t0 + hour) == 1, "by its own (slow) clock, still authorised")
        #expect(tier(at: t0 + 3 * day, nodeClock: t0 + hour) == 0, "at the asker's clock, lapsed")
        #expect(tier(at: t0 + 2 * hour, nodeClock: t0 + hour) == 1)
    }

    /// Keepalives (SPEC.md §8.5): an idle link gets a PING (carrying the clock) each second; a peer node heard nothing from for 5 s is
    /// declared dead and closed (the shell's dialer reconnects); a peer that keeps talking is never closed.
    @Test func idleLinksGetKeepalivesAndDeadOnesAreClosed() {
        let lab = Lab()
        var settings = GossipSettings()
        settings.keepaliveIntervalMs = 1_000
        settings.deadAfterMs = 5_000
        settings.antiEntropyIntervalMs = 1_000_000  // keep the random anti-entropy DIGEST out of the count
        var a = GossipNode(store: EntryStore(genesis: lab.genesis), settings: settings)
        var rng = Simulation.SplitMix(seed: 3)
        for peer in [1, 2] as [PeerID] {
            _ = a.connected(peer, outbound: true, now: t0)
            _ = a.received(.hello(version: 1, genesis: lab.genesis.hash, role: .node, name: "p\(peer)"), from: peer, now: t0)
        }
        func digests(_ ds: [Directive]) -> [PeerID] { ds.compactMap { if case .send(let p, .ping) = $0 { return p } else { return nil } } }
        func closed(_ ds: [Directive]) -> [PeerID] { ds.compactMap { if case .close(let p, _, false) = $0 { return p } else { return nil } } }
        #expect(Set(digests(a.tick(now: t0, random: &rng))) == [1, 2], "the first tick pings each link")
        #expect(digests(a.tick(now: t0 + 500, random: &rng)).isEmpty, "nothing before an interval passed")
        #expect(Set(digests(a.tick(now: t0 + 1_000, random: &rng))) == [1, 2], "each idle link gets one")
        #expect(digests(a.tick(now: t0 + 1_500, random: &rng)).isEmpty, "and not again within the interval")
        // Peer 1 keeps talking; peer 2 falls silent (a stalled link).
        var now = t0 + 1_000
        while now < t0 + 4_500 {
            now += 500
            _ = a.received(.digest(a.store.computeDigest()), from: 1, now: now)
            #expect(closed(a.tick(now: now, random: &rng)).isEmpty)
        }
        now += 500  // peer 2 silent for 5 s since its HELLO
        let ds = a.tick(now: now, random: &rng)
        #expect(closed(ds) == [2], "the silent peer is declared dead")
        #expect(ds.contains { if case .close(2, let why, false) = $0 { return why.contains("the link is dead") } else { return false } })
        #expect(a.readyPeerNodes == [1])
        // Off by default: the simulator's coarse clock never closes a link.
        var quiet = GossipNode(store: EntryStore(genesis: lab.genesis))
        _ = quiet.connected(1, outbound: true, now: t0)
        _ = quiet.received(.hello(version: 1, genesis: lab.genesis.hash, role: .node, name: "p"), from: 1, now: t0)
        #expect(closed(quiet.tick(now: t0 + hour, random: &rng)).isEmpty)
    }

    /// A node compares its clock with its peers' (the PINGs they send, SPEC.md §8.5): off by more than
    /// `max_skew_ms` from its peers, it says so in STATUS and refuses to attest or issue tokens (fail closed); one
    /// peer with a wrong clock does not make a correct node doubt itself.
    @Test func aNodeWhoseClockIsOffRefusesToAttest() {
        var lab = Lab()
        var node = GossipNode(store: EntryStore(genesis: lab.genesis), settings: { var s = GossipSettings(); s.attester = lab.keys["alice"]; return s }())
        for e in VerdictTests.authorised(&lab) { _ = node.inject(e) }
        let now = t0 + hour
        for peer in [1, 2] as [PeerID] {
            _ = node.connected(peer, outbound: true, now: now)
            _ = node.received(.hello(version: 1, genesis: lab.genesis.hash, role: .node, name: "p\(peer)"), from: peer, now: now)
        }
        func attests() -> String? {
            for d in node.received(.attestRequest(request: 9, core: .zero, tier: 1, issuedAt: now), from: 1, now: now) {
                if case .send(1, .attest(9, let reason, let a)) = d { return a == nil ? reason : "" }
            }
            return nil
        }
        #expect(node.clockOffsetMs == nil && attests() == "", "no peer clock heard yet: attests")
        // One peer 3 minutes ahead, one in step: the node is not the odd one out.
        _ = node.received(.ping(now + 3 * minute), from: 1, now: now)
        _ = node.received(.ping(now + 20), from: 2, now: now)
        #expect(node.clockOffsetMs == 20 && attests() == "")
        // Both peers 3 minutes ahead: this node is 3 minutes slow (max_skew is 2 minutes).
        _ = node.received(.ping(now + 3 * minute + 5), from: 2, now: now)
        let refusal = attests()
        #expect(refusal?.contains("180 s behind its peers'") == true, "\(refusal ?? "nil")")
        _ = node.connected(3, outbound: false, now: now)
        _ = node.received(.hello(version: 1, genesis: lab.genesis.hash, role: .client, name: "cli"), from: 3, now: now)
        let token = node.received(.tokenRequest(request: 4, tier: 1), from: 3, now: now)
        #expect(token.contains { if case .send(3, .token(4, let why, let t)) = $0 { return t.isEmpty && why.contains("clock") } else { return false } })
        let status = node.received(.statusRequest(request: 5, StatusQuery()), from: 3, now: now)
        guard case .send(3, .status(5, let s))? = status.first else { Issue.record("no status"); return }
        #expect(s.node?.clockOffsetMs == 3 * 60_000 && s.node?.clockWarning.contains("does not attest") == true)
    }

    @Test func equivocationIsDetectedAcrossNodesAndEvidenceSpreads() {
        var lab = Lab()
        let p = lab.propose("alice", tier: 1, at: t0)
        let bob = lab.keys["bob"]!.publicKey
        let v1 = lab.vote("bob", p, .yes, at: t0 + 1)
        lab.heads[bob] = nil
        let v2 = lab.vote("bob", p, .no, at: t0 + 2)
        var mesh = Mesh(count: 3, genesis: lab.genesis)
        mesh.link(0, 1)
        mesh.link(1, 2)
        mesh.settle()
        for (i, e) in [(0, p), (0, v1), (2, p), (2, v2)] { mesh.apply(i, mesh.nodes[i].inject(e)) }
        mesh.settle()
        mesh.tickAll()
        mesh.settle()
        for i in 0..<3 {
            #expect(mesh.nodes[i].store.evidence[bob] != nil, "node \(i) has the evidence")
            #expect(mesh.nodes[i].store.verdict(at: t0 + 10).equivocations.map(\.member) == ["bob"])
        }
        #expect(mesh.closed.isEmpty)
    }

    @Test func gapsAreBufferedAndHaltsCountAtOnce() throws {
        var lab = Lab()
        var store = EntryStore(genesis: lab.genesis)
        let first = lab.propose("erin", tier: 1, at: t0)
        let vote = lab.vote("erin", first, at: t0 + 1)
        let halt = lab.halt("erin", at: t0 + 2)
        var o = try store.insert(halt)
        #expect(o.bufferedBehindGap && o.detachedHalt == halt)
        #expect(store.verdict(at: t0 + 10).halted)
        o = try store.insert(vote)
        #expect(o.bufferedBehindGap && o.detachedHalt == nil)
        o = try store.insert(first)
        #expect(o.appended == [first, vote, halt])
        #expect(store.pending.isEmpty)
    }

    @Test func aDetachedHaltContradictedByTheFeedBecomesEvidence() throws {
        var lab = Lab()
        var store = EntryStore(genesis: lab.genesis)
        let erin = lab.keys["erin"]!.publicKey
        let first = lab.propose("erin", tier: 1, at: t0)
        let second = lab.vote("erin", first, at: t0 + 1)
        lab.heads[erin] = (1, first.id)
        let haltAtTwo = lab.halt("erin", at: t0 + 2)  // another entry at position 2
        _ = try store.insert(haltAtTwo)  // buffered (gap at 1) and counted as a detached halt
        _ = try store.insert(first)  // releases the halt as position 2
        let o = try store.insert(second)  // a different entry at position 2
        #expect(o.evidence != nil)
        #expect(store.verdict(at: t0 + 10).equivocations.map(\.member) == ["erin"])
        #expect(store.verdict(at: t0 + 10).halted)
    }

    @Test func hostilePeersAreClosedWithAReasonAndChangeNothing() {
        var lab = Lab()
        var other = Lab(lab: "other")
        let good = lab.halt("erin", at: t0)
        var forged = good.bytes
        forged[forged.count - 1] ^= 1
        let cases: [(String, [WireMessage])] = [
            ("message before HELLO", [.digest(.zero)]),
            ("wrong lab", [.hello(version: 1, genesis: other.genesis.hash, role: .node, name: "")]),
            ("wrong version", [.hello(version: 2, genesis: lab.genesis.hash, role: .node, name: "")]),
            ("second HELLO", [.hello(version: 1, genesis: lab.genesis.hash, role: .node, name: ""), .hello(version: 1, genesis: lab.genesis.hash, role: .node, name: "")]),
            ("bad signature", [.hello(version: 1, genesis: lab.genesis.hash, role: .node, name: ""), .entries([forged])]),
            ("another lab's entry", [.hello(version: 1, genesis: lab.genesis.hash, role: .node, name: ""), .entries([other.halt("erin", at: t0).bytes])]),
            ("garbage entry", [.hello(version: 1, genesis: lab.genesis.hash, role: .node, name: ""), .entries([[1, 2, 3]])]),
            ("client gossiping", [.hello(version: 1, genesis: lab.genesis.hash, role: .client, name: ""), .entries([good.bytes])]),
        ]
        for (name, messages) in cases {
            var node = GossipNode(store: EntryStore(genesis: lab.genesis))
            _ = node.connected(1, outbound: false, now: t0)
            var closedWith: String? = nil
            for m in messages {
                for d in node.received(m, from: 1, now: t0) { if case .close(1, let r, true) = d { closedWith = r } }
            }
            #expect(closedWith != nil, "\(name): not closed")
            #expect(node.store.entryCount == 0 && node.store.tally.halts.isEmpty, "\(name): state changed")
        }
    }

    @Test func aFloodingPeerIsCutOff() {
        let lab = Lab()
        var settings = GossipSettings()
        settings.rateLimitPerSecond = 100
        settings.rateBurst = 200
        var node = GossipNode(store: EntryStore(genesis: lab.genesis), settings: settings)
        _ = node.connected(1, outbound: false, now: t0)
        _ = node.received(.hello(version: 1, genesis: lab.genesis.hash, role: .node, name: ""), from: 1, now: t0)
        var closedAt: Int? = nil
        for i in 0..<1000 where closedAt == nil {
            for d in node.received(.digest(.zero), from: 1, now: t0 + UInt64(i / 10)) {
                if case .close(1, _, true) = d { closedAt = i }
            }
        }
        #expect(closedAt != nil && closedAt! > 150 && closedAt! < 300)
    }

    @Test func simulatorDisseminatesToEveryNodeAndHealsPartitions() {
        var lab = Lab()
        let halt = lab.halt("erin", at: t0)
        var s = Simulation.Settings()
        s.nodes = 300
        s.seed = 3
        var sim = Simulation(settings: s, genesis: lab.genesis)
        let r = sim.run(halt: halt)
        #expect(r.reached == 300)
        #expect(r.closedLinks == 0)
        #expect(r.inSyncBytesPerNodePerInterval < 40, "an in-sync round is one 37-byte digest per node")
        // Same seed, same result.
        var again = Simulation(settings: s, genesis: lab.genesis)
        #expect(again.run(halt: halt).messages == r.messages)
        // A partition of a third of the nodes for 2 s: everyone has it after healing, not before.
        s.partitionSize = 100
        s.healAtMs = 2_000
        s.loss = 0.05
        var cut = Simulation(settings: s, genesis: lab.genesis)
        let pr = cut.run(halt: halt)
        #expect(pr.reached == 300)
        #expect(pr.milestones.last!.ms >= 2_000)
    }
}
