import Testing
@testable import TiergateCore
@testable import TiergateStorage
import TiergateTestKit

struct RosterTests {
    @Test func defaultPolicyMatchesTheCLIContract() {
        for (n, majority, twoThirds) in [(1, 1, 1), (2, 2, 2), (3, 2, 2), (4, 3, 3), (5, 3, 4), (6, 4, 4), (7, 4, 5)] {
            let p = Policy.defaultPolicy(memberCount: n)
            #expect(p.advance.minYes == UInt32(majority), "advance for \(n)")
            #expect(p.resume == p.advance)
            #expect(p.amend.minYes == UInt32(twoThirds), "amend for \(n)")
            #expect(p.haltRoles == ["*"])
            #expect(p.tokenTTLMs == 10 * minute)
        }
    }

    @Test func rosterRoundTripsThroughCanonicalBytesAndJSON() throws {
        let lab = Lab(policy: { n in
            Policy(
                advance: Rule(minYes: 3, roleMinimums: [RoleMinimum(role: "safety", count: 1)], vetoRoles: ["auditor"], windowMs: day),
                advanceOverrides: [TierRule(tier: 4, rule: Rule(minYes: 4, windowMs: day))], resume: Rule(minYes: 4, windowMs: day),
                amend: Rule(minYes: 4, windowMs: day))
        })
        let back = try Roster(decoding: lab.genesis.encoded())
        #expect(back == lab.genesis)
        let doc = try GenesisDocument(fileBytes: lab.document.fileBytes())
        #expect(doc == lab.document)
        #expect(doc.checkSignatures().complete)
        #expect(doc.roster.hash == lab.genesis.hash)
    }

    @Test func founderSignaturesDetectEveryKindOfChange() throws {
        let lab = Lab()
        #expect(lab.document.checkSignatures().complete)
        // A member key byte changed after signing.
        var r = lab.document
        var keyBytes = r.roster.members[1].key.bytes
        keyBytes[0] ^= 1
        r.roster.members[1].key = PublicKey(bytes: keyBytes)!
        #expect(!r.checkSignatures().complete)
        // The policy changed after signing.
        r = lab.document
        r.roster.policy.advance.minYes = 2
        #expect(r.checkSignatures().invalid.count == 5)
        // A signature missing.
        r = lab.document
        r.signatures.removeFirst()
        #expect(r.checkSignatures().missing == ["alice"])
        // A stranger's signature.
        r = lab.document
        r.signatures.append(FounderSignature(member: "mallory", signature: [UInt8](repeating: 0, count: 64)))
        #expect(r.checkSignatures().unknown == ["mallory"])
    }

    @Test func inconsistentRostersAreRejected() {
        let base = Lab().genesis
        func expectInvalid(_ change: (inout Roster) -> Void, _ field: String, sourceLocation: SourceLocation = #_sourceLocation) {
            var r = base
            change(&r)
            do {
                try r.validate()
                Issue.record("expected \(field) to be rejected", sourceLocation: sourceLocation)
            } catch {
                switch error {
                case .invalidValue(let f, _), .tooLong(let f, _, _), .invalidText(let f, _), .notCanonicalOrder(let f):
                    #expect(f.contains(field), "got \(error)", sourceLocation: sourceLocation)
                default: Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
                }
            }
        }
        expectInvalid({ $0.policy.advance.minYes = 0 }, "policy.advance.min_yes")
        expectInvalid({ $0.policy.amend.minYes = 6 }, "policy.amend.min_yes")
        expectInvalid({ $0.policy.resume.roleMinimums = [RoleMinimum(role: "safety", count: 2)] }, "policy.resume.role_minimums")
        expectInvalid({ $0.policy.haltRoles = ["nobody"] }, "policy.halt_roles")
        expectInvalid({ $0.baseTier = 5 }, "roster.base_tier")
        expectInvalid({ $0.members[1].key = $0.members[0].key }, "roster.members")
        expectInvalid({ $0.members = [] }, "roster.members")
        expectInvalid({ $0.policy.tokenTTLMs = 0 }, "policy.token_ttl")
        expectInvalid({ $0.previous = Digest(bytes: [UInt8](repeating: 1, count: 32))! }, "roster.previous")
        expectInvalid({ $0.policy.advanceOverrides = [TierRule(tier: 0, rule: Rule(minYes: 1, windowMs: day))] }, "policy.advance_overrides")
        expectInvalid({ $0.policy.advance.windowMs = 10 }, "policy.advance.window")
        expectInvalid({ $0.policy.freshness.minAttesters = 0 }, "policy.freshness.min_attesters")
        // A small-order point (the identity) is not a usable key.
        expectInvalid({ $0.members[0].key = PublicKey(bytes: [1] + [UInt8](repeating: 0, count: 31))! }, "member alice.key")
        expectInvalid({ $0.policy.advance.vetoRoles = ["*"] }, "policy.advance")
    }

    @Test func nonCanonicalRosterBytesAreRejected() {
        let r = Lab().genesis
        var bytes = r.encoded()
        // Members must be sorted by name: swap the first two members' encodings by building them out of order.
        var w = ByteWriter()
        w.u8(1)
        w.string(r.lab)
        w.u64(1)
        w.raw(Digest.zero.bytes)
        w.u32(0)
        w.u32(4)
        w.list([r.members[1], r.members[0]]) { w, m in
            w.string(m.name)
            w.raw(m.key.bytes)
            w.list(m.roles) { $0.string($1) }
        }
        Roster.encode(r.policy, format: r.format, into: &w)
        #expect(throws: DecodeError.notCanonicalOrder(field: "roster.members (by name)")) { try Roster(decoding: w.bytes) }
        bytes.append(0)
        #expect(throws: DecodeError.trailingBytes(count: 1)) { try Roster(decoding: bytes) }
    }

    @Test func rosterFileErrorsSeparateUnreadableFromInvalid() throws {
        let lab = Lab()
        let good = lab.document.fileBytes()
        #expect(throws: RosterFileError.self) { try GenesisDocument(fileBytes: Array("not json".utf8)) }
        do { _ = try GenesisDocument(fileBytes: Array("not json".utf8)) } catch { #expect(error.isUnreadable) }
        // Wrong type.
        let text = String(decoding: good, as: UTF8.self)
        let wrongType = text.replacingOccurrences(of: "\"base_tier\" : 0", with: "\"base_tier\" : \"0\"")
            .replacingOccurrences(of: "\"base_tier\": 0", with: "\"base_tier\": \"0\"")
        do {
            _ = try GenesisDocument(fileBytes: Array(wrongType.utf8))
            Issue.record("a string base_tier was accepted")
        } catch {
            #expect(error == .malformed(JSONError(path: "roster.base_tier", reason: "expected an integer, got a string")))
        }
        // Unknown field.
        let extra = text.replacingOccurrences(of: "\"format\": \"tiergate-roster-v2\"", with: "\"format\": \"tiergate-roster-v2\", \"admin\": true")
        do {
            _ = try GenesisDocument(fileBytes: Array(extra.utf8))
            Issue.record("unknown field accepted")
        } catch {
            #expect(error == .malformed(JSONError(path: "admin", reason: "unknown field")))
        }
        // Inconsistent content is "invalid", not "unreadable".
        let zero = text.replacingOccurrences(of: "\"min_yes\": 3", with: "\"min_yes\": 0")
        do {
            _ = try GenesisDocument(fileBytes: Array(zero.utf8))
            Issue.record("min_yes 0 accepted")
        } catch {
            #expect(!error.isUnreadable)
        }
    }
}

extension String {
    func replacingOccurrences(of a: String, with b: String) -> String {
        split(separator: a, omittingEmptySubsequences: false).joined(separator: b)
    }
}

struct JSONTests {
    @Test func strictParserRejectsWhatLenientOnesAccept() {
        for bad in ["{\"a\":1,\"a\":2}", "[1,]", "{\"a\":01}", "\"\u{01}\"", "{\"a\":1} x", "[\"\\ud800\"]", "nul", ""] {
            #expect(throws: JSONError.self, "\(bad)") { try JSONValue.parse(bad) }
        }
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: JSONError.self) { try JSONValue.parse(deep) }
        #expect(throws: JSONError.self) { try JSONValue.parse(Array(repeating: 0x20, count: 11), maxBytes: 10) }
    }

    @Test func parserRoundTripsEscapes() throws {
        let v = JSONValue.object([("k", .string("a\"b\\c\n\u{7f}é😀")), ("n", .number("-12")), ("l", .array([.bool(true), .null]))])
        #expect(try JSONValue.parse(v.serialized()) == v)
        #expect(try JSONValue.parse(v.serialized(pretty: true)) == v)
        #expect(try JSONValue.parse("\"\\ud83d\\ude00\"") == .string("😀"))
    }

    @Test func durationsParseAndFormat() {
        #expect(DurationText.parse("10m") == 600_000)
        #expect(DurationText.parse("7d") == 604_800_000)
        #expect(DurationText.parse("250ms") == 250)
        #expect(DurationText.parse("m") == nil)
        #expect(DurationText.parse("-1s") == nil)
        #expect(DurationText.parse("99999999999999999999d") == nil)
        #expect(DurationText.format(604_800_000) == "7d")
        #expect(DurationText.format(90_000) == "90s")
        #expect(DurationText.format(1_500) == "1500ms")
    }

    @Test func timesParseAndFormat() {
        #expect(TimeText.format(t0) == "2026-01-01T00:00:00.000Z")
        #expect(TimeText.parse("2026-01-01T00:00:00Z") == t0)
        #expect(TimeText.parse("2026-01-01T00:00:01.5Z") == t0 + 1_500)
        #expect(TimeText.parse("2024-02-29T12:00:00Z") == 1_709_208_000_000)
        #expect(TimeText.parse("2026-13-01T00:00:00Z") == nil)
        #expect(TimeText.parse("yesterday") == nil)
        for ms: UInt64 in [0, t0, t0 + 123_456_789, 4_102_444_800_000] {
            #expect(TimeText.parse(TimeText.format(ms)) == ms)
        }
    }
}
