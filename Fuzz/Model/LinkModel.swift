// The `link` fuzz target's model (documented in Fuzz/link.swift): shared by the libFuzzer binary (scripts/fuzz
// compiles this directory into every fuzz binary, with -D TIERGATE_FUZZ_BUILD, as part of the module TiergateCore)
// and by the package target TiergateFuzzModel, which FuzzRegressionTests use to replay findings and hostile inputs
// through exactly the same checks. A broken property calls `fail` (the fuzzer traps, a test records an issue).
#if !TIERGATE_FUZZ_BUILD
import TiergateCore
#endif

/// The fixed secure-link session of the `link` target and its seeds: the parties, genesis and ephemeral keys of
/// protocol-spec/vectors/noise.json (alice dials bob; key seed = BLAKE2b-256("tiergate/v1/vector-key/" + name),
/// genesis = BLAKE2b-256("tiergate/v1/vector-genesis"), ephemeral secret =
/// BLAKE2b-256("tiergate/v1/vector-ephemeral/initiator" or ".../responder")), so the vector's wire bytes complete a
/// handshake with a fresh `FuzzLink.link(role)` and its transport messages decrypt. Built once per process from
/// constants: a failure here is a harness bug, not an input's.
public enum FuzzLink {
    public static let genesis = Blake2b.hash256(Array("tiergate/v1/vector-genesis".utf8))

    public static func vectorKey(_ name: String) -> SigningKey {
        try! SigningKey(seed: Blake2b.hash256(Array("tiergate/v1/vector-key/\(name)".utf8)).bytes)
    }

    public static let alice = vectorKey("alice")  // the dialer (initiator)
    public static let bob = vectorKey("bob")  // the listener (responder)
    public static let initiatorEphemeral = X25519.KeyPair(secret: Blake2b.hash256(Array("tiergate/v1/vector-ephemeral/initiator".utf8)).bytes)
    public static let responderEphemeral = X25519.KeyPair(secret: Blake2b.hash256(Array("tiergate/v1/vector-ephemeral/responder".utf8)).bytes)

    /// A fresh link of the fixed session: alice as initiator, bob as responder, with the fixed ephemeral keys.
    public static func link(_ role: NoiseHandshake.Role) -> SecureLink {
        role == .initiator
            ? SecureLink(role: .initiator, genesis: genesis, identity: alice, ephemeral: initiatorEphemeral)
            : SecureLink(role: .responder, genesis: genesis, identity: bob, ephemeral: responderEphemeral)
    }

    /// Plaintexts of the transport messages of the fixed session: the vector's two first, then an empty one (the
    /// smallest message, 16 bytes), a §8 frame stream, and 1,000 patterned bytes.
    public static let toResponder: [[UInt8]] = [
        Array("HELLO from alice".utf8), Array("second".utf8), [],
        WireMessage.hello(version: 1, genesis: genesis, role: .node, name: "alice").encodedFrame()
            + WireMessage.digest(Blake2b.hash256([1])).encodedFrame(),
        (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7) },
    ]
    public static let toInitiator: [[UInt8]] = [
        Array("HELLO from bob".utf8), Array("second".utf8), [],
        WireMessage.error("key is not a member of this lab's roster").encodedFrame(),
        (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 13) },
    ]

    public struct Session: Sendable {
        /// What the dialer sends, message by message (each `u16 length || body`): message 1, message 3, then the
        /// sealed `toResponder` plaintexts.
        public var dialer: [[UInt8]]
        /// What the listener sends: message 2, then the sealed `toInitiator` plaintexts.
        public var listener: [[UInt8]]
        /// Both ends once established; neither has received a transport message (receive nonces 0).
        public var initiator: SecureLink
        public var responder: SecureLink
    }

    public static let session: Session = {
        func sends(_ outputs: [SecureLink.Output]) -> [UInt8] {
            outputs.reduce(into: []) { acc, o in if case .send(let b) = o { acc += b } }
        }
        do {
            var i = link(.initiator), r = link(.responder)
            let m1 = sends(try i.start())
            let m2 = sends(try r.receive(m1) { _ in nil })
            let m3 = sends(try i.receive(m2) { _ in nil })
            _ = try r.receive(m3) { _ in nil }
            guard m1.count == 34, m2.count == 194, m3.count == 162, i.isEstablished, r.isEstablished else {
                fatalError("FuzzLink: the fixed session does not complete")
            }
            var dialer = [m1, m3], listener = [m2]
            for p in toResponder { dialer.append(try i.seal(p)) }
            for p in toInitiator { listener.append(try r.seal(p)) }
            return Session(dialer: dialer, listener: listener, initiator: i, responder: r)
        } catch {
            fatalError("FuzzLink: the fixed session fails: \(error)")
        }
    }()

    // The first byte of a `link` input (see Fuzz/link.swift).
    public static let rawResponder: UInt8 = 0  // the rest is a byte stream for a fresh responder
    public static let rawInitiator: UInt8 = 1  // ... for a fresh initiator (after start())
    public static let tamperDialer: UInt8 = 2  // the rest edits `session.dialer`, fed to a fresh responder
    public static let tamperListener: UInt8 = 3  // ... edits `session.listener`, fed to a fresh initiator
    public static let refuseBit: UInt8 = 4  // `authorize` refuses every key
    public static let editsBit: UInt8 = 8  // tamper modes: edit instructions instead of an XOR mask
}

/// Split points for feeding `bytes` (or, with `length`, a stream of that many bytes made from them) in 1–3 chunks,
/// derived from the input itself (its first and last bytes), so that the fuzzer controls them and a crashing input
/// reproduces exactly.
public func fuzzSplitPoints(_ bytes: [UInt8], length: Int? = nil) -> [Int] {
    let n = bytes.count
    guard n >= 4 else { return [] }
    let m = length ?? n
    let a = Int(bytes[n - 1]) | Int(bytes[n - 2]) << 8
    let b = Int(bytes[n - 3]) | Int(bytes[n - 4]) << 8
    let mode = bytes[0] % 3  // 0: one chunk, 1: two chunks, 2: three chunks
    switch mode {
    case 0: return []
    case 1: return [a % (m + 1)]
    default: return [a % (m + 1), b % (m + 1)].sorted()
    }
}

private let refusal = "fuzz: this key is refused"
private let responderStaticSecret = FuzzLink.bob.x25519Secret()

struct Event: Equatable {
    var end: Int  // stream offset where the call that returned this output ended
    var output: SecureLink.Output
}

struct Run {
    var link: SecureLink
    var events: [Event] = []
    var error: NoiseError?
    var errorEnd = -1  // stream offset where the call that threw ended
    var asked: [PublicKey] = []
}





/// Chunk ends of the reference run: every byte of the first `byteWise` bytes, then (to bound the cost of long
/// streams) the offsets where a `u16 length || body` message's length or body completes, the only places where a
/// link may produce an output or fail.
private let byteWise = 4096





// MARK: - Tampering with the fixed session


enum Want: Equatable {
    case exactly(SecureLink.Output)
    case anotherMessage2  // the responder's answer to an altered message 1
}

@inline(never)
private func consume(_ text: String) {
    linkModelSink &+= text.utf8.count
}

nonisolated(unsafe) private var linkModelSink = 0

/// The checks of the `link` target over one input (selector byte, then payload).
public struct LinkModel {
    let fail: (String) -> Void

    public init(fail: @escaping (String) -> Void) { self.fail = fail }

    func expect(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
        if !condition() { fail(message()) }
    }

    func u16(_ b: [UInt8], _ at: Int) -> Int { Int(b[at]) << 8 | Int(b[at + 1]) }

    func kind(_ e: NoiseError) -> String {
        switch e {
        case .authenticationFailed: return "authenticationFailed"
        case .nonceExhausted: return "nonceExhausted"
        case .badMessage: return "badMessage"
        case .badPeerKey: return "badPeerKey"
        case .refused: return "refused"
        case .unexpected: return "unexpected"
        case .busy: return "busy"
        }
    }

    func admitAll(_: PublicKey) -> String? { nil }

    /// Feeds `stream` to a fresh link of the fixed session, one call per chunk ending at each of `ends` (ascending, the
    /// last = stream.count); stops at the first throw.
    func feed(_ role: NoiseHandshake.Role, _ stream: [UInt8], ends: [Int], refuse: Bool) -> Run {
        var link = FuzzLink.link(role)
        if role == .initiator {
            do {
                let first = try link.start()
                expect(first == [.send(FuzzLink.session.dialer[0])], "an initiator's start() is not the vector's message 1")
            } catch {
                expect(false, "an initiator's start() failed: \(error)")
            }
        }
        var events: [Event] = []
        var asked: [PublicKey] = []
        var error: NoiseError?
        var errorEnd = -1
        var from = 0
        for end in ends {
            do {
                let out = try link.receive(Array(stream[from..<end])) { key in
                    asked.append(key)
                    return refuse ? refusal : nil
                }
                events += out.map { Event(end: end, output: $0) }
            } catch let e {
                consume(e.description)
                error = e
                errorEnd = end
                break
            }
            from = end
        }
        return Run(link: link, events: events, error: error, errorEnd: errorEnd, asked: asked)
    }

    func referenceEnds(_ stream: [UInt8]) -> [Int] {
        let n = stream.count
        var ends = Array(stride(from: 1, through: min(n, byteWise), by: 1))
        guard n > byteWise else { return ends }
        var pos = 0
        while pos + 2 <= n {
            let next = pos + 2 + u16(stream, pos)
            for e in [pos + 2, min(next, n)] where e > byteWise && e != ends.last { ends.append(e) }
            pos = next
        }
        if ends.last != n { ends.append(n) }
        return ends
    }

    /// `run` (chunk ends `ends`) against the reference.
    func checkChunking(_ ref: Run, _ run: Run, ends: [Int], _ what: @autoclosure () -> String) {
        func callEnd(_ offset: Int) -> Int { ends.first { $0 >= offset } ?? -1 }
        let failedCall = ref.error == nil ? Int.max : callEnd(ref.errorEnd)
        let want = ref.events.compactMap { e in callEnd(e.end) < failedCall ? Event(end: callEnd(e.end), output: e.output) : nil }
        expect(run.events == want, "\(what()): chunking changed the outputs: \(run.events.count) vs \(want.count) expected")
        expect(run.error == ref.error, "\(what()): chunking changed the error: \(String(describing: run.error)) vs \(String(describing: ref.error))")
        if ref.error != nil {
            expect(run.errorEnd == failedCall, "\(what()): the link failed in another call (at \(run.errorEnd), expected \(failedCall))")
        } else {
            expect(run.link.bufferedInput == ref.link.bufferedInput, "\(what()): chunking changed the buffered bytes")
        }
        expect(run.asked == ref.asked, "\(what()): chunking changed the keys authorize was asked about")
        expect(run.link.isEstablished == ref.link.isEstablished && run.link.peer == ref.link.peer
                      && run.link.farewell == ref.link.farewell, "\(what()): chunking changed the final state")
    }

    func established(_ run: Run) -> PublicKey? {
        for e in run.events { if case .established(let k) = e.output { return k } }
        return nil
    }

    /// The protocol's shape of the outputs, and authorize's answers.
    func checkShape(_ ref: Run, role: NoiseHandshake.Role, stream: [UInt8], refuse: Bool) {
        let session = FuzzLink.session
        let ev = ref.events
        var i = 0
        var peer: PublicKey?
        if role == .responder {
            if i < ev.count, case .send(let m2) = ev[i].output {
                expect(ev[i].end == 34, "message 2 sent at offset \(ev[i].end), not after message 1 (34)")
                expect(m2.count == 194 && m2.prefix(34) == session.listener[0].prefix(34), "message 2 is not 192 bytes starting with the fixed ephemeral key")
                if stream.prefix(34) == session.dialer[0][...] {
                    expect(m2 == session.listener[0], "the vector's message 1 is not answered with the vector's message 2")
                }
                i += 1
                if i < ev.count, case .established(let k) = ev[i].output {
                    expect(ev[i].end == 196, ".established at offset \(ev[i].end), not after message 3 (196)")
                    peer = k
                    i += 1
                }
            }
        } else if i < ev.count, case .send(let m3) = ev[i].output {
            expect(ev[i].end == 194 && m3.count == 162 && m3.prefix(2) == [0, 160], "message 3 is not 160 bytes sent after message 2 (194)")
            if stream.prefix(194) == session.listener[0][...] {
                expect(m3 == session.dialer[1], "the vector's message 2 is not answered with the vector's message 3")
            }
            i += 1
            if i < ev.count, case .established(let k) = ev[i].output, ev[i].end == 194 {
                peer = k
                i += 1
            } else {
                expect(false, "an initiator sent message 3 without reporting .established")
            }
        }
        var end = peer == nil ? 0 : role == .responder ? 196 : 194
        while i < ev.count {
            guard case .plaintext(let p) = ev[i].output else {
                expect(false, "output out of place at offset \(ev[i].end): \(ev[i].output)")
                return
            }
            expect(peer != nil, "plaintext before .established")
            expect(p.count <= SecureLink.maxPlaintextChunk && ev[i].end == end + 2 + ChaChaPoly.tagLength + p.count,
                          "a plaintext of \(p.count) bytes at offset \(ev[i].end) does not match one message after offset \(end)")
            end = ev[i].end
            i += 1
        }
        expect(ref.asked.count <= 1, "authorize was asked \(ref.asked.count) times")
        if let k = peer {
            expect(!refuse && ref.asked == [k], ".established(\(k.fingerprint)) without authorize admitting that key")
        } else if let k = ref.asked.first {
            expect(refuse, "authorize admitted \(k.fingerprint) but the link did not report .established")
            expect(ref.error == .refused(refusal), "authorize refused, but the link failed with \(String(describing: ref.error))")
        }
        if ref.error == .refused(refusal) { expect(refuse && ref.asked.count == 1, "refused without authorize refusing") }
    }

    /// The final state of a link after the stream, then: more input, sealing.
    func checkFinal(_ run: Run, role: NoiseHandshake.Role, stream: [UInt8]) {
        var link = run.link
        let peer = established(run)
        if let error = run.error {
            expect(!link.isEstablished, "a failed link is established")
            if case .refused = error, role == .responder {
                expect(link.farewell != nil && link.peer != nil && link.peer == run.asked.first, "a refusing responder holds no farewell for the refused key")
            } else {
                expect(link.farewell == nil, "a farewell after \(kind(error))")
            }
            let more: [[UInt8]] = [[], [0, 16], role == .responder ? FuzzLink.session.dialer[0] : FuzzLink.session.listener[0], stream]
            for bytes in more {
                do {
                    let out = try link.receive(bytes, authorize: admitAll)
                    expect(false, "a failed link accepted \(bytes.count) more bytes (\(out.count) outputs)")
                } catch {
                    expect(kind(error) == "unexpected", "a failed link fails anew with \(kind(error))")
                }
            }
            do {
                _ = try link.seal([1, 2, 3])
                expect(false, "a failed link sealed bytes")
            } catch {
                consume(error.description)
            }
            return
        }
        expect(link.farewell == nil, "a farewell without a refusal")
        let b = link.bufferedInput
        if b.count >= 2 { expect(b.count < 2 + u16(b, 0), "the link holds a complete message it did not process") }
        expect(link.isEstablished == (peer != nil) && link.peer == peer, "established state \(link.isEstablished) does not match the outputs")
        do {
            let sealed = try link.seal([1, 2, 3])
            expect(peer != nil && sealed.count == 2 + ChaChaPoly.tagLength + 3, "sealed \(sealed.count) bytes (established: \(peer != nil))")
        } catch {
            expect(peer == nil, "an established link does not seal: \(error)")
        }
    }

    /// The edited transcript (see the header).
    func edited(_ genuine: [[UInt8]], _ payload: [UInt8], edits: Bool) -> [UInt8] {
        if !edits {
            var s = genuine.flatMap { $0 }
            guard payload.count >= 2 else { return s }
            let offset = u16(payload, 0) % (s.count + 1)
            for (i, m) in payload[2...].enumerated() where offset + i < s.count { s[offset + i] ^= m }
            return s
        }
        var msgs = genuine
        var size = msgs.reduce(0) { $0 + $1.count }
        var at = 0
        while at + 5 <= payload.count {
            let op = payload[at] % 8, i = Int(payload[at + 1]), x = u16(payload, at + 2), v = payload[at + 4]
            at += 5
            let n = msgs.count
            if op == 6 {
                msgs = Array(msgs.prefix(i % (n + 1)))
            } else if op == 7 {
                guard n < 64 else { continue }
                msgs.insert([UInt8(x >> 8), UInt8(x & 0xff), v], at: i % (n + 1))
            } else {
                guard n > 0 else { continue }
                let m = i % n
                switch op {
                case 0, 1:
                    guard !msgs[m].isEmpty else { continue }
                    let o = x % msgs[m].count
                    msgs[m][o] = op == 0 ? msgs[m][o] ^ v : v
                case 2: msgs[m] = Array(msgs[m].prefix(x % (msgs[m].count + 1)))
                case 3:
                    guard n < 64, size + msgs[m].count <= 16_384 else { continue }
                    msgs.insert(msgs[m], at: x % (n + 1))
                case 4: msgs.remove(at: m)
                default: msgs.swapAt(m, x % n)
                }
            }
            size = msgs.reduce(0) { $0 + $1.count }
        }
        return msgs.flatMap { $0 }
    }

    /// What a fresh link must do with `stream` when the genuine peer sends `genuine` (handshake messages, then sealed
    /// `plaintexts`): the outputs with the offsets where they appear, and the failure (kind, offset) if any.
    func predict(_ stream: [UInt8], role: NoiseHandshake.Role, refuse: Bool) -> (outputs: [(Int, Want)], failure: (String, Int)?) {
        let session = FuzzLink.session
        let genuine = role == .responder ? session.dialer : session.listener
        let plaintexts = role == .responder ? FuzzLink.toResponder : FuzzLink.toInitiator
        let handshakeLengths = role == .responder ? [32, 160] : [192]
        var out: [(Int, Want)] = []
        var pos = 0, index = 0
        var corrupt = false  // a responder got an altered message 1
        while true {
            let remaining = stream.count - pos
            guard remaining >= 2 else { return (out, nil) }
            let length = u16(stream, pos)
            let end = pos + 2 + length
            let original = index < genuine.count && stream.count >= end && stream[pos..<end] == genuine[index][...]
            if index < handshakeLengths.count {
                if role == .initiator && index == 0 && length == 0 {
                    // The responder's refusal before the handshake (SPEC.md §12.4): one code byte, then the end.
                    return remaining >= 3 ? (out, ("busy", pos + 3)) : (out, nil)
                }
                guard length == handshakeLengths[index] else { return (out, ("badMessage", pos + 2)) }
                guard remaining >= 2 + length else { return (out, nil) }
                if role == .responder && index == 0 {
                    let e = Array(stream[(pos + 2)..<end])
                    if !original {
                        corrupt = true
                        if X25519.sharedSecret(secret: FuzzLink.responderEphemeral.secret, publicKey: e) == nil
                            || X25519.sharedSecret(secret: responderStaticSecret, publicKey: e) == nil {
                            return (out, ("badPeerKey", end))
                        }
                        out.append((end, .anotherMessage2))
                    } else {
                        out.append((end, .exactly(.send(session.listener[0]))))
                    }
                } else if role == .responder {
                    guard original && !corrupt else { return (out, ("authenticationFailed", end)) }
                    if refuse { return (out, ("refused", end)) }
                    out.append((end, .exactly(.established(FuzzLink.alice.publicKey))))
                } else {
                    if !original {
                        let e = Array(stream[(pos + 2)..<(pos + 34)])
                        let small = X25519.sharedSecret(secret: FuzzLink.initiatorEphemeral.secret, publicKey: e) == nil
                        return (out, (small ? "badPeerKey" : "authenticationFailed", end))
                    }
                    if refuse { return (out, ("refused", end)) }
                    out.append((end, .exactly(.send(session.dialer[1]))))
                    out.append((end, .exactly(.established(FuzzLink.bob.publicKey))))
                }
            } else {
                guard length >= ChaChaPoly.tagLength else { return (out, ("badMessage", pos + 2)) }
                guard remaining >= 2 + length else { return (out, nil) }
                guard original else { return (out, ("authenticationFailed", end)) }
                out.append((end, .exactly(.plaintext(plaintexts[index - handshakeLengths.count]))))
            }
            pos = end
            index += 1
        }
    }

    func checkModel(_ ref: Run, role: NoiseHandshake.Role, stream: [UInt8], refuse: Bool) {
        let (want, failure) = predict(stream, role: role, refuse: refuse)
        expect(ref.events.count == want.count, "tampered stream: \(ref.events.count) outputs, the model predicts \(want.count)")
        for (e, (end, w)) in zip(ref.events, want) {
            expect(e.end == end, "tampered stream: an output at offset \(e.end), the model predicts \(end)")
            switch w {
            case .exactly(let o): expect(e.output == o, "tampered stream: output \(e.output) at \(end), the model predicts \(o)")
            case .anotherMessage2:
                if case .send = e.output {} else { expect(false, "tampered stream: \(e.output) instead of message 2") }
            }
        }
        if let (k, end) = failure {
            expect(ref.error.map(kind) == k && ref.errorEnd == end,
                          "tampered stream: failed with \(ref.error.map(kind) ?? "nothing") at \(ref.errorEnd), the model predicts \(k) at \(end)")
            if k == "refused" { expect(ref.error == .refused(refusal), "tampered stream: the refusal's reason changed") }
        } else {
            expect(ref.error == nil, "tampered stream: failed with \(ref.error.map(kind) ?? "") at \(ref.errorEnd), the model predicts no failure")
        }

        // The fixed peer (established, nothing received yet) opens what the link seals, or its farewell.
        var peer = role == .responder ? FuzzLink.session.initiator : FuzzLink.session.responder
        var link = ref.link
        var sealed: [UInt8]?
        var expected: [UInt8] = []
        if ref.error == nil, link.isEstablished {
            expected = Array("sealed after the fuzz stream".utf8)
            do { sealed = try link.seal(expected) } catch { expect(false, "an established link does not seal: \(error)") }
        } else if ref.error == .refused(refusal), role == .responder {
            expected = WireMessage.error(refusal).encodedFrame()
            sealed = link.farewell
            expect(sealed != nil, "a refusing responder holds no farewell")
        }
        if let sealed {
            do {
                let out = try peer.receive(sealed, authorize: admitAll)
                expect(out == [.plaintext(expected)], "the fixed peer opens \(out) instead of what was sealed")
            } catch {
                expect(false, "the fixed peer cannot open what the link sealed: \(error)")
            }
        }
    }

    /// Runs every check on `bytes`.
    public func check(_ bytes: [UInt8]) {
        guard let selector = bytes.first else { return }
        let mode = selector & 3
        let refuse = selector & FuzzLink.refuseBit != 0
        let role: NoiseHandshake.Role = mode == FuzzLink.rawResponder || mode == FuzzLink.tamperDialer ? .responder : .initiator
        let payload = Array(bytes[1...])
        let stream: [UInt8]
        switch mode {
        case FuzzLink.tamperDialer: stream = edited(FuzzLink.session.dialer, payload, edits: selector & FuzzLink.editsBit != 0)
        case FuzzLink.tamperListener: stream = edited(FuzzLink.session.listener, payload, edits: selector & FuzzLink.editsBit != 0)
        default: stream = payload
        }
        let n = stream.count

        let ref = feed(role, stream, ends: referenceEnds(stream), refuse: refuse)
        let wholeEnds = [n]
        checkChunking(ref, feed(role, stream, ends: wholeEnds, refuse: refuse), ends: wholeEnds, "one piece")
        let splitEnds = fuzzSplitPoints(bytes, length: n) + [n]
        if splitEnds != wholeEnds {
            checkChunking(ref, feed(role, stream, ends: splitEnds, refuse: refuse), ends: splitEnds, "chunks ending at \(splitEnds)")
        }
        checkShape(ref, role: role, stream: stream, refuse: refuse)
        if mode == FuzzLink.tamperDialer || mode == FuzzLink.tamperListener {
            checkModel(ref, role: role, stream: stream, refuse: refuse)
        }
        checkFinal(ref, role: role, stream: stream)
    }
}
