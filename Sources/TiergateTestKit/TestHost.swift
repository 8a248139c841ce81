import Foundation

/// What the tests and the benchmarks need from this host: running commands, waiting for a condition, free ports,
/// killing what a test started, and installing Debian packages or Python modules a test needs.
public enum TestHost {
    /// Runs a command and returns its exit code and output. With `daemon`, the output goes to that file instead:
    /// a daemon keeps the output descriptors it inherited, and reading a pipe to its end would then never return.
    public static func sh(_ exe: String, _ args: [String], env: [String: String] = [:], daemon log: String? = nil) -> (code: Int32, out: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(env) { _, b in b }
        p.standardInput = FileHandle.nullDevice
        if let log {
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            let handle = FileHandle(forWritingAtPath: log)  // one offset for both, so neither overwrites the other
            p.standardOutput = handle
            p.standardError = handle
            guard (try? p.run()) != nil else { return (-1, "cannot run \(exe)") }
            p.waitUntilExit()
            return (p.terminationStatus, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
        }
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        guard (try? p.run()) != nil else { return (-1, "cannot run \(exe)") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Polls `condition` up to `seconds` (every `every` µs); the caller asserts on the final state, never on how
    /// long it took.
    public static func eventually(_ seconds: Double, every: useconds_t = 100_000, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            usleep(every)
        }
        return try condition()
    }

    /// Debian `packages`, installed with apt-get when any of `paths` is missing (root only); nil, or why they
    /// cannot be had here.
    public static func ensureDebian(_ packages: [String], providing paths: [String]) -> String? {
        if paths.allSatisfy({ FileManager.default.isExecutableFile(atPath: $0) }) { return nil }
        guard getuid() == 0 else { return "\(packages.joined(separator: ", ")) not installed, and installing needs root" }
        _ = sh("/usr/bin/apt-get", ["update"])
        let r = sh("/usr/bin/apt-get", ["install", "-y"] + packages, env: ["DEBIAN_FRONTEND": "noninteractive"])
        return r.code == 0 && paths.allSatisfy({ FileManager.default.isExecutableFile(atPath: $0) })
            ? nil : "apt-get install \(packages.joined(separator: " ")) failed: \(r.out.suffix(500))"
    }

    /// A Python module from PyPI (`package`, a pip requirement), installed when `import module` fails; nil, or why
    /// it cannot be had here.
    public static func ensurePython(_ module: String, package: String) -> String? {
        if sh("/usr/bin/env", ["python3", "-c", "import \(module)"]).code == 0 { return nil }
        let r = sh("/usr/bin/env", ["python3", "-m", "pip", "install", "--quiet", package])
        return r.code == 0 ? nil : "pip install \(package) failed: \(r.out.suffix(400))"
    }

    /// A port free on every address, below the kernel's ephemeral range (32768 and up here), so that the many
    /// client connections of tests running beside this one cannot take it between this check and Slurm's bind
    /// (slurmctld and slurmd listen on all addresses).
    public static func freePort() -> Int {
        for _ in 0..<200 {
            let port = Int.random(in: 20_000..<30_000)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = 0  // INADDR_ANY
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
            if ok { return port }
        }
        return 29_999
    }

    /// SIGKILL to every process (but this one) whose environment holds `marker`.
    public static func killAll(environmentContaining marker: String) {
        let me = getpid()
        let needle = Array(marker.utf8)
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), pid != me, let env = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { continue }
            if [UInt8](env).split(separator: 0).contains(where: { Array($0) == needle }) { kill(pid, SIGKILL) }
        }
    }

}
