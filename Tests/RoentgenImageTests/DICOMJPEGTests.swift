import Foundation
import Testing
import RoentgenImage

/// Small codestreams with known content, made in the tools venv (numpy `np`, Pillow 12's libjpeg-turbo
/// for JPEG, pylibjpeg-openjpeg 2.6's OpenJPEG for JPEG 2000) and stored here as base64:
///
///     jpeg = lambda a, mode, **kw: Image.fromarray(a, mode).save(b, "JPEG", quality=100, optimize=True, **kw)
///     gray: 8 x 16 uint8, columns 0-7 = 50, 8-15 = 200                    jpeg(gray, "L")
///     ybr444 / ybr422: 8 x 16 x 3, columns 0-7 = (90,)*3, 8-15 = (160,)*3  jpeg(rgb, "RGB", subsampling=0 / 1)
///     rgb: 8 x 16 x 3, columns 0-7 = (255, 0, 0), 8-15 = (0, 0, 255)      jpeg(red, "RGB", subsampling=0, keep_rgb=True)
///     ramp = (np.arange(1024, dtype=np.uint16) * 4).reshape(32, 32)       openjpeg.encode(ramp, bits_stored=12)
///     jp2 ramp: the same with codec_format=1
///     signed = (np.arange(1024, dtype=np.int16) * 4 - 2048).reshape(32, 32)  openjpeg.encode(signed, bits_stored=12)
///     rct: 32 x 32 x 3 uint8, R = i % 256, G = 255 - R, B = 7              openjpeg.encode(col, bits_stored=8,
///                                                                          photometric_interpretation=1, use_mct=True)
///
/// Every 8 x 8 JPEG block is constant and quantised by 1, so libjpeg-turbo decodes it exactly; JPEG
/// 2000 with the 5/3 wavelet is lossless. Grey RGB gives Y = value, Cb = Cr = 128.
enum Codestream {
    static func bytes(_ base64: String) -> [UInt8] { [UInt8](Data(base64Encoded: base64, options: .ignoreUnknownCharacters)!) }

    static let gray = bytes("""
        /9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB
        AQEBAQEBAQEBAQEBAQEBAQH/wAALCAAIABABAREA/8QAFQABAQAAAAAAAAAAAAAAAAAACgv/xAAUEAEAAAAAAAAAAAAAAAAA
        AAAA/9oACAEBAAA/ADHqWD//2Q==
        """)
    static let ybr444 = bytes("""
        /9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB
        AQEBAQEBAQEBAQEBAQEBAQH/2wBDAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB
        AQEBAQEBAQEBAQEBAQH/wAARCAAIABADAREAAhEBAxEB/8QAFQABAQAAAAAAAAAAAAAAAAAACQr/xAAUEAEAAAAAAAAAAAAA
        AAAAAAAA/8QAFAEBAAAAAAAAAAAAAAAAAAAAAP/EABQRAQAAAAAAAAAAAAAAAAAAAAD/2gAMAwEAAhEDEQA/ADPBRgD/2Q==
        """)
    static let ybr422 = bytes("""
        /9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB
        AQEBAQEBAQEBAQEBAQEBAQH/2wBDAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB
        AQEBAQEBAQEBAQEBAQH/wAARCAAIABADASEAAhEBAxEB/8QAFQABAQAAAAAAAAAAAAAAAAAACQr/xAAUEAEAAAAAAAAAAAAA
        AAAAAAAA/8QAFAEBAAAAAAAAAAAAAAAAAAAAAP/EABQRAQAAAAAAAAAAAAAAAAAAAAD/2gAMAwEAAhEDEQA/ADPUYA//2Q==
        """)
    static let rgb = bytes("""
        /9j/7gAOQWRvYmUAZAAAAAAA/9sAQwABAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB
        AQEBAQEBAQEBAQEBAQEB/8AAEQgACAAQA1IRAEcRAEIRAP/EABYAAQEBAAAAAAAAAAAAAAAAAAsACv/EABQQAQAAAAAAAAAA
        AAAAAAAAAAD/2gAMA1IARwBCAAA/AN/A/wDH/gB0f4f/2Q==
        """)
    static let ramp = bytes("""
        /0//UQApAAAAAAAgAAAAIAAAAAAAAAAAAAAAIAAAACAAAAAAAAAAAAABCwEB/1IADAAAAAEABQQEAAH/XAATQGBoaHBoaHBo
        aHBoaHBoaHD/ZAAlAAFDcmVhdGVkIGJ5IE9wZW5KUEVHIHZlcnNpb24gMi41LjL/kAAKAAAAAABnAAH/k8fsBAhtwH2gU/wB
        gARfBGJ/wD6gOP5BAA0CEQs9hRbAHzhYfsDAIhoIXX8Df91SM73AD5A0H5hANqGZrmOfPaY0WxDcXGnAB8IsD8AcX6fHiJ+d
        rClBB/9//9k=
        """)
    static let jp2Ramp = bytes("""
        AAAADGpQICANCocKAAAAFGZ0eXBqcDIgAAAAAGpwMiAAAAAtanAyaAAAABZpaGRyAAAAIAAAACAAAQsHAAAAAAAPY29scgEA
        AAAAAAAAAADoanAyY/9P/1EAKQAAAAAAIAAAACAAAAAAAAAAAAAAACAAAAAgAAAAAAAAAAAAAQsBAf9SAAwAAAABAAUEBAAB
        /1wAE0BgaGhwaGhwaGhwaGhwaGhw/2QAJQABQ3JlYXRlZCBieSBPcGVuSlBFRyB2ZXJzaW9uIDIuNS4y/5AACgAAAAAAZwAB
        /5PH7AQIbcB9oFP8AYAEXwRif8A+oDj+QQANAhELPYUWwB84WH7AwCIaCF1/A3/dUjO9wA+QNB+YQDahma5jnz2mNFsQ3Fxp
        wAfCLA/AHF+nx4ifnawpQQf/f//Z
        """)
    static let signed = bytes("""
        /0//UQApAAAAAAAgAAAAIAAAAAAAAAAAAAAAIAAAACAAAAAAAAAAAAABiwEB/1IADAAAAAEABQQEAAH/XAATQGBoaHBoaHBo
        aHBoaHBoaHD/ZAAlAAFDcmVhdGVkIGJ5IE9wZW5KUEVHIHZlcnNpb24gMi41LjL/kAAKAAAAAABnAAH/k8fsBAhtwH2gU/wB
        gARfBGJ/wD6gOP5BAA0CEQs9hRbAHzhYfsDAIhoIXX8Df91SM73AD5A0H5hANqGZrmOfPaY0WxDcXGnAB8IsD8AcX6fHiJ+d
        rClBB/9//9k=
        """)
    static let rct = bytes("""
        /0//UQAvAAAAAAAgAAAAIAAAAAAAAAAAAAAAIAAAACAAAAAAAAAAAAADBwEBBwEBBwEB/1IADAAAAAEBBQQEAAH/XAATQEBI
        SFBISFBISFBISFBISFD/ZAAlAAFDcmVhdGVkIGJ5IE9wZW5KUEVHIHZlcnNpb24gMi41LjL/kAAKAAAAAAE1AAH/k8PnBAh/
        34AQByvH1AQHI8B8IMD5AQAFBX/B84KH1AQEPwQ/w+oCj7QIBD8EN8A6FA+QIA4HBqb/f8D5AUPqAwANAQP298HzhI+0EA0B
        /38D9vRxwBFD6gsAIW8SgRR8/pUSWTKPu8B8Ic/AOCIZzxUxHHz+lRJZMo+8T8y/wPkCX5hwIhoIXxUxHHz+lRJZMo+8T8zX
        wBHD6hQAEWYUDCJluYy5FZ3/LW8HE4r2SevMUX/AOhz8BQA2oZcO0m25jLkVnf8tbwcTivZJ68xRv8B8Il+YoDahmr8O0m25
        jLkVnf8tbwcTivZJ68xRv8ATw+oJABQO/FZkyX8A1LpKRR4HjSfAEc/AJF+nvwOEwkpFHgeNJ8A6JfmEgF+nx4cDhMJKRR4H
        jSf/2Q==
        """)
}

enum JPEGSyntax {
    static let baseline = "1.2.840.10008.1.2.4.50"
    static let extended = "1.2.840.10008.1.2.4.51"
    static let j2kLossless = "1.2.840.10008.1.2.4.90"
    static let j2k = "1.2.840.10008.1.2.4.91"
}

/// `image`'s data set with its (empty) Pixel Data element replaced by `pixelData`.
func withPixelData(_ image: TestImage, _ pixelData: [UInt8], encoder e: DICOMEncoder = DICOMEncoder()) -> [UInt8] {
    let syntax: Syntax = e.bigEndian ? .explicitBig : .explicitLittle
    let set = image.dataSet(syntax)
    let emptyPixelData = 12  // tag, VR, reserved, length: TestImage with no words writes no value
    precondition(image.words.isEmpty && Array(set.suffix(emptyPixelData).prefix(4)) == e.u16(0x7FE0) + e.u16(0x0010))
    return Array(set.dropLast(emptyPixelData)) + pixelData
}

/// A Part 10 file in `uid` whose Pixel Data is encapsulated: a Basic Offset Table of `offsets`, then
/// `fragments` (an odd one padded with a zero byte, as writers do).
func encapsulatedFile(_ uid: String, _ image: TestImage, fragments: [[UInt8]], offsets: [UInt32] = []) -> [UInt8] {
    let e = DICOMEncoder()
    var body = e.u16(0xFFFE) + e.u16(0xE000) + e.u32(UInt32(4 * offsets.count)) + offsets.flatMap(e.u32)
    for fragment in fragments {
        let padded = fragment.count % 2 == 1 ? fragment + [0] : fragment
        body += e.u16(0xFFFE) + e.u16(0xE000) + e.u32(UInt32(padded.count)) + padded
    }
    body += e.u16(0xFFFE) + e.u16(0xE0DD) + e.u32(0)
    return dicomFile(uid, withPixelData(image, e.element(0x7FE0, 0x0010, "OB", body, length: 0xFFFF_FFFF)))
}

/// The Modality LUT output (docs/DICOM.md step 5) of a file held in memory.
func modalityValues(_ bytes: [UInt8]) throws -> [Float] {
    let dir = try TempDir(); defer { dir.cleanup() }
    return try DICOMReader.modalityImage(contentsOf: try dir.write("m.dcm", bytes)).values
}

@Suite struct DICOMJPEGTests {
    let gray8x16 = TestImage(rows: 8, columns: 16, bitsAllocated: 8, bitsStored: 8)
    let colour8x16 = TestImage(rows: 8, columns: 16, samples: 3, bitsAllocated: 8, bitsStored: 8, photometric: "RGB")
    let mono32 = TestImage(rows: 32, columns: 32, bitsStored: 12)
    /// Row-major 8 x 16: columns 0-7 `left`, 8-15 `right`, each `count` samples.
    func halves(_ left: [Float], _ right: [Float]) -> [Float] {
        (0..<8).flatMap { _ in (0..<8).flatMap { _ in left } + (0..<8).flatMap { _ in right } }
    }
    let ramp = (0..<1024).map { Float($0 * 4) }

    // MARK: JPEG (libjpeg-turbo)

    @Test func grayJPEGIsExact() throws {
        for uid in [JPEGSyntax.baseline, JPEGSyntax.extended] {
            let file = encapsulatedFile(uid, gray8x16, fragments: [Codestream.gray])
            #expect(try modalityValues(file) == halves([50], [200]), "\(uid)")
            #expect(try decode(file).values == halves([0], [1]))  // full range 50...200
        }
    }

    @Test func colourJPEGKeepsItsCodedComponents() throws {
        // YCbCr comes out as coded (no libjpeg colour conversion); step 7 turns it into RGB.
        var ybr = colour8x16
        ybr.photometric = "YBR_FULL"
        let full = encapsulatedFile(JPEGSyntax.baseline, ybr, fragments: [Codestream.ybr444])
        #expect(try modalityValues(full) == halves([90, 128, 128], [160, 128, 128]))
        #expect(try decode(full).values == halves([90 / 255, 90 / 255, 90 / 255], [160 / 255, 160 / 255, 160 / 255]))
        ybr.photometric = "YBR_FULL_422"
        let subsampled = encapsulatedFile(JPEGSyntax.baseline, ybr, fragments: [Codestream.ybr422])
        #expect(try modalityValues(subsampled) == halves([90, 128, 128], [160, 128, 128]))
        // Adobe transform 0 with component IDs R, G, B: RGB as coded.
        let rgb = encapsulatedFile(JPEGSyntax.baseline, colour8x16, fragments: [Codestream.rgb])
        #expect(try modalityValues(rgb) == halves([255, 0, 0], [0, 0, 255]))
        #expect(try decode(rgb).values == halves([1, 0, 0], [0, 0, 1]))
    }

    @Test func twelveBitJPEGIsRefusedByName() {
        var twelve = Codestream.gray
        let sof = twelve.firstRange(of: [0xFF, 0xC0] as [UInt8])!.lowerBound
        twelve[sof + 4] = 12  // the frame header's sample precision
        let error = expectDICOMError("transfer syntax 1.2.840.10008.1.2.4.51 (JPEG Extended (Process 2 & 4)): 12-bit JPEG is not supported") {
            _ = try decode(encapsulatedFile(JPEGSyntax.extended, TestImage(rows: 8, columns: 16, bitsStored: 12), fragments: [twelve]))
        }
        #expect(error?.kind == .corrupt)
    }

    // MARK: JPEG 2000 (OpenJPEG)

    @Test func jpeg2000LosslessIsExact() throws {
        for (uid, codestream) in [(JPEGSyntax.j2kLossless, Codestream.ramp), (JPEGSyntax.j2k, Codestream.ramp),
                                  (JPEGSyntax.j2kLossless, Codestream.jp2Ramp)] {
            #expect(try modalityValues(encapsulatedFile(uid, mono32, fragments: [codestream])) == ramp, "\(uid)")
        }
        // The value is put at High Bit in the native frame, and step 2 takes it back from there.
        var high = mono32
        high.highBit = 15
        #expect(try modalityValues(encapsulatedFile(JPEGSyntax.j2kLossless, high, fragments: [Codestream.ramp])) == ramp)
        // 8 bits allocated for a 12-bit codestream cannot hold its values.
        expectDICOMError("(0028,0101) Bits Stored: 8 (unsigned), but the JPEG 2000 codestream (12-bit unsigned) holds the value 256 at sample 64") {
            _ = try decode(encapsulatedFile(JPEGSyntax.j2kLossless, TestImage(rows: 32, columns: 32, bitsAllocated: 8, bitsStored: 8),
                                            fragments: [Codestream.ramp]))
        }
    }

    @Test func signedJPEG2000AndPixelRepresentationMismatch() throws {
        var signed = mono32
        signed.signed = true
        let values = ramp.map { $0 - 2048 }
        #expect(try modalityValues(encapsulatedFile(JPEGSyntax.j2kLossless, signed, fragments: [Codestream.signed])) == values)
        // Codestream unsigned, Pixel Representation signed: the 12 bits are read as signed (pydicom).
        let reread = ramp.map { $0 >= 2048 ? $0 - 4096 : $0 }
        #expect(try modalityValues(encapsulatedFile(JPEGSyntax.j2kLossless, signed, fragments: [Codestream.ramp])) == reread)
        // Codestream signed, Pixel Representation unsigned: the 12 bits are read as unsigned.
        let unsigned = values.map { $0 < 0 ? $0 + 4096 : $0 }
        #expect(try modalityValues(encapsulatedFile(JPEGSyntax.j2kLossless, mono32, fragments: [Codestream.signed])) == unsigned)
    }

    @Test func reversibleColourTransformGivesRGB() throws {
        let rct = TestImage(rows: 32, columns: 32, samples: 3, bitsAllocated: 8, bitsStored: 8, photometric: "YBR_RCT")
        let expected = (0..<1024).flatMap { i -> [Float] in [Float(i % 256), Float(255 - i % 256), 7] }
        let file = encapsulatedFile(JPEGSyntax.j2kLossless, rct, fragments: [Codestream.rct])
        #expect(try modalityValues(file) == expected)
        #expect(try decode(file).values == expected.map { $0 / 255 })
        expectDICOMError("(0028,0004) Photometric Interpretation: 'YBR_RCT' is only defined for JPEG 2000, not JPEG Baseline (Process 1)") {
            _ = try decode(encapsulatedFile(JPEGSyntax.baseline, rct, fragments: [Codestream.rct]))
        }
    }

    // MARK: frames and fragments

    @Test func frameZeroAcrossFragments() throws {
        let expected = halves([50], [200])
        let g = Codestream.gray
        let parts = [Array(g[0..<60]), Array(g[60..<120]), Array(g[120...])]  // even sizes but the last
        // One frame, no offsets: every fragment.
        #expect(try modalityValues(encapsulatedFile(JPEGSyntax.baseline, gray8x16, fragments: parts)) == expected)
        var two = gray8x16
        two.frames = 2
        let garbage = [UInt8](repeating: 0x55, count: 40)
        // Basic Offset Table: frame 0 is the first three fragments, frame 1 the fourth.
        let second = UInt32(parts.reduce(0) { $0 + 8 + $1.count + $1.count % 2 })
        #expect(try modalityValues(encapsulatedFile(JPEGSyntax.baseline, two, fragments: parts + [garbage], offsets: [0, second])) == expected)
        // No offsets, one fragment per frame.
        #expect(try modalityValues(encapsulatedFile(JPEGSyntax.baseline, two, fragments: [g, garbage])) == expected)
        // No offsets, more fragments than frames: frame 0 ends with the fragment that holds EOI.
        #expect(try modalityValues(encapsulatedFile(JPEGSyntax.baseline, two, fragments: parts + [garbage])) == expected)
        expectDICOMError("(7FE0,0010) Pixel Data: the Basic Offset Table puts frame 0 at bytes 0 to 30, not on fragment boundaries") {
            _ = try decode(encapsulatedFile(JPEGSyntax.baseline, two, fragments: parts + [garbage], offsets: [0, 30]))
        }
        expectDICOMError("(7FE0,0010) Pixel Data: the Basic Offset Table has 6 bytes, not a multiple of 4") {
            var file = encapsulatedFile(JPEGSyntax.baseline, two, fragments: [g, garbage], offsets: [0])
            let table = file.firstRange(of: [0xFE, 0xFF, 0x00, 0xE0, 4, 0, 0, 0] as [UInt8])!.lowerBound
            file[table + 4] = 6
            file.insert(contentsOf: [0, 0], at: table + 12)
            _ = try decode(file)
        }
    }

    // MARK: bad input: one-line errors naming the element, no crash

    @Test func headersThatDisagreeWithTheCodestream() {
        var short = gray8x16
        short.rows = 4
        expectDICOMError("(0028,0010) Rows: 4, but the JPEG frame header has 8") {
            _ = try decode(encapsulatedFile(JPEGSyntax.baseline, short, fragments: [Codestream.gray]))
        }
        var narrow = gray8x16
        narrow.columns = 15
        expectDICOMError("(0028,0011) Columns: 15, but the JPEG frame header has 16") {
            _ = try decode(encapsulatedFile(JPEGSyntax.baseline, narrow, fragments: [Codestream.gray]))
        }
        expectDICOMError("(0028,0002) Samples per Pixel: 3, but the JPEG frame header has 1 components") {
            _ = try decode(encapsulatedFile(JPEGSyntax.baseline, colour8x16, fragments: [Codestream.gray]))
        }
        var wide = mono32
        wide.columns = 33
        expectDICOMError("(0028,0011) Columns: 33, but the JPEG 2000 header has 32") {
            _ = try decode(encapsulatedFile(JPEGSyntax.j2kLossless, wide, fragments: [Codestream.ramp]))
        }
        let rgb32 = TestImage(rows: 32, columns: 32, samples: 3, bitsAllocated: 16, bitsStored: 12, photometric: "RGB")
        expectDICOMError("(0028,0002) Samples per Pixel: 3, but the JPEG 2000 header has 1 components") {
            _ = try decode(encapsulatedFile(JPEGSyntax.j2kLossless, rgb32, fragments: [Codestream.ramp]))
        }
    }

    @Test func truncatedAndGarbageCodestreams() {
        let cut = expectDICOMError("(7FE0,0010) Pixel Data: JPEG frame 0 is cut short") {
            _ = try decode(encapsulatedFile(JPEGSyntax.baseline, gray8x16, fragments: [Array(Codestream.gray.prefix(150))]))
        }
        #expect(cut?.kind == .truncated)
        expectDICOMError("(7FE0,0010) Pixel Data: JPEG 2000 frame 0:") {
            _ = try decode(encapsulatedFile(JPEGSyntax.j2kLossless, mono32, fragments: [Array(Codestream.ramp.prefix(120))]))
        }
        let noise = (0..<200).map { UInt8(truncatingIfNeeded: $0 &* 73 &+ 11) }
        expectDICOMError("(7FE0,0010) Pixel Data: JPEG frame 0: Not a JPEG file") {
            _ = try decode(encapsulatedFile(JPEGSyntax.baseline, gray8x16, fragments: [noise]))
        }
        expectDICOMError("(7FE0,0010) Pixel Data: JPEG 2000 frame 0: not a JPEG 2000 codestream") {
            _ = try decode(encapsulatedFile(JPEGSyntax.j2kLossless, mono32, fragments: [noise]))
        }
        expectDICOMError("(7FE0,0010) Pixel Data: JPEG frame 0: Empty input file") {
            _ = try decode(encapsulatedFile(JPEGSyntax.baseline, gray8x16, fragments: [[]]))
        }
        expectDICOMError("(7FE0,0010) Pixel Data: encapsulated (undefined length) in Explicit VR Little Endian") {
            _ = try decode(encapsulatedFile(Syntax.explicitLittle.rawValue, gray8x16, fragments: [Codestream.gray]))
        }
        expectDICOMError("(7FE0,0010) Pixel Data: JPEG Baseline (Process 1) needs encapsulated pixel data with at least one fragment") {
            var native = gray8x16
            native.words = [UInt32](repeating: 7, count: 128)
            _ = try decode(dicomFile(JPEGSyntax.baseline, native.dataSet(.explicitLittle)))
        }
        expectDICOMError("transfer syntax 1.2.840.10008.1.2.4.80 (JPEG-LS Lossless) is not supported") {
            _ = try decode(encapsulatedFile("1.2.840.10008.1.2.4.80", gray8x16, fragments: [Codestream.gray]))
        }
    }

    /// Every prefix of the encapsulated files and seeded byte flips in the codestreams: an error or an
    /// image, never a crash.
    @Test func truncationsAndFlipsNeverCrash() {
        let cases: [(String, TestImage, [UInt8])] = [
            (JPEGSyntax.baseline, gray8x16, Codestream.gray), (JPEGSyntax.baseline, colour8x16, Codestream.ybr422),
            (JPEGSyntax.j2kLossless, mono32, Codestream.ramp), (JPEGSyntax.j2kLossless, mono32, Codestream.jp2Ramp),
        ]
        var seed: UInt64 = 0x5EED
        func next() -> Int {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Int(seed >> 33)
        }
        var outcomes = (ok: 0, failed: 0)
        for (uid, image, codestream) in cases {
            let file = encapsulatedFile(uid, image, fragments: [codestream])
            for n in stride(from: 0, to: file.count, by: 3) {
                if (try? decode(Array(file.prefix(n)))) != nil { outcomes.ok += 1 } else { outcomes.failed += 1 }
            }
            for _ in 0..<300 {
                var broken = codestream
                for _ in 0..<(1 + next() % 4) { broken[next() % broken.count] = UInt8(next() % 256) }
                if (try? decode(encapsulatedFile(uid, image, fragments: [broken]))) != nil { outcomes.ok += 1 } else { outcomes.failed += 1 }
            }
        }
        #expect(outcomes.failed > 0 && outcomes.ok > 0, "seed 0x5EED: \(outcomes)")
    }

    // MARK: uncompressed YBR_FULL_422 and Bits Allocated 1

    @Test func ybrFull422IsUpsampled() throws {
        // Two pixels per group: Y1 Y2 Cb Cr -> Y1 Cb Cr, Y2 Cb Cr (PS3.3 C.7.6.3.1.2).
        let stored: [UInt32] = [10, 20, 128, 128, 30, 40, 100, 150, 50, 60, 1, 2, 70, 80, 3, 4]
        let expected: [Float] = [10, 128, 128, 20, 128, 128, 30, 100, 150, 40, 100, 150,
                                 50, 1, 2, 60, 1, 2, 70, 3, 4, 80, 3, 4]
        for syntax in [Syntax.explicitLittle, .implicitLittle, .explicitBig, .deflated] {
            let image = TestImage(rows: 2, columns: 4, samples: 3, bitsAllocated: 8, bitsStored: 8, photometric: "YBR_FULL_422", words: stored)
            #expect(try modalityValues(image.file(syntax)) == expected, "\(syntax)")
            let wide = TestImage(rows: 2, columns: 4, samples: 3, bitsAllocated: 16, bitsStored: 16, photometric: "YBR_FULL_422",
                                 words: stored.map { $0 * 257 })
            #expect(try modalityValues(wide.file(syntax)) == expected.map { $0 * 257 }, "\(syntax)")
        }
        // Cb = Cr = 128 is grey after step 7.
        let grey = TestImage(rows: 1, columns: 2, samples: 3, bitsAllocated: 8, bitsStored: 8, photometric: "YBR_FULL_422", words: [51, 102, 128, 128])
        #expect(try decode(grey.file()).values == [0.2, 0.2, 0.2, 0.4, 0.4, 0.4])
        expectDICOMError("(0028,0011) Columns: 3 is odd; YBR_FULL_422 pairs the pixels of a row") {
            _ = try decode(TestImage(rows: 2, columns: 3, samples: 3, bitsAllocated: 8, bitsStored: 8, photometric: "YBR_FULL_422",
                                     words: [UInt32](repeating: 0, count: 12)).file())
        }
        expectDICOMError("(7FE0,0010) Pixel Data: 14 bytes, the header needs 16 (2 x 4 x 2 samples (YBR_FULL_422) x 1 bytes x 1 frames)") {
            _ = try decode(TestImage(rows: 2, columns: 4, samples: 3, bitsAllocated: 8, bitsStored: 8, photometric: "YBR_FULL_422",
                                     words: Array(stored.prefix(14))).file())
        }
        expectDICOMError("(0028,0004) Photometric Interpretation: 'YBR_FULL_422' in RLE Lossless is not supported") {
            _ = try decode(TestImage(rows: 2, columns: 4, samples: 3, bitsAllocated: 8, bitsStored: 8, photometric: "YBR_FULL_422",
                                     words: stored + stored + stored).file(.rle))
        }
    }

    @Test func bitPackedPixelsLeastSignificantBitFirst() throws {
        let oneBit = TestImage(rows: 3, columns: 4, bitsAllocated: 1, bitsStored: 1)
        // 0xB1 = 1011 0001: pixels 0-7 are 1 0 0 0 1 1 0 1; 0x0F: pixels 8-11 are 1 1 1 1.
        let expected: [Float] = [1, 0, 0, 0, 1, 1, 0, 1, 1, 1, 1, 1]
        let little = DICOMEncoder()
        let file = dicomFile(Syntax.explicitLittle.rawValue, withPixelData(oneBit, little.element(0x7FE0, 0x0010, "OB", [0xB1, 0x0F])))
        #expect(try modalityValues(file) == expected)
        #expect(try decode(file).values == expected)
        // Big endian OW: the bytes of each 16-bit word are swapped, and swapped back before unpacking.
        let big = DICOMEncoder(bigEndian: true)
        let swapped = dicomFile(Syntax.explicitBig.rawValue, withPixelData(oneBit, big.element(0x7FE0, 0x0010, "OW", [0x0F, 0xB1]), encoder: big))
        #expect(try modalityValues(swapped) == expected)
        // Frames are not padded to whole bytes: two 12-pixel frames take 3 bytes, frame 0 the first 12 bits.
        var two = oneBit
        two.frames = 2
        let packed = dicomFile(Syntax.explicitLittle.rawValue, withPixelData(two, little.element(0x7FE0, 0x0010, "OB", [0xB1, 0xFF, 0x00, 0x00])))
        #expect(try modalityValues(packed) == expected)
        expectDICOMError("(7FE0,0010) Pixel Data: 2 bytes, the header needs 3 (3 x 4 x 1 samples x 1 bit x 2 frames)") {
            _ = try decode(dicomFile(Syntax.explicitLittle.rawValue, withPixelData(two, little.element(0x7FE0, 0x0010, "OB", [0xB1, 0x0F]))))
        }
        expectDICOMError("(0028,0100) Bits Allocated: 1 (bit-packed) is only supported uncompressed, not in JPEG Baseline (Process 1)") {
            _ = try decode(encapsulatedFile(JPEGSyntax.baseline, oneBit, fragments: [Codestream.gray]))
        }
    }
}
