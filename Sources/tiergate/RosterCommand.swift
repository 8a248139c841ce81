import Foundation
import ArgumentParser
import TiergateCore
import TiergateCLIKit
import TiergateStorage

struct RosterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "roster",
        abstract: "Create, sign, show and verify the genesis roster: the lab's members, roles and policy.",
        discussion: "The genesis roster's hash is the lab's trust anchor; every founder (every member listed) signs it.",
        subcommands: [RosterInit.self, RosterSign.self, RosterShow.self, RosterVerify.self])
}

struct RosterInit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Write a new, unsigned genesis roster.",
        discussion: """
            Without --policy the default policy applies: advance and resume by strict majority of members, halt by
            any member, amend by two thirds, 7-day voting windows, 10-minute token TTL, 30-day lapse, 2-minute skew.
            A policy file is a JSON object with any of: advance, advance_overrides, halt_roles, resume, amend,
            amend_cooling_off, token_ttl, lapse, max_skew, freshness, drill, anonymous_halts (see protocol-spec/SPEC.md §3.4). The default
            freshness rule makes every token need the attestations of two members' nodes (one with a single voting
            member): no single node can issue one, and with fewer than two nodes up none is issued (fail closed).
            "drill": {"enforcers": [...], "interval": "30d", "deadline": "1m", "lapse_on_overdue": true} schedules
            halt drills (`tiergate drill`); a roster with drill settings is written as tiergate-roster-v3.
            "anonymous_halts": {"per_period": 1, "period": "30d"} lets each member who may halt sign that many
            anonymous halts per period (`tiergate halt --anonymous`); such a roster is written as tiergate-roster-v4.

            Example:
              tiergate roster init --lab acme --out roster.json --base-tier 2 --max-tier 4 \\
                --member alice:keys/alice.pub:leader --member bob:keys/bob.pub:safety,board \\
                --member "carol:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI…:safety"
            A member's key is a tiergate .pub file, an OpenSSH public key file (ssh-keygen's NAME.pub), or an OpenSSH
            public key line itself (ssh-ed25519 only): such a key can stay in ssh-agent (--key ssh-agent:SHA256:…).
            """)

    @Option(help: "Lab id (a-z, 0-9, '.', '_', '-').") var lab: String
    @Option(help: "Roster file to write.") var out: String
    @Option(parsing: .singleValue, help: "A member as NAME:PUBFILE:ROLE[,ROLE...] or NAME:ssh-ed25519 AAAA…:ROLE[,ROLE...]; repeat for each member.")
    var member: [String] = []
    @Option(help: "The tier the lab may train at without any vote.") var baseTier: UInt32 = 0
    @Option(help: "The highest tier of the ladder (default: base tier + 4).") var maxTier: UInt32?
    @Option(help: "JSON policy file (default policy when omitted).") var policy: String?
    @Flag(help: "Overwrite an existing file.") var force = false

    func validate() throws {
        guard !member.isEmpty else { throw ValidationError("give at least one --member NAME:PUBFILE:ROLE") }
        for m in member where Self.split(m) == nil {
            throw ValidationError("--member takes NAME:PUBFILE:ROLE[,ROLE...] (or NAME:ssh-ed25519 AAAA…:ROLE), got '\(m)'")
        }
    }

    /// NAME, the key (a file or an OpenSSH key line), ROLES: split at the first and the last colon.
    static func split(_ spec: String) -> (name: String, key: String, roles: String)? {
        guard let first = spec.firstIndex(of: ":"), let last = spec.lastIndex(of: ":"), first != last else { return nil }
        let key = String(spec[spec.index(after: first)..<last])
        guard !key.isEmpty else { return nil }
        return (String(spec[..<first]), key, String(spec[spec.index(after: last)...]))
    }

    /// A member's key: an OpenSSH public key line, or a file holding a tiergate public key (JSON) or an OpenSSH one.
    static func memberKey(_ source: String) throws -> PublicKey {
        let trimmed = source.trimmingCharacters(in: .whitespaces)
        if trimmed.contains(" "), !Files.exists(source) {
            do { return try OpenSSH.parse(line: trimmed).key } catch { throw CLIFailure.cannotEvaluate("\(error)") }
        }
        let bytes = try Files.read(source, max: 64 << 10)
        let text = String(decoding: bytes, as: UTF8.self)
        if text.trimmingCharacters(in: .whitespacesAndNewlines).hasPrefix("{") {
            do { return try KeyFiles.publicKey(fileBytes: bytes, path: source).key } catch { throw CLIFailure.cannotEvaluate("\(error)") }
        }
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        guard lines.count == 1 else {
            throw CLIFailure.cannotEvaluate("\(source): expected one tiergate public key (JSON) or one OpenSSH public key line, found \(lines.count) lines")
        }
        do { return try OpenSSH.parse(line: lines[0]).key } catch { throw CLIFailure.cannotEvaluate("\(source): \(error)") }
    }

    func run() throws {
        try guarded {
            if Files.exists(out) && !force {
                throw CLIFailure.cannotEvaluate("\(out) already exists; pass --force to overwrite it")
            }
            var members: [Member] = []
            for spec in member {
                let parts = Self.split(spec)!
                let key = try Self.memberKey(parts.key)
                members.append(Member(name: parts.name, key: key, roles: parts.roles.split(separator: ",").map(String.init)))
            }
            // Default quorums count the members who vote: observers never do (SPEC.md §3.4).
            let voters = members.voters.count
            var pol = Policy.defaultPolicy(memberCount: voters)
            if let p = policy {
                let bytes = try Files.read(p, max: 1 << 20)
                do { pol = try Policy(json: try JSONValue.parse(bytes), path: "policy", memberCount: voters, format: Roster.anonymousFormat) } catch {
                    throw CLIFailure.cannotEvaluate("\(p): \(error)")
                }
            }
            // Format 3 only when the policy sets drills: a roster without drill settings keeps its format-2 bytes.
            let roster = Roster(
                lab: lab, baseTier: baseTier, maxTier: maxTier ?? baseTier + 4, members: members, policy: pol,
                format: Roster.format(for: pol))
            do { try roster.validate() } catch { throw CLIFailure.cannotEvaluate("the roster would be inconsistent: \(error)") }
            let doc = GenesisDocument(roster: roster)
            try Files.replace(out, doc.fileBytes())
            Out.line("wrote \(out): lab \(lab), \(members.count) members, roster hash \(roster.hash.hex)")
            Out.line("next: each member runs `tiergate roster sign \(out) --key THEIR.key`")
        }
    }
}

/// Human-readable description of a roster: shown before signing and by `roster show`.
func describe(_ r: Roster) -> [String] {
    var lines = [
        "lab:          \(r.lab)",
        "roster hash:  \(r.hash.hex)",
        "version:      \(r.version)",
        "tiers:        base \(r.baseTier), max \(r.maxTier)",
        "members:",
    ]
    let width = r.members.map(\.name.count).max() ?? 0
    for m in r.members {
        // Both fingerprints: tiergate's, and OpenSSH's (what ssh-add -l shows for a key held by an agent).
        lines.append("  \(m.name + String(repeating: " ", count: width - m.name.count))  \(m.key.fingerprint)  \(OpenSSH.fingerprint(m.key))  \(m.roles.joined(separator: ","))")
    }
    func rule(_ x: Rule) -> String {
        var s = "\(x.minYes) yes"
        for m in x.roleMinimums { s += ", ≥\(m.count) \(m.role)" }
        if !x.vetoRoles.isEmpty { s += ", veto: \(x.vetoRoles.joined(separator: ","))" }
        return s + ", window \(DurationText.format(x.windowMs))"
    }
    let p = r.policy
    lines.append("policy:")
    lines.append("  advance:    \(rule(p.advance))")
    for o in p.advanceOverrides { lines.append("  to tier \(o.tier): \(rule(o.rule))") }
    lines.append("  halt:       any member holding \(p.haltRoles.contains("*") ? "any role" : p.haltRoles.joined(separator: " or "))")
    lines.append("  resume:     \(rule(p.resume))")
    lines.append("  amend:      \(rule(p.amend)), cooling-off \(DurationText.format(p.amendCoolingOffMs))")
    lines.append("  tokens:     TTL \(DurationText.format(p.tokenTTLMs)), attested by \(p.freshness.summary)")
    lines.append("  lapse:      \(DurationText.format(p.lapseMs)); max clock skew \(DurationText.format(p.maxSkewMs))")
    let d = p.drill
    let drillers = d.roles.isEmpty ? "those who may halt" : "any member holding \(d.roles.contains("*") ? "any role" : d.roles.joined(separator: " or "))"
    let enforcers = p.drillEnforcers(in: r).map(\.name)
    var drill = "  drills:     by \(drillers); acknowledged by \(enforcers.isEmpty ? "no enforcer (no observer)" : enforcers.joined(separator: ", ")) within \(DurationText.format(d.deadlineMs))"
    if d.intervalMs > 0 {
        drill += "; due every \(DurationText.format(d.intervalMs))"
        if d.lapseOnOverdue { drill += ", authorisation above the base tier suspended while overdue" }
    }
    lines.append(drill)
    let a = p.anonymous
    lines.append(a.allowed
        ? "  anonymous halts: \(a.perPeriod) per member per \(DurationText.format(a.periodMs)), hidden among the \(p.haltSet(in: r).count) members who may halt"
        : "  anonymous halts: not allowed")
    return lines
}

struct RosterSign: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign",
        abstract: "Add your founder signature to a genesis roster file, in place.",
        discussion: "Shows the roster (hash, members, policy) before signing. Example: tiergate roster sign roster.json --key keys/alice.key")

    @Argument(help: "The roster file.") var file: String
    @Option(help: "Your secret key file, or ssh-agent:FINGERPRINT for a key held by ssh-agent.") var key: String
    @Option(help: "Passphrase file for a sealed key.") var passphraseFile: String?

    func run() throws {
        try guarded {
            var doc = try Load.genesis(file)
            guard doc.roster.version == 1 else {
                throw CLIFailure.cannotEvaluate("only genesis rosters (version 1) carry founder signatures; amendments are voted on")
            }
            let k = try Load.signer(key, passphraseFile: passphraseFile)
            Out.err("signing genesis roster:\n" + describe(doc.roster).joined(separator: "\n"))
            do { try doc.sign(by: k) } catch { throw CLIFailure.cannotEvaluate("\(error)") }
            try Files.replace(file, doc.fileBytes())
            let report = doc.checkSignatures()
            Out.line("signed as \(doc.roster.member(withKey: k.publicKey)!.name) (\(k.publicKey.fingerprint)); \(report.valid.count)/\(doc.roster.members.count) founders have signed")
        }
    }
}

struct RosterShow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Show a roster: lab, hash, members, roles, policy and signatures.",
        discussion: "Example: tiergate roster show roster.json --json")

    @Argument(help: "The roster file.") var file: String
    @Flag(help: "Print a JSON object.") var json = false

    func run() throws {
        try guarded(json: json) {
            let doc = try Load.genesis(file)
            let report = doc.checkSignatures()
            if json {
                Out.json(.object([
                    ("ok", .bool(true)), ("hash", .string(doc.roster.hash.hex)), ("roster", doc.roster.json()),
                    ("fingerprints", .array(doc.roster.members.map { m in
                        .object([("member", .string(m.name)), ("fingerprint", .string(m.key.fingerprint)),
                                 ("openssh_fingerprint", .string(OpenSSH.fingerprint(m.key)))])
                    })),
                    ("signed_by", .array(report.valid.map { .string($0) })),
                    ("missing_signatures", .array(report.missing.map { .string($0) })),
                    ("invalid_signatures", .array(report.invalid.map { .string($0) })),
                ]))
            } else {
                Out.line(describe(doc.roster).joined(separator: "\n"))
                Out.line("signatures:   \(report.valid.count)/\(doc.roster.members.count) valid"
                    + (report.missing.isEmpty ? "" : "; missing: \(report.missing.joined(separator: ", "))")
                    + (report.invalid.isEmpty ? "" : "; INVALID: \(report.invalid.joined(separator: ", "))"))
            }
        }
    }
}

struct RosterVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Exit 0 when every founder signed the roster and it is consistent; 1 when not; 2 when not a roster.",
        discussion: "Example: tiergate roster verify roster.json && echo trusted")

    @Argument(help: "The roster file.") var file: String
    @Flag(help: "Print a JSON object.") var json = false

    func run() throws {
        try guarded(json: json) {
            let doc = try Load.genesis(file)
            let r = doc.checkSignatures()
            var problems: [String] = []
            if doc.roster.version != 1 { problems.append("version \(doc.roster.version) is not a genesis roster") }
            problems += r.missing.map { "founder \($0) has not signed" }
            problems += r.invalid.map { "founder \($0)'s signature does not verify (the roster was changed after signing, or the signature is forged)" }
            problems += r.unknown.map { "signature by '\($0)', who is not a member (or signed twice)" }
            if json {
                Out.json(.object([
                    ("valid", .bool(problems.isEmpty)), ("hash", .string(doc.roster.hash.hex)),
                    ("lab", .string(doc.roster.lab)), ("signed_by", .array(r.valid.map { .string($0) })),
                    ("problems", .array(problems.map { .string($0) })),
                ]))
            } else {
                for p in problems { Out.line("problem: \(p)") }
                Out.line(problems.isEmpty
                    ? "VALID: roster \(doc.roster.hash.hex) of lab \(doc.roster.lab), signed by all \(r.valid.count) founders"
                    : "INVALID: \(problems.count) problem(s)")
            }
            if !problems.isEmpty { throw ExitCode(1) }
        }
    }
}
