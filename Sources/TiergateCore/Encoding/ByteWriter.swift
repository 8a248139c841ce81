/// Appends the canonical encoding primitives of SPEC.md §2.1 (big-endian integers, length-prefixed strings
/// and byte strings, counted lists).
public struct ByteWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public mutating func u8(_ v: UInt8) { bytes.append(v) }

    public mutating func u32(_ v: UInt32) {
        bytes.append(UInt8(truncatingIfNeeded: v >> 24))
        bytes.append(UInt8(truncatingIfNeeded: v >> 16))
        bytes.append(UInt8(truncatingIfNeeded: v >> 8))
        bytes.append(UInt8(truncatingIfNeeded: v))
    }

    public mutating func u64(_ v: UInt64) {
        u32(UInt32(truncatingIfNeeded: v >> 32))
        u32(UInt32(truncatingIfNeeded: v))
    }

    /// Raw bytes with no length (fixed-size fields: keys, digests, signatures).
    public mutating func raw(_ b: [UInt8]) { bytes.append(contentsOf: b) }

    /// `u32 length || bytes`.
    public mutating func lengthPrefixed(_ b: [UInt8]) {
        u32(UInt32(b.count))
        bytes.append(contentsOf: b)
    }

    /// `u32 length || UTF-8`.
    public mutating func string(_ s: String) { lengthPrefixed(Array(s.utf8)) }

    /// `u32 count || items`.
    public mutating func list<T>(_ items: [T], _ each: (inout ByteWriter, T) -> Void) {
        u32(UInt32(items.count))
        for item in items { each(&self, item) }
    }
}

extension UInt64 {
    /// `self + other`, or `UInt64.max` instead of overflowing (for times and counters taken from input).
    public func addingSaturating(_ other: UInt64) -> UInt64 {
        let (v, overflow) = addingReportingOverflow(other)
        return overflow ? .max : v
    }
}
