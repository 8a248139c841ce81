import Testing
@testable import TiergateCore
@testable import TiergateStorage
import TiergateTestKit

/// The read-only `observer` role (SPEC.md §3.2, §3.3, §5.1, §8.2, §9.3): it reads, it never counts.
struct ObserverTests {
    /// alice..erin plus `gate`, an observer. Advance needs 3 yes (default majority of the five voters).
    static func lab() -> Lab {
        Lab(members: Lab.defaultMembers + [("gate", [Member.observerRole])], policy: { _ in Policy.defaultPolicy(memberCount: 5) })
    }

    @Test func rosterConsistencyRules() {
        let lab = Self.lab()
        var r = lab.genesis
        #expect(throws: Never.self) { try r.validate() }
        // An observer holds no other role.
        r.members = r.members.map { $0.name == "gate" ? Member(name: "gate", key: $0.key, roles: ["observer", "staff"]) : $0 }
        #expect(throws: DecodeError.self) { try r.validate() }
        // No rule may need or fear an observer.
        r = lab.genesis
        r.policy.advance = Rule(minYes: 1, roleMinimums: [RoleMinimum(role: "observer", count: 1)], windowMs: day)
        #expect(throws: DecodeError.self) { try r.validate() }
        r = lab.genesis
        r.policy.advance = Rule(minYes: 1, vetoRoles: ["observer"], windowMs: day)
        #expect(throws: DecodeError.self) { try r.validate() }
        // Quorums count voters only: 6 members, 5 of them can vote.
        r = lab.genesis
        r.policy.advance = Rule(minYes: 6, windowMs: day)
        #expect(throws: DecodeError.self) { try r.validate() }
        r.policy.advance = Rule(minYes: 5, windowMs: day)
        #expect(throws: Never.self) { try r.validate() }
        r.policy.freshness.minAttesters = 6
        #expect(throws: DecodeError.self) { try r.validate() }
    }

    @Test func defaultQuorumsCountVotersOnly() throws {
        // Three voters and an observer, no policy given: majority and two thirds of 3 are 2 (not 3 of 4).
        let lab = Lab(members: [("alice", ["leader"]), ("bob", ["safety"]), ("carol", ["board"]), ("gate", ["observer"])],
                      policy: { _ in Policy.defaultPolicy(memberCount: 3) })
        guard case .object(var fields) = lab.genesis.json() else { Issue.record("roster JSON is not an object"); return }
        fields = fields.map { $0.0 == "policy" ? ("policy", .object([])) : $0 }  // every policy field defaulted
        let parsed = try Roster(json: .object(fields), path: "roster")
        #expect(parsed.policy.advance.minYes == 2 && parsed.policy.resume.minYes == 2 && parsed.policy.amend.minYes == 2)
    }

    @Test func anObserversYesVoteNeverCompletesAQuorum() {
        var lab = Self.lab()
        let p = lab.propose("alice", tier: 1, at: t0)
        let votes = [lab.vote("alice", p, at: t0 + 1), lab.vote("bob", p, at: t0 + 2), lab.vote("gate", p, at: t0 + 3)]
        let v = lab.verdict([p] + votes, at: t0 + minute)
        #expect(v.authorizedTier == 0, "2 members + 1 observer is not 3 yes")
        let cast = v.proposals.first!.votes.first { $0.member == "gate" }
        #expect(cast?.ignored?.code == .voteByObserver)
        // A third member's vote passes it, and the observer's vote still is not among those counted.
        let carol = lab.vote("carol", p, at: t0 + 4)
        #expect(lab.verdict([p, carol] + votes, at: t0 + minute).authorizedTier == 1)
    }

    @Test func anObserversNoIsNotAVetoAndItsProposalIsInvalid() {
        var lab = Lab(members: Lab.defaultMembers + [("gate", [Member.observerRole])], policy: { _ in
            var pol = Policy.defaultPolicy(memberCount: 5)
            pol.advance = Rule(minYes: 3, vetoRoles: ["auditor"], windowMs: day)
            return pol
        })
        let own = lab.propose("gate", tier: 1, at: t0)
        let ownVotes = ["alice", "bob", "carol"].map { lab.vote($0, own, at: t0 + 1) }
        let v1 = lab.verdict([own] + ownVotes, at: t0 + minute)
        #expect(v1.authorizedTier == 0)
        #expect(v1.proposals.first { $0.id == own.id }?.invalid?.code == .proposalByObserver)
    }

    @Test func anObserverCannotHaltEvenWhenEveryoneMay() {
        var lab = Self.lab()
        #expect(lab.genesis.policy.haltRoles == ["*"])
        let h = lab.halt("gate", at: t0)
        let v = lab.verdict([h], at: t0 + minute)
        #expect(!v.halted)
        #expect(v.ignored.contains { $0.id == h.id && $0.reason.code == .haltWithoutAuthority })
        #expect(lab.verdict([lab.halt("erin", at: t0 + 1)], at: t0 + minute).halted, "a member's halt still halts")
    }

    @Test func aNodeRefusesSubmissionsOverAnObserversLinkAndByAnObserver() {
        var lab = Self.lab()
        var node = GossipNode(store: EntryStore(genesis: lab.genesis))
        let now = t0 + minute
        _ = node.connected(1, outbound: false, now: now, key: lab.keys["gate"]!.publicKey)
        _ = node.received(.hello(version: 1, genesis: lab.genesis.hash, role: .client, name: "gate"), from: 1, now: now)
        let out = node.received(.submit(request: 7, entry: lab.halt("erin", at: now).bytes), from: 1, now: now)
        guard case .send(1, .ack(7, .rejected, let reason)) = out.last else { Issue.record("\(out)"); return }
        #expect(reason.contains("read-only"))
        // A member's link relaying an observer-signed entry: refused too.
        _ = node.connected(2, outbound: false, now: now, key: lab.keys["alice"]!.publicKey)
        _ = node.received(.hello(version: 1, genesis: lab.genesis.hash, role: .client, name: "alice"), from: 2, now: now)
        let out2 = node.received(.submit(request: 8, entry: lab.halt("gate", at: now).bytes), from: 2, now: now)
        guard case .send(2, .ack(8, .rejected, let reason2)) = out2.last else { Issue.record("\(out2)"); return }
        #expect(reason2.contains("observer"))
        #expect(node.store.entryCount == 0)
        // An observer may not join as a node.
        _ = node.connected(3, outbound: false, now: now, key: lab.keys["gate"]!.publicKey)
        let out3 = node.received(.hello(version: 1, genesis: lab.genesis.hash, role: .node, name: "gate"), from: 3, now: now)
        guard case .close(3, let why, true) = out3.last else { Issue.record("\(out3)"); return }
        #expect(why.contains("client only"))
        // Admission: members of any role get a link, outsiders do not.
        #expect(node.admission(of: lab.keys["gate"]!.publicKey, now: now) == nil)
        #expect(node.admission(of: VectorKeys.key("mallory").publicKey, now: now)?.contains("not a member") == true)
    }

    @Test func admissionFollowsAnAmendmentAtOnce() {
        // The roster in force is cached per second; an amendment that passes must not wait for the next second.
        var lab = Lab()
        lab.addOutsider("frank")
        var node = GossipNode(store: EntryStore(genesis: lab.genesis))
        let frank = lab.keys["frank"]!.publicKey
        let now = t0 + hour
        #expect(node.admission(of: frank, now: now)?.contains("not a member") == true)
        var next = lab.genesis
        next.version = 2
        next.previous = lab.genesis.hash
        next.members.append(Member(name: "frank", key: frank, roles: ["staff"]))
        let amend = lab.amend("alice", to: next, at: t0)
        _ = node.inject(amend)
        #expect(node.admission(of: frank, now: now) != nil, "proposed, not passed")
        for (i, who) in ["alice", "bob", "carol", "dave"].enumerated() { _ = node.inject(lab.vote(who, amend, at: t0 + UInt64(i) + 1)) }
        #expect(node.admission(of: frank, now: now) == nil, "the passed amendment admits frank in the same second")
    }
}
