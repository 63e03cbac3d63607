// How `roentgen classify --json` (and every JSON the CLI writes) prints a float, identically to the
// Python side (roentgen_tools.fileformat.numbers; SPEC "Probabilities and printed numbers"):
// the shortest decimal that reads back to the same value in its own precision (binary32 for a
// logit, binary64 for a probability), as plain digits with at least one digit after the point when
// that decimal's exponent e (v = d.ddd x 10^e) is in [-4, 16), else `d.ddde+XX`:
//   0.001  -12.5  3.0  16777216.0  0.0001  1.0e-05  -2.5e+17  1.0e+16  0.0  -0.0
// Values that are not finite print as `null` (JSON has none).

public enum PrintedNumber {
    /// A binary32 value: a logit, a decision value.
    public static func text(_ v: Float) -> String {
        guard v.isFinite else { return "null" }
        if v == 0 { return v.sign == .minus ? "-0.0" : "0.0" }
        return render(negative: v < 0, shortest(v.magnitude.description))
    }

    /// A binary64 value: a probability, a time.
    public static func text(_ v: Double) -> String {
        guard v.isFinite else { return "null" }
        if v == 0 { return v.sign == .minus ? "-0.0" : "0.0" }
        return render(negative: v < 0, shortest(v.magnitude.description))
    }

    /// The digits (no leading or trailing zeros) and the exponent of the first digit of Swift's
    /// `description`, which is the shortest round-trip decimal ("0.0001", "1e-05", "1.6777216e+07").
    static func shortest(_ description: String) -> (digits: [Character], exponent: Int) {
        let parts = description.split(separator: "e")
        let exponent = parts.count == 2 ? Int(parts[1])! : 0
        let mantissa = parts[0].split(separator: ".", omittingEmptySubsequences: false)
        let whole = Array(mantissa[0]), fraction = mantissa.count == 2 ? Array(mantissa[1]) : []
        var digits = whole + fraction
        let leading = digits.prefix { $0 == "0" }.count
        digits.removeFirst(leading)
        while digits.last == "0" { digits.removeLast() }
        return (digits, exponent + whole.count - 1 - leading)
    }

    static func render(negative: Bool, _ number: (digits: [Character], exponent: Int)) -> String {
        let (digits, e) = number
        let sign = negative ? "-" : ""
        if -4 <= e && e < 16 {
            if e >= 0 {
                let whole = String(digits.prefix(e + 1)) + String(repeating: "0", count: max(0, e + 1 - digits.count))
                let fraction = digits.count > e + 1 ? String(digits[(e + 1)...]) : "0"
                return "\(sign)\(whole).\(fraction)"
            }
            return "\(sign)0.\(String(repeating: "0", count: -e - 1))\(String(digits))"
        }
        let rest = digits.count > 1 ? String(digits[1...]) : "0"
        let magnitude = abs(e)
        return "\(sign)\(digits[0]).\(rest)e\(e < 0 ? "-" : "+")\(magnitude < 10 ? "0" : "")\(magnitude)"
    }
}
