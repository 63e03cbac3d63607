/// Parses a data set (PS3.5 Section 7) from bytes held in memory.
///
/// Hostile input is the normal case here: every length is checked against the bytes that remain
/// before it is used, sequences nest at most `maxDepth` deep, an undefined-length sequence or item
/// must be closed by its delimiter before the data ends, and every step consumes at least 8 bytes,
/// so parsing is linear in the input and always ends. Errors name the element they are in.
struct DataSetParser {
    let bytes: ArraySlice<UInt8>
    var explicitVR: Bool
    var bigEndian: Bool
    var pos: Int

    static let maxDepth = 16
    static let undefinedLength: UInt32 = 0xFFFF_FFFF

    /// VRs whose explicit header is 12 bytes (2 reserved bytes and a 32-bit length), PS3.5 7.1.2.
    static let longVRs: Set<String> = ["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]
    static let allVRs: Set<String> = ["AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS", "LO", "LT", "OB",
                                      "OD", "OF", "OL", "OV", "OW", "PN", "SH", "SL", "SQ", "SS", "ST", "SV", "TM",
                                      "UC", "UI", "UL", "UN", "UR", "US", "UT", "UV"]

    init(bytes: ArraySlice<UInt8>, at pos: Int, explicitVR: Bool, bigEndian: Bool) {
        self.bytes = bytes
        self.pos = pos
        self.explicitVR = explicitVR
        self.bigEndian = bigEndian
    }

    var remaining: Int { bytes.endIndex - pos }

    /// True when the two bytes at `offset` spell a VR: how a reader tells explicit from implicit VR.
    static func isVR(_ bytes: ArraySlice<UInt8>, _ offset: Int) -> Bool {
        guard offset >= bytes.startIndex, offset + 2 <= bytes.endIndex else { return false }
        return allVRs.contains(String(decoding: bytes[offset..<offset + 2], as: UTF8.self))
    }

    // MARK: - data sets

    /// Reads elements up to `end`. `group`: stop (without consuming) at the first element of
    /// another group (the File Meta group). `closedBy`: the data set is an undefined-length item of
    /// that sequence and ends at its Item Delimitation Item. At depth 0 parsing stops after Pixel Data.
    mutating func dataSet(end: Int, depth: Int, group: UInt16? = nil, closedBy sequence: Tag? = nil) throws(ImageError) -> DataSet {
        var set = DataSet(bigEndian: bigEndian)
        while pos < end {
            guard end - pos >= 8 else {
                throw DICOMFail.truncated("the data ends inside an element header (\(end - pos) bytes left at offset \(pos))")
            }
            let tag = peekTag()
            if let group, tag.group != group { return set }
            if tag == Tag.itemDelimitation && sequence != nil {
                pos += 8
                return set
            }
            if tag.group == 0xFFFE {
                throw DICOMFail.corrupt("\(tag) found among the elements of a data set at offset \(pos)")
            }
            let element = try self.element(end: end, depth: depth)
            set.elements[element.tag] = element
            if depth == 0 && element.tag == Tag.pixelData { return set }  // nothing after it is needed
        }
        if let sequence {
            throw DICOMFail.truncated("\(sequence): an undefined-length item has no Item Delimitation Item before the end of the data")
        }
        return set
    }

    mutating func element(end: Int, depth: Int) throws(ImageError) -> Element {
        let tag = peekTag()
        pos += 4
        var vr = ""
        let length: UInt32
        if explicitVR {
            vr = String(decoding: bytes[pos..<pos + 2], as: UTF8.self)
            guard Self.allVRs.contains(vr) else {
                throw DICOMFail.corrupt("\(tag): '\(Self.printable(bytes[pos..<pos + 2]))' is not a value representation")
            }
            if Self.longVRs.contains(vr) {
                guard end - pos >= 8 else { throw DICOMFail.truncated("\(tag): the data ends inside the element header") }
                length = Bytes.u32(bytes, pos + 4, bigEndian: bigEndian)
                pos += 8
            } else {
                length = UInt32(Bytes.u16(bytes, pos + 2, bigEndian: bigEndian))
                pos += 4
            }
        } else {
            length = Bytes.u32(bytes, pos, bigEndian: bigEndian)
            pos += 4
            if Tag.knownSequences.contains(tag) { vr = "SQ" }
        }

        if length == Self.undefinedLength {
            if tag == Tag.pixelData {
                return Element(tag: tag, vr: vr, fragments: try fragments(of: tag))
            }
            switch vr {
            case "SQ", "":
                return Element(tag: tag, vr: "SQ", items: try sequence(tag, end: nil, depth: depth))
            case "UN":
                // PS3.5 6.2.2: an undefined-length UN is a sequence encoded in implicit VR little endian.
                let saved = (explicitVR, bigEndian)
                (explicitVR, bigEndian) = (false, false)
                defer { (explicitVR, bigEndian) = saved }
                return Element(tag: tag, vr: "SQ", items: try sequence(tag, end: nil, depth: depth))
            default:
                throw DICOMFail.corrupt("\(tag): undefined length is not allowed for VR \(vr)")
            }
        }
        guard Int(length) <= end - pos else {
            throw DICOMFail.truncated("\(tag): length \(length), only \(end - pos) bytes remain")
        }
        let valueEnd = pos + Int(length)
        if vr == "SQ" {
            let items = try sequence(tag, end: valueEnd, depth: depth)
            return Element(tag: tag, vr: vr, items: items)
        }
        let value = bytes[pos..<valueEnd]
        pos = valueEnd
        return Element(tag: tag, vr: vr, value: value)
    }

    // MARK: - sequences and fragments

    /// The items of a sequence: up to `end` (defined length) or to its Sequence Delimitation Item.
    mutating func sequence(_ tag: Tag, end: Int?, depth: Int) throws(ImageError) -> [DataSet] {
        guard depth + 1 < Self.maxDepth else {
            throw DICOMFail.corrupt("\(tag): sequences nested deeper than \(Self.maxDepth) levels")
        }
        let limit = end ?? bytes.endIndex
        var items: [DataSet] = []
        while true {
            if end != nil && pos == limit { return items }
            guard limit - pos >= 8 else {
                if end == nil {
                    throw DICOMFail.truncated("\(tag): an undefined-length sequence has no Sequence Delimitation Item before the end of the data")
                }
                throw DICOMFail.truncated("\(tag): the sequence ends inside an item header")
            }
            let itemTag = peekTag()
            let length = Bytes.u32(bytes, pos + 4, bigEndian: bigEndian)
            pos += 8
            if itemTag == Tag.sequenceDelimitation {
                guard end == nil else { throw DICOMFail.corrupt("\(tag): a Sequence Delimitation Item in a defined-length sequence") }
                return items
            }
            guard itemTag == Tag.item else {
                throw DICOMFail.corrupt("\(tag): expected an Item, found \(itemTag)")
            }
            if length == Self.undefinedLength {
                items.append(try dataSet(end: limit, depth: depth + 1, closedBy: tag))
            } else {
                guard Int(length) <= limit - pos else {
                    throw DICOMFail.truncated("\(tag): an item of length \(length), only \(limit - pos) bytes remain")
                }
                let itemEnd = pos + Int(length)
                items.append(try dataSet(end: itemEnd, depth: depth + 1))
                pos = itemEnd
            }
        }
    }

    /// Encapsulated Pixel Data (PS3.5 A.4): items of defined length up to the Sequence Delimitation Item.
    /// The first item is the Basic Offset Table (possibly empty).
    mutating func fragments(of tag: Tag) throws(ImageError) -> [ArraySlice<UInt8>] {
        var result: [ArraySlice<UInt8>] = []
        while true {
            guard remaining >= 8 else {
                throw DICOMFail.truncated("\(tag): encapsulated pixel data has no Sequence Delimitation Item before the end of the data")
            }
            let itemTag = peekTag()
            let length = Bytes.u32(bytes, pos + 4, bigEndian: bigEndian)
            pos += 8
            if itemTag == Tag.sequenceDelimitation { return result }
            guard itemTag == Tag.item else { throw DICOMFail.corrupt("\(tag): expected a fragment Item, found \(itemTag)") }
            guard length != Self.undefinedLength, Int(length) <= remaining else {
                throw DICOMFail.truncated("\(tag): a fragment of length \(length), only \(remaining) bytes remain")
            }
            result.append(bytes[pos..<pos + Int(length)])
            pos += Int(length)
        }
    }

    func peekTag() -> Tag {
        Tag(Bytes.u16(bytes, pos, bigEndian: bigEndian), Bytes.u16(bytes, pos + 2, bigEndian: bigEndian))
    }

    static func printable(_ b: ArraySlice<UInt8>) -> String {
        String(b.map { $0 >= 0x20 && $0 < 0x7F ? Character(UnicodeScalar($0)) : "?" })
    }
}
