import TiergateCore
import Dispatch

/// One thing wrong with a ledger, located by frame number and byte offset (SPEC.md §6.4); a problem of the header
/// has no frame number and the offset of the header field.
public struct LedgerProblem: Hashable, Sendable, CustomStringConvertible {
    public var frameIndex: Int?
    public var offset: Int
    public var entryId: Digest?
    public var message: String

    public var description: String {
        let id = entryId.map { " (entry \($0.short)…)" } ?? ""
        return "\(frameIndex.map { "entry #\($0)" } ?? "header") at offset \(offset)\(id): \(message)"
    }
}

/// Positions missing from an author's feed.
public struct FeedGap: Hashable, Sendable {
    public var author: PublicKey
    public var missingFrom: UInt64
    public var missingTo: UInt64
}

/// The outcome of reading and checking a whole ledger (SPEC.md §6.4).
public struct AuditResult: Sendable {
    public var genesis: Digest
    public var frames = 0
    public var bytes = 0
    public var problems: [LedgerProblem] = []
    public var tally = Tally()
    public var chain = FeedChain()
    /// Detached halts seen per author, by feed position: used to report gaps.
    var detachedPositions: [PublicKey: Set<UInt64>] = [:]

    /// Feeds with missing positions: a halt arrived (detached) beyond the connected head (SPEC.md §4.3).
    public var gaps: [FeedGap] {
        var out: [FeedGap] = []
        for (author, positions) in detachedPositions {
            let head = chain.heads[author]?.seq ?? 0
            if let highest = positions.max(), highest > head + 1 {
                out.append(FeedGap(author: author, missingFrom: head + 1, missingTo: highest - 1))
            }
        }
        return out.sorted { $0.author < $1.author }
    }

    public var isValid: Bool { problems.isEmpty }
}

/// Streams a ledger file: checks every checksum, signature, lab binding and feed chain; builds the ``Tally``.
///
/// Signature checks run on all cores in batches; the chain and tally are applied in file order. Memory is one
/// batch of frames plus per-author and per-proposal state.
public enum LedgerAudit {
    public static let batchSize = 4096

    /// Audits `path` against the genesis roster `genesis`.
    ///
    /// - Parameters:
    ///   - parallel: verify signatures on all cores.
    ///   - progress: called after each batch with (bytes read, file size).
    /// - Throws: only when the file cannot be opened or is not a ledger; everything else is a ``LedgerProblem``.
    public static func run(
        path: String, genesis: Roster, parallel: Bool = true, progress: ((Int, Int) -> Void)? = nil
    ) throws(LedgerReadError) -> AuditResult {
        let reader = try LedgerReader(path: path)
        let genesisHash = genesis.hash
        var result = AuditResult(genesis: reader.genesis)
        result.bytes = reader.fileSize
        if reader.genesis != genesisHash {
            // A violation; verification goes on, and every other violation is reported too (SPEC.md §6.4).
            result.problems.append(
                LedgerProblem(
                    frameIndex: nil, offset: LedgerFormat.genesisOffset, entryId: nil,
                    message: "the ledger header names genesis roster \(reader.genesis.short)…, but the roster file's hash is \(genesisHash.short)…"))
        }
        var batch: [RawFrame] = []
        var finished = false
        while !finished {
            batch.removeAll(keepingCapacity: true)
            do {
                while batch.count < batchSize, let f = try reader.next() { batch.append(f) }
                if batch.count < batchSize { finished = true }
            } catch {
                finished = true
                let (offset, index): (Int, Int)
                switch error {
                case .tornTail(let o, let i, _, _), .corruptFrame(let o, let i, _): (offset, index) = (o, i)
                default: (offset, index) = (reader.offset, -1)
                }
                // Process what was read before reporting the break.
                apply(checked(batch, lab: genesis.lab, genesis: genesisHash, parallel: parallel), to: &result)
                batch.removeAll()
                result.problems.append(LedgerProblem(frameIndex: index, offset: offset, entryId: nil, message: error.description))
            }
            apply(checked(batch, lab: genesis.lab, genesis: genesisHash, parallel: parallel), to: &result)
            progress?(reader.offset, reader.fileSize)
        }
        return result
    }

    enum Checked {
        case entry(SignedEntry)
        case detached(SignedEntry)
        case evidence(EquivocationEvidence)
        case bad(Digest?, String)
    }

    static func checked(_ frames: [RawFrame], lab: String, genesis: Digest, parallel: Bool) -> [(RawFrame, Checked)] {
        guard !frames.isEmpty else { return [] }
        let strategy: ParallelFor = parallel && frames.count > 64 ? .allCores : .sequential
        let out = strategy.map(frames, chunks: min(frames.count / 32, 64), placeholder: Checked.bad(nil, "")) {
            check($0, lab: lab, genesis: genesis)
        }
        return Array(zip(frames, out))
    }

    static func check(_ f: RawFrame, lab: String, genesis: Digest) -> Checked {
        guard let type = FrameType(rawValue: f.typeByte) else { return .bad(nil, "unknown frame type \(f.typeByte)") }
        switch type {
        case .entry, .detachedHalt:
            let e: SignedEntry
            do { e = try SignedEntry(decoding: f.payload) } catch { return .bad(nil, error.description) }
            do { try e.verified(lab: lab, genesis: genesis) } catch { return .bad(e.id, error.description) }
            if type == .detachedHalt {
                guard e.entry.kind.isHalt || e.entry.kind == .drillAck else {
                    return .bad(e.id, "a detached frame holds a \(e.entry.kind.name), not a halt or a drill acknowledgement")
                }
                return .detached(e)
            }
            if e.entry.kind.isStandalone {
                return .bad(e.id, "an ENTRY frame holds a \(e.entry.kind == .drillAck ? "drill acknowledgement" : "anonymous halt"), which is in no feed (a DETACHED frame)")
            }
            return .entry(e)
        case .evidence:
            let ev: EquivocationEvidence
            do { ev = try LedgerFormat.decodeEvidence(f.payload) } catch { return .bad(nil, "evidence: \(error)") }
            guard ev.isValid(lab: lab, genesis: genesis) else {
                return .bad(ev.first.id, "evidence is not two validly signed, different entries at one feed position")
            }
            return .evidence(ev)
        }
    }

    static func apply(_ checked: [(RawFrame, Checked)], to result: inout AuditResult) {
        for (f, c) in checked {
            result.frames += 1
            switch c {
            case .bad(let id, let message):
                result.problems.append(LedgerProblem(frameIndex: f.index, offset: f.offset, entryId: id, message: message))
            case .entry(let e):
                if let why = result.chain.violation(e.entry) {
                    result.problems.append(LedgerProblem(frameIndex: f.index, offset: f.offset, entryId: e.id, message: why))
                    // A validly signed halt counts wherever it is seen, even in a frame that breaks the feed rule.
                    if case .halt = e.entry.body { result.tally.add(e, connected: false) }
                    continue
                }
                result.chain.extend(e.entry, id: e.id)
                result.tally.add(e, connected: true)
            case .detached(let e):
                result.tally.add(e, connected: false)
                if e.entry.kind == .halt { result.detachedPositions[e.entry.author, default: []].insert(e.entry.seq) }
            case .evidence(let ev):
                result.tally.addEquivocation(ev)
            }
        }
    }
}
