/// Reads DICOM Part 10 files (PS3.10 Section 7): the 128-byte preamble and "DICM" (or a data set
/// that starts at byte 0), the File Meta group, then the data set in its transfer syntax, and turns
/// the first frame into a `FloatImage` by the steps in docs/DICOM.md.
public enum DICOMReader {
    /// What to do instead of the file's VOI LUT (docs/DICOM.md, step 6).
    public enum Window: Sendable, Equatable {
        /// The file's VOI LUT Sequence, else its Window Center / Width, else the full range.
        case fromFile
        /// This center and width with the LINEAR function, whatever the file says.
        case override(center: Float, width: Float)
        /// min..max of the Modality LUT output.
        case fullRange
    }

    /// The header fields `classify` reports. Missing elements are nil.
    public struct Header: Sendable, Equatable {
        public let sopClassUID: String?
        public let sopInstanceUID: String?
        public let studyInstanceUID: String?
        public let modality: String?
        public let bodyPartExamined: String?
        public let viewPosition: String?
        /// From the File Meta group, or the syntax the data set was recognised in when there is none.
        public let transferSyntaxUID: String
    }

    public struct Image: Sendable {
        public let image: FloatImage
        public let header: Header
    }

    /// The Modality LUT output of the first frame (docs/DICOM.md, steps 1-5), before any VOI step:
    /// monochrome images give one channel of modality values; RGB, YBR_FULL and PALETTE COLOR give
    /// their stored values (RGB/YBR interleaved, not colour-converted). For comparing with other readers.
    public struct ModalityImage: Sendable {
        public let width: Int
        public let height: Int
        public let channels: Int
        public let values: [Float]
        public let photometricInterpretation: String
        public let header: Header
    }

    /// True for the start of a DICOM file: "DICM" at offset 128, or a first element of group 0002 or
    /// 0008 that is a plausible explicit or implicit VR element (PACS exports often have no
    /// preamble and no file extension). 132 bytes are enough to decide.
    public static func looksLikeDICOM<Prefix: Collection>(_ prefix: Prefix) -> Bool where Prefix.Element == UInt8 {
        let b = ArraySlice(prefix.prefix(132))
        if b.count >= 132 && Array(b[128..<132]) == magic { return true }
        guard b.count >= 8 else { return false }
        let littleGroup = Bytes.u16(b, 0, bigEndian: false)
        if littleGroup == 0x0002 || littleGroup == 0x0008 {
            if DataSetParser.isVR(b, 4) { return true }
            let length = Bytes.u32(b, 4, bigEndian: false)
            return length < 0x1_0000 || length == DataSetParser.undefinedLength
        }
        return Bytes.u16(b, 0, bigEndian: true) == 0x0008 && DataSetParser.isVR(b, 4)
    }

    /// Reads and decodes the DICOM file at `path`.
    public static func read(contentsOf path: String, window: Window = .fromFile) throws(ImageError) -> Image {
        let bytes = try FileIO.readAll(path: path)
        return try read(bytes, path: path, window: window)
    }

    /// Decodes a DICOM file held in memory. `path` is only used in error messages.
    public static func read(_ bytes: [UInt8], path: String?, window: Window = .fromFile) throws(ImageError) -> Image {
        try withPath(path) { () throws(ImageError) -> Image in
            let (set, syntax) = try parse(bytes)
            let header = Self.header(set, syntax)
            let image = try PixelPipeline(set, syntax).image(window: window)
            return Image(image: image, header: header)
        }
    }

    /// Steps 1-5 only (see `ModalityImage`).
    public static func modalityImage(contentsOf path: String) throws(ImageError) -> ModalityImage {
        let bytes = try FileIO.readAll(path: path)
        return try withPath(path) { () throws(ImageError) -> ModalityImage in
            let (set, syntax) = try parse(bytes)
            let pipeline = try PixelPipeline(set, syntax)
            let values = try pipeline.modalityValues()
            return ModalityImage(width: pipeline.module.columns, height: pipeline.module.rows,
                                 channels: pipeline.module.samplesPerPixel, values: values,
                                 photometricInterpretation: pipeline.module.photometric.rawValue,
                                 header: header(set, syntax))
        }
    }

    // MARK: - internals

    static let magic: [UInt8] = Array("DICM".utf8)

    /// Adds the file path to errors thrown without one.
    static func withPath<T>(_ path: String?, _ body: () throws(ImageError) -> T) throws(ImageError) -> T {
        do { return try body() } catch {
            throw ImageError(path: error.path ?? path, reason: error.reason, kind: error.kind)
        }
    }

    /// The File Meta group and the data set after it, up to and including Pixel Data.
    static func parse(_ bytes: [UInt8]) throws(ImageError) -> (DataSet, TransferSyntax) {
        let all = bytes[...]
        guard looksLikeDICOM(all) else {
            throw DICOMFail.corrupt("not a DICOM file: no \"DICM\" at offset 128 and no data set at offset 0")
        }
        var start = 0
        var meta = DataSet(bigEndian: false)
        let hasPreamble = all.count >= 132 && Array(all[128..<132]) == magic
        if hasPreamble { start = 132 }
        if all.count >= start + 8 && Bytes.u16(all, start, bigEndian: false) == 0x0002 {
            // The File Meta group is explicit VR little endian (PS3.10 7.1); a few writers used implicit.
            var parser = DataSetParser(bytes: all, at: start, explicitVR: DataSetParser.isVR(all, start + 4), bigEndian: false)
            meta = try parser.dataSet(end: all.endIndex, depth: 1, group: 0x0002)
            start = parser.pos
        }
        let syntax: TransferSyntax
        if let uid = meta.string(Tag.transferSyntaxUID), !uid.isEmpty {
            syntax = TransferSyntax.named(uid)
        } else {
            syntax = guessSyntax(all, at: start)
        }
        guard syntax.supported else { throw DICOMFail.corrupt(syntax.unsupportedMessage) }
        // As pydicom does: an explicit little-endian data set (native or encapsulated) whose first
        // element has no VR is read as implicit VR (a known writer bug); its pixel encoding stays.
        var explicitVR = syntax.explicitVR
        if explicitVR && !syntax.bigEndian && !syntax.deflated && all.count >= start + 8 && !DataSetParser.isVR(all, start + 4) {
            explicitVR = false
        }

        var set: DataSet
        if syntax.deflated {
            let inflated = try Inflate.raw(all[start...])
            var parser = DataSetParser(bytes: inflated[...], at: 0, explicitVR: true, bigEndian: false)
            set = try parser.dataSet(end: inflated.endIndex, depth: 0)
        } else {
            var parser = DataSetParser(bytes: all, at: start, explicitVR: explicitVR, bigEndian: syntax.bigEndian)
            set = try parser.dataSet(end: all.endIndex, depth: 0)
        }
        for (tag, element) in meta.elements { set.elements[tag] = element }
        return (set, syntax)
    }

    /// No File Meta group (or no Transfer Syntax UID in it): recognise the syntax by the first element.
    static func guessSyntax(_ b: ArraySlice<UInt8>, at p: Int) -> TransferSyntax {
        guard b.count >= p + 8 else { return .implicitLittle }
        if Bytes.u16(b, p, bigEndian: true) == 0x0008 && DataSetParser.isVR(b, p + 4) { return .explicitBig }
        if DataSetParser.isVR(b, p + 4) { return .explicitLittle }
        return .implicitLittle
    }

    static func header(_ set: DataSet, _ syntax: TransferSyntax) -> Header {
        Header(sopClassUID: set.string(Tag.sopClassUID), sopInstanceUID: set.string(Tag.sopInstanceUID),
               studyInstanceUID: set.string(Tag.studyInstanceUID), modality: set.string(Tag.modality),
               bodyPartExamined: set.string(Tag.bodyPartExamined), viewPosition: set.string(Tag.viewPosition),
               transferSyntaxUID: syntax.uid)
    }
}
