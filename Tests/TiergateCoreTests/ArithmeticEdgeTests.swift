import Foundation
import Testing
@testable import TiergateCore
import TiergateTestKit

/// No sum of a time and a duration wraps (SPEC.md §5, §3.1): policies with durations up to the 10-year limits and
/// times near the end of u64, each verdict compared with a reference computed exactly in UInt128 in this test.
struct ArithmeticEdgeTests {
    static let maxD = Limits.maxDurationMs

    /// A time within `span` of the end of u64 (or exactly at it).
    static func edgeTime(_ rng: inout Simulation.SplitMix, span: UInt64) -> UInt64 {
        UInt64.max - UInt64.random(in: 0...span, using: &rng)
    }

    static func lab(cooling: UInt64 = 0, lapse: UInt64 = 30 * day, window: UInt64 = 7 * day) -> Lab {
        Lab(policy: { n in
            var p = Policy.defaultPolicy(memberCount: n)
            p.amendCoolingOffMs = cooling
            p.lapseMs = lapse
            p.advance.windowMs = window
            p.resume.windowMs = window
            p.amend.windowMs = window
            return p
        })
    }

    static func propose(_ lab: inout Lab, _ action: ProposalAction, at time: UInt64) -> SignedEntry {
        lab.sign("alice", .proposal(Proposal(action: action, title: "edge", closesAt: .max)), at: time)
    }

    /// An amendment passes at T; it is in force at `now` exactly when T + cooling-off < now. A halt signed after
    /// it passed always counts. (With a wrapped sum the new version took effect at once or back-dated, and the
    /// halt, dated before the wrapped start, stopped counting.)
    @Test(arguments: 0..<200)
    func coolingOffNeverWraps(seed: Int) throws {
        var rng = Simulation.SplitMix(seed: UInt64(seed) &+ 7)
        let cooling = [0, 1, Self.maxD, UInt64.random(in: 0...Self.maxD, using: &rng)][seed % 4]
        var lab = Self.lab(cooling: cooling)
        let t = Self.edgeTime(&rng, span: 3 * Self.maxD)
        var next = lab.genesis
        next.version = 2
        next.previous = lab.genesis.hash
        next.baseTier = 1
        let amend = Self.propose(&lab, .amend(next), at: t)
        let votes = ["alice", "bob", "carol", "dave"].map { lab.vote($0, amend, at: t) }
        let halt = lab.halt("erin", at: t)
        let now = t + UInt64.random(in: 0...(UInt64.max - t), using: &rng)
        let v = lab.verdict([amend, halt] + votes, at: now)
        let inForce = UInt128(t) + UInt128(cooling) < UInt128(now)
        #expect(v.rosterVersion == (inForce ? 2 : 1), "t \(t), cooling \(cooling), now \(now)")
        #expect(v.halted, "a halt signed when the amendment passed counts, whatever the cooling-off")
        #expect(v.authorizedTier == (inForce ? 1 : 0))
    }

    /// Authorisation granted at `since` lapses exactly when since + lapse ≤ now.
    @Test(arguments: 0..<200)
    func lapseNeverWraps(seed: Int) {
        var rng = Simulation.SplitMix(seed: UInt64(seed) &+ 900)
        let lapse = [10 * minute, Self.maxD, UInt64.random(in: (10 * minute)...Self.maxD, using: &rng)][seed % 3]
        var lab = Self.lab(lapse: lapse)
        let since = Self.edgeTime(&rng, span: 2 * Self.maxD)
        let p = Self.propose(&lab, .advance(tier: 1), at: since)
        let votes = ["alice", "bob", "carol"].map { lab.vote($0, p, at: since) }
        let now = since + UInt64.random(in: 0...(UInt64.max - since), using: &rng)
        let v = lab.verdict([p] + votes, at: now)
        let lapsed = UInt128(since) + UInt128(lapse) <= UInt128(now)
        #expect(v.authorizedTier == (lapsed ? 0 : 1), "since \(since), lapse \(lapse), now \(now)")
        if !lapsed {
            #expect(v.lapsesAt == UInt64(clamping: UInt128(since) + UInt128(lapse)))
            #expect(v.validUntil > now)
        }
    }

    /// A vote counts exactly when it is cast by min(closes_at, time + window).
    @Test(arguments: 0..<200)
    func votingWindowNeverWraps(seed: Int) {
        var rng = Simulation.SplitMix(seed: UInt64(seed) &+ 5000)
        let window = [1_000, Self.maxD, UInt64.random(in: 1_000...Self.maxD, using: &rng)][seed % 3]
        var lab = Self.lab(window: window)
        let t = Self.edgeTime(&rng, span: 2 * Self.maxD)
        let p = Self.propose(&lab, .advance(tier: 1), at: t)
        let at = t + UInt64.random(in: 0...(UInt64.max - t), using: &rng)
        let vote = lab.vote("bob", p, at: at)
        let v = lab.verdict([p, vote], at: .max)
        let counts = UInt128(at) <= UInt128(t) + UInt128(window)
        #expect((v.proposals[0].votes[0].ignored == nil) == counts, "t \(t), window \(window), vote at \(at)")
        #expect(v.proposals[0].closesAt == UInt64(clamping: UInt128(t) + UInt128(window)))
    }

    /// A tier at the top of u32 never wraps to a lower one.
    @Test func theTopTierDoesNotWrap() {
        var lab = Lab(baseTier: UInt32.max - 1, maxTier: UInt32.max)
        let p = lab.propose("alice", tier: UInt32.max, at: t0)
        let votes = ["alice", "bob", "carol"].map { lab.vote($0, p, at: t0 + 1) }
        #expect(lab.verdict([p] + votes, at: t0 + hour).authorizedTier == UInt32.max)
        let again = lab.propose("alice", tier: 0, at: t0 + 2)
        let more = ["alice", "bob", "carol"].map { lab.vote($0, again, at: t0 + 3) }
        #expect(lab.verdict([p, again] + votes + more, at: t0 + hour).authorizedTier == UInt32.max,
                "an advance to tier 0 is not 'the next tier' after the top")
    }

    /// Rosters past the limits are rejected, canonical and JSON alike, with the field named.
    @Test func durationsBeyondTenYearsAreRejected() throws {
        for (field, edit) in [
            ("window", { (p: inout Policy) in p.advance.windowMs = Self.maxD + 1 }),
            ("lapse", { (p: inout Policy) in p.lapseMs = Self.maxD + 1 }),
            ("amend_cooling_off", { (p: inout Policy) in p.amendCoolingOffMs = Self.maxD + 1 }),
        ] as [(String, (inout Policy) -> Void)] {
            var r = Lab().genesis
            edit(&r.policy)
            #expect(throws: DecodeError.self) { try r.validate() }
            do { try r.validate() } catch { #expect("\(error)".contains(field) && "\(error)".contains("10 years"), "\(error)") }
            #expect(throws: DecodeError.self) { _ = try Roster(decoding: r.encoded()) }
            var atLimit = Lab().genesis
            edit(&atLimit.policy)
            switch field {
            case "window": atLimit.policy.advance.windowMs = Self.maxD
            case "lapse": atLimit.policy.lapseMs = Self.maxD
            default: atLimit.policy.amendCoolingOffMs = Self.maxD
            }
            #expect(throws: Never.self) { try atLimit.validate() }
        }
        // The JSON carrier says what is wrong.
        let text = String(decoding: Lab().document.fileBytes(), as: UTF8.self)
        let past = text.replacingOccurrences(of: "\"lapse\": \"30d\"", with: "\"lapse\": \"3651d\"")
        #expect(past != text)
        do {
            _ = try GenesisDocument(fileBytes: Array(past.utf8))
            Issue.record("a lapse of 3651 days was accepted")
        } catch {
            #expect("\(error)".contains("10 years"), "\(error)")
        }
    }
}
