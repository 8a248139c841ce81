#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file descriptor with one owner, closed exactly once: when the owner goes away.
///
/// It is non-copyable, so no second copy can close the number again, and nothing closes it by hand. That matters
/// for a class that stores one: when its initialiser throws after every stored property is set, Swift runs its
/// `deinit`, so an initialiser that also closed the descriptor on its error path closed the number twice. By then
/// the kernel may have given that number to a file another thread had just opened, which then failed its reads or
/// read a third file's bytes (`LedgerWriter` did this on a corrupt ledger; see LedgerTests).
public struct OwnedDescriptor: ~Copyable {
    /// The descriptor: borrow it for system calls, never close it.
    public let raw: Int32

    /// Takes ownership of `raw`, which must be an open descriptor.
    public init(_ raw: Int32) {
        precondition(raw >= 0, "OwnedDescriptor needs an open descriptor")
        self.raw = raw
    }

    deinit { close(raw) }
}
