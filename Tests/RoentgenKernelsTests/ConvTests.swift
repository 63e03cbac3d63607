import Testing
@testable import RoentgenKernels

struct ConvCase: CustomStringConvertible {
    var g: Conv2DGeometry
    var x: [Int8], w: [Int8], b: [Int32], rq: [Int32]
    var zx: Int32, zy: Int32
    var seed: UInt64
    var description: String {
        "seed \(seed): in \(g.inputHeight)x\(g.inputWidth)x\(g.inputChannels) -> out \(g.outputHeight)x\(g.outputWidth)x\(g.outputChannels), "
        + "k \(g.kernelHeight)x\(g.kernelWidth) s \(g.strideHeight)x\(g.strideWidth) pad t\(g.padTop) l\(g.padLeft), zx \(zx) zy \(zy)"
    }

    static func random(seed: UInt64, maxChannels: Int = 70, maxSize: Int = 11) -> ConvCase {
        var r = SplitMix64(seed: seed)
        let kh = r.int(1...5), kw = r.int(1...5), sh = r.int(1...3), sw = r.int(1...3)
        let pt = r.int(0...(kh - 1)), pb = r.int(0...(kh - 1)), pl = r.int(0...(kw - 1)), pr = r.int(0...(kw - 1))
        let h = r.int(max(1, kh - pt - pb)...maxSize), w = r.int(max(1, kw - pl - pr)...maxSize)
        let oh = (h + pt + pb - kh) / sh + 1, ow = (w + pl + pr - kw) / sw + 1
        let ic = r.int(1...maxChannels), oc = r.int(1...maxChannels)
        let g = Conv2DGeometry(inputHeight: h, inputWidth: w, inputChannels: ic, outputHeight: oh, outputWidth: ow,
                               outputChannels: oc, kernelHeight: kh, kernelWidth: kw, strideHeight: sh, strideWidth: sw,
                               padTop: pt, padLeft: pl)
        let k = g.reductionCount
        let bmax = Int(Int32.max) - k * 255 * 128
        let bias = (0..<oc).map { _ in Int32(r.int(-min(bmax, 5_000_000)...min(bmax, 5_000_000))) }
        var rq: [Int32] = []
        for _ in 0..<oc { rq += r.requantRow() }
        return ConvCase(g: g, x: r.int8s(g.inputCount), w: r.int8s(g.weightCount), b: bias, rq: rq,
                        zx: Int32(r.int(-128...127)), zy: Int32(r.int(-128...127)), seed: seed)
    }

    /// Every kernel variant this CPU supports, at 1 thread and on a 2-thread pool, must equal the
    /// scalar reference bit for bit.
    func check() {
        var ref = [Int8](repeating: 1, count: g.outputCount)
        Conv2DInt8.reference(geometry: g, input: x, weights: w, bias: b, requant: rq,
                             inputZeroPoint: zx, outputZeroPoint: zy, output: &ref)
        let pool = WorkerPool(threads: 2)
        for variant in KernelVariant.allCases where variant.isSupported {
            var fast = [Int8](repeating: 0, count: g.outputCount)
            let conv = Conv2DInt8(geometry: g, weights: w, bias: b, requant: rq, inputZeroPoint: zx, outputZeroPoint: zy,
                                  variant: variant)
            conv.run(input: x, output: &fast)
            if let i = firstMismatch(fast, ref) {
                Issue.record("\(variant) conv mismatch at \(i) (pixel \(i / g.outputChannels), oc \(i % g.outputChannels)): fast \(fast[i]) ref \(ref[i]); \(self)")
            }
            // Running again (scratch is refilled) and split over two threads: the same bytes.
            var again = [Int8](repeating: 0, count: g.outputCount)
            conv.run(input: x, output: &again, pool: pool)
            #expect(again == fast, "\(variant): second run on 2 threads differs; \(self)")
        }
    }
}

@Suite struct Conv2DInt8Tests {
    @Test(arguments: 0..<80)
    func randomGeometry(_ i: Int) {
        ConvCase.random(seed: 0xC0_47 &+ UInt64(i) &* 7919).check()
    }

    /// Requant rows that keep results inside int8 (the realistic case), so clamping does not hide errors.
    @Test(arguments: 0..<20)
    func realisticRequant(_ i: Int) {
        var c = ConvCase.random(seed: 0xBEEF &+ UInt64(i), maxChannels: 40)
        var r = SplitMix64(seed: UInt64(i))
        let k = c.g.reductionCount
        for o in 0..<c.g.outputChannels {
            // M ~ 1 / (sqrt(k) * 128 * 40): m / 2^shift with shift chosen so |m| < 2^31.
            let mReal = 1.0 / (Double(k).squareRoot() * 5000.0) * Double.random(in: 0.5...2, using: &r)
            var shift = 62
            while (mReal * Double(UInt64(1) << UInt64(shift))).rounded() >= 2147483648.0 { shift -= 1 }
            let m = Int32((mReal * Double(UInt64(1) << UInt64(shift))).rounded())
            let alpha = [0.0, 0.1, -0.5, 1.0][o % 4]
            let mn = Int32((Double(m) * alpha).rounded())
            c.rq.replaceSubrange((o * 4)..<(o * 4 + 4), with: [m, Int32(shift), mn, Int32(shift)])
        }
        c.check()
    }

    /// Long reductions cross the 512-product Float chunks; extreme values reach the worst case |p| = 255 * 128.
    @Test(arguments: [(3, 300, 5), (1, 700, 17), (5, 64, 33), (3, 129, 16), (2, 600, 3)])
    func longReductionExtremes(_ k: Int, _ ic: Int, _ oc: Int) {
        for variant in 0..<3 {
            let g = Conv2DGeometry(inputHeight: 4, inputWidth: 5, inputChannels: ic, outputHeight: 4, outputWidth: 5,
                                   outputChannels: oc, kernelHeight: k, kernelWidth: k, strideHeight: 1, strideWidth: 1,
                                   padTop: k / 2, padLeft: k / 2)
            var r = SplitMix64(seed: UInt64(k * 1000 + ic + variant))
            let x: [Int8] = variant == 2 ? r.int8s(g.inputCount) : [Int8](repeating: -128, count: g.inputCount)
            let w: [Int8] = variant == 0 ? [Int8](repeating: -128, count: g.weightCount)
                : (0..<g.weightCount).map { _ in Bool.random(using: &r) ? -128 : 127 }
            let zx: Int32 = variant == 2 ? 3 : 127
            let b = (0..<oc).map { _ in Int32(r.int(-1000...1000)) }
            var rq: [Int32] = []
            for o in 0..<oc { rq += [Int32(1 << 20) + Int32(o), 40, -Int32(1 << 19), 39] }
            ConvCase(g: g, x: x, w: w, b: b, rq: rq, zx: zx, zy: -3, seed: UInt64(variant)).check()
        }
    }

    /// The Table-2 layer shapes at reduced spatial size (full channel counts).
    @Test(arguments: [(1, 32), (32, 16), (16, 64), (64, 32), (32, 128), (128, 128), (128, 64), (64, 256), (256, 256), (256, 128)])
    func table2Shapes(_ ic: Int, _ oc: Int) {
        let g = Conv2DGeometry(inputHeight: 6, inputWidth: 7, inputChannels: ic, outputHeight: 6, outputWidth: 7,
                               outputChannels: oc, kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 1,
                               padTop: 1, padLeft: 1)
        var r = SplitMix64(seed: UInt64(ic * 7 + oc))
        var rq: [Int32] = []
        for _ in 0..<oc { rq += [Int32(r.int(1 << 29 ... 1 << 30)), 38, Int32(r.int(1 << 25 ... 1 << 27)), 38] }
        ConvCase(g: g, x: r.int8s(g.inputCount), w: r.int8s(g.weightCount),
                 b: (0..<oc).map { _ in Int32(r.int(-20000...20000)) }, rq: rq, zx: -17, zy: 5, seed: 0).check()
    }
}
