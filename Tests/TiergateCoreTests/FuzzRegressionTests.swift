import Foundation
import Testing
@testable import TiergateCore
@testable import TiergateStorage
import TiergateTestKit
import TiergateFuzzModel

/// Replays what the libFuzzer targets (Fuzz/*.swift, run by scripts/fuzz) found, plus hand-made hostile inputs, through
/// the same decoders: each input must decode or throw a typed error, never trap. A crash here is a decoder bug.
///
/// Findings live in FuzzFindings/TARGET-SHA.bin next to this file (scripts/fuzz copies every crash input there);
/// TARGET names the decoder path: frame, entry, ledger, roster, token or link. The fixed genesis roster and time are
/// those of the fuzz targets: the vector lab (`Lab()`, whose hash heads every vector ledger) at t0 + 1 hour; `link`
/// uses the fixed secure-link session of protocol-spec/vectors/noise.json (``LinkReplay``).
struct FuzzRegressionTests {
    static let targets = ["frame", "entry", "ledger", "roster", "token", "link"]

    static let findingsDirectory: String = {
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast()  // FuzzRegressionTests.swift
        return parts.joined(separator: "/") + "/FuzzFindings"
    }()

    /// Every finding file as (target, file name, bytes), sorted by name.
    static func findings() -> [(target: String, name: String, bytes: [UInt8])] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: findingsDirectory)) ?? []
        return names.filter { $0.hasSuffix(".bin") }.sorted().compactMap { name in
            guard let target = targets.first(where: { name.hasPrefix($0 + "-") }),
                let data = FileManager.default.contents(atPath: findingsDirectory + "/" + name)
            else { return nil }
            return (target, name, [UInt8](data))
        }
    }

    static let genesis = Lab().genesis
    static let now = t0 + hour

    // MARK: - The fuzz targets' decoder paths, with #expect in place of fatalError

    /// What the last stage a target reaches made of an input: accepted whole, or rejected with the error's text.
    enum Outcome: Equatable, CustomStringConvertible {
        case accepted
        case rejected(String)
        /// A frame stream that ended inside a frame: the node waits for more bytes (and its timeouts end that).
        case incomplete

        var isRejected: Bool { if case .rejected = self { return true } else { return false } }
        var description: String {
            switch self {
            case .accepted: return "accepted"
            case .rejected(let why): return "rejected: \(why)"
            case .incomplete: return "incomplete"
            }
        }
    }

    /// `frame`: FrameParser over the whole stream; every decoded message round-trips exactly. Rejected when the
    /// parser throws (a node closes the connection) or a nested entry or token is rejected.
    @discardableResult
    static func replayFrame(_ bytes: [UInt8], _ label: String) -> Outcome {
        var parser = FrameParser()
        parser.append(bytes)
        var offset = 0
        var nested: Outcome = .accepted
        while true {
            let message: WireMessage?
            do { message = try parser.next() } catch { return .rejected(error.description) }
            guard let m = message else { break }
            let n = Int(bytes[offset]) << 24 | Int(bytes[offset + 1]) << 16 | Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
            let body = Array(bytes[(offset + 4)..<(offset + 4 + n)])
            offset += 4 + n
            #expect(m.encodedBody() == body, "\(label): \(m.name) re-encodes differently")
            #expect((try? WireMessage(body: m.encodedBody())) == m, "\(label): \(m.name) does not round-trip")
            var inner: [Outcome] = []
            switch m {
            case .entries(let list): inner = list.map { replayEntry($0, label) }
            case .evidence(let a, let b): inner = [replayEntry(a, label), replayEntry(b, label)]
            case .submit(_, let e): inner = [replayEntry(e, label)]
            case .head(_, _, _, _, let e) where !e.isEmpty: inner = [replayEntry(e, label)]
            case .token(_, _, let t) where !t.isEmpty: inner = [replayToken(t, label)]
            case .status(_, let status):
                _ = status.text()
                _ = status.json().serialized()
            default: break
            }
            if nested == .accepted, let bad = inner.first(where: \.isRejected) { nested = bad }
        }
        return parser.buffered > 0 && nested == .accepted ? .incomplete : nested
    }

    /// `entry`: SignedEntry(decoding:), the signature check, and the exact round trip. Accepted only when it
    /// decodes and verifies for the fixed lab.
    @discardableResult
    static func replayEntry(_ bytes: [UInt8], _ label: String) -> Outcome {
        do {
            let e = try SignedEntry(decoding: bytes)
            _ = e.signatureIsValid
            #expect(e.bytes == bytes, "\(label): a decoded entry re-encodes differently")
            do { _ = try e.verified(lab: genesis.lab, genesis: genesis.hash) } catch { return .rejected(error.description) }
            return .accepted
        } catch {
            return .rejected(error.description)
        }
    }

    /// `ledger`: LedgerReader iteration, LedgerAudit.run (sequential) and the verdict over its tally. Accepted
    /// only when the audit finds the ledger valid.
    @discardableResult
    static func replayLedger(_ bytes: [UInt8], _ label: String) -> Outcome {
        let dir = TempDir()
        let path = dir.file("fuzz.ledger")
        #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)), "\(label): cannot write the ledger file")
        do {
            let reader = try LedgerReader(path: path)
            do {
                while let f = try reader.next() {
                    if f.typeByte == FrameType.evidence.rawValue {
                        _ = try? LedgerFormat.decodeEvidence(f.payload)
                    } else {
                        _ = try? SignedEntry(decoding: f.payload)
                    }
                }
            } catch {
                _ = error.description
            }
        } catch {
            _ = error.description
        }
        do {
            let result = try LedgerAudit.run(path: path, genesis: genesis, parallel: false)
            _ = result.gaps
            _ = Verdict.compute(genesis: genesis, tally: result.tally, at: now).json().serialized()
            return result.isValid ? .accepted : .rejected(result.problems.map(\.description).joined(separator: "; "))
        } catch {
            return .rejected(error.description)
        }
    }

    /// `roster`: the JSON roster file reader and the canonical roster decoder, on the same bytes. Accepted when
    /// either reads it.
    @discardableResult
    static func replayRoster(_ bytes: [UInt8], _ label: String) -> Outcome {
        var errors: [String] = []
        var accepted = false
        do {
            let doc = try GenesisDocument(fileBytes: bytes)
            _ = doc.checkSignatures()
            #expect((try? GenesisDocument(fileBytes: doc.fileBytes())) == doc, "\(label): roster file does not round-trip")
            accepted = true
        } catch {
            errors.append(error.description)
        }
        do {
            let r = try Roster(decoding: bytes)
            #expect(r.encoded() == bytes, "\(label): a decoded roster re-encodes differently")
            // Its JSON form, read in its own format (3: with the drill policy), is the same roster.
            #expect((try? Roster(json: r.json(), path: "roster", format: r.format)) == r, "\(label): the JSON form does not read back equal")
            accepted = true
        } catch {
            errors.append(error.description)
        }
        return accepted ? .accepted : .rejected(errors.joined(separator: "; "))
    }

    /// `token`: TierToken(decoding:), then the offline check for tier 1 at the fixed time. Accepted only when the
    /// check allows.
    @discardableResult
    static func replayToken(_ bytes: [UInt8], _ label: String) -> Outcome {
        do {
            let token = try TierToken(decoding: bytes)
            #expect(token.encoded() == bytes, "\(label): a decoded token re-encodes differently")
            do {
                _ = try TokenChecker.check(token, genesis: genesis, tier: 1, now: now)
                return .accepted
            } catch {
                return .rejected(error.description)
            }
        } catch {
            return .rejected(error.description)
        }
    }

    /// Runs each input through `replay` and expects the outcome: rejection (with `reason` in the error text, when
    /// given), or acceptance for the inputs listed as valid controls.
    static func expectOutcomes(_ inputs: [(String, [UInt8])], _ expectations: [String: Expected],
                               _ replay: ([UInt8], String) -> Outcome, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(Set(inputs.map(\.0)) == Set(expectations.keys), "every input has an expected outcome", sourceLocation: sourceLocation)
        for (label, bytes) in inputs {
            guard let expected = expectations[label] else { continue }
            let got = replay(bytes, label)
            switch expected {
            case .rejected(let reason):
                guard case .rejected(let why) = got else {
                    Issue.record("\(label): expected rejection, got \(got)", sourceLocation: sourceLocation)
                    continue
                }
                if let reason, !why.contains(reason) {
                    Issue.record("\(label): rejected, but not for '\(reason)': \(why)", sourceLocation: sourceLocation)
                }
            case .accepted:
                if got != .accepted { Issue.record("\(label): expected acceptance, got \(got)", sourceLocation: sourceLocation) }
            case .incomplete:
                if got != .incomplete { Issue.record("\(label): expected an incomplete stream, got \(got)", sourceLocation: sourceLocation) }
            }
        }
    }

    enum Expected {
        case rejected(String?)
        case accepted
        case incomplete
        static var rejected: Expected { .rejected(nil) }
    }

    static func replay(_ target: String, _ bytes: [UInt8], _ label: String) {
        switch target {
        case "frame": _ = replayFrame(bytes, label)
        case "entry": _ = replayEntry(bytes, label)
        case "ledger": _ = replayLedger(bytes, label)
        case "roster": _ = replayRoster(bytes, label)
        case "token": _ = replayToken(bytes, label)
        case "link": LinkReplay.replay(bytes, label)
        default: Issue.record("unknown fuzz target \(target) (\(label))")
        }
    }

    // MARK: - Findings

    @Test func everyFuzzFindingDecodesOrThrowsWithoutCrashing() {
        for f in Self.findings() {
            Self.replay(f.target, f.bytes, f.name)
        }
    }

    @Test func findingFilesNameTheirTarget() {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: Self.findingsDirectory)) ?? []
        for name in names where name.hasSuffix(".bin") {
            #expect(Self.targets.contains { name.hasPrefix($0 + "-") }, "FuzzFindings/\(name) does not start with a target name")
        }
    }

    // MARK: - Hand-made hostile inputs

    static func u32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
    static func u64(_ v: UInt64) -> [UInt8] { u32(UInt32(v >> 32)) + u32(UInt32(v & 0xffff_ffff)) }
    static func frame(_ body: [UInt8]) -> [UInt8] { u32(UInt32(body.count)) + body }

    /// A consistent-looking roster whose base and max tier are both UInt32.max and that has an advance override:
    /// the override is necessarily out of range, and the error message computes `baseTier + 1`.
    static func rosterAtTopTier() -> Roster {
        var r = Lab().genesis
        r.baseTier = .max
        r.maxTier = .max
        r.policy.advanceOverrides = [TierRule(tier: 5, rule: Rule(minYes: 1, windowMs: day))]
        return r
    }

    /// A signed entry (valid signature) proposing the amendment `roster`.
    static func amendment(to roster: Roster) -> SignedEntry {
        var lab = Lab()
        var next = roster
        next.version = 2
        next.previous = lab.genesis.hash
        return lab.amend("carol", to: next, at: t0)
    }

    @Test func hostileFrames() {
        var tooManyEntries: [UInt8] = [3] + Self.u32(UInt32.max)
        tooManyEntries += Self.u32(0)
        let inputs: [(String, [UInt8])] = [
            ("length beyond the limit", [0xff, 0xff, 0xff, 0xff, 3]),
            ("length 4 MiB + 1", Self.u32(UInt32(WireMessage.maxFrameBody + 1))),
            ("zero length", [0, 0, 0, 0]),
            ("unknown type 0", Self.frame([0])),
            ("unknown type 255", Self.frame([255])),
            ("ENTRIES count UInt32.max", Self.frame(tooManyEntries)),
            ("ENTRIES item length UInt32.max", Self.frame([3] + Self.u32(1) + Self.u32(.max))),
            ("FRONTIER 4097 heads", Self.frame([6, 1] + Self.u32(4097))),
            ("FRONTIER reply flag 2", Self.frame([6, 2] + Self.u32(0) + Self.u32(0) + Self.u32(0))),
            ("HELLO name not UTF-8", Self.frame([1] + Self.u32(1) + [UInt8](repeating: 0, count: 32) + [1] + Self.u32(2) + [0xc3, 0x28])),
            ("HELLO name 65 bytes", Self.frame([1] + Self.u32(1) + [UInt8](repeating: 0, count: 32) + [1] + Self.u32(65) + [UInt8](repeating: 0x61, count: 65))),
            ("ATTEST present 2", Self.frame([18] + Self.u64(1) + Self.u32(0) + [2])),
            ("ATTEST halted 1", Self.frame([18] + Self.u64(1) + Self.u32(0) + [1] + [UInt8](repeating: 0, count: 72) + [1] + Self.u32(1) + [UInt8](repeating: 0, count: 64))),
            ("STATUS json longer than the frame", Self.frame([10] + Self.u64(1) + Self.u32(4_000_000))),
            ("EXPORT chunk above 1 MiB", Self.frame([14] + Self.u64(1) + [1] + Self.u32(UInt32(WireMessage.maxExportChunk + 1)))),
            ("trailing byte after DIGEST", Self.frame([5] + [UInt8](repeating: 7, count: 33))),
            ("SUBMIT of an amendment to a roster at the top tier",
             WireMessage.submit(request: 1, entry: Self.amendment(to: Self.rosterAtTopTier()).bytes).encodedFrame()),
        ]
        let expected: [String: Expected] = [
            "length beyond the limit": .rejected("exceeds the 4194304-byte limit"),
            "length 4 MiB + 1": .rejected("exceeds the 4194304-byte limit"),
            "zero length": .rejected("ended inside field 'message.type'"),
            "unknown type 0": .rejected("unknown message type 0"),
            "unknown type 255": .rejected("unknown message type 255"),
            "ENTRIES count UInt32.max": .rejected("field 'entries' is too long"),
            "ENTRIES item length UInt32.max": .rejected("field 'entries[]' is too long"),
            "FRONTIER 4097 heads": .rejected("field 'frontier.heads' is too long"),
            "FRONTIER reply flag 2": .rejected("'frontier.reply_wanted' has an invalid value"),
            "HELLO name not UTF-8": .rejected("not valid UTF-8"),
            "HELLO name 65 bytes": .rejected("field 'hello.name' is too long"),
            "ATTEST present 2": .rejected("'attest.present' has an invalid value"),
            "ATTEST halted 1": .rejected("an attestation states that no halt is in force"),
            "STATUS json longer than the frame": .rejected("ended inside field 'status.at'"),
            "EXPORT chunk above 1 MiB": .rejected("field 'export.chunk' is too long"),
            "trailing byte after DIGEST": .rejected("unexpected trailing byte"),
            "SUBMIT of an amendment to a roster at the top tier": .rejected("'policy.advance_overrides' has an invalid value"),
        ]
        Self.expectOutcomes(inputs, expected) { Self.replayFrame($0, "frame: \($1)") }
    }

    @Test func hostileEntries() {
        var lab = Lab()
        let p = lab.propose("alice", tier: 1, at: t0)
        var hugeEvidence = Array(p.content.prefix(1 + 1 + 4 + 4 + 32 + 8 + 32 + 8 + 32 + 8 + 1 + 4))
        hugeEvidence += Self.u32(1) + [0x61] + Self.u32(.max)
        let inputs: [(String, [UInt8])] = [
            ("empty", []),
            ("64 zero bytes", [UInt8](repeating: 0, count: 64)),
            ("65 zero bytes", [UInt8](repeating: 0, count: 65)),
            ("one byte over the entry limit", [UInt8](repeating: 1, count: Limits.maxEntryBytes + 1)),
            ("a valid entry with a byte appended", p.bytes + [0]),
            ("a valid entry missing its last byte", Array(p.bytes.dropLast())),
            ("an evidence count of UInt32.max", hugeEvidence + [UInt8](repeating: 0, count: 64)),
            ("an amendment to a roster at the top tier", Self.amendment(to: Self.rosterAtTopTier()).bytes),
        ]
        let expected: [String: Expected] = [
            "empty": .rejected("ended inside field 'entry.signature'"),
            "64 zero bytes": .rejected("ended inside field 'entry.signature'"),
            "65 zero bytes": .rejected("unsupported entry format 0"),
            "one byte over the entry limit": .rejected("exceeds the 196608-byte limit"),
            "a valid entry with a byte appended": .rejected("unexpected trailing byte"),
            "a valid entry missing its last byte": .rejected("ended inside field 'entry.signature'"),
            "an evidence count of UInt32.max": .rejected("field 'proposal.evidence' is too long"),
            "an amendment to a roster at the top tier": .rejected("'policy.advance_overrides' has an invalid value"),
        ]
        Self.expectOutcomes(inputs, expected) { Self.replayEntry($0, "entry: \($1)") }
    }

    @Test func hostileLedgers() {
        let lab = Lab()
        let header = LedgerFormat.header(genesis: lab.genesis.hash)
        var l = Lab()
        let p = l.propose("alice", tier: 1, at: t0)
        let good = LedgerFormat.frame(.entry, payload: p.bytes)
        var badSum = good
        badSum[badSum.count - 1] ^= 1
        let amend = LedgerFormat.frame(.entry, payload: Self.amendment(to: Self.rosterAtTopTier()).bytes)
        let inputs: [(String, [UInt8])] = [
            ("empty file", []),
            ("47 bytes", [UInt8](header.prefix(47))),
            ("bad magic", [UInt8](repeating: 0x41, count: 48)),
            ("version 2", Array(header[0..<8]) + Self.u32(2) + Array(header[12...])),
            ("another genesis", Array(header[0..<12]) + [UInt8](repeating: 9, count: 32) + Self.u32(0)),
            ("header only", header),
            ("frame length UInt32.max", header + [1] + Self.u32(.max)),
            ("4 bytes of a frame header", header + [1, 0, 0, 0]),
            ("checksum mismatch then more frames", header + badSum + good),
            ("checksum mismatch at the end", header + good + badSum),
            ("unknown frame type", header + [9] + Self.u32(0) + Blake2b.hash([9] + Self.u32(0), outputLength: LedgerFormat.checksumLength)),
            ("the same entry twice", header + good + good),
            ("empty evidence frame", header + LedgerFormat.frame(.evidence, payload: [])),
            ("an amendment to a roster at the top tier", header + amend),
        ]
        let expected: [String: Expected] = [
            "empty file": .rejected("shorter than the 48-byte header"),
            "47 bytes": .rejected("shorter than the 48-byte header"),
            "bad magic": .rejected("bad magic"),
            "version 2": .rejected("unsupported ledger version 2"),
            "another genesis": .rejected("the ledger header names genesis roster"),
            "header only": .accepted,  // an empty ledger is valid
            "frame length UInt32.max": .rejected("torn tail"),
            "4 bytes of a frame header": .rejected("torn tail"),
            "checksum mismatch then more frames": .rejected("corrupt frame #0 at offset 48: checksum mismatch"),
            "checksum mismatch at the end": .rejected("torn tail"),
            "unknown frame type": .rejected("unknown frame type 9"),
            "the same entry twice": .rejected("is already taken"),
            "empty evidence frame": .rejected("ended inside field 'evidence.first'"),
            "an amendment to a roster at the top tier": .rejected("'policy.advance_overrides' has an invalid value"),
        ]
        Self.expectOutcomes(inputs, expected) { Self.replayLedger($0, "ledger: \($1)") }
    }

    @Test func hostileRosters() {
        let lab = Lab()
        let canonical = lab.genesis.encoded()
        let json = lab.document.fileBytes()
        let text = String(decoding: json, as: UTF8.self)
        let inputs: [(String, [UInt8])] = [
            ("empty", []),
            ("empty object", Array("{}".utf8)),
            ("nesting 100000 deep", [UInt8](repeating: UInt8(ascii: "["), count: 100_000)),
            ("duplicate key", Array(#"{"format":"tiergate-roster-v1","format":"x"}"#.utf8)),
            ("lone surrogate escape", Array(#"{"format":"\udc00"}"#.utf8)),
            ("truncated escape", Array(#"{"format":"\u12"#.utf8)),
            ("number with a huge exponent", Array(text.replacingOccurrences(of: "\"version\": 1", with: "\"version\": 1e999999999").utf8)),
            ("version above UInt64.max", Array(text.replacingOccurrences(of: "\"version\": 1", with: "\"version\": 18446744073709551616").utf8)),
            ("duration overflow", Array(text.replacingOccurrences(of: "\"lapse\": \"30d\"", with: "\"lapse\": \"99999999999999999d\"").utf8)),
            ("canonical roster with a trailing byte", canonical + [0]),
            ("canonical roster truncated", Array(canonical.dropLast())),
            ("canonical roster, members count UInt32.max",
             Array(canonical.prefix(1 + 4 + 4 + 8 + 32 + 4 + 4)) + Self.u32(.max)),
            ("canonical roster at the top tier with an override", Self.rosterAtTopTier().encoded()),
            ("roster file at the top tier with an override", GenesisDocument(roster: Self.rosterAtTopTier()).fileBytes()),
        ]
        let expected: [String: Expected] = [
            "empty": .rejected("unexpected end of document"),
            "empty object": .rejected("format: missing"),
            "nesting 100000 deep": .rejected("nesting deeper than 64"),
            "duplicate key": .rejected("duplicate key \"format\""),
            "lone surrogate escape": .rejected("invalid \\u escape"),
            "truncated escape": .rejected("invalid \\u escape"),
            "number with a huge exponent": .rejected("roster.version: expected a non-negative integer"),
            "version above UInt64.max": .rejected("roster.version: expected a non-negative integer"),
            "duration overflow": .rejected("roster.policy.lapse: expected a duration"),
            "canonical roster with a trailing byte": .rejected("unexpected trailing byte"),
            "canonical roster truncated": .rejected("ended inside field 'policy.freshness.role_minimums'"),
            "canonical roster, members count UInt32.max": .rejected("field 'roster.members' is too long"),
            "canonical roster at the top tier with an override": .rejected("'policy.advance_overrides' has an invalid value"),
            "roster file at the top tier with an override": .rejected("inconsistent roster"),
        ]
        Self.expectOutcomes(inputs, expected) { Self.replayRoster($0, "roster: \($1)") }
    }

    @Test func hostileTokens() {
        var lab = Lab()
        let p = lab.propose("alice", tier: 1, at: t0)
        let votes = ["bob", "carol", "dave"].map { lab.vote($0, p, .yes, at: t0 + minute) }
        func token(entries: [[UInt8]], attestationTime: UInt64?) -> [UInt8] {
            var t = TierToken(
                lab: lab.genesis.lab, genesis: lab.genesis.hash, tier: 1, issuedAt: Self.now - minute,
                expiresAt: Self.now + 5 * minute, entries: entries)
            if let time = attestationTime {
                // Two members' nodes: the default freshness rule (SPEC.md §3.2).
                t.attestations = ["alice", "bob"].map { Attestation(core: t.coreHash, key: lab.keys[$0]!, time: time, digest: .zero, tier: 1) }
            }
            return t.encoded()
        }
        let quorum = ([p] + votes).map(\.bytes)
        let inputs: [(String, [UInt8])] = [
            ("empty", []),
            ("magic only", TierToken.magic),
            ("entries count UInt32.max", TierToken.magic + [1] + Self.u32(4) + Array("acme".utf8) + [UInt8](repeating: 0, count: 32 + 4 + 8) + Self.u64(1) + Self.u32(.max)),
            ("expires_at equal to issued_at", TierToken.magic + [1] + Self.u32(4) + Array("acme".utf8) + [UInt8](repeating: 0, count: 32 + 4) + Self.u64(5) + Self.u64(5) + Self.u32(0) + Self.u32(0)),
            ("one byte over the token limit", [UInt8](repeating: 0, count: TierToken.maxBytes + 1)),
            ("a valid token", token(entries: quorum, attestationTime: Self.now - minute)),
            ("a valid token with a byte appended", token(entries: quorum, attestationTime: Self.now - minute) + [0]),
            ("an unsigned amendment to a roster at the top tier",
             token(entries: quorum + [Self.amendment(to: Self.rosterAtTopTier()).bytes], attestationTime: nil)),
            // A member's node signs an attestation dated at the end of time (a compromised or buggy node).
            ("a member's attestation dated UInt64.max", token(entries: quorum, attestationTime: .max)),
            ("a member's attestation dated UInt64.max - 1 minute", token(entries: quorum, attestationTime: .max - minute)),
        ]
        let expected: [String: Expected] = [
            "empty": .rejected("not a Tiergate token"),
            "magic only": .rejected("ended inside field 'token.format'"),
            "entries count UInt32.max": .rejected("field 'token.entries' is too long"),
            "expires_at equal to issued_at": .rejected("must be after issued_at"),
            "one byte over the token limit": .rejected("field 'token' is too long"),
            "a valid token": .accepted,  // the control: the same construction, untampered, is allowed
            "a valid token with a byte appended": .rejected("unexpected trailing byte"),
            "an unsigned amendment to a roster at the top tier": .rejected("token carries an invalid entry"),
            "a member's attestation dated UInt64.max": .rejected("is not from the token's issue time"),
            "a member's attestation dated UInt64.max - 1 minute": .rejected("is not from the token's issue time"),
        ]
        Self.expectOutcomes(inputs, expected) { Self.replayToken($0, "token: \($1)") }
    }
}

// MARK: - link

extension FuzzRegressionTests {
    /// Hand-made hostile byte streams for both ends of a link (selector byte as in Fuzz/link.swift: 0 to a responder,
    /// 1 to an initiator, 2/3 (+8) edits of the fixed session's dialer/listener side, +4 authorize refuses).
    @Test func hostileLinks() throws {
        let s = FuzzLink.session
        let m1 = s.dialer[0], m3 = s.dialer[1], m2 = s.listener[0]
        // The fixed session is noise.json's (as the fuzz target's, which SeedGen checks), so findings replay alike.
        let data = try Data(contentsOf: URL(fileURLWithPath: Paths.vectors + "/noise.json"))
        let doc = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let wire = try #require(doc["handshake"] as? [[String: Any]]).compactMap { ($0["wire_hex"] as? String).flatMap(Hex.decode) }
        #expect(wire == [m1, m2, m3], "FuzzLink's fixed session is not noise.json's")
        let transport = try #require(doc["transport"] as? [[String: Any]])
        let toResponder = transport.filter { $0["direction"] as? String == "initiator->responder" }.compactMap { ($0["wire_hex"] as? String).flatMap(Hex.decode) }
        #expect(toResponder == Array(s.dialer[2..<(2 + toResponder.count)]), "FuzzLink's transport messages are not noise.json's")
        let t = Array(s.dialer[2...])
        let r = FuzzLink.rawResponder, i = FuzzLink.rawInitiator
        let inputs: [(String, [UInt8])] = [
            ("responder: empty", [r]),
            ("responder: one byte", [r, 0]),
            ("responder: zero-length announcement", [r, 0, 0, 0]),
            ("responder: 65535-byte announcement", [r, 0xff, 0xff] + [UInt8](repeating: 0, count: 100)),
            ("responder: truncated message 1", [r] + m1.prefix(20)),
            ("responder: message 1 then garbage", [r] + m1 + [0xde, 0xad, 0xbe, 0xef]),
            ("responder: message 1 twice", [r] + m1 + m1),
            ("responder: message 1 with the small-order key 0", [r, 0, 32] + [UInt8](repeating: 0, count: 32)),
            ("responder: message 1 with the small-order key 1", [r, 0, 32, 1] + [UInt8](repeating: 0, count: 31)),
            ("responder: message 2 instead of message 1", [r] + m2),
            ("responder: message 3 without message 1", [r] + m3),
            ("responder: transport message announcing 15 bytes", [r] + m1 + m3 + [0, 15] + [UInt8](repeating: 0, count: 15)),
            ("responder: transport message announcing 65535 bytes, cut short", [r] + m1 + m3 + [0xff, 0xff] + [UInt8](repeating: 0, count: 10)),
            ("responder: transport messages swapped", [r] + m1 + m3 + t[1] + t[0]),
            ("responder: transport message replayed", [r] + m1 + m3 + t[0] + t[0]),
            ("responder: the whole session, refusing", [r | FuzzLink.refuseBit] + s.dialer.flatMap { $0 }),
            ("responder: the whole session in three chunks", [r | 8] + s.dialer.flatMap { $0 }),
            ("initiator: zero-length announcement", [i, 0, 0, 0]),
            ("initiator: message 1 echoed back", [i] + m1),
            ("initiator: truncated message 2", [i] + m2.prefix(100)),
            ("initiator: message 2 then 65535-byte announcement", [i] + m2 + [0xff, 0xff] + [UInt8](repeating: 0, count: 10)),
            ("initiator: message 2 with its tag flipped", [i] + m2.dropLast() + [m2.last! ^ 1]),
            ("initiator: the whole session, refusing", [i | FuzzLink.refuseBit] + s.listener.flatMap { $0 }),
            ("tamper: genuine dialer side", [FuzzLink.tamperDialer | FuzzLink.editsBit]),
            ("tamper: genuine listener side", [FuzzLink.tamperListener | FuzzLink.editsBit]),
            ("tamper: message 3 bit flip", [FuzzLink.tamperDialer, 0, 40, 0x10]),
            ("tamper: first transport message dropped", [FuzzLink.tamperDialer | FuzzLink.editsBit, 4, 2, 0, 0, 0]),
            ("tamper: a transport message announcing 15 bytes inserted", [FuzzLink.tamperDialer | FuzzLink.editsBit, 7, 2, 0, 15, 0]),
            ("tamper: message 2 key replaced by the small-order key 0", [FuzzLink.tamperListener, 0, 2] + Array(m2[2..<34])),
        ]
        for (label, bytes) in inputs { LinkReplay.replay(bytes, "link: \(label)") }
    }
}

/// Replays `link` inputs through the fuzz target's own checks (Fuzz/Model/LinkModel.swift), recording a broken
/// property as an issue.
enum LinkReplay {
    static func replay(_ bytes: [UInt8], _ label: String) {
        LinkModel(fail: { Issue.record("\(label): \($0)") }).check(bytes)
    }
}
