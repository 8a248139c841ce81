import TiergateCore

/// The Slurm integration's configuration (`tiergate slurm prolog|enforce --config FILE`), a JSON object:
///
/// ```json
/// { "roster": "/etc/tiergate/roster.json", "key": "/etc/tiergate/cluster.key",
///   "nodes": ["10.0.0.1:7400", "10.0.0.2:7400"], "protected_partitions": ["gpu"],
///   "action": "suspend", "min_answers": 2, "scontrol": "/usr/bin/scontrol", "squeue": "/usr/bin/squeue",
///   "scancel": "/usr/bin/scancel", "canary_partition": "canary" }
/// ```
///
/// Slurm runs prologs with an empty environment, so everything is here (no PATH, no `TIERGATE_*`), with absolute
/// paths. Unknown fields are errors.
public struct SlurmConfig: Equatable, Sendable {
    public enum Action: String, Sendable { case suspend, cancel }

    public var roster: String
    public var key: String
    public var passphraseFile: String?
    public var nodes: [String]
    /// Jobs on these partitions that declare no tier are treated as the lab's highest tier (fail closed).
    public var protectedPartitions: [String]
    public var action: Action
    /// Answers needed from distinct members' nodes (default: the policy's freshness `min_attesters`).
    public var minAnswers: Int?
    public var scontrol: String
    public var squeue: String
    public var scancel: String
    /// util-linux `setpriv`: a refusal is appended to a batch job's stderr file as the job's owner.
    public var setpriv: String
    /// Jobs on this partition are canaries: a drill stops them for real (SPEC.md §5.8); they stay stopped.
    public var canaryPartition: String?

    public init(json: JSONValue) throws(JSONError) {
        var o = try JSONObjectReader(json, path: "")
        roster = try o.string("roster")
        key = try o.string("key")
        passphraseFile = try o.optional("passphrase_file").map { (v) throws(JSONError) in try JSONObjectReader.string(v, path: "passphrase_file") }
        nodes = []
        for (i, n) in try o.array("nodes").enumerated() { nodes.append(try JSONObjectReader.string(n, path: "nodes[\(i)]")) }
        guard !nodes.isEmpty else { throw JSONError(path: "nodes", reason: "name at least one node (the nodes of two members or more)") }
        protectedPartitions = []
        if let p = o.optional("protected_partitions") {
            guard case .array(let a) = p else { throw JSONError(path: "protected_partitions", reason: "expected an array") }
            for (i, x) in a.enumerated() { protectedPartitions.append(try JSONObjectReader.string(x, path: "protected_partitions[\(i)]")) }
        }
        let a = try o.optional("action").map { (v) throws(JSONError) in try JSONObjectReader.string(v, path: "action") } ?? "suspend"
        guard let action = Action(rawValue: a) else { throw JSONError(path: "action", reason: "expected \"suspend\" or \"cancel\", got \"\(a)\"") }
        self.action = action
        minAnswers = try o.optional("min_answers").map { (v) throws(JSONError) in Int(try JSONObjectReader.uint(v, path: "min_answers", max: 256)) }
        func tool(_ name: String) throws(JSONError) -> String {
            try o.optional(name).map { (v) throws(JSONError) in try JSONObjectReader.string(v, path: name) } ?? "/usr/bin/\(name)"
        }
        scontrol = try tool("scontrol")
        squeue = try tool("squeue")
        scancel = try tool("scancel")
        setpriv = try tool("setpriv")
        canaryPartition = try o.optional("canary_partition").map { (v) throws(JSONError) in try JSONObjectReader.string(v, path: "canary_partition") }
        try o.finish()
    }
}

/// One job as `squeue --json` shows it.
public struct SlurmJob: Equatable, Sendable {
    public var id: String
    public var comment: String
    public var partition: String
    /// RUNNING, PENDING, SUSPENDED, …
    public var state: String
    public var reason: String
    public var adminComment: String

    public init(id: String, comment: String, partition: String, state: String, reason: String, adminComment: String) {
        self.id = id
        self.comment = comment
        self.partition = partition
        self.state = state
        self.reason = reason
        self.adminComment = adminComment
    }

    /// The jobs of `squeue --json` (Slurm 22.05's OpenAPI v0.0.38 shape: `jobs[]` with `job_id`, `comment`,
    /// `partition`, `job_state`, `state_reason`, `admin_comment`).
    public static func parse(squeueJSON bytes: [UInt8]) throws -> [SlurmJob] {
        let doc = try JSONValue.parse(bytes, maxBytes: 256 << 20)
        guard case .array(let jobs)? = doc["jobs"] else { throw JSONError(path: "jobs", reason: "squeue --json printed no jobs list") }
        func text(_ v: JSONValue?) -> String {
            switch v {
            case .string(let s)?: return s
            case .number(let n)?: return n
            default: return ""
            }
        }
        return jobs.map { j in
            SlurmJob(id: text(j["job_id"]), comment: text(j["comment"]), partition: text(j["partition"]), state: text(j["job_state"]),
                     reason: text(j["state_reason"]), adminComment: text(j["admin_comment"]))
        }
    }
}

/// Which tier a job runs at, and what the enforcer must do about it (pure: the command runs the actions).
public enum SlurmPolicy {
    /// The tier a job declares in its comment: exactly one token `tier=N` (tokens separated by spaces or commas);
    /// nil when it declares none; an error for a malformed or repeated declaration (the job is then refused, never
    /// guessed at: `frontier=5` or `tier=x` is not a tier).
    public static func declaredTier(comment: String) -> Result<UInt32?, SlurmTierError> {
        let tokens = comment.split { $0 == " " || $0 == "," || $0 == "\t" }.map(String.init)
        let decl = tokens.filter { $0.hasPrefix("tier=") }
        guard !decl.isEmpty else { return .success(nil) }
        guard decl.count == 1 else { return .failure(SlurmTierError(message: "the comment declares a tier more than once: \(decl.joined(separator: " "))")) }
        let digits = decl[0].dropFirst(5)
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let n = UInt32(digits) else {
            return .failure(SlurmTierError(message: "'\(decl[0])' is not a tier: write --comment tier=N with N a whole number"))
        }
        return .success(n)
    }

    /// The tier the job is held to: its declaration; undeclared on a protected partition, the lab's highest tier
    /// (fail closed); undeclared elsewhere, the base tier (always allowed).
    public static func tier(of job: SlurmJob, config: SlurmConfig, roster: Roster) -> Result<UInt32, SlurmTierError> {
        switch declaredTier(comment: job.comment) {
        case .failure(let e): return .failure(e)
        case .success(let t?): return .success(t)
        case .success(nil):
            return .success(config.protectedPartitions.contains(job.partition) ? roster.maxTier : roster.baseTier)
        }
    }

    /// The marker the enforcer puts in a job's AdminComment when it suspends or holds it, so that it releases only
    /// what it stopped (never an administrator's hold).
    public static let marker = "tiergate:"

    public enum Action: Equatable, Sendable {
        case suspend(String), cancel(String), hold(String), resume(String), release(String)
        public var jobID: String {
            switch self {
            case .suspend(let j), .cancel(let j), .hold(let j), .resume(let j), .release(let j): return j
            }
        }
    }

    /// What to do with each job when tier `allowed` is authorised (the base tier while halted): stop running jobs
    /// above it (suspend or cancel), hold pending ones; resume and release what the enforcer (or the prolog) stopped
    /// once their tier is allowed again. A job whose tier cannot be read counts as the highest tier.
    public static func plan(jobs: [SlurmJob], allowed: UInt32, config: SlurmConfig, roster: Roster) -> [Action] {
        var out: [Action] = []
        for j in jobs {
            let tier = (try? tier(of: j, config: config, roster: roster).get()) ?? UInt32.max
            let ours = j.adminComment.hasPrefix(marker)
            switch (j.state, tier > allowed) {
            case ("RUNNING", true), ("CONFIGURING", true):
                out.append(config.action == .suspend ? .suspend(j.id) : .cancel(j.id))
            case ("PENDING", true) where !j.reason.contains("Held"):
                out.append(.hold(j.id))
            case ("SUSPENDED", false) where ours:
                out.append(.resume(j.id))
            case ("PENDING", false) where ours:
                out.append(.release(j.id))  // held by us, or requeued by a refusing prolog with a later start time
            default:
                break
            }
        }
        return out
    }
}

public struct SlurmTierError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Where a batch job's owner reads its errors, from `scontrol show job ID` (multi-line form: one `Key=value` group
/// per line, and `StdErr=` alone on its line, so a path with spaces survives).
public struct SlurmJobOutput: Equatable, Sendable {
    public var batch: Bool
    public var stderr: String?
    public var uid: UInt32?
    public var gid: UInt32?

    public init(showJob text: String) {
        var batch = false
        var stderr: String?
        var uid: UInt32?
        var gid: UInt32?
        /// `UserId=name(1000)` → 1000.
        func id(_ field: Substring) -> UInt32? {
            guard let open = field.lastIndex(of: "("), let close = field.lastIndex(of: ")"), open < close else { return nil }
            return UInt32(field[field.index(after: open)..<close])
        }
        for raw in text.split(separator: "\n") {
            let line = raw.drop { $0 == " " }
            if line.hasPrefix("StdErr=") {
                let p = line.dropFirst(7)
                stderr = p.isEmpty || p == "(null)" ? nil : String(p)
                continue
            }
            for field in line.split(separator: " ") {
                if field == "BatchFlag=1" { batch = true }
                if field.hasPrefix("UserId=") { uid = id(field) }
                if field.hasPrefix("GroupId=") { gid = id(field) }
            }
        }
        self.batch = batch
        self.stderr = stderr
        self.uid = uid
        self.gid = gid
    }
}
