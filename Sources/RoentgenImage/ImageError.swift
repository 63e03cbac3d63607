/// Why a picture could not be read or written. `description` is one line: `<path>: <reason>`.
public struct ImageError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of failure, for callers that branch on it (messages are for people).
    public enum Kind: Sendable, Equatable {
        case io              // cannot open / read / write the file
        case empty           // zero bytes
        case notPNG          // bad PNG signature
        case truncated       // data ends before the image (or IEND) is complete
        case corrupt         // libpng error: CRC mismatch, bad IHDR, bad zlib stream, ...
        case tooLarge        // a side > 65535 or more than 2^28 pixels
        case outOfMemory
        case invalidArgument // bad parameters given to the encoder / decoder
    }

    public let path: String?
    public let reason: String
    public let kind: Kind

    public init(path: String?, reason: String, kind: Kind) {
        self.path = path
        self.reason = reason
        self.kind = kind
    }

    public var description: String {
        let reason = ImageError.oneLine(reason)
        guard let path else { return reason }
        return "\(ImageError.oneLine(path)): \(reason)"
    }

    /// Replaces line breaks (a path may legally contain them) so the description stays one line.
    static func oneLine(_ text: String) -> String {
        guard text.contains(where: { $0.isNewline }) else { return text }
        var result = ""
        for ch in text {
            switch ch {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\r\n": result += "\\r\\n"
            default: result.append(ch.isNewline ? " " : ch)
            }
        }
        return result
    }
}
