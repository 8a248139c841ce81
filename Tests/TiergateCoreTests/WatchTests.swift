import Testing
@testable import TiergateCore
import TiergateTestKit

/// WATCH (SPEC.md §8.7): a subscriber gets the node's state at once, halts in force included, and every change
/// after it; halts are pushed in the batch that stores them, after the append.
struct WatchTests {
    /// A node with tier 1 authorised and a client session `1` that completed HELLO.
    static func node(_ lab: inout Lab, settings: GossipSettings = GossipSettings()) -> GossipNode {
        var node = GossipNode(store: EntryStore(genesis: lab.genesis), settings: settings)
        for e in VerdictTests.authorised(&lab) { _ = node.inject(e) }
        _ = node.connected(1, outbound: false, now: t0 + minute)
        _ = node.received(.hello(version: 1, genesis: lab.genesis.hash, role: .client, name: "gate"), from: 1, now: t0 + minute)
        return node
    }

    static func watches(_ ds: [Directive], to peer: PeerID = 1) -> [(UInt64, WatchState)] {
        ds.compactMap { if case .send(peer, .watch(_, let seq, let s)) = $0 { return (seq, s) } else { return nil } }
    }

    @Test func aSubscriberGetsTheStateAtOnceAndEveryHaltAsItIsStored() throws {
        var lab = Lab()
        var node = Self.node(&lab)
        let first = Self.watches(node.received(.watchRequest(request: 5), from: 1, now: t0 + minute))
        #expect(first.count == 1 && first[0].0 == 1)
        #expect(first[0].1.authorizedTier == 1 && !first[0].1.halted && first[0].1.halts.isEmpty)

        // A peer node pushes a halt: the same batch appends it and then pushes it to the watcher, after the append.
        _ = node.connected(2, outbound: true, now: t0 + minute)
        _ = node.received(.hello(version: 1, genesis: lab.genesis.hash, role: .node, name: "peer"), from: 2, now: t0 + minute)
        let h = lab.halt("erin", at: t0 + 2 * minute, reason: "stop")
        let ds = node.received(.entries([h.bytes]), from: 2, now: t0 + 2 * minute)
        let persistAt = ds.firstIndex { $0.isPersist }
        let pushAt = ds.firstIndex { if case .send(1, .watch) = $0 { return true } else { return false } }
        #expect(persistAt != nil && pushAt != nil && persistAt! < pushAt!, "pushed only after the append")
        let pushed = Self.watches(ds)
        #expect(pushed.count == 1 && pushed[0].0 == 2)
        #expect(pushed[0].1.halted && pushed[0].1.haltsTotal == 1 && pushed[0].1.halts == [h.bytes])
        // The watcher verifies it itself.
        let (valid, unverified) = pushed[0].1.verifiedHalts(genesis: lab.genesis, rosters: [])
        #expect(valid.map(\.member) == ["erin"] && valid[0].reason == "stop" && unverified.isEmpty)

        // Nothing changed: nothing is pushed, however often the clock ticks.
        var rng = Simulation.SplitMix(seed: 3)
        #expect(Self.watches(node.tick(now: t0 + 3 * minute, random: &rng)).isEmpty)

        // A watcher that (re)subscribes after the halt was stored gets it in its first state (the replay).
        _ = node.connected(3, outbound: false, now: t0 + 4 * minute)
        _ = node.received(.hello(version: 1, genesis: lab.genesis.hash, role: .client, name: "late gate"), from: 3, now: t0 + 4 * minute)
        let late = Self.watches(node.received(.watchRequest(request: 1), from: 3, now: t0 + 4 * minute), to: 3)
        #expect(late.count == 1 && late[0].1.halted && late[0].1.halts == [h.bytes])
    }

    /// Entries that hold no halt are coalesced (one verdict per interval, on the tick); a change of time alone — a
    /// lapse — is pushed by the tick too.
    @Test func otherChangesAndLapsesArePushedByTheTick() {
        var lab = Lab(policy: { n in
            var p = Policy.defaultPolicy(memberCount: n)
            p.lapseMs = hour
            return p
        })
        var node = GossipNode(store: EntryStore(genesis: lab.genesis))
        _ = node.connected(1, outbound: false, now: t0)
        _ = node.received(.hello(version: 1, genesis: lab.genesis.hash, role: .client, name: "gate"), from: 1, now: t0)
        #expect(Self.watches(node.received(.watchRequest(request: 1), from: 1, now: t0)).first?.1.authorizedTier == 0)
        var pushes: [WatchState] = []
        for e in VerdictTests.authorised(&lab) { pushes += Self.watches(node.inject(e)).map(\.1) }
        #expect(pushes.isEmpty, "votes are coalesced, not pushed one by one")
        var rng = Simulation.SplitMix(seed: 1)
        let afterVotes = Self.watches(node.tick(now: t0 + 1_000, random: &rng))
        #expect(afterVotes.map(\.1.authorizedTier) == [1] && afterVotes.first?.0 == 2)
        #expect(afterVotes.first?.1.lapsesAt == t0 + 3 + hour)
        #expect(Self.watches(node.tick(now: t0 + 30 * minute, random: &rng)).isEmpty)
        let lapsed = Self.watches(node.tick(now: t0 + 2 * hour, random: &rng))
        #expect(lapsed.map(\.1.authorizedTier) == [0], "the lapse reaches the watcher without any new entry")
    }

    /// Watchers are sent PING when nothing else went to them for a second; a client session silent for 30 s is
    /// closed as idle, while one that PINGs stays.
    @Test func watchersArePingedAndIdleClientsClosed() {
        var lab = Lab()
        var settings = GossipSettings()
        settings.keepaliveIntervalMs = 1_000
        settings.antiEntropyIntervalMs = 1_000_000
        var node = Self.node(&lab, settings: settings)
        _ = node.received(.watchRequest(request: 1), from: 1, now: t0 + minute)
        _ = node.connected(2, outbound: false, now: t0 + minute)
        _ = node.received(.hello(version: 1, genesis: lab.genesis.hash, role: .client, name: "status"), from: 2, now: t0 + minute)
        var rng = Simulation.SplitMix(seed: 2)
        var pings = 0
        var closed: [PeerID] = []
        var now = t0 + minute
        while now < t0 + minute + 40_000 {
            now += 100
            if now % 1_000 == 0 { _ = node.received(.ping(now), from: 1, now: now) }  // the watcher keeps talking
            for d in node.tick(now: now, random: &rng) {
                if case .send(1, .ping) = d { pings += 1 }
                if case .close(let id, let reason, _) = d {
                    closed.append(id)
                    #expect(reason.contains("idle"))
                }
            }
        }
        #expect(pings >= 35, "about one PING a second to the watcher, got \(pings)")
        #expect(closed == [2], "the silent client is closed; the watcher that PINGs is not")
        #expect(node.watcherCount == 1)
    }

    /// A watcher does not take a node's word: halts signed by a non-member, by an observer, for another lab, or
    /// tampered, do not verify.
    @Test func pushedHaltsAreVerifiedByTheWatcher() {
        var lab = Lab(members: Lab.defaultMembers + [("gate", [Member.observerRole])])
        lab.addOutsider("mallory")
        var other = Lab(lab: "other")
        let good = lab.halt("erin", at: t0, reason: "real")
        var tampered = good.bytes
        tampered[tampered.count - 1] ^= 1
        let halts = [good.bytes, lab.halt("mallory", at: t0).bytes, lab.halt("gate", at: t0).bytes, other.halt("erin", at: t0).bytes, tampered]
        let s = WatchState(at: t0, halted: true, authorizedTier: 0, baseTier: 0, lapsesAt: nil, rosterVersion: 1,
                           rosterHash: lab.genesis.hash, haltsTotal: UInt32(halts.count), halts: halts)
        let (valid, unverified) = s.verifiedHalts(genesis: lab.genesis, rosters: [])
        #expect(valid.map(\.id) == [good.id])
        #expect(unverified.count == 4)
    }
}
