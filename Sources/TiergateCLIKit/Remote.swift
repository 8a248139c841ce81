import ArgumentParser
import Foundation
import TiergateCore
import TiergateStorage
import TiergateNode

/// The key a command uses to open an encrypted, member-authenticated link to a node (SPEC.md §12).
/// `--key` falls back to $TIERGATE_KEY and `--passphrase-file` to $TIERGATE_PASSPHRASE_FILE, so a training
/// cluster's gate can be configured once (an observer key is enough to read status and fetch tokens).
public struct LinkKeyOptions: ParsableArguments {
    @Option(name: .customLong("key"), help: ArgumentHelp(
        "A roster member's or observer's secret key file, or ssh-agent:FINGERPRINT, for the node link (default: $TIERGATE_KEY).", valueName: "key"))
    public var linkKey: String?
    @Option(name: .customLong("passphrase-file"), help: ArgumentHelp(
        "Passphrase file for a sealed --key (default: $TIERGATE_PASSPHRASE_FILE).", valueName: "passphrase-file"))
    public var linkPassphraseFile: String?

    public init() {}

    /// The link key: a key file, or a key held by ssh-agent (which signs each handshake, SPEC.md §7.4).
    public func load() throws -> any Ed25519Signer {
        let (reference, passphraseFile) = try chosen()
        return try Load.signer(reference, passphraseFile: passphraseFile)
    }

    /// A key file only: for what signs continuously without a person (a gate's or enforcer's drill acknowledgements).
    public func loadFile() throws -> SigningKey {
        let (reference, passphraseFile) = try chosen()
        guard case .file(let path) = KeyReference(reference) else {
            throw CLIFailure.cannotEvaluate("this command signs unattended and needs an observer key file, not an ssh-agent key")
        }
        return try Load.signingKey(path, passphraseFile: passphraseFile)
    }

    private func chosen() throws -> (String, String?) {
        let env = ProcessInfo.processInfo.environment
        guard let reference = linkKey ?? env["TIERGATE_KEY"].flatMap({ $0.isEmpty ? nil : $0 }) else {
            throw CLIFailure.cannotEvaluate(
                "talking to a node needs a roster key: give --key FILE (or ssh-agent:FINGERPRINT) or set TIERGATE_KEY (nodes accept only roster members and observers)")
        }
        return (reference, linkPassphraseFile ?? env["TIERGATE_PASSPHRASE_FILE"].flatMap { $0.isEmpty ? nil : $0 })
    }
}

/// Node access for the CLI, mapping client errors to exit codes (unreachable: 2).
public enum Remote {
    /// Opens a link to the node at `address` of the lab `roster` (genesis), as `identity`. The node must prove the key
    /// of a roster member that is not an observer.
    public static func connect(_ address: String, roster: Roster, identity: any Ed25519Signer) throws -> NodeClient {
        try connect(address, genesis: roster.hash, identity: identity, nodeKeys: Set(roster.members.voters.map(\.key)))
    }

    /// As above when only the genesis hash is known (`submit` of entry files): any key that completes the handshake
    /// bound to that genesis is accepted; the entries are signed, so a false node can only fail to store them.
    public static func connect(_ address: String, genesis: Digest, identity: any Ed25519Signer, nodeKeys: Set<PublicKey>? = nil) throws -> NodeClient {
        guard let e = Endpoint(address) else { throw CLIFailure.cannotEvaluate("--node takes HOST:PORT, got '\(address)'") }
        // A node that refuses connections because it is overloaded (or flooded) says so; retry for a few seconds
        // with backoff before giving up, since a slot frees within a handshake timeout.
        var delayMs: UInt32 = 50
        let deadline = Date().addingTimeInterval(5)
        while true {
            do { return try NodeClient(endpoint: e, genesis: genesis, identity: identity, nodeKeys: nodeKeys) } catch ClientError.busy(let why) {
                guard Date() < deadline else { throw CLIFailure.cannotEvaluate("node \(e): \(why); gave up after 5 s of retries") }
                usleep(delayMs * 1000)
                delayMs = min(delayMs * 2, 800)
            } catch {
                throw CLIFailure.cannotEvaluate("\(error)")
            }
        }
    }

    /// Submits one entry; only "stored" or "already stored" is success.
    public static func submit(_ e: SignedEntry, to client: NodeClient) throws {
        let (status, reason): (AckStatus, String)
        do { (status, reason) = try client.submit(e) } catch { throw CLIFailure.cannotEvaluate("node \(client.endpoint): \(error)") }
        switch status {
        case .stored, .alreadyStored: return
        case .rejected: throw CLIFailure.negative("node \(client.endpoint) rejected entry \(e.id.short)…: \(reason)")
        }
    }
}
