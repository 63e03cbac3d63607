import Testing
import RoentgenKernels
@testable import RoentgenFloat

@Suite struct FloatKernelTests {
    /// Every variant (portable: im2col + sgemm; avx2 / vnni: packed FMA tiles; depthwise: SIMD along
    /// channels) at 1 and 2 threads against the double-precision twin.
    @Test(arguments: 0..<60)
    func conv(_ i: Int) {
        var r = SplitMix64(seed: 0xF10A7 &+ UInt64(i))
        let g = ConvCase.geometry(&r, kind: .any)
        let x = r.floats(g.inputCount), w = r.floats(g.weightCount, -0.2...0.2), b = r.floats(g.outputChannels)
        let alpha: Float = [1, 0.1, 0, -0.5][i % 4]
        let (lo, hi): (Float, Float) = i % 5 == 0 ? (-0.3, 0.6) : (-.infinity, .infinity)
        var ref = [Double](repeating: 0, count: g.outputCount)
        Conv2DFloat.reference(geometry: g, input: x, weights: w, bias: b, alpha: alpha, clipMin: lo, clipMax: hi, output: &ref)
        for variant in supportedVariants {
            // Every third seed cuts the copy (and portable's im2col) into row bands of about 1 KiB.
            let conv = Conv2DFloat(geometry: g, weights: w, bias: b, alpha: alpha, clipMin: lo, clipMax: hi, variant: variant,
                                   bandBudget: i % 3 == 0 ? 1024 : RowBands.defaultBudget)
            let scratch = Scratch(conv.scratchBytes, seed: UInt64(i))
            var first: [Float]? = nil
            for (threads, pool) in threadPools() {
                scratch.scramble()
                var fast = [Float](repeating: .nan, count: g.outputCount)
                conv.run(input: x, output: &fast, scratch: scratch.pointer, pool: pool)
                if let j = notClose(fast, ref) {
                    Issue.record("\(variant) x\(threads) float conv at \(j): \(fast[j]) vs \(ref[j]); seed \(i) \(g) alpha \(alpha)")
                    return
                }
                #expect(scratch.guardIntact, "\(variant): wrote past scratchBytes; seed \(i) \(g)")
                if let first, variant != .portable || g.isDepthwise {
                    #expect(first.map(\.bitPattern) == fast.map(\.bitPattern), "\(variant): 2 threads differ; seed \(i) \(g)")
                }
                first = fast
            }
        }
    }

    /// Depthwise f32 on maps wide enough for the four-pixel path: each variant is close to the
    /// double twin, and the FMA variants (avx2, vnni) give the same bits (the same fused lane sums
    /// in the same order; portable rounds each product), at 1 and 2 threads; odd cases with small
    /// band budgets (many bands, each its own bordered copy).
    @Test(arguments: 0..<16)
    func depthwiseSameBitsEveryVariant(_ i: Int) {
        var r = SplitMix64(seed: 0xD3F1 &+ UInt64(i))
        let g = ConvCase.geometry(&r, kind: .depthwise, maxChannels: 80, maxSize: 24)
        checkDepthwise(g, &r, seed: UInt64(i), bandBudget: i % 2 == 0 ? RowBands.defaultBudget : r.int(1...8000))
    }

    /// Stride 1, dilation 1 (the sliding-window path: each row's input vectors are loaded once and
    /// shifted from tap to tap), at the kernel sizes it is specialised for and one it is not, with
    /// padding on every side so the clipped rows and the one-pixel edges run too.
    @Test(arguments: [(3, 3, 19, 40), (5, 5, 23, 72), (3, 5, 17, 33), (2, 2, 13, 16)])
    func depthwiseSlidingWindow(_ kh: Int, _ kw: Int, _ size: Int, _ channels: Int) {
        var r = SplitMix64(seed: UInt64(kh * 100 + kw * 10 + channels))
        let g = Conv2DGeometry(inputHeight: size, inputWidth: size + 2, inputChannels: channels,
                               outputHeight: size, outputWidth: size + 2, outputChannels: channels,
                               kernelHeight: kh, kernelWidth: kw, strideHeight: 1, strideWidth: 1,
                               padTop: (kh - 1) / 2, padLeft: (kw - 1) / 2, padBottom: kh / 2, padRight: kw / 2, groups: channels)
        checkDepthwise(g, &r, seed: UInt64(kh))
    }

    private func checkDepthwise(_ g: Conv2DGeometry, _ r: inout SplitMix64, seed: UInt64, bandBudget: Int = RowBands.defaultBudget) {
        let x = r.floats(g.inputCount), w = r.floats(g.weightCount, -0.2...0.2), b = r.floats(g.outputChannels)
        var ref = [Double](repeating: 0, count: g.outputCount)
        Conv2DFloat.reference(geometry: g, input: x, weights: w, bias: b, alpha: 0.1, clipMin: -.infinity, clipMax: .infinity, output: &ref)
        var first: [UInt32]? = nil
        for variant in supportedVariants {
            for (threads, pool) in threadPools() {
                let conv = Conv2DFloat(geometry: g, weights: w, bias: b, alpha: 0.1, clipMin: -.infinity, clipMax: .infinity, variant: variant,
                                       bandBudget: bandBudget, threads: threads)
                let scratch = Scratch(conv.scratchBytes, seed: seed)
                var y = [Float](repeating: .nan, count: g.outputCount)
                conv.run(input: x, output: &y, scratch: scratch.pointer, pool: pool)
                if let j = notClose(y, ref) { Issue.record("\(variant) x\(threads) at \(j): \(y[j]) vs \(ref[j]); \(g)"); return }
                #expect(scratch.guardIntact, "\(variant): wrote past scratchBytes \(conv.scratchBytes); \(g)")
                guard variant != .portable else { continue }
                if let first { #expect(first == y.map(\.bitPattern), "\(variant) x\(threads) differs from the other FMA variant; \(g)") }
                first = y.map(\.bitPattern)
            }
        }
    }

    /// Small maps with many channels (late layers, a 1x1 map): the tiles are cut along the output
    /// channels at 2 threads, and the result is the same bits as at 1.
    @Test(arguments: [(7, 192, 1152, 1), (7, 1152, 200, 1), (1, 320, 1280, 1), (5, 96, 300, 3)])
    func fewPixelsManyChannels(_ h: Int, _ ic: Int, _ oc: Int, _ k: Int) {
        var r = SplitMix64(seed: UInt64(h * 1000 + oc))
        let g = Conv2DGeometry(inputHeight: h, inputWidth: h, inputChannels: ic, outputHeight: h, outputWidth: h, outputChannels: oc,
                               kernelHeight: k, kernelWidth: k, strideHeight: 1, strideWidth: 1,
                               padTop: k / 2, padLeft: k / 2, padBottom: k / 2, padRight: k / 2)
        let x = r.floats(g.inputCount), w = r.floats(g.weightCount, -0.2...0.2), b = r.floats(oc)
        var ref = [Double](repeating: 0, count: g.outputCount)
        Conv2DFloat.reference(geometry: g, input: x, weights: w, bias: b, alpha: 0, clipMin: -.infinity, clipMax: 6, output: &ref)
        for variant in supportedVariants where variant != .portable {
            let conv = Conv2DFloat(geometry: g, weights: w, bias: b, alpha: 0, clipMin: -.infinity, clipMax: 6, variant: variant)
            let scratch = Scratch(conv.scratchBytes, seed: 1)
            var first: [Float]? = nil
            for (threads, pool) in threadPools() {
                var fast = [Float](repeating: .nan, count: g.outputCount)
                conv.run(input: x, output: &fast, scratch: scratch.pointer, pool: pool)
                if let j = notClose(fast, ref) { Issue.record("\(variant) x\(threads) at \(j): \(fast[j]) vs \(ref[j]); \(g)"); return }
                if let first { #expect(first.map(\.bitPattern) == fast.map(\.bitPattern), "\(variant): 2 threads differ; \(g)") }
                first = fast
            }
        }
    }

    /// The f32 epilogue's compares (SPEC "Float arithmetic"): NaN passes the leaky ReLU and the clip
    /// unchanged, -0.0 is not below 0 and +0.0 not above -0.0, so their signs stay. avx2 clips with
    /// vmaxps / vminps, whose NaN and equal-operand rules this pins (bound first, y second).
    @Test func epilogueKeepsNaNAndSignedZeros() {
        // a 1x1 conv with one input channel and weight 1, bias -0.0: y = x exactly, for x of every kind
        let xs: [Float] = [.nan, -.nan, -0.0, 0.0, -1, 1, 5.5, 6, 7, -.infinity, .infinity, -0.25]
        let g = Conv2DGeometry(inputHeight: 1, inputWidth: xs.count, inputChannels: 1, outputHeight: 1, outputWidth: xs.count,
                               outputChannels: 8, kernelHeight: 1, kernelWidth: 1, strideHeight: 1, strideWidth: 1,
                               padTop: 0, padLeft: 0, padBottom: 0, padRight: 0)
        let w = [Float](repeating: 1, count: g.weightCount), b = [Float](repeating: -0.0, count: 8)
        // (alpha, clip): ReLU6 as a clip, the same with a leaky slope, a clip whose bounds are signed zeros
        for (alpha, lo, hi) in [(Float(0), Float(0), Float(6)), (0.1, 0, 6), (1, -0.0, 0.0), (0, -.infinity, .infinity)] {
            func want(_ x: Float) -> Float {   // SPEC: y < 0 ? y * alpha : y, then y < lo ? lo : y, then y > hi ? hi : y
                var y = x < 0 ? x * alpha : x
                if y < lo { y = lo }
                if y > hi { y = hi }
                return y
            }
            for variant in supportedVariants where variant != .portable {
                let conv = Conv2DFloat(geometry: g, weights: w, bias: b, alpha: alpha, clipMin: lo, clipMax: hi, variant: variant)
                let scratch = Scratch(conv.scratchBytes, seed: 1)
                var fast = [Float](repeating: 1234, count: g.outputCount)
                conv.run(input: xs, output: &fast, scratch: scratch.pointer, pool: nil)
                for (i, x) in xs.enumerated() {
                    let got = fast[i * 8], expected = want(x)
                    #expect(got.bitPattern == expected.bitPattern || (got.isNaN && expected.isNaN),
                            "\(variant) alpha \(alpha) clip [\(lo), \(hi)]: x \(x) gave \(got), SPEC \(expected)")
                }
            }
        }
    }

    /// A 1x1 stride-1 unpadded conv reads its input in place (no copy, no scratch, one band even
    /// under a small band budget); a padded or strided one still copies.
    @Test(arguments: [(30, 24, 40, 0, 1), (17, 8, 16, 0, 1), (16, 8, 16, 1, 1), (16, 8, 16, 0, 2)])
    func pointwiseReadsInPlace(_ h: Int, _ ic: Int, _ oc: Int, _ pad: Int, _ stride: Int) {
        var r = SplitMix64(seed: UInt64(h * 100 + ic))
        let o = outputSize(h, pad, pad, 1, stride, 1)
        let g = Conv2DGeometry(inputHeight: h, inputWidth: h, inputChannels: ic, outputHeight: o, outputWidth: o, outputChannels: oc,
                               kernelHeight: 1, kernelWidth: 1, strideHeight: stride, strideWidth: stride,
                               padTop: pad, padLeft: pad, padBottom: pad, padRight: pad)
        let x = r.floats(g.inputCount), w = r.floats(g.weightCount, -0.2...0.2), b = r.floats(oc)
        var ref = [Double](repeating: 0, count: g.outputCount)
        Conv2DFloat.reference(geometry: g, input: x, weights: w, bias: b, alpha: 0.1, clipMin: -.infinity, clipMax: .infinity, output: &ref)
        for variant in supportedVariants where variant != .portable {
            let conv = Conv2DFloat(geometry: g, weights: w, bias: b, alpha: 0.1, clipMin: -.infinity, clipMax: .infinity,
                                   variant: variant, bandBudget: 1024)
            guard case let .packed(p) = conv.implementation else { Issue.record("\(variant): not the tiles"); continue }
            let inPlace = pad == 0 && stride == 1
            #expect(p.readsInPlace == inPlace && (conv.scratchBytes == 0) == inPlace, "\(variant) \(g)")
            let scratch = Scratch(conv.scratchBytes, seed: 2)
            var first: [Float]? = nil
            for (threads, pool) in threadPools() {
                var fast = [Float](repeating: .nan, count: g.outputCount)
                conv.run(input: x, output: &fast, scratch: scratch.pointer, pool: pool)
                if let j = notClose(fast, ref) { Issue.record("\(variant) x\(threads) at \(j): \(fast[j]) vs \(ref[j]); \(g)"); return }
                if let first { #expect(first.map(\.bitPattern) == fast.map(\.bitPattern), "\(variant): 2 threads differ; \(g)") }
                first = fast
            }
        }
    }

    /// 3x3 stride-1 convs with 32+ channels run Winograd F(2x2, 3x3) on avx2 / vnni: odd and even
    /// sizes, pads 0-3, channel counts off the lanes, several blocks; within the direct sum's tolerance,
    /// the same bits at 2 threads, and Winograd must be what runs.
    @Test(arguments: 0..<24)
    func winograd(_ i: Int) {
        var r = SplitMix64(seed: 0x3F_A7 &+ UInt64(i) &* 7_919)
        let pt = r.int(0...3), pb = r.int(0...3), pl = r.int(0...3), pr = r.int(0...3)
        let h = r.int(max(1, 3 - pt - pb)...(i % 3 == 0 ? 36 : 11)), w = r.int(max(1, 3 - pl - pr)...(i % 3 == 0 ? 36 : 11))
        let ic = [32, 33, 47, 64, 100, 256][i % 6], oc = [32, 40, 129, 64][i % 4]
        let g = Conv2DGeometry(inputHeight: h, inputWidth: w, inputChannels: ic,
                               outputHeight: outputSize(h, pt, pb, 3, 1, 1), outputWidth: outputSize(w, pl, pr, 3, 1, 1),
                               outputChannels: oc, kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 1,
                               padTop: pt, padLeft: pl, padBottom: pb, padRight: pr)
        let x = r.floats(g.inputCount), wt = r.floats(g.weightCount, -0.2...0.2), b = r.floats(oc)
        let alpha: Float = [1, 0.1, 0][i % 3]
        let (lo, hi): (Float, Float) = i % 4 == 1 ? (-0.3, 0.6) : (-.infinity, .infinity)
        var ref = [Double](repeating: 0, count: g.outputCount)
        Conv2DFloat.reference(geometry: g, input: x, weights: wt, bias: b, alpha: alpha, clipMin: lo, clipMax: hi, output: &ref)
        for variant in supportedVariants where variant != .portable {
            #expect(WinogradFloat.applies(g, variant: variant))
            let conv = Conv2DFloat(geometry: g, weights: wt, bias: b, alpha: alpha, clipMin: lo, clipMax: hi, variant: variant)
            guard case .winograd = conv.implementation else { Issue.record("\(variant) did not pick Winograd for \(g)"); return }
            let scratch = Scratch(conv.scratchBytes, seed: UInt64(i))
            var first: [Float]? = nil
            for (threads, pool) in threadPools() {
                scratch.scramble()
                var fast = [Float](repeating: .nan, count: g.outputCount)
                conv.run(input: x, output: &fast, scratch: scratch.pointer, pool: pool)
                if let j = notClose(fast, ref) {
                    Issue.record("\(variant) x\(threads) Winograd f32 at \(j): \(fast[j]) vs \(ref[j]); seed \(i) \(g)")
                    return
                }
                #expect(scratch.guardIntact, "\(variant): wrote past scratchBytes; seed \(i) \(g)")
                if let first { #expect(first.map(\.bitPattern) == fast.map(\.bitPattern), "\(variant): 2 threads differ; \(g)") }
                first = fast
            }
        }
    }

    @Test(arguments: 0..<20)
    func dense(_ i: Int) {
        var r = SplitMix64(seed: 0xD0 &+ UInt64(i))
        let k = r.int(1...3000), n = r.int(1...300)
        let x = r.floats(k), w = r.floats(n * k, -0.1...0.1), b = r.floats(n)
        let alpha: Float = [1, 0.1, 0][i % 3]
        let (lo, hi): (Float, Float) = i % 4 == 0 ? (-0.5, 0.25) : (-.infinity, .infinity)
        var ref = [Double](repeating: 0, count: n)
        DenseFloat.reference(inputCount: k, outputCount: n, weights: w, bias: b, alpha: alpha, clipMin: lo, clipMax: hi, input: x, output: &ref)
        for variant in supportedVariants {
            // portable: one sgemv; avx2 / vnni: the f32 tiles, cut along the outputs at 2 threads (same bits)
            let dense = DenseFloat(inputCount: k, outputCount: n, weights: w, bias: b, alpha: alpha, clipMin: lo, clipMax: hi, variant: variant)
            #expect((dense.tiles != nil) == (variant != .portable))
            var first: [Float]? = nil
            for (threads, pool) in threadPools() {
                var fast = [Float](repeating: .nan, count: n)
                dense.run(input: x, output: &fast, scratch: nil, pool: pool)
                if let j = notClose(fast, ref) { Issue.record("\(variant) x\(threads) dense at \(j): \(fast[j]) vs \(ref[j]); seed \(i) k \(k) n \(n)") }
                if let first, variant != .portable { #expect(first.map(\.bitPattern) == fast.map(\.bitPattern), "\(variant): 2 threads differ") }
                first = fast
            }
        }
    }

    /// The twins against values computed by hand.
    @Test func referencesByHand() {
        let g = Conv2DGeometry(inputHeight: 1, inputWidth: 2, inputChannels: 2, outputHeight: 1, outputWidth: 1, outputChannels: 2,
                               kernelHeight: 1, kernelWidth: 2, strideHeight: 1, strideWidth: 1, padTop: 0, padLeft: 0, groups: 2)
        // group 0 reads channel 0 of both pixels: 1 * 2 + 3 * -1 = -1, + b 0.5 = -0.5, leaky 0.1 -> -0.05.
        // group 1 reads channel 1: 2 * 1 + 4 * 1 = 6, + b 0 = 6, clip at 5.
        var y = [Double](repeating: 0, count: 2)
        Conv2DFloat.reference(geometry: g, input: [1, 2, 3, 4], weights: [2, -1, 1, 1], bias: [0.5, 0], alpha: 0.1, clipMax: 5, output: &y)
        #expect(abs(y[0] - -0.05) < 1e-7); #expect(y[1] == 5)
        var d = [Double](repeating: 0, count: 1)
        DenseFloat.reference(inputCount: 3, outputCount: 1, weights: [1, 2, 3], bias: [-1], input: [1, 1, 1], output: &d)
        #expect(d == [5])
    }
}
