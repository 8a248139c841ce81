import CSodium

/// BLAKE2b, the only hash function of protocol v1 (libsodium `crypto_generichash`, unkeyed).
public enum Blake2b {
    /// BLAKE2b with a 32-byte output: entry ids, roster hashes, evidence hashes.
    public static func hash256(_ data: [UInt8]) -> Digest {
        Digest(uncheckedBytes: hash(data, outputLength: 32))
    }

    /// BLAKE2b with an arbitrary output length between 16 and 64 bytes.
    public static func hash(_ data: [UInt8], outputLength: Int) -> [UInt8] {
        Sodium.ensureInitialized()
        precondition(outputLength >= 16 && outputLength <= 64)
        var out = [UInt8](repeating: 0, count: outputLength)
        data.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { output in
                _ = crypto_generichash(output.baseAddress!, outputLength, input.baseAddress, UInt64(input.count), nil, 0)
            }
        }
        return out
    }

    /// An incremental BLAKE2b-256 over data too large to hold at once (evidence files).
    public struct Hasher: ~Copyable {
        private var state: UnsafeMutableRawPointer

        public init() {
            Sodium.ensureInitialized()
            state = UnsafeMutableRawPointer.allocate(byteCount: crypto_generichash_statebytes(), alignment: 64)
            _ = crypto_generichash_init(OpaquePointer(state), nil, 0, 32)
        }

        public mutating func update(_ bytes: UnsafeRawBufferPointer) {
            guard bytes.count > 0 else { return }
            _ = crypto_generichash_update(
                OpaquePointer(state),
                bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(bytes.count))
        }

        public consuming func finalize() -> Digest {
            var out = [UInt8](repeating: 0, count: 32)
            out.withUnsafeMutableBufferPointer {
                _ = crypto_generichash_final(OpaquePointer(state), $0.baseAddress!, 32)
            }
            return Digest(uncheckedBytes: out)
        }

        deinit {
            sodium_memzero(state, crypto_generichash_statebytes())
            state.deallocate()
        }
    }
}

/// A 32-byte value: a BLAKE2b-256 digest (entry id, roster hash, evidence hash).
public struct Digest: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let bytes: [UInt8]

    /// The all-zero digest, used as `prev` of a feed's first entry and `previous` of the genesis roster.
    public static let zero = Digest(uncheckedBytes: [UInt8](repeating: 0, count: 32))

    init(uncheckedBytes: [UInt8]) {
        precondition(uncheckedBytes.count == 32)
        bytes = uncheckedBytes
    }

    /// Wraps 32 bytes; returns nil for any other length.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 32 else { return nil }
        self.bytes = bytes
    }

    /// Parses 64 lowercase or uppercase hex digits.
    public init?(hex: String) {
        guard let b = Hex.decode(hex), b.count == 32 else { return nil }
        bytes = b
    }

    public var hex: String { Hex.encode(bytes) }
    public var isZero: Bool { bytes.allSatisfy { $0 == 0 } }
    /// The first 8 bytes in hex, for people.
    public var short: String { Hex.encode(Array(bytes.prefix(8))) }
    public var description: String { hex }

    public static func < (lhs: Digest, rhs: Digest) -> Bool { lhs.bytes.lexicographicallyPrecedes(rhs.bytes) }
}
