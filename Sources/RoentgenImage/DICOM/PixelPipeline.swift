#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The Image Pixel module (PS3.3 C.7.6.3) of a data set, validated.
struct PixelModule {
    /// The colour space of the frame step 1 produces: YBR_FULL_422 is upsampled to YBR_FULL there,
    /// and JPEG 2000's YBR_RCT / YBR_ICT come out of OpenJPEG as RGB.
    enum Photometric: String {
        case monochrome1 = "MONOCHROME1", monochrome2 = "MONOCHROME2", rgb = "RGB", ybrFull = "YBR_FULL"
        case palette = "PALETTE COLOR"
    }

    let rows: Int
    let columns: Int
    let samplesPerPixel: Int
    let bitsAllocated: Int
    let bitsStored: Int
    let highBit: Int
    let signed: Bool
    /// Colour planes one after another (1) or interleaved per pixel (0).
    let planar: Bool
    let photometric: Photometric
    /// Native YBR_FULL_422: two Y samples share one Cb and one Cr (PS3.3 C.7.6.3.1.2).
    let chroma422: Bool
    let frames: Int

    /// Same bound as the PNG decoder: a header cannot make us allocate more than this many pixels.
    static let maxPixels = 1 << 28

    var pixels: Int { rows * columns }
    /// Bytes per sample in the frame step 1 produces (bit-packed 1-bit samples get one byte each).
    var bytesPerSample: Int { bitsAllocated == 1 ? 1 : bitsAllocated / 8 }

    init(_ set: DataSet, _ syntax: TransferSyntax) throws(ImageError) {
        guard set[Tag.pixelData] != nil else {
            var reason = "\(Tag.pixelData): missing"
            if let sop = set.string(Tag.sopClassUID) { reason += " (SOP Class UID \(sop))" }
            throw DICOMFail.corrupt(reason)
        }
        func required(_ tag: Tag) throws(ImageError) -> Int {
            guard let v = try set.uint16(tag) else { throw DICOMFail.corrupt("\(tag): missing") }
            return Int(v)
        }
        rows = try required(Tag.rows)
        columns = try required(Tag.columns)
        guard rows > 0 && columns > 0 else { throw DICOMFail.corrupt("\(Tag.rows), \(Tag.columns): \(rows) x \(columns) is empty") }
        samplesPerPixel = try required(Tag.samplesPerPixel)
        bitsAllocated = try required(Tag.bitsAllocated)
        guard [1, 8, 16, 32].contains(bitsAllocated) else {
            throw DICOMFail.corrupt("\(Tag.bitsAllocated): \(bitsAllocated) is not supported (1, 8, 16 or 32)")
        }
        guard bitsAllocated != 1 || syntax.pixels == .native else {
            throw DICOMFail.corrupt("\(Tag.bitsAllocated): 1 (bit-packed) is only supported uncompressed, not in \(syntax.name)")
        }
        bitsStored = try Int(set.uint16(Tag.bitsStored) ?? UInt16(bitsAllocated))
        guard bitsStored >= 1 && bitsStored <= bitsAllocated else {
            throw DICOMFail.corrupt("\(Tag.bitsStored): \(bitsStored) with \(bitsAllocated) bits allocated")
        }
        highBit = try Int(set.uint16(Tag.highBit) ?? UInt16(bitsStored - 1))
        guard highBit >= bitsStored - 1 && highBit < bitsAllocated else {
            throw DICOMFail.corrupt("\(Tag.highBit): \(highBit) with \(bitsStored) bits stored in \(bitsAllocated)")
        }
        let representation = try set.uint16(Tag.pixelRepresentation) ?? 0
        guard representation <= 1 else { throw DICOMFail.corrupt("\(Tag.pixelRepresentation): \(representation) is not 0 or 1") }
        signed = representation == 1
        planar = try (set.uint16(Tag.planarConfiguration) ?? 0) == 1
        let name = set.string(Tag.photometricInterpretation) ?? ""
        (photometric, chroma422) = try Self.decodedPhotometric(name, syntax)
        let expectedSamples = photometric == .rgb || photometric == .ybrFull ? 3 : 1
        guard samplesPerPixel == expectedSamples else {
            throw DICOMFail.corrupt("\(Tag.samplesPerPixel): \(samplesPerPixel) for \(name)")
        }
        guard !chroma422 || columns % 2 == 0 else {
            throw DICOMFail.corrupt("\(Tag.columns): \(columns) is odd; YBR_FULL_422 pairs the pixels of a row")
        }
        if let text = set.string(Tag.numberOfFrames), !text.isEmpty {
            guard let n = Int(text), n >= 1 else { throw DICOMFail.corrupt("\(Tag.numberOfFrames): '\(text)' is not a positive integer") }
            frames = n
        } else {
            frames = 1
        }
    }

    /// The frame's colour space for a Photometric Interpretation in a syntax, and whether the
    /// native frame is 4:2:2 subsampled (the JPEG decoders upsample themselves).
    static func decodedPhotometric(_ name: String, _ syntax: TransferSyntax) throws(ImageError) -> (Photometric, Bool) {
        let tag = Tag.photometricInterpretation
        switch name {
        case "YBR_FULL_422":
            // RLE would keep the subsampled layout in its segments; no writer is known to do it.
            guard syntax.pixels != .rle else { throw DICOMFail.corrupt("\(tag): 'YBR_FULL_422' in \(syntax.name) is not supported") }
            return (.ybrFull, syntax.pixels == .native)
        case "YBR_RCT", "YBR_ICT":
            // PS3.3 C.7.6.3.1.2: only in JPEG 2000, whose decoder undoes the component transform.
            guard syntax.pixels == .jpeg2000 else { throw DICOMFail.corrupt("\(tag): '\(name)' is only defined for JPEG 2000, not \(syntax.name)") }
            return (.rgb, false)
        default:
            guard let photometric = Photometric(rawValue: name) else {
                throw DICOMFail.corrupt("\(tag): '\(name)' is not supported (MONOCHROME1, MONOCHROME2, RGB, YBR_FULL, "
                                        + "YBR_FULL_422, PALETTE COLOR; YBR_RCT, YBR_ICT in JPEG 2000)")
            }
            return (photometric, false)
        }
    }
}

/// Steps 1-7 of docs/DICOM.md on the first frame.
struct PixelPipeline {
    let set: DataSet
    let syntax: TransferSyntax
    let module: PixelModule

    init(_ set: DataSet, _ syntax: TransferSyntax) throws(ImageError) {
        self.set = set
        self.syntax = syntax
        module = try PixelModule(set, syntax)
    }

    // MARK: step 1: the first frame's bytes

    /// The first frame as sample words, and how to read them.
    struct Frame {
        let bytes: ArraySlice<UInt8>
        let bigEndian: Bool
        let planar: Bool
    }

    func firstFrame() throws(ImageError) -> Frame {
        let pixelData = set[Tag.pixelData]!
        switch syntax.pixels {
        case .native: return try nativeFrame(pixelData)
        case .rle, .jpeg, .jpeg2000: return try encapsulatedFrame(pixelData)
        case .unsupported: throw DICOMFail.corrupt(syntax.unsupportedMessage)
        }
    }

    func nativeFrame(_ pixelData: Element) throws(ImageError) -> Frame {
        let m = module
        guard pixelData.fragments == nil else {
            throw DICOMFail.corrupt("\(Tag.pixelData): encapsulated (undefined length) in \(syntax.name)")
        }
        // Stored bits per pixel: YBR_FULL_422 stores 2 samples per pixel (Y, and Cb or Cr).
        let storedSamples = m.chroma422 ? 2 : m.samplesPerPixel
        let (frameBits, overflow1) = m.pixels.multipliedReportingOverflow(by: storedSamples * m.bitsAllocated)
        let (allBits, overflow2) = frameBits.multipliedReportingOverflow(by: m.frames)
        let needed = allBits / 8 + (allBits % 8 == 0 ? 0 : 1)  // bit-packed frames are not padded
        guard !overflow1 && !overflow2 && pixelData.value.count >= needed else {
            let need = overflow1 || overflow2 ? "more than 2^63" : "\(needed)"
            let sample = m.bitsAllocated == 1 ? "1 bit" : "\(m.bytesPerSample) bytes"
            let samples = m.chroma422 ? "2 samples (YBR_FULL_422)" : "\(m.samplesPerPixel) samples"
            throw DICOMFail.truncated("\(Tag.pixelData): \(pixelData.value.count) bytes, the header needs \(need)"
                                      + " (\(m.rows) x \(m.columns) x \(samples) x \(sample) x \(m.frames) frames)")
        }
        guard m.pixels <= PixelModule.maxPixels else { throw tooLarge() }
        let storedBytes = (frameBits + 7) / 8
        var bytes = pixelData.value.prefix(storedBytes)
        if syntax.bigEndian && m.bitsAllocated <= 8 && pixelData.vr == "OW" {
            // 8-bit or bit-packed samples in OW words: big endian swapped each pair of bytes (PS3.5
            // Annex A.3), the pad byte of an odd count included.
            var swapped = [UInt8](pixelData.value.prefix(storedBytes + 1))
            for i in stride(from: 0, to: swapped.count - 1, by: 2) { swapped.swapAt(i, i + 1) }
            bytes = swapped.prefix(storedBytes)
        }
        if m.bitsAllocated == 1 {
            return Frame(bytes: Self.unpackBits(bytes, count: m.pixels * m.samplesPerPixel)[...], bigEndian: false, planar: m.planar)
        }
        if m.chroma422 {
            return Frame(bytes: Self.expand422(bytes, bytesPerSample: m.bytesPerSample)[...], bigEndian: syntax.bigEndian, planar: false)
        }
        return Frame(bytes: bytes, bigEndian: syntax.bigEndian, planar: m.planar)
    }

    /// Bit-packed samples (Bits Allocated 1), least significant bit first (PS3.5 8.1.1), one byte each.
    static func unpackBits(_ packed: ArraySlice<UInt8>, count: Int) -> [UInt8] {
        let base = packed.startIndex
        return (0..<count).map { i in (packed[base + i / 8] >> UInt8(i % 8)) & 1 }
    }

    /// YBR_FULL_422 (Y1 Y2 Cb Cr per pair of pixels) to YBR_FULL (Y1 Cb Cr Y2 Cb Cr), each sample
    /// `bytesPerSample` bytes in the file's byte order: the chroma of a pair is repeated, as pydicom does.
    static func expand422(_ stored: ArraySlice<UInt8>, bytesPerSample n: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: stored.count / 2 * 3)
        let base = stored.startIndex
        for pair in 0..<(stored.count / (4 * n)) {
            let src = base + pair * 4 * n, dst = pair * 6 * n
            for k in 0..<n {
                let y1 = stored[src + k], y2 = stored[src + n + k], cb = stored[src + 2 * n + k], cr = stored[src + 3 * n + k]
                out[dst + k] = y1; out[dst + n + k] = cb; out[dst + 2 * n + k] = cr
                out[dst + 3 * n + k] = y2; out[dst + 4 * n + k] = cb; out[dst + 5 * n + k] = cr
            }
        }
        return out
    }

    func encapsulatedFrame(_ pixelData: Element) throws(ImageError) -> Frame {
        let m = module
        guard m.pixels <= PixelModule.maxPixels else { throw tooLarge() }
        guard let fragments = pixelData.fragments, fragments.count >= 2 else {
            throw DICOMFail.corrupt("\(Tag.pixelData): \(syntax.name) needs encapsulated pixel data with at least one fragment")
        }
        let data = try Self.firstFrameData(fragments, frames: m.frames)
        switch syntax.pixels {
        case .jpeg: return try JPEGFrames.jpeg(data, m, syntax)
        case .jpeg2000: return try JPEGFrames.jpeg2000(data, m)
        default:
            let frame = try RLE.decodeFrame(data, pixels: m.pixels, samplesPerPixel: m.samplesPerPixel,
                                            bytesPerSample: m.bytesPerSample)
            return Frame(bytes: frame[...], bigEndian: false, planar: true)
        }
    }

    /// Frame 0 of encapsulated Pixel Data (PS3.5 A.4), found as pydicom finds it: through the Basic
    /// Offset Table (fragments[0]) when it has entries; else the only fragment; else, for one frame,
    /// all fragments joined; else the first fragment when there is one per frame; else the fragments
    /// up to the first that ends with a JPEG EOI / J2K EOC marker (FF D9).
    static func firstFrameData(_ fragments: [ArraySlice<UInt8>], frames: Int) throws(ImageError) -> ArraySlice<UInt8> {
        let table = fragments[0]
        let items = fragments[1...]
        if !table.isEmpty {
            guard table.count % 4 == 0 else {
                throw DICOMFail.corrupt("\(Tag.pixelData): the Basic Offset Table has \(table.count) bytes, not a multiple of 4")
            }
            let first = Int(Bytes.u32(table, table.startIndex, bigEndian: false))
            let next = table.count >= 8 ? Int(Bytes.u32(table, table.startIndex + 4, bigEndian: false)) : Int.max
            // Offsets count from the first fragment's Item tag; each item has an 8-byte header. Frame 0
            // must start and end on item boundaries (or end with the data).
            var offset = 0
            var selected: [ArraySlice<UInt8>] = []
            var boundaries: Set<Int> = []
            for item in items {
                boundaries.insert(offset)
                if offset >= first && offset < next { selected.append(item) }
                offset += 8 + item.count
            }
            boundaries.insert(offset)
            guard boundaries.contains(first), next == Int.max || boundaries.contains(next), !selected.isEmpty else {
                let end = next == Int.max ? "the end" : String(next)
                throw DICOMFail.corrupt("\(Tag.pixelData): the Basic Offset Table puts frame 0 at bytes \(first) to \(end), "
                                        + "not on fragment boundaries")
            }
            return joined(selected)
        }
        if items.count == 1 || items.count == frames { return items[items.startIndex] }
        if frames == 1 { return joined(Array(items)) }
        var selected: [ArraySlice<UInt8>] = []
        for item in items {
            selected.append(item)
            let tail = item.suffix(10)
            if zip(tail, tail.dropFirst()).contains(where: { $0 == 0xFF && $1 == 0xD9 }) { break }
        }
        return joined(selected)
    }

    static func joined(_ parts: [ArraySlice<UInt8>]) -> ArraySlice<UInt8> {
        parts.count == 1 ? parts[0] : Array(parts.joined())[...]
    }

    func tooLarge() -> ImageError {
        DICOMFail.tooLarge("\(Tag.rows), \(Tag.columns): \(module.rows) x \(module.columns) is more than \(PixelModule.maxPixels) pixels")
    }

    // MARK: step 2: stored values

    /// A stored value (Bits Stored bits at High Bit, sign-extended when signed) of sample `s` of pixel `p`.
    struct StoredValues {
        let frame: Frame
        let pixels: Int
        let samples: Int
        let bytesPerSample: Int
        let shift: Int
        let mask: UInt32
        let signBit: UInt32
        let signed: Bool

        init(_ frame: Frame, _ m: PixelModule) {
            self.frame = frame
            pixels = m.pixels
            samples = m.samplesPerPixel
            bytesPerSample = m.bytesPerSample
            shift = m.highBit + 1 - m.bitsStored
            mask = m.bitsStored == 32 ? UInt32.max : (UInt32(1) << m.bitsStored) - 1
            signBit = UInt32(1) << (m.bitsStored - 1)
            signed = m.signed
        }

        @inline(__always)
        func value(pixel p: Int, sample s: Int) -> Int64 {
            let index = frame.planar ? s * pixels + p : p * samples + s
            let offset = frame.bytes.startIndex + index * bytesPerSample
            let word: UInt32
            switch bytesPerSample {
            case 1: word = UInt32(frame.bytes[offset])
            case 2: word = UInt32(Bytes.u16(frame.bytes, offset, bigEndian: frame.bigEndian))
            default: word = Bytes.u32(frame.bytes, offset, bigEndian: frame.bigEndian)
            }
            let v = (word >> UInt32(shift)) & mask
            if signed && (v & signBit) != 0 { return Int64(v) - (Int64(mask) + 1) }
            return Int64(v)
        }
    }

    // MARK: steps 3-5: Modality LUT

    /// Monochrome: the Modality LUT output. Colour and palette: the stored values.
    func modalityValues() throws(ImageError) -> [Float] {
        let m = module
        let stored = StoredValues(try firstFrame(), m)
        let count = m.pixels * m.samplesPerPixel
        guard m.photometric == .monochrome1 || m.photometric == .monochrome2 else {
            return (0..<count).map { i in Float(stored.value(pixel: i / m.samplesPerPixel, sample: i % m.samplesPerPixel)) }
        }
        if let item = set[Tag.modalityLUTSequence]?.items?.first {
            let lut = try LookupTable(item, in: Tag.modalityLUTSequence, firstIsSigned: m.signed)
            return (0..<count).map { Float(lut.entry(stored.value(pixel: $0, sample: 0))) }
        }
        // Rescale in binary64, rounded once to binary32: what numpy does with pydicom's float64 output.
        let slope = try set.number(Tag.rescaleSlope) ?? 1
        let intercept = try set.number(Tag.rescaleIntercept) ?? 0
        let values = (0..<count).map { Float(Double(stored.value(pixel: $0, sample: 0)) * slope + intercept) }
        // Values (or a span) beyond binary32 would turn into NaN in the VOI step (fixtures/fuzz-regressions).
        if let lo = values.min(), let hi = values.max(), !(hi - lo).isFinite {
            throw DICOMFail.corrupt("\(Tag.rescaleSlope), \(Tag.rescaleIntercept): \(slope), \(intercept) take the values "
                                    + "to \(lo)...\(hi), beyond binary32")
        }
        return values
    }

    // MARK: steps 6-7: VOI LUT, MONOCHROME1, colour

    func image(window: DICOMReader.Window) throws(ImageError) -> FloatImage {
        let m = module
        var values = try modalityValues()
        switch m.photometric {
        case .monochrome1, .monochrome2:
            try applyVOI(&values, window: window)
            if m.photometric == .monochrome1 {
                for i in values.indices { values[i] = 1 - values[i] }
            }
            return FloatImage(width: m.columns, height: m.rows, channels: 1, values: values)
        case .rgb:
            let scale = Float((UInt64(1) << m.bitsStored) - 1)
            for i in values.indices { values[i] = clamp01(values[i] / scale) }
            return FloatImage(width: m.columns, height: m.rows, channels: 3, values: values)
        case .ybrFull:
            // PS3.3 C.7.6.3.1.2, with 128 and 255 generalised to 2^(bits-1) and 2^bits - 1.
            let half = Float(UInt64(1) << (m.bitsStored - 1)), scale = Float((UInt64(1) << m.bitsStored) - 1)
            for p in 0..<m.pixels {
                let y = values[3 * p], cb = values[3 * p + 1] - half, cr = values[3 * p + 2] - half
                let r = y + 1.402 * cr
                let g = (y - 0.344136 * cb) - 0.714136 * cr
                let b = y + 1.772 * cb
                values[3 * p] = clamp01(r / scale)
                values[3 * p + 1] = clamp01(g / scale)
                values[3 * p + 2] = clamp01(b / scale)
            }
            return FloatImage(width: m.columns, height: m.rows, channels: 3, values: values)
        case .palette:
            let red = try LookupTable(palette: set, Tag.redPaletteDescriptor, Tag.redPaletteData, firstIsSigned: m.signed).fitsItsBits()
            let green = try LookupTable(palette: set, Tag.greenPaletteDescriptor, Tag.greenPaletteData, firstIsSigned: m.signed).fitsItsBits()
            let blue = try LookupTable(palette: set, Tag.bluePaletteDescriptor, Tag.bluePaletteData, firstIsSigned: m.signed).fitsItsBits()
            var rgb = [Float](repeating: 0, count: 3 * m.pixels)
            for p in 0..<m.pixels {
                let index = Int64(values[p])  // stored values are integers, exact in binary32 up to 2^24
                rgb[3 * p] = Float(red.entry(index)) / red.maxEntry
                rgb[3 * p + 1] = Float(green.entry(index)) / green.maxEntry
                rgb[3 * p + 2] = Float(blue.entry(index)) / blue.maxEntry
            }
            return FloatImage(width: m.columns, height: m.rows, channels: 3, values: rgb)
        }
    }

    /// Step 6 (PS3.3 C.11.2): modality values to [0, 1].
    func applyVOI(_ values: inout [Float], window: DICOMReader.Window) throws(ImageError) {
        switch window {
        case .override(let center, let width):
            guard width >= 1 && center.isFinite && width.isFinite else {
                throw DICOMFail.corrupt("window override: width \(width) must be >= 1")
            }
            VOI.linear(&values, center: center, width: width)
            return
        case .fullRange:
            VOI.fullRange(&values)
            return
        case .fromFile:
            break
        }
        if let item = set[Tag.voiLUTSequence]?.items?.first {
            let lut = try LookupTable(item, in: Tag.voiLUTSequence, firstIsSigned: module.signed).fitsItsBits()
            for i in values.indices {
                // Modality values index the LUT after rounding down (they are integers unless rescaled).
                let x = values[i].rounded(.down)
                let index = x.isNaN ? 0 : Int64(max(min(x, 9.0e18), -9.0e18))
                values[i] = Float(lut.entry(index)) / lut.maxEntry
            }
            return
        }
        guard let center = try set.numbers(Tag.windowCenter)?.first,
              let width = try set.numbers(Tag.windowWidth)?.first else {
            VOI.fullRange(&values)
            return
        }
        let c = Float(center), w = Float(width)
        guard c.isFinite && w.isFinite else {  // infinite, they give NaN (fixtures/fuzz-regressions)
            throw DICOMFail.corrupt("\(Tag.windowCenter), \(Tag.windowWidth): \(center), \(width) are beyond binary32")
        }
        let function = set.string(Tag.voiLUTFunction, firstValue: true) ?? "LINEAR"
        switch function {
        case "LINEAR", "":
            guard w >= 1 else { throw DICOMFail.corrupt("\(Tag.windowWidth): \(width) must be >= 1 for LINEAR") }
            VOI.linear(&values, center: c, width: w)
        case "LINEAR_EXACT":
            guard w > 0 else { throw DICOMFail.corrupt("\(Tag.windowWidth): \(width) must be > 0 for LINEAR_EXACT") }
            VOI.linearExact(&values, center: c, width: w)
        case "SIGMOID":
            guard w > 0 else { throw DICOMFail.corrupt("\(Tag.windowWidth): \(width) must be > 0 for SIGMOID") }
            VOI.sigmoid(&values, center: c, width: w)
        default:
            throw DICOMFail.corrupt("\(Tag.voiLUTFunction): '\(function)' is not LINEAR, LINEAR_EXACT or SIGMOID")
        }
    }
}

@inline(__always)
func clamp01(_ x: Float) -> Float { min(max(x, 0), 1) }

/// The VOI functions of PS3.3 C.11.2.1.2 with output range [0, 1], each operation in binary32.
enum VOI {
    /// C.11.2.1.2.1: below (c - 0.5) - (w - 1)/2 -> 0, above (c - 0.5) + (w - 1)/2 -> 1,
    /// between ((x - (c - 0.5)) / (w - 1) + 0.5).
    static func linear(_ values: inout [Float], center: Float, width: Float) {
        let a = center - 0.5, d = width - 1
        let h = d / 2
        let lower = a - h, upper = a + h
        for i in values.indices {
            let x = values[i]
            if x <= lower { values[i] = 0 } else if x > upper { values[i] = 1 } else {
                values[i] = clamp01((x - a) / d + 0.5)
            }
        }
    }

    /// C.11.2.1.3.2: below c - w/2 -> 0, above c + w/2 -> 1, between (x - c) / w + 0.5.
    static func linearExact(_ values: inout [Float], center: Float, width: Float) {
        let h = width / 2
        let lower = center - h, upper = center + h
        for i in values.indices {
            let x = values[i]
            if x <= lower { values[i] = 0 } else if x > upper { values[i] = 1 } else {
                values[i] = clamp01((x - center) / width + 0.5)
            }
        }
    }

    /// C.11.2.1.3.1: 1 / (1 + exp(-4 (x - c) / w)).
    static func sigmoid(_ values: inout [Float], center: Float, width: Float) {
        for i in values.indices {
            let t = (-4 * (values[i] - center)) / width
            values[i] = 1 / (1 + expf(t))
        }
    }

    /// No window: (x - min) / (max - min) over the frame; a constant frame becomes 0.
    static func fullRange(_ values: inout [Float]) {
        guard let lo = values.min(), let hi = values.max(), hi > lo else {
            for i in values.indices { values[i] = 0 }
            return
        }
        let range = hi - lo
        for i in values.indices { values[i] = clamp01((values[i] - lo) / range) }
    }
}

/// A Modality, VOI or palette lookup table (PS3.3 C.11.1, C.11.2, C.7.6.3.1.5): descriptor
/// (entries, first mapped value, bits per entry) and the entries.
struct LookupTable {
    let first: Int64
    let entries: [UInt16]
    /// f32(2^bits - 1): the largest entry, for scaling to [0, 1].
    let maxEntry: Float
    /// "(0028,3010) VOI LUT Sequence (0028,3006) LUT Data", for messages.
    let dataName: String

    init(_ item: DataSet, in sequence: Tag, firstIsSigned: Bool) throws(ImageError) {
        try self.init(item, descriptor: Tag.lutDescriptor, data: Tag.lutData, context: "\(sequence) ",
                      firstIsSigned: firstIsSigned)
    }

    init(palette set: DataSet, _ descriptor: Tag, _ data: Tag, firstIsSigned: Bool) throws(ImageError) {
        try self.init(set, descriptor: descriptor, data: data, context: "", firstIsSigned: firstIsSigned)
    }

    init(_ set: DataSet, descriptor: Tag, data: Tag, context: String, firstIsSigned: Bool) throws(ImageError) {
        guard let d0 = try set.uint16(descriptor), let d1 = try set.uint16(descriptor, index: 1),
              let bits = try set.uint16(descriptor, index: 2) else {
            throw DICOMFail.corrupt("\(context)\(descriptor): missing")
        }
        let count = d0 == 0 ? 65536 : Int(d0)  // 0 means 2^16 entries
        // The first mapped value is US or SS like the pixel values (PS3.3 C.11.1.1).
        first = firstIsSigned ? Int64(Int16(bitPattern: d1)) : Int64(d1)
        guard bits >= 8 && bits <= 16 else { throw DICOMFail.corrupt("\(context)\(descriptor): \(bits) bits per entry (8..16)") }
        guard let raw = set[data]?.value else { throw DICOMFail.corrupt("\(context)\(data): missing") }
        let base = raw.startIndex
        if bits == 8 && raw.count == count || raw.count == count + 1 && bits == 8 {
            entries = (0..<count).map { UInt16(raw[base + $0]) }  // one byte per entry (OB, padded to even)
        } else {
            guard raw.count >= 2 * count else {
                throw DICOMFail.truncated("\(context)\(data): \(raw.count) bytes, the descriptor needs \(2 * count)")
            }
            entries = (0..<count).map { Bytes.u16(raw, base + 2 * $0, bigEndian: set.bigEndian) }
        }
        maxEntry = Float((1 << Int(bits)) - 1)
        dataName = "\(context)\(data)"
    }

    /// The VOI and palette steps divide by 2^bits - 1, so an entry above it would give a value outside
    /// [0, 1] (fixtures/fuzz-regressions): there such a table is refused. The Modality LUT is not scaled.
    func fitsItsBits() throws(ImageError) -> LookupTable {
        if let entry = entries.first(where: { Float($0) > maxEntry }) {
            throw DICOMFail.corrupt("\(dataName): entry \(entry) is above \(Int(maxEntry)), the largest the descriptor's bits allow")
        }
        return self
    }

    /// Values below the first mapped one take entry 0, above the last the last entry.
    @inline(__always)
    func entry(_ value: Int64) -> UInt16 {
        let i = value &- first
        return entries[Int(min(max(i, 0), Int64(entries.count - 1)))]
    }
}
