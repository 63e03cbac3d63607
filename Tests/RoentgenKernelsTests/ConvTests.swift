import Testing
@testable import RoentgenKernels

/// Output size of one axis per SPEC "Window geometry" (ceil_mode 0).
func outputSize(_ size: Int, _ padA: Int, _ padB: Int, _ kernel: Int, _ stride: Int, _ dilation: Int) -> Int {
    (size + padA + padB - (dilation * (kernel - 1) + 1)) / stride + 1
}

struct ConvCase: CustomStringConvertible {
    var g: Conv2DGeometry
    var x: [Int8], w: [Int8], b: [Int32], rq: [Int32]
    var zx: Int32, zy: Int32
    var lo: Int32 = -128, hi: Int32 = 127
    var seed: UInt64
    /// Bytes one row band's input copy may take (SPEC "Row bands"); small values force many bands.
    var bandBudget = RowBands.defaultBudget
    var description: String { "seed \(seed): \(g), zx \(zx) zy \(zy) clamp [\(lo), \(hi)] band budget \(bandBudget)" }

    enum Kind { case dense, grouped, depthwise, any }

    /// A random geometry of the given kind: dilation 1-3, pads up to beyond the kernel, strides 1-3.
    static func geometry(_ r: inout SplitMix64, kind: Kind, maxChannels: Int = 40, maxSize: Int = 11) -> Conv2DGeometry {
        let k = kind == .any ? [Kind.dense, .grouped, .depthwise][r.int(0...2)] : kind
        let dh = r.int(0...2) == 0 ? r.int(2...3) : 1, dw = r.int(0...2) == 0 ? r.int(2...3) : 1
        let kh = r.int(1...(dh > 1 ? 3 : 5)), kw = r.int(1...(dw > 1 ? 3 : 5))
        let sh = r.int(1...3), sw = r.int(1...3)
        let bigPad = r.int(0...5) == 0
        let pt = r.int(0...(bigPad ? kh + 3 : kh - 1)), pb = r.int(0...(bigPad ? kh + 3 : kh - 1))
        let pl = r.int(0...(bigPad ? kw + 3 : kw - 1)), pr = r.int(0...(bigPad ? kw + 3 : kw - 1))
        let ekh = dh * (kh - 1) + 1, ekw = dw * (kw - 1) + 1
        let h = r.int(max(1, ekh - pt - pb)...maxSize), w = r.int(max(1, ekw - pl - pr)...maxSize)
        let groups: Int, ic: Int, oc: Int
        switch k {
        case .dense: groups = 1; ic = r.int(1...maxChannels); oc = r.int(1...maxChannels)
        case .grouped: groups = r.int(2...5); ic = groups * r.int(1...9); oc = groups * r.int(1...9)
        default: ic = r.int(2...maxChannels); groups = ic; oc = ic * (r.int(0...3) == 0 ? r.int(2...3) : 1)
        }
        return Conv2DGeometry(inputHeight: h, inputWidth: w, inputChannels: ic,
                              outputHeight: outputSize(h, pt, pb, kh, sh, dh), outputWidth: outputSize(w, pl, pr, kw, sw, dw),
                              outputChannels: oc, kernelHeight: kh, kernelWidth: kw, strideHeight: sh, strideWidth: sw,
                              padTop: pt, padLeft: pl, padBottom: pb, padRight: pr, dilationHeight: dh, dilationWidth: dw, groups: groups)
    }

    static func random(seed: UInt64, kind: Kind = .any, maxChannels: Int = 40, maxSize: Int = 11) -> ConvCase {
        var r = SplitMix64(seed: seed)
        let g = geometry(&r, kind: kind, maxChannels: maxChannels, maxSize: maxSize)
        let k = g.reductionCount
        let bmax = Int(Int32.max) - k * 255 * 127
        let bias = (0..<g.outputChannels).map { _ in Int32(r.int(-min(bmax, 5_000_000)...min(bmax, 5_000_000))) }
        var rq: [Int32] = []
        for _ in 0..<g.outputChannels { rq += r.requantRow() }
        let (lo, hi) = r.clampRange()
        return ConvCase(g: g, x: r.int8s(g.inputCount), w: r.weights(g.weightCount), b: bias, rq: rq,
                        zx: r.zeroPoint(), zy: r.zeroPoint(), lo: lo, hi: hi, seed: seed)
    }

    /// Requant rows as the converter writes them (results land inside int8, so clamping hides nothing).
    mutating func realistic(_ r: inout SplitMix64) {
        let k = g.reductionCount
        for o in 0..<g.outputChannels {
            // Outputs spread over most of int8 (acc has a standard deviation near sqrt(k) * 5400).
            let (m, shift) = r.realisticPair(1.0 / (Double(k).squareRoot() * 150.0) * Double.random(in: 0.5...2, using: &r))
            let alpha = [0.0, 0.1, -0.5, 1.0][o % 4]
            rq.replaceSubrange((o * 4)..<(o * 4 + 4), with: [m, shift, Int32((Double(m) * alpha).rounded()), shift])
        }
    }

    /// No leaky ReLU: every channel's negative (m, shift) equals its positive one, which the
    /// kernels run without the sign select (fastRequant 2).
    mutating func symmetric() {
        for o in 0..<g.outputChannels { rq[o * 4 + 2] = rq[o * 4]; rq[o * 4 + 3] = rq[o * 4 + 1] }
    }

    /// Every kernel variant this CPU supports, at 1 and 2 threads (planned for that many), run
    /// twice on garbage scratch, must equal the scalar twin bit for bit.
    func check() {
        var ref = [Int8](repeating: 1, count: g.outputCount)
        Conv2DInt8.reference(geometry: g, input: x, weights: w, bias: b, requant: rq, inputZeroPoint: zx, outputZeroPoint: zy,
                             outputMin: lo, outputMax: hi, output: &ref)
        for variant in supportedVariants {
            for (threads, pool) in threadPools() {
                let conv = Conv2DInt8(geometry: g, weights: w, bias: b, requant: rq, inputZeroPoint: zx, outputZeroPoint: zy,
                                      outputMin: lo, outputMax: hi, variant: variant, bandBudget: bandBudget, threads: threads)
                let scratch = Scratch(conv.scratchBytes, seed: seed)
                for _ in 0..<2 {
                    scratch.scramble()
                    var fast = [Int8](repeating: 0, count: g.outputCount)
                    conv.run(input: x, output: &fast, scratch: scratch.pointer, pool: pool)
                    if let i = firstMismatch(fast, ref) {
                        Issue.record("\(variant) x\(threads) conv mismatch at \(i) (pixel \(i / g.outputChannels), oc \(i % g.outputChannels)): fast \(fast[i]) ref \(ref[i]); \(self)")
                        return
                    }
                    #expect(scratch.guardIntact, "\(variant): wrote past scratchBytes \(conv.scratchBytes); \(self)")
                }
            }
        }
    }
}

@Suite struct Conv2DInt8Tests {
    @Test(arguments: 0..<60)
    func randomDense(_ i: Int) { ConvCase.random(seed: 0xC0_47 &+ UInt64(i) &* 7919, kind: .dense).check() }

    /// Odd seeds use converter-like requant rows (every shift >= 33: the 32-bit epilogue).
    @Test(arguments: 0..<40)
    func randomGrouped(_ i: Int) {
        var c = ConvCase.random(seed: 0x6209 &+ UInt64(i) &* 7919, kind: .grouped)
        var r = SplitMix64(seed: UInt64(i))
        if i % 2 == 1 { c.realistic(&r) }
        c.check()
    }

    @Test(arguments: 0..<60)
    func randomDepthwise(_ i: Int) {
        var c = ConvCase.random(seed: 0xDE97 &+ UInt64(i) &* 7919, kind: .depthwise, maxChannels: 70)
        var r = SplitMix64(seed: UInt64(i))
        if i % 2 == 1 { c.realistic(&r) }
        c.check()
    }

    /// Depthwise bands (each its own bordered copy): budgets from one output row per band up,
    /// taller inputs, channel multipliers, strides, dilations and pads beyond the kernel.
    @Test(arguments: 0..<30)
    func depthwiseBands(_ i: Int) {
        var c = ConvCase.random(seed: 0xD3BA &+ UInt64(i) &* 7919, kind: .depthwise, maxChannels: 70, maxSize: 23)
        var r = SplitMix64(seed: UInt64(i))
        c.bandBudget = i % 3 == 0 ? 1 : r.int(1...20_000)
        if i % 2 == 1 { c.realistic(&r) }
        c.check()
    }

    /// Row bands: budgets from one output row per band up, on taller inputs, dense and grouped.
    @Test(arguments: 0..<40)
    func rowBands(_ i: Int) {
        var c = ConvCase.random(seed: 0xBA4D &+ UInt64(i) &* 7919, kind: i % 3 == 0 ? .grouped : .dense, maxChannels: 24, maxSize: 23)
        var r = SplitMix64(seed: UInt64(i))
        c.bandBudget = i % 4 == 0 ? 1 : r.int(1...4096)
        if i % 2 == 1 { c.realistic(&r) }
        c.check()
    }

    /// Requant rows that keep results inside int8 (the realistic case, the 32-bit epilogue).
    @Test(arguments: 0..<30)
    func realisticRequant(_ i: Int) {
        var c = ConvCase.random(seed: 0xBEEF &+ UInt64(i))
        var r = SplitMix64(seed: UInt64(i))
        c.realistic(&r)
        c.check()
    }

    /// 1x1 maps, 1x1 kernels, one channel, a kernel as large as the padded input, huge pads.
    @Test(arguments: 0..<6)
    func edges(_ i: Int) {
        var r = SplitMix64(seed: 0xED6E &+ UInt64(i))
        let geometries = [
            Conv2DGeometry(inputHeight: 1, inputWidth: 1, inputChannels: 1, outputHeight: 1, outputWidth: 1, outputChannels: 1,
                           kernelHeight: 1, kernelWidth: 1, strideHeight: 1, strideWidth: 1, padTop: 0, padLeft: 0),
            Conv2DGeometry(inputHeight: 1, inputWidth: 1, inputChannels: 17, outputHeight: 3, outputWidth: 3, outputChannels: 17,
                           kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 1, padTop: 2, padLeft: 2, padBottom: 2, padRight: 2,
                           groups: 17),
            Conv2DGeometry(inputHeight: 2, inputWidth: 3, inputChannels: 5, outputHeight: 6, outputWidth: 4, outputChannels: 19,
                           kernelHeight: 2, kernelWidth: 2, strideHeight: 2, strideWidth: 3, padTop: 7, padLeft: 6, padBottom: 3, padRight: 2),
            Conv2DGeometry(inputHeight: 5, inputWidth: 5, inputChannels: 8, outputHeight: 1, outputWidth: 1, outputChannels: 33,
                           kernelHeight: 5, kernelWidth: 5, strideHeight: 1, strideWidth: 1, padTop: 0, padLeft: 0),
            Conv2DGeometry(inputHeight: 9, inputWidth: 8, inputChannels: 12, outputHeight: 3, outputWidth: 2, outputChannels: 12,
                           kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 1, padTop: 0, padLeft: 0,
                           dilationHeight: 3, dilationWidth: 3, groups: 4),
            Conv2DGeometry(inputHeight: 3, inputWidth: 2, inputChannels: 3, outputHeight: 1029, outputWidth: 1, outputChannels: 4,
                           kernelHeight: 1, kernelWidth: 2, strideHeight: 1, strideWidth: 3, padTop: 1024, padLeft: 0, padBottom: 2, padRight: 0),
        ]
        let g = geometries[i]
        var rq: [Int32] = []
        for _ in 0..<g.outputChannels { rq += r.requantRow() }
        ConvCase(g: g, x: r.int8s(g.inputCount), w: r.weights(g.weightCount),
                 b: (0..<g.outputChannels).map { _ in Int32(r.int(-100_000...100_000)) }, rq: rq,
                 zx: r.zeroPoint(), zy: r.zeroPoint(), seed: UInt64(i)).check()
    }

    /// Long reductions cross the Float chunks; extreme values reach the worst case |p| = 255 * 127.
    @Test(arguments: [(3, 300, 5, 1), (1, 700, 17, 1), (5, 64, 33, 1), (3, 129, 16, 1), (2, 600, 3, 1), (3, 256, 64, 4), (3, 96, 96, 96)])
    func longReductionExtremes(_ k: Int, _ ic: Int, _ oc: Int, _ groups: Int) {
        for variant in 0..<3 {
            let g = Conv2DGeometry(inputHeight: 4, inputWidth: 5, inputChannels: ic, outputHeight: 4, outputWidth: 5,
                                   outputChannels: oc, kernelHeight: k, kernelWidth: k, strideHeight: 1, strideWidth: 1,
                                   padTop: k / 2, padLeft: k / 2, padBottom: k / 2, padRight: k / 2, groups: groups)
            var r = SplitMix64(seed: UInt64(k * 1000 + ic + variant))
            let x: [Int8] = variant == 2 ? r.int8s(g.inputCount) : [Int8](repeating: -128, count: g.inputCount)
            let w: [Int8] = variant == 0 ? [Int8](repeating: -127, count: g.weightCount)
                : (0..<g.weightCount).map { _ in Bool.random(using: &r) ? -127 : 127 }
            let zx: Int32 = variant == 2 ? 3 : 127
            let b = (0..<oc).map { _ in Int32(r.int(-1000...1000)) }
            var rq: [Int32] = []
            for o in 0..<oc { rq += [Int32(1 << 20) + Int32(o), 40, -Int32(1 << 19), 39] }
            ConvCase(g: g, x: x, w: w, b: b, rq: rq, zx: zx, zy: -3, seed: UInt64(variant)).check()
        }
    }

    /// avx2 runs 3x3 stride-1 convs by integer Winograd F(2x2, 3x3): odd and even sizes (edge tiles),
    /// pads 0-3 on each side, channel counts off the 16-lane step, images large enough for several
    /// blocks and slots, extreme inputs and weights; it must be the implementation that runs.
    @Test(arguments: 0..<40)
    func winograd(_ i: Int) {
        var r = SplitMix64(seed: 0x3A_57 &+ UInt64(i) &* 104_729)
        let pt = r.int(0...3), pb = r.int(0...3), pl = r.int(0...3), pr = r.int(0...3)
        let big = i % 4 == 0
        let h = r.int(max(1, 3 - pt - pb)...(big ? 40 : 13)), w = r.int(max(1, 3 - pl - pr)...(big ? 40 : 13))
        let ic = [4, 5, 15, 16, 17, 33, 64, 70][i % 8], oc = r.int(1...(big ? 40 : 70))
        let g = Conv2DGeometry(inputHeight: h, inputWidth: w, inputChannels: ic,
                               outputHeight: outputSize(h, pt, pb, 3, 1, 1), outputWidth: outputSize(w, pl, pr, 3, 1, 1),
                               outputChannels: oc, kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 1,
                               padTop: pt, padLeft: pl, padBottom: pb, padRight: pr)
        var c = ConvCase.random(seed: UInt64(i), kind: .dense)
        c.g = g
        c.x = i % 5 == 1 ? [Int8](repeating: -128, count: g.inputCount) : r.int8s(g.inputCount)
        c.w = i % 5 == 1 ? (0..<g.weightCount).map { _ in r.int(0...1) == 0 ? -128 : 127 } : r.weights(g.weightCount)
        if i % 5 == 1 { c.zx = 127 }
        c.b = (0..<oc).map { _ in Int32(r.int(-20000...20000)) }
        c.rq = []
        for _ in 0..<oc { c.rq += r.requantRow() }
        if i % 3 == 0 { c.realistic(&r) }
        if i % 4 == 2 { c.symmetric() }
        #expect(WinogradInt8.applies(g))
        for variant in supportedVariants where variant.multipliesPairs {
            let conv = Conv2DInt8(geometry: g, weights: c.w, bias: c.b, requant: c.rq, inputZeroPoint: c.zx, outputZeroPoint: c.zy,
                                  variant: variant)
            guard case .winograd = conv.implementation else { Issue.record("\(variant) did not pick Winograd for \(g)"); return }
        }
        c.check()
    }

    /// The largest input channel count whose 4x accumulator still fits in int32, at the extremes.
    @Test func winogradLargestReduction() {
        let ic = (Int(Int32.max) / (4 * 9 * 255 * 128))
        let g = Conv2DGeometry(inputHeight: 3, inputWidth: 4, inputChannels: ic, outputHeight: 3, outputWidth: 4,
                               outputChannels: 9, kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 1,
                               padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)
        #expect(WinogradInt8.applies(g))
        #expect(!WinogradInt8.applies(Conv2DGeometry(inputHeight: 3, inputWidth: 4, inputChannels: ic + 1, outputHeight: 3, outputWidth: 4,
                                                     outputChannels: 9, kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 1,
                                                     padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)))
        var rq: [Int32] = []
        for o in 0..<9 { rq += [Int32(1 << 20) + Int32(o), 52, -Int32(1 << 19), 51] }
        for sign in [Int8(-128), 127] {
            ConvCase(g: g, x: [Int8](repeating: -128, count: g.inputCount), w: [Int8](repeating: sign, count: g.weightCount),
                     b: [Int32](repeating: 0, count: 9), rq: rq, zx: 127, zy: 0, seed: 1).check()
        }
    }

    /// Layer shapes of the torchvision models at reduced spatial size (full channel counts).
    @Test(arguments: [(3, 32, 3, 2, 1), (32, 32, 3, 1, 32), (256, 256, 3, 2, 32), (56, 56, 3, 1, 7), (48, 24, 1, 1, 6), (96, 96, 3, 2, 96), (144, 24, 1, 1, 1), (128, 128, 3, 1, 32),
                      (64, 64, 3, 1, 8), (256, 256, 3, 2, 32), (480, 480, 5, 1, 480), (64, 256, 1, 1, 1), (672, 672, 5, 2, 672),
                      (192, 1152, 1, 1, 1), (1152, 200, 1, 1, 1)])
    func modelShapes(_ ic: Int, _ oc: Int, _ k: Int, _ stride: Int, _ groups: Int) {
        let h = 9, pad = k / 2
        let g = Conv2DGeometry(inputHeight: h, inputWidth: h, inputChannels: ic,
                               outputHeight: outputSize(h, pad, pad, k, stride, 1), outputWidth: outputSize(h, pad, pad, k, stride, 1),
                               outputChannels: oc, kernelHeight: k, kernelWidth: k, strideHeight: stride, strideWidth: stride,
                               padTop: pad, padLeft: pad, padBottom: pad, padRight: pad, groups: groups)
        var r = SplitMix64(seed: UInt64(ic * 7 + oc + groups))
        var c = ConvCase(g: g, x: r.int8s(g.inputCount), w: r.weights(g.weightCount),
                         b: (0..<oc).map { _ in Int32(r.int(-20000...20000)) }, rq: [], zx: -17, zy: 5, lo: -128, hi: 127, seed: 0)
        c.rq = [Int32](repeating: 0, count: 4 * oc)
        c.realistic(&r)
        c.check()
        c.lo = -5; c.hi = 90     // a ReLU6-like clamp
        c.check()
        c.symmetric()            // ... without a leaky slope, as MobileNets have
        c.check()
    }

    /// The epilogue is chosen per vector (tiles) or per run of 32 channels and its even and odd
    /// halves (depthwise): channels 0, 2, 4, 6 with M >= 1/4 (shift < 33, the 64-bit form; the
    /// depthwise kernel scales them onto the 32-bit one) and one near-dead channel (t > 22) leave
    /// the others on the 32-bit form with z_y in the rounding term, and every kernel equals the twin.
    @Test(arguments: [1, 72])
    func epiloguePerVector(_ groups: Int) {
        var r = SplitMix64(seed: UInt64(groups))
        let g = Conv2DGeometry(inputHeight: 11, inputWidth: 11, inputChannels: 72, outputHeight: 11, outputWidth: 11, outputChannels: 72,
                               kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 1,
                               padTop: 1, padLeft: 1, padBottom: 1, padRight: 1, groups: groups)
        var rq = [Int32]()
        for o in 0..<72 {
            let (m, shift) = r.realisticPair(o < 8 && o % 2 == 0 ? 0.4 : o == 37 ? 3e-8 : 0.002 * Double(1 + o % 3))
            rq += [m, shift, m, shift]
        }
        #expect(rq[1] < 33 && rq[5] >= 33 && rq[37 * 4 + 1] - 32 > 22)
        var c = ConvCase(g: g, x: r.int8s(g.inputCount), w: r.weights(g.weightCount),
                         b: (0..<72).map { _ in Int32(r.int(-2000...2000)) }, rq: rq, zx: -7, zy: 11, lo: -128, hi: 127, seed: 3)
        c.check()
        c.lo = -90; c.hi = 100
        c.check()
        for variant in supportedVariants where variant != .portable {
            let conv = Conv2DInt8(geometry: g, weights: c.w, bias: c.b, requant: rq, inputZeroPoint: -7, outputZeroPoint: 11, variant: variant)
            guard let kinds = conv.requantKinds else { continue }
            if groups == 1 {
                #expect(kinds.contains(0) && kinds.contains(2) && kinds.contains(3), "\(variant) groups \(groups): kinds \(kinds)")
            } else {
                #expect(!kinds.contains(0) && kinds.contains(2) && Array(kinds.prefix(2)) == [3, 3], "\(variant): depthwise kinds \(kinds)")
            }
        }
    }

    /// Depthwise channels with |M| >= 1/4 (shift < 33): weights and bias scaled by 2^(33 - shift) at
    /// load (`DepthwiseConv2DInt8.scaleShifts`) where they stay s16 and the accumulator int32, so
    /// those channels take the 32-bit epilogue; with leaky slopes whose shifts differ, negative m,
    /// 3x3 and 5x5 windows, inside and border pixels, equal to the twin. M = 5000 cannot be scaled
    /// (127 * 2^15 is not s16) and keeps the 64-bit form.
    @Test(arguments: [(0.3, false), (1.7, true), (-0.6, false), (40.0, false), (5000.0, true)])
    func depthwiseStrongChannels(_ strong: Double, _ leaky: Bool) {
        var r = SplitMix64(seed: UInt64(abs(strong) * 10))
        for k in [3, 5] {
            let g = Conv2DGeometry(inputHeight: 10, inputWidth: 9, inputChannels: 48, outputHeight: 10, outputWidth: 9, outputChannels: 48,
                                   kernelHeight: k, kernelWidth: k, strideHeight: 1, strideWidth: 1,
                                   padTop: k / 2, padLeft: k / 2, padBottom: k / 2, padRight: k / 2, groups: 48)
            var rq = [Int32]()
            for o in 0..<48 {
                let real = o % 3 == 0 ? strong : 0.002 * Double(1 + o % 5)
                let (m, shift) = r.realisticPair(real), (mNeg, shiftNeg) = r.realisticPair(leaky ? real * 0.1 : real)
                rq += [m, shift, mNeg, shiftNeg]
            }
            var c = ConvCase(g: g, x: r.int8s(g.inputCount), w: r.weights(g.weightCount),
                             b: (0..<48).map { _ in Int32(r.int(-3000...3000)) }, rq: rq, zx: -9, zy: 4, lo: -128, hi: 127, seed: 0)
            c.check()
            c.lo = -20; c.hi = 100
            c.check()
            for variant in supportedVariants {
                let conv = Conv2DInt8(geometry: g, weights: c.w, bias: c.b, requant: rq, inputZeroPoint: -9, outputZeroPoint: 4, variant: variant)
                guard let kinds = conv.requantKinds else { continue }
                #expect(kinds.contains(0) == (abs(strong) > 1000), "\(variant) \(k)x\(k) M \(strong): kinds \(kinds)")
            }
        }
    }

    /// z_y in the rounding term (epilogue kind 3): taken for symmetric layers whose every t = shift - 32
    /// is <= 22, not for t = 23 or a leaky slope; the tiles and the depthwise kernel equal the twin
    /// either way, at the z_y extremes. 48 channels: a whole 32-channel depthwise block (its stores
    /// fixed once per call, `storeFolded4`) and a 16-channel one.
    @Test(arguments: [(-128, 0.003, false), (127, 0.003, false), (-128, 3e-8, false), (127, 3e-8, false), (5, 0.003, true)])
    func zeroPointInRoundingTerm(_ zy: Int32, _ real: Double, _ leaky: Bool) {
        var r = SplitMix64(seed: UInt64(bitPattern: Int64(zy)) &+ UInt64(real * 1e9))
        for groups in [1, 48] {
            let g = Conv2DGeometry(inputHeight: 9, inputWidth: 9, inputChannels: 48, outputHeight: 9, outputWidth: 9, outputChannels: 48,
                                   kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 1,
                                   padTop: 1, padLeft: 1, padBottom: 1, padRight: 1, groups: groups)
            var rq = [Int32]()
            for o in 0..<48 {
                let (m, shift) = r.realisticPair(real * Double(1 + o % 3))
                rq += [m, shift, leaky ? m / 10 : m, shift]
            }
            let t = rq.enumerated().filter { $0.offset % 4 == 1 }.map { $0.element - 32 }
            let want: UInt8 = leaky ? 1 : t.allSatisfy { $0 <= 22 } ? 3 : 2
            var c = ConvCase(g: g, x: r.int8s(g.inputCount), w: r.weights(g.weightCount),
                             b: (0..<48).map { _ in Int32(r.int(-20000...20000)) }, rq: rq, zx: 3, zy: zy, lo: -128, hi: 127, seed: 0)
            c.check()
            c.lo = -100; c.hi = 90
            c.check()
            for variant in supportedVariants where variant != .portable {
                let conv = Conv2DInt8(geometry: g, weights: c.w, bias: c.b, requant: rq, inputZeroPoint: 3, outputZeroPoint: zy, variant: variant)
                guard let kinds = conv.requantKinds else { continue }
                #expect(kinds.allSatisfy { $0 == want }, "\(variant) groups \(groups): kinds \(kinds), t \(t.min()!)...\(t.max()!)")
            }
        }
    }

    /// 1x1 stride-1 convs on maps large enough that the chunks are pixel ranges: each chunk converts
    /// the input pixels it reads (`prepareInChunks`), in one band or several, and the result is
    /// the scalar twin's at 1 and 2 threads. IC = 6 (not whole vnni quads) takes the band copy.
    @Test(arguments: [(56, 56, 24, 144, RowBands.defaultBudget), (28, 28, 32, 16, 4096), (20, 20, 8, 48, 1), (17, 19, 6, 16, 2048)])
    func pointwiseInChunks(_ h: Int, _ w: Int, _ ic: Int, _ oc: Int, _ budget: Int) {
        let g = Conv2DGeometry(inputHeight: h, inputWidth: w, inputChannels: ic, outputHeight: h, outputWidth: w, outputChannels: oc,
                               kernelHeight: 1, kernelWidth: 1, strideHeight: 1, strideWidth: 1, padTop: 0, padLeft: 0)
        var r = SplitMix64(seed: UInt64(h * w + ic))
        var c = ConvCase(g: g, x: r.int8s(g.inputCount), w: r.weights(g.weightCount),
                         b: (0..<oc).map { _ in Int32(r.int(-20000...20000)) }, rq: [], zx: 9, zy: -3, lo: -128, hi: 127, seed: 0)
        c.rq = [Int32](repeating: 0, count: 4 * oc)
        c.realistic(&r)
        c.bandBudget = budget
        c.check()
        for variant in supportedVariants where variant != .portable {
            let conv = Conv2DInt8(geometry: g, weights: c.w, bias: c.b, requant: c.rq, inputZeroPoint: 9, outputZeroPoint: -3,
                                  variant: variant, bandBudget: budget)
            guard case let .packed(p) = conv.implementation else { Issue.record("\(variant): not the tiles"); continue }
            #expect(p.pointwise == (ic % p.layout.quadElements == 0), "\(variant) \(g)")
        }
    }

    /// The worker pool's chunks of a tiled conv cover every (pixel, channel vector) once; a small
    /// map with many channels (7x7 x 1152, a 1x1 map) is also cut along the channels, so two threads
    /// both get work, and a large map only along the pixels.
    @Test(arguments: [(1, 1, 320, 1280), (7, 7, 192, 1152), (7, 7, 1152, 192), (14, 14, 80, 480), (56, 56, 24, 144), (3, 3, 16, 40)])
    func chunksCoverTheOutput(_ h: Int, _ w: Int, _ ic: Int, _ oc: Int) {
        let g = Conv2DGeometry(inputHeight: h, inputWidth: w, inputChannels: ic, outputHeight: h, outputWidth: w, outputChannels: oc,
                               kernelHeight: 1, kernelWidth: 1, strideHeight: 1, strideWidth: 1, padTop: 0, padLeft: 0)
        for (lanes, eb, quad) in [(16, 1, 4), (8, 2, 2), (16, 4, 1)] {
            let L = TileLayout(g, lanes: lanes, elementBytes: eb, quadElements: quad, bandBudget: RowBands.defaultBudget)
            let pixels = 5..<(5 + h * w)
            for threads in [1, 2, 4] {
                let parts = L.chunkCount(threads: threads, pixels: pixels.count)
                var seen = [Int](repeating: 0, count: pixels.count * L.ocVectors)
                for part in 0..<parts {
                    let (pr, vr) = L.chunk(part, of: parts, pixels: pixels)
                    for p in pr { for v in vr { seen[(p - pixels.lowerBound) * L.ocVectors + v] += 1 } }
                }
                #expect(seen.allSatisfy { $0 == 1 }, "\(g) lanes \(lanes) threads \(threads): \(parts) chunks")
                if threads > 1 && (L.ocVectors + 3) / 4 >= threads { #expect(parts >= threads, "\(g) lanes \(lanes): \(parts) chunks for \(threads) threads") }
            }
        }
    }

    /// `forEachWeight` (the load-time packing of every tiled conv) visits each OHWI weight once, at
    /// the `packedOffset` of its (group, vector, row, segment, element, lane), for all three
    /// layouts - the vnni one included, which this test checks on any CPU.
    @Test func weightPackingVisitsEveryWeightAtItsOffset() {
        var r = SplitMix64(seed: 41)
        for i in 0..<300 {
            let g = ConvCase.geometry(&r, kind: [.dense, .grouped, .dense][i % 3])
            for (lanes, eb, quad) in [(16, 1, 4), (8, 2, 2), (8, 4, 1), (16, 4, 1)] {
                let gpv = eb == 4 ? 1 : TileLayout.sideBySide(g, lanes: lanes, elementBytes: eb, vectorBytes: lanes * 4)
                let L = TileLayout(g, lanes: lanes, elementBytes: eb, quadElements: quad, groupsPerVector: gpv)
                var want: [Int: Int] = [:]
                for o in 0..<g.outputChannels {
                    let (group, local) = o.quotientAndRemainder(dividingBy: L.argumentChannels)
                    let (v, lane) = local.quotientAndRemainder(dividingBy: lanes)
                    for row in 0..<g.kernelHeight { for seg in 0..<L.segments { for j in 0..<L.segmentLength {
                        want[L.weightIndex(g, o: o, r: row, seg: seg, j: j)] = L.packedOffset(group: group, v: v, r: row, seg: seg, j: j, lane: lane)
                    } } }
                }
                var got: [Int: Int] = [:], visits = 0
                L.forEachWeight(g) { source, at in got[source] = at; visits += 1 }
                #expect(visits == g.outputChannels * g.reductionCount && want.count == visits, "\(g) lanes \(lanes) quad \(quad)")
                #expect(got == want, "\(g) lanes \(lanes) quad \(quad)")
            }
        }
    }

    /// `WinogradPlan.packKernels` (the Winograd weight packing, int8 and f32) puts value `p` of each
    /// 3 x 3 kernel at [position p][vector][quad][lane][element] of SPEC "Winograd F(2x2, 3x3)"'s
    /// layout, and zero in every padding lane and channel.
    @Test func winogradPackingPutsEveryKernelAtItsOffset() {
        for (ic, oc) in [(4, 1), (5, 9), (17, 16), (32, 33), (64, 7)] {
            let g = Conv2DGeometry(inputHeight: 6, inputWidth: 6, inputChannels: ic, outputHeight: 6, outputWidth: 6, outputChannels: oc,
                                   kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 1, padTop: 1, padLeft: 1,
                                   padBottom: 1, padRight: 1)
            for (lanes, eb, icStep) in [(8, 2, 16), (8, 4, 8), (16, 4, 16)] {
                let P = WinogradPlan(g, lanes: lanes, elementBytes: eb, icStep: icStep, tileRows: (2, 5, 10))
                let quad = 4 / eb, bytes = 16 * P.positionBytes
                let value = { (o: Int, j: Int, p: Int) -> Int32 in Int32(1 + (o * ic + j) * 16 + p) }   // never 0
                var want = [Int32](repeating: 0, count: bytes / eb)
                for o in 0..<oc { for j in 0..<ic { for p in 0..<16 {
                    want[(p * P.positionBytes + (o / lanes) * P.vectorBytes + ((j / quad) * lanes + o % lanes) * 4 + (j % quad) * eb) / eb] = value(o, j, p)
                } } }
                let packed = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
                defer { packed.deallocate() }
                packed.initializeMemory(as: UInt8.self, repeating: 0xA5, count: bytes)   // packKernels must write every byte
                let got: [Int32]
                if eb == 2 {
                    P.packKernels(g, into: packed, as: Int16.self) { o, j, u in for p in 0..<16 { u[p] = Int16(value(o, j, p)) } }
                    got = (0..<bytes / 2).map { Int32(packed.load(fromByteOffset: 2 * $0, as: Int16.self)) }
                } else {
                    P.packKernels(g, into: packed, as: Float.self) { o, j, u in for p in 0..<16 { u[p] = Float(value(o, j, p)) } }
                    got = (0..<bytes / 4).map { Int32(packed.load(fromByteOffset: 4 * $0, as: Float.self)) }
                }
                #expect(got == want, "ic \(ic) oc \(oc) lanes \(lanes) element bytes \(eb)")
            }
        }
    }

    /// Small groups run side by side in one vector (convGrouped) - the shapes above exercise it.
    @Test func smallGroupsSideBySide() {
        for (ic, oc, groups, lanes, eb, want) in [(128, 128, 32, 16, 1, 4), (64, 64, 8, 16, 1, 2), (128, 128, 32, 8, 2, 2),
                                                  (64, 64, 8, 8, 2, 1), (256, 256, 32, 16, 1, 2), (6, 6, 2, 16, 1, 1)] {
            let g = Conv2DGeometry(inputHeight: 3, inputWidth: 3, inputChannels: ic, outputHeight: 3, outputWidth: 3, outputChannels: oc,
                                   kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 1, padTop: 1, padLeft: 1,
                                   padBottom: 1, padRight: 1, groups: groups)
            #expect(TileLayout.sideBySide(g, lanes: lanes, elementBytes: eb, vectorBytes: lanes * 4) == want, "\(ic) \(groups) lanes \(lanes)")
        }
    }

    /// The twin against hand-computed values of SPEC's formula.
    @Test func referenceByHand() {
        // 2x2 input, 1 channel, 2x2 kernel, pad 1 on every side, one output channel:
        // x - z_x = [[1, 2], [3, 4]] (z_x = -1), w = [[1, -1], [2, 3]], b = 10,
        // requant (m, shift) = (1, 1) for acc >= 0: y = z_y + (acc + 1) >> 1; (m_neg, shift_neg) = (-3, 2).
        let g = Conv2DGeometry(inputHeight: 2, inputWidth: 2, inputChannels: 1, outputHeight: 3, outputWidth: 3, outputChannels: 1,
                               kernelHeight: 2, kernelWidth: 2, strideHeight: 1, strideWidth: 1, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)
        let x: [Int8] = [0, 1, 2, 3], w: [Int8] = [1, -1, 2, 3], b: [Int32] = [10], rq: [Int32] = [1, 1, -3, 2]
        var y = [Int8](repeating: 0, count: 9)
        Conv2DInt8.reference(geometry: g, input: x, weights: w, bias: b, requant: rq, inputZeroPoint: -1, outputZeroPoint: 2, output: &y)
        // acc at (0,0): taps (-1,-1)..(0,0): only x[0][0]=1 under w[1][1]=3 -> 13 -> (13 + 1) >> 1 = 7, + 2 = 9.
        // (0,1): x00*w10 + x01*w11 = 1*2 + 2*3 = 8 -> 18 -> 9 -> 11. (1,1): 1*1 + 2*-1 + 3*2 + 4*3 = 17 -> 27 -> 14 -> 16.
        // (2,2): x11 * w00 = 4 -> 14 -> 7 -> 9. (2,1): x10*w00 + x11*w01 = 3 - 4 = -1 -> 9 -> 5 -> 7.
        #expect(y[0] == 9); #expect(y[1] == 11); #expect(y[4] == 16); #expect(y[8] == 9); #expect(y[7] == 7)
        // A negative accumulator takes the negative pair: b = -20 at (0,0): -17 -> (-17 * -3 + 2) >> 2 = 13, + 2 = 15.
        Conv2DInt8.reference(geometry: g, input: x, weights: w, bias: [-20], requant: rq, inputZeroPoint: -1, outputZeroPoint: 2, output: &y)
        #expect(y[0] == 15)
        // The clamp: [0, 8].
        Conv2DInt8.reference(geometry: g, input: x, weights: w, bias: b, requant: rq, inputZeroPoint: -1, outputZeroPoint: 2,
                             outputMin: 0, outputMax: 8, output: &y)
        #expect(y[0] == 8); #expect(y[4] == 8)
        // One input channel, two output channels (what a depthwise multiplier of 2 computes), dilation 2.
        let d = Conv2DGeometry(inputHeight: 1, inputWidth: 3, inputChannels: 1, outputHeight: 1, outputWidth: 1, outputChannels: 2,
                               kernelHeight: 1, kernelWidth: 2, strideHeight: 1, strideWidth: 1, padTop: 0, padLeft: 0,
                               dilationWidth: 2, groups: 1)
        var z = [Int8](repeating: 0, count: 2)
        Conv2DInt8.reference(geometry: d, input: [1, 100, 3], weights: [1, 1, 2, -1], bias: [0, 0], requant: [1, 1, 1, 1, 1, 1, 1, 1],
                             inputZeroPoint: 0, outputZeroPoint: 0, output: &z)
        // oc 0: 1 + 3 = 4 -> 2; oc 1: 2 - 3 = -1 -> (-1 + 1) >> 1 = 0.
        #expect(z == [2, 0])
    }
}

@Suite struct RowBandTests {
    /// Bands cover the output rows once, in order; each band's padded rows are what its rows read
    /// and fit the budget unless one row alone does not; the bands are as few as fit.
    @Test(arguments: 0..<200)
    func bandsCoverAndFit(_ i: Int) {
        var r = SplitMix64(seed: 0xBA2D &+ UInt64(i))
        let g = ConvCase.geometry(&r, kind: .any, maxSize: 60)
        let rowBytes = r.int(1...5000), budget = r.int(1...200_000)
        let bands = RowBands(g, paddedRowBytes: rowBytes, budget: budget)
        var next = 0
        for b in 0..<bands.count {
            let rows = bands.outputRows(b), padded = bands.paddedRows(b)
            #expect(!rows.isEmpty && rows.lowerBound == next, "band \(b) of \(g)")
            next = rows.upperBound
            #expect(padded.lowerBound == rows.lowerBound * g.strideHeight)
            #expect(padded.upperBound == (rows.upperBound - 1) * g.strideHeight + g.dilatedKernelHeight)
            #expect(padded.count <= bands.maxPaddedRows && padded.upperBound <= g.paddedHeight)
        }
        #expect(next == g.outputHeight)
        if bands.rowsPerBand > 1 { #expect(bands.maxPaddedRows * rowBytes <= budget, "\(g) rowBytes \(rowBytes) budget \(budget)") }
        if bands.count > 1 {   // one band fewer would not fit
            let fewer = (g.outputHeight + bands.count - 2) / (bands.count - 1)
            #expect(((fewer - 1) * g.strideHeight + g.dilatedKernelHeight) * rowBytes > budget)
        }
    }
}
