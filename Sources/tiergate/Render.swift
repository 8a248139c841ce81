import TiergateCore
import TiergateStorage

/// Human text for a status JSON object (the same fields as `Verdict.text()`, from a node's answer).
enum Render {
    static func statusText(_ s: JSONValue) -> String {
        func str(_ v: JSONValue?) -> String {
            switch v {
            case .string(let x): return x
            case .number(let n): return n
            case .bool(let b): return b ? "true" : "false"
            default: return "-"
            }
        }
        var out: [String] = []
        let halted = s["halted"] == .bool(true)
        out.append("authorised tier: \(str(s["authorized_tier"]))   [\(halted ? "HALTED" : "not halted")]   base tier: \(str(s["base_tier"]))   as of \(str(s["at"]))")
        if let node = s["node"] {
            out.append("node \(str(node["name"])): \(str(node["peers"])) peer node(s) connected, \(str(s["entries"])) entries, digest \(str(node["digest"]).prefix(16))…")
        }
        if case .array(let halts) = s["halts"] {
            for h in halts { out.append("HALT \(str(h["id"]).prefix(16))… by \(str(h["member"])) at \(str(h["time"])): \(str(h["reason"]))") }
        }
        if case .array(let ps) = s["proposals"] {
            for p in ps {
                var progress = "yes \(str(p["yes"]))/\(str(p["need_yes"]))"
                if case .array(let roles) = p["roles"] {
                    for r in roles { progress += ", \(str(r["role"])) \(str(r["have"]))/\(str(r["need"]))" }
                }
                let state = p["passed"] == .bool(true) ? "PASSED — \(str(p["outcome"]))" : (p["open"] == .bool(true) ? "open until \(str(p["closes_at"]))" : "not passed")
                out.append("  \(str(p["id"]).prefix(16))… \(str(p["action"])) tier \(str(p["tier"])) \"\(str(p["title"]))\" by \(str(p["proposer"])): \(progress) — \(state)")
            }
        }
        if case .array(let eqs) = s["equivocations"] {
            for e in eqs { out.append("EQUIVOCATION by \(str(e["member"])) at position \(str(e["seq"])); votes void") }
        }
        return out.joined(separator: "\n")
    }
}
