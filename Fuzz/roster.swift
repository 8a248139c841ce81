// libFuzzer target `roster`: roster files (JSON carrier, SPEC.md §3.4, Roster/GenesisDocument.swift) and the
// canonical roster encoding (§3.1, §3.3, Roster/Roster.swift). Every input goes to both decoders.
//
// Checked properties: nothing traps; a decodable canonical roster re-encodes to exactly the input bytes and its
// JSON form reads back to an equal roster; a readable roster file re-serialises to a file that reads back equal.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))

    do {
        let doc = try GenesisDocument(fileBytes: bytes)
        let report = doc.checkSignatures()
        fuzzConsume("\(report.valid) \(report.invalid) \(report.missing) \(report.unknown) \(report.complete)")
        fuzzConsume(doc.roster.hash.hex)
        do {
            let again = try GenesisDocument(fileBytes: doc.fileBytes())
            fuzzInvariant(again == doc, "a roster file does not read back equal after fileBytes()")
        } catch {
            fuzzInvariant(false, "fileBytes() of a readable roster file is not readable: \(error)")
        }
    } catch {
        fuzzConsume(error.description)
        _ = error.isUnreadable
    }

    do {
        let roster = try Roster(decoding: bytes)
        fuzzInvariant(roster.encoded() == bytes, "decoded roster re-encodes to different bytes (non-canonical input accepted)")
        do {
            // The bare JSON form does not name its format (the file's carrier does): read it in the roster's own.
            let back = try Roster(json: roster.json(), path: "roster", format: roster.format)
            fuzzInvariant(back == roster, "roster JSON form reads back to a different roster")
        } catch {
            fuzzInvariant(false, "JSON form of a decodable roster does not read: \(error)")
        }
        for m in roster.members { _ = roster.policy.mayHalt(roles: m.roles) }
        for o in roster.policy.advanceOverrides { _ = roster.policy.advanceRule(for: o.tier) }
    } catch {
        fuzzConsume(error.description)
    }
    return 0
}
