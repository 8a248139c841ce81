import CSodium

/// OpenSSH's view of an Ed25519 key (SPEC.md §2.4): the wire blob `string("ssh-ed25519") || string(key)`, the
/// `SHA256:` fingerprint that `ssh-keygen -l` and `ssh-add -l` print, and the one-line public key format.
public enum OpenSSH {
    public static let keyType = "ssh-ed25519"

    public enum KeyError: Error, Equatable, CustomStringConvertible {
        case notOpenSSH(String)
        case unsupportedType(String)
        case malformed(String)

        public var description: String {
            switch self {
            case .notOpenSSH(let why): "not an OpenSSH public key: \(why)"
            case .unsupportedType(let t):
                t.hasPrefix("sk-")
                    ? "\(t) is a FIDO security-key type whose signatures cover other bytes than the message (SPEC.md §7.4); only plain ssh-ed25519 keys can sign for tiergate"
                    : "\(t) keys cannot be roster keys; only ssh-ed25519 (Ed25519) keys can"
            case .malformed(let why): "malformed ssh-ed25519 key: \(why)"
            }
        }
    }

    /// `string` of RFC 4251 §5: a u32 big-endian length, then the bytes.
    public static func string(_ bytes: [UInt8]) -> [UInt8] {
        let n = UInt32(bytes.count)
        return [UInt8(n >> 24), UInt8((n >> 16) & 0xff), UInt8((n >> 8) & 0xff), UInt8(n & 0xff)] + bytes
    }

    /// The key's SSH wire blob (RFC 8709 §4).
    public static func blob(_ key: PublicKey) -> [UInt8] { string(Array(keyType.utf8)) + string(key.bytes) }

    /// The key in a blob, which must be exactly an ssh-ed25519 blob of a 32-byte key.
    public static func key(fromBlob blob: [UInt8]) throws(KeyError) -> PublicKey {
        var r = SSHReader(blob)
        guard let type = r.string() else { throw .malformed("the blob does not start with a key type") }
        let name = String(decoding: type, as: UTF8.self)
        guard name == keyType else { throw .unsupportedType(name) }
        guard let k = r.string(), r.atEnd else { throw .malformed("the blob is not string(type) || string(key)") }
        guard let key = PublicKey(bytes: k) else { throw .malformed("the key is \(k.count) bytes, not 32") }
        return key
    }

    /// `SHA256:` and the unpadded base64 of SHA-256 over the blob, as `ssh-keygen -l` prints it.
    public static func fingerprint(_ key: PublicKey) -> String {
        "SHA256:" + Base64.encode(SHA256.hash(blob(key)), padding: false)
    }

    /// The one-line public key: `ssh-ed25519 BASE64 [comment]`.
    public static func line(_ key: PublicKey, comment: String = "") -> String {
        keyType + " " + Base64.encode(blob(key), padding: true) + (comment.isEmpty ? "" : " " + comment)
    }

    /// Parses a one-line OpenSSH public key (`ssh-ed25519 AAAA… [comment]`, as in a `.pub` file); the type word and
    /// the blob's type must agree.
    public static func parse(line text: String) throws(KeyError) -> (key: PublicKey, comment: String) {
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }).map(String.init)
        guard fields.count >= 2 else { throw .notOpenSSH("expected 'ssh-ed25519 BASE64 [comment]'") }
        guard fields[0] == keyType else {
            if fields[0].hasPrefix("ssh-") || fields[0].hasPrefix("sk-") || fields[0].hasPrefix("ecdsa-") {
                throw .unsupportedType(fields[0])
            }
            throw .notOpenSSH("expected 'ssh-ed25519 BASE64 [comment]'")
        }
        guard let blob = Base64.decode(fields[1]) else { throw .malformed("the key is not base64") }
        let key = try self.key(fromBlob: blob)
        return (key, fields.dropFirst(2).joined(separator: " "))
    }
}

/// Reads SSH wire `string`s and integers (RFC 4251 §5); nil on truncation.
public struct SSHReader {
    let bytes: [UInt8]
    var at = 0
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public var atEnd: Bool { at == bytes.count }
    public mutating func u8() -> UInt8? {
        guard at < bytes.count else { return nil }
        defer { at += 1 }
        return bytes[at]
    }
    public mutating func u32() -> UInt32? {
        guard bytes.count - at >= 4 else { return nil }
        defer { at += 4 }
        return bytes[at..<(at + 4)].reduce(0) { $0 << 8 | UInt32($1) }
    }
    public mutating func string() -> [UInt8]? {
        guard let n = u32(), bytes.count - at >= Int(n) else { return nil }
        defer { at += Int(n) }
        return Array(bytes[at..<(at + Int(n))])
    }
}

/// SHA-256 (libsodium `crypto_hash_sha256`), for OpenSSH fingerprints only.
public enum SHA256 {
    public static func hash(_ data: [UInt8]) -> [UInt8] {
        Sodium.ensureInitialized()
        var out = [UInt8](repeating: 0, count: 32)
        data.withUnsafeBufferPointer { d in
            out.withUnsafeMutableBufferPointer { o in _ = crypto_hash_sha256(o.baseAddress!, d.baseAddress, UInt64(d.count)) }
        }
        return out
    }
}

/// Standard base64 (RFC 4648 §4) with libsodium's constant-time codec.
public enum Base64 {
    public static func encode(_ data: [UInt8], padding: Bool) -> String {
        Sodium.ensureInitialized()
        let variant = padding ? sodium_base64_VARIANT_ORIGINAL : sodium_base64_VARIANT_ORIGINAL_NO_PADDING
        let size = sodium_base64_encoded_len(data.count, variant)
        var out = [CChar](repeating: 0, count: size)
        data.withUnsafeBufferPointer { d in
            out.withUnsafeMutableBufferPointer { o in _ = sodium_bin2base64(o.baseAddress!, size, d.baseAddress, d.count, variant) }
        }
        return String(decoding: out.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Decodes padded or unpadded standard base64; nil for anything else (whitespace included).
    public static func decode(_ text: String) -> [UInt8]? {
        Sodium.ensureInitialized()
        let chars = Array(text.utf8)
        guard !chars.isEmpty else { return [] }
        let padded = chars.last == UInt8(ascii: "=")
        let variant = padded ? sodium_base64_VARIANT_ORIGINAL : sodium_base64_VARIANT_ORIGINAL_NO_PADDING
        var out = [UInt8](repeating: 0, count: chars.count * 3 / 4 + 3)
        var length = 0
        let rc = chars.withUnsafeBufferPointer { c in
            out.withUnsafeMutableBufferPointer { o in
                c.withMemoryRebound(to: CChar.self) { cc in
                    sodium_base642bin(o.baseAddress!, o.count, cc.baseAddress!, cc.count, nil, &length, nil, variant)
                }
            }
        }
        guard rc == 0 else { return nil }
        return Array(out.prefix(length))
    }
}
