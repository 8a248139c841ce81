import Foundation
import Synchronization
import Testing
@testable import TiergateCore
@testable import TiergateStorage
import TiergateTestKit

func readBytes(_ path: String) -> [UInt8] { [UInt8](FileManager.default.contents(atPath: path)!) }
func writeBytes(_ path: String, _ b: [UInt8]) {
    precondition(FileManager.default.createFile(atPath: path, contents: Data(b)), "cannot write \(path)")
}

struct LedgerTests {
    /// A ledger with a passed advance and a halt: 5 entry frames.
    static func sampleLedger(_ dir: TempDir) throws -> (Lab, String, [SignedEntry]) {
        var lab = Lab()
        let up = VerdictTests.authorised(&lab)
        let h = lab.halt("erin", at: t0 + minute)
        let path = dir.file("l.ledger")
        let w = try LedgerWriter(path: path, genesis: lab.genesis.hash)
        try w.append(entries: up + [h])
        return (lab, path, up + [h])
    }

    @Test func writtenLedgerAuditsCleanAndGivesTheVerdict() throws {
        let dir = TempDir()
        let (lab, path, entries) = try Self.sampleLedger(dir)
        let audit = try LedgerAudit.run(path: path, genesis: lab.genesis)
        #expect(audit.isValid)
        #expect(audit.frames == entries.count)
        let v = Verdict.compute(genesis: lab.genesis, tally: audit.tally, at: t0 + hour)
        #expect(v.halted)
        #expect(v.authorizedTier == 0)
        // Sequential and parallel audits agree.
        let seq = try LedgerAudit.run(path: path, genesis: lab.genesis, parallel: false)
        #expect(Verdict.compute(genesis: lab.genesis, tally: seq.tally, at: t0 + hour).json() == v.json())
    }

    @Test func reopeningKeepsFeedHeadsAndRefusesBrokenChains() throws {
        let dir = TempDir()
        var (lab, path, _) = try Self.sampleLedger(dir)
        let w = try LedgerWriter(path: path, genesis: lab.genesis.hash)
        #expect(w.frameCount == 5)
        #expect(w.chain.heads[lab.keys["alice"]!.publicKey]?.seq == 2)
        // A gap is refused, and nothing is written.
        let skipped = lab.halt("bob", at: t0 + 2 * minute)
        let gap = lab.halt("bob", at: t0 + 3 * minute)
        #expect(throws: LedgerWriteError.self) { try w.append(entries: [gap]) }
        try w.append(entries: [skipped, gap])
        // While `w` holds the lock, another writer is refused (after waiting) rather than interleaving.
        #expect(throws: LedgerWriteError.io("cannot lock \(path): it is locked by another writer (a running node?)")) {
            try LedgerWriter(path: path, genesis: lab.genesis.hash, lockTimeoutMs: 100)
        }
        withExtendedLifetime(w) {}
    }

    @Test func aLedgerOfAnotherGenesisIsRefused() throws {
        let dir = TempDir()
        let (lab, path, _) = try Self.sampleLedger(dir)
        #expect(throws: LedgerWriteError.wrongGenesis(file: lab.genesis.hash, expected: .zero)) {
            try LedgerWriter(path: path, genesis: .zero)
        }
    }

    @Test func tornTailIsCutAndReportedOnOpen() throws {
        let dir = TempDir()
        let (lab, path, entries) = try Self.sampleLedger(dir)
        let full = readBytes(path)
        let lastFrame = LedgerFormat.frame(.entry, payload: entries.last!.bytes).count
        for cut in [1, 5, 40, lastFrame - 1] {
            writeBytes(path, Array(full.dropLast(cut)))
            let audit = try LedgerAudit.run(path: path, genesis: lab.genesis)
            #expect(!audit.isValid)
            #expect(audit.problems.last?.message.hasPrefix("torn tail") == true)
            let w = try LedgerWriter(path: path, genesis: lab.genesis.hash)
            #expect(w.recoveredBytes == lastFrame - cut)
            #expect(w.frameCount == entries.count - 1)
            #expect(readBytes(path).count == full.count - lastFrame)
            #expect(try LedgerAudit.run(path: path, genesis: lab.genesis).isValid)
        }
    }

    @Test func corruptionInTheMiddleIsAnErrorNeverSkipped() throws {
        let dir = TempDir()
        let (lab, path, _) = try Self.sampleLedger(dir)
        var bytes = readBytes(path)
        bytes[LedgerFormat.headerLength + 30] ^= 0x40
        writeBytes(path, bytes)
        #expect(throws: LedgerWriteError.self) { try LedgerWriter(path: path, genesis: lab.genesis.hash) }
        #expect(readBytes(path) == bytes, "opening must not change a corrupt ledger")
        let audit = try LedgerAudit.run(path: path, genesis: lab.genesis)
        #expect(audit.problems.first?.frameIndex == 0)
        #expect(audit.problems.first?.offset == LedgerFormat.headerLength)
    }

    /// A writer that fails to open a ledger closes its descriptor once. It used to close it in the initialiser's
    /// error path and again in `deinit` (Swift runs it when a class initialiser throws after every stored property
    /// is set); by then the number could belong to a file another thread had just opened, whose reads then failed
    /// or returned a third file's bytes. CI saw it as a ledger audit that called a valid ledger "shorter than the
    /// header". Here one thread keeps failing to open a corrupt ledger while another keeps reading a good one.
    @Test func aWriterThatFailsToOpenClosesItsDescriptorOnce() throws {
        let dir = TempDir()
        let (lab, path, entries) = try Self.sampleLedger(dir)
        var bytes = readBytes(path)
        bytes[LedgerFormat.headerLength + 30] ^= 0x40
        let corrupt = dir.file("corrupt.ledger")
        writeBytes(corrupt, bytes)
        #expect(throws: LedgerWriteError.self) { try LedgerWriter(path: corrupt, genesis: lab.genesis.hash) }

        let genesis = lab.genesis.hash
        final class Flag: Sendable { let value = Atomic<Bool>(false) }
        let writerDone = Flag()
        var failures: [String] = []
        // A thread of its own (a pool could run both loops one after the other on one thread).
        let writer = Thread {
            for _ in 0..<2_000 { _ = try? LedgerWriter(path: corrupt, genesis: genesis) }
            writerDone.value.store(true, ordering: .releasing)
        }
        writer.start()
        repeat {
            do {
                let reader = try LedgerReader(path: path)
                var frames = 0
                while try reader.next() != nil { frames += 1 }
                if frames != entries.count { failures.append("read \(frames) frames") }
            } catch {
                failures.append("\(error)")
            }
        } while !writerDone.value.load(ordering: .acquiring)
        #expect(failures.count == 0, "\(failures.count) reads of a good ledger failed, first: \(failures.first ?? "")")
    }

    @Test func everySingleByteFlipIsCaughtAndLocated() throws {
        let dir = TempDir()
        let (lab, path, entries) = try Self.sampleLedger(dir)
        let good = readBytes(path)
        // Frame boundaries, to check that the named frame is the one containing the flip (or, for a flip that
        // breaks framing, the frame where it starts).
        var starts: [Int] = []
        var o = LedgerFormat.headerLength
        for e in entries {
            starts.append(o)
            o += LedgerFormat.frame(.entry, payload: e.bytes).count
        }
        let flipped = dir.file("f.ledger")
        for i in 0..<good.count {
            var b = good
            b[i] ^= 0x01
            writeBytes(flipped, b)
            do {
                let audit = try LedgerAudit.run(path: flipped, genesis: lab.genesis)
                #expect(!audit.isValid, "flip at byte \(i) not caught")
                if i >= LedgerFormat.headerLength {
                    let frame = starts.lastIndex { $0 <= i }!
                    #expect(audit.problems.first?.frameIndex == frame, "flip at \(i): \(audit.problems.first.map(String.init(describing:)) ?? "")")
                }
            } catch {
                // Only a header flip may make the file "not a ledger".
                #expect(i < LedgerFormat.headerLength, "flip at \(i) threw \(error)")
            }
        }
    }

    @Test func detachedHaltsAndEvidenceFramesCount() throws {
        let dir = TempDir()
        var lab = Lab()
        let up = VerdictTests.authorised(&lab)
        let path = dir.file("l.ledger")
        let w = try LedgerWriter(path: path, genesis: lab.genesis.hash)
        try w.append(entries: up)
        _ = lab.halt("erin", at: t0 + minute)  // never delivered: a gap in erin's feed
        let detached = lab.halt("erin", at: t0 + 2 * minute)
        try w.appendDetachedHalt(detached)
        #expect(throws: LedgerWriteError.self) { try w.appendDetachedHalt(up[1]) }
        var audit = try LedgerAudit.run(path: path, genesis: lab.genesis)
        #expect(audit.isValid)
        #expect(Verdict.compute(genesis: lab.genesis, tally: audit.tally, at: t0 + hour).halted)
        #expect(audit.gaps == [FeedGap(author: lab.keys["erin"]!.publicKey, missingFrom: 1, missingTo: 1)])

        // Evidence: carol signs two entries at position 2.
        let carol = lab.keys["carol"]!.publicKey
        let head = lab.heads[carol]
        let c2a = lab.propose("carol", tier: 2, at: t0 + 3 * minute)
        lab.heads[carol] = head
        let c2b = lab.propose("carol", tier: 3, at: t0 + 3 * minute)
        try w.appendEvidence(EquivocationEvidence(first: c2a, second: c2b))
        audit = try LedgerAudit.run(path: path, genesis: lab.genesis)
        #expect(audit.isValid)
        let v = Verdict.compute(genesis: lab.genesis, tally: audit.tally, at: t0 + hour)
        #expect(v.equivocations.map(\.member) == ["carol"])
        // carol's vote voided: the advance loses its quorum (but the halt keeps the lab at base anyway).
        #expect(v.proposals[0].yes == 2)
    }

    @Test func entriesOfAnotherLabOrWithBadSignaturesAreProblems() throws {
        let dir = TempDir()
        var lab = Lab()
        var other = Lab(lab: "other")
        let path = dir.file("l.ledger")
        var bytes = LedgerFormat.header(genesis: lab.genesis.hash)
        bytes += LedgerFormat.frame(.entry, payload: other.halt("erin", at: t0).bytes)
        var forged = lab.halt("erin", at: t0).bytes
        forged[forged.count - 1] ^= 1
        bytes += LedgerFormat.frame(.entry, payload: forged)
        bytes += LedgerFormat.frame(FrameType(rawValue: 3)!, payload: [1, 2, 3])
        writeBytes(path, bytes)
        let audit = try LedgerAudit.run(path: path, genesis: lab.genesis)
        #expect(audit.problems.map(\.frameIndex) == [0, 1, 2])
        #expect(audit.problems[0].message.contains("lab 'other'"))
        #expect(audit.problems[1].message == "invalid signature")
        #expect(!Verdict.compute(genesis: lab.genesis, tally: audit.tally, at: t0 + hour).halted)
    }

    @Test func notALedgerIsUnreadable() {
        let dir = TempDir()
        let path = dir.file("x")
        writeBytes(path, Array("hello world, this is not a ledger file at all!!!!!!!".utf8))
        #expect(throws: LedgerReadError.notALedger(reason: "bad magic (expected TGLEDGER)")) {
            try LedgerAudit.run(path: path, genesis: Lab().genesis)
        }
        #expect(throws: LedgerReadError.self) { try LedgerAudit.run(path: dir.file("missing"), genesis: Lab().genesis) }
    }

    @Test func oversizedFrameLengthIsRejectedBeforeBuffering() throws {
        let dir = TempDir()
        let lab = Lab()
        let path = dir.file("l.ledger")
        var bytes = LedgerFormat.header(genesis: lab.genesis.hash)
        bytes += [1, 0x7f, 0xff, 0xff, 0xff] + [UInt8](repeating: 0, count: LedgerFormat.maxFrameLength + 10)
        writeBytes(path, bytes)
        let audit = try LedgerAudit.run(path: path, genesis: lab.genesis)
        #expect(audit.problems.count == 1)
        #expect(audit.problems[0].message.contains("exceeds the maximum"))
        #expect(throws: LedgerWriteError.self) { try LedgerWriter(path: path, genesis: lab.genesis.hash) }
    }
}

/// Corruption never passes for a torn tail (SPEC.md §6.3): what a node opening its ledger (LedgerWriter, then the
/// load) does with damaged files.
struct CorruptionTests {
    /// A real ledger of 61 entries (a proposal, 60 votes); its frame offsets.
    static func ledger(_ dir: TempDir) throws -> (Lab, String, [Int]) {
        var lab = Lab()
        let p = lab.propose("alice", tier: 1, at: t0)
        var entries = [p]
        for i in 0..<60 { entries.append(lab.vote(["bob", "carol", "dave", "erin"][i % 4], p, .abstain, at: t0 + UInt64(i) + 1)) }
        let path = dir.file("ledger")
        let w = try LedgerWriter(path: path, genesis: lab.genesis.hash)
        for e in entries { try w.append(entries: [e]) }  // one acknowledged append each
        let r = try LedgerReader(path: path)
        var offsets: [Int] = []
        while let f = try r.next() { offsets.append(f.offset) }
        return (lab, path, offsets)
    }

    /// Every single-bit flip of the length field of each of the last 20 frames: opening either keeps every frame
    /// or refuses (corruption, never cut). Before, a flip there "cut a torn tail" of up to ~80 acknowledged entries.
    @Test func noLengthBitFlipOfTheLastTwentyFramesDropsAnEntry() throws {
        let dir = TempDir()
        let (lab, path, offsets) = try Self.ledger(dir)
        let original = readBytes(path)
        var refused = 0, kept = 0
        for offset in offsets.suffix(20) {
            for bit in 0..<32 {
                var damaged = original
                damaged[offset + 1 + (3 - bit / 8)] ^= UInt8(1 << (bit % 8))
                let copy = dir.file("copy")
                writeBytes(copy, damaged)
                do {
                    let w = try LedgerWriter(path: copy, genesis: lab.genesis.hash)
                    #expect(w.recoveredBytes == 0, "frame at \(offset), length bit \(bit): \(w.recoveredBytes) bytes cut")
                    #expect(w.frameCount == offsets.count, "frame at \(offset), length bit \(bit): frames lost")
                    kept += 1
                } catch {
                    guard case .read(.corruptFrame) = error else {
                        Issue.record("frame at \(offset), length bit \(bit): \(error)")
                        continue
                    }
                    #expect(readBytes(copy) == damaged, "a refused ledger is never changed")
                    refused += 1
                }
                // `ledger verify` says corruption, not torn tail.
                let audit = try LedgerAudit.run(path: copy, genesis: lab.genesis)
                #expect(audit.isValid || audit.problems.contains { "\($0)".contains("corrupt frame") },
                        "frame at \(offset), bit \(bit): \(audit.problems)")
                #expect(!audit.problems.contains { "\($0)".contains("torn tail:") }, "frame at \(offset), bit \(bit): \(audit.problems)")
            }
        }
        #expect(refused + kept == 640 && refused > 600, "refused \(refused), kept \(kept)")
    }

    /// A torn append (a prefix of the last frame) is still cut, and so is a zero-filled tail of 4 KiB.
    @Test func tornAppendsAndZeroTailsAreStillCut() throws {
        let dir = TempDir()
        let (lab, path, offsets) = try Self.ledger(dir)
        let original = readBytes(path)
        for keep in [1, 5, 30, original.count - offsets.last! - 1] {
            let copy = dir.file("torn")
            writeBytes(copy, Array(original[..<(offsets.last! + keep)]))
            let w = try LedgerWriter(path: copy, genesis: lab.genesis.hash)
            #expect(w.recoveredBytes == keep && w.frameCount == offsets.count - 1)
        }
        for zeros in [1, 21, 4096, 500_000] {
            let copy = dir.file("zeros")
            writeBytes(copy, original + [UInt8](repeating: 0, count: zeros))
            let w = try LedgerWriter(path: copy, genesis: lab.genesis.hash)
            #expect(w.recoveredBytes == zeros && w.frameCount == offsets.count, "\(zeros) zero bytes")
        }
        // Garbage (not zeros) longer than one frame is corruption, not a tail.
        let copy = dir.file("garbage")
        writeBytes(copy, original + [UInt8](repeating: 0x5a, count: 400_000))
        #expect(throws: LedgerWriteError.self) { _ = try LedgerWriter(path: copy, genesis: lab.genesis.hash) }
    }
}
