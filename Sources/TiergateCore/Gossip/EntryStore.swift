/// What inserting one entry did (SPEC.md §8.3).
public struct InsertOutcome: Sendable {
    /// Entries that now extend their feeds, in feed order (the entry itself and any buffered successors).
    public var appended: [SignedEntry] = []
    /// An entry stored outside a feed: a halt whose earlier positions are missing, or a drill acknowledgement
    /// (never in a feed). Written as a DETACHED frame.
    public var detachedHalt: SignedEntry?
    /// New proof of equivocation.
    public var evidence: EquivocationEvidence?
    /// The entry was already held (or already proven to be part of an equivocation).
    public var duplicate = false
    /// Buffered in memory until the missing positions arrive (not durable).
    public var bufferedBehindGap = false
    /// Claims the next position but does not link to the held head: the author forked earlier.
    public var conflicting = false

    /// Whether anything new must be persisted and pushed.
    public var isNew: Bool { !appended.isEmpty || detachedHalt != nil || evidence != nil }
}

public enum StoreRejection: Error, Equatable, Sendable, CustomStringConvertible {
    case invalid(EntryError)
    case notAMember(String)
    case bufferFull
    /// A drill acknowledgement naming a drill this node does not hold (yet).
    case unknownDrill(Digest)
    /// An anonymous halt no roster version known here accepts (SPEC.md §8.3).
    case anonymousRefused(String)

    public var description: String {
        switch self {
        case .invalid(let e): return e.description
        case .notAMember(let fp): return "author \(fp) is not a member of any roster version this node knows"
        case .bufferFull: return "too many out-of-order entries buffered for this author"
        case .unknownDrill(let d): return "acknowledges drill \(d.short)…, which this node does not hold; deliver the drill first"
        case .anonymousRefused(let why): return "anonymous halt refused: \(why)"
        }
    }
}

/// A node's in-memory view of the ledger: every entry by feed, out-of-order buffers, detached halts, evidence,
/// and the incremental ``Tally``. Pure: the caller persists what ``insert(_:)`` reports as new.
public struct EntryStore: Sendable {
    public let genesis: Roster
    public let genesisHash: Digest
    public private(set) var feeds: [PublicKey: [SignedEntry]] = [:]
    public private(set) var pending: [PublicKey: [UInt64: SignedEntry]] = [:]
    public private(set) var detachedHalts: [Digest: SignedEntry] = [:]
    public private(set) var evidence: [PublicKey: EquivocationEvidence] = [:]
    /// Drill acknowledgements, by id: one per (drill, acknowledger), the earliest (SPEC.md §8.3).
    public private(set) var drillAcks: [Digest: SignedEntry] = [:]
    private var drillAckIndex: [Digest: [PublicKey: Digest]] = [:]
    public private(set) var tally = Tally()
    /// Keys of every roster version known (genesis, and rosters carried by amendments).
    public private(set) var knownKeys: Set<PublicKey>
    /// Every roster known (genesis, and rosters carried by amendments): an anonymous halt must fit one (§8.3).
    public private(set) var knownRosters: [Roster]
    public static let maxPendingPerAuthor = 1024

    public init(genesis: Roster) {
        self.genesis = genesis
        genesisHash = genesis.hash
        knownKeys = Set(genesis.members.map(\.key))
        knownRosters = [genesis]
    }

    public var entryCount: Int { feeds.values.reduce(0) { $0 + $1.count } }

    /// Every signed halt held (connected, detached or inside evidence), by id: WATCH pushes the ones in force
    /// (SPEC.md §8.7), and a watcher verifies each itself.
    public private(set) var haltEntries: [Digest: SignedEntry] = [:]

    /// Every signed drill held (connected), by id: WATCH pushes the open ones (SPEC.md §8.7).
    public private(set) var drillEntries: [Digest: SignedEntry] = [:]

    private mutating func countEntry(_ e: SignedEntry, connected: Bool) {
        if e.entry.kind.isHalt { haltEntries[e.id] = e }
        if connected, case .drill = e.entry.body { drillEntries[e.id] = e }
        tally.add(e, connected: connected)
    }

    private mutating func countEvidence(_ ev: EquivocationEvidence) {
        for side in [ev.first, ev.second] { if case .halt = side.entry.body { haltEntries[side.id] = side } }
        tally.addEquivocation(ev)
    }

    /// Validates and inserts an entry received from anywhere.
    public mutating func insert(_ e: SignedEntry) throws(StoreRejection) -> InsertOutcome {
        // Fast path: an entry already held (same id, so the same signed content) needs no signature check.
        if let feed = feeds[e.entry.author], e.entry.seq >= 1, e.entry.seq <= UInt64(feed.count),
            feed[Int(e.entry.seq) - 1].id == e.id
        {
            var dup = InsertOutcome()
            dup.duplicate = true
            return dup
        }
        // An anonymous halt's ring signature costs a few Ed25519 verifies per ring member: a copy already held, or
        // one no roster known here accepts, is answered before the signature is checked.
        if case .anonymousHalt(let a) = e.entry.body {
            if detachedHalts[e.id] != nil {
                var dup = InsertOutcome()
                dup.duplicate = true
                return dup
            }
            if let why = Self.anonymousRefusal(e, a, rosters: knownRosters) { throw .anonymousRefused(why) }
        }
        do { try e.verified(lab: genesis.lab, genesis: genesisHash) } catch { throw .invalid(error) }
        return try insertVerified(e)
    }

    /// Inserts an entry whose signature and lab binding the caller already checked (ledger load).
    public mutating func insertVerified(_ e: SignedEntry) throws(StoreRejection) -> InsertOutcome {
        let author = e.entry.author
        if case .anonymousHalt(let a) = e.entry.body { return try insertAnonymousHalt(e, a) }
        guard knownKeys.contains(author) else { throw .notAMember(author.fingerprint) }
        if case .drillAck(let ack) = e.entry.body { return try insertDrillAck(e, ack) }
        var out = InsertOutcome()
        // Never hold the feed array in a local across `append`: the append would then copy the whole feed
        // (copy-on-write), making a long feed's load and catch-up quadratic.
        let count = feeds[author]?.count ?? 0
        let seq = e.entry.seq
        if seq <= UInt64(count) {
            let held = feeds[author]![Int(seq) - 1]
            if held.id == e.id {
                out.duplicate = true
            } else if evidence[author] == nil {
                let ev = EquivocationEvidence(first: held, second: e)
                evidence[author] = ev
                countEvidence(ev)
                out.detachedHalt = detachHalts(of: ev).first
                refreshDigest()
                out.evidence = ev
            } else {
                out.duplicate = true  // one proof per author is enough
            }
            return out
        }
        if seq == UInt64(count) + 1 {
            guard extendable(e, after: feeds[author]?.last) else {
                // Same position as the next free one but not linked to our head: a fork further back.
                return noteBrokenLink(e, &out)
            }
            append(e, &out)
            // Release buffered successors.
            while let next = pending[author]?[UInt64(feeds[author]!.count) + 1] {
                pending[author]![next.entry.seq] = nil
                if extendable(next, after: feeds[author]!.last) { append(next, &out) } else { break }
            }
            if pending[author]?.isEmpty == true { pending[author] = nil }
            return out
        }
        // A gap: buffer it; a halt also counts at once.
        if pending[author]?[seq]?.id == e.id || detachedHalts[e.id] != nil {
            out.duplicate = true
            return out
        }
        guard (pending[author]?.count ?? 0) < EntryStore.maxPendingPerAuthor else { throw .bufferFull }
        pending[author, default: [:]][seq] = e
        out.bufferedBehindGap = true
        if case .halt = e.entry.body {
            detachedHalts[e.id] = e
            countEntry(e, connected: false)
            out.detachedHalt = e
            refreshDigest()
        }
        return out
    }

    /// A drill acknowledgement stands outside any feed. It is held only for a drill held here (so an observer
    /// cannot fill memory with acknowledgements of made-up drills), and one per (drill, acknowledger): the
    /// earliest by (time, id), so nodes that saw two of them converge on the same one.
    private mutating func insertDrillAck(_ e: SignedEntry, _ ack: DrillAck) throws(StoreRejection) -> InsertOutcome {
        var out = InsertOutcome()
        guard tally.drills[ack.drill] != nil else { throw .unknownDrill(ack.drill) }
        if let heldId = drillAckIndex[ack.drill]?[e.entry.author], let held = drillAcks[heldId] {
            if (held.entry.time, held.id) <= (e.entry.time, e.id) {
                out.duplicate = true
                return out
            }
            drillAcks[heldId] = nil
        }
        drillAcks[e.id] = e
        drillAckIndex[ack.drill, default: [:]][e.entry.author] = e.id
        countEntry(e, connected: false)
        out.detachedHalt = e
        refreshDigest()
        return out
    }

    /// An anonymous halt stands outside any feed, held (detached, like a halt beyond a gap) when it fits a roster
    /// version known here: its ring is that version's halt set, the version allows anonymous halts, and its slot
    /// and period fit (SPEC.md §8.3). Every one with a distinct id is kept: a reused key image is evidence, and
    /// both halts count.
    private mutating func insertAnonymousHalt(_ e: SignedEntry, _ a: AnonymousHalt) throws(StoreRejection) -> InsertOutcome {
        var out = InsertOutcome()
        if detachedHalts[e.id] != nil {
            out.duplicate = true
            return out
        }
        if let why = Self.anonymousRefusal(e, a, rosters: knownRosters) { throw .anonymousRefused(why) }
        detachedHalts[e.id] = e
        countEntry(e, connected: false)
        out.detachedHalt = e
        refreshDigest()
        return out
    }

    /// Why no roster in `rosters` accepts this anonymous halt, or nil.
    public static func anonymousRefusal(_ e: SignedEntry, _ a: AnonymousHalt, rosters: [Roster]) -> String? {
        // Several rosters may carry one version number (competing amendments): any one that it fits will do.
        let named = rosters.filter { $0.version == e.entry.rosterVersion }
        guard !named.isEmpty else { return "names roster version \(e.entry.rosterVersion), which this node does not know" }
        var why = ""
        for r in named {
            guard let misfit = r.anonymousHaltMisfit(a, at: e.entry.time) else { return nil }
            why = misfit.text
        }
        return why
    }

    /// Whether this store holds `id` outside a feed (a detached halt or a drill acknowledgement).
    public func holdsDetached(_ id: Digest) -> Bool { detachedHalts[id] != nil || drillAcks[id] != nil }

    private func extendable(_ e: SignedEntry, after head: SignedEntry?) -> Bool {
        guard let h = head else { return e.entry.seq == 1 }
        return e.entry.prev == h.id && e.entry.time >= h.entry.time
    }

    private mutating func noteBrokenLink(_ e: SignedEntry, _ out: inout InsertOutcome) -> InsertOutcome {
        // The entry claims the next position but links elsewhere: the author signed two different entries at
        // an earlier position. Keep a halt among them; the proof arrives when that earlier entry does.
        out.conflicting = true
        if case .halt = e.entry.body, detachedHalts[e.id] == nil {
            detachedHalts[e.id] = e
            countEntry(e, connected: false)
            out.detachedHalt = e
            refreshDigest()
        }
        return out
    }

    private mutating func append(_ e: SignedEntry, _ out: inout InsertOutcome) {
        defer { refreshDigest() }
        let author = e.entry.author
        let buffered = pending[author]?.removeValue(forKey: e.entry.seq)
        if pending[author]?.isEmpty == true { pending[author] = nil }
        if let other = buffered, other.id != e.id {
            // A buffered entry (say a detached halt) at the position this entry now fills: equivocation.
            if evidence[author] == nil {
                let ev = EquivocationEvidence(first: e, second: other)
                evidence[author] = ev
                countEvidence(ev)
                out.evidence = ev
            }
            if case .halt = other.entry.body, detachedHalts[other.id] == nil {
                detachedHalts[other.id] = other  // it stays a counted, detached halt
            }
        }
        feeds[e.entry.author, default: []].append(e)
        // Detached halts are the halts held but not connected: this one now is.
        detachedHalts[e.id] = nil
        countEntry(e, connected: true)
        out.appended.append(e)
        if case .proposal(let p) = e.entry.body, case .amend(let roster) = p.action {
            // Members of proposed rosters may author entries; they count only once the roster is in force.
            knownKeys.formUnion(roster.members.map(\.key))
            if !knownRosters.contains(roster) { knownRosters.append(roster) }
        }
    }

    /// Records evidence received from a peer, after checking it. Returns false when this author's equivocation
    /// was already proven here; `detached` receives halts of the pair that are now stored as detached halts.
    public mutating func insertEvidence(_ ev: EquivocationEvidence, detached: inout [SignedEntry]) throws(StoreRejection) -> Bool {
        guard ev.isValid(lab: genesis.lab, genesis: genesisHash) else {
            throw .invalid(.malformed(.invalidValue(field: "evidence", reason: "not two valid, different entries at one position")))
        }
        guard knownKeys.contains(ev.author) else { throw .notAMember(ev.author.fingerprint) }
        guard evidence[ev.author] == nil else { return false }
        evidence[ev.author] = ev
        countEvidence(ev)
        detached = detachHalts(of: ev)
        refreshDigest()
        return true
    }

    /// Re-inserts a detached halt from the ledger on load.
    public mutating func loadDetachedHalt(_ e: SignedEntry) {
        if e.entry.kind == .drillAck || e.entry.kind == .anonymousHalt {
            _ = try? insertVerified(e)
            return
        }
        guard detachedHalts[e.id] == nil, !isConnected(e) else { return }
        detachedHalts[e.id] = e
        countEntry(e, connected: false)
        refreshDigest()
    }

    func isConnected(_ e: SignedEntry) -> Bool {
        guard let feed = feeds[e.entry.author], e.entry.seq >= 1, e.entry.seq <= UInt64(feed.count) else { return false }
        return feed[Int(e.entry.seq) - 1].id == e.id
    }

    /// Halts inside new evidence that are not connected here become detached halts, so that anti-entropy carries
    /// them like any other halt (SPEC.md §8.4). Returns the ones added.
    mutating func detachHalts(of ev: EquivocationEvidence) -> [SignedEntry] {
        var added: [SignedEntry] = []
        for side in [ev.first, ev.second] {
            if case .halt = side.entry.body, !isConnected(side), detachedHalts[side.id] == nil {
                detachedHalts[side.id] = side
                added.append(side)
            }
        }
        return added
    }

    // MARK: Anti-entropy views

    public func head(of author: PublicKey) -> SignedEntry? { feeds[author]?.last }

    public var frontier: Frontier {
        Frontier(
            heads: feeds.map { FrontierHead(author: $0.key, seq: UInt64($0.value.count), head: $0.value.last!.id) }
                .sorted { $0.author < $1.author },
            detachedHalts: (Array(detachedHalts.keys) + Array(drillAcks.keys)).sorted(),
            evidenceAuthors: evidence.keys.sorted())
    }

    /// `other` with each author's head raised to `ahead[author]`: positions of this store's feeds already sent to
    /// that peer in a catch-up still in flight, so the next batch starts after them. A head of theirs that differs
    /// from ours at its position (a fork) is left alone, so the proof still goes out.
    public func raising(_ other: Frontier, to ahead: [PublicKey: UInt64]) -> Frontier {
        guard !ahead.isEmpty else { return other }
        var heads: [PublicKey: FrontierHead] = [:]
        for h in other.heads { heads[h.author] = h }
        for (author, seq) in ahead {
            guard let feed = feeds[author], seq >= 1, seq <= UInt64(feed.count) else { continue }
            if let t = heads[author] {
                guard t.seq < seq else { continue }
                if t.seq >= 1, t.seq <= UInt64(feed.count), feed[Int(t.seq) - 1].id != t.head { continue }
            }
            heads[author] = FrontierHead(author: author, seq: seq, head: feed[Int(seq) - 1].id)
        }
        return Frontier(heads: heads.values.sorted { $0.author < $1.author }, detachedHalts: other.detachedHalts,
                        evidenceAuthors: other.evidenceAuthors)
    }

    /// SPEC.md §8.4; computed when first asked for after a change (a catch-up of many entries hashes once).
    public var digest: Digest {
        mutating get {
            if let d = cachedDigest { return d }
            let d = computeDigest()
            cachedDigest = d
            return d
        }
    }
    private var cachedDigest: Digest?

    private mutating func refreshDigest() { cachedDigest = nil }

    /// The digest computed afresh (for read-only callers; ``digest`` caches it).
    public func computeDigest() -> Digest {
        let f = frontier
        var w = ByteWriter()
        w.list(f.heads) { w, h in
            w.raw(h.author.bytes)
            w.u64(h.seq)
            w.raw(h.head.bytes)
        }
        w.list(f.detachedHalts) { $0.raw($1.bytes) }
        w.list(f.evidenceAuthors) { $0.raw($1.bytes) }
        return Blake2b.hash256(SigningDomain.digest.message(w.bytes))
    }

    /// What the holder of `other` lacks that this store has (SPEC.md §8.4), at most `maxBytes` of entries
    /// (`truncated` says more remain: the exchange continues next round trip).
    public func missing(from other: Frontier, maxBytes: Int = Int.max) -> (entries: [SignedEntry], evidence: [EquivocationEvidence], truncated: Bool) {
        var theirs: [PublicKey: FrontierHead] = [:]
        for h in other.heads { theirs[h.author] = h }
        let evTheyHave = Set(other.evidenceAuthors)
        var entries: [SignedEntry] = []
        for (author, feed) in feeds.sorted(by: { $0.key < $1.key }) {
            let t = theirs[author]
            let seq = Int(min(t?.seq ?? 0, UInt64(feed.count)))
            if let t, seq >= 1, feed[seq - 1].id != t.head, t.seq <= UInt64(feed.count), !evTheyHave.contains(author) {
                entries.append(feed[seq - 1])  // a fork at their head: our entry there makes the proof
            }
            if seq < feed.count { entries.append(contentsOf: feed[seq...]) }
            if budget(entries) > maxBytes { break }
        }
        var truncated = false
        if budget(entries) > maxBytes {
            var size = 0
            var keep = 0
            for e in entries {
                size += e.content.count + 68
                if size > maxBytes { break }
                keep += 1
            }
            entries = Array(entries.prefix(max(keep, 1)))
            truncated = true
        }
        let haltsTheyHave = Set(other.detachedHalts)
        for (id, h) in detachedHalts.sorted(by: { $0.key < $1.key }) where !haltsTheyHave.contains(id) { entries.append(h) }
        // Drill acknowledgements after the feeds (which carry the drills they name).
        for (id, a) in drillAcks.sorted(by: { $0.key < $1.key }) where !haltsTheyHave.contains(id) { entries.append(a) }
        let ev = evidence.sorted { $0.key < $1.key }.filter { !evTheyHave.contains($0.key) }.map(\.value)
        return (entries, ev, truncated)
    }

    private func budget(_ entries: [SignedEntry]) -> Int { entries.reduce(0) { $0 + $1.content.count + 68 } }

    /// Whether `other` holds something this store lacks.
    public func lacksSomething(of other: Frontier) -> Bool {
        for h in other.heads {
            let mine = UInt64(feeds[h.author]?.count ?? 0)
            if h.seq > mine { return true }
            if h.seq >= 1, h.seq <= mine, feeds[h.author]![Int(h.seq) - 1].id != h.head, evidence[h.author] == nil { return true }
        }
        if other.detachedHalts.contains(where: { !holdsDetached($0) }) { return true }
        return other.evidenceAuthors.contains { evidence[$0] == nil }
    }

    /// The verdict over everything stored, at `now`.
    public func verdict(at now: UInt64) -> Verdict { Verdict.compute(genesis: genesis, tally: tally, at: now) }
}
