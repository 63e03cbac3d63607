import Testing
import RoentgenImage

@Suite struct PNGRoundTripTests {
    /// Writes with PNGEncoder to a file, decodes the file, checks header and samples.
    func roundTrip(_ dir: TempDir, _ name: String, width: Int, height: Int, channels: Int, bitDepth: Int,
                   samples: [UInt16], interlaced: Bool = false) throws -> DecodedImage {
        let path = dir.file(name)
        try PNGEncoder.write(path: path, width: width, height: height, channels: channels, bitDepth: bitDepth,
                             samples: samples, interlaced: interlaced)
        return try PNGDecoder.decode(contentsOf: path)
    }

    /// Drops every `channels`-th sample starting at `channels - 1` (the alpha channel).
    func dropAlpha(_ samples: [UInt16], channels: Int) -> [UInt16] {
        samples.enumerated().filter { $0.offset % channels != channels - 1 }.map(\.element)
    }

    @Test(arguments: [(1, 8), (1, 16), (3, 8), (3, 16)])
    func grayAndRGB(channels: Int, bitDepth: Int) throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let w = 13, h = 7
        var samples = lcg(count: w * h * channels, seed: 99, modulo: 1 << UInt64(bitDepth))
        samples[0] = UInt16((1 << bitDepth) - 1)  // extremes survive
        samples[1] = 0
        if bitDepth == 16 { samples[2] = 0x1234 }  // byte order
        for interlaced in [false, true] {
            let image = try roundTrip(dir, "c\(channels)-\(bitDepth)-\(interlaced).png", width: w, height: h,
                                      channels: channels, bitDepth: bitDepth, samples: samples,
                                      interlaced: interlaced)
            #expect(image.width == w && image.height == h)
            #expect(image.channels == channels)
            #expect(image.bitDepth == bitDepth)
            #expect(image.samples == samples)
        }
    }

    @Test(arguments: [(2, 8), (2, 16), (4, 8), (4, 16)])
    func alphaIsDropped(channels: Int, bitDepth: Int) throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let w = 6, h = 5
        let samples = lcg(count: w * h * channels, seed: 5, modulo: 1 << UInt64(bitDepth))
        for interlaced in [false, true] {
            let image = try roundTrip(dir, "a\(channels)-\(bitDepth).png", width: w, height: h, channels: channels,
                                      bitDepth: bitDepth, samples: samples, interlaced: interlaced)
            #expect(image.channels == channels - 1)
            #expect(image.bitDepth == bitDepth)
            #expect(image.samples == dropAlpha(samples, channels: channels))
        }
    }

    @Test(arguments: [1, 2, 4])
    func lowBitGrayExpandsTo8Bits(bits: Int) throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let w = 11, h = 3  // odd width: rows end mid-byte
        let maxValue = (1 << bits) - 1
        let samples = (0..<(w * h)).map { UInt16($0 % (maxValue + 1)) }
        for interlaced in [false, true] {
            let image = try roundTrip(dir, "g\(bits)-\(interlaced).png", width: w, height: h, channels: 1,
                                      bitDepth: bits, samples: samples, interlaced: interlaced)
            #expect(image.channels == 1 && image.bitDepth == 8)
            // SPEC: v * 255 / (2^bits - 1)
            #expect(image.samples == samples.map { UInt16(Int($0) * 255 / maxValue) })
        }
        // Hand values: 1-bit 1 -> 255, 2-bit 1 -> 85, 4-bit 1 -> 17.
        let one = try decodeBytes(PNGEncoder.encode(width: 1, height: 1, channels: 1, bitDepth: bits, samples: [1]))
        #expect(one.samples == [[1: 255, 2: 85, 4: 17][bits]!])
    }

    @Test func paletteExpandsToRGB() throws {
        let palette: [UInt8] = [0, 0, 0, 255, 0, 0, 0, 128, 255, 10, 20, 30, 255, 255, 255]
        let w = 5, h = 4
        let indices = (0..<(w * h)).map { UInt16(($0 * 7) % 5) }
        let expected = indices.flatMap { i in palette[(3 * Int(i))..<(3 * Int(i) + 3)].map { UInt16($0) } }
        for bitDepth in [4, 8] {
            for interlaced in [false, true] {
                for alpha in [[], [0, 128, 255] as [UInt8]] {  // tRNS alpha is dropped too
                    let bytes = try PNGEncoder.encodePalette(width: w, height: h, bitDepth: bitDepth, indices: indices,
                                                             palette: palette, alpha: alpha, interlaced: interlaced)
                    let image = try decodeBytes(bytes)
                    #expect(image.channels == 3 && image.bitDepth == 8)
                    #expect(image.samples == expected)
                }
            }
        }
    }

    @Test func tRNSColourIsIgnored() throws {
        let gray = try decodeBytes(PNGEncoder.encode(width: 3, height: 1, channels: 1, bitDepth: 16,
                                                     samples: [0, 7, 65535], transparentColor: [7]))
        #expect(gray.channels == 1 && gray.bitDepth == 16 && gray.samples == [0, 7, 65535])
        let gray2 = try decodeBytes(PNGEncoder.encode(width: 4, height: 1, channels: 1, bitDepth: 2,
                                                      samples: [0, 1, 2, 3], transparentColor: [1]))
        #expect(gray2.channels == 1 && gray2.samples == [0, 85, 170, 255])
        let rgb = try decodeBytes(PNGEncoder.encode(width: 2, height: 1, channels: 3, bitDepth: 8,
                                                    samples: [1, 2, 3, 4, 5, 6], transparentColor: [1, 2, 3]))
        #expect(rgb.channels == 3 && rgb.samples == [1, 2, 3, 4, 5, 6])
    }

    @Test func encoderRejectsBadInput() {
        let cases: [() throws -> Void] = [
            { _ = try PNGEncoder.encode(width: 2, height: 1, channels: 1, bitDepth: 8, samples: [1]) },
            { _ = try PNGEncoder.encode(width: 1, height: 1, channels: 5, bitDepth: 8, samples: [1]) },
            { _ = try PNGEncoder.encode(width: 1, height: 1, channels: 1, bitDepth: 8, samples: [256]) },
            { _ = try PNGEncoder.encode(width: 1, height: 1, channels: 3, bitDepth: 4, samples: [1, 1, 1]) },
            { _ = try PNGEncoder.encode(width: 0, height: 1, channels: 1, bitDepth: 8, samples: []) },
            { _ = try PNGEncoder.encodePalette(width: 1, height: 1, indices: [3], palette: [0, 0, 0]) },
            { try PNGEncoder.write(path: "/nonexistent-dir/x.png", width: 1, height: 1, channels: 1,
                                   bitDepth: 8, samples: [0]) },
        ]
        for body in cases {
            let error = expectImageError(body)
            #expect(error != nil)
            if let error { #expect(!error.description.contains("\n")) }
        }
    }

    @Test func largeImageDecodeAndPreprocessTiming() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let w = 2000, h = 2500
        // A smooth 16-bit "radiograph" (compresses like a real one, unlike noise).
        var samples = [UInt16](repeating: 0, count: w * h)
        for y in 0..<h { for x in 0..<w { samples[y * w + x] = UInt16((x * 13 + y * 7 + (x * y) % 97) & 0xFFFF) } }
        let path = dir.file("large.png")
        try PNGEncoder.write(path: path, width: w, height: h, channels: 1, bitDepth: 16, samples: samples)
        let clock = ContinuousClock()
        var image: DecodedImage?
        let decodeTime = try clock.measure { image = try PNGDecoder.decode(contentsOf: path) }
        let spec = PreprocessSpec(channels: 1, height: 128, width: 128)
        var output = [Float](repeating: 0, count: 128 * 128)
        let preprocessTime = clock.measure {
            output.withUnsafeMutableBufferPointer { Preprocess.tensor(from: image!, spec: spec, into: $0.baseAddress!) }
        }
        let rgbSpec = PreprocessSpec(channels: 3, height: 128, width: 128)
        var rgbOutput = [Float](repeating: 0, count: 128 * 128 * 3)
        let rgbTime = clock.measure {
            rgbOutput.withUnsafeMutableBufferPointer { Preprocess.tensor(from: image!, spec: rgbSpec, into: $0.baseAddress!) }
        }
        #expect(image?.samples == samples)
        print("timing: decode \(w)x\(h) 16-bit gray: \(decodeTime); preprocess to 128x128x1: \(preprocessTime); to 128x128x3: \(rgbTime)")
    }
}
