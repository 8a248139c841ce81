/// What a node pushes to its watchers (SPEC.md §8.7): its verdict now, and the signed halts in force, so that a
/// watcher (a `gate`) can verify each halt itself and need not trust the node's word for it.
public struct WatchState: Hashable, Sendable {
    public var at: UInt64
    public var halted: Bool
    public var authorizedTier: UInt32
    public var baseTier: UInt32
    public var lapsesAt: UInt64?
    public var rosterVersion: UInt64
    public var rosterHash: Digest
    /// Every halt in force, even those beyond the list (`halted` is authoritative).
    public var haltsTotal: UInt32
    /// The signed halt entries in force, oldest first, within the list bound and ``maxHaltBytes``.
    public var halts: [[UInt8]]
    /// The signed drills still within their deadline, oldest first (SPEC.md §8.7): a watcher that enforces
    /// acknowledges each (§5.8).
    public var drills: [[UInt8]] = []

    public static let maxHalts = 1024
    public static let maxDrills = 16
    /// The halts' share of a WATCH frame (the frame limit is 4 MiB).
    public static let maxHaltBytes = 3_500_000

    public init(at: UInt64, halted: Bool, authorizedTier: UInt32, baseTier: UInt32, lapsesAt: UInt64?, rosterVersion: UInt64,
                rosterHash: Digest, haltsTotal: UInt32, halts: [[UInt8]]) {
        self.at = at
        self.halted = halted
        self.authorizedTier = authorizedTier
        self.baseTier = baseTier
        self.lapsesAt = lapsesAt
        self.rosterVersion = rosterVersion
        self.rosterHash = rosterHash
        self.haltsTotal = haltsTotal
        self.halts = halts
    }

    /// The state of `verdict`, with the halt entries looked up in `store`.
    public init(verdict v: Verdict, store: EntryStore) {
        let active = v.activeHalts.sorted { ($0.time, $0.id) < ($1.time, $1.id) }
        var halts: [[UInt8]] = []
        var bytes = 0
        for h in active {
            guard let e = store.haltEntries[h.id] else { continue }
            guard halts.count < WatchState.maxHalts, bytes + e.bytes.count + 4 <= WatchState.maxHaltBytes else { break }
            halts.append(e.bytes)
            bytes += e.bytes.count + 4
        }
        self.init(at: v.at, halted: v.halted, authorizedTier: v.authorizedTier, baseTier: v.baseTier, lapsesAt: v.lapsesAt,
                  rosterVersion: v.rosterVersion, rosterHash: v.roster.hash, haltsTotal: UInt32(clamping: active.count), halts: halts)
        drills = v.drills.filter { v.at < $0.deadline }.suffix(WatchState.maxDrills).compactMap { store.drillEntries[$0.id]?.bytes }
    }

    /// Whether a watcher must be told: anything but the time differs.
    public func differs(from other: WatchState) -> Bool {
        var a = self
        a.at = other.at
        return a != other
    }

    public func encode(into w: inout ByteWriter) {
        w.u64(at)
        w.u8(halted ? 1 : 0)
        w.u32(authorizedTier)
        w.u32(baseTier)
        NodeStatus.optU64(&w, lapsesAt)
        w.u64(rosterVersion)
        w.raw(rosterHash.bytes)
        w.u32(haltsTotal)
        w.list(halts) { $0.lengthPrefixed($1) }
        w.list(drills) { $0.lengthPrefixed($1) }
    }

    public init(from r: inout ByteReader) throws(DecodeError) {
        at = try r.u64("watch.at")
        halted = try NodeStatus.bool(&r, "watch.halted")
        authorizedTier = try r.u32("watch.authorized_tier")
        baseTier = try r.u32("watch.base_tier")
        lapsesAt = try NodeStatus.optU64(&r, "watch.lapses_at")
        rosterVersion = try r.u64("watch.roster_version")
        rosterHash = try r.digest("watch.roster_hash")
        haltsTotal = try r.u32("watch.halts_total")
        halts = try r.list("watch.halts", max: WatchState.maxHalts) { (r: inout ByteReader) throws(DecodeError) in
            try r.lengthPrefixed("watch.halts[]", max: Limits.maxEntryBytes)
        }
        guard UInt64(haltsTotal) >= UInt64(halts.count) else {
            throw .invalidValue(field: "watch.halts_total", reason: "smaller than the list")
        }
        drills = try r.list("watch.drills", max: WatchState.maxDrills) { (r: inout ByteReader) throws(DecodeError) in
            try r.lengthPrefixed("watch.drills[]", max: Limits.maxEntryBytes)
        }
    }
}

/// A drill a watcher received, checked by the watcher itself.
public struct VerifiedDrill: Hashable, Sendable {
    public var id: Digest
    public var member: String
    public var time: UInt64
    public var reason: String
}

/// A halt a watcher received, checked by the watcher itself (SPEC.md §8.7): it does not take the node's word.
public struct VerifiedHalt: Hashable, Sendable {
    public var id: Digest
    public var member: String
    public var time: UInt64
    public var reason: String
}

extension WatchState {
    /// The pushed halts that verify: well-formed, signed for the lab of `genesis`, by a member that is not an
    /// observer and may halt under one of `rosters` (the genesis roster, and the roster in force that the
    /// watcher's token proves). The others are returned with why they do not verify — a node that sends them is
    /// faulty or lying, or names a member of a roster version the watcher has not seen.
    public func verifiedHalts(genesis: Roster, rosters: [Roster]) -> (valid: [VerifiedHalt], unverified: [String]) {
        var valid: [VerifiedHalt] = []
        var unverified: [String] = []
        for bytes in halts {
            let e: SignedEntry
            do { e = try SignedEntry(decoding: bytes).verified(lab: genesis.lab, genesis: genesis.hash) } catch {
                unverified.append("an invalid halt entry (\(error))")
                continue
            }
            guard case .halt(let h) = e.entry.body else {
                unverified.append("entry \(e.id.short)… is not a halt")
                continue
            }
            let memberships = ([genesis] + rosters).compactMap { r in r.member(withKey: e.entry.author).map { (r, $0) } }
            let known = memberships.map(\.1)
            guard let m = memberships.first(where: { r, m in r.policy.mayHalt(roles: m.roles) })?.1 else {
                unverified.append("halt \(e.id.short)… by key \(e.entry.author.fingerprint), \(known.isEmpty ? "not a member of a roster this watcher knows" : "which may not halt")")
                continue
            }
            valid.append(VerifiedHalt(id: e.id, member: m.name, time: e.entry.time, reason: h.reason))
        }
        return (valid, unverified)
    }
}

extension WatchState {
    /// The pushed drills that verify: signed for the lab of `genesis` by a member that may start drills under one
    /// of `rosters` (with the genesis roster). The others are returned with why they do not verify.
    public func verifiedDrills(genesis: Roster, rosters: [Roster]) -> (valid: [VerifiedDrill], unverified: [String]) {
        var valid: [VerifiedDrill] = []
        var unverified: [String] = []
        for bytes in drills {
            let e: SignedEntry
            do { e = try SignedEntry(decoding: bytes).verified(lab: genesis.lab, genesis: genesis.hash) } catch {
                unverified.append("an invalid drill entry (\(error))")
                continue
            }
            guard case .drill(let d) = e.entry.body else {
                unverified.append("entry \(e.id.short)… is not a drill")
                continue
            }
            guard let m = ([genesis] + rosters).compactMap({ r in r.member(withKey: e.entry.author).flatMap { r.policy.mayDrill(roles: $0.roles) ? $0 : nil } }).first else {
                unverified.append("drill \(e.id.short)… by key \(e.entry.author.fingerprint), which may not start drills under a roster this watcher knows")
                continue
            }
            valid.append(VerifiedDrill(id: e.id, member: m.name, time: e.entry.time, reason: d.reason))
        }
        return (valid, unverified)
    }
}
