import Testing
import TiergateCore
import TiergateTestKit

/// Linkable ring signatures (SPEC.md §2.5) and anonymous halts (§4.1, §5.4): a halt provably by one of the members
/// who may halt, not saying which, counted like a halt, lifted only by a resume, with a per-period quota by key image.
struct AnonymousHaltTests {
    /// A lab whose policy allows `perPeriod` anonymous halts per member per day; dave is an auditor without halt
    /// authority, gate-a an observer.
    static func lab(perPeriod: UInt32 = 1) -> Lab {
        Lab(members: [("alice", ["leader"]), ("bob", ["safety"]), ("carol", ["board"]), ("dave", ["auditor"]), ("erin", ["staff"]),
                      ("gate-a", ["observer"])],
            policy: { _ in
                var p = Policy.defaultPolicy(memberCount: 5)
                p.haltRoles = ["board", "leader", "safety", "staff"]
                p.anonymous = AnonymousPolicy(perPeriod: perPeriod, periodMs: day)
                return p
            })
    }

    static let ctx = RingSignature.Context(genesis: Blake2b.hash256(Array("ring test".utf8)), period: 7, slot: 0)
    static let keys = ["alice", "bob", "carol", "erin"].map { VectorKeys.key($0) }
    static var ring: [PublicKey] { keys.map(\.publicKey).sorted() }

    // MARK: - The ring signature (§2.5)

    @Test func everyMemberOfTheRingCanSignAndEachSignatureVerifies() throws {
        let message = Array("stop".utf8)
        var images = Set<[UInt8]>()
        for k in Self.keys {
            let (image, sig) = try RingSignature.sign(message: message, ring: Self.ring, signer: k, context: Self.ctx)
            #expect(RingSignature.verify(message: message, ring: Self.ring, image: image, signature: sig, context: Self.ctx))
            #expect(sig.count == 32 * (Self.ring.count + 1))
            images.insert(image)
        }
        #expect(images.count == Self.keys.count, "each member has its own key image")
    }

    /// Linkability: one key, one context → one image, whatever the message; another slot or period or lab → another.
    @Test func theKeyImageLinksOneKeyInOneContextOnly() throws {
        let k = Self.keys[1]
        let a = try RingSignature.sign(message: [1], ring: Self.ring, signer: k, context: Self.ctx)
        let b = try RingSignature.sign(message: [2], ring: Self.ring, signer: k, context: Self.ctx)
        #expect(a.image == b.image)
        #expect(a.signature != b.signature)
        for other in [RingSignature.Context(genesis: Self.ctx.genesis, period: 8, slot: 0),
                      RingSignature.Context(genesis: Self.ctx.genesis, period: 7, slot: 1),
                      RingSignature.Context(genesis: Blake2b.hash256([9]), period: 7, slot: 0)] {
            #expect(RingSignature.keyImage(of: k, other) != a.image)
            // A signature made in one context does not verify in another (the hash points differ).
            #expect(!RingSignature.verify(message: [1], ring: Self.ring, image: a.image, signature: a.signature, context: other))
        }
    }

    @Test func forgeriesAndWrongRingsAreRefused() throws {
        let message = Array("stop".utf8)
        let (image, sig) = try RingSignature.sign(message: message, ring: Self.ring, signer: Self.keys[0], context: Self.ctx)
        // Another message, another ring (a member dropped, an outsider added), a reordered ring.
        #expect(!RingSignature.verify(message: message + [0], ring: Self.ring, image: image, signature: sig, context: Self.ctx))
        let outsider = VectorKeys.key("mallory")
        let withOutsider = (Self.ring.dropLast() + [outsider.publicKey]).sorted()
        #expect(!RingSignature.verify(message: message, ring: withOutsider, image: image, signature: sig, context: Self.ctx))
        #expect(!RingSignature.verify(message: message, ring: Array(Self.ring.reversed()), image: image, signature: sig, context: Self.ctx))
        // A non-member signing a ring of members: it is not in the ring.
        #expect(throws: RingSignature.RingError.notInRing) { try RingSignature.sign(message: message, ring: Self.ring, signer: outsider, context: Self.ctx) }
        // A non-member who puts itself in the ring signs validly for that ring — which is why the decision rule
        // demands the ring be exactly the halt set (tested below), and it does not verify for the real ring.
        let ownRing = (Self.ring + [outsider.publicKey]).sorted()
        let forged = try RingSignature.sign(message: message, ring: ownRing, signer: outsider, context: Self.ctx)
        #expect(RingSignature.verify(message: message, ring: ownRing, image: forged.image, signature: forged.signature, context: Self.ctx))
        #expect(!RingSignature.verify(message: message, ring: Self.ring, image: forged.image, signature: Array(forged.signature.prefix(32 * 5)), context: Self.ctx))
        // Random scalars, a swapped image, the identity as image, non-canonical scalars (s + L).
        let random = (0..<(Self.ring.count + 1)).flatMap { _ in Blake2b.hash256(Sodium.randomBytes(8)).bytes.prefix(31) + [0] }
        #expect(!RingSignature.verify(message: message, ring: Self.ring, image: image, signature: random, context: Self.ctx))
        let otherImage = RingSignature.keyImage(of: Self.keys[1], Self.ctx)
        #expect(!RingSignature.verify(message: message, ring: Self.ring, image: otherImage, signature: sig, context: Self.ctx))
        #expect(!RingSignature.verify(message: message, ring: Self.ring, image: [1] + [UInt8](repeating: 0, count: 31), signature: sig, context: Self.ctx))
        var nonCanonical = sig
        Self.addL(&nonCanonical, at: 32)
        #expect(!RingSignature.isCanonicalScalar(Array(nonCanonical[32..<64])))
        #expect(!RingSignature.verify(message: message, ring: Self.ring, image: image, signature: nonCanonical, context: Self.ctx))
    }

    /// Adds L to the scalar at `offset` (the same residue, a non-canonical encoding).
    static func addL(_ b: inout [UInt8], at offset: Int) {
        let l: [UInt8] = [0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14] + [UInt8](repeating: 0, count: 15) + [0x10]
        var carry = 0
        for i in 0..<32 {
            let v = Int(b[offset + i]) + Int(l[i]) + carry
            b[offset + i] = UInt8(v & 0xff)
            carry = v >> 8
        }
    }

    // MARK: - The anonymous halt entry (§4.1, §4.2)

    @Test func everySingleByteFlipOfAnAnonymousHaltIsRefused() throws {
        let lab = Self.lab()
        let e = lab.anonymousHalt("bob", at: t0)
        #expect(try SignedEntry(decoding: e.bytes).verified(lab: "acme", genesis: lab.genesis.hash).id == e.id)
        var accepted: [Int] = []
        for i in 0..<e.bytes.count {
            var b = e.bytes
            b[i] ^= 0x01
            if let x = try? SignedEntry(decoding: b), x.signatureIsValid, x.entry.lab == "acme", x.entry.genesis == lab.genesis.hash { accepted.append(i) }
        }
        #expect(accepted.isEmpty, "flips accepted at \(accepted)")
    }

    @Test func anAnonymousHaltBoundToAnotherLabOrGenesisIsRefused() throws {
        let lab = Self.lab()
        let other = Lab(lab: "acme", members: [("alice", ["leader"]), ("bob", ["safety"])], policy: { _ in
            var p = Policy.defaultPolicy(memberCount: 2)
            p.anonymous = AnonymousPolicy(perPeriod: 1, periodMs: day)
            return p
        })
        let theirs = other.anonymousHalt("bob", at: t0)
        #expect(throws: EntryError.wrongGenesis) { try theirs.verified(lab: "acme", genesis: lab.genesis.hash) }
        // Re-labelled for this genesis, the ring signature (bound to the content and the genesis) fails.
        var entry = theirs.entry
        entry.genesis = lab.genesis.hash
        let relabelled = try SignedEntry(decoding: entry.encoded() + theirs.signature)
        #expect(!relabelled.signatureIsValid)
    }

    // MARK: - The decision rule (§5.4)

    @Test func anAnonymousHaltStopsTheLabAndOnlyAResumeLiftsIt() throws {
        var lab = Self.lab()
        let p = lab.propose("alice", tier: 1, at: t0)
        let votes = ["alice", "bob", "carol"].map { lab.vote($0, p, at: t0 + 1) }
        let halt = lab.anonymousHalt("erin", at: t0 + hour)
        var v = lab.verdict([p] + votes, at: t0 + hour - 1)
        #expect(v.authorizedTier == 1)
        v = lab.verdict([p] + votes + [halt], at: t0 + hour + 1)
        #expect(v.halted && v.authorizedTier == 0)
        let shown = try #require(v.activeHalts.first)
        #expect(shown.member == "anonymous (one of 4 members who may halt)" && shown.ringSize == 4 && shown.keyImage == halt.entry.author)
        #expect(!v.history.last!.cause.contains("erin"))
        let r = lab.resume("alice", tier: 1, halts: [halt.id], at: t0 + 2 * hour)
        let rv = ["alice", "bob", "carol"].map { lab.vote($0, r, at: t0 + 2 * hour + 1) }
        v = lab.verdict([p] + votes + [halt, r] + rv, at: t0 + 3 * hour)
        #expect(!v.halted && v.authorizedTier == 1)
        #expect(v.halts.first?.resolvedBy == r.id)
    }

    @Test func aRingThatIsNotTheHaltSetDoesNotCount() throws {
        let lab = Self.lab()
        let g = lab.genesis
        let all = g.policy.haltSet(in: g)
        func code(_ e: SignedEntry) -> ReasonCode? {
            let v = lab.verdict([e], at: t0 + hour)
            #expect(!v.halted || v.ignored.isEmpty)
            return v.ignored.first { $0.id == e.id }?.reason.code
        }
        // A member dropped from the ring (a smaller crowd), a non-halting member (dave) or an observer added, an
        // outsider added: none counts.
        let bob = VectorKeys.key("bob").publicKey
        #expect(code(lab.anonymousHalt("bob", at: t0, ring: all.filter { $0 == bob || $0 == VectorKeys.key("alice").publicKey }.sorted())) == .anonymousHaltWrongRing)
        #expect(code(lab.anonymousHalt("bob", at: t0, ring: (all + [VectorKeys.key("dave").publicKey]).sorted())) == .anonymousHaltWrongRing)
        #expect(code(lab.anonymousHalt("bob", at: t0, ring: (all + [VectorKeys.key("gate-a").publicKey]).sorted())) == .anonymousHaltWrongRing)
        var withOutsider = lab
        withOutsider.addOutsider("mallory")
        let m = withOutsider.anonymousHalt("mallory", at: t0, ring: (all + [VectorKeys.key("mallory").publicKey]).sorted())
        #expect(m.signatureIsValid)
        #expect(code(m) == .anonymousHaltWrongRing)
        // The right ring counts.
        #expect(lab.verdict([lab.anonymousHalt("bob", at: t0)], at: t0 + hour).halted)
        // A wrong period, a slot beyond the quota.
        #expect(code(lab.anonymousHalt("bob", at: t0, period: 3)) == .anonymousHaltWrongPeriod)
        #expect(code(lab.anonymousHalt("bob", at: t0, slot: 1)) == .anonymousHaltNotAllowed)
        // A roster that does not allow them.
        var plain = Lab(members: [("alice", ["leader"]), ("bob", ["safety"]), ("carol", ["board"])])
        plain.addOutsider("x")
        let notAllowed = plain.anonymousHalt("bob", at: t0, period: 0)
        #expect(plain.verdict([notAllowed], at: t0 + hour).ignored.first?.reason.code == .anonymousHaltNotAllowed)
    }

    @Test func aReusedKeyImageIsEvidenceAndBothHaltsCount() throws {
        var lab = Self.lab(perPeriod: 2)
        let first = lab.anonymousHalt("carol", at: t0, reason: "one")
        let second = lab.anonymousHalt("carol", at: t0 + minute, reason: "two")  // same period, same slot
        let third = lab.anonymousHalt("carol", at: t0 + 2 * minute, slot: 1, reason: "three")  // the second slot: no reuse
        #expect(first.entry.author == second.entry.author && first.id != second.id)
        #expect(third.entry.author != first.entry.author)
        let v = lab.verdict([first, second, third], at: t0 + hour)
        #expect(v.halted && v.activeHalts.count == 3)
        #expect(v.keyImageReuse == [KeyImageReuse(keyImage: first.entry.author, ids: [first.id, second.id].sorted())])
        // Lifting one leaves the lab halted by the others (fail closed).
        let r = lab.resume("alice", tier: 0, halts: [first.id], at: t0 + 2 * hour)
        let rv = ["alice", "bob", "carol"].map { lab.vote($0, r, at: t0 + 2 * hour + 1) }
        #expect(lab.verdict([first, second, third, r] + rv, at: t0 + 3 * hour).halted)
        // The JSON reports the reuse and marks the halts anonymous.
        let j = v.json()
        #expect(j["key_image_reuse"] != .array([]))
        if case .array(let halts)? = j["halts"] { #expect(halts.allSatisfy { $0["anonymous"] == .bool(true) }) }
    }

    /// An amendment removing a member makes rings of the older version stop counting after it takes effect (an
    /// ex-member cannot halt anonymously), while such a halt dated before the change still counts.
    @Test func aRemovedMemberCannotHaltAnonymouslyWithAnOldRing() throws {
        var lab = Self.lab()
        var next = lab.genesis
        next.version = 2
        next.previous = lab.genesis.hash
        next.members.removeAll { $0.name == "erin" }
        next.policy.freshness = FreshnessRule(minAttesters: 2)
        try next.validate()
        let a = lab.amend("alice", to: next, at: t0 + hour)
        let votes = ["alice", "bob", "carol", "dave"].map { lab.vote($0, a, at: t0 + hour + 1) }
        let before = lab.anonymousHalt("erin", at: t0 + minute)  // v1 in force: counts
        let after = lab.anonymousHalt("erin", at: t0 + 2 * hour)  // v2 in force, ring of v1 holds erin
        let v = lab.verdict([a] + votes + [before, after], at: t0 + 3 * hour)
        #expect(v.rosterVersion == 2)
        #expect(v.activeHalts.map(\.id) == [before.id])
        #expect(v.ignored.first { $0.id == after.id }?.reason.code == .anonymousHaltWrongRing)
        // A member of v2 signing with v2's ring counts.
        #expect(lab.verdict([a] + votes + [lab.anonymousHalt("bob", at: t0 + 2 * hour, roster: next)], at: t0 + 3 * hour).halted)
    }

    // MARK: - Storing (§8.3)

    /// Over a client link proved by an observer key: an anonymous halt is stored (observers may carry them), a copy is
    /// "already stored", and one whose ring signature does not verify is refused and closes the link.
    @Test func anyRosterKeyCarriesAnAnonymousHaltAndABadOneClosesTheLink() throws {
        let lab = Self.lab()
        var node = GossipNode(store: EntryStore(genesis: lab.genesis))
        let observer = VectorKeys.key("gate-a").publicKey
        func client(_ id: Int) {
            _ = node.connected(id, outbound: false, now: t0, key: observer)
            _ = node.received(.hello(version: 1, genesis: lab.genesis.hash, role: .client, name: "cluster"), from: id, now: t0)
        }
        func ack(_ ds: [Directive]) -> AckStatus? {
            for d in ds { if case .send(_, .ack(_, let status, _)) = d { return status } }
            return nil
        }
        func closes(_ ds: [Directive]) -> Bool { ds.contains { if case .close = $0 { true } else { false } } }
        client(1)
        let h = lab.anonymousHalt("bob", at: t0)
        #expect(ack(node.received(.submit(request: 1, entry: h.bytes), from: 1, now: t0)) == .stored)
        #expect(ack(node.received(.submit(request: 2, entry: h.bytes), from: 1, now: t0)) == .alreadyStored)
        #expect(node.store.verdict(at: t0 + 1).halted)
        var forged = lab.anonymousHalt("carol", at: t0).bytes
        forged[forged.count - 1] ^= 1  // the last s
        let ds = node.received(.submit(request: 3, entry: forged), from: 1, now: t0)
        #expect(ack(ds) == .rejected && closes(ds))
        // SUBMIT takes one only near its signing time: in its period or the next, and not ahead of the clock.
        client(3)
        let previous = lab.anonymousHalt("alice", at: t0 - day + minute)
        let older = lab.anonymousHalt("erin", at: t0 - 2 * day)
        let ahead = lab.anonymousHalt("carol", at: t0 + hour)
        #expect(ack(node.received(.submit(request: 5, entry: older.bytes), from: 3, now: t0 + minute)) == .rejected)
        #expect(ack(node.received(.submit(request: 6, entry: ahead.bytes), from: 3, now: t0 + minute)) == .rejected)
        #expect(ack(node.received(.submit(request: 7, entry: previous.bytes), from: 3, now: t0 + minute)) == .stored)
        // From a peer node, an old one is still taken (it may have waited in a partition).
        var peer = GossipNode(store: EntryStore(genesis: lab.genesis))
        _ = peer.connected(9, outbound: false, now: t0, key: VectorKeys.key("alice").publicKey)
        _ = peer.received(.hello(version: 1, genesis: lab.genesis.hash, role: .node, name: "alice"), from: 9, now: t0)
        _ = peer.received(.entries([older.bytes]), from: 9, now: t0 + minute)
        #expect(peer.store.holdsDetached(older.id))
        // A ring no roster accepts is refused before any signature check, and the link stays.
        client(2)
        let bobKey = VectorKeys.key("bob").publicKey
        let small = lab.anonymousHalt("bob", at: t0, ring: [bobKey, VectorKeys.key("alice").publicKey].sorted())
        let refused = node.received(.submit(request: 4, entry: small.bytes), from: 2, now: t0)
        #expect(ack(refused) == .rejected && !closes(refused))
    }

    /// A node stores an anonymous halt from a peer's ENTRIES whatever its date (it may have waited in a partition),
    /// but one outside the window a SUBMIT is held to is reported to the operator, after it is persisted, naming the
    /// peer it came from (SPEC.md §8.3): a member who runs a node can date halts into other periods, and this is
    /// where it shows.
    @Test func anAnonymousHaltFromAPeerOutsideTheSubmitWindowIsReported() throws {
        let lab = Self.lab()
        var node = GossipNode(store: EntryStore(genesis: lab.genesis))
        _ = node.connected(9, outbound: false, now: t0, key: VectorKeys.key("erin").publicKey)
        _ = node.received(.hello(version: 1, genesis: lab.genesis.hash, role: .node, name: "erin's node"), from: 9, now: t0)
        let now = t0 + 3 * day + hour
        func notices(_ ds: [Directive]) -> [NodeNotice] { ds.compactMap { if case .notice(let n) = $0 { n } else { nil } } }

        let inWindow = [lab.anonymousHalt("alice", at: now - minute), lab.anonymousHalt("bob", at: now - day)]
        let older = lab.anonymousHalt("erin", at: now - 2 * day - hour)
        let ahead = lab.anonymousHalt("carol", at: now + hour)
        let ds = node.received(.entries((inWindow + [older, ahead]).map(\.bytes)), from: 9, now: now)
        for h in inWindow + [older, ahead] { #expect(node.store.holdsDetached(h.id), "every one is stored and counts") }
        #expect(notices(ds) == [
            .anonymousHaltOutOfWindow(id: older.id, keyImage: older.entry.author, time: older.entry.time, ahead: false, from: 9, fromMember: "erin"),
            .anonymousHaltOutOfWindow(id: ahead.id, keyImage: ahead.entry.author, time: ahead.entry.time, ahead: true, from: 9, fromMember: "erin"),
        ])
        // Reported after the append that holds them, never before it is durable.
        let persistAt = try #require(ds.firstIndex { $0.isPersist })
        let firstNotice = try #require(ds.firstIndex { if case .notice = $0 { true } else { false } })
        #expect(persistAt < firstNotice)
        // A copy already held is not reported again; nor is a named halt, whose date carries no quota.
        #expect(notices(node.received(.entries([older.bytes]), from: 9, now: now)).isEmpty)
        var named = lab
        let halt = named.halt("erin", at: now - 2 * day)
        #expect(notices(node.received(.entries([halt.bytes]), from: 9, now: now)).isEmpty)
        #expect(node.store.tally.halts[halt.id] != nil)
    }

    /// After an amendment turns anonymous halts off, one naming the earlier version is still held to the SUBMIT
    /// window (by that version's periods) and reported from a peer: else a member could date one back to when they
    /// were on, where it would count.
    @Test func turningAnonymousHaltsOffDoesNotOpenTheWindow() throws {
        var lab = Self.lab()
        var next = lab.genesis
        next.version = 2
        next.previous = lab.genesis.hash
        next.policy.anonymous = .default
        next.format = Roster.format(for: next.policy)
        try next.validate()
        let a = lab.amend("alice", to: next, at: t0 + hour)
        let votes = ["alice", "bob", "carol", "dave"].map { lab.vote($0, a, at: t0 + hour + 1) }
        var store = EntryStore(genesis: lab.genesis)
        for e in [a] + votes { _ = try store.insert(e) }
        var node = GossipNode(store: store)
        let now = t0 + 3 * day
        #expect(node.verdict(now: now).rosterVersion == 2)
        _ = node.connected(1, outbound: false, now: now, key: VectorKeys.key("gate-a").publicKey)
        _ = node.received(.hello(version: 1, genesis: lab.genesis.hash, role: .client, name: "cluster"), from: 1, now: now)
        _ = node.connected(9, outbound: false, now: now, key: VectorKeys.key("erin").publicKey)
        _ = node.received(.hello(version: 1, genesis: lab.genesis.hash, role: .node, name: "erin's node"), from: 9, now: now)

        let backdated = lab.anonymousHalt("erin", at: t0 + minute)  // v1 in force then: it would count
        let answer = node.received(.submit(request: 1, entry: backdated.bytes), from: 1, now: now)
        let refusal = answer.compactMap { if case .send(_, .ack(_, .rejected, let why)) = $0 { why } else { nil } }.first
        #expect(refusal?.contains("before the previous period") == true, "\(answer)")
        let fromPeer = node.received(.entries([backdated.bytes]), from: 9, now: now)
        #expect(fromPeer.contains { if case .notice(.anonymousHaltOutOfWindow(id: backdated.id, _, _, false, 9, "erin")) = $0 { true } else { false } })
        #expect(node.store.verdict(at: now).halted, "from a peer it is stored and counts (dated when v1 was in force)")
    }

    @Test func aNodeStoresOnlyAnonymousHaltsThatFitARosterItKnows() throws {
        let lab = Self.lab()
        var store = EntryStore(genesis: lab.genesis)
        let good = lab.anonymousHalt("bob", at: t0)
        let out = try store.insert(good)
        #expect(out.detachedHalt?.id == good.id && store.holdsDetached(good.id))
        #expect(try store.insert(good).duplicate)
        #expect(store.frontier.detachedHalts.contains(good.id))
        var withOutsider = lab
        withOutsider.addOutsider("mallory")
        let all = lab.genesis.policy.haltSet(in: lab.genesis)
        let bad = withOutsider.anonymousHalt("mallory", at: t0, ring: (all + [VectorKeys.key("mallory").publicKey]).sorted())
        #expect(throws: StoreRejection.self) { try store.insert(bad) }
        // A reused key image is kept (both count).
        let again = lab.anonymousHalt("bob", at: t0 + 1, reason: "again")
        #expect(try !store.insert(again).duplicate)
        #expect(store.tally.halts.count == 2)
    }
}

/// protocol-spec/vectors/ring.json (SPEC.md §11): ring signatures by vector keys with deterministic nonces, valid and
/// invalid, and `crypto_core_ed25519_from_uniform` cases; `tools/check_vectors.py` recomputes them from the spec.
struct RingVectorTests {
    static let genesis = Blake2b.hash256(Array("tiergate/v1/vector-genesis".utf8))

    struct Case {
        var name: String
        var ring: [PublicKey]
        var signer: String?
        var ctx: RingSignature.Context
        var message: [UInt8]
        var image: [UInt8]
        var signature: [UInt8]
        var nonceSeed: [UInt8]?
        var valid: Bool
    }

    static func cases() throws -> [Case] {
        func key(_ n: String) -> SigningKey { VectorKeys.key(n) }
        func ring(_ names: [String]) -> [PublicKey] { names.map { key($0).publicKey }.sorted() }
        func signed(_ name: String, _ names: [String], signer: String, period: UInt64, slot: UInt32, message: String, nonce: String) throws -> Case {
            let ctx = RingSignature.Context(genesis: genesis, period: period, slot: slot)
            let seed = Array("tiergate/v1/vector-ring-nonce/\(nonce)".utf8)
            let r = ring(names)
            let (image, sig) = try RingSignature.sign(message: Array(message.utf8), ring: r, signer: key(signer), context: ctx, nonceSeed: seed)
            return Case(name: name, ring: r, signer: signer, ctx: ctx, message: Array(message.utf8), image: image, signature: sig, nonceSeed: seed, valid: true)
        }
        let three = try signed("three members, bob signs", ["alice", "bob", "carol"], signer: "bob", period: 20454, slot: 0,
                               message: "tiergate ring vector: three", nonce: "1")
        let one = try signed("a ring of one (no anonymity, still valid)", ["alice"], signer: "alice", period: 20454, slot: 0,
                             message: "tiergate ring vector: one", nonce: "2")
        let five = try signed("five members, the signer last in the ring, slot 3", ["alice", "bob", "carol", "dave", "erin"],
                              signer: VectorKeys.key("alice").publicKey < VectorKeys.key("erin").publicKey ? "erin" : "alice",
                              period: 1, slot: 3, message: "tiergate ring vector: five", nonce: "3")
        var out = [three, one, five]
        func invalid(_ name: String, from c: Case, _ change: (inout Case) -> Void) -> Case {
            var x = c
            x.name = name
            x.valid = false
            x.nonceSeed = nil
            x.signer = nil
            change(&x)
            return x
        }
        out.append(invalid("another message", from: three) { $0.message += [0x21] })
        out.append(invalid("a non-member key added to the ring", from: three) {
            $0.ring = ($0.ring + [VectorKeys.key("mallory").publicKey]).sorted()
            $0.signature += [UInt8](repeating: 0, count: 31) + [0]
        })
        out.append(invalid("a member dropped from the ring", from: three) {
            $0.ring = $0.ring.filter { $0 != VectorKeys.key("carol").publicKey }
            $0.signature = Array($0.signature.prefix(96))
        })
        out.append(invalid("forged: scalars that close no ring", from: three) {
            $0.signature = (0..<4).flatMap { i in Array(Blake2b.hash256(Array("forged \(i)".utf8)).bytes.prefix(31)) + [0] }
        })
        out.append(invalid("another period", from: three) { $0.ctx.period += 1 })
        out.append(invalid("another slot", from: three) { $0.ctx.slot = 1 })
        out.append(invalid("another genesis (another lab)", from: three) { $0.ctx.genesis = Blake2b.hash256(Array("another lab".utf8)) })
        out.append(invalid("another member's key image", from: three) { $0.image = RingSignature.keyImage(of: VectorKeys.key("carol"), three.ctx) })
        out.append(invalid("s_0 + L (non-canonical)", from: three) { AnonymousHaltTests.addL(&$0.signature, at: 32) })
        out.append(invalid("c_0 with its first byte flipped", from: three) { $0.signature[0] ^= 1 })
        out.append(invalid("the ring not in ascending order", from: three) { $0.ring = $0.ring.reversed() })
        out.append(invalid("the identity as key image", from: three) { $0.image = [1] + [UInt8](repeating: 0, count: 31) })
        // The expectations are the verifier's, checked here before they are written.
        for c in out {
            #expect(RingSignature.verify(message: c.message, ring: c.ring, image: c.image, signature: c.signature, context: c.ctx) == c.valid, "\(c.name)")
        }
        return out
    }

    @Test func ringVectors() throws {
        let cases = try Self.cases().map { c -> JSONValue in
            .object([
                ("name", .string(c.name)), ("expected", .string(c.valid ? "valid" : "invalid")),
                ("genesis_hex", .string(c.ctx.genesis.hex)), ("period", .uint(c.ctx.period)), ("slot", .uint(UInt64(c.ctx.slot))),
                ("ring_hex", .array(c.ring.map { .string($0.hex) })),
                ("hash_points_hex", .array(c.ring.map { .string(Hex.encode(RingSignature.hashPoint($0, c.ctx))) })),
                ("signer", c.signer.map { .string($0) } ?? .null),
                ("signer_position", c.signer.flatMap { s in c.ring.firstIndex(of: VectorKeys.key(s).publicKey) }.map { .int($0) } ?? .null),
                ("nonce_seed_hex", c.nonceSeed.map { .string(Hex.encode($0)) } ?? .null),
                ("message_hex", .string(Hex.encode(c.message))),
                ("key_image_hex", .string(Hex.encode(c.image))), ("signature_hex", .string(Hex.encode(c.signature))),
            ])
        }
        let inputs: [[UInt8]] = [[UInt8](repeating: 0, count: 32), [UInt8](repeating: 0xff, count: 32), [1] + [UInt8](repeating: 0, count: 31)]
            + (0..<5).map { Blake2b.hash256(Array("tiergate/v1/vector-map/\($0)".utf8)).bytes }
        let maps: [JSONValue] = inputs.map { r in
            .object([("input_hex", .string(Hex.encode(r))), ("point_hex", .string(Hex.encode(RingSignature.mapToPoint(r))))])
        }
        let doc: JSONValue = .object([
            ("description", .string("Linkable ring signatures (SPEC.md §2.5) by the vector keys (keys.json), with deterministic nonces: "
                + "nonce i = BLAKE2b-512(nonce_seed || u16 i) mod L, i = 65535 for alpha and i for s_i. Valid cases can be re-signed "
                + "to the same bytes; invalid ones must fail verification. hash_to_point: crypto_core_ed25519_from_uniform.")),
            ("cases", .array(cases)),
            ("hash_to_point", .array(maps)),
        ])
        VectorTests.check("ring.json", VectorTests.json(doc))
    }
}
