
/// Identifies a connection inside one node (assigned by the shell).
public typealias PeerID = Int

/// What the I/O shell must do, in order (SPEC.md §8). The shell MUST finish a `persist` (fsync) before it performs
/// any later directive of the same batch, so that nothing is acknowledged or pushed before it is durable.
public enum Directive: Sendable {
    case persist(entries: [SignedEntry], detachedHalts: [SignedEntry], evidence: [EquivocationEvidence])
    case send(PeerID, WireMessage)
    /// Close after sending an ERROR with `reason`; `misbehaved` asks the shell to back the peer off.
    case close(PeerID, reason: String, misbehaved: Bool)
    /// Stream the ledger file to the peer as EXPORT messages.
    case export(PeerID, request: UInt64)
    /// Something the operator should see: the shell logs and counts it; it changes nothing in the protocol.
    case notice(NodeNotice)

    public var isPersist: Bool {
        if case .persist = self { return true }
        return false
    }
}

/// What a node reports to its operator beside the protocol (SPEC.md §8.3, §8.8).
public enum NodeNotice: Sendable, Equatable {
    /// An anonymous halt stored from a peer node's ENTRIES outside the window a SUBMIT is held to: dated more than
    /// `max_skew_ms` ahead of this node's clock (`ahead`), or before the previous period. It counts like any other
    /// (a halt that waited in a partition must not be lost), but its period, and so its key image, may have been
    /// chosen by a member who runs a node to escape the per-period quota. `from` is the peer it came from, with the
    /// member its key belongs to: the first node to store it heard it from the node nearest its source.
    case anonymousHaltOutOfWindow(id: Digest, keyImage: PublicKey, time: UInt64, ahead: Bool, from: PeerID, fromMember: String?)
}

/// Settings of the gossip state machine, with documented defaults (SPEC.md §8).
public struct GossipSettings: Sendable {
    /// How often to run anti-entropy with one random peer node.
    public var antiEntropyIntervalMs: UInt64 = 1_000
    /// Sustained frames per second a peer may send before it is disconnected.
    public var rateLimitPerSecond: Double = 2_000
    /// Burst allowance above the sustained rate.
    public var rateBurst: Double = 4_000
    public var nodeName: String = ""
    /// The node's member key: signs freshness attestations for tokens. Without it the node issues no tokens.
    public var attester: SigningKey?
    /// Entries sent in answer to one FRONTIER, at most; the rest follows a round trip later (SPEC.md §8.4).
    public var antiEntropyBatchBytes = 4 << 20
    /// How long a catch-up batch may wait for its follow-up FRONTIER before another may be sent.
    public var batchFollowUpTimeoutMs: UInt64 = 30_000
    /// How long after the last batch sent the positions sent ahead are trusted (a peer that dropped entries, say
    /// of a member whose amendment it has not seen yet, gets them again after this long at most).
    public var sentAheadTrustMs: UInt64 = 2_000
    /// A DIGEST goes to every peer node this node has sent nothing for this long (SPEC.md §8.5), so that healthy
    /// idle links are heard; 0 turns keepalives and dead-link detection off (the simulator and coarse-time tests).
    /// The node shell sets 1 s.
    public var keepaliveIntervalMs: UInt64 = 0
    /// A peer node heard nothing from for this long is declared dead and closed (its dialer reconnects); only
    /// with keepalives on. The node shell sets 5 s.
    public var deadAfterMs: UInt64 = 5_000
    /// A client session that sends nothing for this long is closed as idle (SPEC.md §8.5); only with keepalives
    /// on. Watchers send PING every second, so only abandoned sessions reach it.
    public var clientIdleTimeoutMs: UInt64 = 30_000
    /// How often, at most, a verdict is recomputed for watchers after entries that hold no halt (a halt is pushed
    /// at once; everything else within this interval, so that a large catch-up costs few verdicts).
    public var watchCoalesceMs: UInt64 = 100
    /// How long to wait for peers' attestations when the freshness rule needs more than this node.
    public var attestationTimeoutMs: UInt64 = 3_000
    /// How a batch of received entries has its signatures checked; the node shell passes `.allCores`.
    public var parallel: ParallelFor = .sequential
    /// Fault injection, for tests only: an entry for which this returns true is acknowledged and forgotten — the
    /// byzantine node of SPEC.md §10.1 that hides halts from its answers, attestations and tokens. Nil in every
    /// real node; no command sets it.
    public var hideEntry: (@Sendable (SignedEntry) -> Bool)?
    public init() {}
}

/// The gossip protocol of one node as a pure state machine: events in, directives out; time and randomness are
/// passed in. The NIO shell, the simulator and the tests all drive this same code.
public struct GossipNode: Sendable {
    enum PeerPhase: Sendable {
        case awaitingHello
        case ready(PeerRole)
    }

    struct Peer: Sendable {
        var phase: PeerPhase = .awaitingHello
        /// The member key the link's handshake proved (SPEC.md §12); nil when the transport does not authenticate
        /// (the simulator, and tests of the pure protocol).
        var key: PublicKey?
        /// An observer may read status, fetch tokens and export, never submit or gossip (SPEC.md §3.2).
        var observer = false
        var outbound: Bool
        var tokens: Double
        var lastRefill: UInt64
        /// Set while a truncated catch-up batch to this peer awaits its follow-up FRONTIER (until this time): a
        /// peer busy checking signatures is not sent the same entries again by every DIGEST, and its link's send
        /// queue stays within bounds (SPEC.md §8.4).
        var batchInFlightUntil: UInt64?
        /// Feed positions already sent in the catch-up in flight, per author: the next batch starts after them even
        /// when the peer's FRONTIER predates them, so no entry is sent twice and two batches can be in flight.
        var sentAhead: [PublicKey: UInt64] = [:]
        /// When `sentAhead` stops being trusted (their FRONTIER never caught up: entries lost or refused).
        var sentAheadUntil: UInt64 = 0
        /// When this peer was last heard from (any frame), and last sent anything (keepalives, SPEC.md §8.5).
        var lastHeard: UInt64 = 0
        var lastSent: UInt64 = 0
        /// The peer node's clock minus ours, from its last PING (SPEC.md §8.5); network delay is negligible next
        /// to `max_skew_ms`.
        var clockOffsetMs: Int64?
        /// When this node last sent the peer node a PING (its clock goes along, whatever else the link carries).
        var lastPing: UInt64 = 0
        /// When the peer node's last DIGEST equalled this node's (both hold the same ledger).
        var inSyncAt: UInt64 = 0
        var isNode: Bool {
            if case .ready(.node) = phase { return true }
            return false
        }
    }

    public private(set) var store: EntryStore
    public let settings: GossipSettings
    var peers: [PeerID: Peer] = [:]
    var nextAntiEntropy: UInt64 = 0
    var rosterCache: (epoch: Int, second: UInt64, roster: Roster)?
    /// The last verdict and the tally epoch it was computed at (see ``verdict(now:)``).
    var verdictCache: (epoch: Int, verdict: Verdict)?
    /// Verdicts computed (not served from the cache); for tests and benchmarks.
    public private(set) var verdictsComputed = 0

    /// The verdict at `now`, from the cache while no entry was added and time alone cannot have changed it
    /// (``Verdict/validUntil``); STATUS, TOKEN and ATTEST each need it, and a verdict is a pass over every entry.
    public mutating func verdict(now: UInt64) -> Verdict {
        if let c = verdictCache, c.epoch == store.tally.epoch, c.verdict.at <= now, now < c.verdict.validUntil {
            var v = c.verdict
            v.at = now
            return v
        }
        let v = store.verdict(at: now)
        verdictsComputed += 1
        verdictCache = (store.tally.epoch, v)
        return v
    }

    struct PendingToken: Sendable {
        var client: PeerID
        var clientRequest: UInt64
        var token: TierToken
        var rule: FreshnessRule
        var roster: Roster
        var deadline: UInt64
        /// What the attestations gathered so far lack under the rule; nil once the token may be sent.
        var shortfall: String? { rule.shortfall(token.attestations.compactMap { roster.member(withKey: $0.attester) }) }
    }
    var pendingTokens: [UInt64: PendingToken] = [:]

    /// A session subscribed to the verdict (SPEC.md §8.7) and the last state it was sent.
    struct Watcher: Sendable {
        var request: UInt64
        var seq: UInt64
        var last: WatchState
    }
    var watchers: [PeerID: Watcher] = [:]
    /// Set by the shell while the ledger cannot be written (a full disk, SPEC.md §8.3): new entries are refused
    /// with this reason and no ACK of storage; status, watches, tokens and gossip of what is held go on.
    public var storageRefusal: String?

    /// Inbound connection slots, per-address fairness and per-key session caps (SPEC.md §12.4); the shell asks it
    /// about every connection, and STATUS reports its counters.
    public var connections = AdmissionControl()
    var lastWatchCheck: UInt64 = 0
    /// Sessions subscribed to the verdict.
    public var watcherCount: Int { watchers.count }
    var nextAttestRequest: UInt64 = 1
    /// Counters for the status report and the simulator.
    public private(set) var framesIn = 0
    public private(set) var rejected = 0

    public init(store: EntryStore, settings: GossipSettings = GossipSettings()) {
        self.store = store
        self.settings = settings
    }

    public var genesisHash: Digest { store.genesisHash }
    public var readyPeerNodes: [PeerID] {
        peers.compactMap { id, p in if case .ready(.node) = p.phase { return id } else { return nil } }.sorted()
    }
    /// Whether `peer` has completed the HELLO exchange.
    public func isReady(_ peer: PeerID) -> Bool {
        if case .ready = peers[peer]?.phase { return true }
        return false
    }

    // MARK: Events

    /// A connection opened (either direction): greet it.
    public mutating func connected(_ peer: PeerID, outbound: Bool, now: UInt64, key: PublicKey? = nil) -> [Directive] {
        var p = Peer(outbound: outbound, tokens: settings.rateBurst, lastRefill: now)
        p.lastHeard = now
        p.lastSent = now
        p.key = key
        p.observer = key.map { rosterInForce(now: now).member(withKey: $0)?.isObserver ?? false } ?? false
        peers[peer] = p
        return [.send(peer, .hello(version: WireMessage.protocolVersion, genesis: store.genesisHash, role: .node, name: settings.nodeName))]
    }

    /// Whether a link whose handshake proved `key` may connect: nil when admitted, else the reason (SPEC.md §12.5).
    /// Members of the roster in force, of any role, are admitted; observers are restricted once connected.
    public mutating func admission(of key: PublicKey, now: UInt64) -> String? {
        let roster = rosterInForce(now: now)
        guard roster.member(withKey: key) != nil else {
            return "key \(key.fingerprint) is not a member of this lab's roster (version \(roster.version))"
        }
        return nil
    }

    /// The roster in force, cached per second and per roster epoch (admission runs for every handshake and the
    /// observer check for every SUBMIT; neither may cost a verdict over the whole ledger each time).
    mutating func rosterInForce(now: UInt64) -> Roster {
        let epoch = store.tally.rosterEpoch, second = now / 1000
        if let c = rosterCache, c.epoch == epoch, c.second == second { return c.roster }
        let r = verdict(now: now).roster
        rosterCache = (epoch, second, r)
        return r
    }

    /// Replaces the entry store with one reloaded from the ledger (after appends failed, the file is the truth);
    /// connections, watchers and counters stay.
    public mutating func replaceStore(_ s: EntryStore) {
        store = s
        verdictCache = nil
        rosterCache = nil
    }

    public mutating func disconnected(_ peer: PeerID) {
        peers[peer] = nil
        watchers[peer] = nil
    }

    /// A frame that could not be parsed (oversized or malformed): close the peer.
    public mutating func protocolViolation(_ peer: PeerID, _ error: FrameError) -> [Directive] {
        rejected += 1
        return [.close(peer, reason: error.description, misbehaved: true)]
    }

    /// Whether some peer node's DIGEST equalled this node's within the last three anti-entropy intervals (at least
    /// 3 s): the node holds what the lab holds (readiness, SPEC.md §8.8).
    public func anyPeerInSync(now: UInt64) -> Bool {
        let window = max(3 * settings.antiEntropyIntervalMs, 3_000)
        return peers.values.contains { $0.isNode && $0.inSyncAt > 0 && now < $0.inSyncAt + window }
    }

    /// Facts about this node as of `now` (STATUS, the HTTP side's metrics and health).
    public mutating func nodeInfo(now: UInt64) -> NodeStatus.NodeInfo {
        var node = NodeStatus.NodeInfo(
            name: settings.nodeName, peerNodes: UInt32(clamping: readyPeerNodes.count), digest: store.digest,
            detachedHalts: UInt32(clamping: store.detachedHalts.count),
            buffered: UInt32(clamping: store.pending.values.reduce(0) { $0 + $1.count }),
            framesIn: UInt64(clamping: framesIn), connectionsClosedForMisbehaviour: UInt64(clamping: rejected))
        node.pendingHandshakes = UInt32(clamping: connections.pendingCount)
        node.sessions = UInt32(clamping: connections.sessionCount)
        node.watchers = UInt32(clamping: watchers.count)
        node.refused = connections.refusedTotal.sorted { $0.key < $1.key }.map { ($0.key.rawValue, $0.value) }
        node.peersHeard = peers.values.filter(\.isNode).compactMap { p in p.key.map { ($0, p.lastHeard) } }.sorted { $0.key < $1.key }
        node.clockOffsetMs = clockOffsetMs
        node.storageWarning = storageRefusal ?? ""
        node.clockWarning = clockRefusal(now: now) ?? ""
        return node
    }

    /// A decoded message from `peer`.
    public mutating func received(_ message: WireMessage, from peer: PeerID, now: UInt64) -> [Directive] {
        peers[peer]?.lastHeard = now
        var out = receivedDirectives(message, from: peer, now: now)
        out += watchUpdates(now: now, after: out)
        noteSent(out, now: now)
        return out
    }

    private mutating func receivedDirectives(_ message: WireMessage, from peer: PeerID, now: UInt64) -> [Directive] {
        guard var p = peers[peer] else { return [] }
        framesIn += 1
        // Rate limit (token bucket on the injected clock).
        let elapsed = Double(now > p.lastRefill ? now - p.lastRefill : 0) / 1000  // a clock that went back refills nothing
        p.tokens = min(settings.rateBurst, p.tokens + elapsed * settings.rateLimitPerSecond)
        p.lastRefill = now
        p.tokens -= 1
        peers[peer] = p
        guard p.tokens >= 0 else {
            return misbehaving(peer, "exceeded \(Int(settings.rateLimitPerSecond)) frames/s")
        }
        switch p.phase {
        case .awaitingHello:
            guard case .hello(let version, let genesis, let role, _) = message else {
                return misbehaving(peer, "expected HELLO first, got \(message.name)")
            }
            guard version == WireMessage.protocolVersion else {
                return [.close(peer, reason: "protocol version \(version) is not supported (this node speaks 1)", misbehaved: true)]
            }
            // The secure link (SPEC.md §12) already binds the session to the genesis; this is the second check.
            guard genesis == store.genesisHash else {
                return [.close(peer, reason: "genesis \(genesis.short)… is another lab's (this node serves \(store.genesisHash.short)…)", misbehaved: true)]
            }
            if p.observer && role == .node {
                return [.close(peer, reason: "observer key \(p.key!.fingerprint) may connect as a client only (read status, fetch tokens)", misbehaved: true)]
            }
            peers[peer]!.phase = .ready(role)
            // A new peer node: anti-entropy right away, so a restarted node catches up at once.
            return role == .node ? [.send(peer, .digest(store.digest))] : []
        case .ready(let role):
            return handle(message, from: peer, role: role, now: now)
        }
    }

    /// A client's or an operator's new entry, outside any connection (tests, simulator).
    public mutating func inject(_ entry: SignedEntry) -> [Directive] {
        guard let outcome = try? store.insert(entry) else { return [] }
        let out = persistAndPush(outcome, except: nil)
        return out + watchUpdates(now: entry.entry.time, after: out)
    }

    /// Periodic work: anti-entropy with one random peer node.
    public mutating func tick(now: UInt64, random: inout some RandomNumberGenerator) -> [Directive] {
        var out = tickDirectives(now: now, random: &random)
        out += watchUpdates(now: now, after: out, tick: true)
        noteSent(out, now: now)
        return out
    }

    /// Records when each peer was last sent something (for keepalives).
    private mutating func noteSent(_ directives: [Directive], now: UInt64) {
        guard settings.keepaliveIntervalMs > 0 else { return }
        for d in directives { if case .send(let id, _) = d { peers[id]?.lastSent = now } }
    }

    /// Keepalives and dead links (SPEC.md §8.5): a DIGEST to each peer node sent nothing for an interval, and a
    /// close for each peer node heard nothing from for `deadAfterMs` (a partition that stalls a TCP link is not
    /// noticed by TCP for minutes; the dialer reconnects at once after the close, with backoff).
    private mutating func keepalives(now: UInt64) -> [Directive] {
        guard settings.keepaliveIntervalMs > 0 else { return [] }
        var out: [Directive] = []
        // Client sessions: a watcher is sent PING when idle (it declares the node dead after 5 s of silence, as
        // nodes do), and a session that sends nothing for `clientIdleTimeoutMs` is closed.
        for (id, p) in peers where !p.isNode {
            let silent = now > p.lastHeard ? now - p.lastHeard : 0
            if silent >= settings.clientIdleTimeoutMs {
                out.append(.close(id, reason: "idle for \(silent / 1000) s (a client sends PING to keep a session open)", misbehaved: false))
                peers[id] = nil
                watchers[id] = nil
                continue
            }
            if watchers[id] != nil, now > p.lastSent, now - p.lastSent >= settings.keepaliveIntervalMs {
                out.append(.send(id, .ping(now)))
            }
        }
        for id in readyPeerNodes {
            guard let p = peers[id] else { continue }
            let silent = now > p.lastHeard ? now - p.lastHeard : 0
            if silent >= settings.deadAfterMs {
                out.append(.close(id, reason: "nothing heard for \(silent / 1000) s: the link is dead (a partition or a stalled peer); reconnecting", misbehaved: false))
                peers[id] = nil
                continue
            }
            // Every interval, however busy the link: the PING keeps an idle link alive and carries our clock, which
            // the peer compares with its own (a busy link would otherwise never say what time it is).
            if now >= p.lastPing.addingSaturating(settings.keepaliveIntervalMs) {
                peers[id]?.lastPing = now
                out.append(.send(id, .ping(now)))
            }
        }
        return out
    }

    private mutating func tickDirectives(now: UInt64, random: inout some RandomNumberGenerator) -> [Directive] {
        var out: [Directive] = keepalives(now: now)
        for (id, p) in pendingTokens where now >= p.deadline {
            pendingTokens[id] = nil
            let short = p.shortfall ?? ""
            out.append(.send(p.client, .token(request: p.clientRequest,
                reason: "not enough member nodes attested within \(settings.attestationTimeoutMs) ms: \(short) (\(p.rule.summary)); with fewer nodes up no token is issued (fail closed)", token: [])))
        }
        guard now >= nextAntiEntropy else { return out }
        nextAntiEntropy = now.addingSaturating(settings.antiEntropyIntervalMs)
        let nodes = readyPeerNodes
        guard let target = nodes.randomElement(using: &random) else { return out }
        return out + [.send(target, .digest(store.digest))]
    }

    // MARK: Handling

    /// Where an anonymous halt's date stands against the window SUBMIT holds it to (SPEC.md §8.3): no later than
    /// `now + max_skew`, and in the current or the previous period. Its period — and so its key image — comes from
    /// its signer's clock, so without this a member could date halts into other periods and escape the quota (or,
    /// removed by an amendment, date one back into its membership). Peers' ENTRIES are not held to it, since a halt
    /// that waited in a partition must not be lost; one stored from them outside it is reported (``NodeNotice``).
    enum AnonymousWindowMisfit { case ahead, beforePreviousPeriod }

    mutating func anonymousWindowMisfit(_ e: SignedEntry, now: UInt64) -> AnonymousWindowMisfit? {
        let policy = rosterInForce(now: now).policy
        var p = policy.anonymous
        if !p.allowed {
            // An amendment has turned anonymous halts off. One naming an earlier version that allowed them still
            // has its date judged, by that version's periods: else a member could date one back to when they were
            // on, and it would count. One that fits no version the node knows is refused by the store.
            guard let named = store.knownRosters.first(where: {
                $0.version == e.entry.rosterVersion && $0.policy.anonymous.allowed
            }) else { return nil }
            p = named.policy.anonymous
        }
        if e.entry.time > now.addingSaturating(policy.maxSkewMs) { return .ahead }
        if p.period(at: e.entry.time).addingSaturating(1) < p.period(at: now) { return .beforePreviousPeriod }
        return nil
    }

    /// Why a SUBMIT of this anonymous halt is refused for its date, or nil.
    mutating func anonymousSubmitRefusal(_ e: SignedEntry, now: UInt64) -> String? {
        switch anonymousWindowMisfit(e, now: now) {
        case nil: return nil
        case .ahead:
            return "anonymous halt dated \(TimeText.format(e.entry.time)), ahead of this node's clock by more than the allowed skew; sign it with a correct clock"
        case .beforePreviousPeriod:
            return "anonymous halt dated \(TimeText.format(e.entry.time)), before the previous period: nodes take one by SUBMIT only in the period it was signed in or the next (SPEC.md §8.3); sign a fresh one"
        }
    }

    private mutating func misbehaving(_ peer: PeerID, _ reason: String) -> [Directive] {
        rejected += 1
        peers[peer] = nil
        return [.close(peer, reason: reason, misbehaved: true)]
    }

    private mutating func handle(_ message: WireMessage, from peer: PeerID, role: PeerRole, now: UInt64) -> [Directive] {
        switch message {
        case .hello:
            return misbehaving(peer, "second HELLO")
        case .error:
            peers[peer] = nil
            return [.close(peer, reason: "peer reported an error", misbehaved: false)]
        case .entries(let list):
            guard role == .node else { return misbehaving(peer, "clients may not send \(message.name)") }
            if storageRefusal != nil { return [] }  // cannot store: anti-entropy brings them again once we can
            var appended: [SignedEntry] = []
            var notices: [Directive] = []  // after the append they report on
            let checked = GossipNode.decodeAndVerify(list, lab: store.genesis.lab, genesis: store.genesisHash, parallel: settings.parallel)
            for result in checked {
                let e: SignedEntry
                switch result {
                case .failure(let error):
                    if case .malformed = error { return flushBatch(appended, except: peer) + notices + misbehaving(peer, "entry: \(error)") }
                    return flushBatch(appended, except: peer) + notices + misbehaving(peer, "invalid entry: \(error)")
                case .success(let v): e = v
                }
                if settings.hideEntry?(e) == true { continue }
                do {
                    let o = try store.insertVerified(e)
                    appended += o.appended
                    if let h = o.detachedHalt {
                        detachedBatch.append(h)
                        if case .anonymousHalt = h.entry.body, let misfit = anonymousWindowMisfit(h, now: now) {
                            notices.append(.notice(.anonymousHaltOutOfWindow(
                                id: h.id, keyImage: h.entry.author, time: h.entry.time, ahead: misfit == .ahead, from: peer,
                                fromMember: peers[peer]?.key.flatMap { rosterInForce(now: now).member(withKey: $0)?.name })))
                        }
                    }
                    if let ev = o.evidence { evidenceBatch.append(ev) }
                } catch {
                    switch error {
                    case .invalid(let why):
                        // What was stored before the bad entry is still persisted and pushed.
                        return flushBatch(appended, except: peer) + notices + misbehaving(peer, "invalid entry \(e.id.short)…: \(why)")
                    case .notAMember, .bufferFull, .unknownDrill, .anonymousRefused: continue  // not provably malicious (its roster may be ahead); dropped
                    }
                }
            }
            return flushBatch(appended, except: peer) + notices
        case .evidence(let a, let b):
            guard role == .node else { return misbehaving(peer, "clients may not send \(message.name)") }
            if storageRefusal != nil { return [] }
            let ev: EquivocationEvidence
            do { ev = EquivocationEvidence(first: try SignedEntry(decoding: a), second: try SignedEntry(decoding: b)) } catch {
                return misbehaving(peer, "evidence: \(error)")
            }
            if let hide = settings.hideEntry, hide(ev.first) || hide(ev.second) { return [] }
            var detached: [SignedEntry] = []
            do {
                guard try store.insertEvidence(ev, detached: &detached) else { return [] }
            } catch {
                if case .notAMember = error { return [] }
                return misbehaving(peer, "invalid evidence: \(error)")
            }
            evidenceBatch.append(ev)
            detachedBatch += detached
            return flushBatch([], except: peer)
        case .digest(let theirs):
            guard role == .node else { return misbehaving(peer, "clients may not send \(message.name)") }
            // While a catch-up batch to this peer is in flight, its follow-up FRONTIER continues the exchange.
            if theirs == store.digest { peers[peer]?.inSyncAt = now }
            if let until = peers[peer]?.batchInFlightUntil, now < until { return [] }
            return theirs == store.digest ? [] : [.send(peer, .frontier(replyWanted: true, store.frontier))]
        case .frontier(let replyWanted, let theirs):
            guard role == .node else { return misbehaving(peer, "clients may not send \(message.name)") }
            let inFlight = (peers[peer]?.batchInFlightUntil).map { now < $0 } ?? false
            if inFlight && replyWanted {
                // The follow-up of our truncated batch is a FRONTIER without reply_wanted (their answer to ours); a
                // FRONTIER that wants a reply, sent before our batch is in, would only repeat the batch. Still answer
                // with our frontier when we lack something of theirs, so their own catch-up never waits on ours.
                return store.lacksSomething(of: theirs) ? [.send(peer, .frontier(replyWanted: false, store.frontier))] : []
            }
            peers[peer]?.batchInFlightUntil = nil
            // Positions sent ahead are trusted for `sentAheadTrustMs` after the last batch: then exchanges start from
            // what they report, so entries they dropped are sent again.
            if now >= peers[peer]?.sentAheadUntil ?? 0 { peers[peer]?.sentAhead = [:] }
            for h in theirs.heads where (peers[peer]?.sentAhead[h.author] ?? .max) <= h.seq {
                peers[peer]?.sentAhead[h.author] = nil  // they have it now
            }
            var out: [Directive] = []
            let effective = store.raising(theirs, to: peers[peer]?.sentAhead ?? [:])
            let (entries, evidence, truncated) = store.missing(from: effective, maxBytes: settings.antiEntropyBatchBytes)
            out += GossipNode.chunked(entries).map { .send(peer, .entries($0)) }
            out += evidence.map { .send(peer, .evidence(first: $0.first.bytes, second: $0.second.bytes)) }
            for e in entries where !store.holdsDetached(e.id) && e.entry.seq > (peers[peer]?.sentAhead[e.entry.author] ?? 0) {
                peers[peer]?.sentAhead[e.entry.author] = e.entry.seq  // feed positions only, never a detached halt's
            }
            if !entries.isEmpty { peers[peer]?.sentAheadUntil = now.addingSaturating(settings.sentAheadTrustMs) }
            if truncated {
                // More remains: ask for their frontier again once this batch is in (self-clocked catch-up).
                peers[peer]?.batchInFlightUntil = now.addingSaturating(settings.batchFollowUpTimeoutMs)
                out.append(.send(peer, .frontier(replyWanted: true, store.frontier)))
            } else if replyWanted && store.lacksSomething(of: theirs) {
                out.append(.send(peer, .frontier(replyWanted: false, store.frontier)))
            }
            return out
        case .submit(let request, let bytes):
            let e: SignedEntry
            do { e = try SignedEntry(decoding: bytes) } catch {
                return [.send(peer, .ack(request: request, status: .rejected, reason: error.description))]
            }
            if let p = peers[peer], p.observer, !(e.entry.kind == .drillAck && e.entry.author == p.key), e.entry.kind != .anonymousHalt {
                // An enforcer acknowledges drills with its own observer key; an anonymous halt may be carried by any
                // roster key, so that who submits it says nothing of who signed it (SPEC.md §8.3, §10.2).
                return [.send(peer, .ack(request: request, status: .rejected,
                    reason: "observer key \(p.key!.fingerprint) is read-only: it may read status, fetch tokens, acknowledge drills with its own key and carry anonymous halts, never submit anything else"))]
            }
            if settings.hideEntry?(e) == true { return [.send(peer, .ack(request: request, status: .stored, reason: ""))] }  // the lie
            if let full = storageRefusal {
                if store.haltEntries[e.id] != nil || store.holdsDetached(e.id) || store.feeds[e.entry.author]?.contains(where: { $0.id == e.id }) == true {
                    return [.send(peer, .ack(request: request, status: .alreadyStored, reason: ""))]
                }
                return [.send(peer, .ack(request: request, status: .rejected, reason: "\(full); deliver it to another node (a halt: to two members' nodes)"))]
            }
            if e.entry.kind == .anonymousHalt, let late = anonymousSubmitRefusal(e, now: now) {
                return [.send(peer, .ack(request: request, status: .rejected, reason: late))]
            }
            if !e.entry.kind.isStandalone, rosterInForce(now: now).member(withKey: e.entry.author)?.isObserver == true {
                return [.send(peer, .ack(request: request, status: .rejected,
                    reason: "author \(e.entry.author.fingerprint) is an observer; observers never propose, vote or halt"))]
            }
            let outcome: InsertOutcome
            do { outcome = try store.insert(e) } catch {
                if e.entry.kind == .anonymousHalt, case .invalid = error {
                    // A ring signature that does not verify cost this node a verify per ring member: the link that
                    // sent it is closed after the answer (SPEC.md §8.3), so a key cannot make it verify garbage at
                    // the rate of SUBMITs.
                    return [.send(peer, .ack(request: request, status: .rejected, reason: error.description))]
                        + misbehaving(peer, "an anonymous halt whose ring signature does not verify")
                }
                return [.send(peer, .ack(request: request, status: .rejected, reason: error.description))]
            }
            if outcome.duplicate { return [.send(peer, .ack(request: request, status: .alreadyStored, reason: ""))] }
            if outcome.conflicting || (outcome.evidence != nil && outcome.appended.isEmpty) {
                // Persist the proof (and any halt), but the entry itself is not stored: say so.
                var out = persistAndPush(outcome, except: nil)
                out.append(.send(peer, .ack(request: request, status: .rejected,
                    reason: "this author already signed a different entry at position \(e.entry.seq) (equivocation); the entry is kept only as "
                        + "evidence, and this key's votes stop counting until a roster amendment rotates it. Two signers used the key at "
                        + "once, or its signer state was restored from an old copy: stop signing with it, and run `tiergate key resync` "
                        + "before any other use")))
                return out
            }
            if outcome.bufferedBehindGap && outcome.detachedHalt == nil {
                let have = store.feeds[e.entry.author]?.count ?? 0
                return [.send(peer, .ack(request: request, status: .rejected,
                    reason: "the node holds this author's feed up to position \(have); deliver positions \(have + 1)...\(e.entry.seq - 1) first"))]
            }
            var out = persistAndPush(outcome, except: nil)
            out.append(.send(peer, .ack(request: request, status: .stored, reason: "")))
            return out
        case .statusRequest(let request, let q):
            // `at` is the asker's clock when it sends one (check and gate do): a node whose own clock is slow must
            // not answer for an instant it has not reached (a lapse it has not seen yet). Served from the cache too.
            var v = verdict(now: q.at == 0 ? now : q.at)
            let node = nodeInfo(now: now)
            var status: NodeStatus
            if let id = q.proposal {
                let total = v.proposals.count
                v.proposals = v.proposals.filter { $0.id == id }
                status = NodeStatus.page(of: v, offset: 0, limit: 1, node: node)
                status.proposalsTotal = total
            } else {
                status = NodeStatus.page(of: v, offset: Int(q.offset), limit: Int(q.limit), node: node)
            }
            return [.send(peer, .status(request: request, status))]
        case .headRequest(let request, let author):
            guard let h = store.head(of: author) else {
                return [.send(peer, .head(request: request, seq: 0, id: .zero, time: 0, entry: []))]
            }
            return [.send(peer, .head(request: request, seq: h.entry.seq, id: h.id, time: h.entry.time, entry: h.bytes))]
        case .exportRequest(let request):
            return [.export(peer, request: request)]
        case .tokenRequest(let request, let tier):
            return issueToken(request: request, tier: tier, for: peer, now: now)
        case .attestRequest(let request, let core, let tier, let issuedAt):
            guard role == .node else { return misbehaving(peer, "clients may not send \(message.name)") }
            return attest(request: request, core: core, tier: tier, issuedAt: issuedAt, to: peer, now: now)
        case .attest(let request, _, let attestation):
            guard role == .node else { return misbehaving(peer, "clients may not send \(message.name)") }
            guard var p = pendingTokens[request], let a = attestation else { return [] }
            let core = p.token.coreHash
            guard a.isValid(core: core), a.authorizedTier >= p.token.tier,
                let m = p.roster.member(withKey: a.attester), !m.isObserver,
                !p.token.attestations.contains(where: { $0.attester == a.attester })
            else { return [] }
            p.token.attestations.append(a)
            if p.shortfall == nil {
                pendingTokens[request] = nil
                return [.send(p.client, .token(request: p.clientRequest, reason: "", token: p.token.encoded()))]
            }
            pendingTokens[request] = p
            return []
        case .watchRequest(let request):
            // Subscribe (a second request replaces the first): the state now at once, halts in force included, so a
            // halt stored while this watcher was away reaches it on (re)subscription (SPEC.md §8.7).
            let state = WatchState(verdict: verdict(now: now), store: store)
            watchers[peer] = Watcher(request: request, seq: 1, last: state)
            return [.send(peer, .watch(request: request, seq: 1, state))]
        case .ping(let theirClock):
            if role == .node {
                peers[peer]?.clockOffsetMs = Int64(clamping: Int128(theirClock) - Int128(now))
            }
            return []
        case .ack, .status, .head, .export, .token, .watch:
            return misbehaving(peer, "unexpected \(message.name)")
        }
    }

    // MARK: Clock (SPEC.md §8.5)

    /// How far this node's clock is from its peer nodes' (their clock minus ours, ms): the offset of smallest
    /// magnitude among the lower half, so one peer with a wrong clock does not make a correct node doubt itself,
    /// while a node whose clock is wrong sees every peer off. Nil with no peer node heard yet.
    public var clockOffsetMs: Int64? {
        let offsets = peers.values.filter(\.isNode).compactMap(\.clockOffsetMs).sorted { $0.magnitude < $1.magnitude }
        return offsets.isEmpty ? nil : offsets[(offsets.count - 1) / 2]
    }

    /// Why this node must not vouch for freshness now: its clock is more than `max_skew_ms` from its peers'. A node
    /// that cannot tell the time cannot say "no halt as of now" (SPEC.md §9.2); nil when it can.
    public mutating func clockRefusal(now: UInt64) -> String? {
        guard let off = clockOffsetMs else { return nil }
        let skew = rosterInForce(now: now).policy.maxSkewMs
        guard off.magnitude > skew else { return nil }
        return "this node's clock is \(off.magnitude / 1000) s \(off > 0 ? "behind" : "ahead of") its peers' (more than the \(skew / 1000) s max_skew): "
            + "it does not attest or issue tokens until its clock is fixed (NTP)"
    }

    // MARK: Watch (SPEC.md §8.7)

    /// WATCH pushes for every watcher whose state changed. Directives that store a halt (or evidence) make the
    /// check at once, after their append (the push follows the fsync, like every push); other changes are
    /// coalesced to one verdict per `watchCoalesceMs`, and the tick notices changes of time alone (a lapse).
    private mutating func watchUpdates(now: UInt64, after directives: [Directive], tick: Bool = false) -> [Directive] {
        guard !watchers.isEmpty else { return [] }
        let urgent = directives.contains { d in
            guard case .persist(let entries, let halts, let evidence) = d else { return false }
            // A halt, evidence or a drill (which enforcers answer like a halt) goes out at once.
            return !evidence.isEmpty || halts.contains { $0.entry.kind.isHalt }
                || entries.contains { $0.entry.kind.isHalt || $0.entry.kind == .drill }
        }
        guard urgent || (tick && now >= lastWatchCheck.addingSaturating(settings.watchCoalesceMs)) else { return [] }
        lastWatchCheck = now
        let state = WatchState(verdict: verdict(now: now), store: store)
        var out: [Directive] = []
        for (id, var w) in watchers where state.differs(from: w.last) {
            w.seq += 1
            w.last = state
            watchers[id] = w
            out.append(.send(id, .watch(request: w.request, seq: w.seq, state)))
        }
        return out
    }

    // MARK: Tokens (SPEC.md §9)

    private mutating func issueToken(request: UInt64, tier: UInt32, for peer: PeerID, now: UInt64) -> [Directive] {
        let v = verdict(now: now)
        func refuse(_ why: String) -> [Directive] { [.send(peer, .token(request: request, reason: why, token: []))] }
        if let why = clockRefusal(now: now) { return refuse(why) }
        if v.halted {
            return refuse("halted by \(v.activeHalts.map { "\($0.member) (\($0.reason))" }.joined(separator: ", ")); no token while a halt is in force")
        }
        guard v.authorizedTier >= tier else {
            return refuse("tier \(tier) is not authorised: the authorised tier is \(v.authorizedTier) (base \(v.baseTier))")
        }
        guard let key = settings.attester, v.roster.member(withKey: key.publicKey) != nil else {
            return refuse("this node has no member key to attest with")
        }
        let entries = TokenChecker.evidenceEntries(store: store, verdict: v).map(\.bytes)
        var token = TierToken(
            lab: store.genesis.lab, genesis: store.genesisHash, tier: tier, issuedAt: now,
            expiresAt: now.addingSaturating(v.roster.policy.tokenTTLMs), entries: entries)
        guard token.encoded().count < TierToken.maxBytes - 64 * 200 else { return refuse("the token would exceed its size limit") }
        let core = token.coreHash
        token.attestations = [Attestation(core: core, key: key, time: now, digest: store.digest, tier: v.authorizedTier)]
        let rule = v.roster.policy.freshness
        if rule.shortfall([v.roster.member(withKey: key.publicKey)!]) == nil {
            return [.send(peer, .token(request: request, reason: "", token: token.encoded()))]
        }
        let id = nextAttestRequest
        nextAttestRequest += 1
        pendingTokens[id] = PendingToken(client: peer, clientRequest: request, token: token, rule: rule, roster: v.roster,
                                         deadline: now.addingSaturating(settings.attestationTimeoutMs))
        let peersToAsk = readyPeerNodes
        if peersToAsk.isEmpty { return [] }  // the deadline answers
        return peersToAsk.map { .send($0, .attestRequest(request: id, core: core, tier: tier, issuedAt: now)) }
    }

    private mutating func attest(request: UInt64, core: Digest, tier: UInt32, issuedAt: UInt64, to peer: PeerID, now: UInt64) -> [Directive] {
        let v = verdict(now: now)
        func refuse(_ why: String) -> [Directive] { [.send(peer, .attest(request: request, reason: why, attestation: nil))] }
        if let why = clockRefusal(now: now) { return refuse(why) }
        guard let key = settings.attester, v.roster.member(withKey: key.publicKey) != nil else { return refuse("no member key") }
        if v.halted { return refuse("halted") }
        guard v.authorizedTier >= tier else { return refuse("tier \(tier) is not authorised here (tier \(v.authorizedTier))") }
        let skew = v.roster.policy.maxSkewMs
        guard issuedAt <= now.addingSaturating(skew), now <= issuedAt.addingSaturating(skew) else { return refuse("issue time is beyond the clock skew") }
        return [.send(peer, .attest(request: request, reason: "", attestation: Attestation(core: core, key: key, time: now, digest: store.digest, tier: v.authorizedTier)))]
    }

    // Evidence and detached halts gathered while handling one ENTRIES message.
    private var detachedBatch: [SignedEntry] = []
    private var evidenceBatch: [EquivocationEvidence] = []

    private mutating func flushBatch(_ appended: [SignedEntry], except: PeerID?) -> [Directive] {
        defer {
            detachedBatch = []
            evidenceBatch = []
        }
        guard !appended.isEmpty || !detachedBatch.isEmpty || !evidenceBatch.isEmpty else { return [] }
        var out: [Directive] = [.persist(entries: appended, detachedHalts: detachedBatch, evidence: evidenceBatch)]
        out += push(appended + detachedBatch, evidence: evidenceBatch, except: except)
        return out
    }

    private mutating func persistAndPush(_ o: InsertOutcome, except: PeerID?) -> [Directive] {
        detachedBatch = o.detachedHalt.map { [$0] } ?? []
        evidenceBatch = o.evidence.map { [$0] } ?? []
        return flushBatch(o.appended, except: except)
    }

    private func push(_ entries: [SignedEntry], evidence: [EquivocationEvidence], except: PeerID?) -> [Directive] {
        var out: [Directive] = []
        for p in readyPeerNodes where p != except {
            out += GossipNode.chunked(entries).map { .send(p, .entries($0)) }
            out += evidence.map { .send(p, .evidence(first: $0.first.bytes, second: $0.second.bytes)) }
        }
        return out
    }

    /// Decodes and checks a batch of entries (signature, lab, genesis), through `parallel` for large batches.
    /// The result is the same as checking them one by one, in order.
    static func decodeAndVerify(_ list: [[UInt8]], lab: String, genesis: Digest,
                                parallel: ParallelFor) -> [Result<SignedEntry, EntryError>] {
        func one(_ b: [UInt8]) -> Result<SignedEntry, EntryError> {
            do { return .success(try SignedEntry(decoding: b).verified(lab: lab, genesis: genesis)) } catch { return .failure(error) }
        }
        guard list.count >= 64 else { return list.map(one) }
        return parallel.map(list, chunks: min(list.count / 32, 16), placeholder: .failure(.badSignature), one)
    }

    /// Splits entries into ENTRIES messages within the count and byte limits.
    static func chunked(_ entries: [SignedEntry]) -> [[[UInt8]]] {
        var out: [[[UInt8]]] = []
        var current: [[UInt8]] = []
        var bytes = 0
        for e in entries {
            let b = e.bytes
            if current.count == WireMessage.maxEntriesPerMessage || bytes + b.count + 4 > WireMessage.maxFrameBody - 1024 {
                out.append(current)
                current = []
                bytes = 0
            }
            current.append(b)
            bytes += b.count + 4
        }
        if !current.isEmpty { out.append(current) }
        return out
    }
}
