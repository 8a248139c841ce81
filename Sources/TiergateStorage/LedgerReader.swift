import TiergateCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A problem reading a ledger file's structure.
public enum LedgerReadError: Error, Equatable, Sendable, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    case notALedger(reason: String)
    /// The final bytes do not form a whole, valid frame: an interrupted append.
    case tornTail(offset: Int, frameIndex: Int, bytes: Int, reason: String)
    /// A frame before the end fails its checksum or framing: corruption, never skipped.
    case corruptFrame(offset: Int, frameIndex: Int, reason: String)
    case io(String)

    public var description: String {
        switch self {
        case .cannotOpen(let p, let r): return "cannot open ledger \(p): \(r)"
        case .notALedger(let r): return "not a Tiergate ledger: \(r)"
        case .tornTail(let o, let i, let n, let r):
            return "torn tail: the last \(n) byte(s) from offset \(o) (frame #\(i)) are not a whole frame (\(r))"
        case .corruptFrame(let o, let i, let r): return "corrupt frame #\(i) at offset \(o): \(r)"
        case .io(let r): return "I/O error: \(r)"
        }
    }
}

/// Streams the frames of a ledger file with bounded memory (one read buffer plus one frame).
public final class LedgerReader {
    public let path: String
    public let genesis: Digest
    public let fileSize: Int
    private let fd: Int32
    private var buffer: [UInt8] = []
    private var bufferStart = 0  // file offset of buffer[0]
    private var position: Int  // file offset of the next frame
    private var index = 0
    private static let chunk = 1 << 20

    /// Opens `path` and reads its header.
    public init(path: String) throws(LedgerReadError) {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            close(fd)
            throw .cannotOpen(path: path, reason: String(cString: strerror(errno)))
        }
        let size = Int(st.st_size)
        var header = [UInt8](repeating: 0, count: LedgerFormat.headerLength)
        let n = size >= LedgerFormat.headerLength ? header.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, $0.count, 0) } : 0
        guard n == LedgerFormat.headerLength else {
            close(fd)
            throw .notALedger(reason: "file is shorter than the \(LedgerFormat.headerLength)-byte header")
        }
        do {
            self.genesis = try LedgerReader.parseHeader(header)
        } catch {
            close(fd)
            throw error
        }
        self.fd = fd
        self.fileSize = size
        self.position = LedgerFormat.headerLength
    }

    deinit { close(fd) }

    static func parseHeader(_ h: [UInt8]) throws(LedgerReadError) -> Digest {
        guard h.count == LedgerFormat.headerLength else {
            throw .notALedger(reason: "file is shorter than the \(LedgerFormat.headerLength)-byte header")
        }
        guard Array(h[0..<8]) == LedgerFormat.magic else { throw .notALedger(reason: "bad magic (expected TGLEDGER)") }
        var r = ByteReader(h, offset: 8)
        let version = try? r.u32("version")
        guard version == LedgerFormat.version else {
            throw .notALedger(reason: "unsupported ledger version \(version ?? 0)")
        }
        let genesis = (try? r.digest("genesis"))!
        guard (try? r.u32("reserved")) == 0 else { throw .notALedger(reason: "reserved header field is not zero") }
        return genesis
    }

    private func readExact(at offset: Int, count: Int) throws(LedgerReadError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(offset + done)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(String(cString: strerror(errno)))
            }
            if n == 0 { break }
            done += n
        }
        return done == count ? out : Array(out[..<done])
    }

    /// Makes at least `count` bytes from file offset `at` available in the buffer (fewer at end of file).
    private func fill(_ at: Int, _ count: Int) throws(LedgerReadError) {
        let end = bufferStart + buffer.count
        if at >= bufferStart && at + count <= end { return }
        // Keep the unread part, then append a chunk.
        if at >= bufferStart && at <= end {
            buffer.removeFirst(at - bufferStart)
        } else {
            buffer.removeAll(keepingCapacity: true)
        }
        bufferStart = at
        let want = max(count - buffer.count, LedgerReader.chunk)
        let more = try readExact(at: bufferStart + buffer.count, count: min(want, fileSize - (bufferStart + buffer.count)))
        buffer.append(contentsOf: more)
    }

    /// Offset where the next frame starts (equal to the file size after the last frame).
    public var offset: Int { position }

    /// The next frame, nil at a clean end of file.
    ///
    /// Throws ``LedgerReadError/tornTail`` when the remaining bytes are a partial or corrupt final frame and
    /// ``LedgerReadError/corruptFrame`` when a frame that is followed by more data is corrupt.
    public func next() throws(LedgerReadError) -> RawFrame? {
        let remaining = fileSize - position
        if remaining == 0 { return nil }
        let frameIndex = index
        guard remaining >= LedgerFormat.frameHeaderLength else {
            throw .tornTail(offset: position, frameIndex: frameIndex, bytes: remaining, reason: "incomplete frame header")
        }
        try fill(position, LedgerFormat.frameHeaderLength)
        let h = position - bufferStart
        let type = buffer[h]
        let length = Int(buffer[h + 1]) << 24 | Int(buffer[h + 2]) << 16 | Int(buffer[h + 3]) << 8 | Int(buffer[h + 4])
        let total = LedgerFormat.frameHeaderLength + length + LedgerFormat.checksumLength
        guard length <= LedgerFormat.maxPayload else {
            throw classify(reason: "declared length \(length) exceeds the maximum \(LedgerFormat.maxPayload)", remaining: remaining)
        }
        guard total <= remaining else {
            throw .tornTail(offset: position, frameIndex: frameIndex, bytes: remaining, reason: "frame declares \(total) bytes, \(remaining) remain")
        }
        try fill(position, total)
        let s = position - bufferStart
        let body = Array(buffer[s..<s + LedgerFormat.frameHeaderLength + length])
        let sum = Array(buffer[s + LedgerFormat.frameHeaderLength + length..<s + total])
        guard Sodium.constantTimeEqual(Blake2b.hash(body, outputLength: LedgerFormat.checksumLength), sum) else {
            if total == remaining {
                throw .tornTail(offset: position, frameIndex: frameIndex, bytes: remaining, reason: "checksum mismatch in the final frame")
            }
            throw .corruptFrame(offset: position, frameIndex: frameIndex, reason: "checksum mismatch")
        }
        let frame = RawFrame(
            index: frameIndex, offset: position, typeByte: type, payload: Array(body[LedgerFormat.frameHeaderLength...]))
        position += total
        index += 1
        return frame
    }

    private func classify(reason: String, remaining: Int) -> LedgerReadError {
        // A torn append leaves at most one frame's worth of bytes; anything longer is corruption.
        if remaining <= LedgerFormat.maxFrameLength {
            return .tornTail(offset: position, frameIndex: index, bytes: remaining, reason: reason)
        }
        return .corruptFrame(offset: position, frameIndex: index, reason: reason)
    }
}
