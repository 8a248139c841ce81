import Foundation
import Testing
@testable import TiergateCore
@testable import TiergateStorage
import TiergateTestKit

struct CryptoTests {
    /// Wycheproof cases where libsodium's verdict deliberately differs from Wycheproof's, by tcId, with the reason.
    /// Empty: the 150 cases of the shipped file are all "valid"/"invalid" and libsodium 1.0.18 agrees with each.
    /// (Wycheproof marks no case "acceptable" here; libsodium's stricter small-order and non-canonical checks
    /// coincide with "invalid" in this file.)
    static let knownDeviations: [Int: String] = [:]

    @Test func wycheproofEd25519AllCasesAgreeWithLibsodium() throws {
        let url = URL(fileURLWithPath: Paths.thirdPartyVectors + "/wycheproof-ed25519_test.json")
        let data = try Data(contentsOf: url)
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let groups = try #require(root["testGroups"] as? [[String: Any]])
        var count = 0
        var differing: [String] = []
        for g in groups {
            let pkHex = try #require((g["publicKey"] as? [String: Any])?["pk"] as? String)
            let pk = try #require(Hex.decode(pkHex))
            for t in try #require(g["tests"] as? [[String: Any]]) {
                count += 1
                let id = try #require(t["tcId"] as? Int)
                let msgHex = try #require(t["msg"] as? String)
                let sigHex = try #require(t["sig"] as? String)
                let msg = try #require(Hex.decode(msgHex))
                let sig = try #require(Hex.decode(sigHex))
                let expected = try #require(t["result"] as? String)
                let got = Ed25519.verify(signature: sig, message: msg, publicKey: pk)
                let agrees = expected == "acceptable" || (expected == "valid") == got
                if !agrees && Self.knownDeviations[id] == nil {
                    differing.append("tcId \(id) (\(t["comment"] as? String ?? "")): wycheproof \(expected), libsodium \(got)")
                }
            }
        }
        #expect(count == 150)
        #expect(differing.isEmpty, "verdicts differing from Wycheproof: \(differing)")
    }

    @Test func blake2b256KnownAnswers() {
        // BLAKE2b-256 of "" and of "abc" (reference values from the BLAKE2 reference implementation).
        #expect(Blake2b.hash256([]).hex == "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8")
        #expect(Blake2b.hash256(Array("abc".utf8)).hex == "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319")
    }

    @Test func incrementalHashEqualsOneShot() {
        let data = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var h = Blake2b.Hasher()
        data.withUnsafeBytes { all in
            h.update(UnsafeRawBufferPointer(rebasing: all[0..<7]))
            h.update(UnsafeRawBufferPointer(rebasing: all[7..<65_536]))
            h.update(UnsafeRawBufferPointer(rebasing: all[65_536...]))
        }
        #expect(h.finalize() == Blake2b.hash256(data))
    }

    @Test func signVerifyRoundTripAndTamper() {
        let k = VectorKeys.key("alice")
        var msg = Array("hello".utf8)
        let sig = k.sign(msg)
        #expect(k.publicKey.verify(signature: sig, message: msg))
        msg[0] ^= 1
        #expect(!k.publicKey.verify(signature: sig, message: msg))
        #expect(!k.publicKey.verify(signature: Array(sig.dropLast()), message: msg))
    }

    @Test func seedDerivationIsRFC8032() throws {
        // RFC 8032 §7.1 TEST 1.
        let k = try SigningKey(seed: Hex.decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")!)
        #expect(k.publicKey.hex == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
        #expect(Hex.encode(k.sign([])) == "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
        #expect(throws: CryptoError.badSeedLength(31)) { try SigningKey(seed: [UInt8](repeating: 0, count: 31)) }
    }

    @Test func constantTimeCompareAndZeroing() {
        #expect(Sodium.constantTimeEqual([1, 2, 3], [1, 2, 3]))
        #expect(!Sodium.constantTimeEqual([1, 2, 3], [1, 2, 4]))
        #expect(!Sodium.constantTimeEqual([1, 2, 3], [1, 2]))
        var secret: [UInt8] = [9, 9, 9]
        Sodium.zero(&secret)
        #expect(secret == [0, 0, 0])
    }

    @Test func fingerprintFormat() {
        let fp = VectorKeys.key("alice").publicKey.fingerprint
        #expect(fp.count == 24)
        #expect(fp.split(separator: "-").count == 5)
        #expect(fp != VectorKeys.key("bob").publicKey.fingerprint)
    }

    @Test func hexRejectsNonHex() {
        #expect(Hex.decode("0g") == nil)
        #expect(Hex.decode("abc") == nil)
        #expect(Hex.decode("ABcd") == [0xab, 0xcd])
    }
}
