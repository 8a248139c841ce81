/// Human durations in policy files and flags: an integer followed by `ms`, `s`, `m`, `h` or `d` (SPEC.md §3.4).
public enum DurationText {
    /// Parses `"90s"`, `"10m"`, `"7d"` into milliseconds; nil for anything else or on overflow.
    public static func parse(_ text: String) -> UInt64? {
        let units: [(String, UInt64)] = [("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            let digits = text.dropLast(suffix.count)
            guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let n = UInt64(digits) else {
                continue
            }
            let (v, overflow) = n.multipliedReportingOverflow(by: factor)
            return overflow ? nil : v
        }
        return nil
    }

    /// The largest unit that expresses `ms` exactly.
    public static func format(_ ms: UInt64) -> String {
        if ms == 0 { return "0s" }
        for (suffix, factor) in [("d", UInt64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)]
        where ms % factor == 0 {
            return "\(ms / factor)\(suffix)"
        }
        return "\(ms)ms"
    }
}
