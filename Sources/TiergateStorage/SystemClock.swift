#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import TiergateCore

/// The system's real-time clock, in protocol units (ms since the Unix epoch, UTC). The protocol core never
/// reads a clock: the shell and the CLI read this one and pass the time in.
public enum SystemClock {
    public static func nowMs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(ts.tv_sec) * 1000 + UInt64(ts.tv_nsec) / 1_000_000
    }
}

extension ParallelFor {
    /// Runs the iterations on every core (`DispatchQueue.concurrentPerform`).
    public static let allCores = ParallelFor { iterations, body in
        DispatchQueue.concurrentPerform(iterations: iterations, execute: body)
    }
}
