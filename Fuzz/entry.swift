// libFuzzer target `entry`: signed entries, `content || signature` (SPEC.md §4.1–4.2,
// Sources/TiergateCore/Entries/).
//
// Checked properties: decoding never traps; a decodable input re-encodes to exactly the input bytes (content and
// signature), the content decodes alone to an equal entry, and the id is the hash of the tagged content; the
// signature check and the lab/genesis check run on every decodable input.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let signed: SignedEntry
    do {
        signed = try SignedEntry(decoding: bytes)
    } catch {
        fuzzConsume(error.description)
        return 0
    }
    let valid = signed.signatureIsValid
    fuzzInvariant(signed.bytes == bytes, "decoded signed entry re-encodes to different bytes (non-canonical input accepted)")
    fuzzInvariant(signed.content + signed.signature == bytes, "content || signature differs from the input")
    fuzzInvariant(signed.entry.encoded() == signed.content, "entry.encoded() differs from the decoded content")
    do {
        let again = try Entry(decoding: signed.content)
        fuzzInvariant(again == signed.entry, "content decodes to a different entry on its own")
    } catch {
        fuzzInvariant(false, "content of a decodable signed entry does not decode on its own: \(error)")
    }
    fuzzInvariant(signed.id == Blake2b.hash256(SigningDomain.entry.message(signed.content)), "entry id is not H(tag || content)")
    do {
        try signed.verified(lab: FuzzGenesis.roster.lab, genesis: FuzzGenesis.hash)
        fuzzInvariant(valid, "verified() accepted an entry whose signature is invalid")
        // A valid entry of the fuzz lab: run it through the decision function as well.
        var tally = Tally()
        tally.add(signed, connected: true)
        let v = Verdict.compute(genesis: FuzzGenesis.roster, tally: tally, at: FuzzGenesis.now)
        fuzzConsume(v.json().serialized())
    } catch {
        fuzzConsume(error.description)
    }
    if case .proposal(let p) = signed.entry.body, case .amend(let r) = p.action {
        fuzzInvariant(r.encoded().count <= Limits.maxRosterBytes, "amendment roster exceeds the roster limit")
        fuzzConsume(GenesisDocument(roster: r).fileBytes().description)
    }
    fuzzConsume(signed.entry.kind.name)
    return 0
}
