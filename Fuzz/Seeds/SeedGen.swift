// Seed generator for the fuzz corpora (run by scripts/fuzz; not a fuzz target).
//
// Compiled with Sources/TiergateCore and Fuzz/Shared/FuzzSupport.swift into one module (no sanitizers). It signs
// well-formed artefacts with the insecure vector keys (seed = BLAKE2b-256("tiergate/v1/vector-key/" + name), as
// TiergateTestKit's VectorKeys) for the fixed fuzz genesis roster, so that the fuzzers start from inputs that reach
// deep code: validly signed entries of every kind, tokens that pass every check, every wire message type, rosters
// with overrides, role minimums and vetoes. The vector files themselves are extracted by scripts/fuzz.
//
// Usage: seedgen OUT_DIR [VECTOR_LEDGER [NOISE_VECTOR]]   writes OUT_DIR/<target>/<name>.bin
// With VECTOR_LEDGER it checks that the fuzz genesis hash equals that ledger's header, with NOISE_VECTOR
// (protocol-spec/vectors/noise.json) that the `link` target's fixed session (FuzzLink) sends exactly the vector's
// handshake and transport bytes (else exits 1).

#if canImport(Glibc)
import Glibc
#endif

private func vectorKey(_ name: String) -> SigningKey {
    try! SigningKey(seed: Blake2b.hash256(Array("tiergate/v1/vector-key/\(name)".utf8)).bytes)
}

private let t0: UInt64 = 1_767_225_600_000
private let minute: UInt64 = 60_000
private let day: UInt64 = 86_400_000

private struct Author {
    var keys: [String: SigningKey] = [:]
    var heads: [PublicKey: (seq: UInt64, id: Digest)] = [:]
    let genesis: Roster
    let genesisHash: Digest

    init(genesis: Roster, names: [String]) {
        self.genesis = genesis
        genesisHash = genesis.hash
        for n in names { keys[n] = vectorKey(n) }
    }

    mutating func sign(_ name: String, _ body: EntryBody, at time: UInt64, rosterVersion: UInt64 = 1, advance: Bool = true) -> SignedEntry {
        let key = keys[name]!
        let head = heads[key.publicKey]
        let entry = Entry(
            lab: genesis.lab, genesis: genesisHash, rosterVersion: rosterVersion, author: key.publicKey,
            seq: (head?.seq ?? 0) + 1, prev: head?.id ?? .zero, time: time, body: body)
        let signed = SignedEntry(signing: entry, with: key)
        if advance { heads[key.publicKey] = (entry.seq, signed.id) }
        return signed
    }
}

/// Writes a line to standard error.
private func complain(_ text: String) {
    var b = Array(text.utf8)
    if b.last != 10 { b.append(10) }
    _ = b.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count) }
}

private func readFile(_ path: String) -> [UInt8]? {
    guard let f = fopen(path, "rb") else { return nil }
    defer { fclose(f) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&buf, 1, buf.count, f)
        if n <= 0 { break }
        out.append(contentsOf: buf[0..<n])
    }
    return out
}

private func writeFile(_ path: String, _ bytes: [UInt8]) {
    guard let f = fopen(path, "wb") else {
        complain("seedgen: cannot write \(path)\n")
        exit(1)
    }
    _ = bytes.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, f) }
    fclose(f)
}

@main
struct SeedGen {
    static func main() {
        let args = CommandLine.arguments
        guard args.count >= 2 else {
            complain("usage: seedgen OUT_DIR [VECTOR_LEDGER [NOISE_VECTOR]]\n")
            exit(64)
        }
        let out = args[1]
        let genesis = FuzzGenesis.roster
        let gHash = FuzzGenesis.hash
        if args.count >= 3 {
            guard let ledger = readFile(args[2]), ledger.count >= 48, Array(ledger[12..<44]) == gHash.bytes else {
                complain("seedgen: the fuzz genesis roster's hash does not match the vector ledger \(args[2])\n")
                exit(1)
            }
        }
        if args.count >= 4 { checkNoiseVector(args[3]) }
        var count = 0
        func emit(_ target: String, _ name: String, _ bytes: [UInt8]) {
            mkdir("\(out)/\(target)", 0o755)
            writeFile("\(out)/\(target)/\(name).bin", bytes)
            count += 1
        }

        var lab = Author(genesis: genesis, names: ["alice", "bob", "carol", "dave", "erin", "mallory"])
        for (name, hex, _) in FuzzGenesis.memberKeys where lab.keys[name]!.publicKey.hex != hex {
            complain("seedgen: vector key of \(name) does not match the fuzz genesis roster\n")
            exit(1)
        }

        // A richer roster (version 2 amending genesis): overrides, role minimums, vetoes, restricted halt roles.
        let members = FuzzGenesis.memberKeys.map { (name, hex, role) in
            Member(name: name, key: PublicKey(hex: hex)!, roles: role == "staff" ? ["staff"] : [role, "member"])
        }
        let rich = Roster(
            lab: "acme", version: 2, previous: gHash, baseTier: 0, maxTier: 4, members: members,
            policy: Policy(
                advance: Rule(minYes: 3, roleMinimums: [RoleMinimum(role: "safety", count: 1)], vetoRoles: ["auditor"], windowMs: 7 * day),
                advanceOverrides: [
                    TierRule(tier: 2, rule: Rule(minYes: 4, roleMinimums: [RoleMinimum(role: "board", count: 1), RoleMinimum(role: "safety", count: 1)], vetoRoles: ["auditor", "safety"], windowMs: 3 * day)),
                    TierRule(tier: 4, rule: Rule(minYes: 5, windowMs: day)),
                ],
                haltRoles: ["auditor", "safety", "staff"],
                resume: Rule(minYes: 4, roleMinimums: [RoleMinimum(role: "safety", count: 1)], windowMs: day),
                amend: Rule(minYes: 4, vetoRoles: ["board"], windowMs: 14 * day),
                amendCoolingOffMs: 3_600_000, tokenTTLMs: 300_000, lapseMs: 7 * day, maxSkewMs: 60_000, freshness: FreshnessRule(minAttesters: 2)))
        precondition((try? rich.validate()) != nil, "seedgen: rich roster must be consistent")
        var richGenesis = rich
        richGenesis.version = 1
        richGenesis.previous = .zero
        precondition((try? richGenesis.validate()) != nil, "seedgen: rich genesis must be consistent")

        // Entries: an advance that passes, a vote no, a halt, a resume that passes, an amendment, abstentions.
        let p1 = lab.sign("alice", .proposal(Proposal(
            action: .advance(tier: 1), title: "Train model v5 at tier 1",
            evidence: [Evidence(name: "safety-case.pdf", hash: Blake2b.hash256(Array("safety case".utf8))),
                       Evidence(name: "evals/run-7.json", hash: Blake2b.hash256(Array("evals".utf8)))],
            closesAt: t0 + 7 * day)), at: t0)
        let v1 = lab.sign("bob", .vote(Vote(proposal: p1.id, choice: .yes, reason: "evals reviewed")), at: t0 + minute)
        let v2 = lab.sign("carol", .vote(Vote(proposal: p1.id, choice: .yes)), at: t0 + 2 * minute)
        let v3 = lab.sign("alice", .vote(Vote(proposal: p1.id, choice: .yes, reason: "ok ✓ — approuvé")), at: t0 + 3 * minute)
        let v4 = lab.sign("dave", .vote(Vote(proposal: p1.id, choice: .no, reason: "not yet")), at: t0 + 4 * minute)
        let v5 = lab.sign("erin", .vote(Vote(proposal: p1.id, choice: .abstain)), at: t0 + 5 * minute)
        let h1 = lab.sign("erin", .halt(Halt(reason: "eval run 7 shows a capability jump")), at: t0 + 10 * minute)
        let h2 = lab.sign("dave", .halt(Halt(reason: "audit hold")), at: t0 + 10 * minute + 1)
        let r1 = lab.sign("alice", .proposal(Proposal(
            action: .resume(tier: 1, halts: [h1.id, h2.id].sorted()), title: "Resume after review", closesAt: t0 + 8 * day)),
            at: t0 + 11 * minute)
        let rv1 = lab.sign("bob", .vote(Vote(proposal: r1.id, choice: .yes)), at: t0 + 12 * minute)
        let rv2 = lab.sign("carol", .vote(Vote(proposal: r1.id, choice: .yes)), at: t0 + 13 * minute)
        let rv3 = lab.sign("alice", .vote(Vote(proposal: r1.id, choice: .yes)), at: t0 + 14 * minute)
        let a1 = lab.sign("carol", .proposal(Proposal(action: .amend(rich), title: "Adopt the stricter policy", closesAt: t0 + 9 * day)), at: t0 + 20 * minute)
        let av1 = lab.sign("dave", .vote(Vote(proposal: a1.id, choice: .yes)), at: t0 + 21 * minute)
        // Equivocation: two different entries at erin's next position.
        let eq1 = lab.sign("erin", .vote(Vote(proposal: a1.id, choice: .yes)), at: t0 + 22 * minute, advance: false)
        let eq2 = lab.sign("erin", .vote(Vote(proposal: a1.id, choice: .no)), at: t0 + 22 * minute)
        // A non-member's entry and a detached halt beyond a gap.
        let m1 = lab.sign("mallory", .halt(Halt(reason: "not a member")), at: t0 + 23 * minute)
        var gapLab = lab
        _ = gapLab.sign("bob", .vote(Vote(proposal: a1.id, choice: .abstain)), at: t0 + 24 * minute)
        let detached = gapLab.sign("bob", .halt(Halt(reason: "halt seen before its predecessor")), at: t0 + 25 * minute)

        // A drill (kind 4) and an acknowledgement of it (kind 5: in no feed, seq 0).
        let d1 = lab.sign("bob", .drill(Drill(reason: "monthly halt drill")), at: t0 + 26 * minute)
        let ack = SignedEntry(signing: Entry(
            lab: "acme", genesis: gHash, rosterVersion: 1, author: lab.keys["dave"]!.publicKey, seq: 0, prev: .zero, time: t0 + 26 * minute + 90,
            body: .drillAck(DrillAck(drill: d1.id, receivedAt: t0 + 26 * minute + 20, stoppedAt: t0 + 26 * minute + 80, jobs: 3, canary: .stopped))),
            with: lab.keys["dave"]!)
        emit("entry", "drill", d1.bytes)
        emit("entry", "drill-ack", ack.bytes)

        // Anonymous halts (kind 6: a ring signature over the halt set, author = key image): erin's, and a second one
        // of hers in the same period and slot (key-image reuse), so that mutations start from valid rings.
        let ring = genesis.policy.haltSet(in: genesis)
        for (name, reason) in [("anonymous-halt", "eval 12 worries me"), ("anonymous-halt-reused-image", "again")] {
            let halt = AnonymousHalt(period: (t0 + 30 * minute) / (30 * day), slot: 0, ring: ring, reason: reason)
            let e = try! SignedEntry.anonymousHalt(lab: "acme", genesis: gHash, rosterVersion: 1, time: t0 + 30 * minute, halt: halt,
                                                   signer: lab.keys["erin"]!, nonceSeed: Array("seedgen \(name)".utf8))
            emit("entry", name, e.bytes)
        }

        let all = [p1, v1, v2, v3, v4, v5, h1, h2, r1, rv1, rv2, rv3, a1, av1, eq1, eq2, m1, detached]
        let names = ["proposal-advance", "vote-yes-bob", "vote-yes-carol", "vote-yes-alice", "vote-no-dave", "vote-abstain-erin",
                     "halt-erin", "halt-dave", "proposal-resume", "vote-resume-bob", "vote-resume-carol", "vote-resume-alice",
                     "proposal-amend-rich", "vote-amend-dave", "equivocation-a", "equivocation-b", "halt-non-member",
                     "halt-detached-bob"]
        for (e, n) in zip(all, names) { emit("entry", n, e.bytes) }
        emit("entry", "truncated-signature", Array(p1.bytes.dropLast(1)))

        // Rosters: canonical bytes and signed JSON files.
        emit("roster", "genesis-canonical", genesis.encoded())
        emit("roster", "rich-amendment-canonical", rich.encoded())
        emit("roster", "rich-genesis-canonical", richGenesis.encoded())
        var drillGenesis = richGenesis  // format 3: a drill policy
        drillGenesis.policy.drill = DrillPolicy(roles: ["safety", "*"], intervalMs: 7 * day, deadlineMs: 60_000)
        drillGenesis.format = Roster.format(for: drillGenesis.policy)
        precondition((try? drillGenesis.validate()) != nil, "seedgen: the drill genesis must be consistent")
        emit("roster", "drill-genesis-canonical", drillGenesis.encoded())
        emit("roster", "drill-genesis-json", GenesisDocument(roster: drillGenesis).fileBytes())
        var anonymousGenesis = drillGenesis  // format 4: anonymous halts allowed
        anonymousGenesis.policy.anonymous = AnonymousPolicy(perPeriod: 2, periodMs: 30 * day)  // the seeded halts' periods
        anonymousGenesis.format = Roster.format(for: anonymousGenesis.policy)
        precondition((try? anonymousGenesis.validate()) != nil, "seedgen: the anonymous genesis must be consistent")
        emit("roster", "anonymous-genesis-canonical", anonymousGenesis.encoded())
        emit("roster", "anonymous-genesis-json", GenesisDocument(roster: anonymousGenesis).fileBytes())
        var doc = GenesisDocument(roster: genesis)
        for n in ["alice", "bob", "carol", "dave", "erin"] { try! doc.sign(with: lab.keys[n]!) }
        emit("roster", "genesis-json", doc.fileBytes())
        var richDoc = GenesisDocument(roster: richGenesis)
        for n in ["alice", "bob", "carol"] { try! richDoc.sign(with: lab.keys[n]!) }
        emit("roster", "rich-genesis-json-partly-signed", richDoc.fileBytes())
        emit("roster", "rich-genesis-json-compact", Array(richDoc.json().serialized().utf8))
        emit("roster", "policy-defaults-json", Array("""
            {"format":"tiergate-roster-v1","roster":{"lab":"x","version":1,"previous":"\(String(repeating: "0", count: 64))",\
            "base_tier":0,"max_tier":1,"members":[{"name":"a","public_key":"\(FuzzGenesis.memberKeys[0].1)","roles":["r"]}],\
            "policy":{}},"signatures":[]}
            """.utf8))

        // Ledgers: every kind of frame.
        var ledger = LedgerFormat.header(genesis: gHash)
        for e in [p1, v1, v2, v3, v4, v5, h1, h2, r1, rv1, rv2, rv3, a1, av1, eq2, m1] { ledger += LedgerFormat.frame(.entry, payload: e.bytes) }
        ledger += LedgerFormat.frame(.detachedHalt, payload: detached.bytes)
        ledger += LedgerFormat.frame(.entry, payload: d1.bytes)
        ledger += LedgerFormat.frame(.detachedHalt, payload: ack.bytes)
        ledger += LedgerFormat.frame(.evidence, payload: LedgerFormat.evidencePayload(EquivocationEvidence(first: eq1, second: eq2)))
        emit("ledger", "every-frame-kind", ledger)
        emit("ledger", "torn-final-frame", Array(ledger.dropLast(7)))
        emit("ledger", "header-only", LedgerFormat.header(genesis: gHash))
        var misfed = LedgerFormat.header(genesis: gHash)
        for e in [v1, p1, h1, h1, detached] { misfed += LedgerFormat.frame(.entry, payload: e.bytes) }
        misfed += LedgerFormat.frame(.detachedHalt, payload: p1.bytes)
        misfed += LedgerFormat.frame(FrameType(rawValue: 3)!, payload: LedgerFormat.evidencePayload(EquivocationEvidence(first: eq1, second: eq1)))
        emit("ledger", "rule-breaking-frames", misfed)

        // Tokens (checked at FuzzGenesis.now with tier 1).
        let now = FuzzGenesis.now
        func token(_ entries: [SignedEntry], tier: UInt32 = 1, issued: UInt64 = now - minute, expires: UInt64 = now + 9 * minute,
                   attesters: [String] = ["alice"], attestedTier: UInt32 = 1, attestTime: UInt64? = nil) -> [UInt8] {
            var t = TierToken(lab: genesis.lab, genesis: gHash, tier: tier, issuedAt: issued, expiresAt: expires, entries: entries.map(\.bytes))
            let core = t.coreHash
            t.attestations = attesters.map { n in
                Attestation(core: core, key: lab.keys[n]!, time: attestTime ?? issued, digest: Blake2b.hash256([1, 2, 3]), tier: attestedTier)
            }
            return t.encoded()
        }
        let passed = [p1, v1, v2, v3, v4, v5]
        // The seeds must reach the steps they are named after (the token target checks tier 1 at `now`).
        func verdictOf(_ bytes: [UInt8]) -> String {
            do {
                _ = try TokenChecker.check(try! TierToken(decoding: bytes), genesis: genesis, tier: 1, now: now)
                return "allowed"
            } catch {
                switch error {
                case .notAuthorised: return "notAuthorised"
                case .attestations: return "attestations"
                case .expired: return "expired"
                case .ttlTooLong: return "ttlTooLong"
                default: return "\(error)"
                }
            }
        }
        let expectations: [([UInt8], String)] = [
            // The default freshness rule wants two members' nodes (SPEC §3.4): one attester is short.
            (token(passed), "attestations"), (token(passed, attesters: ["alice", "bob"]), "allowed"),
            (token(passed + [h1]), "notAuthorised"), (token(passed + [h1, h2, r1, rv1, rv2, rv3], attesters: ["alice", "bob"]), "allowed"),
            (token(passed, attesters: ["mallory"]), "attestations"), (token(passed, attesters: []), "attestations"),
            (token(passed, issued: now - 20 * minute, expires: now - 10 * minute), "expired"),
        ]
        for (i, (bytes, want)) in expectations.enumerated() where verdictOf(bytes) != want {
            complain("seedgen: token seed #\(i) checks as \(verdictOf(bytes)), expected \(want)")
            exit(1)
        }
        emit("token", "one-attester-short", token(passed))
        emit("token", "allowed-two-attesters", token(passed, attesters: ["alice", "bob"]))
        emit("token", "halted", token(passed + [h1]))
        emit("token", "resumed", token(passed + [h1, h2, r1, rv1, rv2, rv3], attesters: ["alice", "bob"]))
        emit("token", "amendment-and-votes", token(passed + [a1, av1, eq2]))
        emit("token", "tier2-not-authorised", token(passed, tier: 2, attestedTier: 2))
        emit("token", "expired", token(passed, issued: now - 20 * minute, expires: now - 10 * minute))
        emit("token", "ttl-too-long", token(passed, issued: now - minute, expires: now + 60 * minute))
        emit("token", "non-member-attester", token(passed, attesters: ["mallory"]))
        emit("token", "stale-attestation", token(passed, attestTime: now - 30 * minute))
        emit("token", "no-attestation", token(passed, attesters: []))
        emit("token", "no-entries", token([], attesters: []))

        // Wire frames: every message type, alone and as one stream.
        let att = Attestation(core: gHash, key: lab.keys["bob"]!, time: now, digest: Blake2b.hash256([9]), tier: 1)
        let msgs: [(String, WireMessage)] = [
            ("hello-node", .hello(version: 1, genesis: gHash, role: .node, name: "alice-node")),
            ("hello-client", .hello(version: 1, genesis: .zero, role: .client, name: "")),
            ("error", .error("rate limit exceeded")),
            ("entries", .entries([p1.bytes, v1.bytes, h1.bytes])),
            ("entries-empty", .entries([])),
            ("evidence", .evidence(first: eq1.bytes, second: eq2.bytes)),
            ("digest", .digest(Blake2b.hash256([7]))),
            ("frontier", .frontier(replyWanted: true, Frontier(
                heads: [FrontierHead(author: lab.keys["alice"]!.publicKey, seq: 3, head: r1.id),
                        FrontierHead(author: lab.keys["bob"]!.publicKey, seq: 2, head: rv1.id)].sorted { $0.author < $1.author },
                detachedHalts: [h1.id, h2.id].sorted(), evidenceAuthors: [lab.keys["erin"]!.publicKey]))),
            ("submit", .submit(request: 7, entry: a1.bytes)),
            ("ack", .ack(request: 7, status: .rejected, reason: "beyond a gap")),
            ("status-request", .statusRequest(request: 8, StatusQuery(offset: 0, limit: 100))),
            ("status-request-one", .statusRequest(request: 8, StatusQuery(proposal: r1.id))),
            ("status", .status(request: 8, NodeStatus(verdict: Verdict.compute(genesis: lab.genesis, tally: Tally(), at: t0)))),
            ("head-request", .headRequest(request: 9, author: lab.keys["carol"]!.publicKey)),
            ("head", .head(request: 9, seq: 1, id: a1.id, time: t0, entry: a1.bytes)),
            ("head-none", .head(request: 9, seq: 0, id: .zero, time: 0, entry: [])),
            ("export-request", .exportRequest(request: 10)),
            ("export", .export(request: 10, last: true, chunk: Array(ledger.prefix(600)))),
            ("token-request", .tokenRequest(request: 11, tier: 1)),
            ("token", .token(request: 11, reason: "", token: token(passed))),
            ("token-refused", .token(request: 11, reason: "not authorised: tier 0", token: [])),
            ("attest-request", .attestRequest(request: 12, core: gHash, tier: 1, issuedAt: now)),
            ("attest", .attest(request: 12, reason: "", attestation: att)),
            ("attest-refused", .attest(request: 12, reason: "halted", attestation: nil)),
        ]
        var stream: [UInt8] = []
        for (n, m) in msgs {
            emit("frame", n, m.encodedFrame())
            stream += m.encodedFrame()
        }
        emit("frame", "stream-all-types", stream)
        emit("frame", "oversized-length", [0x00, 0x40, 0x00, 0x01, 1])
        emit("frame", "zero-length", [0, 0, 0, 0])

        // Hand-made hostile inputs from code review (OUT_DIR/review/TARGET-NAME.bin; not copied to any corpus:
        // replay them with `scripts/fuzz replay TARGET FILE`). Mirrored in FuzzRegressionTests.
        // 1. A roster at the top tier (base = max = UInt32.max) with an advance override: Roster.validate()'s error
        //    message computes `baseTier + 1`.
        var top = richGenesis
        top.baseTier = .max
        top.maxTier = .max
        emit("review", "roster-canonical-top-tier-override", top.encoded())
        emit("review", "roster-json-top-tier-override", GenesisDocument(roster: top).fileBytes())
        var topNext = top
        topNext.version = 2
        topNext.previous = gHash
        var reviewLab = Author(genesis: genesis, names: ["carol"])
        let topAmend = reviewLab.sign("carol", .proposal(Proposal(action: .amend(topNext), title: "amend", closesAt: t0 + day)), at: t0)
        emit("review", "entry-amend-top-tier-override", topAmend.bytes)
        emit("review", "frame-submit-amend-top-tier-override", WireMessage.submit(request: 1, entry: topAmend.bytes).encodedFrame())
        emit("review", "ledger-amend-top-tier-override", LedgerFormat.header(genesis: gHash) + LedgerFormat.frame(.entry, payload: topAmend.bytes))
        emit("review", "token-unsigned-amend-top-tier-override", token(passed + [topAmend]))
        // 2. A member's attestation dated at the end of time: TokenChecker computes `a.time + maxSkewMs`.
        emit("review", "token-attestation-time-max", token(passed, attestTime: .max))
        // 3. A roster file whose rule has many role minimums: Rule(json:) looks each key up linearly (quadratic).
        var keys: [String] = []
        var i = 0
        var size = 0
        while size < 1_000_000 - 4096 {
            let k = "\"r\(i)\":1"
            keys.append(k)
            size += k.utf8.count + 1
            i += 1
        }
        emit("review", "roster-json-many-role-minimums", Array("""
            {"format":"tiergate-roster-v1","roster":{"lab":"x","version":1,"previous":"\(String(repeating: "0", count: 64))",\
            "base_tier":0,"max_tier":1,"members":[{"name":"a","public_key":"\(FuzzGenesis.memberKeys[0].1)","roles":["r"]}],\
            "policy":{"advance":{"min_yes":1,"role_minimums":{\(keys.joined(separator: ","))}}}},"signatures":[]}
            """.utf8))
        linkSeeds(emit)
        print("seedgen: wrote \(count) seed files to \(out)")
    }
}

// MARK: - Secure link (`link` target)

private func sends(_ outputs: [SecureLink.Output]) -> [UInt8] {
    outputs.reduce(into: []) { acc, o in if case .send(let b) = o { acc += b } }
}

/// Exits unless FuzzLink's fixed session sends the wire bytes of protocol-spec/vectors/noise.json.
private func checkNoiseVector(_ path: String) {
    func fail(_ why: String) -> Never {
        complain("seedgen: \(path): \(why)")
        exit(1)
    }
    guard let bytes = readFile(path), let doc = try? JSONValue.parse(bytes) else { fail("cannot read the vector") }
    func wire(_ v: JSONValue) -> [UInt8] {
        guard case .string(let h)? = v["wire_hex"], let b = Hex.decode(h) else { fail("no wire_hex") }
        return b
    }
    guard case .array(let hs)? = doc["handshake"], hs.count == 3, case .array(let transport)? = doc["transport"] else {
        fail("no handshake or transport")
    }
    guard case .string(let g)? = doc["genesis_hex"], g == FuzzLink.genesis.hex else { fail("another genesis") }
    let s = FuzzLink.session
    guard hs.map(wire) == [s.dialer[0], s.listener[0], s.dialer[1]] else {
        fail("the fixed session's handshake differs from the vector's (keys or ephemeral keys derived differently?)")
    }
    let toResponder = transport.filter { $0["direction"] == .string("initiator->responder") }.map(wire)
    let toInitiator = transport.filter { $0["direction"] == .string("responder->initiator") }.map(wire)
    guard toResponder == Array(s.dialer[2..<(2 + toResponder.count)]), toInitiator == Array(s.listener[1..<(1 + toInitiator.count)]) else {
        fail("the fixed session's transport messages differ from the vector's")
    }
}

/// Seeds of the `link` target (selector byte, then payload; see Fuzz/link.swift), and its hostile review inputs.
private func linkSeeds(_ emit: (String, String, [UInt8]) -> Void) {
    let s = FuzzLink.session
    let dialer = s.dialer.flatMap { $0 }, listener = s.listener.flatMap { $0 }
    let r = FuzzLink.rawResponder, i = FuzzLink.rawInitiator, refuse = FuzzLink.refuseBit
    let td = FuzzLink.tamperDialer | FuzzLink.editsBit, tl = FuzzLink.tamperListener | FuzzLink.editsBit
    // Raw streams: the whole fixed session from each side, with and without refusal, in chunks, cut, with garbage.
    emit("link", "responder-session", [r] + dialer)
    emit("link", "responder-session-refusing", [r | refuse] + dialer)
    emit("link", "responder-session-3-chunks", [r | 8] + dialer)
    emit("link", "responder-session-garbage", [r] + dialer + [0, 20] + [UInt8](repeating: 0x41, count: 20))
    emit("link", "responder-session-cut", [r] + dialer.dropLast(5))
    emit("link", "initiator-session", [i] + listener)
    emit("link", "initiator-session-refusing", [i | refuse] + listener)
    emit("link", "initiator-session-3-chunks", [i | 16] + listener)
    emit("link", "initiator-session-cut", [i] + listener.dropLast(5))

    // Other members with their own ephemeral keys against the fixed ends: carol dials the fixed responder, dave
    // answers the fixed initiator (other keys reach authorize and .established).
    func ephemeral(_ name: String) -> X25519.KeyPair {
        X25519.KeyPair(secret: Blake2b.hash256(Array("tiergate/v1/vector-ephemeral/\(name)".utf8)).bytes)
    }
    do {
        var carol = SecureLink(role: .initiator, genesis: FuzzLink.genesis, identity: FuzzLink.vectorKey("carol"), ephemeral: ephemeral("carol"))
        var fixedR = FuzzLink.link(.responder)
        let m1 = sends(try carol.start())
        let m2 = sends(try fixedR.receive(m1) { _ in nil })
        let m3 = sends(try carol.receive(m2) { _ in nil })
        emit("link", "responder-carol", [r] + m1 + m3 + (try carol.seal(Array("HELLO from carol".utf8))) + (try carol.seal([])))

        var fixedI = FuzzLink.link(.initiator)
        var dave = SecureLink(role: .responder, genesis: FuzzLink.genesis, identity: FuzzLink.vectorKey("dave"), ephemeral: ephemeral("dave"))
        let d1 = sends(try fixedI.start())
        let d2 = sends(try dave.receive(d1) { _ in nil })
        let d3 = sends(try fixedI.receive(d2) { _ in nil })
        _ = try dave.receive(d3) { _ in nil }
        emit("link", "initiator-dave", [i] + d2 + (try dave.seal(Array("HELLO from dave".utf8))))

        // The largest transport message (65,519 plaintext bytes, length 65,535), from a fresh copy of the session.
        var li = FuzzLink.link(.initiator), lr = FuzzLink.link(.responder)
        let n1 = sends(try li.start())
        let n2 = sends(try lr.receive(n1) { _ in nil })
        let n3 = sends(try li.receive(n2) { _ in nil })
        let big = try li.seal([UInt8](repeating: 0x5a, count: SecureLink.maxPlaintextChunk))
        emit("link", "responder-largest-message", [r] + n1 + n3 + big)
    } catch {
        complain("seedgen: link seeds: \(error)")
        exit(1)
    }

    // Tampering (edits [op, i, hi, lo, v]; op 0 XOR, 1 set, 2 truncate, 3 copy to, 4 delete, 5 swap, 6 keep, 7 insert).
    let edits: [(String, [UInt8])] = [
        ("genuine", []),
        ("message-1-flip", [0, 0, 0, 5, 0x01]),
        ("message-1-length", [0, 0, 0, 1, 0x01]),
        ("message-3-static-flip", [0, 1, 0, 40, 0x80]),
        ("message-3-identity-flip", [0, 1, 0, 150, 0x01]),
        ("message-3-tag-flip", [0, 1, 0, 161, 0x01]),
        ("transport-0-flip", [0, 2, 0, 10, 0x01]),
        ("transport-2-length", [0, 4, 0, 1, 0x01]),
        ("transport-2-length-below-tag", [1, 4, 0, 1, 0x0f]),
        ("transport-3-truncated", [2, 5, 0, 10, 0]),
        ("transport-1-replayed", [3, 3, 0, 4, 0]),
        ("transport-0-dropped", [4, 2, 0, 0, 0]),
        ("transports-swapped", [5, 3, 0, 4, 0]),
        ("cut-after-message-3", [6, 2, 0, 0, 0]),
        ("message-1-twice", [3, 0, 0, 1, 0]),
        ("garbage-inserted", [7, 3, 0x00, 0x01, 0x41]),
        ("huge-length-appended", [7, 7, 0xff, 0xff, 0x00]),
    ]
    for (name, e) in edits {
        emit("link", "tamper-dialer-\(name)", [td] + e)
    }
    emit("link", "tamper-dialer-refusing", [td | refuse])
    emit("link", "tamper-listener-genuine", [tl])
    emit("link", "tamper-listener-refusing", [tl | refuse])
    emit("link", "tamper-listener-message-2-flip", [tl, 0, 0, 0, 100, 0x04])
    emit("link", "tamper-listener-transport-flip", [tl, 0, 2, 0, 20, 0x04])
    emit("link", "tamper-listener-transport-dropped", [tl, 4, 1, 0, 0, 0])
    // XOR masks (u16 offset || mask): one bit of message 3, of the first transport message; the ephemeral key of
    // message 1 / 2 replaced by the small-order point 0 (a DH with it is all zero).
    emit("link", "mask-dialer-message-3", [FuzzLink.tamperDialer, 0, 40, 0x10])
    emit("link", "mask-dialer-transport", [FuzzLink.tamperDialer, 0, 200, 0, 0x01])
    emit("link", "mask-dialer-small-order-key", [FuzzLink.tamperDialer, 0, 2] + Array(s.dialer[0][2..<34]))
    emit("link", "mask-listener-small-order-key", [FuzzLink.tamperListener, 0, 2] + Array(s.listener[0][2..<34]))

    // Hand-made hostile inputs (review/; mirrored in FuzzRegressionTests.hostileLinks).
    let m1 = s.dialer[0], m3 = s.dialer[1], m2 = s.listener[0]
    emit("review", "link-responder-zero-length", [r, 0, 0, 0])
    emit("review", "link-responder-length-65535", [r, 0xff, 0xff] + [UInt8](repeating: 0, count: 100))
    emit("review", "link-responder-truncated-message-1", [r] + m1.prefix(20))
    emit("review", "link-responder-message-1-then-garbage", [r] + m1 + [0xde, 0xad, 0xbe, 0xef])
    emit("review", "link-responder-transport-length-15", [r] + m1 + m3 + [0, 15] + [UInt8](repeating: 0, count: 15))
    emit("review", "link-initiator-transport-length-65535", [i] + m2 + [0xff, 0xff] + [UInt8](repeating: 0, count: 10))
}
