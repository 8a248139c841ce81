// libFuzzer target `ledger`: ledger files (SPEC.md §6, Sources/TiergateCore/Ledger/, Sources/TiergateStorage/).
//
// The input is written to a temporary file (one per process, rewritten for every input) and read three ways:
// `LedgerReader` iteration (frames until nil or a throw), `LedgerAudit.run(path:genesis:parallel: false)` against
// the fixed fuzz genesis roster (the vector lab, whose hash is in every vector ledger's header), and the verdict
// over the audit's tally at the fixed time FuzzGenesis.now, rendered as JSON as `ledger verify --json` does.
// Checked properties: nothing traps; the audit sees exactly the frames the reader yields.

#if canImport(Glibc)
import Glibc
#endif

private let ledgerPath: String = {
    // scripts/fuzz points TIERGATE_FUZZ_TMP at .build-fuzz/tmp and removes the files of the runs it started.
    let dir = getenv("TIERGATE_FUZZ_TMP").map { String(cString: $0) } ?? "/tmp"
    var template = Array("\(dir)/tiergate-fuzz-ledger-\(getpid())-XXXXXX".utf8CString)
    let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    precondition(fd >= 0, "cannot create the fuzz ledger temp file")
    close(fd)
    let path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    atexit { if let p = fuzzLedgerPathC { unlink(p) } }
    fuzzLedgerPathC = strdup(path)
    return path
}()
nonisolated(unsafe) private var fuzzLedgerPathC: UnsafeMutablePointer<CChar>? = nil

private func writeLedger(_ data: UnsafePointer<UInt8>, _ size: Int) {
    let fd = open(ledgerPath, O_WRONLY | O_TRUNC | O_CLOEXEC)
    precondition(fd >= 0, "cannot open the fuzz ledger temp file")
    var done = 0
    while done < size {
        let n = write(fd, data + done, size - done)
        precondition(n > 0, "cannot write the fuzz ledger temp file")
        done += n
    }
    close(fd)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    writeLedger(data, size)

    var frames = 0
    var readError: LedgerReadError? = nil
    do {
        let reader = try LedgerReader(path: ledgerPath)
        fuzzInvariant(reader.fileSize == size, "reader sees \(reader.fileSize) bytes, \(size) written")
        do {
            while let f = try reader.next() {
                fuzzInvariant(f.index == frames, "frame index out of order")
                frames += 1
                switch FrameType(rawValue: f.typeByte) {
                case .entry, .detachedHalt:
                    if let e = try? SignedEntry(decoding: f.payload) {
                        fuzzInvariant(e.bytes == f.payload, "entry in a frame re-encodes to different bytes")
                    }
                case .evidence:
                    if let ev = try? LedgerFormat.decodeEvidence(f.payload) {
                        fuzzInvariant(LedgerFormat.evidencePayload(ev) == f.payload, "evidence payload re-encodes differently")
                    }
                case nil: break
                }
            }
            fuzzInvariant(reader.offset == size, "clean end of file before the end of the file")
        } catch {
            readError = error
            fuzzConsume(error.description)
        }
    } catch {
        readError = error
        fuzzConsume(error.description)
    }

    do {
        let result = try LedgerAudit.run(path: ledgerPath, genesis: FuzzGenesis.roster, parallel: false)
        if result.genesis == FuzzGenesis.hash {
            fuzzInvariant(result.frames == frames, "audit counted \(result.frames) frames, the reader yielded \(frames)")
            fuzzInvariant(result.isValid || !result.problems.isEmpty, "invalid without a problem")
            if readError != nil { fuzzInvariant(!result.isValid, "the reader failed but the audit says valid") }
        }
        for p in result.problems { fuzzConsume(p.description) }
        for g in result.gaps { fuzzConsume("\(g.author) \(g.missingFrom) \(g.missingTo)") }
        let verdict = Verdict.compute(genesis: FuzzGenesis.roster, tally: result.tally, at: FuzzGenesis.now)
        fuzzConsume(verdict.json().serialized())
    } catch {
        fuzzConsume(error.description)
    }
    return 0
}
