// Shared by every libFuzzer target in Fuzz/ (compiled into each target binary by scripts/fuzz, together with
// Sources/TiergateCore/**/*.swift as one module named TiergateCore, so internal API is visible here).
//
// Nothing in this file may trap on any input: a trap in a fuzz run must come from the code under test or from
// an explicit invariant check (`fuzzInvariant`), never from the harness.

/// The fixed genesis roster of the fuzz targets: the vector lab of protocol-spec/vectors/ledgers/genesis.json
/// (the TestKit `Lab()` default: acme, tiers 0...4, alice leader, bob safety, carol board, dave auditor, erin staff,
/// default policy for five members). Its hash is the genesis hash in the header of every vector ledger, so the
/// ledger seeds reach the frame checks, and the seed tokens name it.
enum FuzzGenesis {
    static let memberKeys: [(String, String, String)] = [
        ("alice", "27d29331730337baca129fa51af30a5740fc9423a6a7e18a618a0b71d7a312b4", "leader"),
        ("bob", "af5f36b1b4d2c1610dba91c43e441650565e8553daf2bf50a81f775aa416944d", "safety"),
        ("carol", "3d1976ef76f37359d260575a140a9cd49d82395e068cda09be8ff431354a8d91", "board"),
        ("dave", "715630ba8dbcd3c6c38dc6e0800f80c7d1968680f148ff716375fe1dd83e699f", "auditor"),
        ("erin", "f2a54b528597832dbd2cb9d26dc534ebf93118111c4edec6d4e684b43d2530fe", "staff"),
    ]

    /// The vector genesis roster (built once per process).
    static let roster: Roster = {
        let members = memberKeys.map { Member(name: $0.0, key: PublicKey(hex: $0.1)!, roles: [$0.2]) }
        return Roster(
            lab: "acme", baseTier: 0, maxTier: 4, members: members,
            policy: Policy.defaultPolicy(memberCount: members.count))
    }()

    static let hash: Digest = roster.hash

    /// 2026-01-01T01:00:00Z: the `at` of every vector ledger, and the fixed `now` of the token target.
    static let now: UInt64 = 1_767_229_200_000
}

/// Traps with a message that names the broken property (a real bug when it fires).
@inline(never)
func fuzzInvariant(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError("FUZZ INVARIANT BROKEN: \(message())") }
}

/// Touches a value's text form, so that descriptions of errors and results are exercised too.
@inline(never)
func fuzzConsume(_ text: String) {
    fuzzSink &+= text.utf8.count
}

nonisolated(unsafe) var fuzzSink = 0

/// Split points for feeding `bytes` (or, with `length`, a stream of that many bytes made from them) in 1–3 chunks,
/// derived from the input itself (its first and last bytes), so that the fuzzer controls them and a crashing input
/// reproduces exactly.
func fuzzSplitPoints(_ bytes: [UInt8], length: Int? = nil) -> [Int] {
    let n = bytes.count
    guard n >= 4 else { return [] }
    let m = length ?? n
    let a = Int(bytes[n - 1]) | Int(bytes[n - 2]) << 8
    let b = Int(bytes[n - 3]) | Int(bytes[n - 4]) << 8
    let mode = bytes[0] % 3  // 0: one chunk, 1: two chunks, 2: three chunks
    switch mode {
    case 0: return []
    case 1: return [a % (m + 1)]
    default: return [a % (m + 1), b % (m + 1)].sorted()
    }
}

/// The fixed secure-link session of the `link` target and its seeds: the parties, genesis and ephemeral keys of
/// protocol-spec/vectors/noise.json (alice dials bob; key seed = BLAKE2b-256("tiergate/v1/vector-key/" + name),
/// genesis = BLAKE2b-256("tiergate/v1/vector-genesis"), ephemeral secret =
/// BLAKE2b-256("tiergate/v1/vector-ephemeral/initiator" or ".../responder")), so the vector's wire bytes complete a
/// handshake with a fresh `FuzzLink.link(role)` and its transport messages decrypt. Built once per process from
/// constants: a failure here is a harness bug, not an input's.
enum FuzzLink {
    static let genesis = Blake2b.hash256(Array("tiergate/v1/vector-genesis".utf8))

    static func vectorKey(_ name: String) -> SigningKey {
        try! SigningKey(seed: Blake2b.hash256(Array("tiergate/v1/vector-key/\(name)".utf8)).bytes)
    }

    static let alice = vectorKey("alice")  // the dialer (initiator)
    static let bob = vectorKey("bob")  // the listener (responder)
    static let initiatorEphemeral = X25519.KeyPair(secret: Blake2b.hash256(Array("tiergate/v1/vector-ephemeral/initiator".utf8)).bytes)
    static let responderEphemeral = X25519.KeyPair(secret: Blake2b.hash256(Array("tiergate/v1/vector-ephemeral/responder".utf8)).bytes)

    /// A fresh link of the fixed session: alice as initiator, bob as responder, with the fixed ephemeral keys.
    static func link(_ role: NoiseHandshake.Role) -> SecureLink {
        role == .initiator
            ? SecureLink(role: .initiator, genesis: genesis, identity: alice, ephemeral: initiatorEphemeral)
            : SecureLink(role: .responder, genesis: genesis, identity: bob, ephemeral: responderEphemeral)
    }

    /// Plaintexts of the transport messages of the fixed session: the vector's two first, then an empty one (the
    /// smallest message, 16 bytes), a §8 frame stream, and 1,000 patterned bytes.
    static let toResponder: [[UInt8]] = [
        Array("HELLO from alice".utf8), Array("second".utf8), [],
        WireMessage.hello(version: 1, genesis: genesis, role: .node, name: "alice").encodedFrame()
            + WireMessage.digest(Blake2b.hash256([1])).encodedFrame(),
        (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7) },
    ]
    static let toInitiator: [[UInt8]] = [
        Array("HELLO from bob".utf8), Array("second".utf8), [],
        WireMessage.error("key is not a member of this lab's roster").encodedFrame(),
        (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 13) },
    ]

    struct Session: Sendable {
        /// What the dialer sends, message by message (each `u16 length || body`): message 1, message 3, then the
        /// sealed `toResponder` plaintexts.
        var dialer: [[UInt8]]
        /// What the listener sends: message 2, then the sealed `toInitiator` plaintexts.
        var listener: [[UInt8]]
        /// Both ends once established; neither has received a transport message (receive nonces 0).
        var initiator: SecureLink
        var responder: SecureLink
    }

    static let session: Session = {
        func sends(_ outputs: [SecureLink.Output]) -> [UInt8] {
            outputs.reduce(into: []) { acc, o in if case .send(let b) = o { acc += b } }
        }
        do {
            var i = link(.initiator), r = link(.responder)
            let m1 = sends(try i.start())
            let m2 = sends(try r.receive(m1) { _ in nil })
            let m3 = sends(try i.receive(m2) { _ in nil })
            _ = try r.receive(m3) { _ in nil }
            guard m1.count == 34, m2.count == 194, m3.count == 162, i.isEstablished, r.isEstablished else {
                fatalError("FuzzLink: the fixed session does not complete")
            }
            var dialer = [m1, m3], listener = [m2]
            for p in toResponder { dialer.append(try i.seal(p)) }
            for p in toInitiator { listener.append(try r.seal(p)) }
            return Session(dialer: dialer, listener: listener, initiator: i, responder: r)
        } catch {
            fatalError("FuzzLink: the fixed session fails: \(error)")
        }
    }()

    // The first byte of a `link` input (see Fuzz/link.swift).
    static let rawResponder: UInt8 = 0  // the rest is a byte stream for a fresh responder
    static let rawInitiator: UInt8 = 1  // ... for a fresh initiator (after start())
    static let tamperDialer: UInt8 = 2  // the rest edits `session.dialer`, fed to a fresh responder
    static let tamperListener: UInt8 = 3  // ... edits `session.listener`, fed to a fresh initiator
    static let refuseBit: UInt8 = 4  // `authorize` refuses every key
    static let editsBit: UInt8 = 8  // tamper modes: edit instructions instead of an XOR mask
}
