import Testing
import RoentgenImage

@Suite struct PNGErrorTests {
    /// A small valid PNG (several IDAT-sized rows, compressed).
    func samplePNG() throws -> [UInt8] {
        try PNGEncoder.encode(width: 16, height: 12, channels: 3, bitDepth: 8,
                              samples: lcg(count: 16 * 12 * 3, seed: 3, modulo: 256))
    }

    /// Decodes the file and checks: throws ImageError of `kind`, one-line description with the path.
    @discardableResult
    func expectFileError(_ path: String, _ kind: ImageError.Kind, _ mentions: String? = nil,
                         sourceLocation: SourceLocation = #_sourceLocation) -> ImageError? {
        let error = expectImageError { _ = try PNGDecoder.decode(contentsOf: path) }
        #expect(error != nil, "expected an error for \(path)", sourceLocation: sourceLocation)
        guard let error else { return nil }
        #expect(error.kind == kind, "\(error)", sourceLocation: sourceLocation)
        #expect(error.path == path, sourceLocation: sourceLocation)
        #expect(error.description.hasPrefix(path + ": "), sourceLocation: sourceLocation)
        #expect(!error.description.contains("\n") && !error.description.contains("\r"), sourceLocation: sourceLocation)
        if let mentions {
            #expect(error.description.lowercased().contains(mentions.lowercased()), "\(error)", sourceLocation: sourceLocation)
        }
        return error
    }

    @Test func missingFileAndDirectory() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        expectFileError(dir.file("does-not-exist.png"), .io, "cannot open")
        expectFileError(dir.path, .io, "directory")
    }

    @Test func emptyFile() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        expectFileError(try dir.write("empty.png", []), .empty, "empty")
        let inMemory = expectImageError { _ = try decodeBytes([], path: nil) }
        #expect(inMemory?.kind == .empty)
        #expect(inMemory?.description == "empty file (0 bytes)")
    }

    @Test func notAPNG() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        expectFileError(try dir.write("text.png", Array("hello, this is not a picture\n".utf8)), .notPNG, "not a PNG")
        expectFileError(try dir.write("jpeg.png", [0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 74, 70, 73, 70, 0]), .notPNG)
        expectFileError(try dir.write("one-byte.png", [0x42]), .notPNG)
    }

    @Test func truncated() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let png = try samplePNG()
        let idat = chunks(png).first { $0.type == "IDAT" }!
        let cuts: [(String, Int)] = [
            ("signature-prefix", 4),
            ("signature-only", 8),
            ("after-header", 33),            // signature + complete IHDR chunk
            ("inside-idat-header", idat.offset + 5),
            ("half", png.count / 2),
            ("idat-crc-missing", idat.offset + 8 + idat.length),
            ("last-10-missing", png.count - 10),
            ("last-1-missing", png.count - 1),
        ]
        for (name, length) in cuts {
            let path = try dir.write("cut-\(name).png", Array(png[0..<length]))
            expectFileError(path, .truncated, "truncated")
        }
        // Every prefix: always an error, never a crash.
        for length in 1..<png.count {
            let error = expectImageError { _ = try decodeBytes(Array(png[0..<length]), path: "prefix.png") }
            #expect(error?.kind == .truncated, "length \(length): \(String(describing: error))")
        }
        #expect((try? decodeBytes(png)) != nil)
    }

    @Test func crcErrors() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let png = try samplePNG()
        let idat = chunks(png).first { $0.type == "IDAT" }!
        // A byte inside the IDAT data: libpng inflates the chunk before it reaches the chunk's CRC,
        // so zlib's own check may fire first ("incorrect data check" / "invalid ..."); either way
        // it is a one-line "corrupt PNG" error.
        for position in [idat.length / 2, 2, idat.length - 1] {
            var flipped = png
            flipped[idat.offset + 8 + position] ^= 0x10
            let error = expectFileError(try dir.write("idat-flip-\(position).png", flipped), .corrupt, "corrupt PNG: IDAT")
            #expect(error?.description.contains("\n") == false)
        }
        // The IDAT CRC itself.
        var badCRC = png
        badCRC[idat.offset + 8 + idat.length + 2] ^= 0x01
        expectFileError(try dir.write("idat-crc.png", badCRC), .corrupt, "IDAT: CRC error")

        var badHeader = png
        badHeader[8 + 8 + 3] ^= 0x01  // IHDR width, CRC not fixed
        expectFileError(try dir.write("ihdr-flip.png", badHeader), .corrupt, "CRC")
    }

    @Test func badHeaderValues() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let png = try samplePNG()
        // Valid CRC, impossible bit depth 3.
        var depth = png
        depth[8 + 8 + 8] = 3
        let crc = crc32(depth[12..<29])
        for k in 0..<4 { depth[29 + k] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * k)) }
        expectFileError(try dir.write("bad-depth.png", depth), .corrupt, "IHDR")
        // Zero width.
        expectFileError(try dir.write("zero-width.png", withIHDRSize(png, width: 0, height: 12)), .corrupt)
    }

    @Test func tooLargeIsAnErrorNotAnAllocation() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let png = try samplePNG()
        expectFileError(try dir.write("wide.png", withIHDRSize(png, width: 70_000, height: 1)), .tooLarge, "too large")
        expectFileError(try dir.write("tall.png", withIHDRSize(png, width: 1, height: 1_000_000)), .tooLarge, "too large")
        expectFileError(try dir.write("many.png", withIHDRSize(png, width: 40_000, height: 40_000)), .tooLarge, "2^28")
    }

    @Test func everySingleByteFlipIsHandled() throws {
        let png = try PNGEncoder.encode(width: 5, height: 4, channels: 1, bitDepth: 8,
                                        samples: lcg(count: 20, seed: 8, modulo: 256))
        for i in 0..<png.count {
            for mask: UInt8 in [0x01, 0x80] {
                var bytes = png
                bytes[i] ^= mask
                let error = expectImageError { _ = try decodeBytes(bytes, path: "flip.png") }
                // Every byte is covered by the signature, a length or a CRC.
                #expect(error != nil, "byte \(i) mask \(mask) decoded")
                if let error { #expect(!error.description.contains("\n")) }
            }
        }
    }

    /// A chunk with a correct CRC (or a wrong one if `breakCRC`).
    func chunk(_ type: String, _ data: [UInt8], breakCRC: Bool = false) -> [UInt8] {
        let body = Array(type.utf8) + data
        var crc = crc32(body[...])
        if breakCRC { crc ^= 1 }
        let be: (UInt32) -> [UInt8] = { v in (0..<4).map { UInt8(truncatingIfNeeded: v >> (24 - 8 * $0)) } }
        return be(UInt32(data.count)) + body + be(crc)
    }

    @Test func ancillaryChunksAreTolerated() throws {
        let png = try samplePNG()
        let expected = try decodeBytes(png)
        let afterIHDR = 33
        let extra = chunk("gAMA", [0, 0, 0xB1, 0x8F]) + chunk("tEXt", Array("Comment\u{0}radiograph".utf8))
            + chunk("tIME", [7, 234, 11, 27, 8, 0, 0]) + chunk("prVt", [1, 2, 3])  // unknown ancillary: skipped
        let edited = Array(png[0..<afterIHDR]) + extra + Array(png[afterIHDR...]) + Array("trailing junk".utf8)
        #expect(try decodeBytes(edited) == expected)

        // A CRC error in an ancillary chunk is an error too (libpng would only warn; pypng rejects).
        for (at, bad) in [(afterIHDR, chunk("tIME", [7, 234, 11, 27, 8, 0, 0], breakCRC: true)),
                          (png.count - 12, chunk("tEXt", Array("after\u{0}IDAT".utf8), breakCRC: true))] {
            let damaged = Array(png[0..<at]) + bad + Array(png[at...])
            let error = expectImageError { _ = try decodeBytes(damaged) }
            #expect(error?.kind == .corrupt)
            #expect(error?.description.contains("CRC error") == true, "\(String(describing: error))")
        }

        // An unknown critical chunk is an error.
        let critical = Array(png[0..<afterIHDR]) + chunk("XYZW", [1, 2, 3]) + Array(png[afterIHDR...])
        let error = expectImageError { _ = try decodeBytes(critical) }
        #expect(error?.kind == .corrupt)
    }

    @Test func descriptionIsOneLineEvenForOddPaths() {
        let error = ImageError(path: "a\nb.png", reason: "bad\r\nthing", kind: .corrupt)
        #expect(error.description == "a\\nb.png: bad\\r\\nthing")
    }
}
