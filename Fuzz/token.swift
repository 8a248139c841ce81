// libFuzzer target `token`: tier token files (SPEC.md §9, Sources/TiergateCore/Token/).
//
// `TierToken(decoding:)`, then, for decodable tokens, `TokenChecker.check` against the fixed fuzz genesis roster
// for tier 1 at the fixed time FuzzGenesis.now (the seed tokens pass or fail every step of §9.3).
// Checked properties: nothing traps; a decodable token re-encodes to exactly the input bytes.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let token: TierToken
    do {
        token = try TierToken(decoding: bytes)
    } catch {
        fuzzConsume(error.description)
        return 0
    }
    fuzzInvariant(token.encoded() == bytes, "decoded token re-encodes to different bytes (non-canonical input accepted)")
    fuzzConsume(token.coreHash.hex)
    do {
        let ok = try TokenChecker.check(token, genesis: FuzzGenesis.roster, tier: 1, now: FuzzGenesis.now)
        fuzzInvariant(ok.tier >= 1 && ok.expiresAt > FuzzGenesis.now, "an allowed token does not cover tier 1 now")
        fuzzConsume("\(ok.attesters) \(ok.rosterVersion)")
    } catch {
        fuzzConsume(error.description)
    }
    return 0
}
