import Foundation
import TiergateCore

extension Bench {
    /// Anonymous halts (SPEC.md §2.5): signing and verifying a linkable ring signature over 8, 64 and 256 members, each
    /// as a ratio of one Ed25519 verify (libsodium's `crypto_sign_verify_detached`) measured in the same run.
    func ring() throws -> JSONValue {
        let sizes = quick ? [8, 64] : [8, 64, 256]
        say("\n== ring: anonymous-halt ring signatures (LSAG) vs one Ed25519 verify")
        let message = Array(repeating: UInt8(7), count: 200)
        let signer = try SigningKey(seed: Blake2b.hash256(Array("tiergate/v1/bench-ring/0".utf8)).bytes)
        let sig = signer.sign(message)
        // Baseline: Ed25519 verifies per second.
        let baseN = quick ? 2_000 : 20_000
        var ok = 0
        let t0 = ContinuousClock.now
        for _ in 0..<baseN where signer.publicKey.verify(signature: sig, message: message) { ok += 1 }
        let ed = Bench.seconds(ContinuousClock.now - t0) / Double(baseN)
        precondition(ok == baseN)
        say("  baseline: one Ed25519 verify \(fmt(ed * 1e6, 1)) µs")
        var rows: [JSONValue] = []
        for n in sizes {
            var keys = [signer]
            for i in 1..<n { keys.append(try SigningKey(seed: Blake2b.hash256(Array("tiergate/v1/bench-ring/\(i)".utf8)).bytes)) }
            let ring = keys.map(\.publicKey).sorted()
            let ctx = RingSignature.Context(genesis: Blake2b.hash256([1]), period: 1, slot: 0)
            let reps = quick ? 2 : max(3, 2048 / n)
            var signed: (image: [UInt8], signature: [UInt8]) = ([], [])
            let s0 = ContinuousClock.now
            for _ in 0..<reps { signed = try RingSignature.sign(message: message, ring: ring, signer: signer, context: ctx) }
            let signT = Bench.seconds(ContinuousClock.now - s0) / Double(reps)
            let v0 = ContinuousClock.now
            for _ in 0..<reps {
                precondition(RingSignature.verify(message: message, ring: ring, image: signed.image, signature: signed.signature, context: ctx))
            }
            let verifyT = Bench.seconds(ContinuousClock.now - v0) / Double(reps)
            say("  \(n) members: sign \(fmt(signT * 1e3, 2)) ms (\(fmt(signT / ed, 0))× an Ed25519 verify), verify \(fmt(verifyT * 1e3, 2)) ms (\(fmt(verifyT / ed, 0))×; \(fmt(verifyT / ed / Double(n), 1))× per member), signature \(signed.signature.count) bytes")
            rows.append(.object([
                ("members", .int(n)), ("sign_ms", .number(fmt(signT * 1e3, 3))), ("verify_ms", .number(fmt(verifyT * 1e3, 3))),
                ("sign_ratio", .number(fmt(signT / ed, 1))), ("verify_ratio", .number(fmt(verifyT / ed, 1))),
                ("signature_bytes", .int(signed.signature.count)),
            ]))
        }
        return .object([("ed25519_verify_us", .number(fmt(ed * 1e6, 2))), ("rings", .array(rows))])
    }
}
