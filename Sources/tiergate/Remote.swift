import TiergateCore
import TiergateNode

/// Node access for the CLI, mapping client errors to exit codes (unreachable: 2).
enum Remote {
    static func connect(_ address: String, genesis: Digest) throws -> NodeClient {
        guard let e = Endpoint(address) else { throw CLIFailure.cannotEvaluate("--node takes HOST:PORT, got '\(address)'") }
        do { return try NodeClient(endpoint: e, genesis: genesis) } catch { throw CLIFailure.cannotEvaluate("\(error)") }
    }

    /// Submits one entry; only "stored" or "already stored" is success.
    static func submit(_ e: SignedEntry, to client: NodeClient) throws {
        let (status, reason): (AckStatus, String)
        do { (status, reason) = try client.submit(e) } catch { throw CLIFailure.cannotEvaluate("node \(client.endpoint): \(error)") }
        switch status {
        case .stored, .alreadyStored: return
        case .rejected: throw CLIFailure.negative("node \(client.endpoint) rejected entry \(e.id.short)…: \(reason)")
        }
    }
}
