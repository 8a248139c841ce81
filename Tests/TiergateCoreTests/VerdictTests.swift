import Foundation
import Testing
@testable import TiergateCore
@testable import TiergateStorage
import TiergateTestKit

struct VerdictTests {
    @Test func pausedByDefault() {
        for base: UInt32 in [0, 2, 3] {
            let lab = Lab(baseTier: base, maxTier: 4)
            let v = lab.verdict([], at: t0)
            #expect(v.authorizedTier == base)
            #expect(!v.halted)
            #expect(v.proposals.isEmpty)
        }
    }

    @Test func advanceNeedsTheRulesYesCountFromDistinctMembers() {
        var lab = Lab()
        let p = lab.propose("alice", tier: 1, at: t0)
        let b = lab.vote("bob", p, at: t0 + 1)
        let c = lab.vote("carol", p, at: t0 + 2)
        #expect(lab.verdict([p, b, c], at: t0 + hour).authorizedTier == 0)
        // The same member voting again does not add a vote.
        let c2 = lab.vote("carol", p, at: t0 + 3)
        #expect(lab.verdict([p, b, c, c2], at: t0 + hour).authorizedTier == 0)
        let d = lab.vote("dave", p, at: t0 + 4)
        let v = lab.verdict([p, b, c, c2, d], at: t0 + hour)
        #expect(v.authorizedTier == 1)
        #expect(v.proposals[0].passedAt == t0 + 4)
        #expect(v.proposals[0].yes == 3)
    }

    @Test func theProposerMustVoteToo() {
        var lab = Lab()
        let p = lab.propose("alice", tier: 1, at: t0)
        let votes = [lab.vote("bob", p, at: t0 + 1), lab.vote("carol", p, at: t0 + 2)]
        #expect(lab.verdict([p] + votes, at: t0 + hour).authorizedTier == 0)
        let a = lab.vote("alice", p, at: t0 + 3)
        #expect(lab.verdict([p, a] + votes, at: t0 + hour).authorizedTier == 1)
    }

    @Test func firstVoteBinds() {
        var lab = Lab()
        let p = lab.propose("alice", tier: 1, at: t0)
        let yes = [lab.vote("alice", p, at: t0 + 1), lab.vote("bob", p, at: t0 + 2)]
        let carolNo = lab.vote("carol", p, .no, at: t0 + 3)
        let carolYes = lab.vote("carol", p, .yes, at: t0 + 4)
        let v = lab.verdict([p, carolYes, carolNo] + yes, at: t0 + hour)
        #expect(v.authorizedTier == 0)
        #expect(v.proposals[0].no == 1)
    }

    static func safetyPolicy(_ n: Int) -> Policy {
        Policy(
            advance: Rule(minYes: 3, roleMinimums: [RoleMinimum(role: "safety", count: 1)], vetoRoles: ["auditor"], windowMs: day),
            resume: Rule(minYes: 4, windowMs: day), amend: Rule(minYes: 4, windowMs: day))
    }

    @Test func roleMinimumsMustBeMet() {
        var lab = Lab(policy: Self.safetyPolicy)
        let p = lab.propose("alice", tier: 1, at: t0)
        let noSafety = ["alice", "carol", "erin"].enumerated().map { lab.vote($1, p, at: t0 + UInt64($0) + 1) }
        let v = lab.verdict([p] + noSafety, at: t0 + hour)
        #expect(v.authorizedTier == 0)
        #expect(v.proposals[0].roles == [RoleProgress(role: "safety", have: 0, need: 1)])
        let bob = lab.vote("bob", p, at: t0 + 10)
        let v2 = lab.verdict([p, bob] + noSafety, at: t0 + hour)
        #expect(v2.authorizedTier == 1)
        #expect(v2.proposals[0].passedAt == t0 + 10)
    }

    @Test func aVetoRoleNoBlocksButOnlyBeforePassing() {
        var lab = Lab(policy: Self.safetyPolicy)
        let p = lab.propose("alice", tier: 1, at: t0)
        let veto = lab.vote("dave", p, .no, at: t0 + 1)
        let yes = ["alice", "bob", "carol", "erin"].enumerated().map { lab.vote($1, p, at: t0 + UInt64($0) + 2) }
        let v = lab.verdict([p, veto] + yes, at: t0 + hour)
        #expect(v.authorizedTier == 0)
        #expect(v.proposals[0].vetoedBy == ["dave"])
        #expect(!v.proposals[0].open)

        var lab2 = Lab(policy: Self.safetyPolicy)
        let q = lab2.propose("alice", tier: 1, at: t0)
        let yes2 = ["alice", "bob", "carol"].enumerated().map { lab2.vote($1, q, at: t0 + UInt64($0) + 1) }
        let late = lab2.vote("dave", q, .no, at: t0 + 100)
        #expect(lab2.verdict([q, late] + yes2, at: t0 + hour).authorizedTier == 1)
    }

    @Test func votesOutsideTheWindowDoNotCount() {
        var lab = Lab()
        let p = lab.propose("alice", tier: 1, at: t0, window: hour)
        let a = lab.vote("alice", p, at: t0 + 1)
        let b = lab.vote("bob", p, at: t0 + 2)
        let late = lab.vote("carol", p, at: t0 + hour + 1)
        let v = lab.verdict([p, a, b, late], at: t0 + 2 * hour)
        #expect(v.authorizedTier == 0)
        #expect(v.proposals[0].votes.first { $0.member == "carol" }?.ignored?.code == .voteAfterWindow)
    }

    /// `--json` carries each reason's code beside its text (SPEC.md §5.7).
    @Test func theJSONVerdictCarriesReasonCodes() {
        var lab = Lab()
        let p = lab.propose("alice", tier: 1, at: t0, window: hour)
        let yes = ["alice", "bob", "carol"].enumerated().map { lab.vote($1, p, at: t0 + UInt64($0) + 1) }
        let late = lab.vote("dave", p, at: t0 + hour + 1)
        let json = lab.verdict([p, late] + yes, at: t0 + 2 * hour).json()
        guard case .array(let proposals)? = json["proposals"], case .array(let votes)? = proposals.first?["votes"] else {
            Issue.record("no proposals/votes in \(json.serialized())")
            return
        }
        #expect(proposals.first?["outcome_code"] == .string("applied"))
        #expect(proposals.first?["invalid_code"] == .null)
        let dave = votes.first { $0["member"] == .string("dave") }
        #expect(dave?["ignored_code"] == .string("vote_after_window"))
        #expect(dave?["ignored"] == .string("cast after voting closed"))
        #expect(votes.filter { $0["ignored_code"] == .null }.count == 3)
    }

    /// Every code the decision rule can give is in SPEC.md §5.7's table, and the table lists no other.
    @Test func everyReasonCodeIsSpecified() throws {
        let spec = try String(contentsOfFile: Paths.packageRoot + "/protocol-spec/SPEC.md", encoding: .utf8)
        let section = try #require(spec.components(separatedBy: "### 5.7 Reason codes").dropFirst().first?
            .components(separatedBy: "\n## ").first)
        let specified = Set(section.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("| `") else { return nil }
            return line.split(separator: "`").dropFirst().first.map(String.init)
        })
        #expect(specified == Set(ReasonCode.allCases.map(\.rawValue)))
    }

    @Test func aVoteCountsOnlyForTheExactProposalItSigns() {
        var lab = Lab()
        let p1 = lab.propose("alice", tier: 1, at: t0, title: "one")
        let p2 = lab.propose("alice", tier: 1, at: t0 + 1, title: "two")
        let votes = [lab.vote("alice", p1, at: t0 + 2), lab.vote("bob", p1, at: t0 + 3), lab.vote("carol", p2, at: t0 + 4)]
        let v = lab.verdict([p1, p2] + votes, at: t0 + hour)
        #expect(v.authorizedTier == 0)
        #expect(v.proposals.map(\.yes) == [2, 1])
    }

    @Test func nonMembersAndOtherLabsNeverCount() {
        var lab = Lab()
        lab.addOutsider("mallory")
        let p = lab.propose("alice", tier: 1, at: t0)
        let votes = [lab.vote("alice", p, at: t0 + 1), lab.vote("bob", p, at: t0 + 2), lab.vote("mallory", p, at: t0 + 3)]
        let v = lab.verdict([p] + votes, at: t0 + hour)
        #expect(v.authorizedTier == 0)
        #expect(v.proposals[0].votes.contains { $0.ignored?.code == .voteByNonMember })
        // A halt by a non-member does not count either (nobody outside the roster can stop the lab).
        let h = lab.halt("mallory", at: t0 + 4)
        #expect(!lab.verdict([h], at: t0 + hour).halted)
        // Entries of another lab fail verification before they reach the tally.
        var other = Lab(lab: "other")
        let foreign = other.propose("alice", tier: 1, at: t0)
        #expect(throws: EntryError.self) { try foreign.verified(lab: lab.genesis.lab, genesis: lab.genesis.hash) }
    }

    @Test func oneTierAtATime() {
        var lab = Lab()
        let p = lab.propose("alice", tier: 2, at: t0)
        let votes = ["alice", "bob", "carol"].enumerated().map { lab.vote($1, p, at: t0 + UInt64($0) + 1) }
        let v = lab.verdict([p] + votes, at: t0 + hour)
        #expect(v.authorizedTier == 0)
        #expect(v.proposals[0].passed)
        #expect(v.proposals[0].outcome?.code == .notNextTier)
    }

    /// alice proposes tier 1, alice+bob+carol vote yes: tier 1 from t0+3.
    static func authorised(_ lab: inout Lab) -> [SignedEntry] {
        let p = lab.propose("alice", tier: 1, at: t0)
        return [p] + ["alice", "bob", "carol"].enumerated().map { lab.vote($1, p, at: t0 + UInt64($0) + 1) }
    }

    @Test func aSingleHaltRevokesUntilAResumePasses() {
        var lab = Lab()
        let up = Self.authorised(&lab)
        let h = lab.halt("erin", at: t0 + minute, reason: "eval anomaly")
        var v = lab.verdict(up + [h], at: t0 + hour)
        #expect(v.authorizedTier == 0)
        #expect(v.halted)
        #expect(v.activeHalts.map(\.member) == ["erin"])
        // An advance passing while halted has no effect.
        let p2 = lab.propose("alice", tier: 1, at: t0 + 2 * minute)
        let again = ["alice", "bob", "carol"].enumerated().map { lab.vote($1, p2, at: t0 + 2 * minute + UInt64($0) + 1) }
        v = lab.verdict(up + [h, p2] + again, at: t0 + hour)
        #expect(v.authorizedTier == 0)
        #expect(v.proposals.last?.outcome?.code == .haltedWhenPassed)
        // A resume with too few votes does not clear it (resume = majority of 5 = 3 here).
        let r = lab.resume("bob", tier: 1, halts: [h.id], at: t0 + 3 * minute)
        let two = ["bob", "carol"].enumerated().map { lab.vote($1, r, at: t0 + 3 * minute + UInt64($0) + 1) }
        #expect(lab.verdict(up + [h, r] + two, at: t0 + hour).halted)
        let third = lab.vote("erin", r, at: t0 + 4 * minute)
        v = lab.verdict(up + [h, r, third] + two, at: t0 + hour)
        #expect(!v.halted)
        #expect(v.authorizedTier == 1)
        #expect(v.halts.first?.resolvedBy == r.id)
    }

    @Test func resumeNeverRaisesAboveTheTierWhenHalted() {
        var lab = Lab()
        let up = Self.authorised(&lab)
        let h = lab.halt("erin", at: t0 + minute)
        let r = lab.resume("bob", tier: 3, halts: [h.id], at: t0 + 2 * minute)
        let votes = ["alice", "bob", "carol"].enumerated().map { lab.vote($1, r, at: t0 + 2 * minute + UInt64($0) + 1) }
        #expect(lab.verdict(up + [h, r] + votes, at: t0 + hour).authorizedTier == 1)
    }

    @Test func haltAuthorityFollowsThePolicy() {
        var lab = Lab(policy: { n in
            var p = Policy.defaultPolicy(memberCount: n)
            p.haltRoles = ["safety"]
            return p
        })
        let up = Self.authorised(&lab)
        let byStaff = lab.halt("erin", at: t0 + minute)
        let v = lab.verdict(up + [byStaff], at: t0 + hour)
        #expect(!v.halted)
        #expect(v.ignored.contains { $0.reason.code == .haltWithoutAuthority && $0.reason.text == "erin has no halt authority" })
        let bySafety = lab.halt("bob", at: t0 + minute)
        #expect(lab.verdict(up + [byStaff, bySafety], at: t0 + hour).halted)
    }

    @Test func authorisationLapsesUnlessReaffirmed() {
        var lab = Lab(policy: { n in
            var p = Policy.defaultPolicy(memberCount: n)
            p.lapseMs = day
            return p
        })
        let up = Self.authorised(&lab)
        #expect(lab.verdict(up, at: t0 + day).authorizedTier == 1)
        #expect(lab.verdict(up, at: t0 + 3 + day).authorizedTier == 0)
        let re = lab.propose("alice", tier: 1, at: t0 + hour, title: "re-affirm")
        let votes = ["alice", "bob", "carol"].enumerated().map { lab.vote($1, re, at: t0 + hour + UInt64($0) + 1) }
        let v = lab.verdict(up + [re] + votes, at: t0 + day + 30 * minute)
        #expect(lab.verdict(up + [re] + votes, at: t0 + day + hour + 3).authorizedTier == 0)
        #expect(v.authorizedTier == 1)
        #expect(v.lapsesAt == t0 + hour + 3 + day)
        #expect(v.proposals.last?.outcome?.code == .reaffirmed)
    }

    @Test func entriesBeyondTheClockSkewAreNotCountedYet() {
        var lab = Lab()
        let p = lab.propose("alice", tier: 1, at: t0)
        let a = lab.vote("alice", p, at: t0 + 1)
        let b = lab.vote("bob", p, at: t0 + 2)
        let future = lab.vote("carol", p, at: t0 + 10 * minute)
        // Skew is 2 minutes: at t0 + 7m the vote dated t0 + 10m is 3 minutes ahead.
        #expect(lab.verdict([p, a, b, future], at: t0 + 7 * minute).authorizedTier == 0)
        // At t0 + 8m it is exactly 2 minutes ahead: within the skew.
        #expect(lab.verdict([p, a, b, future], at: t0 + 8 * minute).authorizedTier == 1)
        // A halt counts whatever its date (SPEC.md §5.4): one dated beyond the skew (a fast clock) is a stop now.
        let h = lab.halt("erin", at: t0 + 30 * minute)
        #expect(lab.verdict([p, a, b, future, h], at: t0 + 20 * minute).halted)
        #expect(lab.verdict([p, a, b, future, h], at: t0 + 28 * minute).halted)
        #expect(lab.verdict([p, a, b, future, h], at: t0 + 20 * minute).ignored.isEmpty)
    }

    /// A halt signed with a clock two hours fast stops the lab at once, and a resume that names it lifts it even
    /// though the resume passes before the halt's own date (it never comes into force); a resume that does not
    /// name it leaves the lab halted.
    @Test func aHaltDatedAheadStopsNowAndAResumeNamingItLiftsIt() {
        var lab = Lab()
        let up = Self.authorised(&lab)
        let fast = lab.halt("erin", at: t0 + 2 * hour, reason: "clock two hours fast")
        let now = t0 + 10 * minute
        #expect(lab.verdict(up + [fast], at: now).halted)
        #expect(lab.verdict(up + [fast], at: now).authorizedTier == 0)
        let r = lab.resume("bob", tier: 1, halts: [fast.id], at: now + minute)
        let rv = ["bob", "carol", "dave"].enumerated().map { lab.vote($1, r, at: now + minute + UInt64($0) + 1) }
        let after = lab.verdict(up + [fast, r] + rv, at: now + 5 * minute)
        #expect(!after.halted && after.authorizedTier == 1)
        #expect(after.proposals.last?.outcome?.code == .resolvedAhead)
        #expect(after.halts.first?.resolvedBy == r.id)
        // Still lifted once the halt's own time has come: it never came into force.
        #expect(!lab.verdict(up + [fast, r] + rv, at: t0 + 3 * hour).halted)
        // Without the resume it is a stop throughout.
        #expect(lab.verdict(up + [fast], at: t0 + 3 * hour).halted)
    }

    /// A halt naming an earlier roster version (signed from a stale view, or dated past a new version's start by a
    /// fast clock) still stops the lab when its author could halt under both versions (SPEC.md §5.4); a key that
    /// the new version removed cannot.
    @Test func aHaltNamingAnEarlierVersionCountsIfItsAuthorCouldHaltUnderBoth() {
        var lab = Lab()
        let amend = Self.rotateBob(&lab)
        let av = ["alice", "carol", "dave", "erin"].enumerated().map { lab.vote($1, amend, at: t0 + UInt64($0) + 1) }
        let staleErin = lab.halt("erin", at: t0 + minute, reason: "signed from a stale view", rosterVersion: 1)
        let v = lab.verdict([amend] + av + [staleErin], at: t0 + hour)
        #expect(v.rosterVersion == 2 && v.halted)
        let oldBob = lab.halt("bob", at: t0 + minute, reason: "old key", rosterVersion: 1)
        let w = lab.verdict([amend] + av + [oldBob], at: t0 + hour)
        #expect(!w.halted && w.ignored.first?.reason.code == .haltByNonMember)
        let ahead = lab.halt("carol", at: t0 + minute, reason: "names a version not yet in force", rosterVersion: 3)
        #expect(lab.verdict([amend] + av + [ahead], at: t0 + hour).ignored.first?.reason.code == .haltWrongRosterVersion)
    }

    @Test func equivocationVoidsTheMembersVotesAndIsReported() {
        var lab = Lab()
        let p = lab.propose("alice", tier: 1, at: t0)
        let a = lab.vote("alice", p, at: t0 + 1)
        let c = lab.vote("carol", p, at: t0 + 2)
        let bobHead = lab.heads[lab.keys["bob"]!.publicKey]
        let b1 = lab.vote("bob", p, .yes, at: t0 + 3)
        lab.heads[lab.keys["bob"]!.publicKey] = bobHead  // sign a second entry at the same position
        let b2 = lab.halt("bob", at: t0 + 4, reason: "the other branch")
        let evidence = EquivocationEvidence(first: b1, second: b2)
        #expect(evidence.isValid(lab: "acme", genesis: lab.genesis.hash))
        #expect(lab.verdict([p, a, c, b1], at: t0 + hour).authorizedTier == 1)
        let v = lab.verdict([p, a, c, b1], evidence: [evidence], at: t0 + hour)
        #expect(v.authorizedTier == 0)
        #expect(v.equivocations.map(\.member) == ["bob"])
        #expect(v.equivocations[0].ids == [b1.id, b2.id].sorted())
        // The halt inside the evidence counts: doubt resolves toward pause.
        #expect(v.halted)
        // Evidence of two copies of one entry is not equivocation.
        #expect(!EquivocationEvidence(first: b1, second: b1).isValid(lab: "acme", genesis: lab.genesis.hash))
    }

    /// An amendment to version 2 that rotates bob's key to `bob-new` (members sorted: alice, bob, ...).
    static func rotateBob(_ lab: inout Lab) -> SignedEntry {
        lab.addOutsider("bob-new")
        var next = lab.genesis
        next.version = 2
        next.previous = lab.genesis.hash
        next.members[1].key = lab.keys["bob-new"]!.publicKey
        return lab.amend("alice", to: next, at: t0)
    }

    @Test func anAmendmentRotatesAKeyUnderTheAmendRule() {
        var lab = Lab()
        let amend = Self.rotateBob(&lab)
        // Two thirds of 5 = 4 votes needed; 3 are not enough.
        let three = ["alice", "carol", "dave"].enumerated().map { lab.vote($1, amend, at: t0 + UInt64($0) + 1) }
        var v = lab.verdict([amend] + three, at: t0 + hour)
        #expect(v.rosterVersion == 1)
        let fourth = lab.vote("erin", amend, at: t0 + 10)
        v = lab.verdict([amend, fourth] + three, at: t0 + hour)
        #expect(v.rosterVersion == 2)
        #expect(v.roster.member(named: "bob")?.key == lab.keys["bob-new"]!.publicKey)
        #expect(v.proposals[0].outcome?.code == .amendmentInForce)
        // Under version 2, bob's old key no longer counts; the new one does.
        let p = lab.propose("alice", tier: 1, at: t0 + minute, rosterVersion: 2)
        let a = lab.vote("alice", p, at: t0 + minute + 1, rosterVersion: 2)
        let oldBob = lab.vote("bob", p, at: t0 + minute + 2, rosterVersion: 2)
        let c = lab.vote("carol", p, at: t0 + minute + 3, rosterVersion: 2)
        v = lab.verdict([amend, fourth, p, a, oldBob, c] + three, at: t0 + hour)
        #expect(v.authorizedTier == 0)
        let newBob = lab.vote("bob-new", p, at: t0 + minute + 4, rosterVersion: 2)
        v = lab.verdict([amend, fourth, p, a, oldBob, c, newBob] + three, at: t0 + hour)
        #expect(v.authorizedTier == 1)
        // Entries still naming version 1 after version 2 took effect never count.
        let stale = lab.propose("alice", tier: 2, at: t0 + 2 * minute, rosterVersion: 1)
        v = lab.verdict([amend, fourth, p, a, oldBob, c, newBob, stale] + three, at: t0 + hour)
        #expect(v.proposals.first { $0.id == stale.id }?.invalid?.code == .proposalWrongRosterVersion)
    }

    @Test func amendmentCoolingOffDelaysTheNewRoster() {
        var lab = Lab(policy: { n in
            var p = Policy.defaultPolicy(memberCount: n)
            p.amendCoolingOffMs = day
            return p
        })
        var next = lab.genesis
        next.version = 2
        next.previous = lab.genesis.hash
        next.policy.advance.minYes = 1  // lowering a threshold: exactly what cooling-off is for
        let amend = lab.amend("alice", to: next, at: t0)
        let votes = ["alice", "bob", "carol", "dave"].enumerated().map { lab.vote($1, amend, at: t0 + UInt64($0) + 1) }
        let v = lab.verdict([amend] + votes, at: t0 + hour)
        #expect(v.rosterVersion == 1)
        #expect(v.pendingRoster?.version == 2)
        #expect(v.pendingRoster?.activatesAt == t0 + 4 + day)
        #expect(lab.verdict([amend] + votes, at: t0 + 2 * day).rosterVersion == 2)
    }

    // MARK: - Properties

    /// A random scenario: a random policy, one advance proposal, random votes by members (some duplicated,
    /// some late, some by non-members), maybe a halt.
    struct Scenario {
        var lab: Lab
        var entries: [SignedEntry]
        var rule: Rule
        var proposal: SignedEntry
    }

    /// A random scenario, then a halt, a resume of it and everyone's vote on the resume.
    static func randomScenarioWithHaltAndResume(_ rng: inout Simulation.SplitMix) -> Scenario {
        var s = randomScenario(&rng)
        let names = s.lab.genesis.members.map(\.name)
        let h = s.lab.halt(names[0], at: t0 + 90 * minute)
        let r = s.lab.resume(names[0], tier: 1, halts: [h.id], at: t0 + 91 * minute)
        s.entries += [h, r] + names.map { s.lab.vote($0, r, at: t0 + 92 * minute) }
        return s
    }

    static func randomScenario(_ rng: inout Simulation.SplitMix) -> Scenario {
        let names = ["m0", "m1", "m2", "m3", "m4", "m5", "m6"]
        let roleNames = ["safety", "leader", "board", "auditor"]
        let n = Int.random(in: 1...names.count, using: &rng)
        var members: [(String, [String])] = []
        for i in 0..<n {
            var roles = Set([roleNames[Int.random(in: 0..<roleNames.count, using: &rng)]])
            if Bool.random(using: &rng) { roles.insert(roleNames[Int.random(in: 0..<roleNames.count, using: &rng)]) }
            members.append((names[i], roles.sorted()))
        }
        let minYes = UInt32.random(in: 1...UInt32(n), using: &rng)
        var mins: [RoleMinimum] = []
        if Bool.random(using: &rng) {
            let role = members[Int.random(in: 0..<n, using: &rng)].1[0]
            let holders = members.filter { $0.1.contains(role) }.count
            mins.append(RoleMinimum(role: role, count: UInt32.random(in: 1...UInt32(holders), using: &rng)))
        }
        let veto = Bool.random(using: &rng) ? [roleNames[Int.random(in: 0..<roleNames.count, using: &rng)]] : []
        let rule = Rule(minYes: minYes, roleMinimums: mins, vetoRoles: veto, windowMs: hour)
        var lab = Lab(members: members, policy: { _ in Policy(advance: rule, resume: rule, amend: Rule(minYes: UInt32(n), windowMs: hour)) })
        lab.addOutsider("x")
        let p = lab.propose(names[Int.random(in: 0..<n, using: &rng)], tier: 1, at: t0, window: hour)
        var entries = [p]
        var time = t0
        for _ in 0..<Int.random(in: 0...(2 * n + 2), using: &rng) {
            time += UInt64.random(in: 1...(20 * minute), using: &rng)
            let voter = Int.random(in: 0...n, using: &rng) == n ? "x" : names[Int.random(in: 0..<n, using: &rng)]
            let choice = [VoteChoice.yes, .yes, .yes, .no, .abstain][Int.random(in: 0..<5, using: &rng)]
            entries.append(lab.vote(voter, p, choice, at: time))
        }
        return Scenario(lab: lab, entries: entries, rule: rule, proposal: p)
    }

    /// The rule of SPEC.md §5.3 restated as simply as possible, independently of `Verdict`.
    static func quorumExists(_ s: Scenario) -> Bool {
        var firstVote: [PublicKey: (UInt64, VoteChoice)] = [:]
        for e in s.entries {
            guard case .vote(let v) = e.entry.body, s.lab.genesis.member(withKey: e.entry.author) != nil else { continue }
            if firstVote[e.entry.author] == nil || firstVote[e.entry.author]!.0 > e.entry.seq {
                firstVote[e.entry.author] = (e.entry.seq, v.choice)
            }
        }
        // Votes in time order (each member's first); quorum must be met at some prefix before any veto.
        var ordered: [(UInt64, PublicKey, VoteChoice)] = []
        for e in s.entries {
            guard case .vote(let v) = e.entry.body, let f = firstVote[e.entry.author], f.0 == e.entry.seq,
                e.entry.time <= s.proposal.entry.time + hour
            else { continue }
            ordered.append((e.entry.time, e.entry.author, v.choice))
        }
        ordered.sort { ($0.0, $0.1) < ($1.0, $1.1) }
        var yes: [Member] = []
        for (_, key, choice) in ordered {
            let m = s.lab.genesis.member(withKey: key)!
            if choice == .no && m.roles.contains(where: { s.rule.vetoRoles.contains($0) }) { return false }
            if choice == .yes { yes.append(m) }
            let rolesOK = s.rule.roleMinimums.allSatisfy { r in yes.filter { $0.roles.contains(r.role) }.count >= r.count }
            if yes.count >= s.rule.minYes && rolesOK { return true }
        }
        return false
    }

    @Test(arguments: 0..<400)
    func noAllowWithoutQuorum(seed: Int) {
        var rng = Simulation.SplitMix(seed: UInt64(seed) &* 7919)
        let s = Self.randomScenario(&rng)
        let v = s.lab.verdict(s.entries, at: t0 + 2 * hour)
        let expected = Self.quorumExists(s)
        #expect((v.authorizedTier == 1) == expected, "seed \(seed): verdict \(v.authorizedTier), quorum \(expected)")
    }

    @Test(arguments: 0..<100)
    func anyUnresolvedHaltMeansBaseTier(seed: Int) {
        var rng = Simulation.SplitMix(seed: UInt64(seed) &* 104_729)
        var s = Self.randomScenario(&rng)
        let names = s.lab.genesis.members.map(\.name)
        let halter = names[Int.random(in: 0..<names.count, using: &rng)]
        let at = t0 + UInt64.random(in: 0...(3 * hour), using: &rng)
        s.entries.append(s.lab.halt(halter, at: at))
        let v = s.lab.verdict(s.entries, at: t0 + 4 * hour)
        #expect(v.halted)
        #expect(v.authorizedTier == s.lab.genesis.baseTier)
    }

    @Test(arguments: 0..<60)
    func arrivalOrderDoesNotChangeTheVerdict(seed: Int) {
        var rng = Simulation.SplitMix(seed: UInt64(seed) &+ 1)
        let s = Self.randomScenarioWithHaltAndResume(&rng)
        let reference = s.lab.verdict(s.entries, at: t0 + 3 * hour).json().serialized()
        for _ in 0..<5 {
            let shuffled = s.entries.shuffled(using: &rng)
            #expect(s.lab.verdict(shuffled, at: t0 + 3 * hour).json().serialized() == reference)
        }
    }
}

/// The node's verdict cache rests on `Verdict.validUntil`: with the same entries, the verdict at any instant in
/// [at, validUntil) is the verdict at `at` with only `at` changed (SPEC.md §8.6).
struct VerdictValidityTests {
    static func same(_ a: Verdict, _ b: Verdict) -> Bool {
        var b = b
        b.at = a.at
        b.validUntil = a.validUntil
        return a.json().serialized() == b.json().serialized()
    }

    @Test(arguments: 0..<40)
    func aVerdictHoldsUntilValidUntil(seed: Int) {
        var rng = Simulation.SplitMix(seed: UInt64(seed) &+ 1000)
        let s = VerdictTests.randomScenarioWithHaltAndResume(&rng)
        var changes = 0
        for k in 0..<40 {
            let at = t0 + UInt64(k) * 5 * minute + UInt64.random(in: 0..<minute, using: &rng)
            let v = s.lab.verdict(s.entries, at: at)
            #expect(v.validUntil > at)
            guard v.validUntil != .max else { continue }
            changes += 1
            for probe in [at + 1, at + (v.validUntil - at) / 2, v.validUntil - 1] where probe >= at && probe < v.validUntil {
                #expect(Self.same(v, s.lab.verdict(s.entries, at: probe)), "seed \(seed): at \(at), probe \(probe), valid until \(v.validUntil)")
            }
        }
        #expect(changes > 0, "the scenario has time boundaries")
    }

    @Test func validUntilIsTheInstantAWindowClosesOrAuthorisationLapses() {
        var lab = Lab()
        let p = lab.propose("alice", tier: 1, at: t0, window: hour)
        let early = lab.verdict([p], at: t0 + 1)
        #expect(early.validUntil == t0 + hour + 1, "open until its window closes")
        #expect(early.proposals[0].open && !lab.verdict([p], at: early.validUntil).proposals[0].open)
        let votes = ["alice", "bob", "carol"].enumerated().map { lab.vote($1, p, at: t0 + UInt64($0) + 1) }
        let passed = lab.verdict([p] + votes, at: t0 + 2 * hour)
        #expect(passed.authorizedTier == 1)
        let lapse = try! #require(passed.lapsesAt)
        #expect(passed.validUntil == lapse)
        #expect(lab.verdict([p] + votes, at: lapse - 1).authorizedTier == 1)
        #expect(lab.verdict([p] + votes, at: lapse).authorizedTier == 0)
    }

    @Test func aVoteDatedAheadBoundsTheVerdict() {
        var lab = Lab()
        let p = lab.propose("alice", tier: 1, at: t0, window: 7 * day)
        let skew = lab.genesis.policy.maxSkewMs
        let ahead = lab.vote("bob", p, at: t0 + hour + skew + 5_000)  // counted from t0 + hour + 5 s
        let v = lab.verdict([p, ahead], at: t0 + hour)
        #expect(v.proposals[0].votes[0].ignored?.code == .voteDatedAhead)
        #expect(v.validUntil == t0 + hour + 5_000)
        #expect(lab.verdict([p, ahead], at: v.validUntil - 1).proposals[0].votes[0].ignored?.code == .voteDatedAhead)
        #expect(lab.verdict([p, ahead], at: v.validUntil).proposals[0].votes[0].ignored == nil)
    }
}
