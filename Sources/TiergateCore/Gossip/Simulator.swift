/// A deterministic discrete-event simulation of many nodes running the real ``GossipNode`` state machine over a
/// simulated network with latency, loss and partitions (SPEC.md §8). No sockets, no threads, no wall clock.
public struct Simulation {
    public struct Settings: Sendable {
        public var nodes = 100
        /// Each node dials this many random others (links are symmetric, so the average degree is about 2×).
        public var fanout = 4
        public var antiEntropyIntervalMs: UInt64 = 200
        public var minLatencyMs: UInt64 = 1
        public var maxLatencyMs: UInt64 = 10
        /// Probability that a message is lost.
        public var loss = 0.0
        /// Nodes `0..<partitionSize` cannot reach the rest until `healAtMs` (simulated time after the halt).
        public var partitionSize = 0
        public var healAtMs: UInt64 = 0
        public var seed: UInt64 = 1
        /// Simulated time limit after the halt.
        public var limitMs: UInt64 = 120_000
        /// Anti-entropy intervals measured after full dissemination to report the in-sync cost.
        public var inSyncIntervals = 5
        public init() {}
    }

    public struct Report: Sendable {
        public var nodes: Int
        public var links: Int
        /// (percent, hops, simulated ms) when that share of nodes held the halt.
        public var milestones: [(percent: Int, hops: Int, ms: UInt64)]
        public var reached: Int
        public var messages: Int
        public var bytesPerNode: Double
        /// Bytes sent per node per anti-entropy interval once every node is in sync.
        public var inSyncBytesPerNodePerInterval: Double
        public var droppedMessages: Int
        /// Links closed by a node (protocol violations); 0 in a healthy run.
        public var closedLinks = 0
        /// Up to five nodes that never got the halt: (node, links, links ready).
        public var unreached: [(node: Int, links: Int, ready: Int)] = []
    }

    struct Event {
        var time: UInt64
        var order: UInt64
        var kind: Kind
        enum Kind {
            case deliver(to: Int, peer: PeerID, message: WireMessage, hops: Int)
            case tick(Int)
        }
    }

    /// A binary min-heap on (time, order).
    struct Queue {
        var heap: [Event] = []
        mutating func push(_ e: Event) {
            heap.append(e)
            var i = heap.count - 1
            while i > 0 {
                let p = (i - 1) / 2
                if (heap[p].time, heap[p].order) <= (heap[i].time, heap[i].order) { break }
                heap.swapAt(p, i)
                i = p
            }
        }
        mutating func pop() -> Event? {
            guard !heap.isEmpty else { return nil }
            heap.swapAt(0, heap.count - 1)
            let top = heap.removeLast()
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < heap.count, (heap[l].time, heap[l].order) < (heap[m].time, heap[m].order) { m = l }
                if r < heap.count, (heap[r].time, heap[r].order) < (heap[m].time, heap[m].order) { m = r }
                if m == i { break }
                heap.swapAt(i, m)
                i = m
            }
            return top
        }
    }

    let settings: Settings
    var nodes: [GossipNode] = []
    /// links[node][peer] = (other node, its peer id for this link)
    var links: [[PeerID: (Int, PeerID)]] = []
    var queue = Queue()
    var order: UInt64 = 0
    var rng: SplitMix
    var now: UInt64 = 0
    var bytesSent = 0
    var messages = 0
    var dropped = 0
    var haltAt: [UInt64?] = []
    var hops: [Int] = []
    var haltID: Digest?
    var counting = false
    /// Last delivery time per directed link: links are FIFO, like TCP.
    var lastDelivery: [UInt64: UInt64] = [:]
    var reachedCount = 0
    /// The partition (if any) lasts from the halt's injection until this simulated instant.
    var partitionEnds: UInt64 = 0
    var closedLinks = 0

    /// A small deterministic PRNG (SplitMix64).
    public struct SplitMix: RandomNumberGenerator, Sendable {
        var state: UInt64
        public init(seed: UInt64) { state = seed }
        public mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    public init(settings: Settings, genesis: Roster) {
        self.settings = settings
        rng = SplitMix(seed: settings.seed)
        var gs = GossipSettings()
        gs.antiEntropyIntervalMs = settings.antiEntropyIntervalMs
        gs.rateLimitPerSecond = 1e9
        gs.rateBurst = 1e9
        let proto = GossipNode(store: EntryStore(genesis: genesis), settings: gs)
        nodes = Array(repeating: proto, count: settings.nodes)
        links = Array(repeating: [:], count: settings.nodes)
        haltAt = Array(repeating: nil, count: settings.nodes)
        hops = Array(repeating: 0, count: settings.nodes)
    }

    func partitioned(_ a: Int, _ b: Int) -> Bool {
        guard counting, settings.partitionSize > 0, now < partitionEnds else { return false }
        return (a < settings.partitionSize) != (b < settings.partitionSize)
    }

    mutating func connect(_ a: Int, _ b: Int) {
        let pa = links[a].count + 1
        let pb = links[b].count + 1
        links[a][pa] = (b, pb)
        links[b][pb] = (a, pa)
        run(a, nodes[a].connected(pa, outbound: true, now: now), hops: 0)
        run(b, nodes[b].connected(pb, outbound: false, now: now), hops: 0)
    }

    mutating func run(_ node: Int, _ directives: [Directive], hops h: Int) {
        for d in directives {
            switch d {
            case .send(let peer, let message):
                guard let (other, otherPeer) = links[node][peer] else { continue }
                let size = message.encodedBody().count + 4
                if counting {
                    bytesSent += size
                    messages += 1
                }
                if partitioned(node, other) || (counting && settings.loss > 0 && Double.random(in: 0..<1, using: &rng) < settings.loss) {
                    dropped += 1
                    continue
                }
                let latency = UInt64.random(in: settings.minLatencyMs...max(settings.minLatencyMs, settings.maxLatencyMs), using: &rng)
                let link = UInt64(node) << 32 | UInt64(peer)
                let at = max(now + latency, lastDelivery[link] ?? 0)
                lastDelivery[link] = at
                order += 1
                queue.push(Event(time: at, order: order, kind: .deliver(to: other, peer: otherPeer, message: message, hops: h + 1)))
            case .close(let peer, _, _):
                // Closing a TCP connection closes it for both ends.
                guard let (other, otherPeer) = links[node][peer] else { continue }
                links[node][peer] = nil
                links[other][otherPeer] = nil
                nodes[node].disconnected(peer)
                nodes[other].disconnected(otherPeer)
                closedLinks += 1
            case .persist, .export, .notice:
                break
            }
        }
    }

    mutating func noteHalt(_ node: Int, hops h: Int) {
        guard haltAt[node] == nil, let id = haltID, nodes[node].store.tally.halts[id] != nil else { return }
        haltAt[node] = now
        hops[node] = h
        reachedCount += 1
    }

    /// Runs the simulation: builds the overlay, injects one halt at node 0, and measures dissemination.
    public mutating func run(halt: SignedEntry) -> Report {
        let n = settings.nodes
        // Overlay: node i dials `fanout` distinct random others.
        var edges = Set<UInt64>()
        for a in 0..<n {
            var made = 0
            var attempts = 0
            while made < min(settings.fanout, n - 1) && attempts < settings.fanout * 20 {
                attempts += 1
                let b = Int.random(in: 0..<n, using: &rng)
                let key = UInt64(min(a, b)) << 32 | UInt64(max(a, b))
                if b == a || edges.contains(key) { continue }
                edges.insert(key)
                connect(a, b)
                made += 1
            }
        }
        drain(until: UInt64.max, ticks: false)  // HELLO and the first digests
        for i in 0..<n {
            order += 1
            queue.push(Event(time: now + UInt64.random(in: 0..<max(1, settings.antiEntropyIntervalMs), using: &rng), order: order, kind: .tick(i)))
        }
        counting = true
        let start = now
        partitionEnds = start + settings.healAtMs
        haltID = halt.id
        run(0, nodes[0].inject(halt), hops: 0)
        noteHalt(0, hops: 0)
        let deadline = start + settings.limitMs
        while reachedCount < n, let e = queue.pop() {
            if e.time > deadline {
                queue.push(e)
                break
            }
            step(e)
        }
        let reached = reachedCount
        let allReached = now
        let bytesUntilAll = bytesSent
        let messagesUntilAll = messages
        // In-sync cost: run a few more intervals and measure.
        let before = bytesSent
        let measureUntil = allReached + settings.antiEntropyIntervalMs * UInt64(settings.inSyncIntervals)
        while let e = queue.pop() {
            if e.time > measureUntil {
                queue.push(e)
                break
            }
            step(e)
        }
        let inSync = Double(bytesSent - before) / Double(n) / Double(max(settings.inSyncIntervals, 1))

        let arrivals = haltAt.enumerated().compactMap { i, t in t.map { ($0 - start, hops[i]) } }.sorted { $0.0 < $1.0 }
        var milestones: [(Int, Int, UInt64)] = []
        for pct in [50, 99, 100] {
            let need = Int((Double(n) * Double(pct) / 100).rounded(.up))
            if arrivals.count >= need, need > 0 {
                let upTo = arrivals[..<need]
                milestones.append((pct, upTo.map(\.1).max() ?? 0, upTo.last!.0))
            }
        }
        var report = Report(
            nodes: n, links: edges.count, milestones: milestones, reached: reached, messages: messagesUntilAll,
            bytesPerNode: Double(bytesUntilAll) / Double(n), inSyncBytesPerNodePerInterval: inSync, droppedMessages: dropped)
        report.closedLinks = closedLinks
        for i in 0..<n where haltAt[i] == nil && report.unreached.count < 5 {
            report.unreached.append((i, links[i].count, nodes[i].readyPeerNodes.count))
        }
        return report
    }

    mutating func drain(until: UInt64, ticks: Bool) {
        while let e = queue.pop() {
            if e.time > until {
                queue.push(e)
                return
            }
            step(e)
        }
    }

    mutating func step(_ e: Event) {
        now = max(now, e.time)
        switch e.kind {
        case .deliver(let to, let peer, let message, let h):
            let out = nodes[to].received(message, from: peer, now: now)
            noteHalt(to, hops: h)
            run(to, out, hops: haltAt[to] != nil ? hops[to] : h)
        case .tick(let i):
            var r = rng
            let out = nodes[i].tick(now: now, random: &r)
            rng = r
            run(i, out, hops: hops[i])
            order += 1
            queue.push(Event(time: now + settings.antiEntropyIntervalMs, order: order, kind: .tick(i)))
        }
    }
}
