import Foundation
import Testing
import TiergateCore
@testable import TiergateStorage
import TiergateNode
import TiergateTestKit

/// Issue 9 over real sockets on 127.0.0.1: only roster members connect, links are bound to the lab, a man in the
/// middle who alters one byte or replays a recorded handshake gets nothing through, observers are read-only.
@Suite(.serialized) struct SecureLinkTests {
    /// A lab with the five default members plus `gate`, an observer (the training cluster's key).
    static func labWithObserver() -> Lab {
        // One node issues tokens alone here (freshness 1): these tests are about the link, not the freshness rule.
        Lab(members: Lab.defaultMembers + [("gate", [Member.observerRole])], policy: { _ in
            var p = Policy.defaultPolicy(memberCount: 5)
            p.freshness = FreshnessRule(minAttesters: 1)
            return p
        })
    }

    func entries(_ node: TestNode, _ lab: Lab) throws -> Int { try node.client(lab).status().verdict.entryCount }

    @Test func aNonMemberKeyIsRefused() throws {
        var lab = Lab()
        lab.addOutsider("mallory")
        let node = try TestNode(lab: lab)
        defer { node.stop() }
        // The CLI's client learns why, from an encrypted ERROR sent after the handshake proved the key.
        do {
            _ = try node.client(lab, as: "mallory")
            Issue.record("a non-member connected")
        } catch {
            #expect("\(error)".contains("is not a member of this lab's roster"), "\(error)")
        }
        #expect(waitFor(5) { node.logs.contains("link refused") && node.logs.contains(lab.keys["mallory"]!.publicKey.fingerprint) }, "\(node.logs.all)")
        // A raw attacker holding a member's signed entry gets nothing in either.
        let raw = try RawPeer(port: node.port)
        #expect(raw.handshake(genesis: lab.genesis.hash, as: lab.keys["mallory"]!) == nil, "the initiator finishes its side")
        raw.send(.hello(version: 1, genesis: lab.genesis.hash, role: .node, name: "m"))
        raw.send(.entries([lab.halt("erin", at: SystemClock.nowMs()).bytes]))
        let (messages, closed) = raw.readUntilClosed()
        #expect(closed)
        #expect(messages.errorReason?.contains("not a member") == true)
        #expect(try entries(node, lab) == 0, "nothing from a non-member was stored")
    }

    @Test func aClientRefusesANodeThatProvesAnUnexpectedKey() throws {
        let lab = Lab()
        let node = try TestNode(lab: lab, identity: "carol")
        defer { node.stop() }
        let expectedElsewhere = Set(["alice", "bob"].map { lab.keys[$0]!.publicKey })
        do {
            _ = try NodeClient(endpoint: Endpoint(host: "127.0.0.1", port: node.port), genesis: lab.genesis.hash,
                               identity: lab.keys["dave"]!, nodeKeys: expectedElsewhere)
            Issue.record("the client accepted a node key it was not told to trust")
        } catch {
            #expect("\(error)".contains("not a node-running member"), "\(error)")
        }
        let ok = try NodeClient(endpoint: Endpoint(host: "127.0.0.1", port: node.port), genesis: lab.genesis.hash,
                                identity: lab.keys["dave"]!, nodeKeys: [lab.keys["carol"]!.publicKey])
        #expect(ok.nodeKey == lab.keys["carol"]!.publicKey)
    }

    @Test func aWrongLabNodeIsRefused() throws {
        var lab = Lab()
        var other = Lab(lab: "other")  // the same member keys, another genesis: keys alone do not open a link
        let node = try TestNode(lab: lab)
        defer { node.stop() }
        let intruder = try TestNode(lab: other, peers: [node.port], identity: "alice")
        defer { intruder.stop() }
        #expect(try intruder.client(other).submit(other.halt("erin", at: SystemClock.nowMs())).0 == .stored)
        #expect(waitFor(10) { intruder.logs.contains("authentication failed") && node.logs.contains("link refused") },
                "node: \(node.logs.all)\nintruder: \(intruder.logs.all)")
        // The dialer backs off as from a misbehaving peer (10 s), instead of redialing at 100 ms, 200 ms, 400 ms…
        usleep(1_500_000)
        let attempts = intruder.logs.all.filter { $0.contains("link refused") }.count
        #expect(attempts == 1, "the refused dialer retried \(attempts) times in 1.5 s: \(intruder.logs.all)")
        #expect(try entries(node, lab) == 0, "the other lab's halt never crossed")
        #expect(try intruder.client(other).status().node?.peerNodes == 0)
        // A client bound to the other lab fails the same way.
        #expect(throws: ClientError.self) {
            _ = try NodeClient(endpoint: Endpoint(host: "127.0.0.1", port: node.port), genesis: other.genesis.hash, identity: other.keys["bob"]!)
        }
        // And the node still serves its own lab.
        #expect(try node.client(lab).submit(lab.halt("erin", at: SystemClock.nowMs())).0 == .stored)
    }

    /// Stream offsets (2-byte length prefixes included): dialer → node carries message 1 (34 bytes), message 3
    /// (162 bytes), then sealed protocol bytes; node → dialer carries message 2 (194 bytes), then sealed bytes.
    static let flips: [(toTarget: Bool, offset: Int, what: String)] = [
        (true, 1, "message 1 length"), (true, 10, "initiator ephemeral key"), (true, 40, "initiator static key (encrypted)"),
        (true, 150, "initiator identity payload"), (true, 195, "message 3 tag"), (true, 200, "first transport message"),
        (true, 230, "HELLO ciphertext"),
        (false, 5, "responder ephemeral key"), (false, 60, "responder static key (encrypted)"),
        (false, 120, "responder identity payload"), (false, 193, "message 2 tag"), (false, 200, "node's HELLO ciphertext"),
    ]

    @Test(arguments: 0..<SecureLinkTests.flips.count)
    func aManInTheMiddleFlippingOneByteGetsTheConnectionDropped(_ index: Int) throws {
        let flip = Self.flips[index]
        var lab = Lab()
        let node = try TestNode(lab: lab)
        defer { node.stop() }
        let proxy = try LinkProxy(to: node.port)
        defer { proxy.stop() }
        proxy.tamper(toTarget: flip.toTarget, offset: flip.offset)
        let halt = lab.halt("erin", at: SystemClock.nowMs())
        var stored = false
        var clientError = ""
        do {
            let client = try NodeClient(endpoint: Endpoint(host: "127.0.0.1", port: proxy.port), genesis: lab.genesis.hash, identity: lab.keys["erin"]!, timeout: .seconds(3))
            defer { client.close() }
            stored = try client.submit(halt).0 == .stored
        } catch {
            clientError = "\(error)"
        }
        #expect(!stored, "\(flip.what): an altered stream delivered an entry")
        #expect(proxy.recorded(toTarget: flip.toTarget).count > flip.offset, "\(flip.what): the flipped byte was relayed")
        #expect(try entries(node, lab) == 0, "\(flip.what): the node stored something")
        // The node logs why the link ended: bytes it could not authenticate itself (message 3 on), a malformed
        // length, or — for an altered message 1, which only the dialer can detect (at message 2) — the dialer leaving.
        if flip.toTarget || flip.offset < 194 {
            let expected = !flip.toTarget ? "link refused" : flip.offset == 1 ? "malformed handshake message"
                : flip.offset < 34 ? "closed the connection during the handshake" : "authentication failed"
            #expect(waitFor(5) { node.logs.contains(expected) }, "\(flip.what): \(node.logs.all)")
        }
        if !flip.toTarget {
            // Bytes altered on their way to the dialer: the dialer itself detects it and says so.
            #expect(clientError.contains("authentication failed"), "\(flip.what): \(clientError)")
        }
        // Without the tamper, the same path works: the failure was the flipped byte.
        proxy.tamper(toTarget: flip.toTarget, offset: -1)
        let direct = try NodeClient(endpoint: Endpoint(host: "127.0.0.1", port: proxy.port), genesis: lab.genesis.hash, identity: lab.keys["erin"]!)
        #expect(try direct.submit(halt).0 == .stored)
    }

    @Test func aReplayedRecordedHandshakeFails() throws {
        var lab = Lab()
        let a = try TestNode(lab: lab)
        defer { a.stop() }
        let proxy = try LinkProxy(to: a.port)
        defer { proxy.stop() }
        let client = try NodeClient(endpoint: Endpoint(host: "127.0.0.1", port: proxy.port), genesis: lab.genesis.hash, identity: lab.keys["erin"]!)
        #expect(try client.submit(lab.halt("erin", at: SystemClock.nowMs())).0 == .stored)
        client.close()
        let recording = proxy.recorded(toTarget: true)
        #expect(recording.count > 34 + 162, "a whole session was recorded")
        // Replay the client's bytes, verbatim, to a fresh node of the same lab that never saw the halt.
        let b = try TestNode(lab: lab)
        defer { b.stop() }
        let raw = try RawPeer(port: b.port)
        raw.sendRaw(recording)
        let (messages, closed) = raw.readUntilClosed()
        #expect(closed)
        #expect(messages.isEmpty)
        #expect(waitFor(5) { b.logs.contains("authentication failed") }, "\(b.logs.all)")
        #expect(try entries(b, lab) == 0, "the replayed session delivered nothing")
    }

    @Test func anObserverReadsStatusAndTokensButCannotSubmit() throws {
        var lab = Self.labWithObserver()
        let node = try TestNode(lab: lab, attester: "alice")
        defer { node.stop() }
        let member = try node.client(lab, as: "alice")
        let now = SystemClock.nowMs()
        let p = lab.propose("alice", tier: 1, at: now - 2_000)
        #expect(try member.submit(p).0 == .stored)
        for who in ["alice", "bob", "carol"] { #expect(try member.submit(lab.vote(who, p, at: now - 1_000)).0 == .stored) }

        let observer = try node.client(lab, as: "gate")
        #expect(try observer.status().verdict.authorizedTier == 1, "an observer reads status")
        let token = try observer.token(tier: 1)
        #expect(try TokenChecker.check(try TierToken(decoding: token), genesis: lab.genesis, tier: 1, now: SystemClock.nowMs()).rosterVersion == 1,
                "an observer fetches a token that checks")
        // Neither its own vote nor a member's entry relayed through its link is accepted.
        let own = lab.vote("gate", p, .no, at: now)
        let (s1, r1) = try observer.submit(own)
        #expect(s1 == .rejected && r1.contains("read-only"), "\(r1)")
        let relayed = lab.halt("erin", at: now)
        let (s2, r2) = try observer.submit(relayed)
        #expect(s2 == .rejected && r2.contains("read-only"), "\(r2)")
        // Through a member's link, the observer's own vote is refused as an observer's.
        let (s3, r3) = try member.submit(own)
        #expect(s3 == .rejected && r3.contains("observer"), "\(r3)")
        #expect(try member.status().verdict.entryCount == 4)
        // An observer may not join the gossip as a node.
        let raw = try RawPeer(port: node.port)
        #expect(raw.handshake(genesis: lab.genesis.hash, as: lab.keys["gate"]!) == nil)
        raw.send(.hello(version: 1, genesis: lab.genesis.hash, role: .node, name: "gate"))
        let (messages, closed) = raw.readUntilClosed()
        #expect(closed && messages.errorReason?.contains("client only") == true)
    }
}
