import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import TiergateCore

/// `--log-format json`: one JSON object per line on stderr, for log shippers (journald, Loki, Elasticsearch):
/// `{"time":"…","level":"info","label":"tiergate.node","message":"…","source":"TiergateNode","metadata":{…}}`.
/// Keys are always in this order; metadata values are strings, lists or objects as swift-log gives them.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    public var metadataProvider: Logger.MetadataProvider?
    let label: String
    let write: @Sendable (String) -> Void

    public init(label: String, write: @escaping @Sendable (String) -> Void = JSONLogHandler.toStderr) {
        self.label = label
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        write(Self.line(time: SystemClockText.now(), level: event.level, label: label, message: "\(event.message)", source: event.source,
                        metadata: metadata.merging(metadataProvider?.get() ?? [:]) { _, b in b }.merging(event.metadata ?? [:]) { _, b in b }))
    }

    /// Writes `line` to fd 2 in one write(2) where it fits (lines from several threads do not interleave).
    public static let toStderr: @Sendable (String) -> Void = { line in
        let bytes = Array(line.utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(2, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            done += n
        }
    }

    /// One log line (pure: the tests check its escaping and shape).
    public static func line(time: String, level: Logger.Level, label: String, message: String, source: String, metadata: Logger.Metadata) -> String {
        func value(_ v: Logger.Metadata.Value) -> JSONValue {
            switch v {
            case .string(let s): return .string(s)
            case .stringConvertible(let c): return .string(c.description)
            case .array(let a): return .array(a.map(value))
            case .dictionary(let d): return .object(d.sorted { $0.key < $1.key }.map { ($0.key, value($0.value)) })
            }
        }
        var fields: [(String, JSONValue)] = [("time", .string(time)), ("level", .string(level.rawValue)), ("label", .string(label)),
                                             ("message", .string(message)), ("source", .string(source))]
        if !metadata.isEmpty { fields.append(("metadata", .object(metadata.sorted { $0.key < $1.key }.map { ($0.key, value($0.value)) }))) }
        return JSONValue.object(fields).serialized() + "\n"
    }
}

enum SystemClockText {
    /// RFC 3339 UTC with milliseconds.
    static func now() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = ts.tv_sec
        var tm = tm()
        gmtime_r(&t, &tm)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1, Int(tm.tm_mday),
                      Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec), Int(ts.tv_nsec / 1_000_000))
    }
}
