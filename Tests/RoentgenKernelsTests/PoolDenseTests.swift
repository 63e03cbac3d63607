import Testing
@testable import RoentgenKernels

func randomPool(_ r: inout SplitMix64) -> PoolGeometry {
    let kh = r.int(1...4), kw = r.int(1...4), sh = r.int(1...3), sw = r.int(1...3)
    let pt = r.int(0...(kh - 1)), pb = r.int(0...(kh - 1)), pl = r.int(0...(kw - 1)), pr = r.int(0...(kw - 1))
    let h = r.int(max(1, kh - pt - pb)...12), w = r.int(max(1, kw - pl - pr)...12)
    return PoolGeometry(inputHeight: h, inputWidth: w, channels: r.int(1...70),
                        outputHeight: (h + pt + pb - kh) / sh + 1, outputWidth: (w + pl + pr - kw) / sw + 1,
                        kernelHeight: kh, kernelWidth: kw, strideHeight: sh, strideWidth: sw, padTop: pt, padLeft: pl)
}

@Suite struct MaxPoolTests {
    @Test(arguments: 0..<60)
    func int8(_ i: Int) {
        var r = SplitMix64(seed: 0x9001 &+ UInt64(i))
        let g = randomPool(&r)
        let x = r.int8s(g.inputCount)
        var fast = [Int8](repeating: 0, count: g.outputCount), ref = [Int8](repeating: 1, count: g.outputCount)
        MaxPool2D.run(geometry: g, input: x, output: &fast)
        MaxPool2D.reference(geometry: g, input: x, output: &ref)
        #expect(fast == ref, "seed \(i) \(g)")
    }

    @Test(arguments: 0..<60)
    func float(_ i: Int) {
        var r = SplitMix64(seed: 0xF001 &+ UInt64(i))
        let g = randomPool(&r)
        let x = r.floats(g.inputCount, -100...(-1))      // all negative: padding must not act as 0
        var fast = [Float](repeating: 0, count: g.outputCount), ref = [Float](repeating: 1, count: g.outputCount)
        MaxPool2D.run(geometry: g, input: x, output: &fast)
        MaxPool2D.reference(geometry: g, input: x, output: &ref)
        #expect(fast == ref, "seed \(i) \(g)")
    }

    @Test func padIgnoredInt8() {
        // 2x2 input, all -128, 3x3 window, pad 1: output must be -128, not a padding value.
        let g = PoolGeometry(inputHeight: 2, inputWidth: 2, channels: 17, outputHeight: 2, outputWidth: 2,
                             kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 1, padTop: 1, padLeft: 1)
        let x = [Int8](repeating: -128, count: g.inputCount)
        var y = [Int8](repeating: 0, count: g.outputCount)
        MaxPool2D.run(geometry: g, input: x, output: &y)
        #expect(y.allSatisfy { $0 == -128 })
    }
}

@Suite struct DenseInt8Tests {
    @Test(arguments: 0..<50)
    func random(_ i: Int) {
        var r = SplitMix64(seed: 0xDE75E &+ UInt64(i))
        let k = [r.int(1...40), r.int(1...1200), r.int(500...3000), 8192][i % 4]
        let n = r.int(1...70)
        let x = r.int8s(k), w = r.int8s(n * k)
        let zx = Int32(r.int(-128...127))
        let b = (0..<n).map { _ in Int32(r.int(-1_000_000...1_000_000)) }
        var rq: [Int32] = []
        for _ in 0..<n { rq += r.requantRow() }
        let zy = Int32(r.int(-128...127))
        let desc = "seed \(i): k \(k) n \(n) zx \(zx)"
        rq.withUnsafeBufferPointer { rqp in
            let mode = DenseInt8.Output.int8(requant: rqp.baseAddress!, outputZeroPoint: zy)
            var ref = [Int8](repeating: 1, count: n)
            DenseInt8.reference(inputCount: k, outputCount: n, weights: w, bias: b, inputZeroPoint: zx, output: mode,
                                input: x, output: &ref)
            for variant in KernelVariant.allCases where variant.isSupported {
                for pool in [nil, WorkerPool(threads: 2)] {
                    var fast = [Int8](repeating: 0, count: n)
                    DenseInt8(inputCount: k, outputCount: n, weights: w, bias: b, inputZeroPoint: zx, output: mode, variant: variant)
                        .run(input: x, output: &fast, pool: pool)
                    #expect(fast == ref, "int8 \(variant) threads \(pool?.threads ?? 1) \(desc)")
                }
            }
        }
        let scales = r.floats(n, 1e-6...1e-3)
        for alpha: Float? in [nil, 0.1, 0] {
            scales.withUnsafeBufferPointer { sp in
                let mode = DenseInt8.Output.logits(outScale: sp.baseAddress!, leakyAlpha: alpha)
                var ref = [Float](repeating: 1, count: n)
                DenseInt8.reference(inputCount: k, outputCount: n, weights: w, bias: b, inputZeroPoint: zx, output: mode,
                                    input: x, output: &ref)
                for variant in KernelVariant.allCases where variant.isSupported {
                    var fast = [Float](repeating: 0, count: n)
                    DenseInt8(inputCount: k, outputCount: n, weights: w, bias: b, inputZeroPoint: zx, output: mode, variant: variant)
                        .run(input: x, output: &fast, pool: WorkerPool(threads: 2))
                    #expect(fast.map(\.bitPattern) == ref.map(\.bitPattern), "logits \(variant) alpha \(String(describing: alpha)) \(desc)")
                }
            }
        }
    }

    @Test func extremes() {
        let k = 8192, n = 3
        let x = [Int8](repeating: -128, count: k), w = [Int8](repeating: -128, count: n * k)
        let b: [Int32] = [0, -5, 7]
        let scales: [Float] = [1e-9, 2e-9, 3e-9]
        scales.withUnsafeBufferPointer { sp in
            let mode = DenseInt8.Output.logits(outScale: sp.baseAddress!, leakyAlpha: nil)
            var ref = [Float](repeating: 1, count: n)
            DenseInt8.reference(inputCount: k, outputCount: n, weights: w, bias: b, inputZeroPoint: 127, output: mode, input: x, output: &ref)
            for variant in KernelVariant.allCases where variant.isSupported {
                var fast = [Float](repeating: 0, count: n)
                DenseInt8(inputCount: k, outputCount: n, weights: w, bias: b, inputZeroPoint: 127, output: mode, variant: variant)
                    .run(input: x, output: &fast)
                #expect(fast == ref, "\(variant)")
            }
            #expect(ref[0] == Float(Int32(k * 255 * 128)) * 1e-9)
        }
    }
}
