/// Time in protocol units (ms since the Unix epoch, UTC) and its RFC 3339 text form. The clock itself is
/// `SystemClock` in TiergateStorage: this module never reads one (time is passed in).
public enum TimeText {
    /// `2026-11-29T05:00:00.123Z`.
    public static func format(_ ms: UInt64) -> String {
        let secs = Int64(ms / 1000)
        let millis = Int(ms % 1000)
        let days = secs / 86_400
        let rem = Int(secs % 86_400)
        let (y, m, d) = civil(fromDays: days)
        func p(_ v: Int, _ w: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        return "\(p(Int(y), 4))-\(p(m, 2))-\(p(d, 2))T\(p(rem / 3600, 2)):\(p(rem / 60 % 60, 2)):\(p(rem % 60, 2)).\(p(millis, 3))Z"
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fff]Z` (UTC only), or a plain integer of milliseconds since the epoch.
    public static func parse(_ text: String) -> UInt64? {
        if let v = UInt64(text) { return v }
        let b = Array(text.utf8)
        guard b.count >= 20, b.last == UInt8(ascii: "Z") else { return nil }
        func num(_ r: Range<Int>) -> Int? {
            guard r.upperBound <= b.count else { return nil }
            var v = 0
            for i in r {
                guard b[i] >= 0x30, b[i] <= 0x39 else { return nil }
                v = v * 10 + Int(b[i] - 0x30)
            }
            return v
        }
        guard b[4] == 0x2d, b[7] == 0x2d, b[10] == UInt8(ascii: "T"), b[13] == 0x3a, b[16] == 0x3a,
            let y = num(0..<4), let mo = num(5..<7), let d = num(8..<10), let h = num(11..<13), let mi = num(14..<16),
            let s = num(17..<19), (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, s < 60, y >= 1970
        else { return nil }
        var millis = 0
        if b[19] == UInt8(ascii: ".") {
            let digits = b.count - 21
            guard (1...3).contains(digits), let f = num(20..<(b.count - 1)) else { return nil }
            millis = f * [100, 10, 1][digits - 1]
        } else if b.count != 20 {
            return nil
        }
        let days = days(fromCivil: Int64(y), mo, d)
        return UInt64(days * 86_400 + Int64(h * 3600 + mi * 60 + s)) * 1000 + UInt64(millis)
    }

    // Howard Hinnant's civil-from-days algorithms.
    static func civil(fromDays z0: Int64) -> (Int64, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = Int(doy - (153 * mp + 2) / 5 + 1)
        let m = Int(mp < 10 ? mp + 3 : mp - 9)
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    static func days(fromCivil y0: Int64, _ m: Int, _ d: Int) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = Int64(m > 2 ? m - 3 : m + 9)
        let doy = (153 * mp + 2) / 5 + Int64(d) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
