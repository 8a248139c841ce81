import ArgumentParser
import TiergateCore
import TiergateCLIKit
import TiergateStorage
import TiergateNode

/// Options every entry-signing command takes.
struct SigningOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Your secret key file (its signer state KEY.signer sits beside it), or ssh-agent:FINGERPRINT for a key held by ssh-agent (SHA256:… as ssh-add -l prints it).",
        valueName: "key")) var key: String
    @Option(help: "Passphrase file for a sealed key.") var passphraseFile: String?
    @Option(help: "The lab's genesis roster file.") var roster: String
    @Option(help: ArgumentHelp(
        "Deliver to this node (HOST:PORT); give it several times to deliver to several nodes (a halt needs two members' nodes).",
        valueName: "host:port")) var node: [String] = []
    @Option(help: "Append the signed entry to this ledger file (fsync'd before exit 0).") var ledger: String?
    @Option(help: "Write the signed entry to this file, to carry to a ledger or node later.") var out: String?
    @Option(help: "With --out: the roster version in force (default 1; with --ledger or --node it is read from there).")
    var rosterVersion: UInt64?
    @Flag(help: "Print a JSON object instead of text.") var json = false

    func validate() throws {
        guard [node.isEmpty ? nil : "", ledger, out].compactMap({ $0 }).count == 1 else {
            throw ValidationError("deliver the signed entry to --node HOST:PORT (one or more), or to one of --ledger FILE or --out FILE")
        }
        if out == nil, rosterVersion != nil {
            throw ValidationError("--roster-version goes with --out; with --ledger or --node it is read from there")
        }
        for n in node where Endpoint(n) == nil { throw ValidationError("--node takes HOST:PORT, got '\(n)'") }
    }
}

/// What a signing command needs to know about the lab before it signs.
struct SigningContext {
    enum Destination {
        case ledger(LedgerWriter)
        /// The nodes that answered, in the order given; `unreachable` are those that did not.
        case nodes([NodeClient], unreachable: [(address: String, error: String)])
        case file(String)
    }

    var genesis: GenesisDocument
    var key: any Ed25519Signer
    var member: Member
    var roster: Roster
    /// The verdict (SPEC.md §5.6) from the ledger, or the node's without proposals (asked one by one); nil offline.
    var view: Verdict?
    var destination: Destination
    /// The destination's head of this key's feed: `.some(nil)` = it holds nothing by this key; `.none` = unknown.
    var head: FeedHead??
    var state: SignerState
    var statePath: String
    var options: SigningOptions
    /// What each node did with the entry, after `signAndDeliver` to nodes.
    var delivery: Delivery?
    /// Held until this command ends: no other signer with this key reads or takes a position meanwhile.
    let lock: SignerLock

    /// `forHalt`: with several nodes that disagree on the roster version in force, a halt is signed for the oldest
    /// version under which this key may halt (a halt naming an earlier version still counts, SPEC.md §5.4), so a
    /// node claiming a newer version than there is cannot make the halt name a version nobody has; other entries
    /// must name the version in force exactly and take the newest.
    static func load(_ o: SigningOptions, forHalt: Bool = false) throws -> SigningContext {
        let doc = try Load.trustedGenesis(o.roster)
        let key = try Load.signer(o.key, passphraseFile: o.passphraseFile)
        let (statePath, lock) = try KeyReference(o.key).lockSignerState(
            for: key.publicKey, waiting: "note: another tiergate is signing with this key; waiting for it to finish (one position at a time)")
        guard Files.exists(statePath) else {
            throw CLIFailure.cannotEvaluate(AuthoringError.stateMissing(path: statePath).description)
        }
        let state: SignerState
        do { state = try SignerState(json: try JSONValue.parse(try Files.read(statePath, max: 4 << 20))) } catch let e as CLIFailure {
            throw e
        } catch {
            throw CLIFailure.cannotEvaluate("signer state \(statePath) is corrupt: \(error)")
        }
        guard state.publicKey == key.publicKey else {
            throw CLIFailure.cannotEvaluate(AuthoringError.stateForOtherKey(path: statePath).description)
        }
        var roster = doc.roster
        var view: Verdict? = nil
        let destination: Destination
        var head: FeedHead?? = .none
        if let l = o.ledger {
            let writer: LedgerWriter
            do { writer = try LedgerWriter(path: l, genesis: doc.roster.hash) } catch {
                throw CLIFailure.cannotEvaluate("\(error)")
            }
            if writer.recoveredBytes > 0 {
                Out.err("note: cut a torn tail of \(writer.recoveredBytes) byte(s) from \(l) (an interrupted append)")
            }
            let audit = try Load.audit(l, genesis: doc.roster)
            if !audit.isValid {
                throw CLIFailure.negative(
                    "\(l) does not verify (\(audit.problems.count) problem(s), first: \(audit.problems[0])); run `tiergate ledger verify`")
            }
            let v = Verdict.compute(genesis: doc.roster, tally: audit.tally, at: SystemClock.nowMs())
            roster = v.roster
            view = v
            destination = .ledger(writer)
            head = .some(writer.chain.heads[key.publicKey])
        } else if !o.node.isEmpty {
            // Every node given is tried; the view (roster in force, proposals) comes from the first that answers, the
            // feed head from the most advanced one. Delivery rules are in `deliver`.
            var clients: [NodeClient] = []
            var unreachable: [(String, String)] = []
            for n in o.node {
                do {
                    let client = try Remote.connect(n, roster: doc.roster, identity: key)
                    let nodeHead: FeedHead?
                    do {
                        let status = try client.status()
                        let seen = status.verdict
                        if let v = view, v.rosterVersion != seen.rosterVersion {
                            Out.err("warning: nodes disagree on the roster version in force (\(v.rosterVersion) and \(seen.rosterVersion) at \(n)); "
                                + (forHalt ? "the halt names the oldest under which this key may halt" : "signing for the newer"))
                        }
                        let mayHalt = seen.roster.member(withKey: key.publicKey).map { seen.roster.policy.mayHalt(roles: $0.roles) } ?? false
                        let better: Bool
                        if let v = view {
                            let vMayHalt = v.roster.member(withKey: key.publicKey).map { v.roster.policy.mayHalt(roles: $0.roles) } ?? false
                            // A stale (partitioned) node must not make a vote name a version no longer in force; a
                            // node lying about a newer version must not make a halt name one nobody has.
                            better = forHalt ? (mayHalt && (!vMayHalt || seen.rosterVersion < v.rosterVersion))
                                : seen.rosterVersion > v.rosterVersion
                        } else {
                            better = true
                        }
                        if better {
                            roster = seen.roster
                            view = seen
                        }
                        nodeHead = try client.head(of: key.publicKey)
                    } catch { throw CLIFailure.cannotEvaluate("node \(n): \(error)") }
                    let best: UInt64? = { if case .some(let known) = head { return known?.seq ?? 0 } else { return nil } }()
                    if best == nil || (nodeHead?.seq ?? 0) > best! { head = .some(nodeHead) }
                    clients.append(client)
                } catch let e as CLIFailure {
                    unreachable.append((n, e.message))
                }
            }
            guard !clients.isEmpty else {
                throw CLIFailure.cannotEvaluate(unreachable.map { "\($0.0): \($0.1)" }.joined(separator: "; "))
            }
            for (n, why) in unreachable { Out.err("warning: node \(n) not reached: \(why)") }
            destination = .nodes(clients, unreachable: unreachable)
        } else {
            if let rv = o.rosterVersion, rv != 1 {
                throw CLIFailure.cannotEvaluate(
                    "--roster-version \(rv): amended rosters are only known from a ledger or node; sign with --ledger or --node")
            }
            destination = .file(o.out!)
        }
        guard let member = roster.member(withKey: key.publicKey) else {
            throw CLIFailure.negative(
                "key \(key.publicKey.fingerprint) is not a member of roster version \(roster.version) of lab \(roster.lab)")
        }
        guard !member.isObserver else {
            throw CLIFailure.negative(
                "\(member.name) is an observer: observer keys read status and fetch tokens; they never propose, vote or halt")
        }
        return SigningContext(
            genesis: doc, key: key, member: member, roster: roster, view: view, destination: destination, head: head,
            state: state, statePath: statePath, options: o, delivery: nil, lock: lock)
    }

    /// A proposal as the ledger or the node sees it now, by id.
    func proposal(_ id: Digest) throws -> ProposalStatus? {
        if case .nodes(let clients, _) = destination, let client = clients.first {
            do { return try client.status(StatusQuery(proposal: id)).verdict.proposals.first { $0.id == id } } catch {
                throw CLIFailure.cannotEvaluate("node \(client.endpoint): \(error)")
            }
        }
        return view?.proposals.first { $0.id == id }
    }

    /// Signs `body` at the next feed position, shows it, records the position, then delivers it.
    mutating func signAndDeliver(_ body: EntryBody, describe: [String]) throws -> SignedEntry {
        let genesisHash = genesis.roster.hash
        let position: Authoring.Position
        do { position = try Authoring.nextPosition(feed: state.feeds[genesisHash], ledgerHead: head) } catch {
            throw CLIFailure.cannotEvaluate(error.description)
        }
        // Feed times never go back (SPEC.md §4.3). When this key's last entry is dated ahead of this clock (it was
        // signed with a fast clock), never date the new entry ahead silently: a vote or proposal dated ahead would
        // not count until then. A halt counts whatever its date (§5.4), so it is dated at the feed time, said here.
        let now = SystemClock.nowMs()
        var time = now
        if position.notBefore > now {
            let ahead = Self.roughly(position.notBefore - now)
            if case .halt = body {
                time = position.notBefore
                Out.err("note: this key's last entry is dated \(TimeText.format(position.notBefore)), \(ahead) ahead of this "
                    + "machine's clock; the halt is dated then (feed times never go back) and counts at once all the same")
            } else {
                throw CLIFailure.cannotEvaluate(
                    "this key's last entry is dated \(TimeText.format(position.notBefore)), \(ahead) ahead of this machine's "
                        + "clock (\(TimeText.format(now))): a new entry cannot be dated before it, and one dated ahead would not "
                        + "count for \(ahead). Check this machine's clock; if it is right, the earlier entry was signed with a "
                        + "fast clock: wait until \(TimeText.format(position.notBefore)), or halt (a halt counts at once)")
            }
        }
        let entry = Entry(
            lab: roster.lab, genesis: genesisHash, rosterVersion: roster.version, author: key.publicKey,
            seq: position.seq, prev: position.prev, time: time, body: body)
        let signed: SignedEntry
        do { signed = try SignedEntry(signing: entry, by: key) } catch { throw CLIFailure.cannotEvaluate("\(error)") }
        var shown = [
            "signing \(body.kind.name) (domain \(SigningDomain.entry.rawValue)):",
            "  lab:       \(roster.lab) (genesis \(genesisHash.short)…, roster version \(roster.version))",
            "  author:    \(member.name)  \(key.publicKey.fingerprint)",
            "  feed:      position \(position.seq)\(position.seq > 1 ? ", after \(position.prev.short)…" : "")",
            "  time:      \(TimeText.format(time))",
        ]
        shown += describe.map { "  " + $0 }
        shown.append("  entry id:  \(signed.id.hex)")
        Out.err(shown.joined(separator: "\n"))

        // P6: record the position (fsync) before the entry can leave this process.
        state.feeds[genesisHash] = SignerState.Feed(seq: position.seq, id: signed.id, time: time, lastEntry: signed.bytes)
        try Files.replace(statePath, Array(state.json().serialized(pretty: true).utf8), mode: 0o600)

        var batch: [SignedEntry] = []
        if let again = position.redeliver {
            let previous = try! SignedEntry(decoding: again)
            Out.err("note: delivering this key's previously signed entry \(previous.id.short)… first (it never arrived)")
            batch.append(previous)
        }
        batch.append(signed)
        switch destination {
        case .ledger(let w):
            do { try w.append(entries: batch) } catch { throw CLIFailure.cannotEvaluate("\(error)") }
            Out.err("appended to \(w.path) (fsync'd)")
        case .nodes(let clients, let unreachable):
            delivery = try Delivery.deliver(batch, to: clients, unreachable: unreachable, roster: roster)
        case .file(let out):
            try Files.replace(out, signed.bytes, mode: 0o644)
            Out.err("wrote \(out); deliver it with `tiergate submit \(out) --node HOST:PORT` or `tiergate ledger append`")
        }
        return signed
    }

    /// `2 h 0 min`, `3 min 5 s`, `12 s`: a duration as people read it.
    static func roughly(_ ms: UInt64) -> String {
        let s = ms / 1000
        if s >= 3600 { return "\(s / 3600) h \(s % 3600 / 60) min" }
        if s >= 60 { return "\(s / 60) min \(s % 60) s" }
        return "\(max(s, 1)) s"
    }

    var destinationName: String {
        switch destination {
        case .ledger(let w): return w.path
        case .nodes(let cs, _): return cs.map { "\($0.endpoint)" }.joined(separator: ", ")
        case .file(let f): return f
        }
    }

    func report(_ signed: SignedEntry, extra: [(String, JSONValue)] = [], lastLine: String) {
        if options.json {
            Out.json(.object([
                ("ok", .bool(true)), ("id", .string(signed.id.hex)), ("kind", .string(signed.entry.kind.name)),
                ("author", .string(member.name)), ("seq", .uint(signed.entry.seq)),
                ("time", .string(TimeText.format(signed.entry.time))),
                ("delivered_to", .string(destinationName)),
            ] + (delivery.map { [("nodes", $0.json)] } ?? []) + extra))
        } else {
            Out.line(lastLine)
        }
    }
}

struct ProposeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "propose",
        abstract: "Propose advancing to a tier (or resuming after halts, or amending the roster); prints the proposal id.",
        discussion: """
            Advance proposals name the tier one above the authorised tier (or the authorised tier itself, to
            re-affirm it before it lapses). With --resume HALT_ID the proposal clears those halts and resumes at
            --tier. With --amend FILE it proposes FILE's roster (version N+1) as the new roster.
            The proposal id (hex) is the last line of stdout.

            Example:
              tiergate propose --tier 3 --title "Train v5 at 3e25 FLOP" --evidence safety-case.pdf \\
                --key keys/alice.key --roster roster.json --ledger lab.ledger
            """)

    @Option(help: "Target tier.") var tier: UInt32?
    @Option(help: "What is proposed, in one line.") var title: String
    @Option(parsing: .singleValue, help: "An evidence file (safety case, evaluation report); its BLAKE2b-256 is signed.")
    var evidence: [String] = []
    @Option(help: "How long voting stays open, e.g. 2h or 7d (default and maximum: the policy's window).")
    var closesIn: String?
    @Option(parsing: .singleValue, help: "A halt id to clear (makes this a resume proposal); repeatable.")
    var resume: [String] = []
    @Option(help: "A roster file (JSON) with the next roster version (makes this an amendment).") var amend: String?
    @OptionGroup var signing: SigningOptions

    func validate() throws {
        if amend == nil, tier == nil { throw ValidationError("--tier is required (except with --amend)") }
        if amend != nil, !resume.isEmpty { throw ValidationError("--amend and --resume cannot be combined") }
        if let c = closesIn, DurationText.parse(c) == nil {
            throw ValidationError("--closes-in takes a duration like 90m, 12h or 7d, got '\(c)'")
        }
        for h in resume where Digest(hex: h) == nil { throw ValidationError("--resume takes a 64-hex-digit halt id, got '\(h)'") }
        do { _ = try TextRules.checkText(Array(title.utf8), field: "--title", minLength: 1) } catch {
            throw ValidationError("\(error)")
        }
        guard title.utf8.count <= Limits.maxTitle else { throw ValidationError("--title is longer than \(Limits.maxTitle) bytes") }
        guard evidence.count <= Limits.maxEvidence else { throw ValidationError("at most \(Limits.maxEvidence) --evidence files") }
    }

    func run() throws {
        try guarded(json: signing.json) {
            var ctx = try SigningContext.load(signing)
            let action: ProposalAction
            let rule: Rule
            if let a = amend {
                let doc = try Load.genesis(a)
                let next = doc.roster
                guard next.version == ctx.roster.version &+ 1, next.previous == ctx.roster.hash else {
                    throw CLIFailure.cannotEvaluate(
                        "\(a) must be roster version \(ctx.roster.version &+ 1) with previous = \(ctx.roster.hash.hex)")
                }
                action = .amend(next)
                rule = ctx.roster.policy.amend
            } else if !resume.isEmpty {
                action = .resume(tier: tier!, halts: resume.compactMap { Digest(hex: $0) }.sorted())
                rule = ctx.roster.policy.resume
            } else {
                let t = tier!
                guard t > ctx.roster.baseTier, t <= ctx.roster.maxTier else {
                    throw CLIFailure.cannotEvaluate(
                        "tier \(t) is outside the ladder: above base tier \(ctx.roster.baseTier), up to \(ctx.roster.maxTier)")
                }
                action = .advance(tier: t)
                rule = ctx.roster.policy.advanceRule(for: t)
            }
            let window = closesIn.flatMap(DurationText.parse) ?? rule.windowMs
            guard window <= rule.windowMs else {
                throw CLIFailure.cannotEvaluate(
                    "--closes-in \(closesIn!) is longer than the policy's voting window of \(DurationText.format(rule.windowMs))")
            }
            var ev: [Evidence] = []
            for path in evidence {
                let name = String(path.split(separator: "/").last ?? Substring(path))
                ev.append(Evidence(name: String(name.prefix(Limits.maxEvidenceName)), hash: try Files.blake2b(path)))
            }
            let now = SystemClock.nowMs()
            let proposal = Proposal(action: action, title: title, evidence: ev, closesAt: now + window)
            var lines = ["action:    \(action.name)\(amend == nil ? " to tier \(tier!)" : "")", "title:     \"\(title)\""]
            for e in ev { lines.append("evidence:  \(e.name)  blake2b-256 \(e.hash.hex)") }
            if case .resume(_, let halts) = action { lines += halts.map { "clears:    halt \($0.hex)" } }
            if case .amend(let r) = action { lines.append("new roster: version \(r.version), hash \(r.hash.hex)") }
            lines.append("closes:    \(TimeText.format(now + window))")
            // The entry's own time is set at signing; keep closes_at after it.
            let signed = try ctx.signAndDeliver(.proposal(proposal), describe: lines)
            ctx.report(signed, extra: [("proposal_id", .string(signed.id.hex))], lastLine: signed.id.hex)
        }
    }
}

struct VoteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vote",
        abstract: "Vote yes, no or abstain on a proposal. Your first vote on a proposal binds.",
        discussion: """
            With --ledger the proposal is looked up and shown before signing; voting on an unknown proposal is
            refused there (no blind signing).

            Example: tiergate vote 3f9a…c2 --yes --reason "evals reviewed" --key keys/bob.key --roster roster.json --ledger lab.ledger
            """)

    @Argument(help: "The proposal id (64 hex digits).") var proposal: String
    @Flag(help: "Vote yes.") var yes = false
    @Flag(help: "Vote no.") var no = false
    @Flag(help: "Abstain.") var abstain = false
    @Option(help: "Why, in one line.") var reason: String = ""
    @OptionGroup var signing: SigningOptions

    func validate() throws {
        guard [yes, no, abstain].filter({ $0 }).count == 1 else { throw ValidationError("give exactly one of --yes, --no, --abstain") }
        guard Digest(hex: proposal) != nil else { throw ValidationError("the proposal id is 64 hex digits, got '\(proposal)'") }
        do { _ = try TextRules.checkText(Array(reason.utf8), field: "--reason") } catch { throw ValidationError("\(error)") }
        guard reason.utf8.count <= Limits.maxReason else { throw ValidationError("--reason is longer than \(Limits.maxReason) bytes") }
    }

    func run() throws {
        try guarded(json: signing.json) {
            var ctx = try SigningContext.load(signing)
            let id = Digest(hex: proposal)!
            let choice: VoteChoice = yes ? .yes : (no ? .no : .abstain)
            var lines = ["vote:      \(choice.name.uppercased())"]
            if ctx.view != nil {
                guard let p = try ctx.proposal(id) else {
                    throw CLIFailure.cannotEvaluate(
                        "proposal \(proposal) is not in \(ctx.destinationName); refusing to sign a vote on something not shown")
                }
                lines.append("on:        \(p.action) tier \(p.tier) \"\(p.title)\" by \(p.proposer)")
                for e in p.evidence { lines.append("evidence:  \(e.name)  blake2b-256 \(e.hash.hex)") }
                lines.append("progress:  \(p.progressLine)")
                if !p.open { Out.err("warning: this proposal is not open (\(p.stateLine)); the vote will not change it") }
            } else {
                Out.err("warning: signing offline (--out): the proposal cannot be shown; check its id yourself")
            }
            lines.append("proposal:  \(id.hex)")
            if !reason.isEmpty { lines.append("reason:    \"\(reason)\"") }
            let signed = try ctx.signAndDeliver(.vote(Vote(proposal: id, choice: choice, reason: reason)), describe: lines)
            ctx.report(signed, lastLine: "voted \(choice.name) on \(id.short)…: entry \(signed.id.hex)")
        }
    }
}

struct HaltCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "halt",
        abstract: "Halt now: revokes authorisation above the base tier until a resume proposal passes.",
        discussion: """
            Any member with halt authority may halt alone; nobody's permission is needed. The halt id printed is
            what a later resume proposal names (--resume HALT_ID).

            Give --node several times: the halt goes to every node given, and with two or more it succeeds only
            once the nodes of two different members stored it (each node that did is listed), so a single node that
            drops it cannot lose the stop. Exit 2 when that was not reached; the halt is then in force where stored.

            Example: tiergate halt --reason "eval shows deceptive behaviour" --key keys/erin.key --roster roster.json \\
                       --node 10.0.0.1:7400 --node 10.0.0.2:7400

            --anonymous (where the roster allows it) signs a halt that proves it comes from one of the members who
            may halt, not which (a ring signature, SPEC.md §2.5, §5.4). It is only written to --out FILE: submit it
            later, from another machine or with another roster key (the cluster's observer key serves), so that the
            node it reaches learns nothing of who signed it (SPEC.md §10.2):

              tiergate halt --anonymous --reason "unsafe eval result" --key keys/erin.key --roster roster.json \\
                       --view lab.ledger --out halt.entry
              tiergate submit halt.entry --node 10.0.0.1:7400 --node 10.0.0.2:7400 --key keys/cluster.key
            """)

    @Option(help: "Why, in one line (required). For an anonymous halt, say nothing that identifies you.") var reason: String
    @Flag(help: "Sign an anonymous halt (one of the members who may halt, not which); needs --out.") var anonymous = false
    @Option(help: ArgumentHelp("With --anonymous: a ledger of the lab to read the roster in force and the halts already made from (read only).",
                               valueName: "ledger")) var view: String?
    @Option(help: ArgumentHelp("With --anonymous: which of the period's anonymous halts this is (default: the first unused in --view).",
                               valueName: "n")) var slot: UInt32?
    @OptionGroup var signing: SigningOptions

    func validate() throws {
        do { _ = try TextRules.checkText(Array(reason.utf8), field: "--reason", minLength: 1) } catch {
            throw ValidationError("\(error)")
        }
        guard reason.utf8.count <= Limits.maxReason else { throw ValidationError("--reason is longer than \(Limits.maxReason) bytes") }
        if anonymous {
            guard signing.out != nil, signing.node.isEmpty, signing.ledger == nil else {
                throw ValidationError("an anonymous halt is only written with --out FILE, then submitted separately (tiergate submit FILE --node … --key ANY_ROSTER_KEY): delivering it yourself would name you to the node")
            }
        } else if view != nil || slot != nil {
            throw ValidationError("--view and --slot go with --anonymous")
        }
    }

    func run() throws {
        if anonymous { return try guarded(json: signing.json) { try AnonymousHaltSigning(reason: reason, view: view, slot: slot, signing: signing).run() } }
        try guarded(json: signing.json) {
            var ctx = try SigningContext.load(signing, forHalt: true)
            if !ctx.roster.policy.mayHalt(roles: ctx.member.roles) {
                throw CLIFailure.negative(
                    "\(ctx.member.name) (roles \(ctx.member.roles.joined(separator: ","))) has no halt authority under this roster's policy")
            }
            let signed = try ctx.signAndDeliver(.halt(Halt(reason: reason)), describe: ["reason:    \"\(reason)\""])
            ctx.report(signed, extra: [("halt_id", .string(signed.id.hex))], lastLine: signed.id.hex)
        }
    }
}

/// Delivering signed entries to several nodes (SPEC.md §8.3): which stored them, which did not, and whether that is
/// enough. A halt must reach the nodes of two distinct members (or the one node given), so that one node that
/// drops it cannot lose the stop; other entries need one node that stored them.
struct Delivery {
    struct Stored {
        var address: String
        var member: String
    }

    var stored: [Stored] = []
    var failed: [(address: String, error: String, rejected: Bool)] = []

    var json: JSONValue {
        .object([
            ("stored_by", .array(stored.map { .object([("node", .string($0.address)), ("member", .string($0.member))]) })),
            ("not_stored_by", .array(failed.map {
                .object([("node", .string($0.address)), ("error", .string($0.error)), ("rejected", .bool($0.rejected))])
            })),
        ])
    }

    /// `roster` names the members whose nodes stored it; without one a node is named by its key's fingerprint.
    static func deliver(_ batch: [SignedEntry], to clients: [NodeClient], unreachable: [(address: String, error: String)],
                        roster: Roster?) throws -> Delivery {
        var d = Delivery()
        for u in unreachable { d.failed.append((u.address, u.error, false)) }
        for client in clients {
            let address = "\(client.endpoint)"
            let member = client.nodeKey.flatMap { roster?.member(withKey: $0)?.name } ?? client.nodeKey?.fingerprint ?? "?"
            do {
                for e in batch { try Remote.submit(e, to: client) }
                d.stored.append(Stored(address: address, member: member))
                Out.err("stored by node \(address) (\(member)'s node, on its disk)")
            } catch let f as CLIFailure {
                d.failed.append((address, f.message, f.code == 1))
                Out.err("warning: node \(address) did not store it: \(f.message)")
            }
        }
        let given = clients.count + unreachable.count
        let members = Set(d.stored.map(\.member))
        let isHalt = batch.last?.entry.kind.isHalt == true
        if isHalt && given >= 2 && members.count < 2 {
            let held = d.stored.isEmpty ? "no node stored it" : "it is in force on \(d.stored.map { "\($0.address) (\($0.member))" }.joined(separator: ", ")) only"
            throw CLIFailure.cannotEvaluate(
                "the halt must reach the nodes of two different members and \(held); "
                    + "give --node of another member's node (a new halt is harmless: one resume lifts both)")
        }
        if d.stored.isEmpty {
            let rejected = d.failed.contains { $0.rejected }
            throw CLIFailure(code: rejected ? 1 : 2, message: "no node stored it: " + d.failed.map { "\($0.address): \($0.error)" }.joined(separator: "; "))
        }
        return d
    }
}
