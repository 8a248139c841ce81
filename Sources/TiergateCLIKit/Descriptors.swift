#if canImport(Glibc)
import Glibc
#endif

/// File actions for `posix_spawn` that leave the child only standard input, output and error.
///
/// A spawned job would otherwise inherit every descriptor not marked close-on-exec — and SwiftNIO opens its
/// sockets and epoll instances without it. A job that holds the gate's link to a node could read a pushed halt off
/// it, shut it down, or unregister it from the gate's epoll instance (which it would share), and would keep the
/// node's session open after the gate died. `tiergate gate` spawns the job with these.
public enum SpawnActions {
    /// Adds "close every descriptor from 3 up" to `actions`: glibc's `posix_spawn_file_actions_addclosefrom_np`
    /// (2.34 and later, looked up at run time since Swift's Glibc module does not declare it), else one close
    /// action for each descriptor open now (a descriptor another thread opens between this and the spawn would
    /// then stay open in the child; the file actions run in the child, so nothing is closed here).
    ///
    /// - Parameter useCloseFrom: false only to test the fallback.
    public static func closeFromThree(_ actions: inout posix_spawn_file_actions_t, useCloseFrom: Bool = true) {
        typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        if useCloseFrom, let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") {  // RTLD_DEFAULT
            let addCloseFrom = unsafeBitCast(symbol, to: AddCloseFrom.self)
            if addCloseFrom(&actions, 3) == 0 { return }
        }
        for fd in openDescriptors() where fd >= 3 { posix_spawn_file_actions_addclose(&actions, fd) }
    }

    /// The descriptors open in this process, from /proc/self/fd (without the one that reads it).
    static func openDescriptors() -> [Int32] {
        guard let dir = opendir("/proc/self/fd") else { return [] }
        defer { closedir(dir) }
        let own = dirfd(dir)
        var out: [Int32] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if let fd = Int32(name), fd != own { out.append(fd) }
        }
        return out
    }
}

/// Standard input, output and error, made sure of before anything else is opened.
public enum StandardDescriptors {
    /// Opens /dev/null on any of descriptors 0, 1 and 2 that is closed. A process started with one of them closed
    /// (`2>&-`, a careless supervisor) would otherwise be given it by its next `open`: a node's ledger could land
    /// on descriptor 2 and take every log line into its frames (a node started so had its epoll instance there).
    public static func ensureOpen() {
        for fd: Int32 in 0...2 where fcntl(fd, F_GETFD) == -1 {
            // The lowest free number is this one, since every lower one is open by now.
            let opened = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY)
            if opened >= 0 && opened != fd { close(opened) }
        }
    }
}
