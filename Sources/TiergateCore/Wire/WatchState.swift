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

/// A halt or drill a watcher received, checked by the watcher itself (SPEC.md §8.7): it does not take the node's word.
public struct VerifiedEntry: Hashable, Sendable {
    public var id: Digest
    public var member: String
    public var time: UInt64
    public var reason: String
}

public typealias VerifiedHalt = VerifiedEntry
public typealias VerifiedDrill = VerifiedEntry

extension WatchState {
    /// The pushed halts that verify: well-formed, signed for the lab of `genesis`, by a member that is not an
    /// observer and may halt under one of `rosters` (the genesis roster, and the roster in force that the
    /// watcher's token proves). The others are returned with why they do not verify — a node that sends them is
    /// faulty or lying, or names a member of a roster version the watcher has not seen.
    public func verifiedHalts(genesis: Roster, rosters: [Roster]) -> (valid: [VerifiedHalt], unverified: [String]) {
        WatchState.verified(halts, .halt, genesis: genesis, rosters: rosters) { $0.mayHalt(roles: $1) }
    }

    /// The pushed drills that verify, likewise: by a member that may start drills under one of `rosters`.
    public func verifiedDrills(genesis: Roster, rosters: [Roster]) -> (valid: [VerifiedDrill], unverified: [String]) {
        WatchState.verified(drills, .drill, genesis: genesis, rosters: rosters) { $0.mayDrill(roles: $1) }
    }

    static func verified(_ list: [[UInt8]], _ kind: EntryKind, genesis: Roster, rosters: [Roster],
                         allowed: (Policy, [String]) -> Bool) -> (valid: [VerifiedEntry], unverified: [String]) {
        var valid: [VerifiedEntry] = []
        var unverified: [String] = []
        for bytes in list {
            let e: SignedEntry
            do { e = try SignedEntry(decoding: bytes).verified(lab: genesis.lab, genesis: genesis.hash) } catch {
                unverified.append("an invalid \(kind.name) entry (\(error))")
                continue
            }
            let reason: String
            switch e.entry.body {
            case .halt(let h) where kind == .halt: reason = h.reason
            case .anonymousHalt(let a) where kind == .halt:
                // Anonymous (SPEC.md §5.4): the ring must be the halt set of a roster this watcher knows that allows
                // anonymous halts, with slot and period fitting it.
                if let why = EntryStore.anonymousRefusal(e, a, rosters: [genesis] + rosters) {
                    unverified.append("anonymous halt \(e.id.short)…: \(why)")
                    continue
                }
                valid.append(VerifiedEntry(id: e.id, member: HaltStatus.anonymousName(ringSize: a.ring.count), time: e.entry.time, reason: a.reason))
                continue
            case .drill(let d) where kind == .drill: reason = d.reason
            default:
                unverified.append("entry \(e.id.short)… is not a \(kind.name)")
                continue
            }
            let memberships = ([genesis] + rosters).compactMap { r in r.member(withKey: e.entry.author).map { (r, $0) } }
            guard let m = memberships.first(where: { r, m in allowed(r.policy, m.roles) })?.1 else {
                let verb = kind == .halt ? "halt" : "start drills"
                unverified.append("\(kind.name) \(e.id.short)… by key \(e.entry.author.fingerprint), "
                    + (memberships.isEmpty ? "not a member of a roster this watcher knows" : "which may not \(verb)"))
                continue
            }
            valid.append(VerifiedEntry(id: e.id, member: m.name, time: e.entry.time, reason: reason))
        }
        return (valid, unverified)
    }
}
