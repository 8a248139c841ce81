import Testing
@testable import TiergateCore
@testable import TiergateStorage
import TiergateTestKit

struct TokenTests {
    /// A lab whose policy lets one node's attestation make a token (the default needs two members' nodes).
    static func soloLab() -> Lab {
        Lab(policy: { n in
            var p = Policy.defaultPolicy(memberCount: n)
            p.freshness = FreshnessRule(minAttesters: 1)
            return p
        })
    }

    /// A node holding a passed advance to tier 1, issuing a token at `issuedAt` with its member key.
    static func issue(lab: inout Lab, quorum: UInt32 = 1, issuedAt: UInt64 = t0 + hour, tier: UInt32 = 1, extra: [SignedEntry] = []) -> (GossipNode, [UInt8]) {
        var settings = GossipSettings()
        settings.attester = lab.keys["alice"]
        var node = GossipNode(store: EntryStore(genesis: lab.genesis), settings: settings)
        for e in VerdictTests.authorised(&lab) + extra { _ = node.inject(e) }
        _ = node.connected(1, outbound: false, now: issuedAt)
        _ = node.received(.hello(version: 1, genesis: lab.genesis.hash, role: .client, name: ""), from: 1, now: issuedAt)
        for d in node.received(.tokenRequest(request: 1, tier: tier), from: 1, now: issuedAt) {
            if case .send(1, .token(1, _, let bytes)) = d { return (node, bytes) }
        }
        return (node, [])
    }

    @Test func aValidTokenAllowsAndIsSelfContained() throws {
        var lab = Self.soloLab()
        let (_, bytes) = Self.issue(lab: &lab)
        let token = try TierToken(decoding: bytes)
        #expect(token.encoded() == bytes)
        let ok = try TokenChecker.check(token, genesis: lab.genesis, tier: 1, now: t0 + hour + minute)
        #expect(ok.tier == 1)
        #expect(ok.attesters == ["alice"])
        #expect(ok.expiresAt == t0 + hour + 10 * minute)
        #expect(token.entries.count == 4, "the proposal and its three binding votes")
    }

    @Test func noTokenWithoutAuthorisationOrWhileHalted() {
        var lab = Self.soloLab()
        let (_, forTier2) = Self.issue(lab: &lab, tier: 2)
        #expect(forTier2.isEmpty)
        var lab2 = Self.soloLab()
        let h = lab2.halt("erin", at: t0 + minute)
        let (_, whileHalted) = Self.issue(lab: &lab2, extra: [h])
        #expect(whileHalted.isEmpty)
    }

    @Test func expiredTokensAreDenied() throws {
        var lab = Self.soloLab()
        let (_, bytes) = Self.issue(lab: &lab)
        let token = try TierToken(decoding: bytes)
        #expect(throws: TokenDenial.expired(at: token.expiresAt)) {
            try TokenChecker.check(token, genesis: lab.genesis, tier: 1, now: token.expiresAt)
        }
    }

    @Test func tokensFromTheFutureBeyondTheSkewAreDenied() throws {
        var lab = Self.soloLab()
        let (_, bytes) = Self.issue(lab: &lab, issuedAt: t0 + hour)
        let token = try TierToken(decoding: bytes)
        // A checker whose clock is 3 minutes behind the issuer (skew allows 2).
        #expect(throws: TokenDenial.fromTheFuture(issuedAt: token.issuedAt)) {
            try TokenChecker.check(token, genesis: lab.genesis, tier: 1, now: t0 + hour - 3 * minute)
        }
        // 1 minute behind: within the skew, allowed.
        _ = try TokenChecker.check(token, genesis: lab.genesis, tier: 1, now: t0 + hour - minute)
    }

    @Test func removingOneQuorumVoteDenies() throws {
        var lab = Self.soloLab()
        let (_, bytes) = Self.issue(lab: &lab)
        var token = try TierToken(decoding: bytes)
        token.entries.removeLast()
        #expect(throws: TokenDenial.notAuthorised(tier: 1, recomputed: 0, halted: false)) {
            try TokenChecker.check(token, genesis: lab.genesis, tier: 1, now: t0 + hour + minute)
        }
    }

    /// Two different entries of one member at one feed position inside a token are equivocation, as in a ledger
    /// (SPEC.md §9.3): that member's vote stops counting, so the quorum is gone.
    @Test func anEquivocationInsideATokenVoidsThatMembersVotes() throws {
        var lab = Self.soloLab()
        let (_, bytes) = Self.issue(lab: &lab)
        var token = try TierToken(decoding: bytes)
        let bob = lab.keys["bob"]!.publicKey
        let held = lab.heads[bob]
        lab.heads[bob] = nil  // bob signs again at his first position
        let p = try SignedEntry(decoding: token.entries[0])
        let fork = lab.vote("bob", p, .abstain, at: t0 + 30)
        lab.heads[bob] = held
        token.entries.append(fork.bytes)
        #expect(throws: TokenDenial.notAuthorised(tier: 1, recomputed: 0, halted: false)) {
            try TokenChecker.check(token, genesis: lab.genesis, tier: 1, now: t0 + hour + minute)
        }
    }

    @Test func everyFlippedBitIsDenied() throws {
        var lab = Self.soloLab()
        let (_, bytes) = Self.issue(lab: &lab)
        var allowed: [Int] = []
        for i in 0..<bytes.count {
            for bit in [0x01, 0x80] {
                var b = bytes
                b[i] ^= UInt8(bit)
                guard let t = try? TierToken(decoding: b) else { continue }
                if (try? TokenChecker.check(t, genesis: lab.genesis, tier: 1, now: t0 + hour + minute)) != nil { allowed.append(i) }
            }
        }
        #expect(allowed.isEmpty, "flips at bytes \(allowed) still allowed")
    }

    @Test func aLowerTierOrAnotherGenesisIsDenied() throws {
        var lab = Self.soloLab()
        let (_, bytes) = Self.issue(lab: &lab)
        let token = try TierToken(decoding: bytes)
        #expect(throws: TokenDenial.tierTooLow(token: 1, asked: 2)) {
            try TokenChecker.check(token, genesis: lab.genesis, tier: 2, now: t0 + hour + minute)
        }
        let other = Lab(lab: "acme", members: [("alice", ["leader"]), ("bob", ["safety"])]).genesis
        #expect(throws: TokenDenial.self) { try TokenChecker.check(token, genesis: other, tier: 1, now: t0 + hour + minute) }
    }

    @Test func aHaltLaterInTheTokensEntriesOrALapseDenies() throws {
        var lab = Lab(policy: { n in
            var p = Policy.defaultPolicy(memberCount: n)
            p.freshness = FreshnessRule(minAttesters: 1)
            p.lapseMs = 2 * hour
            return p
        })
        let (_, bytes) = Self.issue(lab: &lab)
        let token = try TierToken(decoding: bytes)
        // Recomputed at check time, authorisation (granted at t0+3ms) has lapsed after 2 hours even though the
        // token itself is not expired yet: the lapse is part of the offline check.
        var late = token
        late.expiresAt = t0 + 3 * hour
        #expect(throws: TokenDenial.self) { try TokenChecker.check(late, genesis: lab.genesis, tier: 1, now: t0 + 2 * hour + 1) }
    }

    /// The default policy (SPEC.md §3.4): no single member's node can issue a token, so none can hide a halt.
    @Test func underTheDefaultPolicyALoneNodeIssuesNoToken() throws {
        var lab = Lab()
        #expect(lab.genesis.policy.freshness == FreshnessRule(minAttesters: 2))
        var (node, immediate) = Self.issue(lab: &lab)
        #expect(immediate.isEmpty)
        // A token carrying only its issuer's attestation (say, assembled by a node that hides a halt) is denied.
        let (_, pending) = node.pendingTokens.first!
        #expect(pending.token.attestations.count == 1)
        #expect(throws: TokenDenial.attestations("1 distinct member node(s) attested; the policy needs 2")) {
            try TokenChecker.check(pending.token, genesis: lab.genesis, tier: 1, now: t0 + hour + minute)
        }
        var rng = Simulation.SplitMix(seed: 1)
        let late = node.tick(now: t0 + hour + 10_000, random: &rng)
        #expect(late.contains { if case .send(1, .token(1, let reason, let b)) = $0 { return b.isEmpty && reason.contains("fail closed") } else { return false } })
    }

    /// A freshness role minimum: two attesters are not enough unless one holds the role.
    @Test func aFreshnessRoleMinimumNeedsThatRolesNode() throws {
        let lab = Lab(policy: { n in
            var p = Policy.defaultPolicy(memberCount: n)
            p.freshness = FreshnessRule(minAttesters: 2, roleMinimums: [RoleMinimum(role: "safety", count: 1)])
            return p
        })
        var scratch = lab
        let up = VerdictTests.authorised(&scratch)
        var store = EntryStore(genesis: lab.genesis)
        for e in up { _ = try store.insert(e) }
        let v = store.verdict(at: t0 + hour)
        func token(_ names: [String]) -> TierToken {
            var t = TierToken(lab: lab.genesis.lab, genesis: lab.genesis.hash, tier: 1, issuedAt: t0 + hour, expiresAt: t0 + hour + minute,
                              entries: TokenChecker.evidenceEntries(store: store, verdict: v).map(\.bytes))
            t.attestations = names.map { Attestation(core: t.coreHash, key: lab.keys[$0]!, time: t0 + hour, digest: .zero, tier: 1) }
            return t
        }
        #expect(throws: TokenDenial.attestations("0 attesting node(s) of a 'safety' member; the policy needs 1")) {
            try TokenChecker.check(token(["alice", "carol"]), genesis: lab.genesis, tier: 1, now: t0 + hour + 1)
        }
        #expect(try TokenChecker.check(token(["alice", "bob"]), genesis: lab.genesis, tier: 1, now: t0 + hour + 1).attesters == ["alice", "bob"])
    }

    @Test func theFreshnessQuorumCountsDistinctMemberNodes() throws {
        var lab = Lab(policy: { n in
            var p = Policy.defaultPolicy(memberCount: n)
            p.freshness.minAttesters = 2
            return p
        })
        // A lone node cannot gather a second attestation: it answers at the deadline, with the reason.
        var (node, immediate) = Self.issue(lab: &lab)
        #expect(immediate.isEmpty)
        var rng = Simulation.SplitMix(seed: 1)
        let late = node.tick(now: t0 + hour + 10_000, random: &rng)
        #expect(late.contains { if case .send(1, .token(1, let reason, let b)) = $0 { return b.isEmpty && reason.contains("1 distinct member node(s) attested; the policy needs 2") } else { return false } })
        // Two nodes back to back: the second attests, and the token carries both.
        lab = Lab(policy: { n in
            var p = Policy.defaultPolicy(memberCount: n)
            p.freshness.minAttesters = 2
            return p
        })
        var a = GossipSettings()
        a.attester = lab.keys["alice"]
        var b = GossipSettings()
        b.attester = lab.keys["bob"]
        var mesh = Mesh(count: 2, genesis: lab.genesis)
        mesh.nodes = [GossipNode(store: EntryStore(genesis: lab.genesis), settings: a), GossipNode(store: EntryStore(genesis: lab.genesis), settings: b)]
        for e in VerdictTests.authorised(&lab) { mesh.apply(0, mesh.nodes[0].inject(e)) }
        mesh.link(0, 1)
        mesh.settle()
        mesh.now = t0 + hour
        _ = mesh.nodes[0].connected(9, outbound: false, now: mesh.now)
        _ = mesh.nodes[0].received(.hello(version: 1, genesis: lab.genesis.hash, role: .client, name: ""), from: 9, now: mesh.now)
        let asks = mesh.nodes[0].received(.tokenRequest(request: 5, tier: 1), from: 9, now: mesh.now)
        mesh.apply(0, asks)
        var tokenBytes: [UInt8] = []
        while !mesh.inflight.isEmpty {
            let (to, p, m) = mesh.inflight.removeFirst()
            for d in mesh.nodes[to].received(m, from: p, now: mesh.now) {
                if case .send(9, .token(5, _, let t)) = d { tokenBytes = t } else { mesh.apply(to, [d]) }
            }
        }
        let token = try TierToken(decoding: tokenBytes)
        let ok = try TokenChecker.check(token, genesis: lab.genesis, tier: 1, now: t0 + hour + 1)
        #expect(Set(ok.attesters) == ["alice", "bob"])
        // The same attestation twice does not count twice.
        var dup = token
        dup.attestations = [token.attestations[0], token.attestations[0]]
        #expect(throws: TokenDenial.self) { try TokenChecker.check(dup, genesis: lab.genesis, tier: 1, now: t0 + hour + 1) }
    }

    @Test func clocksOffByMoreThanTheSkewFailClosedAndWithinItAgree() throws {
        // The true time is t0 + 1h. A node whose clock runs 10 minutes fast issues a token "from the future".
        var fast = Self.soloLab()
        let (_, fromFastNode) = Self.issue(lab: &fast, issuedAt: t0 + hour + 10 * minute)
        let t = try TierToken(decoding: fromFastNode)
        #expect(throws: TokenDenial.fromTheFuture(issuedAt: t.issuedAt)) {
            try TokenChecker.check(t, genesis: fast.genesis, tier: 1, now: t0 + hour)
        }
        // One minute fast: within the 2-minute skew, checker and node agree.
        var slightly = Self.soloLab()
        let (_, ok) = Self.issue(lab: &slightly, issuedAt: t0 + hour + minute)
        _ = try TokenChecker.check(try TierToken(decoding: ok), genesis: slightly.genesis, tier: 1, now: t0 + hour)
        // A checker whose clock is slow by more than the TTL plus skew sees an expired token only later: a checker
        // whose clock is fast past the expiry denies (fail closed), whatever the token says.
        #expect(throws: TokenDenial.self) { try TokenChecker.check(try TierToken(decoding: ok), genesis: slightly.genesis, tier: 1, now: t0 + hour + 30 * minute) }
        // A peer node asked to attest a token issued beyond its own skew refuses.
        var lab = Self.soloLab()
        var settings = GossipSettings()
        settings.attester = lab.keys["bob"]
        var peer = GossipNode(store: EntryStore(genesis: lab.genesis), settings: settings)
        for e in VerdictTests.authorised(&lab) { _ = peer.inject(e) }
        _ = peer.connected(1, outbound: false, now: t0 + hour)
        _ = peer.received(.hello(version: 1, genesis: lab.genesis.hash, role: .node, name: ""), from: 1, now: t0 + hour)
        let answer = peer.received(.attestRequest(request: 1, core: .zero, tier: 1, issuedAt: t0 + hour + 5 * minute), from: 1, now: t0 + hour)
        #expect(answer.contains { if case .send(1, .attest(1, let why, nil)) = $0 { return why.contains("skew") } else { return false } })
        let near = peer.received(.attestRequest(request: 2, core: .zero, tier: 1, issuedAt: t0 + hour + minute), from: 1, now: t0 + hour)
        #expect(near.contains { if case .send(1, .attest(2, _, .some)) = $0 { return true } else { return false } })
    }
}
