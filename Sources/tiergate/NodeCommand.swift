import ArgumentParser
import Logging
import NIOCore
import ServiceLifecycle
import TiergateCore
import TiergateCLIKit
import TiergateStorage
import TiergateNode

#if canImport(Glibc)
import Glibc
#endif

struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Run a node: store the lab's ledger and gossip signed entries with peer nodes over TCP.",
        discussion: """
            Prints "listening on HOST:PORT" (flushed) once it accepts connections; --listen 127.0.0.1:0 picks a free
            port. The ledger lives in DATA/ledger and is reloaded on restart (a torn tail from a crash is cut).
            Peers come from --peer and the optional --config file; each is retried forever with capped backoff.
            SIGTERM or SIGINT shut the node down cleanly. Logs go to stderr (--log-level debug for more;
            --log-format json for one JSON object per line).

            Every connection, in and out, is a Noise XX session bound to the roster's genesis hash (SPEC.md §12):
            the node proves --key, and admits only keys of the roster in force. Refused links are logged with
            the reason; a peer it dials that fails the handshake is retried with the slow (10 s) backoff.

            A config file is JSON: {"peers": ["HOST:PORT", ...], "anti_entropy_interval": "1s", "name": "node-a"}.

            Example:
              tiergate node --data /var/lib/tiergate --listen 0.0.0.0:7400 --roster roster.json \\
                --key keys/alice.key --peer 10.0.0.2:7400 --peer 10.0.0.3:7400
            """)

    @Option(help: "Directory for the node's ledger (created if missing).") var data: String
    @Option(help: "Address to listen on, HOST:PORT (port 0: any free port).") var listen: String
    @Option(help: "The lab's genesis roster file.") var roster: String
    @Option(help: "This node's member key: proves the node to its peers and clients (encrypted links, SPEC §12) and signs attestations.") var key: String
    @Option(help: "Passphrase file for a sealed key.") var passphraseFile: String?
    @Option(parsing: .singleValue, help: "A peer node, HOST:PORT; repeatable.") var peer: [String] = []
    @Option(help: "JSON config file (peers, anti_entropy_interval, name).") var config: String?
    @Option(help: "Anti-entropy interval, e.g. 1s or 250ms (default 1s).") var antiEntropyInterval: String?
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel: String = "info"
    @Option(help: "Log format: text (swift-log's lines) or json (one JSON object per line: time, level, label, message, source, metadata).")
    var logFormat: String = "text"
    @Option(help: ArgumentHelp("Serve metrics, health and the live status page over HTTP at [HOST:]PORT (HOST defaults to 127.0.0.1). Off by default.",
                               discussion: "What it shows, who voted what included, is public to whoever can reach it."))
    var http: String?
    @Option(parsing: .singleValue, help: "POST each lab event (proposal, vote, pass, expiry, halt, resume, lapse due, equivocation) as JSON to this http:// URL; repeatable.")
    var notify: [String] = []
    @Flag(help: "Stop cleanly (as on SIGTERM) when the process that started the node exits, e.g. a supervisor or the demo.")
    var exitWithParent = false

    func validate() throws {
        guard Endpoint(listen) != nil else { throw ValidationError("--listen takes HOST:PORT, got '\(listen)'") }
        for p in peer where Endpoint(p) == nil { throw ValidationError("--peer takes HOST:PORT, got '\(p)'") }
        if let a = antiEntropyInterval, DurationText.parse(a) == nil { throw ValidationError("--anti-entropy-interval takes a duration like 1s") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level '\(logLevel)'") }
        guard ["text", "json"].contains(logFormat) else { throw ValidationError("--log-format takes text or json, got '\(logFormat)'") }
        if let h = http, Self.httpEndpoint(h) == nil { throw ValidationError("--http takes PORT or HOST:PORT, got '\(h)'") }
        for n in notify { if case .failure(let e) = NotifyURL.parse(n) { throw ValidationError("--notify \(e)") } }
    }

    /// `PORT` (on loopback) or `HOST:PORT`.
    static func httpEndpoint(_ s: String) -> Endpoint? {
        if let p = Int(s), (0...65535).contains(p) { return Endpoint(host: "127.0.0.1", port: p) }
        return Endpoint(s)
    }

    func run() async throws {
        do {
            try await runNode()
        } catch let f as CLIFailure {
            Out.err("error: \(f.message)")
            throw ExitCode(f.code)
        }
    }

    func runNode() async throws {
        let doc = try Load.trustedGenesis(roster)
        let k = try Load.signingKey(key, passphraseFile: passphraseFile)
        guard let member = doc.roster.member(withKey: k.publicKey) else {
            throw CLIFailure.negative("key \(k.publicKey.fingerprint) is not a member of the genesis roster")
        }
        guard !member.isObserver else {
            throw CLIFailure.negative("\(member.name) is an observer: observers read through a node (status, token, check, gate) and do not run one")
        }
        var peers = peer.compactMap(Endpoint.init)
        // A real node's defaults (keepalives, all cores), then the command's options. (Before, a fresh
        // GossipSettings here silently turned keepalives and parallel verification off in every node process.)
        var settings = NodeConfig.defaultGossip(identity: k)
        settings.nodeName = member.name
        if let a = antiEntropyInterval { settings.antiEntropyIntervalMs = DurationText.parse(a)! }
        if let c = config {
            do {
                var o = try JSONObjectReader(try JSONValue.parse(try Files.read(c, max: 1 << 20)), path: "")
                if case .array(let ps) = o.optional("peers") {
                    for (i, p) in ps.enumerated() {
                        let text = try JSONObjectReader.string(p, path: "peers[\(i)]")
                        guard let e = Endpoint(text) else { throw JSONError(path: "peers[\(i)]", reason: "expected HOST:PORT") }
                        peers.append(e)
                    }
                }
                if let v = o.optional("anti_entropy_interval") {
                    guard let ms = DurationText.parse(try JSONObjectReader.string(v, path: "anti_entropy_interval")) else {
                        throw JSONError(path: "anti_entropy_interval", reason: "expected a duration like 1s")
                    }
                    settings.antiEntropyIntervalMs = ms
                }
                if let v = o.optional("name") { settings.nodeName = try JSONObjectReader.string(v, path: "name") }
                try o.finish()
            } catch let e as CLIFailure { throw e } catch {
                throw CLIFailure.cannotEvaluate("config \(c): \(error)")
            }
        }
        try Files.makeDirectory(data)
        var cfg = NodeConfig(genesis: doc.roster, dataDirectory: data, listen: Endpoint(listen)!, peers: peers, identity: k)
        cfg.gossip = settings

        let level = Logger.Level(rawValue: logLevel)!
        let json = logFormat == "json"
        LoggingSystem.bootstrap { label in
            if json {
                var h = JSONLogHandler(label: label)
                h.logLevel = level
                return h
            }
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        var logger = Logger(label: "tiergate.node")
        logger[metadataKey: "node.name"] = "\(settings.nodeName)"
        let listenHost = cfg.listen.host
        let httpEndpoint = http.flatMap(Self.httpEndpoint)
        if let e = httpEndpoint, !["127.0.0.1", "::1", "localhost"].contains(e.host) {
            logger.warning("the HTTP side listens beyond loopback: its status page, metrics and events show who voted what to whoever reaches it",
                           metadata: ["http.listen": "\(e)"])
        }
        let urls = notify.compactMap { try? NotifyURL.parse($0).get() }
        let service = NodeService(config: cfg, logger: logger, http: httpEndpoint, notify: urls, onHTTP: { address in
            let host = address.ipAddress ?? httpEndpoint?.host ?? "127.0.0.1"
            print("http on \(host.contains(":") ? "[\(host)]" : host):\(address.port ?? 0)")
            fflush(nil)
        }) { address in
            let host = address.ipAddress ?? listenHost
            let shown = host.contains(":") ? "[\(host)]" : host
            print("listening on \(shown):\(address.port ?? 0)")
            fflush(nil)
        }
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: service)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        if exitWithParent {
            // Re-parenting (to init or a subreaper) means the starter is gone: shut down as on SIGTERM.
            let parent = getppid()
            Task.detached {
                while getppid() == parent { try? await Task.sleep(for: .milliseconds(200)) }
                logger.notice("the process that started this node exited; stopping")
                kill(getpid(), SIGTERM)
            }
        }
        do {
            try await group.run()
        } catch let e as NodeError {
            if case .persistFailed = e { throw CLIFailure(code: 70, message: "\(e)") }  // EX_SOFTWARE, as documented
            throw CLIFailure.cannotEvaluate("\(e)")
        } catch {
            throw CLIFailure.cannotEvaluate("\(error)")
        }
    }
}

struct SubmitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Deliver signed entry files (made with --out) to nodes; exit 0 once they have them on disk.",
        discussion: """
            Give --node several times to deliver to several nodes. Exit 0 once one node stored every entry — or, when
            the last entry is a halt and two or more nodes are given, once the nodes of two different members did.

            Example: tiergate submit bob-vote.entry --node 10.0.0.1:7400 --node 10.0.0.2:7400
            """)

    @Argument(help: "Signed entry files, in feed order.") var files: [String]
    @Option(help: ArgumentHelp("A node, HOST:PORT; give it several times for several nodes.", valueName: "host:port"))
    var node: [String]
    @Option(help: "The lab's genesis roster file: names the members whose nodes stored the entries.") var roster: String?
    @OptionGroup var link: LinkKeyOptions

    func validate() throws {
        guard !node.isEmpty else { throw ValidationError("give --node HOST:PORT (one or more)") }
        for n in node where Endpoint(n) == nil { throw ValidationError("--node takes HOST:PORT, got '\(n)'") }
    }

    func run() throws {
        try guarded {
            var entries: [SignedEntry] = []
            for f in files {
                do { entries.append(try SignedEntry(decoding: try Files.read(f, max: Limits.maxEntryBytes))) } catch let e as CLIFailure {
                    throw e
                } catch {
                    throw CLIFailure.cannotEvaluate("\(f) is not a signed entry: \(error)")
                }
            }
            guard let first = entries.first else { return }
            let identity = try link.load()
            let roster = try roster.map { try Load.trustedGenesis($0).roster }
            var clients: [NodeClient] = []
            var unreachable: [(address: String, error: String)] = []
            for n in node {
                do {
                    clients.append(try roster.map { try Remote.connect(n, roster: $0, identity: identity) }
                        ?? Remote.connect(n, genesis: first.entry.genesis, identity: identity))
                } catch let f as CLIFailure { unreachable.append((n, f.message)) }
            }
            let d = try Delivery.deliver(entries, to: clients, unreachable: unreachable, roster: roster)
            Out.line("\(d.stored.map(\.address).joined(separator: ", ")) stored \(entries.count) entr\(entries.count == 1 ? "y" : "ies")")
        }
    }
}

struct LedgerExport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Download a node's whole ledger file, to verify it offline with `tiergate ledger verify`.",
        discussion: "Example: tiergate ledger export --node 10.0.0.1:7400 --out node-a.ledger")

    @Option(help: "The node, HOST:PORT.") var node: String
    @Option(help: "Where to write the ledger.") var out: String
    @Option(help: "The lab's genesis roster file (the link is bound to this lab).") var roster: String
    @OptionGroup var link: LinkKeyOptions

    func run() throws {
        try guarded {
            let client = try Remote.connect(node, roster: try Load.trustedGenesis(roster).roster, identity: try link.load())
            let bytes: [UInt8]
            do { bytes = try client.export() } catch { throw CLIFailure.cannotEvaluate("node \(node): \(error)") }
            try Files.replace(out, bytes)
            Out.line("wrote \(out) (\(bytes.count) bytes); verify it with `tiergate ledger verify \(out) --roster ROSTER`")
        }
    }
}
