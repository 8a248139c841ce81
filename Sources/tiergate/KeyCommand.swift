import ArgumentParser
import TiergateCore
import TiergateCLIKit
import TiergateStorage

struct KeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key", abstract: "Manage a key's signer state.", subcommands: [KeyInit.self, KeyResync.self])
}

struct KeyInit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create the signer state of an ssh-agent key that has never signed in the lab (what keygen does for a key file).",
        discussion: """
            An ssh-agent key's signer state lives in $TIERGATE_STATE_DIR (else $XDG_STATE_HOME/tiergate, else
            ~/.local/state/tiergate) as agent-FINGERPRINT.signer (SPEC.md §7.4). Run this once per machine for a new key;
            a key that has signed before is resynced from an up-to-date ledger with `tiergate key resync` instead
            (starting afresh could sign a second entry at a position it already used).

            Example: tiergate key init --key ssh-agent:SHA256:yizzABH4gIHeZiIUcHpbbYDNCtRR6LaJkKYgLC4kwBI
            """)

    @Option(help: "ssh-agent:FINGERPRINT (the key's SHA256:… fingerprint as ssh-add -l prints it, its tiergate fingerprint, or its comment).")
    var key: String

    func validate() throws {
        guard case .agent = KeyReference(key) else {
            throw ValidationError("key init is for ssh-agent keys (--key ssh-agent:FINGERPRINT); `tiergate keygen` makes a key file with its state")
        }
    }

    func run() throws {
        try guarded {
            let k = try Load.signer(key, passphraseFile: nil)
            let (path, lock) = try KeyReference(key).lockSignerState(for: k.publicKey, waiting: "note: another tiergate is signing with this key; waiting")
            defer { withExtendedLifetime(lock) {} }
            if Files.exists(path) {
                throw CLIFailure.cannotEvaluate(
                    "\(path) already exists: this key has a signer state here; to rebuild it, use `tiergate key resync` with an up-to-date ledger")
            }
            try Files.replace(path, Array(SignerState(publicKey: k.publicKey).json().serialized(pretty: true).utf8), mode: 0o600)
            Out.line("signer state for \(OpenSSH.fingerprint(k.publicKey)) (\(k.publicKey.fingerprint)) created at \(path)")
        }
    }
}

struct KeyResync: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resync",
        abstract: "Rebuild a key's signer state (KEY.signer) from a ledger, after the state was lost or is stale.",
        discussion: """
            The signer state records the last feed position the key signed, so that it never signs two entries at
            one position (equivocation). Resync only from a ledger that holds everything this key ever signed.

            Example: tiergate key resync --key keys/alice.key --roster roster.json --ledger lab.ledger
            """)

    @Option(help: "The secret key file, or ssh-agent:FINGERPRINT for a key held by ssh-agent.") var key: String
    @Option(help: "Passphrase file for a sealed key.") var passphraseFile: String?
    @Option(help: "The lab's genesis roster file.") var roster: String
    @Option(help: "An up-to-date ledger of the lab.") var ledger: String

    func run() throws {
        try guarded {
            let doc = try Load.trustedGenesis(roster)
            let k = try Load.signer(key, passphraseFile: passphraseFile)
            let audit = try Load.audit(ledger, genesis: doc.roster)
            guard audit.isValid else { throw CLIFailure.negative("\(ledger) does not verify; resync from a valid ledger") }
            // No signer with this key runs while the state is rebuilt.
            let (path, lock) = try KeyReference(key).lockSignerState(for: k.publicKey, waiting: "note: another tiergate is signing with this key; waiting")
            defer { withExtendedLifetime(lock) {} }
            var state = SignerState(publicKey: k.publicKey)
            if Files.exists(path), let old = try? SignerState(json: try JSONValue.parse(try Files.read(path))) {
                guard old.publicKey == k.publicKey else { throw CLIFailure.cannotEvaluate("\(path) belongs to another key") }
                state = old
            }
            let g = doc.roster.hash
            guard let head = audit.chain.heads[k.publicKey] else {
                state.feeds[g] = nil
                try Files.replace(path, Array(state.json().serialized(pretty: true).utf8), mode: 0o600)
                Out.line("the ledger holds no entry by this key; the next entry starts its feed at position 1")
                return
            }
            if let f = state.feeds[g], f.seq > head.seq {
                throw CLIFailure.cannotEvaluate(
                    "the signer state is ahead of the ledger (position \(f.seq) vs \(head.seq)); deliver the missing entries instead of resyncing")
            }
            let last = try lastEntry(of: k.publicKey, seq: head.seq, in: ledger, genesis: doc.roster)
            state.feeds[g] = SignerState.Feed(seq: head.seq, id: head.id, time: head.time, lastEntry: last)
            try Files.replace(path, Array(state.json().serialized(pretty: true).utf8), mode: 0o600)
            Out.line("signer state now at feed position \(head.seq) (\(head.id.short)…)")
        }
    }

    private func lastEntry(of key: PublicKey, seq: UInt64, in ledger: String, genesis: Roster) throws -> [UInt8] {
        do {
            let reader = try LedgerReader(path: ledger)
            while let f = try reader.next() {
                if f.typeByte == FrameType.entry.rawValue, let e = try? SignedEntry(decoding: f.payload),
                    e.entry.author == key, e.entry.seq == seq
                {
                    return e.bytes
                }
            }
        } catch {
            throw CLIFailure.cannotEvaluate("\(error)")
        }
        throw CLIFailure.cannotEvaluate("entry \(seq) of this key not found in \(ledger)")
    }
}
