/// The ledger file format (SPEC.md §6): a 48-byte header, then self-delimiting, checksummed frames.
public enum LedgerFormat {
    /// "TGLEDGER".
    public static let magic: [UInt8] = Array("TGLEDGER".utf8)
    public static let version: UInt32 = 1
    public static let headerLength = 48
    /// Where the header's genesis hash starts (after the 8-byte magic and the u32 version).
    public static let genesisOffset = 12
    /// `u8 type || u32 length`.
    public static let frameHeaderLength = 5
    public static let checksumLength = 16
    /// The largest payload: an evidence frame holding two maximal entries.
    public static let maxPayload = 2 * (4 + Limits.maxEntryBytes)
    public static let maxFrameLength = frameHeaderLength + maxPayload + checksumLength

    public static func header(genesis: Digest) -> [UInt8] {
        var w = ByteWriter()
        w.raw(magic)
        w.u32(version)
        w.raw(genesis.bytes)
        w.u32(0)
        return w.bytes
    }

    /// `type || length || payload || BLAKE2b-128(type || length || payload)`.
    public static func frame(_ type: FrameType, payload: [UInt8]) -> [UInt8] {
        precondition(payload.count <= maxPayload)
        var w = ByteWriter()
        w.u8(type.rawValue)
        w.u32(UInt32(payload.count))
        w.raw(payload)
        let sum = Blake2b.hash(w.bytes, outputLength: checksumLength)
        w.raw(sum)
        return w.bytes
    }

    /// The payload length a frame header at `o` declares (`u32`, big-endian).
    public static func declaredLength(_ bytes: [UInt8], at o: Int) -> Int {
        Int(bytes[o + 1]) << 24 | Int(bytes[o + 2]) << 16 | Int(bytes[o + 3]) << 8 | Int(bytes[o + 4])
    }

    /// The whole length of the frame at `o` when it is intact: a known type, a payload within the bound that fits
    /// in `bytes`, and a checksum that holds; nil otherwise.
    public static func intactFrameLength(_ bytes: [UInt8], at o: Int) -> Int? {
        guard o + frameHeaderLength + checksumLength <= bytes.count, FrameType(rawValue: bytes[o]) != nil else { return nil }
        let length = declaredLength(bytes, at: o)
        let total = frameHeaderLength + length + checksumLength
        guard length <= maxPayload, o + total <= bytes.count else { return nil }
        let sum = Blake2b.hash(Array(bytes[o..<o + frameHeaderLength + length]), outputLength: checksumLength)
        return Sodium.constantTimeEqual(sum, Array(bytes[o + total - checksumLength..<o + total])) ? total : nil
    }

    public static func evidencePayload(_ e: EquivocationEvidence) -> [UInt8] {
        var w = ByteWriter()
        w.lengthPrefixed(e.first.bytes)
        w.lengthPrefixed(e.second.bytes)
        return w.bytes
    }

    public static func decodeEvidence(_ payload: [UInt8]) throws(EntryError) -> EquivocationEvidence {
        var r = ByteReader(payload)
        let a: [UInt8]
        let b: [UInt8]
        do throws(DecodeError) {
            a = try r.lengthPrefixed("evidence.first", max: Limits.maxEntryBytes)
            b = try r.lengthPrefixed("evidence.second", max: Limits.maxEntryBytes)
            try r.finish()
        } catch {
            throw .malformed(error)
        }
        return EquivocationEvidence(first: try SignedEntry(decoding: a), second: try SignedEntry(decoding: b))
    }
}

public enum FrameType: UInt8, Sendable {
    /// A signed entry that extends its author's feed in this file.
    case entry = 1
    /// A signed halt that does not (yet) extend its author's feed here: halts count wherever seen.
    case detachedHalt = 2
    /// Two different signed entries by one author at one feed position.
    case evidence = 3
}

/// One frame as read from a file, before its payload is interpreted.
public struct RawFrame: Sendable {
    public var index: Int
    public var offset: Int
    public var typeByte: UInt8
    public var payload: [UInt8]

    public init(index: Int, offset: Int, typeByte: UInt8, payload: [UInt8]) {
        self.index = index
        self.offset = offset
        self.typeByte = typeByte
        self.payload = payload
    }
}
