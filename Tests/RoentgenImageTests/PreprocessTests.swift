import Testing
import RoentgenImage

/// Straightforward scalar evaluation of SPEC INPUT steps 2-5, written independently of
/// `Preprocess`: converts the WHOLE image first (SPEC order), then resizes, then normalises.
func referenceTensor(_ image: DecodedImage, _ spec: PreprocessSpec) -> [Float] {
    let denominator: Float = image.bitDepth == 16 ? 65535.0 : 255.0
    let scaled: [Float] = image.samples.map { Float($0) / denominator }
    // Step 3 on the full-resolution image: planes[c][y * w + x].
    let n = image.width * image.height
    var planes: [[Float]] = []
    if image.channels == 3 && spec.channels == 1 {
        var gray = [Float](repeating: 0, count: n)
        for i in 0..<n {
            let r: Float = scaled[3 * i], g: Float = scaled[3 * i + 1], b: Float = scaled[3 * i + 2]
            let pr: Float = Float(0.299) * r
            let pg: Float = Float(0.587) * g
            let s1: Float = pr + pg
            let pb: Float = Float(0.114) * b
            gray[i] = s1 + pb
        }
        planes = [gray]
    } else if image.channels == 1 && spec.channels == 3 {
        planes = [scaled, scaled, scaled]
    } else {
        planes = (0..<image.channels).map { c in (0..<n).map { scaled[$0 * image.channels + c] } }
    }
    // Step 4.
    func axis(_ o: Int, _ inSize: Int, _ outSize: Int) -> (Int, Int, Float) {
        let scale: Float = Float(inSize) / Float(outSize)
        let t: Float = Float(o) + Float(0.5)
        let u: Float = t * scale
        var s: Float = u - Float(0.5)
        if s < 0 { s = 0 }
        let i0 = min(Int(s.rounded(.down)), inSize - 1)
        let i1 = min(i0 + 1, inSize - 1)
        let f: Float = s - Float(i0)
        return (i0, i1, f)
    }
    let resize = image.width != spec.width || image.height != spec.height
    var out = [Float](repeating: .nan, count: spec.width * spec.height * spec.channels)
    for y in 0..<spec.height {
        for x in 0..<spec.width {
            for c in 0..<spec.channels {
                let p = planes[c]
                var v: Float
                if resize {
                    let (x0, x1, fx) = axis(x, image.width, spec.width)
                    let (y0, y1, fy) = axis(y, image.height, spec.height)
                    let w = image.width
                    let d0: Float = p[y0 * w + x1] - p[y0 * w + x0]
                    let m0: Float = fx * d0
                    let top: Float = p[y0 * w + x0] + m0
                    let d1: Float = p[y1 * w + x1] - p[y1 * w + x0]
                    let m1: Float = fx * d1
                    let bottom: Float = p[y1 * w + x0] + m1
                    let d2: Float = bottom - top
                    let m2: Float = fy * d2
                    v = top + m2
                } else {
                    v = p[y * image.width + x]
                }
                let centred: Float = v - spec.mean[c]
                out[(y * spec.width + x) * spec.channels + c] = centred / spec.std[c]
            }
        }
    }
    return out
}

func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

@Suite struct PreprocessTests {
    @Test func lumaConstantsMatchLiterals() {
        #expect(Preprocess.lumaR == Float(0.299))
        #expect(Preprocess.lumaG == Float(0.587))
        #expect(Preprocess.lumaB == Float(0.114))
    }

    @Test func scaling8And16Bit() {
        let g8 = DecodedImage(width: 4, height: 1, channels: 1, bitDepth: 8, samples: [0, 51, 255, 1])
        let spec = PreprocessSpec(channels: 1, height: 1, width: 4)
        #expect(Preprocess.tensor(from: g8, spec: spec) == [0, Float(0.2), 1, Float(1) / Float(255)])
        let g16 = DecodedImage(width: 4, height: 1, channels: 1, bitDepth: 16, samples: [0, 13107, 65535, 255])
        #expect(Preprocess.tensor(from: g16, spec: spec) == [0, Float(0.2), 1, Float(255) / Float(65535)])
        // Division, not multiplication by a reciprocal: 3/255 differs from 3 * (1/255) in binary32.
        let three = DecodedImage(width: 1, height: 1, channels: 1, bitDepth: 8, samples: [3])
        let v = Preprocess.tensor(from: three, spec: PreprocessSpec(channels: 1, height: 1, width: 1))[0]
        #expect(v.bitPattern == 0x3C40_C0C1)  // f32(3) / f32(255), from numpy
    }

    @Test func rgbToGray() {
        let rgb = DecodedImage(width: 4, height: 1, channels: 3, bitDepth: 8,
                               samples: [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255])
        let out = Preprocess.tensor(from: rgb, spec: PreprocessSpec(channels: 1, height: 1, width: 4))
        // Pure channels give the weights; white gives (0.299f + 0.587f) + 0.114f = 1.0f exactly
        // (checked with numpy float32).
        #expect(bits(out) == [0x3E99_1687, 0x3F16_45A2, 0x3DE9_78D5, 0x3F80_0000])
        let mixed = DecodedImage(width: 1, height: 1, channels: 3, bitDepth: 16, samples: [1000, 20000, 65000])
        let m = Preprocess.tensor(from: mixed, spec: PreprocessSpec(channels: 1, height: 1, width: 1))
        #expect(bits(m) == bits(referenceTensor(mixed, PreprocessSpec(channels: 1, height: 1, width: 1))))
        #expect(m[0].bitPattern == 0x3E97_F298)  // numpy
    }

    @Test func grayToRGBCopies() {
        let gray = DecodedImage(width: 2, height: 1, channels: 1, bitDepth: 8, samples: [51, 255])
        let out = Preprocess.tensor(from: gray, spec: PreprocessSpec(channels: 3, height: 1, width: 2))
        #expect(out == [0.2, 0.2, 0.2, 1, 1, 1])
    }

    @Test func meanAndStd() {
        let rgb = DecodedImage(width: 1, height: 1, channels: 3, bitDepth: 8, samples: [255, 0, 51])
        let spec = PreprocessSpec(channels: 3, height: 1, width: 1, mean: [0.5, 0.25, 0.2], std: [0.25, 0.5, 2])
        // (1 - 0.5) / 0.25 = 2; (0 - 0.25) / 0.5 = -0.5; (0.2f - 0.2f) / 2 = 0.
        #expect(Preprocess.tensor(from: rgb, spec: spec) == [2, -0.5, 0])
        let imagenet = PreprocessSpec(channels: 3, height: 1, width: 1, mean: [0.485, 0.456, 0.406],
                                      std: [0.229, 0.224, 0.225])
        #expect(bits(Preprocess.tensor(from: rgb, spec: imagenet)) == bits(referenceTensor(rgb, imagenet)))
    }

    @Test func noResamplingWhenSizesMatch() {
        let w = 9, h = 6
        let image = DecodedImage(width: w, height: h, channels: 3, bitDepth: 16,
                                 samples: lcg(count: w * h * 3, seed: 11, modulo: 65536))
        let out = Preprocess.tensor(from: image, spec: PreprocessSpec(channels: 3, height: h, width: w))
        #expect(out == image.samples.map { Float($0) / 65535 })
    }

    @Test func downscale4x4To2x2AveragesBlocks() {
        // Scale 2: sx = 0.5 and 2.5, so every output is the mean of a 2x2 block.
        let samples: [UInt16] = [0, 255, 51, 51,
                                 255, 0, 51, 51,
                                 0, 0, 255, 255,
                                 0, 0, 255, 255]
        let image = DecodedImage(width: 4, height: 4, channels: 1, bitDepth: 8, samples: samples)
        let spec = PreprocessSpec(channels: 1, height: 2, width: 2)
        let out = Preprocess.tensor(from: image, spec: spec)
        #expect(out == [0.5, 0.2, 0, 1])
        #expect(bits(out) == bits(referenceTensor(image, spec)))
    }

    @Test(arguments: [(1, 1), (1, 3), (3, 1), (3, 3)])
    func resize3x5To7x4(inChannels: Int, outChannels: Int) {
        for bitDepth in [8, 16] {
            let image = DecodedImage(width: 3, height: 5, channels: inChannels, bitDepth: bitDepth,
                                     samples: lcg(count: 15 * inChannels, seed: 21, modulo: 1 << UInt64(bitDepth)))
            let spec = PreprocessSpec(channels: outChannels, height: 4, width: 7,
                                      mean: Array([0.485, 0.456, 0.406].prefix(outChannels)),
                                      std: Array([0.229, 0.224, 0.225].prefix(outChannels)))
            #expect(bits(Preprocess.tensor(from: image, spec: spec)) == bits(referenceTensor(image, spec)))
        }
    }

    @Test func resizeManySizesAgainstReference() {
        let sizes = [1, 2, 3, 5, 8, 13, 31]
        for inW in sizes { for inH in [1, 4, 7] { for outW in sizes { for outH in [1, 3, 6] {
            let image = DecodedImage(width: inW, height: inH, channels: 3, bitDepth: 8,
                                     samples: lcg(count: inW * inH * 3, seed: UInt64(inW * 100 + inH), modulo: 256))
            for c in [1, 3] {
                let spec = PreprocessSpec(channels: c, height: outH, width: outW)
                let got = bits(Preprocess.tensor(from: image, spec: spec))
                #expect(got == bits(referenceTensor(image, spec)), "\(inW)x\(inH) -> \(outW)x\(outH) c\(c)")
            }
        } } } }
    }

    @Test func onlyOneAxisDiffers() {
        let image = DecodedImage(width: 6, height: 4, channels: 1, bitDepth: 16,
                                 samples: lcg(count: 24, seed: 2, modulo: 65536))
        for spec in [PreprocessSpec(channels: 1, height: 4, width: 3), PreprocessSpec(channels: 1, height: 9, width: 6)] {
            #expect(bits(Preprocess.tensor(from: image, spec: spec)) == bits(referenceTensor(image, spec)))
        }
    }

    // Golden vectors computed by an independent numpy float32 implementation of the SPEC
    // (same LCG inputs). These pin the cross-language contract.

    @Test func goldenRGB16ToGrayDownscale() {
        let image = DecodedImage(width: 7, height: 5, channels: 3, bitDepth: 16,
                                 samples: lcg(count: 105, seed: 12345, modulo: 65536))
        #expect(Array(image.samples.prefix(3)) == [56342, 1063, 25884])
        let spec = PreprocessSpec(channels: 1, height: 3, width: 4, mean: [0.485], std: [0.229])
        let expected: [UInt32] = [
            0xBF2C5EE2, 0xBF19B323, 0xBF2CF126, 0xBE80088F, 0x3F763F8E, 0x3F22E40A, 0xBEEF9C11, 0x3E684705,
            0x3EE9F575, 0xBF2CF0DE, 0xBE49AFDB, 0x3F44AD05,
        ]
        #expect(bits(Preprocess.tensor(from: image, spec: spec)) == expected)
    }

    @Test func goldenGray8ToRGBUpscale() {
        let image = DecodedImage(width: 5, height: 3, channels: 1, bitDepth: 8,
                                 samples: lcg(count: 15, seed: 777, modulo: 256))
        #expect(Array(image.samples.prefix(3)) == [57, 191, 233])
        let spec = PreprocessSpec(channels: 3, height: 7, width: 9, mean: [0.485, 0.456, 0.406],
                                  std: [0.229, 0.224, 0.225])
        let expected: [UInt32] = [
            0xBF922646, 0xBF84D720, 0xBF4F9C69, 0xBEC0F75C, 0xBE82FCDF, 0xBD0505C0, 0x3F65E06C, 0x3F86134A,
            0x3FA1EC86, 0x3FBC7DB3, 0x3FD14514, 0x3FECC8C2, 0x3FEFA30F, 0x4002C759, 0x40106B71, 0x3FC503EC,
            0x3FD9FC03, 0x3FF575C6, 0x3FA74D4F, 0x3FBB9B9C, 0x3FD737EF, 0x3FBD38C0, 0x3FD2044D, 0x3FED8722,
            0x3FCA5F9D, 0x3FDF7652, 0x3FFAE9DA, 0xBF9A4A86, 0xBF8D29E6, 0xBF602F03, 0xBEFF980A, 0xBEC3036D,
            0xBE20BCDB, 0x3F2D8302, 0x3F528714, 0x3F853D8E, 0x3F8C6829, 0x3FA01CC6, 0x3FBBD862, 0x3FA9CE9E,
            0x3FBE2B3B, 0x3FD9C4A5, 0x3F935D93, 0x3FA739F3, 0x3FC2ED77, 0x3F858491, 0x3F9911D0, 0x3FB4D56F,
            0x3F9A0BBA, 0x3FAE0E46, 0x3FC9BA05, 0x3FA65CD2, 0x3FBAA5C0, 0x3FD6432B, 0xBFB2B745, 0xBFA62236,
            0xBF88F36A, 0xBF5DBD0B, 0xBF418B8B, 0xBF07CBC7, 0x3C8D587F, 0x3E16A253, 0x3EBCC297, 0xBCF61CE9,
            0x3DCA3DC9, 0x3EA41D0A, 0xBE9EBAD3, 0xBE3FF967, 0x3D11BD07, 0xBC4ABE4B, 0x3DEF3C00, 0x3EAD5212,
            0x3E80A95D, 0x3EC5D1B9, 0x3F1B5BE2, 0x3EC2129F, 0x3F045861, 0x3F3CA55C, 0x3EE951C5, 0x3F186816,
            0x3F509E3E, 0xBFCB2404, 0xBFBF1A88, 0xBFA1CF52, 0xBF9DD70A, 0xBF90CAB1, 0xBF676859, 0xBF24AD7F,
            0xBF0735EF, 0xBE9B7113, 0xBF941913, 0xBF86D50F, 0xBF5393BE, 0xBFF92C0A, 0xBFEE2997, 0xBFD0A8D6,
            0xBF96888C, 0xBF895273, 0xBF5888DD, 0xBF0A5FC5, 0xBED8A3CD, 0xBE4BCC66, 0xBEE409AD, 0xBEA6D799,
            0xBDD14A9D, 0xBEC6CFC2, 0xBE88F6AC, 0xBD349DC7, 0xBFC7620E, 0xBFBB4318, 0xBF9DFC41, 0xBFB5A376,
            0xBFA91F1B, 0xBF8BECE8, 0xBF981079, 0xBF8AE31F, 0xBF5BA6A5, 0xBFA2B607, 0xBF95C584, 0xBF7152AA,
            0xBFB769B8, 0xBFAAEF81, 0xBF8DBB3D, 0xBF91D61A, 0xBF84852A, 0xBF4EF938, 0xBF4AABFD, 0xBF2E0D8A,
            0xBEE8C7E5, 0xBE691EE7, 0xBDD38170, 0x3DF48BAF, 0x3DE2D66A, 0x3E78859D, 0x3EED7C8C, 0xBFC3A018,
            0xBFB76BA9, 0xBF9A2931, 0xBFCD6FE2, 0xBFC17385, 0xBFA425A3, 0xBFDDCA32, 0xBFD22B47, 0xBFB4CA60,
            0xBFB152FC, 0xBFA4B5FA, 0xBF8788CB, 0xBF6B4ECB, 0xBF4F6AD5, 0xBF159B48, 0xBF8D23A9, 0xBF7F6FC4,
            0xBF456994, 0xBF857C1B, 0xBF6FC92C, 0xBF35D4CB, 0xBC22A731, 0x3DF45B86, 0x3EAE987F, 0x3F1C1D79,
            0x3F40BE23, 0x3F78C666, 0xBFC25F71, 0xBFB623DA, 0xBF98E2D6, 0xBFD55EB0, 0xBFC98FA8, 0xBFAC388C,
            0xBFF5081A, 0xBFE9EDFE, 0xBFCC720F, 0xBFB631F8, 0xBFA9B0CB, 0xBF8C7DF2, 0xBF3F77EC, 0xBF229974,
            0xBED1F9C9, 0xBF8B92D9, 0xBF7C3C3E, 0xBF4239B3, 0xBF903379, 0xBF82D931, 0xBF4BA513, 0x3D804E12,
            0x3E4627EC, 0x3ED46A5A, 0x3F46B3B3, 0x3F6C47B6, 0x3F920F38,
        ]
        #expect(bits(Preprocess.tensor(from: image, spec: spec)) == expected)
    }

    @Test func goldenRGB8Resize3x5To7x4() {
        let image = DecodedImage(width: 3, height: 5, channels: 3, bitDepth: 8,
                                 samples: lcg(count: 45, seed: 4242, modulo: 256))
        let spec = PreprocessSpec(channels: 3, height: 4, width: 7)
        let expected: [UInt32] = [
            0x3F41A1A2, 0x3F31F1F2, 0x3DF1F1F2, 0x3F3A714D, 0x3F2ED366, 0x3E642D51, 0x3F24E04E, 0x3F2577C1,
            0x3F097297, 0x3F0F4F50, 0x3F1C1C1C, 0x3F59D9DA, 0x3EC0EEA5, 0x3EC9F7AE, 0x3F09A9A9, 0x3E467D56,
            0x3E376E47, 0x3E65E5E2, 0x3E080808, 0x3DDBDBDC, 0x3DF5F5F6, 0x3F749495, 0x3F22A2A3, 0x3EB8B8B9,
            0x3F58661D, 0x3F22DE4C, 0x3ECFD8FE, 0x3F03DAB7, 0x3F239148, 0x3F0A9CE6, 0x3E3D3D3D, 0x3F244445,
            0x3F2D4D4D, 0x3EBFF6D3, 0x3EF3054E, 0x3F0A9CE6, 0x3F10A784, 0x3E9D8213, 0x3ECFD8FD, 0x3F20E0E1,
            0x3E810101, 0x3EB8B8B9, 0x3F117171, 0x3F448485, 0x3F12F2F3, 0x3F03DF4E, 0x3F360CE9, 0x3F060A9D,
            0x3EB651C0, 0x3F0AA614, 0x3EBEA336, 0x3E49C9CA, 0x3EBE7E7E, 0x3E626263, 0x3ED5D5D7, 0x3EAE5C13,
            0x3E885176, 0x3F236364, 0x3E9E39A8, 0x3E9F71BB, 0x3F363636, 0x3E98D8D9, 0x3EA72728, 0x3F51D1D2,
            0x3F13D3D4, 0x3E282828, 0x3F4F6F70, 0x3F0319F6, 0x3E58A1C6, 0x3F484848, 0x3EA1D8B4, 0x3EB50751,
            0x3F412121, 0x3DF5F5F6, 0x3EFDBDBE, 0x3F2EF386, 0x3E5E5E5F, 0x3F0D03E0, 0x3F1CC5EB, 0x3EA0E0E2,
            0x3F1B28E0, 0x3F16B6B7, 0x3EB17172, 0x3F1FDFE0,
        ]
        #expect(bits(Preprocess.tensor(from: image, spec: spec)) == expected)
    }

    @Test func decodedPNGThroughPreprocess() throws {
        // End to end: 16-bit RGBA PNG -> alpha dropped -> gray, resized.
        let w = 10, h = 6
        let samples = lcg(count: w * h * 4, seed: 31, modulo: 65536)
        let image = try decodeBytes(PNGEncoder.encode(width: w, height: h, channels: 4, bitDepth: 16, samples: samples))
        let rgb = samples.enumerated().filter { $0.offset % 4 != 3 }.map(\.element)
        let direct = DecodedImage(width: w, height: h, channels: 3, bitDepth: 16, samples: rgb)
        let spec = PreprocessSpec(channels: 1, height: 4, width: 4)
        #expect(bits(Preprocess.tensor(from: image, spec: spec)) == bits(referenceTensor(direct, spec)))
    }
}
