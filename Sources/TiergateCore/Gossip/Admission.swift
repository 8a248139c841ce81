/// Who gets a connection slot when more connect than a node can serve (SPEC.md §12.4), as a pure state machine on
/// an injected clock: the node shell asks it about every inbound connection and tells it when handshakes end.
///
/// An outsider holds no roster key, so before the handshake completes it is known only by its address — which
/// TCP's own handshake has already proved it can receive at (the "proof of return address" that WireGuard's cookie
/// reply adds to UDP). So slots are shared fairly by address:
/// - at most `maxPendingPerAddress` handshakes in progress per address (more are refused at once);
/// - at most `maxPending` in all; when full, a newcomer from an address holding fewer slots than the greediest
///   address evicts that address's oldest handshake (a flood from a few addresses cannot starve anyone else);
/// - under load (half the slots taken) a handshake must finish within `loadedHandshakeTimeoutMs`, not the usual 5 s
///   (a real client finishes in milliseconds; an idle connection frees its slot quickly);
/// - authenticated sessions are capped per key (`maxSessionsPerKey`).
/// Configured peers need no slot here: a node dials them itself, and its own dials never wait for admission.
/// Refusals are counted by reason (status) and aggregated per address for the log (`drainLog`).
public struct AdmissionControl: Sendable {
    public enum Refusal: String, Sendable, CaseIterable, Comparable {
        case overloaded = "too many handshakes in progress"
        case perAddress = "too many handshakes in progress from one address"
        case evicted = "evicted for a newcomer from a less busy address"
        case timeout = "handshake not completed in time"
        case failed = "handshake failed"
        case notMember = "key not on the roster"
        case sessionsPerKey = "too many sessions for one key"

        public static func < (a: Refusal, b: Refusal) -> Bool { a.rawValue < b.rawValue }

        /// The label value in the node's metrics.
        public var metricName: String {
            switch self {
            case .overloaded: return "overloaded"
            case .perAddress: return "per_address"
            case .evicted: return "evicted"
            case .timeout: return "timeout"
            case .failed: return "failed"
            case .notMember: return "not_member"
            case .sessionsPerKey: return "sessions_per_key"
            }
        }
    }

    public enum Decision: Equatable, Sendable {
        case accept(timeoutMs: UInt64)
        /// Accept, and close this pending connection to make room.
        case acceptEvicting(Int, timeoutMs: UInt64)
        case refuse(BusyReason)
    }

    public var maxPending = 256
    public var maxPendingPerAddress = 16
    public var handshakeTimeoutMs: UInt64 = 5_000
    public var loadedHandshakeTimeoutMs: UInt64 = 1_000
    public var maxSessionsPerKey = 1_024
    /// How often the aggregated refusal log is written.
    public var logIntervalMs: UInt64 = 10_000
    /// At most this many addresses are named per log interval (the rest are summed in one line).
    public var logAddresses = 10

    struct Pending: Sendable {
        var address: String
        var since: UInt64
    }
    private(set) var pending: [Int: Pending] = [:]
    private(set) var pendingByAddress: [String: Int] = [:]
    private(set) var sessionsByKey: [PublicKey: Int] = [:]
    /// Refusals since start, by reason.
    public private(set) var refusedTotal: [Refusal: UInt64] = [:]
    private var window: [String: [Refusal: Int]] = [:]
    private var windowStart: UInt64 = 0
    private var first: (address: String, reason: Refusal)?

    public init() {}

    public var pendingCount: Int { pending.count }
    public var sessionCount: Int { sessionsByKey.values.reduce(0, +) }
    /// Half the slots or more are taken: handshakes get the short timeout.
    public var underLoad: Bool { pending.count * 2 >= maxPending }

    /// A new inbound connection `id` from `address` (its IP, without the port).
    public mutating func admit(_ id: Int, address: String, now: UInt64) -> Decision {
        let mine = pendingByAddress[address, default: 0]
        if mine >= maxPendingPerAddress {
            note(.perAddress, address: address, now: now)
            return .refuse(.tooManyFromAddress)
        }
        var evict: Int?
        if pending.count >= maxPending {
            // The greediest address gives up its oldest slot, if it holds more than the newcomer would.
            guard let (greedy, count) = pendingByAddress.max(by: { ($0.value, $1.key) < ($1.value, $0.key) }), count > mine + 1,
                let oldest = pending.filter({ $0.value.address == greedy }).min(by: { ($0.value.since, $0.key) < ($1.value.since, $1.key) })?.key
            else {
                note(.overloaded, address: address, now: now)
                return .refuse(.overloaded)
            }
            evict = oldest
            note(.evicted, address: greedy, now: now)
            finished(oldest)
        }
        pending[id] = Pending(address: address, since: now)
        pendingByAddress[address, default: 0] += 1
        let timeout = underLoad ? loadedHandshakeTimeoutMs : handshakeTimeoutMs
        return evict.map { .acceptEvicting($0, timeoutMs: timeout) } ?? .accept(timeoutMs: timeout)
    }

    /// The handshake of `id` ended (established, failed or closed); idempotent.
    public mutating func finished(_ id: Int) {
        guard let p = pending.removeValue(forKey: id) else { return }
        let n = pendingByAddress[p.address, default: 1] - 1
        pendingByAddress[p.address] = n > 0 ? n : nil
    }

    /// Pending handshakes past their deadline (the short one while under load): the shell closes them.
    public mutating func expired(now: UInt64) -> [Int] {
        let limit = underLoad ? loadedHandshakeTimeoutMs : handshakeTimeoutMs
        let late = pending.filter { now > $0.value.since && now - $0.value.since >= limit }.map(\.key).sorted()
        for id in late {
            note(.timeout, address: pending[id]!.address, now: now)
            finished(id)
        }
        return late
    }

    /// Whether one more session for `key` may open; nil when it may (the caller then calls ``sessionOpened``).
    public func sessionRefusal(for key: PublicKey) -> String? {
        sessionsByKey[key, default: 0] >= maxSessionsPerKey
            ? "key \(key.fingerprint) already holds \(maxSessionsPerKey) sessions with this node (the per-key cap)" : nil
    }

    public mutating func sessionOpened(_ key: PublicKey) { sessionsByKey[key, default: 0] += 1 }

    public mutating func sessionClosed(_ key: PublicKey) {
        let n = sessionsByKey[key, default: 1] - 1
        sessionsByKey[key] = n > 0 ? n : nil
    }

    /// Counts a refusal (for status) and adds it to the log window.
    public mutating func note(_ reason: Refusal, address: String, now: UInt64) {
        refusedTotal[reason, default: 0] += 1
        if window.isEmpty {
            windowStart = now
            first = (address, reason)
        }
        window[address, default: [:]][reason, default: 0] += 1
    }

    /// The refusal that opened a log window, once: the shell logs it at once (an operator learns of a flood
    /// immediately), and the rest of the window in aggregate.
    public mutating func takeFirstRefusalLine() -> String? {
        guard let f = first else { return nil }
        first = nil
        return "refused a connection from \(f.address): \(f.reason.rawValue); further refusals are summed every \(logIntervalMs / 1000) s"
    }

    /// Once per `logIntervalMs`: the log lines for the refusals of the window just ended, one per address (the
    /// busiest first, at most `logAddresses`, the rest summed), e.g. "refused 1,283 connections from 203.0.113.7
    /// in 10 s: 1,200 too many handshakes in progress from one address, 83 handshake not completed in time".
    public mutating func drainLog(now: UInt64) -> [String] {
        guard !window.isEmpty, now >= windowStart.addingSaturating(logIntervalMs) else { return [] }
        let seconds = max(1, (now - windowStart) / 1000)
        let ranked = window.map { ($0.key, $0.value, $0.value.values.reduce(0, +)) }.sorted { ($1.2, $0.0) < ($0.2, $1.0) }
        var lines = ranked.prefix(logAddresses).map { address, reasons, total in
            let parts = reasons.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.map { "\(Self.grouped($0.value)) \($0.key.rawValue)" }
            return "refused \(Self.grouped(total)) connection\(total == 1 ? "" : "s") from \(address) in \(seconds) s: \(parts.joined(separator: ", "))"
        }
        if ranked.count > logAddresses {
            let rest = ranked.dropFirst(logAddresses)
            lines.append("refused \(Self.grouped(rest.reduce(0) { $0 + $1.2 })) more connections from \(rest.count) other addresses in \(seconds) s")
        }
        window = [:]
        return lines
    }

    /// 1283 → "1,283".
    static func grouped(_ n: Int) -> String {
        let s = String(n)
        var out = ""
        for (i, c) in s.enumerated() {
            if i > 0 && (s.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return out
    }
}
