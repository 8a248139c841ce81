import TiergateCore
import Foundation

/// Keys derived from published seeds: seed = BLAKE2b-256("tiergate/v1/vector-key/" + name). Insecure by design.
public enum VectorKeys {
    public static func seed(_ name: String) -> [UInt8] { Blake2b.hash256(Array("tiergate/v1/vector-key/\(name)".utf8)).bytes }
    public static func key(_ name: String) -> SigningKey { try! SigningKey(seed: seed(name)) }
}

/// 2026-01-01T00:00:00Z, the epoch of every vector and fixture.
public let t0: UInt64 = 1_767_225_600_000
public let minute: UInt64 = 60_000
public let hour: UInt64 = 3_600_000
public let day: UInt64 = 86_400_000

/// An in-memory lab: a signed genesis roster, its members' keys, and feed bookkeeping for authoring entries
/// with an injected clock.
public struct Lab {
    public var keys: [String: SigningKey] = [:]
    public var genesis: Roster
    public var document: GenesisDocument
    public var heads: [PublicKey: (seq: UInt64, id: Digest)] = [:]

    public static let defaultMembers: [(String, [String])] = [
        ("alice", ["leader"]), ("bob", ["safety"]), ("carol", ["board"]), ("dave", ["auditor"]), ("erin", ["staff"]),
    ]

    public init(
        lab: String = "acme", members: [(String, [String])] = Lab.defaultMembers, baseTier: UInt32 = 0,
        maxTier: UInt32 = 4, policy: ((Int) -> Policy)? = nil, format: UInt8? = nil
    ) {
        var ms: [Member] = []
        for (name, roles) in members {
            let k = VectorKeys.key(name)
            keys[name] = k
            ms.append(Member(name: name, key: k.publicKey, roles: roles))
        }
        var pol = policy?(members.count) ?? Policy.defaultPolicy(memberCount: members.count)
        if format == Roster.legacyFormat, policy == nil { pol.freshness = FreshnessRule(minAttesters: 1) }  // format 1's default
        genesis = Roster(lab: lab, baseTier: baseTier, maxTier: maxTier, members: ms, policy: pol, format: format ?? Roster.format(for: pol))
        do { try genesis.validate() } catch { preconditionFailure("fixture roster must be consistent: \(error)") }
        document = GenesisDocument(roster: genesis)
        for k in keys.values { try! document.sign(with: k) }
    }

    /// A key that is not a member (for the keys map only).
    public mutating func addOutsider(_ name: String) {
        keys[name] = VectorKeys.key(name)
    }

    /// Signs the next entry in `name`'s feed.
    public mutating func sign(_ name: String, _ body: EntryBody, at time: UInt64, rosterVersion: UInt64 = 1) -> SignedEntry {
        let key = keys[name]!
        let head = heads[key.publicKey]
        let entry = Entry(
            lab: genesis.lab, genesis: genesis.hash, rosterVersion: rosterVersion, author: key.publicKey,
            seq: (head?.seq ?? 0) + 1, prev: head?.id ?? .zero, time: time, body: body)
        let signed = SignedEntry(signing: entry, with: key)
        heads[key.publicKey] = (entry.seq, signed.id)
        return signed
    }

    public mutating func propose(
        _ name: String, tier: UInt32, at time: UInt64, title: String = "advance", window: UInt64 = 7 * day,
        rosterVersion: UInt64 = 1
    ) -> SignedEntry {
        sign(name, .proposal(Proposal(action: .advance(tier: tier), title: title, closesAt: time + window)), at: time,
             rosterVersion: rosterVersion)
    }

    public mutating func resume(_ name: String, tier: UInt32, halts: [Digest], at time: UInt64, rosterVersion: UInt64 = 1) -> SignedEntry {
        sign(name, .proposal(Proposal(action: .resume(tier: tier, halts: halts.sorted()), title: "resume", closesAt: time + 7 * day)),
             at: time, rosterVersion: rosterVersion)
    }

    public mutating func amend(_ name: String, to roster: Roster, at time: UInt64, rosterVersion: UInt64 = 1) -> SignedEntry {
        sign(name, .proposal(Proposal(action: .amend(roster), title: "amend roster", closesAt: time + 7 * day)), at: time,
             rosterVersion: rosterVersion)
    }

    public mutating func vote(_ name: String, _ proposal: SignedEntry, _ choice: VoteChoice = .yes, at time: UInt64, rosterVersion: UInt64 = 1) -> SignedEntry {
        sign(name, .vote(Vote(proposal: proposal.id, choice: choice, reason: "")), at: time, rosterVersion: rosterVersion)
    }

    public mutating func halt(_ name: String, at time: UInt64, reason: String = "stop", rosterVersion: UInt64 = 1) -> SignedEntry {
        sign(name, .halt(Halt(reason: reason)), at: time, rosterVersion: rosterVersion)
    }

    public mutating func drill(_ name: String, at time: UInt64, reason: String = "quarterly drill", rosterVersion: UInt64 = 1) -> SignedEntry {
        sign(name, .drill(Drill(reason: reason)), at: time, rosterVersion: rosterVersion)
    }

    /// An enforcer's acknowledgement of `drill`, signed by `name` (an observer); in no feed (seq 0).
    public func ack(
        _ name: String, _ drill: SignedEntry, receivedAt: UInt64, stoppedAt: UInt64, jobs: UInt32 = 1,
        canary: CanaryOutcome = .none, at time: UInt64? = nil, rosterVersion: UInt64 = 1
    ) -> SignedEntry {
        let key = keys[name]!
        let entry = Entry(
            lab: genesis.lab, genesis: genesis.hash, rosterVersion: rosterVersion, author: key.publicKey, seq: 0, prev: .zero,
            time: time ?? stoppedAt,
            body: .drillAck(DrillAck(drill: drill.id, receivedAt: receivedAt, stoppedAt: stoppedAt, jobs: jobs, canary: canary)))
        return SignedEntry(signing: entry, with: key)
    }

    /// An anonymous halt by `name` (SPEC.md §5.4) for the halt set of `roster` (default: genesis), in the period of
    /// `time` under that roster's policy and `slot`; `ring` overrides the ring.
    public func anonymousHalt(
        _ name: String, at time: UInt64, slot: UInt32 = 0, reason: String = "anonymous stop", roster: Roster? = nil,
        ring: [PublicKey]? = nil, period: UInt64? = nil
    ) -> SignedEntry {
        let r = roster ?? genesis
        let halt = AnonymousHalt(period: period ?? r.policy.anonymous.period(at: time), slot: slot,
                                 ring: ring ?? r.policy.haltSet(in: r), reason: reason)
        // Deterministic nonces: fixtures and vectors are the same bytes on every run.
        let seed = Array("tiergate/v1/fixture-ring-nonce/\(name)/\(time)/\(slot)/\(reason)/\(halt.period)".utf8)
        return try! SignedEntry.anonymousHalt(lab: genesis.lab, genesis: genesis.hash, rosterVersion: r.version, time: time,
                                              halt: halt, signer: keys[name]!, nonceSeed: seed)
    }

    /// The verdict over `entries` (all connected) and `evidence`, at `time`.
    public func verdict(_ entries: [SignedEntry], evidence: [EquivocationEvidence] = [], at time: UInt64) -> Verdict {
        var tally = Tally()
        for e in entries { tally.add(e, connected: true) }
        for ev in evidence { tally.addEquivocation(ev) }
        return Verdict.compute(genesis: genesis, tally: tally, at: time)
    }
}

/// A temporary directory removed when the value is released.
public final class TempDir {
    public let path: String
    public init() {
        var template = Array("/tmp/tiergate-test-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    public func file(_ name: String) -> String { path + "/" + name }
}
