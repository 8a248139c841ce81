import ArgumentParser
import TiergateCore
import TiergateCLIKit
import TiergateStorage
import TiergateNode

#if canImport(Glibc)
import Glibc
#endif

struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Get a tier token from a node: exit 1 (with the reason) when tier N is not authorised now.",
        discussion: """
            The node issues a token only when tier ≥ N is authorised and no halt is in force. The token carries
            the entries that prove the quorum and freshness attestations signed by member nodes (as many as the
            policy's freshness quorum), so `tiergate check` can verify it offline. It expires after the policy's
            token TTL.

            Example: tiergate token --node 10.0.0.1:7400 --tier 3 --out tier3.token
            """)

    @Option(help: "The node, HOST:PORT.") var node: String
    @Option(help: "The tier to launch at.") var tier: UInt32
    @Option(help: "Where to write the token.") var out: String
    @Option(help: "The lab's genesis roster file (the link is bound to this lab).") var roster: String
    @OptionGroup var link: LinkKeyOptions
    @Flag(help: "Print a JSON object.") var json = false

    func run() throws {
        try guarded(json: json) {
            let client = try Remote.connect(node, roster: try Load.trustedGenesis(roster).roster, identity: try link.load())
            let bytes: [UInt8]
            do { bytes = try client.token(tier: tier) } catch ClientError.denied(let reason) {
                throw CLIFailure.negative("node \(node) issues no token for tier \(tier): \(reason)")
            } catch {
                throw CLIFailure.cannotEvaluate("node \(node): \(error)")
            }
            try Files.replace(out, bytes, mode: 0o600)  // a bearer credential: readable by its owner only (CLI.md)
            let t = try? TierToken(decoding: bytes)
            if json {
                Out.json(.object([
                    ("ok", .bool(true)), ("tier", .uint(UInt64(tier))), ("out", .string(out)),
                    ("expires_at", t.map { .string(TimeText.format($0.expiresAt)) } ?? .null),
                ]))
            } else {
                Out.line("wrote \(out): tier \(tier), valid until \(t.map { TimeText.format($0.expiresAt) } ?? "?")")
            }
        }
    }
}

/// The online part of a check: every listed node must answer, and none may report a halt or a lower tier.
enum OnlineCheck {
    struct NodeView {
        var address: String
        var halted: Bool
        var tier: UInt32
        var reason: String
    }

    static func ask(_ address: String, roster: Roster, identity: any Ed25519Signer) throws -> NodeView {
        try view(try Remote.connect(address, roster: roster, identity: identity), address: address)
    }

    /// Asks every node in `addresses`: any halt or authorised tier below `tier` denies (exit 1); fewer answers than
    /// `need` from distinct members' nodes (by the keys their links proved) cannot evaluate (exit 2), so a single node
    /// that hides a halt cannot make a check pass on its own word (SPEC.md §9.3). Returns each node's answer.
    static func confirm(_ addresses: [String], roster: Roster, identity: any Ed25519Signer, tier: UInt32, need: Int) throws -> [JSONValue] {
        var online: [JSONValue] = []
        var members = Set<PublicKey>()
        var unreachable: [String] = []
        for n in addresses {
            let v: NodeView
            let key: PublicKey?
            do {
                let client = try Remote.connect(n, roster: roster, identity: identity)
                defer { client.close() }
                v = try view(client, address: n)
                key = client.nodeKey
            } catch let f as CLIFailure where f.code == 2 {
                unreachable.append(f.message)
                online.append(.object([("node", .string(n)), ("error", .string(f.message))]))
                continue
            }
            online.append(.object([("node", .string(n)), ("halted", .bool(v.halted)), ("authorized_tier", .uint(UInt64(v.tier)))]))
            if v.halted { throw CLIFailure.negative("DENY tier \(tier): node \(n) reports \(v.reason)") }
            if v.tier < tier { throw CLIFailure.negative("DENY tier \(tier): node \(n) reports authorised tier \(v.tier) (lapsed or revoked)") }
            if let key { members.insert(key) }
        }
        guard members.count >= need else {
            throw CLIFailure.cannotEvaluate(
                "cannot evaluate: \(members.count) member node(s) answered, \(need) needed (the policy's freshness rule, or --min-answers)"
                    + (unreachable.isEmpty ? "; give --node for the nodes of \(need) members" : "; \(unreachable.joined(separator: "; "))"))
        }
        return online
    }

    /// The node's view over an open connection.
    static func view(_ client: NodeClient, address: String) throws -> NodeView {
        let s: NodeStatus
        // Our clock goes along (SPEC.md §8.6): a node whose clock is slow answers for our now, not its own.
        do { s = try client.status(StatusQuery(at: SystemClock.nowMs())) } catch { throw CLIFailure.cannotEvaluate("node \(address): \(error)") }
        let v = s.verdict
        let reason = v.activeHalts.first.map { "halted by \($0.member): \($0.reason)" } ?? ""
        let tier = v.authorizedTier
        let halted = v.halted
        return NodeView(address: address, halted: halted, tier: tier, reason: reason)
    }
}

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "May a run at tier N launch? Exit 0 allow, 1 deny (with the reason), 2 cannot evaluate.",
        discussion: """
            Verifies everything in the token offline against the genesis roster: its entries (signatures, quorum,
            halts, lapse, recomputed now), its expiry and issue time (clock skew), and the freshness attestations.
            With --node it also asks each node (over the encrypted link, as --key or $TIERGATE_KEY): none may
            report a halt or a lower tier, and at least as many members' nodes as the policy's freshness rule names
            (--min-answers) must answer, so one node cannot hide a halt (too few answers: exit 2). Anything but 0
            means "do not launch".

            Example (a Slurm prolog): tiergate check --tier 3 --token /etc/tiergate/tier3.token \\
                                        --roster /etc/tiergate/roster.json --node 10.0.0.1:7400 --node 10.0.0.2:7400 || exit 1
            """)

    @Option(help: "The tier to launch at.") var tier: UInt32
    @Option(help: "The token file.") var token: String
    @Option(help: "The lab's genesis roster file.") var roster: String
    @Option(parsing: .singleValue, help: "Also ask this node for halts newer than the token; repeat for the nodes of several members.") var node: [String] = []
    @Option(help: "With --node: answers needed from distinct members' nodes (default: the policy's freshness min_attesters).") var minAnswers: Int?
    @Option(help: "Check as of this RFC 3339 UTC time instead of now (audits).") var at: String?
    @OptionGroup var link: LinkKeyOptions
    @Flag(help: "Print a JSON object.") var json = false

    func validate() throws {
        if let m = minAnswers, m < 1 { throw ValidationError("--min-answers must be at least 1") }
        if minAnswers != nil, node.isEmpty { throw ValidationError("--min-answers goes with --node") }
    }

    func run() throws {
        let now = try Load.time(at, option: "--at")
        try guarded(json: json) {
            let doc = try Load.trustedGenesis(roster)
            let bytes = try Files.read(token, max: TierToken.maxBytes)
            let t: TierToken
            do { t = try TierToken(decoding: bytes) } catch { throw CLIFailure.cannotEvaluate("\(token) is not a valid token file: \(error)") }
            var result: TokenCheck
            do { result = try TokenChecker.check(t, genesis: doc.roster, tier: tier, now: now) } catch {
                throw CLIFailure.negative("DENY tier \(tier): \(error)")
            }
            var online: [JSONValue] = []
            if !node.isEmpty {
                let need = minAnswers ?? Int(result.roster.policy.freshness.minAttesters)
                online = try OnlineCheck.confirm(node, roster: doc.roster, identity: try link.load(), tier: tier, need: need)
            }
            result.attesters.sort()
            if json {
                Out.json(.object([
                    ("allow", .bool(true)), ("tier", .uint(UInt64(tier))), ("expires_at", .string(TimeText.format(result.expiresAt))),
                    ("attested_by", .array(result.attesters.map { .string($0) })), ("roster_version", .uint(result.rosterVersion)),
                    ("online", .array(online)),
                ]))
            } else {
                Out.line("ALLOW tier \(tier): token valid until \(TimeText.format(result.expiresAt)), attested by \(result.attesters.joined(separator: ", "))\(node.isEmpty ? "" : "; \(node.count) node(s) confirm no halt")")
            }
        }
    }
}
