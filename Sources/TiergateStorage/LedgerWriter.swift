import TiergateCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum LedgerWriteError: Error, Equatable, Sendable, CustomStringConvertible {
    case read(LedgerReadError)
    case wrongGenesis(file: Digest, expected: Digest)
    case chain(String)
    case io(String)
    /// The filesystem is full (ENOSPC, EDQUOT): nothing of the append remains in the file, which is as it was.
    case full(String)

    public var description: String {
        switch self {
        case .read(let e): return e.description
        case .wrongGenesis(let f, let x):
            return "this ledger belongs to genesis roster \(f.short)…, not \(x.short)…; use the ledger of this lab"
        case .chain(let r): return "refusing to append: \(r)"
        case .io(let r): return "I/O error: \(r)"
        case .full(let r): return "disk full: \(r)"
        }
    }
}

/// Appends frames to a ledger file under an exclusive lock, fsyncing before returning (P10).
///
/// Opening recovers from a crash: a torn tail is cut (and reported in ``recoveredBytes``); a corrupt frame in the
/// middle is an error, never skipped.
public final class LedgerWriter {
    public let path: String
    public let genesis: Digest
    /// Bytes cut from a torn tail when the file was opened.
    public private(set) var recoveredBytes = 0
    public private(set) var chain = FeedChain()
    /// Ids of detached halts already in the file.
    public private(set) var detachedHalts = Set<Digest>()
    /// Authors with equivocation evidence already in the file.
    public private(set) var evidenceAuthors = Set<PublicKey>()
    public private(set) var frameCount = 0
    private let descriptor: OwnedDescriptor
    private var fd: Int32 { descriptor.raw }

    /// Opens (creating if missing) the ledger at `path` for lab instance `genesis`.
    ///
    /// - Parameter lockTimeoutMs: how long to wait while another writer holds the file's lock.
    public init(path: String, genesis: Digest, lockTimeoutMs: Int = 10_000) throws(LedgerWriteError) {
        self.path = path
        self.genesis = genesis
        let opened = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard opened >= 0 else { throw .read(.cannotOpen(path: path, reason: String(cString: strerror(errno)))) }
        // Owned from here: every throw below closes it once, with the lock (OwnedDescriptor).
        let descriptor = OwnedDescriptor(opened)
        // One writer at a time (a node and a CLI may share a ledger): wait up to `lockTimeoutMs`, then say so.
        var waited = 0
        while flock(descriptor.raw, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR, waited < lockTimeoutMs else {
                let reason = errno == EWOULDBLOCK ? "it is locked by another writer (a running node?)" : String(cString: strerror(errno))
                throw .io("cannot lock \(path): \(reason)")
            }
            usleep(20_000)
            waited += 20
        }
        self.descriptor = descriptor
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .io(String(cString: strerror(errno))) }
        if st.st_size == 0 {
            try LedgerWriter.writeAll(fd, LedgerFormat.header(genesis: genesis))
            try LedgerWriter.sync(fd)
            LedgerWriter.syncDirectory(of: path)
        } else {
            recoveredBytes = try scan()
        }
    }

    /// Reads the existing frames to learn feed heads, cutting a torn tail. Returns the bytes cut.
    private func scan() throws(LedgerWriteError) -> Int {
        let reader: LedgerReader
        do { reader = try LedgerReader(path: path) } catch { throw .read(error) }
        guard reader.genesis == genesis else { throw .wrongGenesis(file: reader.genesis, expected: genesis) }
        while true {
            let frame: RawFrame?
            do {
                frame = try reader.next()
            } catch {
                if case .tornTail(let offset, _, let bytes, _) = error {
                    guard ftruncate(fd, off_t(offset)) == 0 else { throw .io(String(cString: strerror(errno))) }
                    try LedgerWriter.sync(fd)
                    return bytes
                }
                throw .read(error)
            }
            guard let f = frame else { return 0 }
            frameCount += 1
            switch FrameType(rawValue: f.typeByte) {
            case .entry:
                guard let e = try? SignedEntry(decoding: f.payload) else {
                    throw .read(.corruptFrame(offset: f.offset, frameIndex: f.index, reason: "undecodable entry"))
                }
                if chain.violation(e.entry) == nil { chain.extend(e.entry, id: e.id) }
            case .detachedHalt:
                if let e = try? SignedEntry(decoding: f.payload) { detachedHalts.insert(e.id) }
            case .evidence:
                if let ev = try? LedgerFormat.decodeEvidence(f.payload) { evidenceAuthors.insert(ev.author) }
            case nil:
                throw .read(.corruptFrame(offset: f.offset, frameIndex: f.index, reason: "unknown frame type \(f.typeByte)"))
            }
        }
    }

    /// Appends entries that extend their authors' feeds, then fsyncs. All or nothing is checked before writing.
    public func append(entries: [SignedEntry]) throws(LedgerWriteError) {
        var trial = chain
        var bytes: [UInt8] = []
        for e in entries {
            if let why = trial.violation(e.entry) { throw .chain(why) }
            trial.extend(e.entry, id: e.id)
            bytes += LedgerFormat.frame(.entry, payload: e.bytes)
        }
        try write(bytes)
        chain = trial
        frameCount += entries.count
    }

    /// Appends a halt that does not extend its author's feed here (it counts anyway).
    public func appendDetachedHalt(_ e: SignedEntry) throws(LedgerWriteError) {
        guard e.entry.kind.isHalt || e.entry.kind == .drillAck else {
            throw .chain("only halts (named or anonymous) and drill acknowledgements may be stored outside a feed")
        }
        guard !detachedHalts.contains(e.id) else { return }
        try write(LedgerFormat.frame(.detachedHalt, payload: e.bytes))
        detachedHalts.insert(e.id)
        frameCount += 1
    }

    /// Appends proof of equivocation.
    public func appendEvidence(_ ev: EquivocationEvidence) throws(LedgerWriteError) {
        try write(LedgerFormat.frame(.evidence, payload: LedgerFormat.evidencePayload(ev)))
        evidenceAuthors.insert(ev.author)
        frameCount += 1
    }

    /// Appends `bytes` and fsyncs; when that fails, cuts the file back to where it was, so a failed append
    /// leaves no partial frame behind (a full disk is then only a refusal, SPEC.md §6.3).
    private func write(_ bytes: [UInt8]) throws(LedgerWriteError) {
        let start = lseek(fd, 0, SEEK_END)
        guard start >= 0 else { throw .io(String(cString: strerror(errno))) }
        do throws(LedgerWriteError) {
            try LedgerWriter.writeAll(fd, bytes)
            try LedgerWriter.sync(fd)
        } catch {
            guard ftruncate(fd, start) == 0, fsync(fd) == 0 else {
                throw .io("\(error), and the partial append could not be cut back: \(String(cString: strerror(errno)))")
            }
            throw error
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(LedgerWriteError) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, bytes.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == ENOSPC || errno == EDQUOT { throw .full(String(cString: strerror(errno))) }
                throw .io(String(cString: strerror(errno)))
            }
            done += n
        }
    }

    static func sync(_ fd: Int32) throws(LedgerWriteError) {
        guard fsync(fd) == 0 else {
            if errno == ENOSPC || errno == EDQUOT { throw .full("fsync: \(String(cString: strerror(errno)))") }
            throw .io("fsync failed: \(String(cString: strerror(errno)))")
        }
    }

    /// fsyncs the directory holding `path` so that a newly created file's name is durable too.
    public static func syncDirectory(of path: String) {
        let dir = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        let dfd = open(dir.isEmpty ? "/" : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }
}
