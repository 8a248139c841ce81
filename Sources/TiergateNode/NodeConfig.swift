import TiergateCore
import TiergateStorage

/// A host and port, parsed from `HOST:PORT`.
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT` (IPv6 as `[::1]:PORT`); nil when malformed.
    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.init(host: host, port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Everything a node needs to run.
public struct NodeConfig: Sendable {
    public var genesis: Roster
    /// The node's member key: authenticates its links (SPEC.md §12) and signs its freshness attestations.
    public var identity: SigningKey
    /// A peer must complete the encrypted handshake within this time.
    public var handshakeTimeoutMs: Int64 = 5_000
    /// Inbound connections still in their handshake, at most (SPEC.md §12.4); when full, a newcomer from a less
    /// busy address evicts the oldest handshake of the busiest one, or is refused with "overloaded".
    public var maxPendingHandshakes = 256
    /// Handshakes in progress from one address, at most; more are refused at once.
    public var maxPendingPerAddress = 16
    /// The handshake timeout while half the slots or more are taken.
    public var loadedHandshakeTimeoutMs: Int64 = 1_000
    /// Open sessions per roster key, at most (a cluster's gates share one observer key: keep this above the
    /// number of jobs a cluster runs).
    public var maxSessionsPerKey = 1_024
    public var dataDirectory: String
    public var listen: Endpoint
    public var peers: [Endpoint]
    public var gossip = GossipSettings()
    /// A peer must say HELLO within this time.
    public var helloTimeoutMs: Int64 = 5_000
    /// A peer whose unsent output exceeds this is too slow and is disconnected.
    public var maxOutboundBytes = 16 << 20

    public init(genesis: Roster, dataDirectory: String, listen: Endpoint, peers: [Endpoint], identity: SigningKey) {
        self.genesis = genesis
        self.identity = identity
        self.gossip = NodeConfig.defaultGossip(identity: identity)
        self.dataDirectory = dataDirectory
        self.listen = listen
        self.peers = peers
    }

    public var ledgerPath: String { dataDirectory + "/ledger" }

    /// The gossip settings of a real node: attests with its key, checks signatures on all cores, keepalives on
    /// (dead links found in seconds, clocks compared, SPEC.md §8.5). Start from these and change what you must.
    public static func defaultGossip(identity: SigningKey) -> GossipSettings {
        var g = GossipSettings()
        g.attester = identity
        g.parallel = .allCores
        g.keepaliveIntervalMs = 1_000
        g.deadAfterMs = 5_000
        return g
    }
}
