import Foundation
import Testing
import RoentgenImage

// MARK: - a minimal DICOM writer for the tests

/// Encodes elements in one transfer syntax's VR and byte order (PS3.5 7.1).
struct DICOMEncoder {
    var explicitVR = true
    var bigEndian = false

    static let longVRs: Set<String> = ["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]

    func u16(_ v: UInt16) -> [UInt8] { bigEndian ? [UInt8(v >> 8), UInt8(v & 0xFF)] : [UInt8(v & 0xFF), UInt8(v >> 8)] }
    func u32(_ v: UInt32) -> [UInt8] {
        let le = [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF), UInt8((v >> 16) & 0xFF), UInt8(v >> 24)]
        return bigEndian ? le.reversed() : le
    }
    func words(_ values: [UInt16]) -> [UInt8] { values.flatMap(u16) }

    /// Text padded to even length (UI with NUL, others with a space).
    static func text(_ s: String, vr: String = "CS") -> [UInt8] {
        var b = Array(s.utf8)
        if b.count % 2 == 1 { b.append(vr == "UI" ? 0 : 0x20) }
        return b
    }

    /// One element; `length` overrides the written length (to lie, or 0xFFFFFFFF).
    func element(_ group: UInt16, _ element: UInt16, _ vr: String, _ value: [UInt8], length: UInt32? = nil) -> [UInt8] {
        let n = length ?? UInt32(value.count)
        var out = u16(group) + u16(element)
        if explicitVR {
            out += Array(vr.utf8)
            if Self.longVRs.contains(vr) { out += [0, 0] + u32(n) } else { out += u16(UInt16(truncatingIfNeeded: n)) }
        } else {
            out += u32(n)
        }
        return out + value
    }

    func us(_ group: UInt16, _ element: UInt16, _ v: UInt16) -> [UInt8] { self.element(group, element, "US", u16(v)) }
    func string(_ group: UInt16, _ element: UInt16, _ vr: String, _ s: String) -> [UInt8] {
        self.element(group, element, vr, Self.text(s, vr: vr))
    }

    /// A sequence of items (each already encoded), of defined or undefined length.
    func sequence(_ group: UInt16, _ element: UInt16, items: [[UInt8]], undefined: Bool = false) -> [UInt8] {
        var body: [UInt8] = []
        for item in items {
            if undefined {
                body += u16(0xFFFE) + u16(0xE000) + u32(0xFFFF_FFFF) + item + u16(0xFFFE) + u16(0xE00D) + u32(0)
            } else {
                body += u16(0xFFFE) + u16(0xE000) + u32(UInt32(item.count)) + item
            }
        }
        if undefined {
            return self.element(group, element, "SQ", body + u16(0xFFFE) + u16(0xE0DD) + u32(0), length: 0xFFFF_FFFF)
        }
        return self.element(group, element, "SQ", body)
    }
}

enum Syntax: String, CaseIterable {
    case implicitLittle = "1.2.840.10008.1.2"
    case explicitLittle = "1.2.840.10008.1.2.1"
    case explicitBig = "1.2.840.10008.1.2.2"
    case deflated = "1.2.840.10008.1.2.1.99"
    case rle = "1.2.840.10008.1.2.5"

    var encoder: DICOMEncoder {
        DICOMEncoder(explicitVR: self != .implicitLittle, bigEndian: self == .explicitBig)
    }
}

/// Preamble, "DICM", the File Meta group (explicit VR little endian) and the data set.
func dicomFile(_ uid: String, _ dataSet: [UInt8], preamble: Bool = true) -> [UInt8] {
    let meta = DICOMEncoder()
    let fields = meta.element(0x0002, 0x0001, "OB", [0, 1])
        + meta.string(0x0002, 0x0002, "UI", "1.2.840.10008.5.1.4.1.1.1.1")
        + meta.string(0x0002, 0x0003, "UI", "1.2.3.4.5")
        + meta.string(0x0002, 0x0010, "UI", uid)
    let group = meta.element(0x0002, 0x0000, "UL", meta.u32(UInt32(fields.count))) + fields
    let head: [UInt8] = preamble ? [UInt8](repeating: 0, count: 128) + Array("DICM".utf8) : []
    return head + group + (uid == Syntax.deflated.rawValue ? storedDeflate(dataSet) : dataSet)
}

/// Raw deflate with stored (uncompressed) blocks: valid RFC 1951 without a compressor.
func storedDeflate(_ data: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    var start = 0
    repeat {
        let n = min(65535, data.count - start)
        let final: UInt8 = start + n == data.count ? 1 : 0
        out += [final, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
        out += data[start..<start + n]
        start += n
    } while start < data.count
    return out
}

/// RLE Lossless (PS3.5 Annex G) of one frame given as planar sample words: literal runs only, plus
/// one replicate run at the start of each segment when possible, so both run kinds are decoded.
func rleFrame(_ planes: [[UInt32]], bytesPerSample: Int) -> [UInt8] {
    var segments: [[UInt8]] = []
    for plane in planes {
        for byte in 0..<bytesPerSample {
            let shift = 8 * (bytesPerSample - 1 - byte)
            let raw = plane.map { UInt8(($0 >> UInt32(shift)) & 0xFF) }
            var seg: [UInt8] = []
            var i = 0
            var run = 1
            while run < raw.count && run < 128 && raw[run] == raw[0] { run += 1 }
            if run >= 2 { seg += [UInt8(bitPattern: Int8(1 - run)), raw[0]]; i = run }
            while i < raw.count {
                let n = min(128, raw.count - i)
                seg.append(UInt8(n - 1))
                seg += raw[i..<i + n]
                i += n
            }
            if seg.count % 2 == 1 { seg.append(0x80) }  // -128: a no-op, pads to even
            segments.append(seg)
        }
    }
    var header = [UInt8](repeating: 0, count: 64)
    func put(_ v: Int, at i: Int) { for k in 0..<4 { header[i + k] = UInt8((v >> (8 * k)) & 0xFF) } }
    put(segments.count, at: 0)
    var offset = 64
    for (k, s) in segments.enumerated() { put(offset, at: 4 + 4 * k); offset += s.count }
    return header + segments.flatMap { $0 }
}

/// An image data set. `pixels` are the sample words of frame(s), interleaved unless `planar`.
struct TestImage {
    var rows = 3
    var columns = 4
    var samples = 1
    var bitsAllocated = 16
    var bitsStored = 16
    var highBit: Int? = nil
    var signed = false
    var planar = false
    var photometric = "MONOCHROME2"
    var frames = 1
    var words: [UInt32] = []
    var extra: (DICOMEncoder) -> [UInt8] = { _ in [] }

    func dataSet(_ syntax: Syntax) -> [UInt8] {
        let e = syntax.encoder
        var out = e.string(0x0008, 0x0016, "UI", "1.2.840.10008.5.1.4.1.1.1.1")
            + e.string(0x0008, 0x0018, "UI", "1.2.3.4.5.6")
            + e.string(0x0008, 0x0060, "CS", "DX")
            + e.string(0x0018, 0x0015, "CS", "CHEST")
            + e.string(0x0018, 0x5101, "CS", "PA")
            + e.string(0x0020, 0x000D, "UI", "1.2.3.4")
            + e.us(0x0028, 0x0002, UInt16(samples))
            + e.string(0x0028, 0x0004, "CS", photometric)
        if samples == 3 { out += e.us(0x0028, 0x0006, planar ? 1 : 0) }
        if frames > 1 { out += e.string(0x0028, 0x0008, "IS", String(frames)) }
        out += e.us(0x0028, 0x0010, UInt16(rows)) + e.us(0x0028, 0x0011, UInt16(columns))
            + e.us(0x0028, 0x0100, UInt16(bitsAllocated)) + e.us(0x0028, 0x0101, UInt16(bitsStored))
            + e.us(0x0028, 0x0102, UInt16(highBit ?? bitsStored - 1)) + e.us(0x0028, 0x0103, signed ? 1 : 0)
        out += extra(e)
        out += pixelData(syntax)
        return out
    }

    func pixelData(_ syntax: Syntax) -> [UInt8] {
        let e = syntax.encoder
        let bytesPerSample = bitsAllocated / 8
        if syntax == .rle {
            let perFrame = rows * columns * samples
            var fragments: [[UInt8]] = []
            for f in 0..<frames {
                let frame = Array(words[(f * perFrame)..<((f + 1) * perFrame)])
                let planes: [[UInt32]] = planar || samples == 1
                    ? (0..<samples).map { s in Array(frame[(s * rows * columns)..<((s + 1) * rows * columns)]) }
                    : (0..<samples).map { s in stride(from: s, to: frame.count, by: samples).map { frame[$0] } }
                fragments.append(rleFrame(planes, bytesPerSample: bytesPerSample))
            }
            var body = e.u16(0xFFFE) + e.u16(0xE000) + e.u32(0)  // empty Basic Offset Table
            for f in fragments { body += e.u16(0xFFFE) + e.u16(0xE000) + e.u32(UInt32(f.count)) + f }
            body += e.u16(0xFFFE) + e.u16(0xE0DD) + e.u32(0)
            return e.element(0x7FE0, 0x0010, "OB", body, length: 0xFFFF_FFFF)
        }
        var bytes: [UInt8] = []
        for w in words {
            switch bytesPerSample {
            case 1: bytes.append(UInt8(w))
            case 2: bytes += e.u16(UInt16(w))
            default: bytes += e.u32(w)
            }
        }
        if bytes.count % 2 == 1 { bytes.append(0) }
        return e.element(0x7FE0, 0x0010, bitsAllocated == 8 ? "OB" : "OW", bytes)
    }

    func file(_ syntax: Syntax = .explicitLittle) -> [UInt8] { dicomFile(syntax.rawValue, dataSet(syntax)) }
}

func decode(_ bytes: [UInt8], window: DICOMReader.Window = .fromFile) throws -> FloatImage {
    try DICOMReader.read(bytes, path: "test.dcm", window: window).image
}

/// Runs `body`, which must throw an ImageError whose one-line description contains `mentions`.
@discardableResult
func expectDICOMError(_ mentions: String, sourceLocation: SourceLocation = #_sourceLocation,
                      _ body: () throws -> Void) -> ImageError? {
    let error = expectImageError(body)
    #expect(error != nil, "expected an error mentioning \(mentions)", sourceLocation: sourceLocation)
    guard let error else { return nil }
    #expect(error.description.contains(mentions), "\(error)", sourceLocation: sourceLocation)
    #expect(error.description.hasPrefix("test.dcm: "), "\(error)", sourceLocation: sourceLocation)
    #expect(!error.description.contains("\n"), sourceLocation: sourceLocation)
    return error
}

// MARK: - tests

@Suite struct DICOMTests {
    let ramp: [UInt32] = [0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1100]

    @Test func everySyntaxGivesTheSamePixels() throws {
        let image = TestImage(words: ramp)
        // Full range: (x - 0) / 1100 in binary32.
        let expected = ramp.map { Float($0) / 1100 }
        for syntax in Syntax.allCases {
            let read = try DICOMReader.read(image.file(syntax), path: "test.dcm")
            #expect(read.image.values == expected, "\(syntax)")
            #expect(read.image.width == 4 && read.image.height == 3 && read.image.channels == 1)
            #expect(read.header.transferSyntaxUID == syntax.rawValue)
            #expect(read.header.sopInstanceUID == "1.2.3.4.5.6" && read.header.studyInstanceUID == "1.2.3.4")
            #expect(read.header.modality == "DX" && read.header.bodyPartExamined == "CHEST" && read.header.viewPosition == "PA")
        }
    }

    @Test func filesWithoutPreambleOrMeta() throws {
        let image = TestImage(words: ramp)
        let expected = ramp.map { Float($0) / 1100 }
        let noPreamble = dicomFile(Syntax.explicitLittle.rawValue, image.dataSet(.explicitLittle), preamble: false)
        #expect(try decode(noPreamble).values == expected)
        for syntax in [Syntax.implicitLittle, .explicitLittle, .explicitBig] {
            let bare = image.dataSet(syntax)  // starts with (0008,0016), no File Meta group
            #expect(DICOMReader.looksLikeDICOM(bare), "\(syntax)")
            let read = try DICOMReader.read(bare, path: "test.dcm")
            #expect(read.image.values == expected, "\(syntax)")
            #expect(read.header.transferSyntaxUID == syntax.rawValue)
        }
        #expect(DICOMReader.looksLikeDICOM(image.file()))
        #expect(!DICOMReader.looksLikeDICOM([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13]))
        #expect(!DICOMReader.looksLikeDICOM(Array("hello, world".utf8)))
    }

    @Test func signedBitsStoredAndHighBit() throws {
        // 12 of 16 bits, signed: 0x0FFF = -1, 0x0800 = -2048, 0x07FF = 2047; garbage above the high bit is masked.
        let words: [UInt32] = [0xF000 | 0x0FFF, 0x0800, 0x07FF, 0, 0xA001, 5, 6, 7, 8, 9, 10, 11]
        let image = TestImage(bitsStored: 12, signed: true, words: words)
        let m = try modality(image.file())
        #expect(m == [-1, -2048, 2047, 0, 1, 5, 6, 7, 8, 9, 10, 11])
        // High bit 11 with 8 bits stored: the value sits in bits 4...11.
        let shifted = TestImage(bitsStored: 8, highBit: 11, words: ramp.map { ($0 % 256) << 4 | 0xF00F })
        #expect(try modality(shifted.file()) == ramp.map { Float($0 % 256) })
        // 8 and 32 bits allocated.
        #expect(try modality(TestImage(bitsAllocated: 8, bitsStored: 8, words: ramp.map { $0 % 256 }).file()) == ramp.map { Float($0 % 256) })
        let big: [UInt32] = ramp.map { $0 * 1000 + 0x8000_0000 }
        #expect(try modality(TestImage(bitsAllocated: 32, bitsStored: 32, words: big).file()) == big.map { Float(Double($0)) })
    }

    /// Modality output via the full-range image: (x - min) / (max - min) is monotonic, so compare
    /// through `modalityImage` instead, which needs a file on disk.
    func modality(_ bytes: [UInt8]) throws -> [Float] {
        let dir = try TempDir(); defer { dir.cleanup() }
        return try DICOMReader.modalityImage(contentsOf: try dir.write("m.dcm", bytes)).values
    }

    @Test func rescaleAndModalityLUTSequence() throws {
        let rescaled = TestImage(words: ramp, extra: { e in
            e.string(0x0028, 0x1052, "DS", "-1024") + e.string(0x0028, 0x1053, "DS", "2.5")
        })
        #expect(try modality(rescaled.file()) == ramp.map { Float(Double($0) * 2.5 + -1024) })
        // LUT: 4 entries from 100; below 100 -> entry 0, above 400 -> entry 3.
        let lut = TestImage(words: [0, 99, 100, 101, 102, 103, 104, 1000, 5, 100, 102, 7], extra: { e in
            let item = e.element(0x0028, 0x3002, "US", e.words([4, 100, 16])) + e.element(0x0028, 0x3006, "OW", e.words([7, 8, 9, 10]))
            return e.sequence(0x0028, 0x3000, items: [item], undefined: true)
        })
        for syntax in [Syntax.explicitLittle, .implicitLittle, .explicitBig] {
            #expect(try modality(lut.file(syntax)) == [7, 7, 7, 8, 9, 10, 10, 10, 7, 7, 9, 7], "\(syntax)")
        }
    }

    @Test func monochrome1IsInvertedAfterTheWindow() throws {
        let m2 = try decode(TestImage(words: ramp).file()).values
        let m1 = try decode(TestImage(photometric: "MONOCHROME1", words: ramp).file()).values
        #expect(m1 == m2.map { 1 - $0 })
        #expect(m1.first == 1 && m1.last == 0)
    }

    @Test func windowFunctions() throws {
        func windowed(_ function: String?, _ center: String, _ width: String) -> TestImage {
            TestImage(words: ramp, extra: { e in
                var b = e.string(0x0028, 0x1050, "DS", center + "\\1") + e.string(0x0028, 0x1051, "DS", width + "\\2")
                if let function { b += e.string(0x0028, 0x1056, "CS", function) }
                return b
            })
        }
        let c: Float = 500, w: Float = 401
        // LINEAR (C.11.2.1.2.1), each step in binary32.
        let linear = ramp.map { v -> Float in
            let x = Float(v), a = c - 0.5, d = w - 1, h = d / 2
            if x <= a - h { return 0 }
            if x > a + h { return 1 }
            return min(max((x - a) / d + 0.5, 0), 1)
        }
        #expect(try decode(windowed(nil, "500", "401").file()).values == linear)
        #expect(try decode(windowed("LINEAR", "500", "401").file()).values == linear)
        #expect(linear[2] == 0 && linear[3] > 0 && linear[6] < 1 && linear[7] == 1)
        let exact = ramp.map { v -> Float in
            let x = Float(v)
            if x <= c - w / 2 { return 0 }
            if x > c + w / 2 { return 1 }
            return (x - c) / w + 0.5
        }
        #expect(try decode(windowed("LINEAR_EXACT", "500", "401").file()).values == exact)
        let sigmoid = try decode(windowed("SIGMOID", "500", "401").file()).values
        for (i, v) in ramp.enumerated() {
            let ref = 1 / (1 + exp(-4 * (Double(v) - 500) / 401))
            #expect(abs(Double(sigmoid[i]) - ref) < 1e-6)
        }
        #expect(sigmoid != linear)
        // Options: the override uses LINEAR whatever the file says; full range ignores the window.
        #expect(try decode(windowed("SIGMOID", "1", "1").file(), window: .override(center: 500, width: 401)).values == linear)
        #expect(try decode(windowed(nil, "1", "1").file(), window: .fullRange).values == ramp.map { Float($0) / 1100 })
        expectDICOMError("(0028,1051) Window Width") { _ = try decode(windowed(nil, "500", "0").file()) }
        expectDICOMError("(0028,1056) VOI LUT Function") { _ = try decode(windowed("CUBIC", "500", "40").file()) }
    }

    @Test func voiLUTSequenceWinsOverTheWindow() throws {
        let image = TestImage(words: [0, 100, 200, 201, 202, 203, 0, 0, 0, 0, 0, 0], extra: { e in
            let item = e.element(0x0028, 0x3002, "US", e.words([3, 200, 8])) + e.element(0x0028, 0x3006, "OW", e.words([0, 51, 255]))
            return e.string(0x0028, 0x1050, "DS", "0") + e.string(0x0028, 0x1051, "DS", "10") + e.sequence(0x0028, 0x3010, items: [item])
        })
        let expected: [Float] = [0, 0, 0, 51 / 255, 1, 1, 0, 0, 0, 0, 0, 0]
        #expect(try decode(image.file()).values == expected)
        #expect(try decode(image.file(.implicitLittle)).values == expected)
    }

    @Test func paletteColor() throws {
        let palette = TestImage(bitsAllocated: 8, bitsStored: 8, photometric: "PALETTE COLOR",
                                words: [0, 1, 2, 3, 3, 2, 1, 0, 9, 9, 0, 1], extra: { e in
            var b: [UInt8] = []
            let tables: [[UInt16]] = [[0, 65535, 0, 32768], [0, 0, 65535, 32768], [65535, 0, 0, 32768]]
            for k in 0..<3 { b += e.element(0x0028, 0x1101 + UInt16(k), "US", e.words([4, 0, 16])) }
            for (k, t) in tables.enumerated() { b += e.element(0x0028, 0x1201 + UInt16(k), "OW", e.words(t)) }
            return b
        })
        let img = try decode(palette.file())
        #expect(img.channels == 3)
        #expect(Array(img.values[0..<6]) == [0, 0, 1, 1, 0, 0])
        #expect(Array(img.values[9..<12]) == [Float(32768) / 65535, Float(32768) / 65535, Float(32768) / 65535])
        #expect(Array(img.values[24..<27]) == Array(img.values[9..<12]))  // index 9 > last: the last entry
    }

    @Test func rgbPlanarAndInterleavedAgree() throws {
        let pixels = 12
        let r = (0..<pixels).map { UInt32($0 * 20) }, g = (0..<pixels).map { UInt32(255 - $0 * 20) }, b = (0..<pixels).map { _ in UInt32(7) }
        let interleaved = (0..<pixels).flatMap { [r[$0], g[$0], b[$0]] }
        let a = try decode(TestImage(samples: 3, bitsAllocated: 8, bitsStored: 8, photometric: "RGB", words: interleaved).file())
        let p = try decode(TestImage(samples: 3, bitsAllocated: 8, bitsStored: 8, planar: true, photometric: "RGB", words: r + g + b).file())
        #expect(a.values == p.values)
        #expect(a.values == interleaved.map { Float($0) / 255 })
        // YBR_FULL: Cb = Cr = 128 is gray; Y passes through.
        let ybr = try decode(TestImage(samples: 3, bitsAllocated: 8, bitsStored: 8, photometric: "YBR_FULL",
                                       words: (0..<pixels).flatMap { i -> [UInt32] in [UInt32(i * 20), 128, 128] }).file())
        var gray: [Float] = []
        for i in 0..<pixels { let v = Float(i * 20) / 255; gray += [v, v, v] }
        #expect(ybr.values == gray)
    }

    @Test func rleMatchesNative() throws {
        let mono = TestImage(words: ramp)
        #expect(try decode(mono.file(.rle)).values == decode(mono.file()).values)
        let rgbWords = (0..<36).map { UInt32(($0 * 37) % 256) }
        for planar in [false, true] {
            let rgb = TestImage(samples: 3, bitsAllocated: 8, bitsStored: 8, planar: planar, photometric: "RGB", words: rgbWords)
            #expect(try decode(rgb.file(.rle)).values == decode(rgb.file()).values)
        }
        let wide = TestImage(bitsAllocated: 32, bitsStored: 32, words: ramp.map { $0 * 70001 })
        #expect(try modality(wide.file(.rle)) == modality(wide.file()))
        // A constant plane exercises the replicate run.
        let flat = TestImage(words: [UInt32](repeating: 4242, count: 12))
        #expect(try modality(flat.file(.rle)) == [Float](repeating: 4242, count: 12))
    }

    @Test func firstFrameOfAMultiFrameImage() throws {
        let two = TestImage(frames: 2, words: ramp + ramp.map { 5000 - $0 })
        let firstFrame = ramp.map { Float($0) }
        let native = try modality(two.file()), rle = try modality(two.file(.rle))
        #expect(native == firstFrame, "\(native)")
        #expect(rle == firstFrame, "\(rle)")
    }

    // MARK: hostile input: each must throw a one-line error naming the element, never crash or hang

    @Test func unsupportedTransferSyntaxIsNamed() {
        let bytes = dicomFile("1.2.840.10008.1.2.4.80", TestImage(words: ramp).dataSet(.explicitLittle))
        let error = expectDICOMError("transfer syntax 1.2.840.10008.1.2.4.80 (JPEG-LS Lossless) is not supported") {
            _ = try decode(bytes)
        }
        #expect(error?.description == "test.dcm: transfer syntax 1.2.840.10008.1.2.4.80 (JPEG-LS Lossless) is not supported")
        expectDICOMError("transfer syntax 1.2.840.10008.1.2.4.57 (JPEG Lossless, Non-Hierarchical (Process 14)) is not supported") {
            _ = try decode(dicomFile("1.2.840.10008.1.2.4.57", []))
        }
        expectDICOMError("transfer syntax 1.2.3.4 (unknown) is not supported") { _ = try decode(dicomFile("1.2.3.4", [])) }
    }

    @Test func aLengthThatLies() {
        let e = DICOMEncoder()
        let body = e.string(0x0008, 0x0016, "UI", "1.2.3") + e.element(0x0010, 0x0010, "PN", Array("Doe".utf8) + [0x20], length: 60000)
        expectDICOMError("(0010,0010): length 60000, only 4 bytes remain") { _ = try decode(dicomFile(Syntax.explicitLittle.rawValue, body)) }
        let implicit = DICOMEncoder(explicitVR: false)
        let lie = implicit.string(0x0008, 0x0016, "UI", "1.2.3") + implicit.element(0x0028, 0x0010, "US", [0, 1], length: 0xFFFF_FFF0)
        expectDICOMError("(0028,0010) Rows: length 4294967280") { _ = try decode(dicomFile(Syntax.implicitLittle.rawValue, lie)) }
        // An item longer than its sequence.
        let item = e.us(0x0028, 0x3002, 1)
        var seq = e.sequence(0x0028, 0x3000, items: [item])
        seq[seq.count - item.count - 4] = 0xFF  // the item length's low byte
        expectDICOMError("(0028,3000) Modality LUT Sequence: an item of length") {
            _ = try decode(dicomFile(Syntax.explicitLittle.rawValue, seq + TestImage(words: ramp).dataSet(.explicitLittle)))
        }
    }

    @Test func anUndefinedLengthSequenceThatNeverEnds() {
        let e = DICOMEncoder()
        let open = e.element(0x0008, 0x1140, "SQ", e.u16(0xFFFE) + e.u16(0xE000) + e.u32(0xFFFF_FFFF) + e.us(0x0008, 0x1150, 1),
                             length: 0xFFFF_FFFF)
        expectDICOMError("(0008,1140)") { _ = try decode(dicomFile(Syntax.explicitLittle.rawValue, open)) }
        expectDICOMError("Item Delimitation Item") { _ = try decode(dicomFile(Syntax.explicitLittle.rawValue, open)) }
        let noItems = e.element(0x0008, 0x1140, "SQ", [], length: 0xFFFF_FFFF)
        expectDICOMError("(0008,1140): an undefined-length sequence has no Sequence Delimitation Item") {
            _ = try decode(dicomFile(Syntax.explicitLittle.rawValue, noItems))
        }
        let pixels = e.element(0x7FE0, 0x0010, "OB", e.u16(0xFFFE) + e.u16(0xE000) + e.u32(0), length: 0xFFFF_FFFF)
        expectDICOMError("(7FE0,0010) Pixel Data: encapsulated pixel data has no Sequence Delimitation Item") {
            _ = try decode(dicomFile(Syntax.rle.rawValue, TestImage(words: ramp).dataSet(.explicitLittle).dropLast(36) + pixels))
        }
    }

    @Test func sequencesNestedTooDeep() {
        let e = DICOMEncoder()
        var nested = e.us(0x0028, 0x0010, 1)
        for _ in 0..<40 { nested = e.sequence(0x0008, 0x1140, items: [nested], undefined: true) }
        expectDICOMError("nested deeper than 16 levels") { _ = try decode(dicomFile(Syntax.explicitLittle.rawValue, nested)) }
    }

    @Test func hugeHeaderTinyBody() {
        let image = TestImage(rows: 65535, columns: 65535, words: [UInt32](repeating: 1, count: 512))
        expectDICOMError("(7FE0,0010) Pixel Data: 1024 bytes, the header needs 8589672450") { _ = try decode(image.file()) }
        // RLE: a 3 x 4 image's fragment under a bigger header is refused before the frame is allocated.
        func rle(rows: UInt16, columns: UInt16) -> [UInt8] {
            let e = DICOMEncoder()
            var bytes = TestImage(words: ramp).dataSet(.rle)
            bytes.replaceSubrange(bytes.firstRange(of: e.us(0x0028, 0x0010, 3))!, with: e.us(0x0028, 0x0010, rows))
            bytes.replaceSubrange(bytes.firstRange(of: e.us(0x0028, 0x0011, 4))!, with: e.us(0x0028, 0x0011, columns))
            return dicomFile(Syntax.rle.rawValue, bytes)
        }
        expectDICOMError("(0028,0010) Rows, (0028,0011) Columns: 65535 x 65535 is more than 268435456 pixels") {
            _ = try decode(rle(rows: 65535, columns: 65535))
        }
        expectDICOMError("(7FE0,0010) Pixel Data: RLE fragment of") { _ = try decode(rle(rows: 4000, columns: 4000)) }
    }

    @Test func missingPixelDataAndNonImageSOPClass() {
        let e = DICOMEncoder()
        let plan = e.string(0x0008, 0x0016, "UI", "1.2.840.10008.5.1.4.1.1.481.5") + e.string(0x0008, 0x0060, "CS", "RTPLAN")
        expectDICOMError("(7FE0,0010) Pixel Data: missing (SOP Class UID 1.2.840.10008.5.1.4.1.1.481.5)") {
            _ = try decode(dicomFile(Syntax.explicitLittle.rawValue, plan))
        }
        var noRows = TestImage(words: ramp).dataSet(.explicitLittle)
        if let at = noRows.firstRange(of: e.us(0x0028, 0x0010, 3)) { noRows.replaceSubrange(at, with: e.us(0x0028, 0x0009, 3)) }
        expectDICOMError("(0028,0010) Rows: missing") { _ = try decode(dicomFile(Syntax.explicitLittle.rawValue, noRows)) }
        expectDICOMError("not a DICOM file") { _ = try decode(Array("just some text, not an image at all".utf8)) }
        expectDICOMError("(0028,0004) Photometric Interpretation: 'YBR_PARTIAL_420' is not supported") {
            _ = try decode(TestImage(samples: 3, bitsAllocated: 8, bitsStored: 8, photometric: "YBR_PARTIAL_420", words: [UInt32](repeating: 0, count: 36)).file())
        }
        expectDICOMError("(0028,0100) Bits Allocated: 12 is not supported") {
            _ = try decode(TestImage(bitsAllocated: 12, bitsStored: 12, words: []).file())
        }
    }

    @Test func badDeflateAndBadRLE() {
        let deflated = TestImage(words: ramp).file(.deflated)
        expectDICOMError("deflate") { _ = try decode(Array(deflated.dropLast(10))) }
        var rle = TestImage(words: ramp).file(.rle)
        // The first segment offset (64, after the segment count 2) points past the fragment.
        let header = rle.firstRange(of: [2, 0, 0, 0, 64, 0, 0, 0] as [UInt8])!.lowerBound
        rle[header + 4] = 0xF0
        expectDICOMError("(7FE0,0010) Pixel Data: RLE segment 0") { _ = try decode(rle) }
    }

    /// Every prefix of several valid files, and seeded byte flips: an error or an image, never a crash.
    @Test func truncationsAndFlipsNeverCrash() {
        let files = [TestImage(words: ramp).file(.explicitLittle), TestImage(words: ramp).file(.implicitLittle),
                     TestImage(words: ramp).file(.explicitBig), TestImage(words: ramp).file(.deflated),
                     TestImage(samples: 3, bitsAllocated: 8, bitsStored: 8, photometric: "RGB",
                               words: (0..<36).map { UInt32($0) }).file(.rle),
                     TestImage(words: ramp, extra: { e in
                         let item = e.element(0x0028, 0x3002, "US", e.words([4, 100, 16])) + e.element(0x0028, 0x3006, "OW", e.words([7, 8, 9, 10]))
                         return e.sequence(0x0028, 0x3000, items: [item], undefined: true)
                     }).file()]
        var seed: UInt64 = 0x5EED
        func next() -> Int {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Int(seed >> 33)
        }
        var outcomes = (ok: 0, failed: 0)
        for file in files {
            for n in 0..<file.count {
                if (try? decode(Array(file.prefix(n)))) != nil { outcomes.ok += 1 } else { outcomes.failed += 1 }
            }
            for _ in 0..<400 {
                var broken = file
                for _ in 0..<(1 + next() % 4) { broken[next() % broken.count] = UInt8(next() % 256) }
                if (try? decode(broken)) != nil { outcomes.ok += 1 } else { outcomes.failed += 1 }
            }
        }
        #expect(outcomes.failed > 0 && outcomes.ok > 0, "seed 0x5EED: \(outcomes)")
    }

    // MARK: the float path joins the PNG path at step 3

    @Test func floatImageTensorMatchesDecodedImageTensor() {
        for (inC, outC) in [(1, 1), (1, 3), (3, 1), (3, 3)] {
            let w = 7, h = 5
            let samples = lcg(count: w * h * inC, seed: UInt64(inC * 10 + outC), modulo: 65536)
            let decoded = DecodedImage(width: w, height: h, channels: inC, bitDepth: 16, samples: samples)
            let float = FloatImage(width: w, height: h, channels: inC, values: samples.map { Float($0) / 65535 })
            for (oh, ow) in [(5, 7), (3, 11), (9, 4)] {
                let spec = PreprocessSpec(channels: outC, height: oh, width: ow,
                                          mean: [Float](repeating: 0.25, count: outC), std: [Float](repeating: 0.5, count: outC))
                let a = Preprocess.tensor(from: decoded, spec: spec)
                let b = Preprocess.tensor(from: float, spec: spec)
                #expect(a.map(\.bitPattern) == b.map(\.bitPattern), "\(inC)->\(outC) \(oh)x\(ow)")
                #expect(a == referenceTensor(decoded, spec))
            }
        }
    }
}
