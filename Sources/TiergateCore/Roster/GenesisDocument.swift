/// Why a roster file was not accepted. ``isUnreadable`` separates "not a roster" (exit 2) from
/// "a roster whose signatures or content do not hold" (exit 1).
public enum RosterFileError: Error, Equatable, Sendable, CustomStringConvertible {
    case notJSON(JSONError)
    case malformed(JSONError)
    case inconsistent(DecodeError)

    public var isUnreadable: Bool {
        switch self {
        case .notJSON, .malformed: return true
        case .inconsistent: return false
        }
    }

    public var description: String {
        switch self {
        case .notJSON(let e): return "not a roster file (invalid JSON: \(e))"
        case .malformed(let e): return "not a valid roster file: \(e)"
        case .inconsistent(let e): return "inconsistent roster: \(e)"
        }
    }
}

/// A founder's signature over the roster's signing message.
public struct FounderSignature: Hashable, Sendable {
    public var member: String
    public var signature: [UInt8]
    public init(member: String, signature: [UInt8]) {
        self.member = member
        self.signature = signature
    }
}

/// The result of checking founder signatures.
public struct SignatureReport: Equatable, Sendable {
    public var valid: [String] = []
    public var invalid: [String] = []
    public var missing: [String] = []
    public var unknown: [String] = []
    public var complete: Bool { invalid.isEmpty && missing.isEmpty && unknown.isEmpty }
}

/// A roster file (SPEC.md §3.4): the roster plus signatures of its founders (every member of the genesis roster).
public struct GenesisDocument: Hashable, Sendable {
    /// The carrier names: v2 for format-2 rosters (written), v1 for rosters of the first release (still read and
    /// written back as they were signed).
    public static let format = "tiergate-roster-v2"
    public static let legacyFormat = "tiergate-roster-v1"
    /// Format-3 rosters: those with a drill policy (SPEC.md §3.4).
    public static let drillFormat = "tiergate-roster-v3"
    /// Format-4 rosters: those that allow anonymous halts (SPEC.md §3.4).
    public static let anonymousFormat = "tiergate-roster-v4"
    static func carrier(of rosterFormat: UInt8) -> String {
        switch rosterFormat {
        case Roster.legacyFormat: return legacyFormat
        case Roster.drillFormat: return drillFormat
        case Roster.anonymousFormat: return anonymousFormat
        default: return format
        }
    }
    static func rosterFormat(ofCarrier name: String) -> UInt8? {
        switch name {
        case legacyFormat: return Roster.legacyFormat
        case format: return Roster.formatVersion
        case drillFormat: return Roster.drillFormat
        case anonymousFormat: return Roster.anonymousFormat
        default: return nil
        }
    }
    public var roster: Roster
    public var signatures: [FounderSignature]

    public init(roster: Roster, signatures: [FounderSignature] = []) {
        self.roster = roster
        self.signatures = signatures
    }

    /// Parses and validates a roster file. Structural problems throw; signatures are checked separately by
    /// ``checkSignatures()`` so that `roster show` can display an unsigned roster.
    public init(fileBytes: [UInt8]) throws(RosterFileError) {
        let json: JSONValue
        do { json = try JSONValue.parse(fileBytes, maxBytes: 1 << 20) } catch { throw .notJSON(error) }
        do throws(JSONError) {
            var o = try JSONObjectReader(json, path: "")
            let format = try o.string("format")
            guard let rosterFormat = GenesisDocument.rosterFormat(ofCarrier: format) else {
                throw JSONError(path: "format", reason: "expected \"\(GenesisDocument.format)\" (or \"\(GenesisDocument.drillFormat)\", \"\(GenesisDocument.legacyFormat)\"), got \"\(format)\"")
            }
            let roster = try Roster(json: try o.required("roster"), path: "roster", format: rosterFormat)
            var sigs: [FounderSignature] = []
            for (k, item) in try o.array("signatures").enumerated() {
                var s = try JSONObjectReader(item, path: "signatures[\(k)]")
                let member = try s.string("member")
                guard let sig = Hex.decode(try s.string("signature")), sig.count == 64 else {
                    throw JSONError(path: "signatures[\(k)].signature", reason: "expected 128 hex digits (an Ed25519 signature)")
                }
                try s.finish()
                sigs.append(FounderSignature(member: member, signature: sig))
            }
            try o.finish()
            self.init(roster: roster, signatures: sigs)
        } catch {
            throw .malformed(error)
        }
        do throws(DecodeError) {
            // Round-trip through the canonical encoding: what is signed is exactly what was read.
            try roster.validate()
            let again = try Roster(decoding: roster.encoded())
            precondition(again == roster, "roster encoding does not round-trip")
        } catch {
            throw .inconsistent(error)
        }
    }

    public func json() -> JSONValue {
        .object([
            ("format", .string(GenesisDocument.carrier(of: roster.format))),
            ("roster", roster.json()),
            ("signatures", .array(signatures.map { s in
                .object([("member", .string(s.member)), ("signature", .string(Hex.encode(s.signature)))])
            })),
        ])
    }

    public func fileBytes() -> [UInt8] { Array((json().serialized(pretty: true) + "\n").utf8) }

    /// Adds (or replaces) the signature of the member whose key `key` is.
    public mutating func sign(with key: SigningKey) throws(RosterSigningError) {
        guard let member = roster.member(withKey: key.publicKey) else { throw .notAMember(key.publicKey.fingerprint) }
        record(key.sign(roster.signingMessage), by: member)
    }

    /// Replaces `member`'s founder signature with `signature`, keeping the list in name order.
    private mutating func record(_ signature: [UInt8], by member: Member) {
        signatures.removeAll { $0.member == member.name }
        signatures.append(FounderSignature(member: member.name, signature: signature))
        signatures.sort { $0.member < $1.member }
    }

    /// As ``sign(with:)`` through any signer (an agent-held key, SPEC.md §7.4); the signature is verified before it
    /// is added.
    public mutating func sign(by signer: any Ed25519Signer) throws {
        guard let member = roster.member(withKey: signer.publicKey) else { throw RosterSigningError.notAMember(signer.publicKey.fingerprint) }
        let message = roster.signingMessage
        let sig = try signer.signature(over: message)
        guard signer.publicKey.verify(signature: sig, message: message) else { throw SignerFault(fingerprint: signer.publicKey.fingerprint) }
        record(sig, by: member)
    }

    /// Checks every founder signature: each member of the roster must have signed, validly, exactly once.
    public func checkSignatures() -> SignatureReport {
        var report = SignatureReport()
        let message = roster.signingMessage
        var seen = Set<String>()
        for s in signatures {
            guard let m = roster.member(named: s.member), seen.insert(s.member).inserted else {
                report.unknown.append(s.member)
                continue
            }
            if m.key.verify(signature: s.signature, message: message) {
                report.valid.append(s.member)
            } else {
                report.invalid.append(s.member)
            }
        }
        report.missing = roster.members.map(\.name).filter { !seen.contains($0) }
        return report
    }
}

public enum RosterSigningError: Error, Equatable, CustomStringConvertible {
    case notAMember(String)
    public var description: String {
        "the key with fingerprint \(notAMemberFingerprint) is not a member of this roster; sign with a member's key"
    }
    private var notAMemberFingerprint: String {
        switch self { case .notAMember(let f): return f }
    }
}
