import Foundation
import TiergateCore
import TiergateStorage

/// Why an agent-held key could not sign (SPEC.md §7.4). Every one is exit 2, with nothing signed.
public enum AgentKeyError: Error, CustomStringConvertible {
    case noAgent
    case cannotConnect(path: String, reason: String)
    case io(String)
    case keyNotInAgent(wanted: String, available: [String])
    case agent(SSHAgentProtocol.AgentError)
    case badSignature(fingerprint: String)
    case badReference(String)

    public var description: String {
        switch self {
        case .noAgent:
            "SSH_AUTH_SOCK is not set, so there is no ssh-agent to ask; start one (eval \"$(ssh-agent)\") and ssh-add the key"
        case .cannotConnect(let path, let reason):
            "cannot reach the ssh-agent at SSH_AUTH_SOCK=\(path): \(reason) (is the agent running?)"
        case .io(let why): "talking to the ssh-agent failed: \(why)"
        case .keyNotInAgent(let wanted, let available):
            "the ssh-agent holds no ssh-ed25519 key matching '\(wanted)'"
                + (available.isEmpty ? " (it holds no ssh-ed25519 key at all; ssh-add it)" : "; it holds: \(available.joined(separator: "; "))")
        case .agent(let e): "ssh-agent: \(e)"
        case .badSignature(let fp):
            "the ssh-agent returned a signature that does not verify for key \(fp) over the message it was given; nothing was signed"
        case .badReference(let s):
            "--key ssh-agent: takes the key's OpenSSH fingerprint (SHA256:…), tiergate fingerprint (xxxx-xxxx-xxxx-xxxx-xxxx) or comment, got '\(s)'"
        }
    }
}

/// An Ed25519 key held by an ssh-agent, used through `$SSH_AUTH_SOCK` (SPEC.md §7.4): the key never leaves the agent.
/// Each signature is one connection and one SIGN_REQUEST; the answer is verified before it is returned.
public final class SSHAgentSigner: Ed25519Signer, @unchecked Sendable {
    public let publicKey: PublicKey
    public let comment: String
    let blob: [UInt8]
    let socketPath: String
    /// How long to wait for an answer: a confirmation prompt or a token's touch takes a person.
    static let answerTimeoutSeconds = 120

    public static let prefix = "ssh-agent:"

    /// Finds the key `selector` names — its OpenSSH fingerprint (`SHA256:…`), tiergate fingerprint or comment — among
    /// the agent's identities.
    public init(selector: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        guard !selector.isEmpty else { throw AgentKeyError.badReference(selector) }
        guard let path = environment["SSH_AUTH_SOCK"], !path.isEmpty else { throw AgentKeyError.noAgent }
        socketPath = path
        let answer = try Self.exchange(path, SSHAgentProtocol.identitiesRequest())
        let identities: [SSHAgentProtocol.Identity]
        do { identities = try SSHAgentProtocol.identities(answer) } catch { throw AgentKeyError.agent(error) }
        let ed = identities.compactMap { id in id.ed25519.map { (id, $0) } }
        let matches = ed.filter { id, key in
            selector == OpenSSH.fingerprint(key) || selector == key.fingerprint || selector == id.comment
        }
        guard let (id, key) = matches.first else {
            let others = identities.filter { $0.ed25519 == nil }.map(\.type)
            var available = ed.map { "\(OpenSSH.fingerprint($0.1)) \($0.0.comment)" }
            if !others.isEmpty { available.append("\(others.count) key(s) of other types (\(Set(others).sorted().joined(separator: ", "))), which cannot sign for tiergate") }
            throw AgentKeyError.keyNotInAgent(wanted: selector, available: available)
        }
        guard matches.count == 1 || matches.allSatisfy({ $0.1 == key }) else {
            throw AgentKeyError.keyNotInAgent(
                wanted: selector + " (the comment matches \(matches.count) keys; name one by fingerprint)",
                available: matches.map { "\(OpenSSH.fingerprint($0.1)) \($0.0.comment)" })
        }
        publicKey = key
        comment = id.comment
        blob = id.blob
    }

    public func signature(over message: [UInt8]) throws -> [UInt8] {
        let answer = try Self.exchange(socketPath, SSHAgentProtocol.signRequest(blob: blob, data: message))
        let sig: [UInt8]
        do { sig = try SSHAgentProtocol.signature(answer) } catch { throw AgentKeyError.agent(error) }
        guard publicKey.verify(signature: sig, message: message) else {
            throw AgentKeyError.badSignature(fingerprint: OpenSSH.fingerprint(publicKey))
        }
        return sig
    }

    public func linkStaticSecret() -> [UInt8]? { nil }

    /// One request and its answer's body over a fresh connection to the agent.
    static func exchange(_ path: String, _ request: [UInt8]) throws -> [UInt8] {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw AgentKeyError.io("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            throw AgentKeyError.cannotConnect(path: path, reason: "the socket path is too long")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            for (i, b) in bytes.enumerated() { p[i] = b }
            p[bytes.count] = 0
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else { throw AgentKeyError.cannotConnect(path: path, reason: String(cString: strerror(errno))) }
        var tv = timeval(tv_sec: answerTimeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var sent = 0
        while sent < request.count {
            let n = request[sent...].withUnsafeBytes { send(fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw AgentKeyError.io("sending: \(String(cString: strerror(errno)))") }
            sent += n
        }
        func read(_ count: Int) throws -> [UInt8] {
            var out = [UInt8](repeating: 0, count: count)
            var got = 0
            while got < count {
                let n = out[got...].withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
                if n < 0 && errno == EINTR { continue }
                if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                    throw AgentKeyError.io("no answer within \(answerTimeoutSeconds) s")
                }
                guard n > 0 else { throw AgentKeyError.io(n == 0 ? "the agent closed the connection" : String(cString: strerror(errno))) }
                got += n
            }
            return out
        }
        let length: Int
        do { length = try SSHAgentProtocol.announcedLength(try read(4)) } catch let e as SSHAgentProtocol.AgentError {
            throw AgentKeyError.agent(e)
        }
        return try read(length)
    }
}

/// What `--key` names: a secret key file, or a key held by ssh-agent (`ssh-agent:FINGERPRINT`).
public enum KeyReference: Sendable, Equatable {
    /// The signer state's path for `key`, and its lock, taken (SPEC.md §7.3): no other signer with this key reads or
    /// takes a position until the lock is released. `waiting` is said once if another holds it.
    public func lockSignerState(for key: PublicKey, waiting: String) throws -> (path: String, lock: SignerLock) {
        let base = try stateBase(for: key)
        do { return (SignerState.path(forKey: base), try SignerLock(keyPath: base) { Out.err(waiting) }) } catch {
            throw CLIFailure.cannotEvaluate("\(error)")
        }
    }

    case file(String)
    case agent(String)

    public init(_ text: String) {
        if text.hasPrefix(SSHAgentSigner.prefix) { self = .agent(String(text.dropFirst(SSHAgentSigner.prefix.count))) } else { self = .file(text) }
    }

    /// Where the signer state's name starts (SPEC.md §7.3, §7.4): beside the key file, or `DIR/agent-FP` for an
    /// agent-held key, DIR being `$TIERGATE_STATE_DIR`, `$XDG_STATE_HOME/tiergate` or `~/.local/state/tiergate`
    /// (created 0700). `SignerState.path(forKey:)` and `SignerLock` append `.signer` and `.signer.lock`.
    public func stateBase(for key: PublicKey, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        switch self {
        case .file(let path): return path
        case .agent:
            let dir: String
            if let d = environment["TIERGATE_STATE_DIR"], !d.isEmpty {
                dir = d
            } else if let x = environment["XDG_STATE_HOME"], !x.isEmpty {
                dir = x + "/tiergate"
            } else if let h = environment["HOME"], !h.isEmpty {
                dir = h + "/.local/state/tiergate"
            } else {
                throw CLIFailure.cannotEvaluate("no place for the agent key's signer state: set TIERGATE_STATE_DIR (or HOME)")
            }
            do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700]) } catch {
                throw CLIFailure.cannotEvaluate("cannot create the signer state directory \(dir): \(error.localizedDescription)")
            }
            return dir + "/agent-" + key.fingerprint
        }
    }
}
