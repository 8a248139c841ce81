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
