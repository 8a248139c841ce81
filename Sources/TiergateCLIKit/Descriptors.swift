#if canImport(Glibc)
import Glibc
#endif

/// File actions for `posix_spawn` that leave the child standard input, output and error, and what the spawning
/// process itself was started with (``inheritedAtStart``): never a descriptor it opened.
///
/// A spawned job would otherwise inherit every descriptor not marked close-on-exec — and SwiftNIO opens its
/// sockets and epoll instances without it. A job that holds the gate's link to a node could read a pushed halt off
/// it, shut it down, or unregister it from the gate's epoll instance (which it would share), and would keep the
/// node's session open after the gate died. What the gate was itself started with (a make jobserver's pipe, an MPI
/// launcher's `PMI_FD`, systemd's `LISTEN_FDS`) is the job's as much as the gate's, and passes on, as it would
/// without the gate. `tiergate gate` spawns the job with these.
public enum SpawnActions {
    /// The descriptors from 3 up that were open when ``recordInheritedDescriptors()`` first ran — before the
    /// command opened anything: what this process was started with.
    public static let inheritedAtStart: Set<Int32> = Set((openDescriptors() ?? []).filter { fd in
        fd >= 3 && fcntl(fd, F_GETFD) & FD_CLOEXEC == 0  // one marked close-on-exec would not reach a child anyway
    })

    /// Records ``inheritedAtStart``; a command that spawns with it calls this first thing.
    public static func recordInheritedDescriptors() { _ = inheritedAtStart }

    /// Adds "close every descriptor from 3 up except `keeping`" to `actions`. Above the highest kept one: glibc's
    /// `posix_spawn_file_actions_addclosefrom_np` (2.34 and later, looked up at run time since Swift's Glibc
    /// module does not declare it), closing in the child whatever is open then. Below it (and everywhere without
    /// that function): one close action for each descriptor open now, from /proc/self/fd, else for every number
    /// up to the descriptor limit (at most 65,536); a descriptor another thread opens between this call and the
    /// spawn would stay open there. The file actions run in the child: nothing is closed here.
    ///
    /// - Parameter useCloseFrom: false only to test the fallback.
    public static func closeAll(_ actions: inout posix_spawn_file_actions_t, keeping: Set<Int32> = [], useCloseFrom: Bool = true) {
        typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        let from = max(keeping.max() ?? 2, 2) + 1
        var closeFromAdded = false
        if useCloseFrom, let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") {  // RTLD_DEFAULT
            let addCloseFrom = unsafeBitCast(symbol, to: AddCloseFrom.self)
            closeFromAdded = addCloseFrom(&actions, from) == 0
        }
        let limit = closeFromAdded ? from : Int32.max
        if let open = openDescriptors() {
            for fd in open where fd >= 3 && fd < limit && !keeping.contains(fd) { posix_spawn_file_actions_addclose(&actions, fd) }
        } else {
            // No /proc: every number (glibc ignores a close action on a number that is not open).
            let openMax = Int32(clamping: min(max(sysconf(Int32(_SC_OPEN_MAX)), 1024), 65_536))
            for fd in Int32(3)..<min(limit, openMax) where !keeping.contains(fd) { posix_spawn_file_actions_addclose(&actions, fd) }
        }
    }

    /// The descriptors open in this process, from /proc/self/fd (without the one that reads it); nil without /proc.
    static func openDescriptors() -> [Int32]? {
        guard let dir = opendir("/proc/self/fd") else { return nil }
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
