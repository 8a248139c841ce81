import Foundation
import Testing
import TiergateCore
@testable import TiergateStorage
import TiergateCLIKit

/// Runs the real `tiergate` binary as a child process.
enum CLI {
    static let binary: String = {
        if let b = ProcessInfo.processInfo.environment["TIERGATE_BIN"] { return b }
        let nextToTests = (CommandLine.arguments[0] as NSString).deletingLastPathComponent + "/tiergate"
        if FileManager.default.isExecutableFile(atPath: nextToTests) { return nextToTests }
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/") + "/.build/debug/tiergate"
    }()

    struct Result {
        var code: Int32
        var stdout: String
        var stderr: String
        var lastLine: String { stdout.split(separator: "\n").last.map(String.init) ?? "" }
        func json() throws -> JSONValue { try JSONValue.parse(stdout) }
    }

    /// The repository's root (examples, scripts, protocol-spec).
    static let repoRoot: String = {
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/")
    }()

    /// The benchmark program, built beside `tiergate`.
    static var benchBinary: String { (binary as NSString).deletingLastPathComponent + "/tiergate-bench" }

    @discardableResult
    static func run(_ args: [String], in dir: String? = nil, env: [String: String] = [:], executable: String? = nil) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable ?? binary)
        p.arguments = args
        // The tests decide which key a command uses: never inherit TIERGATE_KEY from whoever runs the suite.
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("TIERGATE_") || $0.key == "TIERGATE_BIN" }
        environment.merge(env) { $1 }
        p.environment = environment
        if let d = dir { p.currentDirectoryURL = URL(fileURLWithPath: d) }
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        // Read both pipes fully, at once, before waiting, so a chatty child never blocks on a full pipe.
        let (o, e) = out.readBothToEnd(with: err)
        p.waitUntilExit()
        return Result(code: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }
}

extension CLI {
    /// Whether something accepts TCP connections at HOST:PORT (a plain connect; nothing is sent).
    static func isListening(_ address: String) -> Bool {
        guard let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]) else { return false }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = port.bigEndian
        inet_pton(AF_INET, String(address[..<colon]), &sa.sin_addr)
        return withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}

final class Workdir {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "tiergate-cli-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }

    /// Runs tiergate in this directory.
    @discardableResult
    func tg(_ args: String...) throws -> CLI.Result { try CLI.run(args, in: path) }
    @discardableResult
    func tg(_ args: [String]) throws -> CLI.Result { try CLI.run(args, in: path) }
    /// Runs tiergate here with extra environment variables.
    @discardableResult
    func tg(env: [String: String], _ args: String...) throws -> CLI.Result { try CLI.run(args, in: path, env: env) }

    /// Five keys, a roster signed by all five (alice leader, bob safety, carol board, dave auditor, erin staff).
    /// Five members (alice leader, bob safety, carol board, dave auditor, erin staff), genesis signed by all;
    /// `policy`, a JSON policy file's text, replaces the default policy.
    /// `observers`: read-only members (enforcers' keys) added to the five.
    func lab(policy: String? = nil, observers: [String] = []) throws {
        for n in ["alice", "bob", "carol", "dave", "erin"] + observers {
            let r = try tg("keygen", "--name", n, "--out", "keys")
            #expect(r.code == 0, "keygen \(n): \(r.stderr)")
        }
        let members = [("alice", "leader"), ("bob", "safety"), ("carol", "board"), ("dave", "auditor"), ("erin", "staff")]
            + observers.map { ($0, "observer") }
        var args = ["roster", "init", "--lab", "acme", "--out", "roster.json"]
        if let policy {
            write("policy.json", Array(policy.utf8))
            args += ["--policy", "policy.json"]
        }
        for (n, role) in members { args += ["--member", "\(n):keys/\(n).pub:\(role)"] }
        #expect(try tg(args).code == 0)
        for (n, _) in members { #expect(try tg("roster", "sign", "roster.json", "--key", "keys/\(n).key").code == 0) }
    }

    func bytes(_ name: String) -> [UInt8] { [UInt8](FileManager.default.contents(atPath: file(name))!) }
    func write(_ name: String, _ b: [UInt8]) { FileManager.default.createFile(atPath: file(name), contents: Data(b)) }
}


extension CLI {
    /// Starts `tiergate ARGS` in `dir` (a `gate` running `sleep`) and reads its stderr until it says it started the
    /// job, or ends; returns the process, its stderr pipe (for the rest of the log) and what was read so far. The
    /// caller stops the process.
    static func startGate(_ args: [String], in dir: String, wrapper: (executable: String, prefix: [String])? = nil) throws -> (Process, Pipe, String) {
        let gate = Process()
        command(gate, args, wrapper: wrapper)
        gate.currentDirectoryURL = URL(fileURLWithPath: dir)
        let err = Pipe()
        gate.standardError = err
        gate.standardOutput = FileHandle.nullDevice
        try gate.run()
        var log = Data()
        while !String(decoding: log, as: UTF8.self).contains("started sleep") {
            let d = err.fileHandleForReading.availableData
            if d.isEmpty { break }
            log += d
        }
        return (gate, err, String(decoding: log, as: UTF8.self))
    }
}

extension CLI {
    /// Points `p` at `tiergate ARGS`, through `wrapper`'s program when given (faketime, setpriv, a shell, Python),
    /// which is handed the binary's path and the arguments after its own `prefix`.
    static func command(_ p: Process, _ args: [String], wrapper: (executable: String, prefix: [String])?) {
        p.executableURL = URL(fileURLWithPath: wrapper?.executable ?? binary)
        p.arguments = (wrapper.map { $0.prefix + [binary] } ?? []) + args
    }

    /// Starts `tiergate ARGS` in `dir` in the background (through `wrapper`'s program when given: setpriv, a
    /// user's shell), stderr to the file `stderr`, stdout to `stdout` or nowhere; the caller stops it with
    /// ``Process/stopAndWait()``.
    static func background(_ args: [String], in dir: String, stderr: String, stdout: String? = nil, env: [String: String] = [:],
                           wrapper: (executable: String, prefix: [String])? = nil) throws -> Process {
        let p = Process()
        command(p, args, wrapper: wrapper)
        p.environment = ProcessInfo.processInfo.environment.merging(env) { _, b in b }
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        FileManager.default.createFile(atPath: stderr, contents: nil)
        p.standardError = FileHandle(forWritingAtPath: stderr)
        if let stdout {
            FileManager.default.createFile(atPath: stdout, contents: nil)
            p.standardOutput = FileHandle(forWritingAtPath: stdout)
        } else {
            p.standardOutput = FileHandle.nullDevice
        }
        p.standardInput = FileHandle.nullDevice
        try p.run()
        return p
    }
}

extension Process {
    /// SIGTERM if still running, then wait for it.
    func stopAndWait() {
        if isRunning { terminate() }
        waitUntilExit()
    }
}

extension Workdir {
    /// A file's text here, "" if it cannot be read.
    func text(_ name: String) -> String { (try? String(contentsOfFile: file(name), encoding: .utf8)) ?? "" }
}

/// A test that needs something this host may lack (root, Slurm, Chromium, namespaces): under CI=true, a missing
/// part fails loudly; elsewhere the test says it skipped and why.
enum CI {
    static let on = ProcessInfo.processInfo.environment["CI"] == "true"

    static func skipOrFail(_ suite: String, _ why: String) {
        if on { Issue.record(Comment(rawValue: why)) } else { print("\(suite): skipped: \(why)") }
    }
}
