import ArgumentParser
import TiergateCore
import TiergateCLIKit
import TiergateStorage

struct LedgerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ledger",
        abstract: "Create, verify, append to, or export (from a node) a ledger file.",
        subcommands: [LedgerInit.self, LedgerVerify.self, LedgerAppend.self, LedgerExport.self])
}

struct LedgerVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Offline audit: check every checksum, signature, feed chain and amendment; recompute the verdict.",
        discussion: """
            Needs only the genesis roster and the ledger file: no network. Exit 0 valid, 1 invalid (each problem
            listed with its entry number and byte offset), 2 unreadable. Signature checks use all cores; memory stays
            bounded as the ledger grows. A progress bar shows on a terminal for large ledgers.

            Example: tiergate ledger verify lab.ledger --roster roster.json --at 2026-11-29T12:00:00Z
            """)

    @Argument(help: "The ledger file.") var file: String
    @Option(help: "The lab's genesis roster file (the trust anchor).") var roster: String
    @Option(help: "Recompute the verdict at this RFC 3339 UTC time (default: now).") var at: String?
    @Flag(help: "Print a JSON object.") var json = false

    func run() throws {
        let at = try Load.time(at, option: "--at")
        try guarded(json: json) {
            let doc = try Load.trustedGenesis(roster)
            let audit = try Load.audit(file, genesis: doc.roster, progress: !json)
            let verdict = Verdict.compute(genesis: doc.roster, tally: audit.tally, at: at)
            if json {
                Out.json(.object([
                    ("valid", .bool(audit.isValid)), ("ledger", .string(file)), ("genesis", .string(doc.roster.hash.hex)),
                    ("frames", .int(audit.frames)), ("bytes", .int(audit.bytes)), ("feeds", .int(audit.chain.heads.count)),
                    ("problems", .array(audit.problems.map { p in
                        .object([
                            ("entry", p.frameIndex.map { .int($0) } ?? .null), ("offset", .int(p.offset)),
                            ("id", p.entryId.map { .string($0.hex) } ?? .null), ("message", .string(p.message)),
                        ])
                    })),
                    ("gaps", .array(audit.gaps.map { g in
                        .object([("public_key", .string(g.author.hex)), ("missing_from", .uint(g.missingFrom)), ("missing_to", .uint(g.missingTo))])
                    })),
                    ("verdict", verdict.json()),
                ]))
            } else {
                Out.line("ledger \(file): \(audit.frames) frame(s), \(audit.bytes) bytes, \(audit.chain.heads.count) feed(s)")
                for p in audit.problems { Out.line("PROBLEM: \(p)") }
                for g in audit.gaps {
                    let who = verdict.roster.member(withKey: g.author)?.name ?? g.author.fingerprint
                    Out.line("gap: \(who)'s feed lacks positions \(g.missingFrom)...\(g.missingTo) (a later halt was seen and counts)")
                }
                Out.line(verdict.text())
                Out.line(audit.isValid ? "VALID: every entry verified against genesis roster \(doc.roster.hash.short)…"
                    : "INVALID: \(audit.problems.count) problem(s)")
            }
            if !audit.isValid { throw ExitCode(1) }
        }
    }
}

struct LedgerAppend: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "append",
        abstract: "Append signed entry files (from --out) to a local ledger, in order.",
        discussion: """
            Each entry is verified (signature, lab, feed chain) before anything is written; fsync'd before exit 0.
            Example: tiergate ledger append vote-bob.entry --ledger lab.ledger --roster roster.json
            """)

    @Argument(help: "Signed entry files, in feed order.") var entries: [String]
    @Option(help: "The ledger file.") var ledger: String
    @Option(help: "The lab's genesis roster file.") var roster: String

    func run() throws {
        try guarded {
            let doc = try Load.trustedGenesis(roster)
            var signed: [SignedEntry] = []
            for path in entries {
                let bytes = try Files.read(path, max: Limits.maxEntryBytes)
                do { signed.append(try SignedEntry(decoding: bytes).verified(lab: doc.roster.lab, genesis: doc.roster.hash)) } catch {
                    throw CLIFailure.negative("\(path): \(error)")
                }
            }
            let writer: LedgerWriter
            do { writer = try LedgerWriter(path: ledger, genesis: doc.roster.hash) } catch {
                throw CLIFailure.cannotEvaluate("\(error)")
            }
            var fresh: [SignedEntry] = []
            for s in signed {
                if let h = writer.chain.heads[s.entry.author], s.entry.seq <= h.seq {
                    if s.entry.seq == h.seq && s.id == h.id {
                        Out.err("\(s.id.short)… is already in \(ledger); skipped")
                        continue
                    }
                }
                fresh.append(s)
            }
            // Entries in no feed (an anonymous halt, a drill acknowledgement) are DETACHED frames (SPEC.md §6.3).
            do {
                try writer.append(entries: fresh.filter { !$0.entry.kind.isStandalone })
                for s in fresh where s.entry.kind.isStandalone { try writer.appendDetachedHalt(s) }
            } catch { throw CLIFailure.negative("\(error)") }
            Out.line("appended \(fresh.count) entr\(fresh.count == 1 ? "y" : "ies") to \(ledger)")
        }
    }
}

struct LedgerInit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create an empty ledger (header only) for a lab's genesis roster.",
        discussion: "Example: tiergate ledger init lab.ledger --roster roster.json")

    @Argument(help: "The ledger file to create.") var file: String
    @Option(help: "The lab's genesis roster file.") var roster: String

    func run() throws {
        try guarded {
            let doc = try Load.trustedGenesis(roster)
            guard !Files.exists(file) else { throw CLIFailure.cannotEvaluate("\(file) already exists") }
            do { _ = try LedgerWriter(path: file, genesis: doc.roster.hash) } catch { throw CLIFailure.cannotEvaluate("\(error)") }
            Out.line("created \(file) for lab \(doc.roster.lab) (genesis \(doc.roster.hash.hex))")
        }
    }
}
