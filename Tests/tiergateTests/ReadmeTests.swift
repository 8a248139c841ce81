import Foundation
import Testing

@Suite(.serialized) struct ReadmeTests {
    /// The README's walk-through, pasted in order into bash, works (and every command in it succeeds).
    @Test func theReadmeWalkthroughWorksAsWritten() throws {
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        let readme = try String(contentsOfFile: parts.joined(separator: "/") + "/README.md", encoding: .utf8)
        guard let start = readme.range(of: "<!-- walkthrough:begin -->"), let end = readme.range(of: "<!-- walkthrough:end -->") else {
            Issue.record("README has no walk-through markers")
            return
        }
        let block = readme[start.upperBound..<end.lowerBound]
            .split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.hasPrefix("```") }
            .joined(separator: "\n")
        let w = Workdir()
        let script = """
            set -euo pipefail
            trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
            export PATH="\((CLI.binary as NSString).deletingLastPathComponent):$PATH"
            \(block)
            echo WALKTHROUGH-COMPLETE
            """
        try script.write(toFile: w.file("walkthrough.sh"), atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [w.file("walkthrough.sh")]
        p.currentDirectoryURL = URL(fileURLWithPath: w.path)
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(text)")
        #expect(text.contains("WALKTHROUGH-COMPLETE"))
        #expect(text.contains("no token: paused by default"))
        #expect(text.contains("launch allowed"))
        #expect(text.contains("training step 1"))
        #expect(text.contains("launch denied: halted"))
        #expect(text.contains("VALID"))
    }
}
