import CSodium

/// Process-wide libsodium initialisation.
///
/// Every entry point that touches libsodium calls ``Sodium/ensureInitialized()`` first; `sodium_init` is
/// idempotent and thread-safe, so calling it repeatedly costs one atomic load.
public enum Sodium {
    private static let initialised: Bool = {
        sodium_init() >= 0
    }()

    /// Initialises libsodium once; traps when the library cannot initialise (no usable randomness source),
    /// because nothing Tiergate does is safe without it.
    public static func ensureInitialized() {
        precondition(initialised, "libsodium failed to initialise (sodium_init < 0)")
    }

    /// Fills a new array with `count` bytes from libsodium's CSPRNG.
    public static func randomBytes(_ count: Int) -> [UInt8] {
        ensureInitialized()
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, count) }
        return out
    }

    /// Compares two byte strings in constant time (for equal lengths); different lengths compare unequal.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        ensureInitialized()
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return a.withUnsafeBytes { pa in
            b.withUnsafeBytes { pb in sodium_memcmp(pa.baseAddress!, pb.baseAddress!, a.count) == 0 }
        }
    }

    /// Overwrites the bytes with zeros in a way the compiler cannot elide.
    public static func zero(_ bytes: inout [UInt8]) {
        guard !bytes.isEmpty else { return }
        bytes.withUnsafeMutableBytes { sodium_memzero($0.baseAddress!, $0.count) }
    }
}
