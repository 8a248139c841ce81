import Testing
@testable import TiergateCore
@testable import TiergateStorage
import TiergateTestKit

struct EncodingTests {
    static func sampleEntries() -> [SignedEntry] {
        var lab = Lab()
        let p = lab.propose("alice", tier: 1, at: t0, title: "Train at tier 1")
        let v = lab.vote("bob", p, .no, at: t0 + minute)
        let h = lab.halt("erin", at: t0 + 2 * minute, reason: "anomaly in evals")
        let r = lab.resume("alice", tier: 1, halts: [h.id], at: t0 + 3 * minute)
        var next = lab.genesis
        next.version = 2
        next.previous = lab.genesis.hash
        let a = lab.amend("carol", to: next, at: t0 + 4 * minute)
        return [p, v, h, r, a]
    }

    @Test func entriesRoundTripExactly() throws {
        for e in Self.sampleEntries() {
            let back = try SignedEntry(decoding: e.bytes)
            #expect(back == e)
            #expect(back.bytes == e.bytes)
            #expect(back.signatureIsValid)
            #expect(back.id == Blake2b.hash256(SigningDomain.entry.message(e.content)))
        }
    }

    @Test func everyTruncationIsRejectedWithoutCrash() {
        for e in Self.sampleEntries() {
            let bytes = e.bytes
            for n in 0..<bytes.count {
                #expect(throws: EntryError.self) { try SignedEntry(decoding: Array(bytes[..<n])) }
            }
        }
    }

    @Test func trailingBytesAreRejected() {
        let e = Self.sampleEntries()[0]
        #expect(throws: EntryError.malformed(.trailingBytes(count: 1))) { try SignedEntry(decoding: e.bytes + [0]) }
        #expect(throws: DecodeError.trailingBytes(count: 1)) { try Entry(decoding: e.content + [0]) }
    }

    /// Re-encodes `entry` after `mutate` changes raw bytes of its content, and expects `error`.
    func expectContent(_ content: [UInt8], rejectedWith error: DecodeError, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(throws: error, sourceLocation: sourceLocation) { try Entry(decoding: content) }
    }

    /// Offsets of the fixed header fields (SPEC.md §4.1) for a lab id of `labLength` bytes.
    func offsets(labLength: Int) -> (kind: Int, lab: Int, rosterVersion: Int, seq: Int, prev: Int, time: Int, body: Int) {
        let lab = 2
        let genesis = lab + 4 + labLength
        let rv = genesis + 32
        let author = rv + 8
        let seq = author + 32
        let prev = seq + 8
        let time = prev + 32
        return (1, lab, rv, seq, prev, time, time + 8)
    }

    @Test func malformedHeaderFieldsGetSpecificErrors() {
        let e = Self.sampleEntries()[2]  // halt by erin, seq 1
        let c = e.content
        let o = offsets(labLength: 4)
        var x = c
        x[0] = 2
        expectContent(x, rejectedWith: .unsupportedVersion(field: "entry format", version: 2))
        x = c
        x[o.kind] = 9
        expectContent(x, rejectedWith: .invalidValue(field: "entry.kind", reason: "unknown kind 9"))
        x = c
        x[o.lab + 4] = UInt8(ascii: "A")  // uppercase is not an identifier
        #expect(throws: DecodeError.self) { try Entry(decoding: x) }
        x = c
        x[o.lab + 3] = 65  // lab length 65 > 64
        expectContent(x, rejectedWith: .tooLong(field: "entry.lab", length: 65, max: 64))
        x = c
        for i in o.rosterVersion..<o.rosterVersion + 8 { x[i] = 0 }
        expectContent(x, rejectedWith: .invalidValue(field: "entry.roster_version", reason: "versions start at 1"))
        x = c
        for i in o.seq..<o.seq + 8 { x[i] = 0 }
        expectContent(x, rejectedWith: .invalidValue(field: "entry.seq", reason: "feeds start at sequence number 1"))
        x = c
        x[o.prev] = 1  // seq 1 with a nonzero prev
        expectContent(x, rejectedWith: .invalidValue(field: "entry.prev", reason: "must be zero exactly when seq is 1"))
    }

    @Test func malformedBodiesGetSpecificErrors() {
        let all = Self.sampleEntries()
        let o = offsets(labLength: 4)
        // Halt reason: empty, control character, invalid UTF-8, declared length beyond the limit.
        var lab = Lab()
        func halt(_ reasonBytes: [UInt8]) -> [UInt8] {
            var w = ByteWriter()
            let h = lab.halt("erin", at: t0, reason: "x")
            w.raw(Array(h.content[..<o.body]))
            w.lengthPrefixed(reasonBytes)
            return w.bytes
        }
        expectContent(halt([]), rejectedWith: .invalidText(field: "halt.reason", reason: "must not be empty"))
        expectContent(halt(Array("a\u{1b}[2J".utf8)), rejectedWith: .invalidText(field: "halt.reason", reason: "control character U+1B"))
        expectContent(halt([0xff, 0xfe]), rejectedWith: .invalidText(field: "halt.reason", reason: "not valid UTF-8"))
        var big = Array(all[2].content[..<o.body])
        big += [0, 0, 0x04, 0x01]  // declares 1025 bytes
        expectContent(big, rejectedWith: .tooLong(field: "halt.reason", length: 1025, max: 1024))
        // Vote choice.
        var v = all[1].content
        v[o.body + 32] = 4
        expectContent(v, rejectedWith: .invalidValue(field: "vote.choice", reason: "unknown choice 4"))
        // Proposal action.
        var p = all[0].content
        p[o.body] = 7
        expectContent(p, rejectedWith: .invalidValue(field: "proposal.action", reason: "unknown action 7"))
        // Title over 256 bytes.
        let long = Proposal(action: .advance(tier: 1), title: String(repeating: "t", count: 257), closesAt: t0 + 1)
        var e = all[0].entry
        e.body = .proposal(long)
        expectContent(e.encoded(), rejectedWith: .tooLong(field: "proposal.title", length: 257, max: 256))
        // closes_at not after the time.
        var closed = all[0].entry
        closed.body = .proposal(Proposal(action: .advance(tier: 1), title: "x", closesAt: closed.time))
        expectContent(closed.encoded(), rejectedWith: .invalidValue(field: "proposal.closes_at", reason: "must be after the proposal's time"))
        // Resume with halts out of order, and with none.
        var r = all[3].entry
        r.body = .proposal(Proposal(action: .resume(tier: 1, halts: [Digest(bytes: [UInt8](repeating: 2, count: 32))!, Digest(bytes: [UInt8](repeating: 1, count: 32))!]), title: "r", closesAt: r.time + 1))
        expectContent(r.encoded(), rejectedWith: .notCanonicalOrder(field: "proposal.halts"))
        r.body = .proposal(Proposal(action: .resume(tier: 1, halts: []), title: "r", closesAt: r.time + 1))
        expectContent(r.encoded(), rejectedWith: .invalidValue(field: "proposal", reason: "a resume proposal names at least one halt and carries no roster"))
        // Evidence count over the limit is rejected before anything is read.
        var ev = all[0].entry
        ev.body = .proposal(Proposal(action: .advance(tier: 1), title: "x", evidence: Array(repeating: Evidence(name: "f", hash: .zero), count: 33), closesAt: ev.time + 1))
        expectContent(ev.encoded(), rejectedWith: .tooLong(field: "proposal.evidence", length: 33, max: 32))
    }

    @Test func oversizedEntryIsRejectedBeforeDecoding() {
        #expect(throws: EntryError.tooLarge(Limits.maxEntryBytes + 1)) {
            try SignedEntry(decoding: [UInt8](repeating: 1, count: Limits.maxEntryBytes + 1))
        }
    }

    @Test func hugeDeclaredLengthsDoNotAllocate() {
        // A list count of 2^32-1 must be refused by the bound, not by running out of memory.
        var r = ByteReader([0xff, 0xff, 0xff, 0xff])
        #expect(throws: DecodeError.tooLong(field: "x", length: 0xffff_ffff, max: 10)) {
            _ = try r.list("x", max: 10) { (r: inout ByteReader) throws(DecodeError) in try r.u8("y") }
        }
    }

    @Test func signatureCoversEveryContentByte() {
        let e = Self.sampleEntries()[1]
        for i in 0..<e.content.count {
            var b = e.bytes
            b[i] ^= 0x01
            if let d = try? SignedEntry(decoding: b) {
                #expect(!d.signatureIsValid, "flip at content byte \(i) still verifies")
            }
        }
    }

    @Test func entryBoundToLabAndGenesis() throws {
        let e = Self.sampleEntries()[0]
        #expect(throws: EntryError.wrongLab(expected: "other", got: "acme")) { try e.verified(lab: "other", genesis: e.entry.genesis) }
        #expect(throws: EntryError.wrongGenesis) { try e.verified(lab: "acme", genesis: .zero) }
        try e.verified(lab: "acme", genesis: e.entry.genesis)
    }
}
