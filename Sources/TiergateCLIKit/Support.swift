import ArgumentParser
import TiergateCore
import TiergateStorage

#if canImport(Glibc)
import Glibc
#endif

/// A failure the CLI reports with a message and one of the documented exit codes.
public struct CLIFailure: Error {
    public var code: Int32
    public var message: String

    public static func cannotEvaluate(_ message: String) -> CLIFailure { CLIFailure(code: 2, message: message) }
    public static func negative(_ message: String) -> CLIFailure { CLIFailure(code: 1, message: message) }

    public init(code: Int32, message: String) {
        self.code = code
        self.message = message
    }
}

public enum Out {
    public static func line(_ s: String) {
        print(s)
    }

    public static func err(_ s: String) {
        var text = s
        if !text.hasSuffix("\n") { text += "\n" }
        writeStderr(text)
    }

    public static func json(_ v: JSONValue) {
        print(v.serialized(pretty: true))
    }

    /// Writes straight to fd 2 (unbuffered), after flushing stdout so that the two interleave in order.
    public static func writeStderr(_ text: String) {
        fflush(nil)
        var bytes = Array(text.utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress! + done, $0.count - done) }
            if n <= 0 { break }
            done += n
        }
    }

    public static var stderrIsTerminal: Bool { isatty(2) == 1 }
}

extension ParsableCommand {
    /// Runs `body`, turning failures into the documented exit codes with a message on stderr
    /// (and, with `json`, a single `{"ok": false, "error": ...}` object on stdout).
    public func guarded(json: Bool = false, _ body: () throws -> Void) throws {
        do {
            try body()
        } catch let f as CLIFailure {
            Out.err("error: \(f.message)")
            if json {
                Out.json(.object([("ok", .bool(false)), ("exit_code", .int(Int(f.code))), ("error", .string(f.message))]))
            }
            throw ExitCode(f.code)
        }
    }
}

/// Loading helpers shared by the commands; each converts library errors to CLI failures.
public enum Load {
    public static func genesis(_ path: String) throws -> GenesisDocument {
        let bytes: [UInt8]
        do { bytes = try KeyFiles.readFile(path, max: 1 << 20) } catch {
            throw CLIFailure.cannotEvaluate("\(error)")
        }
        do { return try GenesisDocument(fileBytes: bytes) } catch {
            throw CLIFailure(code: error.isUnreadable ? 2 : 1, message: "\(path): \(error)")
        }
    }

    /// A genesis roster that every founder signed: the only kind entries may be checked against.
    public static func trustedGenesis(_ path: String) throws -> GenesisDocument {
        let doc = try genesis(path)
        let report = doc.checkSignatures()
        guard report.complete, doc.roster.version == 1 else {
            throw CLIFailure.negative(
                "\(path) is not a fully signed genesis roster (missing: \(report.missing), invalid: \(report.invalid)); "
                    + "run `tiergate roster verify \(path)` for details")
        }
        return doc
    }

    public static func passphrase(_ path: String?) throws -> [UInt8]? {
        guard let p = path else { return nil }
        do { return try KeyFiles.readPassphrase(path: p) } catch { throw CLIFailure.cannotEvaluate("\(error)") }
    }

    public static func signingKey(_ path: String, passphraseFile: String?) throws -> SigningKey {
        var pass = try passphrase(passphraseFile)
        defer { if pass != nil { Sodium.zero(&pass!) } }
        do { return try KeyFiles.readSecretKey(path: path, passphrase: pass) } catch {
            throw CLIFailure.cannotEvaluate("\(error)")
        }
    }

    /// What `--key` names: a secret key file, or `ssh-agent:FINGERPRINT` (SPEC.md §7.4). A passphrase file goes only
    /// with a key file.
    public static func signer(_ reference: String, passphraseFile: String?) throws -> any Ed25519Signer {
        switch KeyReference(reference) {
        case .file(let path): return try signingKey(path, passphraseFile: passphraseFile)
        case .agent(let selector):
            if passphraseFile != nil {
                throw CLIFailure.cannotEvaluate("--passphrase-file goes with a key file; an ssh-agent key is unlocked in the agent")
            }
            do { return try SSHAgentSigner(selector: selector) } catch { throw CLIFailure.cannotEvaluate("\(error)") }
        }
    }

    /// A signature by `signer` over `message`; an agent's failure is exit 2 with nothing signed.
    public static func sign(_ message: [UInt8], by signer: any Ed25519Signer) throws -> [UInt8] {
        do { return try signer.signature(over: message) } catch { throw CLIFailure.cannotEvaluate("\(error)") }
    }

    public static func time(_ text: String?, option: String) throws -> UInt64 {
        guard let t = text else { return SystemClock.nowMs() }
        guard let v = TimeText.parse(t) else {
            throw ValidationError("\(option) takes an RFC 3339 UTC time like 2026-11-29T12:00:00Z, got '\(t)'")
        }
        return v
    }

    /// Audits a ledger; unreadable files are exit 2.
    public static func audit(_ path: String, genesis: Roster, progress: Bool = false) throws -> AuditResult {
        var lastShown = -1
        let show: ((Int, Int) -> Void)? =
            progress && Out.stderrIsTerminal
            ? { done, total in
                guard total > 8 << 20 else { return }
                let pct = total == 0 ? 100 : done * 100 / total
                if pct != lastShown {
                    lastShown = pct
                    Out.writeStderr("\rverifying \(pct)% of \(total >> 20) MiB")
                    if pct == 100 { Out.writeStderr("\n") }
                }
            } : nil
        do { return try LedgerAudit.run(path: path, genesis: genesis, progress: show) } catch {
            throw CLIFailure.cannotEvaluate("\(error)")
        }
    }
}

public enum Signals {
    /// Installs `handler` for SIGINT and SIGTERM and unblocks both on the calling thread: a process started with
    /// them blocked (inherited from a parent's mask: some supervisors, test runners) would otherwise never see
    /// them, and a `kill` would leave it running.
    public static func onTermination(_ handler: @convention(c) (Int32) -> Void) {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        for s in [SIGINT, SIGTERM] { signal(s, handler) }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }
}
