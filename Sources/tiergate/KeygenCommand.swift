import ArgumentParser
import TiergateCore
import TiergateCLIKit
import TiergateStorage

struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Generate an Ed25519 key pair: DIR/NAME.pub (text) and DIR/NAME.key (mode 0600).",
        discussion: """
            The secret key file is sealed with Argon2id + XSalsa20-Poly1305 when --passphrase-file is given.
            A signer-state file DIR/NAME.key.signer is created beside it: it records the last feed position the
            key signed, so that the key never signs two entries at one position. Keep the three files together.

            Example: tiergate keygen --name alice --out ~/.tiergate --passphrase-file ~/.tiergate/pass
            """)

    @Option(help: "Member name (a-z, 0-9, '.', '_', '-').") var name: String
    @Option(help: "Directory to write the key files to (created if missing).") var out: String
    @Option(help: "File holding a passphrase to seal the secret key with.") var passphraseFile: String?
    @Flag(help: "Print a JSON object instead of text.") var json = false

    func validate() throws {
        do { try TextRules.checkIdentifier(name, field: "--name") } catch {
            throw ValidationError("\(error)")
        }
        guard name != "*" else { throw ValidationError("--name '*' is reserved") }
    }

    func run() throws {
        try guarded(json: json) {
            try Files.makeDirectory(out)
            let pub = "\(out)/\(name).pub"
            let sec = "\(out)/\(name).key"
            let pass = try Load.passphrase(passphraseFile)
            let key = SigningKey.generate()
            do {
                try KeyFiles.writeSecretKey(key, path: sec, passphrase: pass)
                try KeyFiles.writeNew(pub, Array(KeyFiles.publicKeyJSON(name: name, key: key.publicKey).utf8), mode: 0o644)
                let state = SignerState(publicKey: key.publicKey)
                try KeyFiles.replace(SignerState.path(forKey: sec), Array(state.json().serialized(pretty: true).utf8), mode: 0o600)
            } catch {
                throw CLIFailure.cannotEvaluate("\(error)")
            }
            if json {
                Out.json(.object([
                    ("ok", .bool(true)), ("name", .string(name)), ("public_key", .string(key.publicKey.hex)),
                    ("fingerprint", .string(key.publicKey.fingerprint)), ("public_key_file", .string(pub)),
                    ("secret_key_file", .string(sec)), ("encrypted", .bool(pass != nil)),
                ]))
            } else {
                Out.line("wrote \(pub) and \(sec) (mode 0600\(pass != nil ? ", passphrase-sealed" : ""))")
                Out.line("fingerprint: \(key.publicKey.fingerprint)")
            }
        }
    }
}
