import Testing
@testable import TiergateCore
import TiergateTestKit

/// Halt drills (SPEC.md §3.1 format 3, §4.1 kinds 4 and 5, §5.8, §8.3, §8.7, §9.1): a drill changes no tier, every
/// enforcer the policy names acknowledges it with its observer key, and a policy may suspend authorisation above
/// the base tier while a drill is overdue.
struct DrillTests {
    /// alice..erin, and three enforcers (observers): two gates and the Slurm controller.
    static let members = Lab.defaultMembers + [("gate-a", ["observer"]), ("gate-b", ["observer"]), ("slurm", ["observer"])]

    static func lab(_ drill: DrillPolicy = DrillPolicy(deadlineMs: 30_000)) -> Lab {
        Lab(members: members, policy: { _ in
            var p = Policy.defaultPolicy(memberCount: 5)
            p.drill = drill
            return p
        })
    }

    static let scheduled = DrillPolicy(intervalMs: 7 * day, deadlineMs: 30_000, lapseOnOverdue: true)

    // MARK: Encoding

    @Test func drillsAndAcknowledgementsRoundTripAndAcknowledgementsStandAlone() throws {
        var lab = Self.lab()
        let d = lab.drill("alice", at: t0)
        let a = lab.ack("gate-a", d, receivedAt: t0 + 40, stoppedAt: t0 + 95, jobs: 3, canary: .stopped)
        for e in [d, a] {
            let back = try SignedEntry(decoding: e.bytes)
            #expect(back == e)
            #expect(try Entry(decoding: e.entry.encoded()) == e.entry)
        }
        #expect(a.entry.seq == 0 && a.entry.prev.isZero)
        #expect(EntryKind.drillAck.isStandalone && !EntryKind.drill.isStandalone)
        // An acknowledgement in a feed, a drill outside one, a stop before the receipt, an unknown canary outcome:
        // all malformed.
        var inFeed = a.entry
        inFeed.seq = 1
        #expect(throws: DecodeError.self) { try Entry(decoding: inFeed.encoded()) }
        var loose = d.entry
        loose.seq = 0
        loose.prev = .zero
        #expect(throws: DecodeError.self) { try Entry(decoding: loose.encoded()) }
        var backwards = a.entry
        backwards.body = .drillAck(DrillAck(drill: d.id, receivedAt: t0 + 10, stoppedAt: t0 + 9, jobs: 0))
        #expect(throws: DecodeError.self) { try Entry(decoding: backwards.encoded()) }
        var bytes = a.entry.encoded()
        bytes[bytes.count - 1] = 7
        #expect(throws: DecodeError.self) { try Entry(decoding: bytes) }
    }

    // MARK: Policy (roster format 3)

    @Test func aDefaultDrillPolicyKeepsFormatTwoAndItsHash() throws {
        let plain = Self.lab(.default)
        #expect(plain.genesis.format == Roster.formatVersion)
        let scheduled = Self.lab(Self.scheduled)
        #expect(scheduled.genesis.format == Roster.drillFormat)
        let back = try Roster(decoding: scheduled.genesis.encoded())
        #expect(back == scheduled.genesis && back.policy.drill == Self.scheduled)
        // Through the JSON carrier, "tiergate-roster-v3", with the same hash.
        let doc = try GenesisDocument(fileBytes: scheduled.document.fileBytes())
        #expect(doc.roster.hash == scheduled.genesis.hash)
        #expect(String(decoding: scheduled.document.fileBytes(), as: UTF8.self).contains("tiergate-roster-v3"))
        // A format-2 roster cannot carry drill settings.
        var r = plain.genesis
        r.policy.drill = Self.scheduled
        #expect(throws: DecodeError.self) { try r.validate() }
    }

    @Test func inconsistentDrillPoliciesAreRejected() {
        func rejects(_ d: DrillPolicy, _ field: String) {
            var r = Self.lab().genesis
            r.policy.drill = d
            #expect(throws: DecodeError.self, "\(field)") { try r.validate() }
        }
        rejects(DrillPolicy(enforcers: ["alice"]), "an enforcer that is not an observer")
        rejects(DrillPolicy(enforcers: ["nobody"]), "an enforcer that is not a member")
        rejects(DrillPolicy(lapseOnOverdue: true), "lapse without an interval")
        rejects(DrillPolicy(intervalMs: 7 * day, deadlineMs: 2 * day), "deadline over 24h")
        rejects(DrillPolicy(intervalMs: 60_000, deadlineMs: 60_000), "deadline not shorter than the interval")
        rejects(DrillPolicy(intervalMs: 1_000), "interval under a minute")
        rejects(DrillPolicy(roles: ["observer"]), "observers as drill roles")
        rejects(DrillPolicy(roles: ["nobody-holds-this"]), "drill roles no member holds")
        // Lapse-on-overdue needs someone to acknowledge.
        var r = Lab(members: Lab.defaultMembers).genesis
        r.format = Roster.drillFormat
        r.policy.drill = Self.scheduled
        #expect(throws: DecodeError.self) { try r.validate() }
    }

    @Test func drillRolesDefaultToTheHaltRoles() {
        var p = Policy.defaultPolicy(memberCount: 5)
        p.haltRoles = ["safety"]
        #expect(p.mayDrill(roles: ["safety"]) && !p.mayDrill(roles: ["leader"]))
        p.drill.roles = ["leader"]
        #expect(!p.mayDrill(roles: ["safety"]) && p.mayDrill(roles: ["leader"]))
        #expect(!p.mayDrill(roles: ["observer"]))
    }

    // MARK: The verdict (§5.8)

    @Test func aDrillChangesNoTierAndSucceedsWhenEveryEnforcerStopsInTime() {
        var lab = Self.lab()
        let p = lab.propose("alice", tier: 1, at: t0)
        let votes = ["alice", "bob", "carol"].map { lab.vote($0, p, at: t0 + 1) }
        let d = lab.drill("bob", at: t0 + minute)
        var v = lab.verdict([p, d] + votes, at: t0 + minute + 1)
        #expect(v.authorizedTier == 1 && !v.halted, "a drill is not a halt")
        #expect(v.drills.count == 1 && v.drills[0].state == .pending && v.drills[0].missing == ["gate-a", "gate-b", "slurm"])
        #expect(v.validUntil <= d.entry.time + 30_000, "the deadline changes the verdict by time alone")
        let acks = [
            lab.ack("gate-a", d, receivedAt: d.entry.time + 20, stoppedAt: d.entry.time + 120, canary: .stopped),
            lab.ack("gate-b", d, receivedAt: d.entry.time + 25, stoppedAt: d.entry.time + 60),
            lab.ack("slurm", d, receivedAt: d.entry.time + 30, stoppedAt: d.entry.time + 900, jobs: 4),
        ]
        v = lab.verdict([p, d] + votes + acks, at: t0 + minute + 2)
        let s = v.drills[0]
        #expect(s.state == .succeeded && s.missing.isEmpty)
        #expect(s.acks.map(\.member) == ["gate-a", "gate-b", "slurm"])
        #expect(s.acks.map(\.latencyMs) == [120, 60, 900])
        #expect(s.acks.first { $0.member == "slurm" }?.jobs == 4)
        #expect(s.acks.first { $0.member == "gate-a" }?.canary == .stopped)
        #expect(v.authorizedTier == 1)
    }

    @Test func aMissingEnforcerFailsTheDrillAtItsDeadlineAndALateStopIsNotInTime() {
        var lab = Self.lab()
        let d = lab.drill("alice", at: t0)
        let acks = [
            lab.ack("gate-a", d, receivedAt: t0 + 10, stoppedAt: t0 + 50),
            lab.ack("gate-b", d, receivedAt: t0 + 10, stoppedAt: t0 + 31_000),  // stopped after the 30 s deadline
        ]
        let before = lab.verdict([d] + acks, at: t0 + 29_000)
        #expect(before.drills[0].state == .pending)
        let after = lab.verdict([d] + acks, at: t0 + 30_000)
        #expect(after.drills[0].state == .failed)
        #expect(after.drills[0].missing == ["gate-b", "slurm"])
        #expect(after.drills[0].acks.first { $0.member == "gate-b" }?.onTime == false)
        #expect(after.drills[0].report().contains("MISSING"))
        #expect(after.drills[0].report().contains("LATE"))
    }

    @Test func onlyNamedEnforcersCountAndDrillsNeedAuthority() {
        var lab = Self.lab(DrillPolicy(roles: ["safety"], enforcers: ["gate-a"], deadlineMs: 30_000))
        let byLeader = lab.drill("alice", at: t0)
        let d = lab.drill("bob", at: t0 + 1)
        let other = lab.ack("slurm", d, receivedAt: t0 + 2, stoppedAt: t0 + 3)
        var v = lab.verdict([byLeader, d, other], at: t0 + 10)
        #expect(v.drills.map(\.id) == [d.id])
        #expect(v.ignored.contains { $0.id == byLeader.id && $0.reason.code == .drillWithoutAuthority })
        #expect(v.drills[0].acks.first?.expected == false && v.drills[0].state == .pending)
        let a = lab.ack("gate-a", d, receivedAt: t0 + 2, stoppedAt: t0 + 5)
        v = lab.verdict([byLeader, d, other, a], at: t0 + 10)
        #expect(v.drills[0].state == .succeeded)
        // An acknowledgement of a drill the ledger does not hold counts for nothing and says so.
        var stranger = lab
        let unknown = stranger.drill("bob", at: t0 + 2)
        let orphan = lab.ack("gate-a", unknown, receivedAt: t0 + 3, stoppedAt: t0 + 4)
        #expect(lab.verdict([d, orphan], at: t0 + 10).ignored.contains { $0.id == orphan.id && $0.reason.code == .drillAckUnknownDrill })
        // A drill dated beyond the skew is not counted yet.
        let ahead = lab.drill("bob", at: t0 + day)
        #expect(lab.verdict([d, ahead], at: t0 + 10).ignored.contains { $0.id == ahead.id && $0.reason.code == .drillDatedAhead })
    }

    @Test func theEarliestAcknowledgementOfAnEnforcerCountsWhateverTheOrder() {
        var lab = Self.lab()
        let d = lab.drill("alice", at: t0)
        let first = lab.ack("gate-a", d, receivedAt: t0 + 1, stoppedAt: t0 + 10, at: t0 + 10)
        let second = lab.ack("gate-a", d, receivedAt: t0 + 1, stoppedAt: t0 + 40_000, at: t0 + 40_000)
        for order in [[first, second], [second, first]] {
            let v = lab.verdict([d] + order, at: t0 + day)
            #expect(v.drills[0].acks.map(\.id) == [first.id])
        }
    }

    // MARK: The schedule (§5.8)

    @Test func anOverdueDrillSuspendsAuthorisationAboveTheBaseTierUntilOneSucceeds() {
        var lab = Self.lab(Self.scheduled)
        let p = lab.propose("alice", tier: 1, at: t0)
        let votes = ["alice", "bob", "carol"].map { lab.vote($0, p, at: t0 + 1) }
        // Never drilled: overdue from the start, so the passed advance does not authorise tier 1.
        var v = lab.verdict([p] + votes, at: t0 + minute)
        #expect(v.authorizedTier == 0 && v.drillSchedule.overdue && v.drillSchedule.dueAt == nil)
        #expect(v.lapsesAt == nil)
        // A drill that fails (slurm never answers) changes nothing.
        let d1 = lab.drill("bob", at: t0 + 2 * minute)
        let partial = ["gate-a", "gate-b"].map { lab.ack($0, d1, receivedAt: t0 + 2 * minute + 5, stoppedAt: t0 + 2 * minute + 50) }
        v = lab.verdict([p, d1] + votes + partial, at: t0 + 10 * minute)
        #expect(v.drills[0].state == .failed && v.authorizedTier == 0)
        // A successful one restores it, and the due time is a lapse every enforcer applies at its own clock.
        let d2 = lab.drill("bob", at: t0 + 11 * minute)
        let all = ["gate-a", "gate-b", "slurm"].map { lab.ack($0, d2, receivedAt: d2.entry.time + 5, stoppedAt: d2.entry.time + 70) }
        let entries = [p, d1, d2] + votes + partial + all
        v = lab.verdict(entries, at: t0 + 12 * minute)
        #expect(v.authorizedTier == 1 && !v.drillSchedule.overdue)
        #expect(v.drillSchedule.dueAt == d2.entry.time + 7 * day)
        #expect(v.lapsesAt == d2.entry.time + 7 * day)
        #expect(v.validUntil <= d2.entry.time + 7 * day)
        // A week later it is overdue again.
        v = lab.verdict(entries, at: d2.entry.time + 7 * day)
        #expect(v.authorizedTier == 0 && v.drillSchedule.overdue && !v.halted)
        // A drill then succeeds; with every voting window closed, its due time is the next change by time alone (a
        // node's cached verdict, and its watchers, must not miss it).
        let d3 = lab.drill("bob", at: d2.entry.time + 7 * day + minute)
        let acks3 = ["gate-a", "gate-b", "slurm"].map { lab.ack($0, d3, receivedAt: d3.entry.time + 5, stoppedAt: d3.entry.time + 70) }
        v = lab.verdict(entries + [d3] + acks3, at: d3.entry.time + minute)
        #expect(v.authorizedTier == 1 && v.validUntil == d3.entry.time + 7 * day)
    }

    @Test func withoutLapseOnOverdueAnOverdueDrillIsOnlyReported() {
        var lab = Self.lab(DrillPolicy(intervalMs: 7 * day, deadlineMs: 30_000))
        let p = lab.propose("alice", tier: 1, at: t0)
        let votes = ["alice", "bob", "carol"].map { lab.vote($0, p, at: t0 + 1) }
        let v = lab.verdict([p] + votes, at: t0 + minute)
        #expect(v.authorizedTier == 1 && v.drillSchedule.overdue)
        #expect(NodeStatus(verdict: v).text().contains("DRILL OVERDUE"))
    }

    // MARK: Tokens carry the drill that authorisation rests on (§9.1)

    @Test func aTokenCarriesTheLatestSuccessfulDrillWhereAuthorisationDependsOnIt() throws {
        var lab = Self.lab(Self.scheduled)
        var store = EntryStore(genesis: lab.genesis)
        let p = lab.propose("alice", tier: 1, at: t0)
        let votes = ["alice", "bob", "carol"].map { lab.vote($0, p, at: t0 + 1) }
        let d = lab.drill("bob", at: t0 + 2)
        let acks = ["gate-a", "gate-b", "slurm"].map { lab.ack($0, d, receivedAt: t0 + 3, stoppedAt: t0 + 9) }
        for e in [p] + votes + [d] + acks { _ = try store.insert(e) }
        let now = t0 + minute
        let v = store.verdict(at: now)
        #expect(v.authorizedTier == 1)
        let entries = TokenChecker.evidenceEntries(store: store, verdict: v)
        #expect(Set(entries.map(\.id)).isSuperset(of: Set([d.id] + acks.map(\.id))))
        var token = TierToken(lab: lab.genesis.lab, genesis: lab.genesis.hash, tier: 1, issuedAt: now, expiresAt: now + minute,
                              entries: entries.map(\.bytes))
        for name in ["alice", "bob"] {
            token.attestations.append(Attestation(core: token.coreHash, key: lab.keys[name]!, time: now, digest: .zero, tier: 1))
        }
        #expect(throws: Never.self) { try TokenChecker.check(token, genesis: lab.genesis, tier: 1, now: now + 1) }
        // Without the drill's acknowledgements the checker recomputes "overdue" and denies.
        var stripped = token
        stripped.entries = entries.filter { $0.entry.kind != .drillAck }.map(\.bytes)
        stripped.attestations = ["alice", "bob"].map { Attestation(core: stripped.coreHash, key: lab.keys[$0]!, time: now, digest: .zero, tier: 1) }
        #expect(throws: TokenDenial.self) { try TokenChecker.check(stripped, genesis: lab.genesis, tier: 1, now: now + 1) }
    }

    // MARK: The store and gossip (§8.3, §8.4)

    @Test func theStoreHoldsOneAcknowledgementPerEnforcerAndDrillAndOnlyForDrillsItHolds() throws {
        var lab = Self.lab()
        var store = EntryStore(genesis: lab.genesis)
        let d = lab.drill("alice", at: t0)
        let early = lab.ack("gate-a", d, receivedAt: t0 + 1, stoppedAt: t0 + 5, at: t0 + 5)
        let late = lab.ack("gate-a", d, receivedAt: t0 + 1, stoppedAt: t0 + 9, at: t0 + 9)
        #expect(throws: StoreRejection.unknownDrill(d.id)) { try store.insert(early) }
        _ = try store.insert(d)
        let o1 = try store.insert(late)
        #expect(o1.detachedHalt == late, "stored outside the feed, as a DETACHED frame")
        let o2 = try store.insert(early)
        #expect(o2.isNew, "an earlier acknowledgement replaces a later one")
        #expect(try store.insert(late).duplicate)
        #expect(Array(store.drillAcks.keys) == [early.id])
        #expect(store.frontier.detachedHalts.contains(early.id))
        #expect(store.feeds[lab.keys["gate-a"]!.publicKey] == nil, "an acknowledgement is in no feed")
    }

    @Test func acknowledgementsSpreadByGossipAndAntiEntropyAndNodesConverge() throws {
        var lab = Self.lab()
        var mesh = Mesh(count: 3, genesis: lab.genesis)
        mesh.link(0, 1)
        mesh.link(1, 2)
        mesh.settle()
        let d = lab.drill("alice", at: t0)
        mesh.apply(0, mesh.nodes[0].inject(d))
        mesh.settle()
        // An enforcer's observer link submits its own acknowledgement to node 2.
        _ = mesh.nodes[2].connected(99, outbound: false, now: t0, key: lab.keys["gate-a"]!.publicKey)
        _ = mesh.nodes[2].received(.hello(version: 1, genesis: lab.genesis.hash, role: .client, name: "gate"), from: 99, now: t0)
        let a = lab.ack("gate-a", d, receivedAt: t0 + 3, stoppedAt: t0 + 8)
        let ds = mesh.nodes[2].received(.submit(request: 1, entry: a.bytes), from: 99, now: t0)
        #expect(ds.contains { if case .send(99, .ack(1, .stored, _)) = $0 { return true } else { return false } })
        mesh.apply(2, ds)
        mesh.settle()
        for i in 0..<3 { #expect(mesh.nodes[i].store.drillAcks[a.id] != nil, "node \(i)") }
        // A node that missed it gets it by anti-entropy.
        var late = Mesh(count: 2, genesis: lab.genesis)
        late.apply(0, late.nodes[0].inject(d))
        _ = late.nodes[0].inject(a)
        late.link(0, 1)
        late.settle()
        #expect(late.nodes[1].store.drillAcks[a.id] != nil)
        #expect(late.nodes[0].store.computeDigest() == late.nodes[1].store.computeDigest())
    }

    @Test func twoAcknowledgementsOfOneEnforcerAreNeverEquivocation() {
        var lab = Self.lab()
        let d1 = lab.drill("alice", at: t0)
        let d2 = lab.drill("alice", at: t0 + 1)
        let a1 = lab.ack("gate-a", d1, receivedAt: t0 + 2, stoppedAt: t0 + 3)
        let a2 = lab.ack("gate-a", d2, receivedAt: t0 + 4, stoppedAt: t0 + 5)
        // Same author, same seq (0), different ids — and still no proof of anything.
        #expect(!EquivocationEvidence(first: a1, second: a2).isValid(lab: lab.genesis.lab, genesis: lab.genesis.hash))
        var store = EntryStore(genesis: lab.genesis)
        var detached: [SignedEntry] = []
        #expect(throws: StoreRejection.self) { try store.insertEvidence(EquivocationEvidence(first: a1, second: a2), detached: &detached) }
        // Two drills' acknowledgements in one token are not equivocation either: both count.
        let v = lab.verdict([d1, d2, a1, a2], at: t0 + 10)
        #expect(v.equivocations.isEmpty && v.drills.allSatisfy { $0.acks.count == 1 })
    }

    @Test func theStarIsAnIdentifierOnlyInHaltAndDrillRoles() throws {
        var r = Self.lab(DrillPolicy(roles: ["*"], deadlineMs: 30_000)).genesis
        #expect(try Roster(decoding: r.encoded()) == r)
        r.lab = "*"
        #expect(throws: DecodeError.self) { try Roster(decoding: r.encoded()) }
        #expect(throws: DecodeError.self) { try TextRules.checkIdentifier("*", field: "--name") }
    }

    @Test func anObserverSubmitsOnlyItsOwnAcknowledgements() {
        var lab = Self.lab()
        var node = GossipNode(store: EntryStore(genesis: lab.genesis))
        let d = lab.drill("alice", at: t0)
        _ = node.inject(d)
        _ = node.connected(7, outbound: false, now: t0, key: lab.keys["gate-a"]!.publicKey)
        _ = node.received(.hello(version: 1, genesis: lab.genesis.hash, role: .client, name: "gate-a"), from: 7, now: t0)
        func status(_ e: SignedEntry, _ request: UInt64) -> AckStatus? {
            for dir in node.received(.submit(request: request, entry: e.bytes), from: 7, now: t0) {
                if case .send(7, .ack(request, let s, _)) = dir { return s }
            }
            return nil
        }
        #expect(status(lab.ack("gate-b", d, receivedAt: t0, stoppedAt: t0 + 1), 1) == .rejected, "another enforcer's")
        #expect(status(lab.halt("alice", at: t0), 2) == .rejected, "a member's halt, relayed")
        let mine = lab.ack("gate-a", d, receivedAt: t0, stoppedAt: t0 + 1)
        #expect(status(mine, 3) == .stored)
        // With its disk full, the node still says a held acknowledgement is held (the enforcer need not retry).
        node.storageRefusal = "disk full"
        #expect(status(mine, 4) == .alreadyStored)
        #expect(status(lab.ack("gate-a", d, receivedAt: t0, stoppedAt: t0 + 2, at: t0 + 5), 5) == .rejected)
    }

    // MARK: Watch (§8.7)

    @Test func watchersAreSentOpenDrillsAndVerifyThem() throws {
        var lab = Self.lab()
        var store = EntryStore(genesis: lab.genesis)
        let d = lab.drill("alice", at: t0)
        _ = try store.insert(d)
        let open = WatchState(verdict: store.verdict(at: t0 + 1), store: store)
        #expect(open.drills == [d.bytes])
        var w = ByteWriter()
        open.encode(into: &w)
        var r = ByteReader(w.bytes)
        let back = try WatchState(from: &r)
        #expect(back == open)
        let checked = back.verifiedDrills(genesis: lab.genesis, rosters: [])
        #expect(checked.valid.map(\.id) == [d.id] && checked.unverified.isEmpty)
        // After the deadline the drill is no longer pushed.
        #expect(WatchState(verdict: store.verdict(at: t0 + 30_000), store: store).drills.isEmpty)
        // A drill by a member without drill authority does not verify.
        var strict = Self.lab(DrillPolicy(roles: ["safety"], deadlineMs: 30_000))
        let forged = strict.drill("alice", at: t0)
        var s = open
        s.drills = [forged.bytes]
        #expect(s.verifiedDrills(genesis: strict.genesis, rosters: []).valid.isEmpty)
    }

    @Test func statusCarriesDrillsAndTheSchedule() throws {
        var lab = Self.lab(Self.scheduled)
        let d = lab.drill("alice", at: t0)
        let acks = ["gate-a", "gate-b", "slurm"].map { lab.ack($0, d, receivedAt: t0 + 3, stoppedAt: t0 + 9) }
        let v = lab.verdict([d] + acks, at: t0 + minute)
        let status = NodeStatus(verdict: v)
        var w = ByteWriter()
        status.encode(into: &w)
        var r = ByteReader(w.bytes)
        let back = try NodeStatus(from: &r)
        #expect(back.verdict.drills == v.drills && back.verdict.drillSchedule == v.drillSchedule && back.drillsTotal == 1)
        #expect(status.text().contains("last drill") && status.text().contains("succeeded"))
        guard case .object(let fields) = v.json(), case .array(let drills)? = fields.first(where: { $0.0 == "drills" })?.1 else {
            Issue.record("no drills in the JSON")
            return
        }
        #expect(drills.count == 1)
    }
}
