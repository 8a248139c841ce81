/// A strict JSON value used by every Tiergate text format (roster files, key files, status output).
///
/// The parser rejects what lenient parsers accept and attackers like: duplicate object keys, nesting deeper than
/// 64, documents over the caller's size limit, invalid UTF-8, and numbers that are not plain integers where an
/// integer is asked for.
public indirect enum JSONValue: Hashable, Sendable {
    case null
    case bool(Bool)
    /// Numbers keep their literal text; ``int(_:)`` converts exactly or fails.
    case number(String)
    case string(String)
    case array([JSONValue])
    /// Keys in document order; duplicates are rejected while parsing.
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    public func hash(into h: inout Hasher) {
        switch self {
        case .null: h.combine(0)
        case .bool(let b): h.combine(b)
        case .number(let n): h.combine(n)
        case .string(let s): h.combine(s)
        case .array(let a): h.combine(a)
        case .object(let o):
            for (k, v) in o {
                h.combine(k)
                h.combine(v)
            }
        }
    }

    public static func int(_ v: Int) -> JSONValue { .number(String(v)) }

    /// The value of `key` in an object (nil for other values or a missing key).
    public subscript(_ key: String) -> JSONValue? {
        guard case .object(let o) = self else { return nil }
        return o.first { $0.0 == key }?.1
    }
    public static func uint(_ v: UInt64) -> JSONValue { .number(String(v)) }

    var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

/// A JSON document could not be read; `path` names where (e.g. `roster.members[2].roles`).
public struct JSONError: Error, Equatable, Sendable, CustomStringConvertible {
    public var path: String
    public var reason: String
    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }
    public var description: String { path.isEmpty ? reason : "\(path): \(reason)" }
}

// MARK: - Parsing

extension JSONValue {
    public static let maxDepth = 64

    /// Parses a complete JSON document of at most `maxBytes` bytes.
    public static func parse(_ bytes: [UInt8], maxBytes: Int = 4 << 20) throws(JSONError) -> JSONValue {
        guard bytes.count <= maxBytes else {
            throw JSONError(path: "", reason: "document of \(bytes.count) bytes exceeds the \(maxBytes)-byte limit")
        }
        var p = JSONParser(bytes: bytes)
        p.skipSpace()
        let v = try p.value(depth: 0)
        p.skipSpace()
        guard p.i == bytes.count else { throw p.fail("unexpected data after the JSON document") }
        return v
    }

    public static func parse(_ text: String) throws(JSONError) -> JSONValue { try parse(Array(text.utf8)) }
}

private struct JSONParser {
    let bytes: [UInt8]
    var i = 0

    func fail(_ reason: String) -> JSONError { JSONError(path: "", reason: "\(reason) at byte \(i)") }

    mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0a || bytes[i] == 0x0d || bytes[i] == 0x09 { i += 1 }
    }

    mutating func literal(_ word: String, _ v: JSONValue) throws(JSONError) -> JSONValue {
        let w = Array(word.utf8)
        guard i + w.count <= bytes.count, Array(bytes[i..<i + w.count]) == w else { throw fail("invalid literal") }
        i += w.count
        return v
    }

    mutating func value(depth: Int) throws(JSONError) -> JSONValue {
        guard depth < JSONValue.maxDepth else { throw fail("nesting deeper than \(JSONValue.maxDepth)") }
        guard i < bytes.count else { throw fail("unexpected end of document") }
        switch bytes[i] {
        case UInt8(ascii: "{"):
            i += 1
            var pairs: [(String, JSONValue)] = []
            var seen = Set<String>()
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "}") {
                i += 1
                return .object(pairs)
            }
            while true {
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                let key = try string()
                guard seen.insert(key).inserted else { throw fail("duplicate key \"\(key)\"") }
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                i += 1
                skipSpace()
                pairs.append((key, try value(depth: depth + 1)))
                skipSpace()
                guard i < bytes.count else { throw fail("unterminated object") }
                if bytes[i] == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                guard bytes[i] == UInt8(ascii: "}") else { throw fail("expected ',' or '}'") }
                i += 1
                return .object(pairs)
            }
        case UInt8(ascii: "["):
            i += 1
            var items: [JSONValue] = []
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "]") {
                i += 1
                return .array(items)
            }
            while true {
                skipSpace()
                items.append(try value(depth: depth + 1))
                skipSpace()
                guard i < bytes.count else { throw fail("unterminated array") }
                if bytes[i] == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                guard bytes[i] == UInt8(ascii: "]") else { throw fail("expected ',' or ']'") }
                i += 1
                return .array(items)
            }
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        default: return try number()
        }
    }

    mutating func number() throws(JSONError) -> JSONValue {
        let start = i
        if i < bytes.count, bytes[i] == UInt8(ascii: "-") { i += 1 }
        let digitsStart = i
        while i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39 { i += 1 }
        guard i > digitsStart else { throw fail("invalid value") }
        if i - digitsStart > 1, bytes[digitsStart] == 0x30 { throw fail("leading zero in number") }
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            i += 1
            let f = i
            while i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39 { i += 1 }
            guard i > f else { throw fail("invalid number") }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            let e = i
            while i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39 { i += 1 }
            guard i > e else { throw fail("invalid number") }
        }
        return .number(String(decoding: bytes[start..<i], as: UTF8.self))
    }

    mutating func string() throws(JSONError) -> String {
        i += 1  // opening quote
        var out: [UInt8] = []
        while true {
            guard i < bytes.count else { throw fail("unterminated string") }
            let c = bytes[i]
            i += 1
            switch c {
            case UInt8(ascii: "\""):
                guard let s = String(validating: out, as: UTF8.self) else { throw fail("string is not valid UTF-8") }
                return s
            case UInt8(ascii: "\\"):
                guard i < bytes.count else { throw fail("unterminated escape") }
                let e = bytes[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5c)
                case UInt8(ascii: "/"): out.append(0x2f)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0c)
                case UInt8(ascii: "n"): out.append(0x0a)
                case UInt8(ascii: "r"): out.append(0x0d)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                            throw fail("unpaired surrogate")
                        }
                        i += 2
                        let low = try hex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw fail("unpaired surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let u = Unicode.Scalar(scalar) else { throw fail("invalid \\u escape") }
                    out.append(contentsOf: Array(String(Character(u)).utf8))
                default: throw fail("invalid escape")
                }
            default:
                guard c >= 0x20 else { throw fail("unescaped control character in string") }
                out.append(c)
            }
        }
    }

    mutating func hex4() throws(JSONError) -> UInt32 {
        guard i + 4 <= bytes.count, let b = Hex.decode(String(decoding: bytes[i..<i + 4], as: UTF8.self)) else {
            throw fail("invalid \\u escape")
        }
        i += 4
        return UInt32(b[0]) << 8 | UInt32(b[1])
    }
}

// MARK: - Serialising

extension JSONValue {
    /// Compact or pretty (2-space) JSON text; object keys in their stored order.
    public func serialized(pretty: Bool = false) -> String {
        var out = ""
        write(into: &out, pretty: pretty, indent: 0)
        return out
    }

    private func write(into out: inout String, pretty: Bool, indent: Int) {
        let nl = pretty ? "\n" : ""
        let pad = { (n: Int) in pretty ? String(repeating: "  ", count: n) : "" }
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let n): out += n
        case .string(let s): JSONValue.escape(s, into: &out)
        case .array(let a):
            if a.isEmpty {
                out += "[]"
                return
            }
            out += "[" + nl
            for (k, v) in a.enumerated() {
                out += pad(indent + 1)
                v.write(into: &out, pretty: pretty, indent: indent + 1)
                out += (k + 1 < a.count ? "," : "") + nl
            }
            out += pad(indent) + "]"
        case .object(let o):
            if o.isEmpty {
                out += "{}"
                return
            }
            out += "{" + nl
            for (k, (key, v)) in o.enumerated() {
                out += pad(indent + 1)
                JSONValue.escape(key, into: &out)
                out += pretty ? ": " : ":"
                v.write(into: &out, pretty: pretty, indent: indent + 1)
                out += (k + 1 < o.count ? "," : "") + nl
            }
            out += pad(indent) + "}"
        }
    }

    static func escape(_ s: String, into out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 || u.value == 0x7f || (0x80...0x9f).contains(u.value) {
                    let h = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out += "\""
    }
}

// MARK: - Typed access with paths

/// Reads a JSON object field by field; ``finish()`` rejects keys nobody asked for.
public struct JSONObjectReader {
    public let path: String
    private let pairs: [(String, JSONValue)]
    private var used = Set<String>()

    public init(_ value: JSONValue, path: String) throws(JSONError) {
        guard case .object(let o) = value else { throw JSONError(path: path, reason: "expected an object, got \(value.typeName)") }
        self.path = path
        pairs = o
    }

    func sub(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    public mutating func optional(_ key: String) -> JSONValue? {
        used.insert(key)
        return pairs.first { $0.0 == key }?.1
    }

    public mutating func required(_ key: String) throws(JSONError) -> JSONValue {
        guard let v = optional(key) else { throw JSONError(path: sub(key), reason: "missing") }
        return v
    }

    public mutating func string(_ key: String) throws(JSONError) -> String {
        try JSONObjectReader.string(try required(key), path: sub(key))
    }

    public mutating func uint(_ key: String, max: UInt64 = UInt64.max) throws(JSONError) -> UInt64 {
        try JSONObjectReader.uint(try required(key), path: sub(key), max: max)
    }

    public mutating func array(_ key: String) throws(JSONError) -> [JSONValue] {
        let v = try required(key)
        guard case .array(let a) = v else { throw JSONError(path: sub(key), reason: "expected an array, got \(v.typeName)") }
        return a
    }

    public mutating func object(_ key: String) throws(JSONError) -> JSONObjectReader {
        try JSONObjectReader(try required(key), path: sub(key))
    }

    public var keys: [String] { pairs.map(\.0) }

    /// Throws when the object has keys that were never read (typos must not be ignored silently).
    public func finish() throws(JSONError) {
        for (k, _) in pairs where !used.contains(k) {
            throw JSONError(path: sub(k), reason: "unknown field")
        }
    }

    public static func string(_ v: JSONValue, path: String) throws(JSONError) -> String {
        guard case .string(let s) = v else { throw JSONError(path: path, reason: "expected a string, got \(v.typeName)") }
        return s
    }

    public static func uint(_ v: JSONValue, path: String, max: UInt64 = UInt64.max) throws(JSONError) -> UInt64 {
        guard case .number(let n) = v else { throw JSONError(path: path, reason: "expected an integer, got \(v.typeName)") }
        guard let x = UInt64(n) else { throw JSONError(path: path, reason: "expected a non-negative integer, got \(n)") }
        guard x <= max else { throw JSONError(path: path, reason: "\(x) exceeds the maximum \(max)") }
        return x
    }
}
