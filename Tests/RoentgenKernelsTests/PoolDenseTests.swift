import Testing
@testable import RoentgenKernels

/// Pool output size per SPEC "Window geometry", with ceil_mode.
func poolOutputSize(_ size: Int, _ padA: Int, _ padB: Int, _ kernel: Int, _ stride: Int, ceil: Bool) -> Int {
    let span = size + padA + padB - kernel
    var o = (ceil ? (span + stride - 1) / stride : span / stride) + 1
    if ceil && (o - 1) * stride >= size + padA { o -= 1 }
    return o
}

func randomPool(_ r: inout SplitMix64, ceil: Bool? = nil) -> PoolGeometry {
    let kh = r.int(1...4), kw = r.int(1...4), sh = r.int(1...3), sw = r.int(1...3)
    let pt = r.int(0...(kh - 1)), pb = r.int(0...(kh - 1)), pl = r.int(0...(kw - 1)), pr = r.int(0...(kw - 1))
    let h = r.int(max(1, kh - pt - pb)...12), w = r.int(max(1, kw - pl - pr)...12)
    let c = ceil ?? Bool.random(using: &r)
    return PoolGeometry(inputHeight: h, inputWidth: w, channels: [r.int(1...70), 16, 1, 33][r.int(0...3)],
                        outputHeight: poolOutputSize(h, pt, pb, kh, sh, ceil: c), outputWidth: poolOutputSize(w, pl, pr, kw, sw, ceil: c),
                        kernelHeight: kh, kernelWidth: kw, strideHeight: sh, strideWidth: sw,
                        padTop: pt, padLeft: pl, padBottom: pb, padRight: pr)
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

    /// On the worker pool, in row chunks: the same bytes as the scalar twin, on maps large enough
    /// for several chunks (Table-2's pools) and on the random geometries.
    @Test(arguments: 0..<30)
    func parallelRows(_ i: Int) {
        var r = SplitMix64(seed: 0x9A11 &+ UInt64(i))
        let table2 = [(128, 16), (64, 32), (32, 64), (16, 128)]
        let g: PoolGeometry
        if i < 4 {
            let (h, c) = table2[i]
            g = PoolGeometry(inputHeight: h, inputWidth: h, channels: c, outputHeight: h / 2, outputWidth: h / 2,
                             kernelHeight: 2, kernelWidth: 2, strideHeight: 2, strideWidth: 2, padTop: 0, padLeft: 0)
        } else {
            var p = randomPool(&r)
            p = PoolGeometry(inputHeight: p.inputHeight * 5, inputWidth: p.inputWidth * 3, channels: p.channels,
                             outputHeight: poolOutputSize(p.inputHeight * 5, p.padTop, p.padBottom, p.kernelHeight, p.strideHeight, ceil: i % 2 == 0),
                             outputWidth: poolOutputSize(p.inputWidth * 3, p.padLeft, p.padRight, p.kernelWidth, p.strideWidth, ceil: i % 2 == 0),
                             kernelHeight: p.kernelHeight, kernelWidth: p.kernelWidth, strideHeight: p.strideHeight, strideWidth: p.strideWidth,
                             padTop: p.padTop, padLeft: p.padLeft, padBottom: p.padBottom, padRight: p.padRight)
            g = p
        }
        let x = r.int8s(g.inputCount), xf = r.floats(g.inputCount, -100...(-1))
        var ref = [Int8](repeating: 1, count: g.outputCount), reff = [Float](repeating: 1, count: g.outputCount)
        MaxPool2D.reference(geometry: g, input: x, output: &ref)
        MaxPool2D.reference(geometry: g, input: xf, output: &reff)
        for (threads, pool) in threadPools() {
            var fast = [Int8](repeating: 0, count: g.outputCount), fastf = [Float](repeating: 0, count: g.outputCount)
            x.withUnsafeBufferPointer { xp in fast.withUnsafeMutableBufferPointer { yp in
                ParallelMaxPool2D(geometry: g, input: xp.baseAddress!, output: yp.baseAddress!).run(pool: pool)
            } }
            xf.withUnsafeBufferPointer { xp in fastf.withUnsafeMutableBufferPointer { yp in
                ParallelMaxPool2D(geometry: g, input: xp.baseAddress!, output: yp.baseAddress!).run(pool: pool)
            } }
            #expect(fast == ref && fastf == reff, "x\(threads) seed \(i) \(g)")
        }
        if i < 4 { #expect(ParallelMaxPool2D(geometry: g, input: x, output: &ref).chunkCount(threads: 2) > 1) }
    }

    @Test func padIgnoredAndCeilWindows() {
        // 2x2 input, all -128, 3x3 window, pad 1: output must be -128, not a padding value.
        let g = PoolGeometry(inputHeight: 2, inputWidth: 2, channels: 17, outputHeight: 2, outputWidth: 2,
                             kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 1, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)
        let x = [Int8](repeating: -128, count: g.inputCount)
        var y = [Int8](repeating: 0, count: g.outputCount)
        MaxPool2D.run(geometry: g, input: x, output: &y)
        #expect(y.allSatisfy { $0 == -128 })
        // ceil_mode: 5 wide, kernel 2, stride 2 -> 3 outputs, the last window holds column 4 only.
        let c = PoolGeometry(inputHeight: 1, inputWidth: 5, channels: 1, outputHeight: 1, outputWidth: poolOutputSize(5, 0, 0, 2, 2, ceil: true),
                             kernelHeight: 1, kernelWidth: 2, strideHeight: 1, strideWidth: 2, padTop: 0, padLeft: 0)
        var z = [Int8](repeating: 0, count: 3)
        MaxPool2D.run(geometry: c, input: [1, 5, -3, -7, -9], output: &z)
        #expect(z == [5, -3, -9])
    }
}

@Suite struct AvgPoolTests {
    @Test(arguments: 0..<60)
    func int8(_ i: Int) {
        var r = SplitMix64(seed: 0xA7 &+ UInt64(i))
        let g = randomPool(&r)
        let include = i % 2 == 0
        let x = r.int8s(g.inputCount)
        let zx = r.zeroPoint(), zy = r.zeroPoint()
        var rq: [Int32] = []
        let sx = Double.random(in: 0.01...0.1, using: &r), sy = Double.random(in: 0.01...0.1, using: &r)
        for c in 1...(g.kernelHeight * g.kernelWidth) {
            let (m, s) = i % 3 == 0 ? r.requantPair() : r.realisticPair(sx / (Double(c) * sy))
            rq += [m, s]
        }
        var ref = [Int8](repeating: 1, count: g.outputCount)
        AvgPool2DInt8.reference(geometry: g, requant: rq, inputZeroPoint: zx, outputZeroPoint: zy, countIncludePad: include, input: x, output: &ref)
        var fast = [Int8](repeating: 0, count: g.outputCount)
        AvgPool2DInt8(geometry: g, requant: rq, inputZeroPoint: zx, outputZeroPoint: zy, countIncludePad: include).run(input: x, output: &fast)
        #expect(fast == ref, "seed \(i) \(g) include pad \(include) zx \(zx) zy \(zy)")
    }

    @Test(arguments: 0..<40)
    func float(_ i: Int) {
        var r = SplitMix64(seed: 0xAF &+ UInt64(i))
        let g = randomPool(&r)
        let include = i % 2 == 1
        let x = r.floats(g.inputCount)
        var ref = [Double](repeating: 0, count: g.outputCount), fast = [Float](repeating: .nan, count: g.outputCount)
        AvgPool2DFloat.reference(geometry: g, countIncludePad: include, input: x, output: &ref)
        AvgPool2DFloat(geometry: g, countIncludePad: include).run(input: x, output: &fast)
        if let j = notClose(fast, ref) { Issue.record("at \(j): \(fast[j]) vs \(ref[j]); seed \(i) \(g) include \(include)") }
    }

    /// Divisors by hand: 3x3 input, kernel 2, stride 2, pad 1 on top/left, ceil_mode (OH = 2).
    @Test func divisorsByHand() {
        let g = PoolGeometry(inputHeight: 3, inputWidth: 3, channels: 1, outputHeight: 2, outputWidth: 2,
                             kernelHeight: 2, kernelWidth: 2, strideHeight: 2, strideWidth: 2, padTop: 1, padLeft: 1, padBottom: 0, padRight: 0)
        let x: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9]
        var y = [Double](repeating: 0, count: 4)
        // Window (0,0) covers rows -1..0, cols -1..0: x00 = 1 inside; with padding counted: 4 taps.
        // Window (1,1) covers rows 1..2, cols 1..2: 5 + 6 + 8 + 9 = 28 over 4.
        AvgPool2DFloat.reference(geometry: g, countIncludePad: false, input: x, output: &y)
        #expect(y == [1, 2.5, 5.5, 7])
        AvgPool2DFloat.reference(geometry: g, countIncludePad: true, input: x, output: &y)
        #expect(y == [0.25, 1.25, 2.75, 7])
        // int8, M = 1 / c: requant row c - 1 = (rint(2^30 / c), 30); z_x = 1, z_y = 0.
        let rq: [Int32] = (1...4).flatMap { c -> [Int32] in [Int32((Double(1 << 30) / Double(c)).rounded()), 30] }
        var q = [Int8](repeating: 0, count: 4)
        AvgPool2DInt8.reference(geometry: g, requant: rq, inputZeroPoint: 1, outputZeroPoint: 0, countIncludePad: false,
                                input: [1, 2, 3, 4, 5, 6, 7, 8, 9], output: &q)
        // (x - 1): window sums 0 / 1, (1 + 2) / 2 = 1.5 -> 2 (half up), (3 + 6) / 2 = 4.5 -> 5, (4+5+7+8) / 4 = 6.
        #expect(q == [0, 2, 5, 6])
    }
}

@Suite struct MeanTests {
    @Test(arguments: 0..<40)
    func int8(_ i: Int) {
        var r = SplitMix64(seed: 0x3EA4 &+ UInt64(i))
        let h = [1, 7, r.int(1...20), 1][i % 4], w = [1, 7, r.int(1...20), 3][i % 4], c = [r.int(1...70), 16, 2048, 1][r.int(0...3)]
        let x = r.int8s(h * w * c)
        let zx = r.zeroPoint(), zy = r.zeroPoint()
        let (m, s) = i % 3 == 0 ? r.requantPair() : r.realisticPair(Double.random(in: 0.3...3, using: &r) / Double(h * w))
        var ref = [Int8](repeating: 1, count: c)
        MeanInt8.reference(height: h, width: w, channels: c, multiplier: m, shift: s, inputZeroPoint: zx, outputZeroPoint: zy, input: x, output: &ref)
        for variant in supportedVariants {
            var fast = [Int8](repeating: 0, count: c)
            MeanInt8(height: h, width: w, channels: c, multiplier: m, shift: s, inputZeroPoint: zx, outputZeroPoint: zy, variant: variant)
                .run(input: x, output: &fast)
            #expect(fast == ref, "\(variant) seed \(i): \(h)x\(w)x\(c) m \(m) shift \(s) zx \(zx) zy \(zy)")
        }
    }

    @Test func extremes() {
        // 128 x 128 pixels of -128 with z_x = 127: acc = -16384 * 255, the largest magnitude the reader admits is near.
        let h = 128, w = 128, c = 19
        let x = [Int8](repeating: -128, count: h * w * c)
        var ref = [Int8](repeating: 1, count: c)
        MeanInt8.reference(height: h, width: w, channels: c, multiplier: 1 << 30, shift: 44, inputZeroPoint: 127, outputZeroPoint: 0, input: x, output: &ref)
        #expect(ref.allSatisfy { $0 == -128 })         // -4177920 / 16384 = -255, clamped
        for variant in supportedVariants {
            var fast = [Int8](repeating: 0, count: c)
            MeanInt8(height: h, width: w, channels: c, multiplier: 1 << 30, shift: 44, inputZeroPoint: 127, outputZeroPoint: 0, variant: variant)
                .run(input: x, output: &fast)
            #expect(fast == ref, "\(variant)")
        }
        // By hand: 2 pixels (x - z) = 3 and 4, M = 1/2 -> 3.5 -> 4 (half up).
        var y: [Int8] = [0]
        MeanInt8.reference(height: 1, width: 2, channels: 1, multiplier: 1 << 30, shift: 31, inputZeroPoint: -2, outputZeroPoint: 0,
                           input: [1, 2], output: &y)
        #expect(y == [4])
    }

    @Test(arguments: 0..<20)
    func float(_ i: Int) {
        var r = SplitMix64(seed: 0x3EAF &+ UInt64(i))
        let h = r.int(1...15), w = r.int(1...15), c = r.int(1...100)
        let x = r.floats(h * w * c)
        var ref = [Double](repeating: 0, count: c), fast = [Float](repeating: .nan, count: c)
        MeanFloat.reference(height: h, width: w, channels: c, input: x, output: &ref)
        MeanFloat(height: h, width: w, channels: c).run(input: x, output: &fast)
        if let j = notClose(fast, ref) { Issue.record("at \(j): \(fast[j]) vs \(ref[j]); seed \(i)") }
    }
}

@Suite struct DenseInt8Tests {
    @Test(arguments: 0..<50)
    func random(_ i: Int) {
        var r = SplitMix64(seed: 0xDE75E &+ UInt64(i))
        let k = [r.int(1...40), r.int(1...1200), r.int(500...3000), 8192][i % 4]
        let n = r.int(1...70)
        let x = r.int8s(k), w = r.weights(n * k)
        let zx = r.zeroPoint()
        let b = (0..<n).map { _ in Int32(r.int(-1_000_000...1_000_000)) }
        var rq: [Int32] = []
        for _ in 0..<n { rq += r.requantRow() }
        let zy = r.zeroPoint()
        let (lo, hi) = r.clampRange()
        let desc = "seed \(i): k \(k) n \(n) zx \(zx) zy \(zy) clamp [\(lo), \(hi)]"
        rq.withUnsafeBufferPointer { rqp in
            let mode = DenseInt8.Output.int8(requant: rqp.baseAddress!, outputZeroPoint: zy, outputMin: lo, outputMax: hi)
            var ref = [Int8](repeating: 1, count: n)
            DenseInt8.reference(inputCount: k, outputCount: n, weights: w, bias: b, inputZeroPoint: zx, output: mode, input: x, output: &ref)
            for variant in supportedVariants {
                let dense = DenseInt8(inputCount: k, outputCount: n, weights: w, bias: b, inputZeroPoint: zx, output: mode, variant: variant)
                let scratch = Scratch(dense.scratchBytes, seed: UInt64(i))
                for (threads, pool) in threadPools() {
                    scratch.scramble()
                    var fast = [Int8](repeating: 0, count: n)
                    dense.run(input: x, output: &fast, scratch: scratch.pointer, pool: pool)
                    #expect(fast == ref, "int8 \(variant) threads \(threads) \(desc)")
                    #expect(scratch.guardIntact, "\(variant): wrote past scratchBytes")
                }
            }
        }
        let scales = r.floats(n, 1e-6...1e-3)
        for (alpha, cl, ch): (Float, Float, Float) in [(1, -.infinity, .infinity), (0.1, -.infinity, .infinity), (0, -.infinity, 0.5), (-0.5, -0.2, 0.3)] {
            scales.withUnsafeBufferPointer { sp in
                let mode = DenseInt8.Output.logits(outScale: sp.baseAddress!, alpha: alpha, clipMin: cl, clipMax: ch)
                var ref = [Float](repeating: 1, count: n)
                DenseInt8.reference(inputCount: k, outputCount: n, weights: w, bias: b, inputZeroPoint: zx, output: mode, input: x, output: &ref)
                for variant in supportedVariants {
                    let dense = DenseInt8(inputCount: k, outputCount: n, weights: w, bias: b, inputZeroPoint: zx, output: mode, variant: variant)
                    let scratch = Scratch(dense.scratchBytes)
                    for (threads, pool) in threadPools() {
                        var fast = [Float](repeating: 0, count: n)
                        dense.run(input: x, output: &fast, scratch: scratch.pointer, pool: pool)
                        #expect(fast.map(\.bitPattern) == ref.map(\.bitPattern), "logits \(variant) x\(threads) alpha \(alpha) clip [\(cl), \(ch)] \(desc)")
                    }
                }
            }
        }
    }

    /// The twin by hand: acc = 5 + (3 - 1) * 2 + (-1 - 1) * 4 = 1; (m, shift) = (3, 1) -> (3 + 1) >> 1 = 2.
    @Test func referenceByHand() {
        let rq: [Int32] = [3, 1, 1, 2, 3, 1, 1, 2]
        var y: [Int8] = [0, 0]
        rq.withUnsafeBufferPointer { p in
            DenseInt8.reference(inputCount: 2, outputCount: 2, weights: [2, 4, -3, 0], bias: [5, -2], inputZeroPoint: 1,
                                output: .int8(requant: p.baseAddress!, outputZeroPoint: 7, outputMin: -128, outputMax: 8), input: [3, -1], output: &y)
        }
        // Channel 1: -2 + 2 * -3 = -8 < 0 -> (m_neg, shift_neg) = (1, 2): (-8 + 2) >> 2 = -2, + 7 = 5. Channel 0: 2 + 7 = 9, clamped to 8.
        #expect(y == [8, 5])
        var f: [Float] = [0, 0]
        let scales: [Float] = [0.5, 0.25]
        scales.withUnsafeBufferPointer { p in
            DenseInt8.reference(inputCount: 2, outputCount: 2, weights: [2, 4, -3, 0], bias: [5, -2], inputZeroPoint: 1,
                                output: .logits(outScale: p.baseAddress!, alpha: 0.5, clipMax: 0.4), input: [3, -1], output: &f)
        }
        // 1 * 0.5 = 0.5 -> clip 0.4; -8 * 0.25 = -2 -> * 0.5 = -1.
        #expect(f == [0.4, -1])
    }

    @Test func extremes() {
        let k = 8192, n = 3
        let x = [Int8](repeating: -128, count: k), w = [Int8](repeating: -127, count: n * k)
        let b: [Int32] = [0, -5, 7]
        let scales: [Float] = [1e-9, 2e-9, 3e-9]
        scales.withUnsafeBufferPointer { sp in
            let mode = DenseInt8.Output.logits(outScale: sp.baseAddress!)
            var ref = [Float](repeating: 1, count: n)
            DenseInt8.reference(inputCount: k, outputCount: n, weights: w, bias: b, inputZeroPoint: 127, output: mode, input: x, output: &ref)
            for variant in supportedVariants {
                let dense = DenseInt8(inputCount: k, outputCount: n, weights: w, bias: b, inputZeroPoint: 127, output: mode, variant: variant)
                let scratch = Scratch(dense.scratchBytes)
                var fast = [Float](repeating: 0, count: n)
                dense.run(input: x, output: &fast, scratch: scratch.pointer)
                #expect(fast == ref, "\(variant)")
            }
            #expect(ref[0] == Float(Int32(k * 255 * 127)) * 1e-9)
        }
    }
}
