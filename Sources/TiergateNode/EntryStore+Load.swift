import TiergateCore
import TiergateStorage

extension EntryStore {
    /// Loads a node's ledger file into a store, verifying every frame (signatures on all cores).
    ///
    /// The caller opens a ``LedgerWriter`` first, which cuts a torn tail; any remaining problem means the
    /// ledger is corrupt, and the node refuses to start rather than serve a ledger it cannot vouch for.
    public static func load(path: String, genesis: Roster) throws -> EntryStore {
        let audit = try LedgerAudit.run(path: path, genesis: genesis)
        guard audit.isValid else {
            throw NodeError.corruptLedger(path: path, problems: audit.problems.map(\.description))
        }
        var store = EntryStore(genesis: genesis)
        let reader = try LedgerReader(path: path)
        while let frame = try reader.next() {
            switch FrameType(rawValue: frame.typeByte) {
            case .entry:
                let e = try SignedEntry(decoding: frame.payload)
                _ = try? store.insertVerified(e)
            case .detachedHalt:
                store.loadDetachedHalt(try SignedEntry(decoding: frame.payload))
            case .evidence:
                var detached: [SignedEntry] = []
                _ = try? store.insertEvidence(try LedgerFormat.decodeEvidence(frame.payload), detached: &detached)
            case nil:
                break
            }
        }
        return store
    }
}

public enum NodeError: Error, CustomStringConvertible {
    case corruptLedger(path: String, problems: [String])
    case cannotListen(String)
    case io(String)
    /// The ledger could not be written (disk full, I/O error): the node stopped rather than acknowledge it.
    case persistFailed(String)

    public var description: String {
        switch self {
        case .corruptLedger(let p, let problems):
            return "ledger \(p) does not verify (\(problems.count) problem(s); first: \(problems.first ?? "")); "
                + "nothing was cut. Move it aside (mv \(p) \(p).corrupt) and restart: the node starts empty and re-fetches "
                + "every entry from its peers; keep the moved file for an audit (tiergate ledger verify), or restore a copy"
        case .cannotListen(let r): return "cannot listen: \(r)"
        case .io(let r): return r
        case .persistFailed(let r):
            return "cannot write to the ledger (\(r)); the node stopped without acknowledging it. Free space or fix the disk, then restart"
        }
    }
}
