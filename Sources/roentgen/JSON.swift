// Just enough JSON output for one object per line, with keys in a fixed order. Floats print as
// SPEC "Probabilities and printed numbers" says (PrintedNumber), the same text as the Python tools.

import Roentgen

enum JSON: CustomStringConvertible {
    case string(String), int(Int), double(Double), float(Float), bool(Bool), null
    case array([JSON]), object([(String, JSON)])

    static func line(_ fields: [(String, JSON)]) -> String { JSON.object(fields).description }

    var description: String {
        switch self {
        case .string(let s): return JSON.quote(s)
        case .int(let i): return String(i)
        case .double(let d): return PrintedNumber.text(d)
        case .float(let f): return PrintedNumber.text(f)
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        case .array(let items): return "[" + items.map(\.description).joined(separator: ", ") + "]"
        case .object(let fields): return "{" + fields.map { JSON.quote($0.0) + ": " + $0.1.description }.joined(separator: ", ") + "}"
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
