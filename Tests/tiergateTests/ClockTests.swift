import Foundation
import Testing
import TiergateCore

/// Signing with a wrong clock, with the real binary under libfaketime (Debian's `faketime`, which scripts/setup
/// installs): a key whose last entry was signed with a clock two hours fast never dates a vote or proposal ahead
/// silently (it would not count for two hours); a halt is dated at the feed time, said, and counts at once.
struct ClockTests {
    static let faketime: String? = ["/usr/bin/faketime", "/usr/local/bin/faketime"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    @Test func aFeedDatedAheadIsNeverSignedAheadSilently() throws {
        guard let faketime = Self.faketime else {
            Issue.record("faketime is missing: run scripts/setup (it installs Debian's faketime)")
            return
        }
        let w = Workdir()
        try w.lab()
        let fast = try CLI.run(["-f", "+2h", CLI.binary, "propose", "--tier", "1", "--title", "signed with a fast clock",
                                "--key", "keys/alice.key", "--roster", "roster.json", "--ledger", "L"],
                               in: w.path, executable: faketime)
        #expect(fast.code == 0, "\(fast.stderr)")

        let vote = try w.tg("vote", fast.lastLine, "--yes", "--key", "keys/alice.key", "--roster", "roster.json", "--ledger", "L")
        #expect(vote.code == 2)
        #expect(vote.stderr.contains("ahead of this machine's clock") && vote.stderr.contains("would not count"), "\(vote.stderr)")
        #expect(vote.stderr.contains("1 h 59 min") || vote.stderr.contains("2 h 0 min"), "\(vote.stderr)")

        let halt = try w.tg("halt", "--reason", "stop", "--key", "keys/alice.key", "--roster", "roster.json", "--ledger", "L", "--json")
        #expect(halt.code == 0, "\(halt.stderr)")
        #expect(halt.stderr.contains("the halt is dated then") && halt.stderr.contains("counts at once"))
        // It counts now, though dated two hours ahead (SPEC.md §5.4).
        let status = try w.tg("status", "--ledger", "L", "--roster", "roster.json", "--json").json()
        #expect(status["halted"] == .bool(true))
    }
}
