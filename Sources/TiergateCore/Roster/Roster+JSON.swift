// The roster's JSON form (SPEC.md §3.4). The JSON is only a carrier: what is signed and hashed is always the
// canonical binary encoding of the decoded roster, so formatting and key order do not matter.

extension RoleMinimum {
    /// `{"role": count, …}`: the role minimums of a rule and of the freshness rule (SPEC.md §3.4).
    public static func json(_ mins: [RoleMinimum]) -> JSONValue {
        .object(mins.map { ($0.role, .uint(UInt64($0.count))) })
    }

    public static func list(json: JSONValue, path: String) throws(JSONError) -> [RoleMinimum] {
        let mo = try JSONObjectReader(json, path: path)
        var reader = mo
        var mins: [RoleMinimum] = []
        for key in mo.keys {
            let count = UInt32(try JSONObjectReader.uint(try reader.required(key), path: "\(path).\(key)", max: UInt64(UInt32.max)))
            mins.append(RoleMinimum(role: key, count: count))
        }
        return mins
    }
}

extension Rule {
    public func json() -> JSONValue {
        .object([
            ("min_yes", .uint(UInt64(minYes))),
            ("role_minimums", RoleMinimum.json(roleMinimums)),
            ("veto_roles", .array(vetoRoles.map { .string($0) })),
            ("window", .string(DurationText.format(windowMs))),
        ])
    }

    public init(json: JSONValue, path: String) throws(JSONError) {
        var o = try JSONObjectReader(json, path: path)
        let minYes = UInt32(try o.uint("min_yes", max: UInt64(UInt32.max)))
        let mins = try o.optional("role_minimums").map { (v) throws(JSONError) in try RoleMinimum.list(json: v, path: "\(path).role_minimums") } ?? []
        var veto: [String] = []
        if let v = o.optional("veto_roles") {
            guard case .array(let a) = v else { throw JSONError(path: "\(path).veto_roles", reason: "expected an array") }
            for (k, item) in a.enumerated() { veto.append(try JSONObjectReader.string(item, path: "\(path).veto_roles[\(k)]")) }
        }
        let window = try parseDuration(o.optional("window") ?? .string("7d"), path: "\(path).window")
        try o.finish()
        self.init(minYes: minYes, roleMinimums: mins, vetoRoles: veto, windowMs: window)
    }
}

func parseDuration(_ v: JSONValue, path: String) throws(JSONError) -> UInt64 {
    let s = try JSONObjectReader.string(v, path: path)
    guard let ms = DurationText.parse(s) else {
        throw JSONError(path: path, reason: "expected a duration like \"90s\", \"10m\", \"12h\" or \"7d\", got \"\(s)\"")
    }
    return ms
}

extension FreshnessRule {
    public func json() -> JSONValue {
        .object([
            ("min_attesters", .uint(UInt64(minAttesters))),
            ("role_minimums", RoleMinimum.json(roleMinimums)),
        ])
    }

    public init(json: JSONValue, path: String) throws(JSONError) {
        var o = try JSONObjectReader(json, path: path)
        let min = UInt32(try o.uint("min_attesters", max: UInt64(UInt32.max)))
        let mins = try o.optional("role_minimums").map { (v) throws(JSONError) in try RoleMinimum.list(json: v, path: "\(path).role_minimums") } ?? []
        try o.finish()
        self.init(minAttesters: min, roleMinimums: mins)
    }
}

extension DrillPolicy {
    public func json() -> JSONValue {
        .object([
            ("roles", .array(roles.map { .string($0) })),
            ("enforcers", .array(enforcers.map { .string($0) })),
            ("interval", .string(DurationText.format(intervalMs))),
            ("deadline", .string(DurationText.format(deadlineMs))),
            ("lapse_on_overdue", .bool(lapseOnOverdue)),
        ])
    }

    /// Every field may be omitted: roles default to the halt roles, enforcers to every observer, interval to none
    /// ("0s"), deadline to 1 minute, lapse_on_overdue to false (SPEC.md §3.4).
    public init(json: JSONValue, path: String) throws(JSONError) {
        var o = try JSONObjectReader(json, path: path)
        func names(_ key: String) throws(JSONError) -> [String] {
            guard let v = o.optional(key) else { return [] }
            guard case .array(let a) = v else { throw JSONError(path: "\(path).\(key)", reason: "expected an array") }
            var out: [String] = []
            for (k, item) in a.enumerated() { out.append(try JSONObjectReader.string(item, path: "\(path).\(key)[\(k)]")) }
            return out
        }
        let roles = try names("roles")
        let enforcers = try names("enforcers")
        let d = DrillPolicy.default
        let interval = try o.optional("interval").map { (v) throws(JSONError) in try parseDuration(v, path: "\(path).interval") } ?? d.intervalMs
        let deadline = try o.optional("deadline").map { (v) throws(JSONError) in try parseDuration(v, path: "\(path).deadline") } ?? d.deadlineMs
        var lapse = false
        if let v = o.optional("lapse_on_overdue") {
            guard case .bool(let b) = v else { throw JSONError(path: "\(path).lapse_on_overdue", reason: "expected true or false") }
            lapse = b
        }
        try o.finish()
        self.init(roles: roles, enforcers: enforcers, intervalMs: interval, deadlineMs: deadline, lapseOnOverdue: lapse)
    }
}

extension AnonymousPolicy {
    public func json() -> JSONValue {
        .object([("per_period", .uint(UInt64(perPeriod))), ("period", .string(DurationText.format(periodMs)))])
    }

    /// Both fields may be omitted: `per_period` defaults to 0 (none), `period` to 30 days (SPEC.md §3.4).
    public init(json: JSONValue, path: String) throws(JSONError) {
        var o = try JSONObjectReader(json, path: path)
        let d = AnonymousPolicy.default
        let per = try o.optional("per_period").map { (v) throws(JSONError) in
            UInt32(try JSONObjectReader.uint(v, path: "\(path).per_period", max: UInt64(UInt32.max)))
        } ?? d.perPeriod
        let period = try o.optional("period").map { (v) throws(JSONError) in try parseDuration(v, path: "\(path).period") } ?? d.periodMs
        try o.finish()
        self.init(perPeriod: per, periodMs: period)
    }
}

extension Policy {
    /// The JSON form; `format` 1 (a roster of the first release) writes the freshness rule as `freshness_quorum`.
    public func json(format: UInt8 = Roster.formatVersion) -> JSONValue {
        .object([
            ("advance", advance.json()),
            ("advance_overrides", .object(advanceOverrides.map { (String($0.tier), $0.rule.json()) })),
            ("halt_roles", .array(haltRoles.map { .string($0) })),
            ("resume", resume.json()),
            ("amend", amend.json()),
            ("amend_cooling_off", .string(DurationText.format(amendCoolingOffMs))),
            ("token_ttl", .string(DurationText.format(tokenTTLMs))),
            ("lapse", .string(DurationText.format(lapseMs))),
            ("max_skew", .string(DurationText.format(maxSkewMs))),
            format == Roster.legacyFormat
                ? ("freshness_quorum", .uint(UInt64(freshness.minAttesters))) : ("freshness", freshness.json()),
        ] + (format >= Roster.drillFormat ? [("drill", drill.json())] : [])
          + (format >= Roster.anonymousFormat ? [("anonymous_halts", anonymous.json())] : []))
    }

    /// Reads a policy; fields other than `advance` may be omitted and then take the defaults for `memberCount`.
    /// In `format` 1 (a `tiergate-roster-v1` file) the freshness rule is `freshness_quorum`, by default 1; in
    /// format 2 it is `freshness`, by default two members' nodes (SPEC.md §3.4).
    public init(json: JSONValue, path: String, memberCount: Int, format: UInt8 = Roster.formatVersion) throws(JSONError) {
        var d = Policy.defaultPolicy(memberCount: memberCount)
        if format == Roster.legacyFormat { d.freshness = FreshnessRule(minAttesters: 1) }
        var o = try JSONObjectReader(json, path: path)
        let advance = try o.optional("advance").map { (v) throws(JSONError) in try Rule(json: v, path: "\(path).advance") } ?? d.advance
        var overrides: [TierRule] = []
        if let ov = o.optional("advance_overrides") {
            let oo = try JSONObjectReader(ov, path: "\(path).advance_overrides")
            var oo2 = oo
            for key in oo.keys {
                guard let tier = UInt32(key) else {
                    throw JSONError(path: "\(path).advance_overrides.\(key)", reason: "keys are tier numbers")
                }
                overrides.append(TierRule(tier: tier, rule: try Rule(json: try oo2.required(key), path: "\(path).advance_overrides.\(key)")))
            }
        }
        var haltRoles = d.haltRoles
        if let h = o.optional("halt_roles") {
            guard case .array(let a) = h else { throw JSONError(path: "\(path).halt_roles", reason: "expected an array") }
            haltRoles = []
            for (k, item) in a.enumerated() { haltRoles.append(try JSONObjectReader.string(item, path: "\(path).halt_roles[\(k)]")) }
        }
        let resume = try o.optional("resume").map { (v) throws(JSONError) in try Rule(json: v, path: "\(path).resume") } ?? advance
        let amend = try o.optional("amend").map { (v) throws(JSONError) in try Rule(json: v, path: "\(path).amend") } ?? d.amend
        func duration(_ key: String, _ def: UInt64) throws(JSONError) -> UInt64 {
            guard let v = o.optional(key) else { return def }
            return try parseDuration(v, path: "\(path).\(key)")
        }
        let cooling = try duration("amend_cooling_off", d.amendCoolingOffMs)
        let ttl = try duration("token_ttl", d.tokenTTLMs)
        let lapse = try duration("lapse", d.lapseMs)
        let skew = try duration("max_skew", d.maxSkewMs)
        var freshness = d.freshness
        if format == Roster.legacyFormat {
            if let v = o.optional("freshness_quorum") {
                freshness = FreshnessRule(minAttesters: UInt32(try JSONObjectReader.uint(v, path: "\(path).freshness_quorum", max: UInt64(UInt32.max))))
            }
        } else {
            if o.optional("freshness_quorum") != nil {
                throw JSONError(path: "\(path).freshness_quorum", reason: "is the format-1 spelling; write \"freshness\": {\"min_attesters\": N, \"role_minimums\": {\"safety\": 1}}")
            }
            if let v = o.optional("freshness") { freshness = try FreshnessRule(json: v, path: "\(path).freshness") }
        }
        var drill = DrillPolicy.default
        if format >= Roster.drillFormat, let v = o.optional("drill") { drill = try DrillPolicy(json: v, path: "\(path).drill") }
        var anonymous = AnonymousPolicy.default
        if format >= Roster.anonymousFormat, let v = o.optional("anonymous_halts") {
            anonymous = try AnonymousPolicy(json: v, path: "\(path).anonymous_halts")
        }
        try o.finish()
        self.init(
            advance: advance, advanceOverrides: overrides, haltRoles: haltRoles, resume: resume, amend: amend,
            amendCoolingOffMs: cooling, tokenTTLMs: ttl, lapseMs: lapse, maxSkewMs: skew, freshness: freshness, drill: drill,
            anonymous: anonymous)
    }
}

extension Roster {
    public func json() -> JSONValue {
        .object([
            ("lab", .string(lab)),
            ("version", .uint(version)),
            ("previous", .string(previous.hex)),
            ("base_tier", .uint(UInt64(baseTier))),
            ("max_tier", .uint(UInt64(maxTier))),
            ("members", .array(members.map { m in
                .object([
                    ("name", .string(m.name)),
                    ("public_key", .string(m.key.hex)),
                    ("roles", .array(m.roles.map { .string($0) })),
                ])
            })),
            ("policy", policy.json(format: format)),
        ])
    }

    /// Reads the JSON form. The result is not yet validated; callers check with ``validate()`` or by
    /// round-tripping through the canonical encoding (which is what ``GenesisDocument`` does).
    public init(json: JSONValue, path: String, format: UInt8 = Roster.formatVersion) throws(JSONError) {
        var o = try JSONObjectReader(json, path: path)
        let lab = try o.string("lab")
        let version = try o.uint("version")
        let prevText = try o.string("previous")
        guard let previous = Digest(hex: prevText) else {
            throw JSONError(path: "\(path).previous", reason: "expected 64 hex digits")
        }
        let base = UInt32(try o.uint("base_tier", max: UInt64(UInt32.max)))
        let maxTier = UInt32(try o.uint("max_tier", max: UInt64(UInt32.max)))
        var members: [Member] = []
        let arr = try o.array("members")
        for (k, item) in arr.enumerated() {
            let p = "\(path).members[\(k)]"
            var m = try JSONObjectReader(item, path: p)
            let name = try m.string("name")
            guard let key = PublicKey(hex: try m.string("public_key")) else {
                throw JSONError(path: "\(p).public_key", reason: "expected 64 hex digits (an Ed25519 public key)")
            }
            var roles: [String] = []
            for (j, r) in try m.array("roles").enumerated() { roles.append(try JSONObjectReader.string(r, path: "\(p).roles[\(j)]")) }
            try m.finish()
            members.append(Member(name: name, key: key, roles: roles))
        }
        let policy = try Policy(json: try o.required("policy"), path: "\(path).policy", memberCount: members.voters.count, format: format)
        try o.finish()
        self.init(
            lab: lab, version: version, previous: previous, baseTier: base, maxTier: maxTier, members: members,
            policy: policy, format: format)
    }
}
