import Testing
@testable import TiergateCore
import TiergateTestKit

/// What the status page, notifications and `tiergate watch` say (issue 17), derived from a verdict alone.
@Suite struct LabEventsTests {
    static let t0: UInt64 = 1_767_225_600_000

    /// A lab's life: tier 1 passes, a proposal expires, a halt and its resume, an equivocation.
    static func story() -> (Verdict, UInt64) {
        var lab = Lab(policy: { n in
            var p = Policy.defaultPolicy(memberCount: n)
            p.lapseMs = 12 * 3_600_000
            return p
        })
        let t = t0
        let p = lab.propose("alice", tier: 1, at: t, title: "Scale <b>up</b>")
        let votes = ["alice", "bob", "carol"].enumerated().map { lab.vote($1, p, at: t + 10 + UInt64($0)) }
        let quick = lab.propose("bob", tier: 2, at: t + 20, title: "too quick", window: 1_000)
        let h = lab.halt("erin", at: t + 5_000, reason: "stop \"now\"")
        let r = lab.resume("carol", tier: 1, halts: [h.id], at: t + 6_000)
        let rv = ["alice", "bob", "carol"].enumerated().map { lab.vote($1, r, at: t + 6_010 + UInt64($0)) }
        // dave signs two different votes at position 1.
        var other = lab
        let first = lab.vote("dave", quick, .yes, at: t + 7_000)
        let second = other.vote("dave", quick, .no, at: t + 7_001)
        let ev = EquivocationEvidence(first: first, second: second)
        let now = t + 8_000
        return (lab.verdict([p] + votes + [quick, h, r] + rv + [first], evidence: [ev], at: now), now)
    }

    /// Drills (issue 18): one fails (slurm never answers), one succeeds, and a week later the next is overdue.
    static func drillStory() -> (Verdict, UInt64) {
        var lab = Lab(members: Lab.defaultMembers + [("gate-a", ["observer"]), ("slurm", ["observer"])], policy: { _ in
            var p = Policy.defaultPolicy(memberCount: 5)
            p.drill = DrillPolicy(intervalMs: 7 * 86_400_000, deadlineMs: 30_000, lapseOnOverdue: true)
            return p
        })
        let d1 = lab.drill("bob", at: t0)
        let d2 = lab.drill("bob", at: t0 + 60_000)
        let acks = [lab.ack("gate-a", d1, receivedAt: t0 + 5, stoppedAt: t0 + 50)]
            + ["gate-a", "slurm"].map { lab.ack($0, d2, receivedAt: t0 + 60_005, stoppedAt: t0 + 60_080) }
        let now = t0 + 8 * 86_400_000
        return (lab.verdict([d1, d2] + acks, at: now), now)
    }

    @Test func everyKindIsDerivedOnceInTimeOrder() throws {
        let (v, now) = Self.story()
        let events = LabEvents.all(v, now: now)
        let (dv, dnow) = Self.drillStory()
        let drillEvents = LabEvents.all(dv, now: dnow)
        #expect(drillEvents.map(\.kind) == [.drill, .drillFailed, .drill, .drillSucceeded, .drillOverdue], "\(drillEvents.map(\.kind))")
        #expect(drillEvents.first { $0.kind == .drillFailed }?.text.contains("slurm") == true)
        #expect(Set(events.map(\.kind)).union(drillEvents.map(\.kind)) == Set(LabEvent.Kind.allCases), "\(events.map(\.kind))")
        #expect(Set(events.map(\.key)).count == events.count, "keys are unique")
        #expect(events.map(\.time) == events.map(\.time).sorted())
        // The count in each vote's text is the count as of that vote, not of now.
        let votes = events.filter { $0.kind == .voteCast && $0.text.contains("Scale") }.map(\.text)
        #expect(votes.count == 3 && votes[0].contains("1 of 3 yes") && votes[1].contains("2 of 3 yes") && votes[2].contains("3 of 3 yes"), "\(votes)")
        // Every event's JSON is well-formed for a strict reader (no repeated key) and carries text for chat tools.
        for e in events {
            let text = e.json.serialized()
            let back = try JSONValue.parse(text)
            #expect(back["event"] == .string(e.kind.rawValue) && back["text"] == .string(e.text) && back["key"] == .string(e.key), "\(text)")
        }
    }

    @Test func onlyNewEventsAreReportedAndTheLapseNoticeMovesWithTheLapse() {
        let (v, now) = Self.story()
        var seen: Set<String> = []
        let first = LabEvents.new(v, now: now, seen: &seen)
        #expect(!first.isEmpty && LabEvents.new(v, now: now, seen: &seen).isEmpty, "the same verdict twice announces nothing new")
        // A verdict without a lapse in view has no lapse notice; one a day further is announced again by its own key.
        let lapse = first.filter { $0.kind == .lapseDue }
        #expect(lapse.count == 1 && lapse[0].key == "lapse_due:\(v.lapsesAt!)")
        #expect(LabEvents.all(v, now: v.lapsesAt! - LabEvents.lapseNoticeMs - 1).allSatisfy { $0.kind != .lapseDue })
    }

    @Test func thePageEscapesEverythingFromTheLedger() {
        #expect(StatusPage.escape(#"<script>alert("x" & 'y')</script>"#) == "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;")
        let (v, now) = Self.story()
        let page = StatusPage.page(v, node: "<node>", now: now)
        #expect(!page.contains("<b>up</b>") && page.contains("Scale &lt;b&gt;up&lt;/b&gt;"))
        #expect(!page.contains("<node>") && page.contains("&lt;node&gt;"))
        // The resumed halt's reason in the timeline, escaped; tier 1 authorised again, nothing halted.
        #expect(page.contains("stop &quot;now&quot;") && page.contains("id=\"authorised-tier\" data-tier=\"1\"") && !page.contains("HALTED"))
        #expect(page.contains("Lapses at"), "the lapse is shown")
        // Only its own script and style: nothing from elsewhere.
        #expect(page.contains("<script src=\"/app.js\" defer></script>") && !page.contains("http"))
    }
}
