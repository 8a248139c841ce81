/// Why canonical bytes were rejected. Every case names the field so that errors can say where.
public enum DecodeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The input ended inside `field`.
    case truncated(field: String)
    /// A length or count in `field` exceeds the documented maximum.
    case tooLong(field: String, length: Int, max: Int)
    /// Bytes remain after the last field.
    case trailingBytes(count: Int)
    /// `field` holds a value the spec does not allow (bad enum value, zero where nonzero is required, ...).
    case invalidValue(field: String, reason: String)
    /// `field` is not valid UTF-8, holds a control character, or breaks the identifier grammar.
    case invalidText(field: String, reason: String)
    /// A list that must be strictly ascending is not (canonical order, no duplicates).
    case notCanonicalOrder(field: String)
    /// An unknown format version.
    case unsupportedVersion(field: String, version: Int)

    public var description: String {
        switch self {
        case .truncated(let f): return "truncated input: ended inside field '\(f)'"
        case .tooLong(let f, let l, let m): return "field '\(f)' is too long: \(l) > maximum \(m)"
        case .trailingBytes(let n): return "\(n) unexpected trailing byte(s) after the last field"
        case .invalidValue(let f, let r): return "field '\(f)' has an invalid value: \(r)"
        case .invalidText(let f, let r): return "field '\(f)' is not acceptable text: \(r)"
        case .notCanonicalOrder(let f): return "field '\(f)' is not in strictly ascending (canonical) order"
        case .unsupportedVersion(let f, let v): return "unsupported \(f) \(v) (this build understands \(f == "roster format" ? "formats 1, 2 and 3" : "version 1"))"
        }
    }
}

/// Reads the canonical encoding primitives, throwing ``DecodeError`` on anything non-canonical.
///
/// Peer and file input goes through this reader only; it never traps on malformed input and never allocates
/// more than the declared (and bounded) length of a field.
public struct ByteReader {
    private let bytes: [UInt8]
    public private(set) var offset: Int

    public init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    public var remaining: Int { bytes.count - offset }

    public mutating func u8(_ field: String) throws(DecodeError) -> UInt8 {
        guard remaining >= 1 else { throw .truncated(field: field) }
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func u32(_ field: String) throws(DecodeError) -> UInt32 {
        guard remaining >= 4 else { throw .truncated(field: field) }
        var v: UInt32 = 0
        for i in 0..<4 { v = v << 8 | UInt32(bytes[offset + i]) }
        offset += 4
        return v
    }

    public mutating func u64(_ field: String) throws(DecodeError) -> UInt64 {
        guard remaining >= 8 else { throw .truncated(field: field) }
        var v: UInt64 = 0
        for i in 0..<8 { v = v << 8 | UInt64(bytes[offset + i]) }
        offset += 8
        return v
    }

    public mutating func raw(_ count: Int, _ field: String) throws(DecodeError) -> [UInt8] {
        guard remaining >= count else { throw .truncated(field: field) }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    public mutating func digest(_ field: String) throws(DecodeError) -> Digest {
        Digest(uncheckedBytes: try raw(32, field))
    }

    public mutating func publicKey(_ field: String) throws(DecodeError) -> PublicKey {
        PublicKey(bytes: try raw(32, field))!
    }

    /// `u32 length || bytes`, with the length checked against `max` before anything is copied.
    public mutating func lengthPrefixed(_ field: String, max: Int) throws(DecodeError) -> [UInt8] {
        let n = Int(try u32(field))
        guard n <= max else { throw .tooLong(field: field, length: n, max: max) }
        return try raw(n, field)
    }

    /// A human-readable string: valid UTF-8 without control characters, `minLength...max` bytes.
    public mutating func text(_ field: String, max: Int, minLength: Int = 0) throws(DecodeError) -> String {
        let b = try lengthPrefixed(field, max: max)
        return try TextRules.checkText(b, field: field, minLength: minLength)
    }

    /// An identifier (lab id, member name, role): see ``TextRules/checkIdentifier(_:field:)``.
    public mutating func identifier(_ field: String, allowStar: Bool = false) throws(DecodeError) -> String {
        let b = try lengthPrefixed(field, max: TextRules.maxIdentifierLength)
        let s = String(decoding: b, as: UTF8.self)
        try TextRules.checkIdentifier(s, field: field, allowStar: allowStar)
        return s
    }

    /// `u32 count || items`, the count bounded by `max` before any item is read.
    public mutating func list<T>(
        _ field: String, max: Int, _ each: (inout ByteReader) throws(DecodeError) -> T
    ) throws(DecodeError) -> [T] {
        let n = Int(try u32(field))
        guard n <= max else { throw .tooLong(field: field, length: n, max: max) }
        var items: [T] = []
        items.reserveCapacity(n)
        for _ in 0..<n { items.append(try each(&self)) }
        return items
    }

    /// Throws unless every byte was consumed.
    public func finish() throws(DecodeError) {
        guard remaining == 0 else { throw .trailingBytes(count: remaining) }
    }
}

/// Text rules shared by the binary decoder and the JSON readers (SPEC.md §2.1).
public enum TextRules {
    public static let maxIdentifierLength = 64

    /// Identifiers: 1–64 bytes of `a-z 0-9 . _ -`, starting with a letter or digit. Role names may also be `*`.
    /// `allowStar`: the single byte `*` ("every member") is an identifier only in halt and drill roles (SPEC.md §2.1).
    public static func checkIdentifier(_ s: String, field: String, allowStar: Bool = false) throws(DecodeError) {
        let b = Array(s.utf8)
        guard !b.isEmpty else { throw .invalidText(field: field, reason: "empty") }
        guard b.count <= maxIdentifierLength else {
            throw .tooLong(field: field, length: b.count, max: maxIdentifierLength)
        }
        if allowStar, b == [UInt8(ascii: "*")] { return }
        for (i, c) in b.enumerated() {
            let alnum = (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39)
            let punct = c == 0x2e || c == 0x5f || c == 0x2d
            guard alnum || (punct && i > 0) else {
                throw .invalidText(
                    field: field, reason: "identifiers use a-z, 0-9, '.', '_' and '-' and start with a letter or digit")
            }
        }
    }

    /// Free text: valid UTF-8, no C0/C1 control characters or DEL (they could rewrite a terminal).
    public static func checkText(_ b: [UInt8], field: String, minLength: Int = 0) throws(DecodeError) -> String {
        guard b.count >= minLength else { throw .invalidText(field: field, reason: "must not be empty") }
        guard let s = String(validating: b, as: UTF8.self) else {
            throw .invalidText(field: field, reason: "not valid UTF-8")
        }
        for scalar in s.unicodeScalars {
            let v = scalar.value
            if v < 0x20 || v == 0x7f || (v >= 0x80 && v <= 0x9f) {
                throw .invalidText(field: field, reason: "control character U+\(String(v, radix: 16, uppercase: true))")
            }
        }
        return s
    }
}
