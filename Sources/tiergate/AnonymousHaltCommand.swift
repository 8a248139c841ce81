import ArgumentParser
import TiergateCore
import TiergateCLIKit
import TiergateStorage

/// `tiergate halt --anonymous`: a ring-signed halt by one of the members who may halt, not saying which
/// (SPEC.md §2.5, §4.1, §5.4), written to a file for someone with any roster key to submit (§10.2).
struct AnonymousHaltSigning {
    var reason: String
    var view: String?
    var slot: UInt32?
    var signing: SigningOptions

    /// Signs and writes it; failures are `CLIFailure`s (the caller's `guarded` turns them into exit codes).
    func run() throws {
        let doc = try Load.trustedGenesis(signing.roster)
        guard case .file(let keyPath) = KeyReference(signing.key) else {
            throw CLIFailure.cannotEvaluate(
                "an anonymous halt needs the key's secret scalar for its ring signature, which an ssh-agent never gives out; use the member's key file")
        }
        let key = try Load.signingKey(keyPath, passphraseFile: signing.passphraseFile)
        // The roster in force and the anonymous halts already made: from a local ledger (never from a node,
        // which would see who asked just before an anonymous halt appeared), else the genesis roster.
        var roster = doc.roster
        var used: Set<PublicKey> = []
        if let v = view {
            let audit = try Load.audit(v, genesis: doc.roster)
            if !audit.isValid {
                throw CLIFailure.negative("\(v) does not verify (\(audit.problems.count) problem(s), first: \(audit.problems[0])); run `tiergate ledger verify`")
            }
            roster = Verdict.compute(genesis: doc.roster, tally: audit.tally, at: SystemClock.nowMs()).roster
            for h in audit.tally.halts.values where h.anonymous != nil { used.insert(h.author) }
        } else if let rv = signing.rosterVersion, rv != 1 {
            throw CLIFailure.cannotEvaluate("--roster-version \(rv): give --view LEDGER, a ledger that holds that roster version")
        }
        let policy = roster.policy.anonymous
        guard policy.allowed else {
            throw CLIFailure.negative("roster version \(roster.version) of lab \(roster.lab) does not allow anonymous halts (policy anonymous_halts.per_period is 0); sign a named halt")
        }
        guard let me = roster.member(withKey: key.publicKey), roster.policy.mayHalt(roles: me.roles) else {
            throw CLIFailure.negative("key \(key.publicKey.fingerprint) may not halt under roster version \(roster.version), so it is in no ring")
        }
        let ring = roster.policy.haltSet(in: roster)
        guard ring.count >= 2 else {
            throw CLIFailure.negative("only one member may halt under roster version \(roster.version): an anonymous halt would name them; sign a named halt")
        }
        let now = SystemClock.nowMs()
        let period = policy.period(at: now)
        // A slot of this period whose key image no anonymous halt in --view used, picked at random (the first free one
        // would tell that slot k's signer already made slots 0…k−1); reusing one is reported as reuse (it still counts).
        var chosen = slot ?? 0
        if slot == nil {
            let free = (0..<policy.perPeriod).filter { s in
                !used.contains(PublicKey(bytes: RingSignature.keyImage(of: key, .init(genesis: doc.roster.hash, period: period, slot: s)))!)
            }.randomElement()
            if let f = free { chosen = f } else {
                Out.err("warning: all \(policy.perPeriod) anonymous halt(s) of this period were used: this one reuses a key image and will be reported as reuse (it still counts until resumed)")
            }
        }
        guard chosen < policy.perPeriod else {
            throw CLIFailure.cannotEvaluate("--slot \(chosen): the policy allows \(policy.perPeriod) anonymous halt(s) per period (slots 0…\(policy.perPeriod - 1))")
        }
        let names = roster.members.filter { ring.contains($0.key) }.map(\.name)
        let start = period * policy.periodMs
        Out.err("""
            signing an ANONYMOUS halt:
              lab:       \(roster.lab), roster version \(roster.version)
              ring:      \(ring.count) members who may halt (\(names.joined(separator: ", "))); nobody can tell which signed
              period:    \(TimeText.format(start)) – \(TimeText.format(start.addingSaturating(policy.periodMs))), slot \(chosen) of \(policy.perPeriod)
              reason:    "\(reason)"
            note: the reason's words, the time and where you submit it can still point at you (protocol-spec/SPEC.md §10.2);
                  nodes take it by SUBMIT until the end of the period after this one
            """)
        let halt = AnonymousHalt(period: period, slot: chosen, ring: ring, reason: reason)
        let signed: SignedEntry
        do {
            signed = try SignedEntry.anonymousHalt(lab: roster.lab, genesis: doc.roster.hash, rosterVersion: roster.version,
                                                   time: now, halt: halt, signer: key)
        } catch { throw CLIFailure.cannotEvaluate("\(error)") }
        guard signed.signatureIsValid else { throw CLIFailure.cannotEvaluate("the ring signature does not verify; nothing was written") }
        let out = signing.out!
        try Files.replace(out, signed.bytes)
        if signing.json {
            Out.json(.object([
                ("ok", .bool(true)), ("id", .string(signed.id.hex)), ("kind", .string("anonymous_halt")),
                ("halt_id", .string(signed.id.hex)), ("ring_size", .int(ring.count)), ("period", .uint(period)),
                ("slot", .uint(UInt64(chosen))), ("key_image", .string(signed.entry.author.hex)), ("out", .string(out)),
            ]))
        } else {
            Out.err("wrote \(out); submit it with `tiergate submit \(out) --node HOST:PORT --node HOST:PORT --key ANY_ROSTER_KEY` — from another machine, another member's key or the cluster's observer key, or later")
            Out.line(signed.id.hex)
        }
    }
}
