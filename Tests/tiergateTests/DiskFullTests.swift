import Foundation
import Testing
import TiergateCore

/// A full disk is a refusal, not a stop (issue 15, SPEC.md §8.3): a real node process whose data directory is a
/// small tmpfs, filled up. It stays up, answers status (which says "disk full"), refuses a submission with "disk
/// full" and no storage ACK, keeps its ledger intact, starts again while the disk is still full, and stores the
/// entry once space is freed. Needs root (to mount a tmpfs); under CI=true a machine without it fails loudly.
@Suite(.serialized) struct DiskFullTests {
    @discardableResult
    static func run(_ exe: String, _ args: [String]) -> Int32 { (try? CLI.run(args, executable: exe))?.code ?? -1 }

    @Test func aFullDiskRefusesEntriesAndTheNodeStaysUp() throws {
        let w = Workdir()
        try w.lab()
        let mnt = w.file("mnt")
        try FileManager.default.createDirectory(atPath: mnt, withIntermediateDirectories: true)
        guard getuid() == 0, Self.run("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt]) == 0 else {
            return CI.skipOrFail("DiskFullTests", "cannot mount a tmpfs here (needs root)")
        }
        defer { Self.run("/bin/umount", ["-l", mnt]) }
        let args = ["node", "--data", "mnt/data", "--listen", "127.0.0.1:0", "--roster", "roster.json", "--key", "keys/alice.key"]
        var a = try NodeProcess(in: w.path, args: args)
        defer { a.terminate() }
        let b = try NodeProcess(in: w.path, args: ["node", "--data", "b", "--listen", "127.0.0.1:0", "--roster", "roster.json", "--key", "keys/bob.key", "--peer", a.address])
        defer { b.terminate() }
        func status(_ n: NodeProcess) -> JSONValue? {
            guard let r = try? w.tg("status", "--node", n.address, "--roster", "roster.json", "--key", "keys/dave.key", "--json"), r.code == 0 else { return nil }
            return try? r.json()
        }
        // Something stored before the disk fills.
        #expect(try w.tg("halt", "--reason", "before the disk filled", "--key", "keys/erin.key", "--roster", "roster.json", "--node", a.address).code == 0)

        // Fill the filesystem to the last block; the ledger's last page may still have room for a few entries.
        _ = Self.run("/bin/dd", ["if=/dev/zero", "of=\(mnt)/filler", "bs=4k"])
        var refused: CLI.Result?
        for i in 0..<20 {
            let r = try w.tg("halt", "--reason", String(repeating: "x", count: 1_000) + " \(i)", "--key", "keys/erin.key", "--roster", "roster.json", "--node", a.address)
            if r.code != 0 { refused = r; break }
        }
        #expect(refused?.code == 1 && refused?.stderr.contains("disk full at") == true, "\(refused?.stderr ?? "never refused")")
        #expect(try w.tg("propose", "--tier", "1", "--title", "while full", "--key", "keys/carol.key", "--roster", "roster.json", "--out", "p.entry").code == 0)
        let small = try w.tg("submit", "p.entry", "--node", a.address, "--roster", "roster.json", "--key", "keys/dave.key")
        #expect(small.code == 1 && small.stderr.contains("disk full at"), "refused until space is freed, even an entry that would fit: \(small.stderr)")
        let heldHalts = status(a)?["halts_total"]
        #expect(a.process.isRunning, "the node stays up")
        guard case .string(let warning)? = status(a)?["node"]?["storage_warning"] else { Issue.record("status says nothing of the full disk"); return }
        #expect(warning.contains("disk full"))
        #expect(status(a)?["halted"] == .bool(true), "what it held is still served")
        #expect(a.log.contains("disk full"), "logged")

        // Restarted while the disk is still full: it starts and serves.
        let port = a.port
        a.terminate()
        a = try NodeProcess(in: w.path, args: ["node", "--data", "mnt/data", "--listen", "127.0.0.1:\(port)", "--roster", "roster.json", "--key", "keys/alice.key"])
        #expect(status(a)?["halts_total"] == heldHalts, "restarted on a full disk, the ledger intact")
        let again = try w.tg("submit", "p.entry", "--node", a.address, "--roster", "roster.json", "--key", "keys/dave.key")
        #expect(again.code == 1 && again.stderr.contains("disk full at"), "\(again.stderr)")

        // Space is freed: the same entry is stored.
        try FileManager.default.removeItem(atPath: "\(mnt)/filler")
        #expect(ClusterTests().eventually(10) { status(a)?["node"]?["storage_warning"] == .null }, "the warning clears")
        let stored = try w.tg("submit", "p.entry", "--node", a.address, "--roster", "roster.json", "--key", "keys/dave.key")
        #expect(stored.code == 0, "\(stored.stderr)")
        #expect(ClusterTests().eventually { status(b)?["proposals_total"] == .int(1) }, "and gossiped")
        let v = try w.tg("ledger", "export", "--node", a.address, "--out", "a.ledger", "--roster", "roster.json", "--key", "keys/dave.key")
        #expect(v.code == 0)
        #expect(try w.tg("ledger", "verify", "a.ledger", "--roster", "roster.json").code == 0, "no partial frame was left behind")
    }
}
