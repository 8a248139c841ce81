import TiergateCore
import TiergateStorage

#if canImport(Glibc)
import Glibc
#endif

public enum Files {
    public static func makeDirectory(_ path: String) throws {
        var st = stat()
        if stat(path, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFDIR else { throw CLIFailure.cannotEvaluate("\(path) exists and is not a directory") }
            return
        }
        guard mkdir(path, 0o700) == 0 else {
            throw CLIFailure.cannotEvaluate("cannot create directory \(path): \(String(cString: strerror(errno)))")
        }
    }

    public static func read(_ path: String, max: Int = 64 << 20) throws -> [UInt8] {
        do { return try KeyFiles.readFile(path, max: max) } catch { throw CLIFailure.cannotEvaluate("\(error)") }
    }

    public static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// Hashes a file with BLAKE2b-256 in 1 MiB chunks.
    public static func blake2b(_ path: String) throws -> Digest {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CLIFailure.cannotEvaluate("cannot read evidence file \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var hasher = Blake2b.Hasher()
        var buf = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw CLIFailure.cannotEvaluate("cannot read evidence file \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            buf.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[..<n])) }
        }
        return hasher.finalize()
    }

    /// Writes a file atomically (temp + fsync + rename).
    public static func replace(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws {
        do { try KeyFiles.replace(path, bytes, mode: mode) } catch { throw CLIFailure.cannotEvaluate("\(error)") }
    }
}
