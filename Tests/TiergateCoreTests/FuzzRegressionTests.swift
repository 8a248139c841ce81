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

    /// `frame`: FrameParser over the whole stream; every decoded message round-trips exactly.
    static func replayFrame(_ bytes: [UInt8], _ label: String) {
        var parser = FrameParser()
        parser.append(bytes)
        var offset = 0
        while true {
            let message: WireMessage?
            do { message = try parser.next() } catch { _ = error.description; break }
            guard let m = message else { break }
            let n = Int(bytes[offset]) << 24 | Int(bytes[offset + 1]) << 16 | Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
            let body = Array(bytes[(offset + 4)..<(offset + 4 + n)])
            offset += 4 + n
            #expect(m.encodedBody() == body, "\(label): \(m.name) re-encodes differently")
            #expect((try? WireMessage(body: m.encodedBody())) == m, "\(label): \(m.name) does not round-trip")
            switch m {
            case .entries(let list): for e in list { replayEntry(e, label) }
            case .evidence(let a, let b):
                replayEntry(a, label)
                replayEntry(b, label)
            case .submit(_, let e): replayEntry(e, label)
            case .head(_, _, _, _, let e) where !e.isEmpty: replayEntry(e, label)
            case .token(_, _, let t) where !t.isEmpty: replayToken(t, label)
            default: break
            }
        }
    }

    /// `entry`: SignedEntry(decoding:), the signature check, and the exact round trip.
    static func replayEntry(_ bytes: [UInt8], _ label: String) {
        do {
            let e = try SignedEntry(decoding: bytes)
            _ = e.signatureIsValid
            _ = try? e.verified(lab: genesis.lab, genesis: genesis.hash)
            #expect(e.bytes == bytes, "\(label): a decoded entry re-encodes differently")
        } catch {
            _ = error.description
        }
    }

    /// `ledger`: LedgerReader iteration, LedgerAudit.run (sequential) and the verdict over its tally.
    static func replayLedger(_ bytes: [UInt8], _ label: String) {
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
            _ = result.problems.map(\.description)
            _ = result.gaps
            _ = Verdict.compute(genesis: genesis, tally: result.tally, at: now).json().serialized()
        } catch {
            _ = error.description
        }
    }

    /// `roster`: the JSON roster file reader and the canonical roster decoder, on the same bytes.
    static func replayRoster(_ bytes: [UInt8], _ label: String) {
        do {
            let doc = try GenesisDocument(fileBytes: bytes)
            _ = doc.checkSignatures()
            #expect((try? GenesisDocument(fileBytes: doc.fileBytes())) == doc, "\(label): roster file does not round-trip")
        } catch {
            _ = error.description
        }
        do {
            let r = try Roster(decoding: bytes)
            #expect(r.encoded() == bytes, "\(label): a decoded roster re-encodes differently")
        } catch {
            _ = error.description
        }
    }

    /// `token`: TierToken(decoding:), then the offline check for tier 1 at the fixed time.
    static func replayToken(_ bytes: [UInt8], _ label: String) {
        do {
            let token = try TierToken(decoding: bytes)
            #expect(token.encoded() == bytes, "\(label): a decoded token re-encodes differently")
            do {
                _ = try TokenChecker.check(token, genesis: genesis, tier: 1, now: now)
            } catch {
                _ = error.description
            }
        } catch {
            _ = error.description
        }
    }

    static func replay(_ target: String, _ bytes: [UInt8], _ label: String) {
        switch target {
        case "frame": replayFrame(bytes, label)
        case "entry": replayEntry(bytes, label)
        case "ledger": replayLedger(bytes, label)
        case "roster": replayRoster(bytes, label)
        case "token": replayToken(bytes, label)
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
        for (label, bytes) in inputs { Self.replayFrame(bytes, "frame: \(label)") }
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
        for (label, bytes) in inputs { Self.replayEntry(bytes, "entry: \(label)") }
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
        for (label, bytes) in inputs { Self.replayLedger(bytes, "ledger: \(label)") }
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
        for (label, bytes) in inputs { Self.replayRoster(bytes, "roster: \(label)") }
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
                t.attestations = [Attestation(core: t.coreHash, key: lab.keys["alice"]!, time: time, digest: .zero, tier: 1)]
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
        for (label, bytes) in inputs { Self.replayToken(bytes, "token: \(label)") }
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
