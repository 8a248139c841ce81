import TiergateCore
import CSodium

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A key file could not be used. Every case is "could not evaluate" (CLI exit 2) and says what to do.
public enum KeyFileError: Error, Equatable, Sendable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case permissionsTooOpen(path: String, mode: String)
    /// Group-readable, and not the read-only file of this process's own group that a mounted secret is.
    case groupReadable(path: String, mode: String, reason: String)
    case corrupt(path: String, reason: String)
    case passphraseRequired(path: String)
    case wrongPassphrase(path: String)
    case exists(path: String)
    case io(String)

    public var description: String {
        switch self {
        case .unreadable(let p, let r): return "cannot read key file \(p): \(r)"
        case .permissionsTooOpen(let p, let m):
            return "secret key file \(p) has mode \(m) and is readable by others; run `chmod 600 \(p)` and try again"
        case .groupReadable(let p, let m, let r):
            return "secret key file \(p) has mode \(m): \(r). Make it 0600 (`chmod 600 \(p)`), or, for a secret mounted for this "
                + "process's group (Kubernetes fsGroup), read-only to that group and to nobody else (0440)"
        case .corrupt(let p, let r): return "key file \(p) is corrupt or not a Tiergate key: \(r)"
        case .passphraseRequired(let p): return "secret key \(p) is passphrase-protected; pass --passphrase-file FILE"
        case .wrongPassphrase(let p):
            return "wrong passphrase for \(p) (or the file was altered); check the passphrase file"
        case .exists(let p): return "\(p) already exists; refusing to overwrite a key (move it away first)"
        case .io(let r): return r
        }
    }
}

/// Secret and public key files (SPEC.md §7).
public enum KeyFiles {
    static let secretMagic: [UInt8] = Array("TGSECKEY".utf8)
    public static let publicFormat = "tiergate-public-key-v1"

    // MARK: Public keys

    public static func publicKeyJSON(name: String, key: PublicKey) -> String {
        JSONValue.object([
            ("format", .string(publicFormat)),
            ("name", .string(name)),
            ("public_key", .string(key.hex)),
            ("fingerprint", .string(key.fingerprint)),
        ]).serialized(pretty: true) + "\n"
    }

    /// Reads a public key file; returns the name and key. The fingerprint in the file must match the key.
    public static func readPublicKey(path: String) throws(KeyFileError) -> (name: String, key: PublicKey) {
        try publicKey(fileBytes: try readFile(path, max: 64 * 1024), path: path)
    }

    /// A public key file's bytes, already read from `path` (named in errors), checked as ``readPublicKey(path:)`` does.
    public static func publicKey(fileBytes bytes: [UInt8], path: String) throws(KeyFileError) -> (name: String, key: PublicKey) {
        do throws(JSONError) {
            var o = try JSONObjectReader(try JSONValue.parse(bytes), path: "")
            guard try o.string("format") == publicFormat else {
                throw JSONError(path: "format", reason: "expected \"\(publicFormat)\"")
            }
            let name = try o.string("name")
            guard let key = PublicKey(hex: try o.string("public_key")) else {
                throw JSONError(path: "public_key", reason: "expected 64 hex digits")
            }
            let fp = try o.string("fingerprint")
            try o.finish()
            guard fp == key.fingerprint else {
                throw JSONError(path: "fingerprint", reason: "does not match the key (\(key.fingerprint))")
            }
            return (name, key)
        } catch {
            throw .corrupt(path: path, reason: error.description)
        }
    }

    // MARK: Secret keys

    /// Writes a new secret key file with mode 0600 (created with O_EXCL: never overwrites).
    ///
    /// With a passphrase the seed is sealed with crypto_secretbox under a key from Argon2id (crypto_pwhash).
    public static func writeSecretKey(_ key: SigningKey, path: String, passphrase: [UInt8]?) throws(KeyFileError) {
        var bytes = try secretKeyFile(key, passphrase: passphrase, path: path)
        defer { Sodium.zero(&bytes) }
        try writeNew(path, bytes, mode: 0o600)
    }

    /// The bytes of a secret key file (SPEC.md §7.2). The caller MUST zero them after use.
    public static func secretKeyFile(_ key: SigningKey, passphrase: [UInt8]?, path: String = "") throws(KeyFileError) -> [UInt8] {
        var w = ByteWriter()
        w.raw(secretMagic)
        w.u8(1)
        var body: [UInt8] = []
        if var pass = passphrase {
            defer { Sodium.zero(&pass) }
            let ops = UInt64(crypto_pwhash_OPSLIMIT_INTERACTIVE)
            let mem = UInt64(crypto_pwhash_MEMLIMIT_INTERACTIVE)
            let salt = Sodium.randomBytes(Int(crypto_pwhash_SALTBYTES))
            let nonce = Sodium.randomBytes(Int(crypto_secretbox_NONCEBYTES))
            var box = try derive(pass, salt: salt, ops: ops, mem: mem, path: path)
            defer { Sodium.zero(&box) }
            var cipher = [UInt8](repeating: 0, count: 32 + Int(crypto_secretbox_MACBYTES))
            key.withSeed { seed in
                _ = cipher.withUnsafeMutableBufferPointer { c in
                    crypto_secretbox_easy(
                        c.baseAddress!, seed.baseAddress!.assumingMemoryBound(to: UInt8.self), 32, nonce, box)
                }
            }
            w.u8(1)
            w.u64(ops)
            w.u64(mem)
            w.raw(salt)
            w.raw(nonce)
            w.raw(cipher)
        } else {
            w.u8(0)
            key.withSeed { body = Array($0) }
            w.raw(body)
            Sodium.zero(&body)
        }
        w.raw(key.publicKey.bytes)
        return w.bytes
    }

    static func derive(_ pass: [UInt8], salt: [UInt8], ops: UInt64, mem: UInt64, path: String) throws(KeyFileError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(crypto_secretbox_KEYBYTES))
        let rc = pass.withUnsafeBufferPointer { p in
            out.withUnsafeMutableBufferPointer { o in
                p.withMemoryRebound(to: CChar.self) { pc in
                    crypto_pwhash(
                        o.baseAddress!, UInt64(o.count), pc.baseAddress!, UInt64(pc.count), salt, ops, Int(mem),
                        crypto_pwhash_ALG_ARGON2ID13)
                }
            }
        }
        guard rc == 0 else { throw .io("Argon2id key derivation failed (out of memory?) for \(path)") }
        return out
    }

    /// Loads a secret key. Refuses files readable by others, group-readable files other than a read-only one of
    /// this process's own group (a mounted secret), wrong passphrases and corrupt files.
    public static func readSecretKey(path: String, passphrase: [UInt8]?) throws(KeyFileError) -> SigningKey {
        var st = stat()
        guard stat(path, &st) == 0 else { throw .unreadable(path: path, reason: String(cString: strerror(errno))) }
        try checkPermissions(path: path, mode: st.st_mode, group: st.st_gid)
        var bytes = try readFile(path, max: 4096)
        defer { Sodium.zero(&bytes) }
        guard bytes.count >= 10, Array(bytes[0..<8]) == secretMagic else {
            throw .corrupt(path: path, reason: "missing TGSECKEY header")
        }
        guard bytes[8] == 1 else { throw .corrupt(path: path, reason: "unsupported version \(bytes[8])") }
        var seed: [UInt8]
        let pub: [UInt8]
        switch bytes[9] {
        case 0:
            guard bytes.count == 10 + 32 + 32 else { throw .corrupt(path: path, reason: "wrong length") }
            seed = Array(bytes[10..<42])
            pub = Array(bytes[42..<74])
        case 1:
            let saltN = Int(crypto_pwhash_SALTBYTES)
            let nonceN = Int(crypto_secretbox_NONCEBYTES)
            let cipherN = 32 + Int(crypto_secretbox_MACBYTES)
            guard bytes.count == 10 + 16 + saltN + nonceN + cipherN + 32 else {
                throw .corrupt(path: path, reason: "wrong length")
            }
            guard let pass = passphrase else { throw .passphraseRequired(path: path) }
            var r = ByteReader(bytes, offset: 10)
            let ops = (try? r.u64("ops")) ?? 0
            let mem = (try? r.u64("mem")) ?? 0
            guard ops >= UInt64(crypto_pwhash_OPSLIMIT_MIN), ops <= 16,
                mem >= UInt64(crypto_pwhash_MEMLIMIT_MIN), mem <= 1 << 30
            else { throw .corrupt(path: path, reason: "Argon2id parameters out of range") }
            let salt = (try? r.raw(saltN, "salt"))!
            let nonce = (try? r.raw(nonceN, "nonce"))!
            let cipher = (try? r.raw(cipherN, "cipher"))!
            pub = (try? r.raw(32, "pub"))!
            var box = try derive(pass, salt: salt, ops: ops, mem: mem, path: path)
            defer { Sodium.zero(&box) }
            seed = [UInt8](repeating: 0, count: 32)
            let rc = seed.withUnsafeMutableBufferPointer { s in
                crypto_secretbox_open_easy(s.baseAddress!, cipher, UInt64(cipherN), nonce, box)
            }
            guard rc == 0 else { throw .wrongPassphrase(path: path) }
        default:
            throw .corrupt(path: path, reason: "unknown encryption \(bytes[9])")
        }
        defer { Sodium.zero(&seed) }
        let key: SigningKey
        do { key = try SigningKey(seed: seed) } catch { throw .corrupt(path: path, reason: "\(error)") }
        guard key.publicKey.bytes == pub else {
            throw .corrupt(path: path, reason: "the stored public key does not match the secret key")
        }
        return key
    }

    /// Reads a passphrase file: its bytes without one trailing newline. Never logged.
    public static func readPassphrase(path: String) throws(KeyFileError) -> [UInt8] {
        var b = try readFile(path, max: 4096)
        if b.last == 0x0a { b.removeLast() }
        if b.last == 0x0d { b.removeLast() }
        guard !b.isEmpty else { throw .corrupt(path: path, reason: "the passphrase file is empty") }
        return b
    }

    // MARK: File helpers

    public static func readFile(_ path: String, max: Int) throws(KeyFileError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .unreadable(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .unreadable(path: path, reason: String(cString: strerror(errno)))
            }
            if n == 0 { break }
            out.append(contentsOf: chunk[..<n])
            guard out.count <= max else { throw .unreadable(path: path, reason: "larger than \(max) bytes") }
        }
        Sodium.zero(&chunk)
        return out
    }

    /// A secret key file may be read by its owner only (0600, 0400) — or, as a secret mounted for a process's group
    /// (Kubernetes' fsGroup gives 0440), by a group this process belongs to, if nobody may write it and others may
    /// not read it. `groups`: this process's groups (default: its effective and supplementary groups).
    public static func checkPermissions(path: String, mode: mode_t, group: gid_t, groups: Set<gid_t>? = nil) throws(KeyFileError) {
        let m = mode & 0o777
        guard m & 0o077 != 0 else { return }
        let text = String(m, radix: 8)
        guard m & 0o007 == 0 else { throw .permissionsTooOpen(path: path, mode: text) }
        guard m & 0o222 == 0 else { throw .groupReadable(path: path, mode: text, reason: "it is readable by its group and writable") }
        let mine = groups ?? processGroups()
        guard mine.contains(group) else {
            throw .groupReadable(path: path, mode: text, reason: "it is readable by group \(group), which this process is not in")
        }
    }

    static func processGroups() -> Set<gid_t> {
        var out: Set<gid_t> = [getegid()]
        let n = getgroups(0, nil)
        if n > 0 {
            var list = [gid_t](repeating: 0, count: Int(n))
            let got = getgroups(n, &list)
            if got > 0 { out.formUnion(list.prefix(Int(got))) }
        }
        return out
    }

    /// Creates `path` exclusively with `mode`, writes and fsyncs it and its directory.
    public static func writeNew(_ path: String, _ bytes: [UInt8], mode: mode_t) throws(KeyFileError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else {
            if errno == EEXIST { throw .exists(path: path) }
            throw .io("cannot create \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        fchmod(fd, mode)
        do { try LedgerWriter.writeAll(fd, bytes) } catch { throw .io("cannot write \(path): \(error)") }
        guard fsync(fd) == 0 else { throw .io("fsync \(path) failed") }
        LedgerWriter.syncDirectory(of: path)
    }

    /// Replaces `path` atomically: write a temporary file, fsync, rename, fsync the directory.
    public static func replace(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws(KeyFileError) {
        let tmp = path + ".tmp-\(getpid())"
        unlink(tmp)
        try writeNew(tmp, bytes, mode: mode)
        guard rename(tmp, path) == 0 else {
            unlink(tmp)
            throw .io("cannot replace \(path): \(String(cString: strerror(errno)))")
        }
        LedgerWriter.syncDirectory(of: path)
    }
}

/// An exclusive lock on one key's signer state (SPEC.md §7.3), held from reading the feed position to recording
/// the delivered entry: two signers started at once with one key take turns instead of signing two entries at one
/// position (an equivocation, which voids the member's votes). The lock file, `KEY.signer.lock`, is never renamed
/// (the state file is replaced atomically, so it cannot carry the lock itself); the lock ends with the process.
public final class SignerLock {
    private let descriptor: OwnedDescriptor

    public static func path(forKey keyPath: String) -> String { keyPath + ".signer.lock" }

    /// Takes the lock, waiting while another process holds it; `onWait` is called once before waiting.
    public init(keyPath: String, onWait: () -> Void) throws(KeyFileError) {
        let p = Self.path(forKey: keyPath)
        let opened = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard opened >= 0 else { throw .unreadable(path: p, reason: "cannot open the signer lock: \(String(cString: strerror(errno)))") }
        // Owned from here: a throw below closes it once (OwnedDescriptor).
        let descriptor = OwnedDescriptor(opened)
        if flock(descriptor.raw, LOCK_EX | LOCK_NB) != 0 {
            onWait()
            while flock(descriptor.raw, LOCK_EX) != 0 {
                guard errno == EINTR else {
                    throw .unreadable(path: p, reason: "cannot lock the signer state: \(String(cString: strerror(errno)))")
                }
            }
        }
        self.descriptor = descriptor
    }

    /// Unlocks; closing the descriptor would too.
    deinit { flock(descriptor.raw, LOCK_UN) }
}
