// libFuzzer target `frame`: the node protocol's frame parser and message decoder (SPEC.md §8.1–8.2,
// Sources/TiergateCore/Wire/WireMessage.swift).
//
// The input is a byte stream as a peer would send it. It is fed to a FrameParser in one piece, and again in 1–3
// chunks split at input-derived positions; `next()` is called until nil or a throw. Checked properties:
// - nothing traps;
// - chunking does not change what the parser yields (messages, the error, the bytes left buffered);
// - every decoded message re-encodes to exactly the body it was decoded from (one encoding per value, §2.1),
//   and that encoding decodes to an equal message;
// - payloads a client decodes further (signed entries, tokens) go through their decoders too, and a STATUS is
//   rendered as text and JSON, as the CLI does.

private enum Outcome: Equatable {
    case message(WireMessage)
    case failed(FrameError)
}

/// Appends `chunks` in turn, draining the parser after each; stops at the first error (a node closes then).
private func run(_ chunks: [ArraySlice<UInt8>]) -> (outcomes: [Outcome], buffered: Int) {
    var parser = FrameParser()
    var out: [Outcome] = []
    for chunk in chunks {
        parser.append(chunk)
        while true {
            do {
                guard let m = try parser.next() else { break }
                out.append(.message(m))
            } catch {
                fuzzConsume(error.description)
                out.append(.failed(error))
                return (out, parser.buffered)
            }
        }
    }
    return (out, parser.buffered)
}

private func checkEntry(_ bytes: [UInt8]) {
    do {
        let e = try SignedEntry(decoding: bytes)
        fuzzInvariant(e.bytes == bytes, "a decoded signed entry re-encodes to different bytes")
        _ = e.signatureIsValid
        _ = try? e.verified(lab: FuzzGenesis.roster.lab, genesis: FuzzGenesis.hash)
    } catch {
        fuzzConsume(error.description)
    }
}

private func checkNested(_ m: WireMessage) {
    switch m {
    case .entries(let list): for e in list { checkEntry(e) }
    case .evidence(let a, let b):
        checkEntry(a)
        checkEntry(b)
    case .submit(_, let e): checkEntry(e)
    case .head(_, _, _, _, let e): if !e.isEmpty { checkEntry(e) }
    case .status(_, let status):
        // What the CLI does with a node's answer: render it as text and as JSON.
        fuzzConsume(status.text())
        fuzzConsume(status.json().serialized())
    case .token(_, let reason, let token):
        fuzzConsume(reason)
        if !token.isEmpty {
            do { _ = try TierToken(decoding: token) } catch { fuzzConsume(error.description) }
        }
    case .attest(_, _, let a?):
        _ = a.isValid(core: Digest.zero)
    default: break
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))

    let whole = run([bytes[...]])
    var chunks: [ArraySlice<UInt8>] = []
    var from = 0
    for cut in fuzzSplitPoints(bytes) {
        chunks.append(bytes[from..<cut])
        from = cut
    }
    chunks.append(bytes[from...])
    let split = run(chunks)
    fuzzInvariant(whole.outcomes == split.outcomes, "chunking changed the parsed messages or the error")
    if case .failed = whole.outcomes.last {} else {
        fuzzInvariant(whole.buffered == split.buffered, "chunking changed the buffered byte count")
    }

    // Every message came from `u32 length || body` at a known offset of the stream.
    var offset = 0
    for case .message(let m) in whole.outcomes {
        let n = Int(bytes[offset]) << 24 | Int(bytes[offset + 1]) << 16 | Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
        let body = Array(bytes[(offset + 4)..<(offset + 4 + n)])
        offset += 4 + n

        let again = m.encodedBody()
        fuzzInvariant(again == body, "\(m.name): decoded message re-encodes to different bytes (non-canonical input accepted)")
        do {
            let back = try WireMessage(body: again)
            fuzzInvariant(back == m, "\(m.name): round trip decodes to a different message")
        } catch {
            fuzzInvariant(false, "\(m.name): re-encoded message does not decode: \(error)")
        }
        let frame = m.encodedFrame()
        fuzzInvariant(Array(frame[4...]) == body && frame.count == n + 4, "\(m.name): encodedFrame differs from the input frame")
        fuzzConsume(m.name)
        checkNested(m)
    }
    return 0
}
