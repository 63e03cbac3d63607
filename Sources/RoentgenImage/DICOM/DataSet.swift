/// A DICOM data set as parsed from a Part 10 file (PS3.5 Section 7): elements by tag, with the
/// value bytes still in the transfer syntax's byte order. Values are read on demand by the typed
/// accessors below; only what the pixel pipeline and the header report need is ever interpreted.
struct DataSet {
    var elements: [Tag: Element] = [:]
    /// Byte order of every numeric value in this data set (and its items).
    let bigEndian: Bool

    subscript(tag: Tag) -> Element? { elements[tag] }
}

/// (group, element), ordered as the standard orders them.
struct Tag: Hashable, Comparable, CustomStringConvertible {
    let group: UInt16
    let element: UInt16

    init(_ group: UInt16, _ element: UInt16) {
        self.group = group
        self.element = element
    }

    static func < (a: Tag, b: Tag) -> Bool { (a.group, a.element) < (b.group, b.element) }

    /// "(7FE0,0010) Pixel Data" - the form every error message uses.
    var description: String {
        let text = "(\(Tag.hex(group)),\(Tag.hex(element)))"
        guard let name = Tag.names[self] else { return text }
        return "\(text) \(name)"
    }

    static func hex(_ v: UInt16) -> String {
        let digits = String(v, radix: 16, uppercase: true)
        return String(repeating: "0", count: 4 - digits.count) + digits
    }

    static let item = Tag(0xFFFE, 0xE000)
    static let itemDelimitation = Tag(0xFFFE, 0xE00D)
    static let sequenceDelimitation = Tag(0xFFFE, 0xE0DD)

    static let transferSyntaxUID = Tag(0x0002, 0x0010)
    static let sopClassUID = Tag(0x0008, 0x0016)
    static let sopInstanceUID = Tag(0x0008, 0x0018)
    static let modality = Tag(0x0008, 0x0060)
    static let bodyPartExamined = Tag(0x0018, 0x0015)
    static let viewPosition = Tag(0x0018, 0x5101)
    static let studyInstanceUID = Tag(0x0020, 0x000D)
    static let samplesPerPixel = Tag(0x0028, 0x0002)
    static let photometricInterpretation = Tag(0x0028, 0x0004)
    static let planarConfiguration = Tag(0x0028, 0x0006)
    static let numberOfFrames = Tag(0x0028, 0x0008)
    static let rows = Tag(0x0028, 0x0010)
    static let columns = Tag(0x0028, 0x0011)
    static let bitsAllocated = Tag(0x0028, 0x0100)
    static let bitsStored = Tag(0x0028, 0x0101)
    static let highBit = Tag(0x0028, 0x0102)
    static let pixelRepresentation = Tag(0x0028, 0x0103)
    static let windowCenter = Tag(0x0028, 0x1050)
    static let windowWidth = Tag(0x0028, 0x1051)
    static let rescaleIntercept = Tag(0x0028, 0x1052)
    static let rescaleSlope = Tag(0x0028, 0x1053)
    static let voiLUTFunction = Tag(0x0028, 0x1056)
    static let redPaletteDescriptor = Tag(0x0028, 0x1101)
    static let greenPaletteDescriptor = Tag(0x0028, 0x1102)
    static let bluePaletteDescriptor = Tag(0x0028, 0x1103)
    static let redPaletteData = Tag(0x0028, 0x1201)
    static let greenPaletteData = Tag(0x0028, 0x1202)
    static let bluePaletteData = Tag(0x0028, 0x1203)
    static let lutDescriptor = Tag(0x0028, 0x3002)
    static let lutData = Tag(0x0028, 0x3006)
    static let modalityLUTSequence = Tag(0x0028, 0x3000)
    static let voiLUTSequence = Tag(0x0028, 0x3010)
    static let pixelData = Tag(0x7FE0, 0x0010)

    static let names: [Tag: String] = [
        transferSyntaxUID: "Transfer Syntax UID", sopClassUID: "SOP Class UID",
        sopInstanceUID: "SOP Instance UID", modality: "Modality", bodyPartExamined: "Body Part Examined",
        viewPosition: "View Position", studyInstanceUID: "Study Instance UID",
        samplesPerPixel: "Samples per Pixel", photometricInterpretation: "Photometric Interpretation",
        planarConfiguration: "Planar Configuration", numberOfFrames: "Number of Frames", rows: "Rows",
        columns: "Columns", bitsAllocated: "Bits Allocated", bitsStored: "Bits Stored", highBit: "High Bit",
        pixelRepresentation: "Pixel Representation", windowCenter: "Window Center", windowWidth: "Window Width",
        rescaleIntercept: "Rescale Intercept", rescaleSlope: "Rescale Slope", voiLUTFunction: "VOI LUT Function",
        redPaletteDescriptor: "Red Palette Color Lookup Table Descriptor",
        greenPaletteDescriptor: "Green Palette Color Lookup Table Descriptor",
        bluePaletteDescriptor: "Blue Palette Color Lookup Table Descriptor",
        redPaletteData: "Red Palette Color Lookup Table Data",
        greenPaletteData: "Green Palette Color Lookup Table Data",
        bluePaletteData: "Blue Palette Color Lookup Table Data",
        lutDescriptor: "LUT Descriptor", lutData: "LUT Data", modalityLUTSequence: "Modality LUT Sequence",
        voiLUTSequence: "VOI LUT Sequence", pixelData: "Pixel Data",
        item: "Item", itemDelimitation: "Item Delimitation Item", sequenceDelimitation: "Sequence Delimitation Item",
    ]

    /// Sequences that implicit VR files can only be recognised by tag (a defined-length SQ in implicit
    /// VR looks like any other value). Other sequences of defined length stay opaque bytes, which is
    /// all we need of them.
    static let knownSequences: Set<Tag> = [modalityLUTSequence, voiLUTSequence]
}

/// One element. Exactly one of `value`, `items`, `fragments` describes its content.
struct Element {
    let tag: Tag
    /// Two ASCII letters, or "" in implicit VR.
    let vr: String
    /// The value bytes (defined length), sharing the file's storage.
    var value: ArraySlice<UInt8> = []
    /// SQ: the items, each a data set.
    var items: [DataSet]? = nil
    /// Encapsulated Pixel Data (undefined length): the Basic Offset Table first, then the fragments.
    var fragments: [ArraySlice<UInt8>]? = nil
}

// MARK: - typed values

extension DataSet {
    func uint16(_ tag: Tag, index: Int = 0) throws(ImageError) -> UInt16? {
        guard let e = elements[tag] else { return nil }
        guard e.value.count >= 2 * (index + 1) else {
            throw DICOMFail.corrupt("\(tag): \(e.value.count) bytes, a 2-byte value is needed")
        }
        return Bytes.u16(e.value, e.value.startIndex + 2 * index, bigEndian: bigEndian)
    }

    /// A text value with DICOM's padding (trailing spaces and NULs, leading spaces) removed; the first
    /// value of a multi-valued element when `firstValue`.
    func string(_ tag: Tag, firstValue: Bool = false) -> String? {
        guard let e = elements[tag] else { return nil }
        var text = String(decoding: e.value, as: UTF8.self)
        if firstValue, let bar = text.firstIndex(of: "\\") { text = String(text[..<bar]) }
        return Bytes.trimmed(text)
    }

    /// Every value of a DS or IS element (backslash-separated decimal strings), as binary64.
    func numbers(_ tag: Tag) throws(ImageError) -> [Double]? {
        guard let text = string(tag) else { return nil }
        if text.isEmpty { return nil }
        var result: [Double] = []
        for part in text.split(separator: "\\", omittingEmptySubsequences: false) {
            let trimmed = Bytes.trimmed(String(part))
            guard let value = Double(trimmed), value.isFinite else {
                throw DICOMFail.corrupt("\(tag): '\(trimmed)' is not a number")
            }
            result.append(value)
        }
        return result
    }

    func number(_ tag: Tag) throws(ImageError) -> Double? { try numbers(tag)?.first }
}

/// Byte-level helpers shared by the parser and the pixel pipeline.
enum Bytes {
    @inline(__always)
    static func u16(_ b: ArraySlice<UInt8>, _ i: Int, bigEndian: Bool) -> UInt16 {
        let x = UInt16(b[i]), y = UInt16(b[i + 1])
        return bigEndian ? x << 8 | y : y << 8 | x
    }

    @inline(__always)
    static func u32(_ b: ArraySlice<UInt8>, _ i: Int, bigEndian: Bool) -> UInt32 {
        let x0 = UInt32(b[i]), x1 = UInt32(b[i + 1]), x2 = UInt32(b[i + 2]), x3 = UInt32(b[i + 3])
        return bigEndian ? x0 << 24 | x1 << 16 | x2 << 8 | x3 : x3 << 24 | x2 << 16 | x1 << 8 | x0
    }

    static func trimmed(_ text: String) -> String {
        var scalars = Substring(text)
        while let last = scalars.last, last == " " || last == "\0" { scalars.removeLast() }
        while let first = scalars.first, first == " " { scalars.removeFirst() }
        return String(scalars)
    }
}

/// The error constructors of the DICOM reader (the path is added at the public entry point).
enum DICOMFail {
    static func corrupt(_ reason: String) -> ImageError { ImageError(path: nil, reason: reason, kind: .corrupt) }
    static func truncated(_ reason: String) -> ImageError { ImageError(path: nil, reason: reason, kind: .truncated) }
    static func tooLarge(_ reason: String) -> ImageError { ImageError(path: nil, reason: reason, kind: .tooLarge) }
}
