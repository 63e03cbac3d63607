/// The transfer syntaxes this reader knows by name (PS3.5 Section 10 and Annex A; PS3.6 Table A-1).
/// Only those with a `PixelEncoding` other than `.unsupported` are decoded; every other one fails
/// with its UID and name in the message.
struct TransferSyntax: Sendable, Equatable {
    /// How Pixel Data is stored, and so which step-1 decoder reads it.
    enum PixelEncoding: Sendable, Equatable {
        case native, rle, jpeg, jpeg2000
        /// Encapsulated in a syntax we only name.
        case unsupported
    }

    let uid: String
    let name: String
    let explicitVR: Bool
    let bigEndian: Bool
    /// The data set after the File Meta group is a raw deflate stream (RFC 1951, no zlib header).
    let deflated: Bool
    let pixels: PixelEncoding

    /// Pixel Data is encapsulated (fragments), not native.
    var encapsulated: Bool { pixels != .native }
    var supported: Bool { pixels != .unsupported }

    static let implicitLittle = TransferSyntax(uid: "1.2.840.10008.1.2", name: "Implicit VR Little Endian",
                                               explicitVR: false, bigEndian: false, deflated: false, pixels: .native)
    static let explicitLittle = TransferSyntax(uid: "1.2.840.10008.1.2.1", name: "Explicit VR Little Endian",
                                               explicitVR: true, bigEndian: false, deflated: false, pixels: .native)
    static let explicitBig = TransferSyntax(uid: "1.2.840.10008.1.2.2", name: "Explicit VR Big Endian",
                                            explicitVR: true, bigEndian: true, deflated: false, pixels: .native)
    static let deflatedLittle = TransferSyntax(uid: "1.2.840.10008.1.2.1.99", name: "Deflated Explicit VR Little Endian",
                                               explicitVR: true, bigEndian: false, deflated: true, pixels: .native)
    static let rleLossless = encapsulated("1.2.840.10008.1.2.5", "RLE Lossless", .rle)
    static let jpegBaseline = encapsulated("1.2.840.10008.1.2.4.50", "JPEG Baseline (Process 1)", .jpeg)
    static let jpegExtended = encapsulated("1.2.840.10008.1.2.4.51", "JPEG Extended (Process 2 & 4)", .jpeg)
    static let jpeg2000Lossless = encapsulated("1.2.840.10008.1.2.4.90", "JPEG 2000 Lossless", .jpeg2000)
    static let jpeg2000 = encapsulated("1.2.840.10008.1.2.4.91", "JPEG 2000", .jpeg2000)

    static let decoded = [implicitLittle, explicitLittle, explicitBig, deflatedLittle, rleLossless,
                          jpegBaseline, jpegExtended, jpeg2000Lossless, jpeg2000]

    /// Every encapsulated syntax is explicit VR little endian (PS3.5 A.4).
    static func encapsulated(_ uid: String, _ name: String, _ pixels: PixelEncoding) -> TransferSyntax {
        TransferSyntax(uid: uid, name: name, explicitVR: true, bigEndian: false, deflated: false, pixels: pixels)
    }

    /// Encapsulated syntaxes we name but do not decode (all explicit VR little endian).
    static let unsupportedNames: [(String, String)] = [
        ("1.2.840.10008.1.2.4.57", "JPEG Lossless, Non-Hierarchical (Process 14)"),
        ("1.2.840.10008.1.2.4.70", "JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])"),
        ("1.2.840.10008.1.2.4.80", "JPEG-LS Lossless"),
        ("1.2.840.10008.1.2.4.81", "JPEG-LS Near-Lossless"),
        ("1.2.840.10008.1.2.4.92", "JPEG 2000 Part 2 Multi-component Lossless"),
        ("1.2.840.10008.1.2.4.93", "JPEG 2000 Part 2 Multi-component"),
        ("1.2.840.10008.1.2.4.100", "MPEG2 Main Profile / Main Level"),
        ("1.2.840.10008.1.2.4.102", "MPEG-4 AVC/H.264 High Profile / Level 4.1"),
        ("1.2.840.10008.1.2.4.201", "High-Throughput JPEG 2000 Lossless"),
        ("1.2.840.10008.1.2.4.202", "High-Throughput JPEG 2000 with RPCL Options Lossless"),
        ("1.2.840.10008.1.2.4.203", "High-Throughput JPEG 2000"),
        ("1.2.840.10008.1.2.1.98", "Encapsulated Uncompressed Explicit VR Little Endian"),
    ]

    static func named(_ uid: String) -> TransferSyntax {
        if let known = decoded.first(where: { $0.uid == uid }) { return known }
        let name = unsupportedNames.first { $0.0 == uid }?.1 ?? "unknown"
        // Every other standard syntax is explicit VR little endian with encapsulated pixel data, so the
        // header can still be read (and named) before the pixel step refuses it.
        return encapsulated(uid, name, .unsupported)
    }

    /// "transfer syntax 1.2.840.10008.1.2.4.80 (JPEG-LS Lossless) is not supported"
    var unsupportedMessage: String { "transfer syntax \(uid) (\(name)) is not supported" }
}
