import Foundation
import Testing
@testable import TiergateCore
@testable import TiergateStorage
import TiergateTestKit

/// The spec's vectors (protocol-spec/vectors/) are generated here and compared with the committed files.
/// Run with TIERGATE_WRITE_VECTORS=1 to (re)write them after a deliberate protocol change.
struct VectorTests {
    static let writing = ProcessInfo.processInfo.environment["TIERGATE_WRITE_VECTORS"] == "1"

    static func check(_ relative: String, _ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
        let path = Paths.vectors + "/" + relative
        if writing {
            try? FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            if !FileManager.default.createFile(atPath: path, contents: Data(bytes)) {
                Issue.record("cannot write vector file \(relative)", sourceLocation: sourceLocation)
            }
        }
        guard let existing = FileManager.default.contents(atPath: path) else {
            Issue.record("missing vector file \(relative); run TIERGATE_WRITE_VECTORS=1 swift test --filter VectorTests", sourceLocation: sourceLocation)
            return
        }
        #expect([UInt8](existing) == bytes, "\(relative) differs from what the code generates", sourceLocation: sourceLocation)
    }

    static func json(_ v: JSONValue) -> [UInt8] { Array((v.serialized(pretty: true) + "\n").utf8) }

    struct Case {
        var name: String
        var key: PublicKey
        var message: [UInt8]
        var signature: [UInt8]
        var valid: Bool
    }

    /// Entries of every kind, deterministic.
    static func sampleEntries() -> [(String, SignedEntry)] {
        var lab = Lab()
        let p = lab.sign("alice", .proposal(Proposal(
            action: .advance(tier: 1), title: "Train model v5 at tier 1",
            evidence: [Evidence(name: "safety-case.pdf", hash: Blake2b.hash256(Array("safety case".utf8)))],
            closesAt: t0 + day)), at: t0)
        let v = lab.sign("bob", .vote(Vote(proposal: p.id, choice: .yes, reason: "evals reviewed")), at: t0 + minute)
        let n = lab.sign("dave", .vote(Vote(proposal: p.id, choice: .no, reason: "")), at: t0 + 2 * minute)
        let h = lab.halt("erin", at: t0 + 3 * minute, reason: "unexpected capability jump in eval run 7")
        let r = lab.resume("bob", tier: 1, halts: [h.id], at: t0 + 4 * minute)
        var next = lab.genesis
        next.version = 2
        next.previous = lab.genesis.hash
        next.members[1].key = VectorKeys.key("bob-2").publicKey
        let a = lab.amend("carol", to: next, at: t0 + 5 * minute)
        let d = lab.drill("erin", at: t0 + 6 * minute, reason: "quarterly halt drill")
        lab.addOutsider("gate-a")  // an enforcer's observer key (a member of the drill lab's roster)
        let ack = lab.ack("gate-a", d, receivedAt: t0 + 6 * minute + 40, stoppedAt: t0 + 6 * minute + 95, jobs: 3, canary: .stopped)
        return [("proposal-advance", p), ("vote-yes", v), ("vote-no", n), ("halt", h), ("proposal-resume", r), ("proposal-amend", a),
                ("drill", d), ("drill-ack", ack)]
    }

    static func signatureCases() -> [Case] {
        let lab = Lab()
        var cases: [Case] = []
        let entries = sampleEntries()
        for (name, e) in entries {
            cases.append(Case(name: "\(name) valid", key: e.entry.author, message: e.signingMessage, signature: e.signature, valid: true))
        }
        let roster = lab.genesis
        let founder = lab.keys["alice"]!
        cases.append(Case(name: "genesis roster signed by founder alice", key: founder.publicKey, message: roster.signingMessage,
                          signature: founder.sign(roster.signingMessage), valid: true))
        let (_, p) = entries[0]
        var flipped = p.signature
        flipped[10] ^= 0x04
        cases.append(Case(name: "flipped signature bit", key: p.entry.author, message: p.signingMessage, signature: flipped, valid: false))
        var otherLab = p.entry
        otherLab.lab = "acme2"
        cases.append(Case(name: "same signature, other lab id", key: p.entry.author, message: otherLab.signingMessage, signature: p.signature, valid: false))
        cases.append(Case(name: "same signature, other domain tag", key: p.entry.author,
                          message: SigningDomain.roster.message(p.content), signature: p.signature, valid: false))
        cases.append(Case(name: "same signature, other key", key: lab.keys["bob"]!.publicKey, message: p.signingMessage, signature: p.signature, valid: false))
        cases.append(Case(name: "genesis roster signature over a changed policy", key: founder.publicKey,
                          message: { var r = roster; r.policy.advance.minYes = 1; return r.signingMessage }(),
                          signature: founder.sign(roster.signingMessage), valid: false))
        return cases
    }

    @Test func signatureVectors() {
        var out: [JSONValue] = []
        for c in Self.signatureCases() {
            #expect(c.key.verify(signature: c.signature, message: c.message) == c.valid, "\(c.name)")
            out.append(.object([
                ("name", .string(c.name)), ("public_key_hex", .string(c.key.hex)), ("message_hex", .string(Hex.encode(c.message))),
                ("signature_hex", .string(Hex.encode(c.signature))), ("expected", .string(c.valid ? "valid" : "invalid")),
            ]))
        }
        Self.check("signatures.json", Self.json(.array(out)))
    }

    @Test func entryIdVectors() {
        var out: [JSONValue] = []
        for (name, e) in Self.sampleEntries() {
            #expect(e.id == Blake2b.hash256(e.signingMessage))
            out.append(.object([
                ("name", .string(name)), ("hash", .string("blake2b-256")), ("bytes_hex", .string(Hex.encode(e.signingMessage))),
                ("id_hex", .string(e.id.hex)),
            ]))
        }
        let r = Lab().genesis
        out.append(.object([
            ("name", .string("genesis-roster")), ("hash", .string("blake2b-256")), ("bytes_hex", .string(Hex.encode(r.signingMessage))),
            ("id_hex", .string(r.hash.hex)),
        ]))
        Self.check("entries.json", Self.json(.array(out)))
    }

    static func rejects() -> [(String, String, [UInt8])] {
        let entries = sampleEntries()
        let p = entries[0].1.content
        let v = entries[1].1.content
        let h = entries[3].1.content
        let headerEnd = 2 + 8 + 32 + 8 + 32 + 8 + 32 + 8  // for lab "acme"
        var out: [(String, String, [UInt8])] = []
        out.append(("trailing byte", "entry", p + [0]))
        out.append(("truncated in the time field", "entry", Array(p[..<(headerEnd - 3)])))
        out.append(("unknown format version", "entry", [2] + p.dropFirst()))
        out.append(("unknown kind", "entry", [1, 7] + p.dropFirst(2)))
        out.append(("lab id with an uppercase letter", "entry", { var x = p; x[6] = UInt8(ascii: "A"); return x }()))
        out.append(("seq 1 with a nonzero prev", "entry", { var x = h; x[2 + 8 + 32 + 8 + 32 + 8] = 1; return x }()))
        out.append(("seq 0", "entry", { var x = h; for i in 0..<8 { x[2 + 8 + 32 + 8 + 32 + i] = 0 }; return x }()))
        out.append(("unknown vote choice", "entry", { var x = v; x[headerEnd + 32] = 4; return x }()))
        out.append(("halt reason with an escape character", "entry", Array(h[..<headerEnd]) + [0, 0, 0, 3, 0x61, 0x1b, 0x62]))
        out.append(("halt reason not UTF-8", "entry", Array(h[..<headerEnd]) + [0, 0, 0, 2, 0xc3, 0x28]))
        out.append(("empty halt reason", "entry", Array(h[..<headerEnd]) + [0, 0, 0, 0]))
        out.append(("halt reason length beyond 1024", "entry", Array(h[..<headerEnd]) + [0, 0, 4, 1] + [UInt8](repeating: 0x61, count: 1025)))
        var e = entries[4].1.entry
        e.body = .proposal(Proposal(action: .resume(tier: 1, halts: [Digest(bytes: [UInt8](repeating: 9, count: 32))!, Digest(bytes: [UInt8](repeating: 1, count: 32))!]), title: "r", closesAt: e.time + 1))
        out.append(("resume halts not ascending", "entry", e.encoded()))
        e.body = .proposal(Proposal(action: .advance(tier: 1), title: "r", closesAt: e.time))
        out.append(("closes_at not after time", "entry", e.encoded()))
        let r = Lab().genesis
        out.append(("roster trailing byte", "roster", r.encoded() + [0]))
        var zero = r
        zero.policy.advance.minYes = 0
        out.append(("roster rule with min_yes 0", "roster", zero.encoded()))
        var dup = r
        dup.members[1].key = dup.members[0].key
        out.append(("roster with two members sharing a key", "roster", dup.encoded()))
        var unsorted = ByteWriter()
        unsorted.u8(r.format); unsorted.string(r.lab); unsorted.u64(1); unsorted.raw(Digest.zero.bytes); unsorted.u32(0); unsorted.u32(4)
        unsorted.list([r.members[1], r.members[0]]) { w, m in w.string(m.name); w.raw(m.key.bytes); w.list(m.roles) { $0.string($1) } }
        Roster.encode(r.policy, format: r.format, into: &unsorted)
        out.append(("roster members not sorted by name", "roster", unsorted.bytes))
        var nobodyHalts = r
        nobodyHalts.policy.haltRoles = ["nobody"]
        out.append(("roster where nobody may halt", "roster", nobodyHalts.encoded()))
        var format4 = r.encoded()
        format4[0] = 4
        out.append(("format-2 roster labelled format 4 (no drill or anonymous policy)", "roster", format4))
        var format5 = r.encoded()
        format5[0] = 5
        out.append(("roster format 5", "roster", format5))
        // Drills (SPEC.md §3.1 format 3, §4.1 kinds 4 and 5).
        let d = entries[6].1.content
        let ack = entries[7].1.content
        let seqAt = 2 + 8 + 32 + 8 + 32
        out.append(("drill acknowledgement with seq 1 (it is in no feed)", "entry", { var x = ack; x[seqAt + 7] = 1; return x }()))
        out.append(("drill with seq 0", "entry", { var x = d; for i in 0..<8 { x[seqAt + i] = 0 }; for i in 0..<32 { x[seqAt + 8 + i] = 0 }; return x }()))
        out.append(("empty drill reason", "entry", Array(d[..<headerEnd]) + [0, 0, 0, 0]))
        let ackBody = headerEnd + 32
        out.append(("drill acknowledgement stopped before it was received", "entry",
                    { var x = ack; for i in 0..<8 { x[ackBody + 8 + i] = 0 }; return x }()))
        out.append(("drill acknowledgement with an unknown canary outcome", "entry", { var x = ack; x[x.count - 1] = 3; return x }()))
        // Anonymous halts (SPEC.md §4.1 kind 6): period, slot, ring, reason after the header.
        let anonLab = AnonymousHaltTests.lab()
        let anon = anonLab.anonymousHalt("bob", at: t0).content
        let slotAt = headerEnd + 8, ringAt = headerEnd + 12
        out.append(("anonymous halt with seq 1 (it is in no feed)", "entry", { var x = anon; x[seqAt + 7] = 1; return x }()))
        out.append(("anonymous halt with slot 16", "entry", { var x = anon; x[slotAt + 3] = 16; return x }()))
        out.append(("anonymous halt with an empty ring", "entry", Array(anon[..<ringAt]) + [0, 0, 0, 0] + Array(anon[(ringAt + 4 + 32 * 4)...])))
        out.append(("anonymous halt whose ring is not ascending", "entry", {
            var x = anon
            let first = Array(x[(ringAt + 4)..<(ringAt + 36)]), second = Array(x[(ringAt + 36)..<(ringAt + 68)])
            x.replaceSubrange((ringAt + 4)..<(ringAt + 68), with: second + first)
            return x
        }()))
        var anonPolicy = anonLab.genesis
        anonPolicy.policy.anonymous.perPeriod = 17
        out.append(("format-4 roster allowing 17 anonymous halts per period", "roster", anonPolicy.encoded()))
        var anonPeriod = anonLab.genesis
        anonPeriod.policy.anonymous.periodMs = 60_000
        out.append(("format-4 roster with a 1-minute anonymous-halt period", "roster", anonPeriod.encoded()))
        let drillLab = Self.drillLab()
        var notObserver = drillLab.genesis
        notObserver.policy.drill.enforcers = ["alice"]
        out.append(("format-3 roster whose drill enforcer is not an observer", "roster", notObserver.encoded()))
        var noInterval = drillLab.genesis
        noInterval.policy.drill.intervalMs = 0
        out.append(("format-3 roster with lapse_on_overdue and no interval", "roster", noInterval.encoded()))
        var asFormat2 = drillLab.genesis.encoded()
        asFormat2[0] = Roster.formatVersion
        out.append(("format-2 roster carrying a drill policy (trailing bytes)", "roster", asFormat2))
        var observerFresh = Self.observerLab().genesis
        observerFresh.policy.freshness.roleMinimums = [RoleMinimum(role: "observer", count: 1)]
        out.append(("roster freshness role minimum 'observer'", "roster", observerFresh.encoded()))
        var unmet = r
        unmet.policy.freshness.roleMinimums = [RoleMinimum(role: "safety", count: 2)]
        out.append(("roster freshness role minimum no member set can meet", "roster", unmet.encoded()))
        var tooMany = r
        tooMany.policy.freshness.minAttesters = 6
        out.append(("roster freshness min_attesters above the voting members", "roster", tooMany.encoded()))
        var legacyRoles = r
        legacyRoles.policy.freshness.roleMinimums = [RoleMinimum(role: "safety", count: 1)]
        var legacyBytes = legacyRoles.encoded()
        legacyBytes[0] = Roster.legacyFormat  // format 1 has no room for them: the list is trailing bytes
        out.append(("format-1 roster with freshness role minimums (trailing bytes)", "roster", legacyBytes))
        return out
    }

    @Test func encodingRejectVectors() {
        var out: [JSONValue] = []
        for (name, object, bytes) in Self.rejects() {
            let message: String
            if object == "entry" {
                do { _ = try Entry(decoding: bytes); Issue.record("\(name) was accepted"); continue } catch { message = "\(error)" }
            } else {
                do { _ = try Roster(decoding: bytes); Issue.record("\(name) was accepted"); continue } catch { message = "\(error)" }
            }
            out.append(.object([("name", .string(name)), ("object", .string(object)), ("bytes_hex", .string(Hex.encode(bytes))), ("error", .string(message))]))
        }
        Self.check("encoding-rejects.json", Self.json(.array(out)))
    }

    @Test func keyVectors() {
        let out: [JSONValue] = ["alice", "bob", "carol", "dave", "erin", "bob-2", "gate-a", "gate-b", "slurm"].map { name in
            let k = VectorKeys.key(name)
            return .object([
                ("name", .string(name)), ("seed_hex", .string(Hex.encode(VectorKeys.seed(name)))),
                ("public_key_hex", .string(k.publicKey.hex)), ("fingerprint", .string(k.publicKey.fingerprint)),
                ("openssh_public_key", .string(OpenSSH.line(k.publicKey))),
                ("openssh_fingerprint", .string(OpenSSH.fingerprint(k.publicKey))),
            ])
        }
        Self.check("keys.json", Self.json(.array(out)))
    }

    struct LedgerVector {
        var file: String
        var description: String
        var bytes: [UInt8]
        /// The genesis roster the ledger belongs to (nil: the default lab's, ledgers/genesis.json).
        var roster: (file: String, document: GenesisDocument)? = nil
    }

    /// The five default members plus `gate`, an observer (SPEC.md §3.2).
    static func observerLab() -> Lab {
        Lab(members: Lab.defaultMembers + [("gate", [Member.observerRole])], policy: { _ in Policy.defaultPolicy(memberCount: 5) })
    }

    /// The five default members plus three enforcers (observers), with a drill policy (roster format 3): due
    /// weekly, 30 s to acknowledge, authorisation above the base tier suspended while overdue (SPEC.md §5.8).
    static func drillLab() -> Lab {
        Lab(members: Lab.defaultMembers + [("gate-a", ["observer"]), ("gate-b", ["observer"]), ("slurm", ["observer"])], policy: { _ in
            var p = Policy.defaultPolicy(memberCount: 5)
            p.drill = DrillPolicy(enforcers: ["gate-a", "gate-b", "slurm"], intervalMs: 7 * day, deadlineMs: 30_000, lapseOnOverdue: true)
            return p
        })
    }

    static func ledgerVectors() throws -> [LedgerVector] {
        let dir = TempDir()
        var lab = Lab()
        func build(_ name: String, genesis: Digest? = nil, _ body: (LedgerWriter) throws -> Void) throws -> [UInt8] {
            let path = dir.file(name)
            let w = try LedgerWriter(path: path, genesis: genesis ?? lab.genesis.hash)
            try body(w)
            return readBytes(path)
        }
        let up = VerdictTests.authorised(&lab)
        let advance = try build("advance") { try $0.append(entries: up) }
        let h = lab.halt("erin", at: t0 + minute, reason: "eval anomaly")
        let halt = try build("halt") { try $0.append(entries: up + [h]) }
        let r = lab.resume("bob", tier: 1, halts: [h.id], at: t0 + 2 * minute)
        let rv = ["bob", "carol", "dave"].enumerated().map { lab.vote($1, r, at: t0 + 2 * minute + UInt64($0) + 1) }
        let resume = try build("resume") { try $0.append(entries: up + [h, r] + rv) }

        var lab2 = Lab()
        let p = lab2.propose("alice", tier: 1, at: t0)
        let votes = ["alice", "bob", "carol"].enumerated().map { lab2.vote($1, p, at: t0 + UInt64($0) + 1) }
        let bob = lab2.keys["bob"]!.publicKey
        lab2.heads[bob] = nil
        let fork = lab2.sign("bob", .vote(Vote(proposal: p.id, choice: .no, reason: "other branch")), at: t0 + 5)
        let equivocation = try build("equivocation") {
            try $0.append(entries: [p] + votes)
            try $0.appendEvidence(EquivocationEvidence(first: votes[1], second: fork))
        }

        var lab3 = Lab()
        lab3.addOutsider("bob-2")
        var next = lab3.genesis
        next.version = 2
        next.previous = lab3.genesis.hash
        next.members[1].key = lab3.keys["bob-2"]!.publicKey
        let amend = lab3.amend("alice", to: next, at: t0)
        let av = ["alice", "carol", "dave", "erin"].enumerated().map { lab3.vote($1, amend, at: t0 + UInt64($0) + 1) }
        let p3 = lab3.propose("alice", tier: 1, at: t0 + minute, rosterVersion: 2)
        let oldBob = lab3.vote("bob", p3, at: t0 + minute + 1, rosterVersion: 2)
        let v3 = ["alice", "carol"].enumerated().map { lab3.vote($1, p3, at: t0 + minute + UInt64($0) + 2, rosterVersion: 2) }
        let newBob = lab3.vote("bob-2", p3, at: t0 + minute + 5, rosterVersion: 2)
        let rotate = try build("rotate") { try $0.append(entries: [amend] + av + [p3, oldBob] + v3 + [newBob]) }
        // After the rotation (version 2 in force), erin halts naming version 1 (a stale view): it counts, since
        // erin may halt under both (SPEC.md §5.4).
        let staleHalt = lab3.halt("erin", at: t0 + 2 * minute, reason: "signed from a stale roster view", rosterVersion: 1)
        let haltOlderVersion = try build("halt-older-version") { try $0.append(entries: [amend] + av + [staleHalt]) }

        // A signature byte of the second entry changed and its frame's checksum recomputed: only the signature
        // check can catch it (not the checksum, not torn-tail detection).
        var forged = up[1].bytes
        forged[forged.count - 30] ^= 0x01
        var tampered = LedgerFormat.header(genesis: lab.genesis.hash)
        for (i, e) in up.enumerated() { tampered += LedgerFormat.frame(.entry, payload: i == 1 ? forged : e.bytes) }
        let torn = Array(advance.dropLast(7))

        // An observer votes yes (its vote would complete 3 of 5) and halts: neither counts (SPEC.md §3.2, §5.1).
        var lab4 = Self.observerLab()
        let w4 = try LedgerWriter(path: dir.file("observer"), genesis: lab4.genesis.hash)
        let p4 = lab4.propose("alice", tier: 1, at: t0)
        let v4 = ["alice", "bob", "gate"].enumerated().map { lab4.vote($1, p4, at: t0 + UInt64($0) + 1) }
        try w4.append(entries: [p4] + v4 + [lab4.halt("gate", at: t0 + minute, reason: "observer halt")])
        let observer = readBytes(dir.file("observer"))

        // The auditor holds a veto. Three yes votes pass the proposal; the auditor's "no" comes after: a pass is
        // final (SPEC.md §5.3), so tier 1 stays authorised.
        // Its roster also carries a freshness rule with a role minimum (format 2, SPEC.md §3.1).
        var lab5 = Lab(policy: { n in
            var p = Policy.defaultPolicy(memberCount: n)
            p.advance.vetoRoles = ["auditor"]
            p.freshness = FreshnessRule(minAttesters: 2, roleMinimums: [RoleMinimum(role: "safety", count: 1)])
            return p
        })
        let w5 = try LedgerWriter(path: dir.file("veto"), genesis: lab5.genesis.hash)
        let p5 = lab5.propose("alice", tier: 1, at: t0)
        let v5 = ["alice", "bob", "carol"].enumerated().map { lab5.vote($1, p5, at: t0 + UInt64($0) + 1) }
        try w5.append(entries: [p5] + v5 + [lab5.vote("dave", p5, .no, at: t0 + minute)])
        let vetoAfterPass = readBytes(dir.file("veto"))

        // A halt signed with a clock two hours fast (the manifest's verdict time is t0 + 1 h): a stop now
        // (SPEC.md §5.4); and the same ledger with a resume that names it, passing before the halt's own date.
        var lab6 = Lab()
        let up6 = VerdictTests.authorised(&lab6)
        let ahead = lab6.halt("erin", at: t0 + 3 * hour, reason: "clock two hours fast")
        let haltAhead = try build("halt-ahead") { try $0.append(entries: up6 + [ahead]) }
        let r6 = lab6.resume("bob", tier: 1, halts: [ahead.id], at: t0 + 10 * minute)
        let rv6 = ["bob", "carol", "dave"].enumerated().map { lab6.vote($1, r6, at: t0 + 10 * minute + UInt64($0) + 1) }
        let haltAheadResumed = try build("halt-ahead-resumed") { try $0.append(entries: up6 + [ahead, r6] + rv6) }
        // A lab of the first release: its roster is format 1 (freshness a bare count), read and verified as it
        // was signed (SPEC.md §3.1); tier 1 passes, then a halt.
        var lab7 = Lab(format: Roster.legacyFormat)
        let w7 = try LedgerWriter(path: dir.file("format1"), genesis: lab7.genesis.hash)
        let up7 = VerdictTests.authorised(&lab7)
        try w7.append(entries: up7 + [lab7.halt("erin", at: t0 + 10 * minute, reason: "halt under a format-1 roster")])
        let format1 = readBytes(dir.file("format1"))
        // The header names another genesis and a signature byte is altered: both violations are reported (SPEC.md
        // §6.4: verification goes on after a header mismatch).
        var wrongHeader = tampered
        for i in 0..<32 { wrongHeader[LedgerFormat.genesisOffset + i] = 0 }
        // An amendment adding frank is proposed and loses (1 yes of the 4 needed); frank signs two different
        // entries at one position (EVIDENCE) and votes: his key is on no roster version of the chain, so his frames
        // are checked and then ignored, his equivocation is not reported, and tier 1 stays authorised.
        var lab8 = Lab()
        lab8.addOutsider("frank")
        let up8 = VerdictTests.authorised(&lab8)
        var withFrank = lab8.genesis
        withFrank.version = 2
        withFrank.previous = lab8.genesis.hash
        withFrank.members.append(Member(name: "frank", key: lab8.keys["frank"]!.publicKey, roles: ["staff"]))
        withFrank.members.sort { $0.name < $1.name }
        let losing = lab8.amend("alice", to: withFrank, at: t0 + minute)
        let lone = lab8.vote("alice", losing, at: t0 + minute + 1)
        let frankVote = lab8.vote("frank", up8[0], .no, at: t0 + 2 * minute)
        var frankLab = lab8
        frankLab.heads[lab8.keys["frank"]!.publicKey] = nil
        let frankOther = frankLab.vote("frank", up8[0], .yes, at: t0 + 2 * minute + 1)
        let w8 = try LedgerWriter(path: dir.file("frank"), genesis: lab8.genesis.hash)
        try w8.append(entries: up8 + [losing, lone, frankVote])
        try w8.appendEvidence(EquivocationEvidence(first: frankVote, second: frankOther))
        let noRosterVersion = readBytes(dir.file("frank"))
        // Drills (SPEC.md §5.8): tier 1 passes; bob drills; the three enforcers acknowledge (DETACHED frames) in
        // 120, 60 and 900 ms: succeeded, so tier 1 stays authorised. Then the same with slurm never answering:
        // the drill fails, no drill has succeeded, and tier 1 is suspended (lapse_on_overdue).
        var lab9 = Self.drillLab()
        let up9 = VerdictTests.authorised(&lab9)
        let d9 = lab9.drill("bob", at: t0 + 2 * minute, reason: "monthly halt drill")
        let acks9 = [("gate-a", UInt64(120), CanaryOutcome.stopped), ("gate-b", 60, .none), ("slurm", 900, .none)].map { name, ms, canary in
            lab9.ack(name, d9, receivedAt: d9.entry.time + 20, stoppedAt: d9.entry.time + ms, jobs: name == "slurm" ? 4 : 1, canary: canary)
        }
        let drillSucceeded = try build("drill", genesis: lab9.genesis.hash) {
            try $0.append(entries: up9 + [d9])
            for a in acks9 { try $0.appendDetachedHalt(a) }
        }
        let drillFailed = try build("drill-missing", genesis: lab9.genesis.hash) {
            try $0.append(entries: up9 + [d9])
            for a in acks9.prefix(2) { try $0.appendDetachedHalt(a) }
        }
        // Anonymous halts (SPEC.md §5.4): a format-4 roster allowing one per member per day. Tier 1 passes; erin halts
        // anonymously (a DETACHED frame): halted. Then twice in one period (key-image reuse, both count); a ring
        // holding an outsider (valid signature, not counted: tier 1); and a resume that lifts the anonymous halt.
        var lab10 = AnonymousHaltTests.lab()
        let up10 = VerdictTests.authorised(&lab10)
        let anon = lab10.anonymousHalt("erin", at: t0 + 2 * minute, reason: "unsafe eval result")
        let anonAgain = lab10.anonymousHalt("erin", at: t0 + 3 * minute, reason: "still unsafe")
        let anonHalted = try build("anonymous-halt", genesis: lab10.genesis.hash) {
            try $0.append(entries: up10)
            try $0.appendDetachedHalt(anon)
        }
        let anonReuse = try build("anonymous-reuse", genesis: lab10.genesis.hash) {
            try $0.append(entries: up10)
            try $0.appendDetachedHalt(anon)
            try $0.appendDetachedHalt(anonAgain)
        }
        var lab10m = lab10
        lab10m.addOutsider("mallory")
        let mallory = lab10m.anonymousHalt("mallory", at: t0 + 2 * minute, ring: (lab10.genesis.policy.haltSet(in: lab10.genesis) + [VectorKeys.key("mallory").publicKey]).sorted())
        let anonWrongRing = try build("anonymous-wrong-ring", genesis: lab10.genesis.hash) {
            try $0.append(entries: up10)
            try $0.appendDetachedHalt(mallory)
        }
        let resume10 = lab10.resume("alice", tier: 1, halts: [anon.id], at: t0 + 10 * minute)
        let resumeVotes10 = ["alice", "bob", "carol"].map { lab10.vote($0, resume10, at: t0 + 11 * minute) }
        let anonResumed = try build("anonymous-resumed", genesis: lab10.genesis.hash) {
            try $0.append(entries: up10)
            try $0.appendDetachedHalt(anon)
            try $0.append(entries: [resume10] + resumeVotes10)
        }
        return [
            LedgerVector(file: "advance.ledger", description: "proposal to tier 1 passes with 3 of 5 yes votes", bytes: advance),
            LedgerVector(file: "halt.ledger", description: "advance, then one halt by a staff member", bytes: halt),
            LedgerVector(file: "resume.ledger", description: "advance, halt, resume proposal passes with 3 votes", bytes: resume),
            LedgerVector(file: "equivocation.ledger", description: "bob signs two entries at one position; his vote is void, quorum lost", bytes: equivocation),
            LedgerVector(file: "amendment-rotate-key.ledger", description: "amendment rotates bob's key (4 of 5); old key's vote is ignored, new key's counts", bytes: rotate),
            LedgerVector(file: "tampered.ledger", description: "advance.ledger with one signature byte of the second entry changed (checksum recomputed)", bytes: tampered),
            LedgerVector(file: "torn-tail.ledger", description: "advance.ledger with the last 7 bytes missing (interrupted append)", bytes: torn),
            LedgerVector(file: "observer.ledger", description: "2 members and the observer 'gate' vote yes (3 of 5 needed), then gate halts: neither the vote nor the halt counts",
                         bytes: observer, roster: ("genesis-observer.json", lab4.document)),
            LedgerVector(file: "veto-after-pass.ledger", description: "3 of 5 yes pass tier 1; the auditor (a veto role) votes no afterwards: a pass is final, tier 1 stays authorised",
                         bytes: vetoAfterPass, roster: ("genesis-veto.json", lab5.document)),
            LedgerVector(file: "halt-names-older-version.ledger", description: "bob's key rotated (version 2 in force), then erin halts naming version 1: she may halt under both, so it counts",
                         bytes: haltOlderVersion),
            LedgerVector(file: "halt-dated-ahead.ledger", description: "tier 1 authorised, then a halt dated 2 h after the verdict time (a fast clock): it counts now, halted",
                         bytes: haltAhead),
            LedgerVector(file: "halt-dated-ahead-resumed.ledger", description: "halt-dated-ahead.ledger plus a resume naming the halt that passes before the halt's date: never in force, tier 1",
                         bytes: haltAheadResumed),
            LedgerVector(file: "format1-halt.ledger", description: "a lab whose genesis roster is format 1 (the first release): tier 1 passes, then a halt; halted",
                         bytes: format1, roster: ("genesis-format1.json", lab7.document)),
            LedgerVector(file: "wrong-header-genesis.ledger", description: "tampered.ledger whose header names another genesis: the header and the altered frame are both reported",
                         bytes: wrongHeader),
            LedgerVector(file: "key-on-no-roster-version.ledger", description: "a losing amendment adds frank, who votes and equivocates (EVIDENCE): his key is on no roster version, so his frames are checked and ignored, no equivocation is reported; tier 1",
                         bytes: noRosterVersion),
            LedgerVector(file: "drill.ledger", description: "format-3 roster (drills due weekly, 30 s deadline, lapse on overdue): tier 1 passes, bob drills, the three enforcers acknowledge in 120, 60 and 900 ms: succeeded, tier 1",
                         bytes: drillSucceeded, roster: ("genesis-drill.json", lab9.document)),
            LedgerVector(file: "drill-missing.ledger", description: "drill.ledger without slurm's acknowledgement: the drill failed (slurm missing), none has succeeded, so tier 1 is suspended: tier 0, not halted",
                         bytes: drillFailed, roster: ("genesis-drill.json", lab9.document)),
            LedgerVector(file: "anonymous-halt.ledger", description: "format-4 roster (one anonymous halt per member per day): tier 1 passes, then an anonymous halt by one of the 4 members who may halt: halted",
                         bytes: anonHalted, roster: ("genesis-anonymous.json", lab10.document)),
            LedgerVector(file: "anonymous-reuse.ledger", description: "anonymous-halt.ledger plus a second anonymous halt by the same member in the same period and slot: one key image on both (reuse reported), both count: halted",
                         bytes: anonReuse, roster: ("genesis-anonymous.json", lab10.document)),
            LedgerVector(file: "anonymous-wrong-ring.ledger", description: "tier 1 passes, then an outsider's anonymous halt over a ring of the members plus itself: validly ring-signed, but the ring is not the halt set, so it does not count: tier 1",
                         bytes: anonWrongRing, roster: ("genesis-anonymous.json", lab10.document)),
            LedgerVector(file: "anonymous-resumed.ledger", description: "anonymous-halt.ledger plus a resume naming the anonymous halt, passed by 3 of 5: tier 1, not halted",
                         bytes: anonResumed, roster: ("genesis-anonymous.json", lab10.document)),
        ]
    }

    @Test func ledgerVectors() throws {
        let lab = Lab()
        Self.check("ledgers/genesis.json", lab.document.fileBytes())
        let at = t0 + hour
        var manifest: [JSONValue] = []
        let dir = TempDir()
        for v in try Self.ledgerVectors() {
            Self.check("ledgers/\(v.file)", v.bytes)
            if let r = v.roster { Self.check("ledgers/\(r.file)", r.document.fileBytes()) }
            let genesis = v.roster?.document.roster ?? lab.genesis
            let path = dir.file(v.file)
            writeBytes(path, v.bytes)
            let audit = try LedgerAudit.run(path: path, genesis: genesis)
            let verdict = Verdict.compute(genesis: genesis, tally: audit.tally, at: at)
            manifest.append(.object([
                ("file", .string(v.file)), ("description", .string(v.description)), ("roster", .string(v.roster?.file ?? "genesis.json")),
                ("at", .string(TimeText.format(at))), ("at_ms", .uint(at)), ("valid", .bool(audit.isValid)),
                ("problems", .array(audit.problems.map { .object([("frame", $0.frameIndex.map { .int($0) } ?? .null), ("offset", .int($0.offset))]) })),
                ("authorized_tier", .uint(UInt64(verdict.authorizedTier))), ("halted", .bool(verdict.halted)),
                ("roster_version", .uint(verdict.rosterVersion)), ("equivocations", .array(verdict.equivocations.map { .string($0.member) })),
                ("drills", .array(verdict.drills.map { d in
                    .object([("id", .string(d.id.hex)), ("state", .string(d.state.rawValue)), ("missing", .array(d.missing.map { .string($0) })),
                             ("acks", .array(d.acks.map { .object([("member", .string($0.member)), ("latency_ms", .uint($0.latencyMs)),
                                                                   ("on_time", .bool($0.onTime)), ("expected", .bool($0.expected))]) }))])
                })),
                ("drill_overdue", .bool(verdict.drillSchedule.overdue)),
                ("active_halts", .array(verdict.activeHalts.map(\.id.hex).sorted().map { .string($0) })),
                ("key_image_reuse", .array(verdict.keyImageReuse.map { k in
                    .object([("key_image", .string(k.keyImage.hex)), ("entries", .array(k.ids.map { .string($0.hex) }))])
                })),
            ]))
        }
        Self.check("ledgers/manifest.json", Self.json(.array(manifest)))
        // The expectations the vectors exist to show.
        let m = manifest.map { v -> (String, Bool, UInt64, Bool) in
            guard case .object(let o) = v else { fatalError() }
            let d = Dictionary(o, uniquingKeysWith: { a, _ in a })
            guard case .string(let f) = d["file"]!, case .bool(let valid) = d["valid"]!, case .number(let tier) = d["authorized_tier"]!,
                case .bool(let halted) = d["halted"]! else { fatalError() }
            return (f, valid, UInt64(tier)!, halted)
        }
        #expect(m.map(\.0) == ["advance.ledger", "halt.ledger", "resume.ledger", "equivocation.ledger", "amendment-rotate-key.ledger", "tampered.ledger", "torn-tail.ledger", "observer.ledger", "veto-after-pass.ledger", "halt-names-older-version.ledger", "halt-dated-ahead.ledger", "halt-dated-ahead-resumed.ledger", "format1-halt.ledger",
                          "wrong-header-genesis.ledger", "key-on-no-roster-version.ledger", "drill.ledger", "drill-missing.ledger",
                          "anonymous-halt.ledger", "anonymous-reuse.ledger", "anonymous-wrong-ring.ledger", "anonymous-resumed.ledger"])
        #expect(m.map(\.1) == [true, true, true, true, true, false, false, true, true, true, true, true, true, false, true, true, true, true, true, true, true])
        #expect(m.map(\.2) == [1, 0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1])
        #expect(m.map(\.3) == [false, true, false, false, false, false, false, false, false, true, true, false, true, false, false, false, false, true, true, false, false])
    }
}

/// keys/: demo and vector keys, derived from published seeds. Generated and checked like the vectors.
struct KeysDirectoryTests {
    static let demoMembers: [(String, String)] = [
        ("lena", "leader"), ("sam", "safety"), ("bo", "board"), ("ana", "auditor"), ("kit", "staff"),
    ]

    static func demoSeed(_ name: String) -> [UInt8] { Blake2b.hash256(Array("tiergate/v1/demo-key/\(name)".utf8)).bytes }

    @Test func keysDirectoryMatchesTheSeeds() throws {
        let root = "../../keys/"
        for (name, _) in Self.demoMembers {
            let k = try SigningKey(seed: Self.demoSeed(name))
            VectorTests.check(root + "demo/\(name).pub", Array(KeyFiles.publicKeyJSON(name: name, key: k.publicKey).utf8))
            VectorTests.check(root + "demo/\(name).key", try KeyFiles.secretKeyFile(k, passphrase: nil))
        }
        for name in ["alice", "bob", "carol", "dave", "erin", "bob-2"] {
            let k = VectorKeys.key(name)
            VectorTests.check(root + "vectors/\(name).pub", Array(KeyFiles.publicKeyJSON(name: name, key: k.publicKey).utf8))
            VectorTests.check(root + "vectors/\(name).key", try KeyFiles.secretKeyFile(k, passphrase: nil))
        }
    }
}
