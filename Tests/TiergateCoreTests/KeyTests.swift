import Foundation
import Testing
@testable import TiergateCore
@testable import TiergateStorage
import TiergateTestKit

struct KeyFileTests {
    @Test func plainKeyIsMode0600AndRoundTrips() throws {
        let dir = TempDir()
        let k = VectorKeys.key("alice")
        let path = dir.file("a.key")
        try KeyFiles.writeSecretKey(k, path: path, passphrase: nil)
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as! Int
        #expect(mode == 0o600)
        #expect(try KeyFiles.readSecretKey(path: path, passphrase: nil).publicKey == k.publicKey)
        #expect(throws: KeyFileError.exists(path: path)) { try KeyFiles.writeSecretKey(k, path: path, passphrase: nil) }
    }

    @Test func keyReadableByOthersIsRefused() throws {
        let dir = TempDir()
        let path = dir.file("a.key")
        try KeyFiles.writeSecretKey(VectorKeys.key("alice"), path: path, passphrase: nil)
        chmod(path, 0o644)
        #expect(throws: KeyFileError.permissionsTooOpen(path: path, mode: "644")) { try KeyFiles.readSecretKey(path: path, passphrase: nil) }
        chmod(path, 0o640)
        #expect(throws: KeyFileError.groupReadable(path: path, mode: "640", reason: "it is readable by its group and writable")) {
            try KeyFiles.readSecretKey(path: path, passphrase: nil)
        }
        // A secret mounted read-only for this process's own group (Kubernetes fsGroup: 0440) is accepted.
        chmod(path, 0o440)
        #expect(try KeyFiles.readSecretKey(path: path, passphrase: nil).publicKey == VectorKeys.key("alice").publicKey)
        // The same mode for a group this process is not in is refused, saying which group.
        #expect(throws: KeyFileError.groupReadable(path: path, mode: "440", reason: "it is readable by group 4242, which this process is not in")) {
            try KeyFiles.checkPermissions(path: path, mode: 0o100440, group: 4242, groups: [0, 1000])
        }
        #expect(throws: Never.self) { try KeyFiles.checkPermissions(path: path, mode: 0o100400, group: 4242, groups: [0]) }
        #expect(throws: KeyFileError.permissionsTooOpen(path: path, mode: "444")) {
            try KeyFiles.checkPermissions(path: path, mode: 0o100444, group: 0, groups: [0])
        }
    }

    @Test func sealedKeyNeedsTheRightPassphrase() throws {
        let dir = TempDir()
        let path = dir.file("a.key")
        let k = VectorKeys.key("bob")
        try KeyFiles.writeSecretKey(k, path: path, passphrase: Array("correct horse".utf8))
        #expect(!readBytes(path).contains(subsequence: k.withSeed { Array($0) }))
        #expect(try KeyFiles.readSecretKey(path: path, passphrase: Array("correct horse".utf8)).publicKey == k.publicKey)
        #expect(throws: KeyFileError.wrongPassphrase(path: path)) { try KeyFiles.readSecretKey(path: path, passphrase: Array("wrong".utf8)) }
        #expect(throws: KeyFileError.passphraseRequired(path: path)) { try KeyFiles.readSecretKey(path: path, passphrase: nil) }
        // A flipped ciphertext byte reads as a wrong passphrase / altered file, never as another key.
        var b = readBytes(path)
        b[b.count - 40] ^= 1
        let altered = dir.file("b.key")
        try KeyFiles.writeNew(altered, b, mode: 0o600)
        #expect(throws: KeyFileError.wrongPassphrase(path: altered)) { try KeyFiles.readSecretKey(path: altered, passphrase: Array("correct horse".utf8)) }
    }

    @Test func corruptKeyFilesAreRefused() throws {
        let dir = TempDir()
        let path = dir.file("c.key")
        try KeyFiles.writeNew(path, Array("TGSECKEY\u{1}\u{0}short".utf8), mode: 0o600)
        #expect(throws: KeyFileError.corrupt(path: path, reason: "wrong length")) { try KeyFiles.readSecretKey(path: path, passphrase: nil) }
        let other = dir.file("d.key")
        try KeyFiles.writeNew(other, Array("-----BEGIN OPENSSH PRIVATE KEY-----".utf8), mode: 0o600)
        #expect(throws: KeyFileError.corrupt(path: other, reason: "missing TGSECKEY header")) { try KeyFiles.readSecretKey(path: other, passphrase: nil) }
        // Public key whose fingerprint does not match.
        let pub = dir.file("p.pub")
        let text = KeyFiles.publicKeyJSON(name: "alice", key: VectorKeys.key("alice").publicKey)
            .replacingOccurrences(of: VectorKeys.key("alice").publicKey.fingerprint, with: VectorKeys.key("bob").publicKey.fingerprint)
        try KeyFiles.writeNew(pub, Array(text.utf8), mode: 0o644)
        #expect(throws: KeyFileError.self) { try KeyFiles.readPublicKey(path: pub) }
    }
}

extension Array where Element == UInt8 {
    func contains(subsequence s: [UInt8]) -> Bool {
        guard s.count <= count else { return false }
        return (0...(count - s.count)).contains { Array(self[$0..<$0 + s.count]) == s }
    }
}

struct AuthoringTests {
    func feed(_ seq: UInt64, _ entry: SignedEntry? = nil) -> SignerState.Feed {
        SignerState.Feed(seq: seq, id: entry?.id ?? Digest(bytes: [UInt8](repeating: UInt8(seq), count: 32))!, time: t0, lastEntry: entry?.bytes ?? [])
    }

    @Test func freshKeyStartsAtOne() throws {
        #expect(try Authoring.nextPosition(feed: nil, ledgerHead: .some(nil)).seq == 1)
        #expect(try Authoring.nextPosition(feed: nil, ledgerHead: .none).seq == 1)
    }

    @Test func matchingStateContinues() throws {
        let f = feed(3)
        let p = try Authoring.nextPosition(feed: f, ledgerHead: .some(FeedHead(seq: 3, id: f.id, time: t0)))
        #expect(p == Authoring.Position(seq: 4, prev: f.id, notBefore: t0, redeliver: nil))
    }

    @Test func staleStateIsRefused() {
        #expect(throws: AuthoringError.stale(stateSeq: 2, ledgerSeq: 3)) {
            try Authoring.nextPosition(feed: feed(2), ledgerHead: .some(FeedHead(seq: 3, id: .zero, time: t0)))
        }
        #expect(throws: AuthoringError.stale(stateSeq: 0, ledgerSeq: 1)) {
            try Authoring.nextPosition(feed: nil, ledgerHead: .some(FeedHead(seq: 1, id: .zero, time: t0)))
        }
    }

    @Test func aDifferentEntryAtTheSamePositionIsAFork() {
        #expect(throws: AuthoringError.forked(seq: 3)) {
            try Authoring.nextPosition(feed: feed(3), ledgerHead: .some(FeedHead(seq: 3, id: .zero, time: t0)))
        }
    }

    @Test func anUndeliveredEntryIsDeliveredFirst() throws {
        var lab = Lab()
        let first = lab.halt("erin", at: t0)
        let second = lab.halt("erin", at: t0 + 1)
        let p = try Authoring.nextPosition(feed: feed(2, second), ledgerHead: .some(FeedHead(seq: 1, id: first.id, time: t0)))
        #expect(p.redeliver == second.bytes)
        #expect(p.seq == 3)
        #expect(throws: AuthoringError.undelivered(stateSeq: 2, ledgerSeq: 0)) {
            try Authoring.nextPosition(feed: feed(2, second), ledgerHead: .some(nil))
        }
    }
}
