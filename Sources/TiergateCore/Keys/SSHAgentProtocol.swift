/// The part of the ssh-agent protocol tiergate speaks (SPEC.md §7.4; draft-miller-ssh-agent §3, §4.4, §4.5), as pure
/// encoders and decoders: the CLI moves the bytes over `$SSH_AUTH_SOCK`. Every message is `u32 length || u8 type ||
/// contents`.
public enum SSHAgentProtocol {
    public static let failure: UInt8 = 5
    public static let requestIdentities: UInt8 = 11
    public static let identitiesAnswer: UInt8 = 12
    public static let signRequest: UInt8 = 13
    public static let signResponse: UInt8 = 14
    /// The longest answer read (OpenSSH's own limit, 256 KiB).
    public static let maxMessage = 256 * 1024

    public struct Identity: Sendable, Equatable {
        public var blob: [UInt8]
        public var comment: String
        /// The Ed25519 key, when the blob is a plain ssh-ed25519 key.
        public var ed25519: PublicKey? { try? OpenSSH.key(fromBlob: blob) }
        /// The blob's key type, for messages ("ssh-rsa", "sk-ssh-ed25519@openssh.com", …).
        public var type: String {
            var r = SSHReader(blob)
            return r.string().map { String(decoding: $0, as: UTF8.self) } ?? "?"
        }
    }

    public enum AgentError: Error, Equatable, CustomStringConvertible {
        case refused(String)
        case malformed(String)

        public var description: String {
            switch self {
            case .refused(let what): "the agent refused \(what)"
            case .malformed(let why): "the agent's answer is malformed: \(why)"
            }
        }
    }

    static func frame(_ type: UInt8, _ contents: [UInt8]) -> [UInt8] { OpenSSH.string([type] + contents) }

    /// `REQUEST_IDENTITIES`, framed.
    public static func identitiesRequest() -> [UInt8] { frame(requestIdentities, []) }

    /// `SIGN_REQUEST` for `data` with the key `blob`, flags 0, framed.
    public static func signRequest(blob: [UInt8], data: [UInt8]) -> [UInt8] {
        frame(signRequest, OpenSSH.string(blob) + OpenSSH.string(data) + [0, 0, 0, 0])
    }

    /// The body length announced by a frame's first four bytes; throws beyond ``maxMessage``.
    public static func announcedLength(_ header: [UInt8]) throws(AgentError) -> Int {
        var r = SSHReader(header)
        guard let n = r.u32() else { throw .malformed("short length") }
        guard n >= 1, n <= maxMessage else { throw .malformed("a message of \(n) bytes") }
        return Int(n)
    }

    /// Decodes an `IDENTITIES_ANSWER` body (type byte included).
    public static func identities(_ body: [UInt8]) throws(AgentError) -> [Identity] {
        var r = SSHReader(body)
        guard let type = r.u8() else { throw .malformed("empty message") }
        if type == failure { throw .refused("to list its keys") }
        guard type == identitiesAnswer else { throw .malformed("message type \(type) in answer to REQUEST_IDENTITIES") }
        guard let n = r.u32(), n <= 16384 else { throw .malformed("no key count") }
        var out: [Identity] = []
        for _ in 0..<n {
            guard let blob = r.string(), let comment = r.string() else { throw .malformed("truncated key list") }
            out.append(Identity(blob: blob, comment: String(decoding: comment, as: UTF8.self)))
        }
        guard r.atEnd else { throw .malformed("bytes after the key list") }
        return out
    }

    /// Decodes a `SIGN_RESPONSE` body (type byte included) to the 64-byte Ed25519 signature. The caller verifies it.
    public static func signature(_ body: [UInt8]) throws(AgentError) -> [UInt8] {
        var r = SSHReader(body)
        guard let type = r.u8() else { throw .malformed("empty message") }
        if type == failure { throw .refused("to sign (a locked agent, a declined confirmation or an untouched token)") }
        guard type == signResponse else { throw .malformed("message type \(type) in answer to SIGN_REQUEST") }
        guard let sigBlob = r.string(), r.atEnd else { throw .malformed("truncated signature") }
        var s = SSHReader(sigBlob)
        guard let alg = s.string() else { throw .malformed("no signature algorithm") }
        guard String(decoding: alg, as: UTF8.self) == OpenSSH.keyType else {
            throw .malformed("a \(String(decoding: alg, as: UTF8.self)) signature, not ssh-ed25519")
        }
        guard let sig = s.string(), s.atEnd, sig.count == 64 else { throw .malformed("the signature is not 64 bytes") }
        return sig
    }
}
