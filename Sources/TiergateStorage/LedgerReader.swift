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
    private let descriptor: OwnedDescriptor
    private var fd: Int32 { descriptor.raw }
    private var buffer: [UInt8] = []
    private var bufferStart = 0  // file offset of buffer[0]
    private var position: Int  // file offset of the next frame
    private var index = 0
    private static let chunk = 1 << 20

    /// Opens `path` and reads its header.
    public init(path: String) throws(LedgerReadError) {
        self.path = path
        let opened = open(path, O_RDONLY | O_CLOEXEC)
        guard opened >= 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        // Owned from here: every throw below closes it once (OwnedDescriptor).
        let descriptor = OwnedDescriptor(opened)
        var st = stat()
        guard fstat(descriptor.raw, &st) == 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        let size = Int(st.st_size)
        var header = [UInt8](repeating: 0, count: LedgerFormat.headerLength)
        let n = size >= LedgerFormat.headerLength ? header.withUnsafeMutableBytes { [raw = descriptor.raw] in pread(raw, $0.baseAddress!, $0.count, 0) } : 0
        guard n == LedgerFormat.headerLength else {
            throw .notALedger(reason: "file is shorter than the \(LedgerFormat.headerLength)-byte header")
        }
        self.genesis = try LedgerReader.parseHeader(header)
        self.descriptor = descriptor
        self.fileSize = size
        self.position = LedgerFormat.headerLength
    }

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
    /// Throws ``LedgerReadError/tornTail`` only when the bytes from here to the end are an interrupted append:
    /// no intact frame follows (a scan finds no header whose checksum holds), and they are all zeros (what some
    /// filesystems leave after a crash) or at most one maximal frame. Anything else that does not read as a frame
    /// is ``LedgerReadError/corruptFrame`` — a flipped bit in a length field, say, must never make acknowledged
    /// frames after it look like a tail to cut (SPEC.md §6.3).
    public func next() throws(LedgerReadError) -> RawFrame? {
        let remaining = fileSize - position
        if remaining == 0 { return nil }
        let frameIndex = index
        guard remaining >= LedgerFormat.frameHeaderLength else {
            throw try classify(reason: "incomplete frame header", remaining: remaining)
        }
        try fill(position, LedgerFormat.frameHeaderLength)
        let h = position - bufferStart
        let type = buffer[h]
        let length = LedgerFormat.declaredLength(buffer, at: h)
        let total = LedgerFormat.frameHeaderLength + length + LedgerFormat.checksumLength
        guard length <= LedgerFormat.maxPayload else {
            throw try classify(reason: "declared length \(length) exceeds the maximum \(LedgerFormat.maxPayload)", remaining: remaining)
        }
        guard total <= remaining else {
            throw try classify(reason: "frame declares \(total) bytes, \(remaining) remain", remaining: remaining)
        }
        try fill(position, total)
        let s = position - bufferStart
        let body = Array(buffer[s..<s + LedgerFormat.frameHeaderLength + length])
        let sum = Array(buffer[s + LedgerFormat.frameHeaderLength + length..<s + total])
        guard Sodium.constantTimeEqual(Blake2b.hash(body, outputLength: LedgerFormat.checksumLength), sum) else {
            throw try classify(reason: total == remaining ? "checksum mismatch in the final frame" : "checksum mismatch", remaining: remaining)
        }
        let frame = RawFrame(
            index: frameIndex, offset: position, typeByte: type, payload: Array(body[LedgerFormat.frameHeaderLength...]))
        position += total
        index += 1
        return frame
    }

    /// What the bytes from `position` to the end are, given that no frame reads at `position` (SPEC.md §6.3).
    private func classify(reason: String, remaining: Int) throws(LedgerReadError) -> LedgerReadError {
        let torn = LedgerReadError.tornTail(offset: position, frameIndex: index, bytes: remaining, reason: reason)
        // Larger than any one append could leave: corruption, unless it is all zeros (a zero-filled tail).
        guard remaining <= LedgerFormat.maxFrameLength else {
            return try allZero(from: position) ? torn
                : .corruptFrame(offset: position, frameIndex: index, reason: reason + "; more than one frame's worth of data follows")
        }
        try fill(position, remaining)
        let tail = Array(buffer[(position - bufferStart)...].prefix(remaining))
        if let bit = LedgerReader.lengthBitRepairs(tail) {
            return .corruptFrame(offset: position, frameIndex: index,
                                 reason: reason + "; with bit \(bit) of its length flipped it is an intact frame: a damaged length field, not a torn tail")
        }
        if let at = LedgerReader.firstIntactFrame(in: tail, after: 0) {
            return .corruptFrame(offset: position, frameIndex: index,
                                 reason: reason + "; an intact frame follows at offset \(position + at), so this is not a torn tail")
        }
        return torn
    }

    /// Whether every byte from `offset` to the end of the file is zero (read in chunks, stopping at the first
    /// non-zero byte).
    private func allZero(from offset: Int) throws(LedgerReadError) -> Bool {
        var at = offset
        while at < fileSize {
            let n = min(LedgerReader.chunk, fileSize - at)
            let chunk = try readExact(at: at, count: n)
            if chunk.contains(where: { $0 != 0 }) { return false }
            at += n
        }
        return true
    }

    /// The bit (0 = least significant) whose flip in the length field of the frame at the start of `bytes` makes it
    /// a whole, intact frame followed by intact frames to the end, or nil. A torn append leaves a prefix of a frame;
    /// a frame that one bit of its length turns intact again was written whole and damaged since.
    static func lengthBitRepairs(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= LedgerFormat.frameHeaderLength + LedgerFormat.checksumLength else { return nil }
        for bit in 0..<32 {
            var repaired = bytes
            repaired[1 + (3 - bit / 8)] ^= UInt8(1 << (bit % 8))
            if intactFrames(in: repaired, from: 0) { return bit }
        }
        return nil
    }

    /// The offset (> `after`) in `bytes` of the first position from which whole frames with valid checksums run on
    /// exactly to the end, or nil. Requiring the run to reach the end means a frame-shaped byte string inside a
    /// torn append's payload (an evidence digest, say) does not pass for the acknowledged frames that would follow
    /// damage; the checksum (BLAKE2b-128) makes a false match a 2^-128 event.
    static func firstIntactFrame(in bytes: [UInt8], after: Int) -> Int? {
        var o = after + 1
        while o + LedgerFormat.frameHeaderLength + LedgerFormat.checksumLength <= bytes.count {
            if intactFrames(in: bytes, from: o) { return o }
            o += 1
        }
        return nil
    }

    /// Whether `bytes[from...]` is a run of intact frames (empty counts).
    static func intactFrames(in bytes: [UInt8], from: Int) -> Bool {
        var o = from
        while o < bytes.count {
            guard let total = LedgerFormat.intactFrameLength(bytes, at: o) else { return false }
            o += total
        }
        return true
    }
}
