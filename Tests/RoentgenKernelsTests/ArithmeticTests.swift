import Testing
@testable import RoentgenKernels

/// Exact requantize with 128-bit arithmetic: (acc * m + 2^(s-1)) >> s, floor semantics.
func wideRequantize(_ acc: Int32, _ m: Int32, _ s: Int32) -> Int64 {
    let (high, low) = Int64(acc).multipliedFullWidth(by: Int64(m))
    let product = Int128(high) << 64 | Int128(low)        // low is UInt64: no sign extension
    let sum = product + (Int128(1) << Int(s - 1))
    let shifted = sum >> Int(s)                             // arithmetic shift on Int128
    return Int64(shifted)                                   // traps if it did not fit
}

@Suite struct RequantizeTests {
    static let accExtremes: [Int32] = {
        var v: [Int32] = [0, 1, -1, 2, -2, 127, -128, 255, -255, 32640, -32640, 32767, -32768,
                          Int32.max, Int32.min, Int32.max - 1, Int32.min + 1, 1 << 30, -(1 << 30)]
        // int8-derived: K * (x - z) * w extremes for typical K
        for k in [1, 9, 288, 1152, 2304, 8192] { v += [Int32(k * 255 * 127), -Int32(k * 255 * 127), Int32(k * 255 * 128), -Int32(k * 255 * 128)] }
        return v
    }()
    static let mExtremes: [Int32] = [0, 1, -1, Int32.max, -Int32.max, 1 << 30, -(1 << 30), 1_518_500_250, -12345, Int32.min]

    @Test func extremes() {
        for acc in Self.accExtremes {
            for m in Self.mExtremes {
                for s in Int32(1)...62 {
                    let got = Requantize.apply(acc, multiplier: m, shift: s)
                    let want = wideRequantize(acc, m, s)
                    #expect(got == want, "acc \(acc) m \(m) shift \(s)")
                }
            }
        }
    }

    @Test func random() {
        var r = SplitMix64(seed: 42)
        for _ in 0..<300_000 {
            let acc = Int32.random(in: .min ... .max, using: &r)
            let m = Int32.random(in: .min ... .max, using: &r)
            let s = Int32(r.int(1...62))
            let got = Requantize.apply(acc, multiplier: m, shift: s)
            let want = wideRequantize(acc, m, s)
            if got != want { Issue.record("acc \(acc) m \(m) shift \(s): \(got) != \(want)"); return }
        }
    }

    /// Ties round half up (towards +infinity), including for negatives.
    @Test func tiesRoundUp() {
        #expect(Requantize.apply(1, multiplier: 1, shift: 1) == 1)      // 0.5 -> 1
        #expect(Requantize.apply(-1, multiplier: 1, shift: 1) == 0)     // -0.5 -> 0
        #expect(Requantize.apply(-3, multiplier: 1, shift: 1) == -1)    // -1.5 -> -1
        #expect(Requantize.apply(3, multiplier: 1, shift: 1) == 2)      // 1.5 -> 2
        #expect(Requantize.apply(-5, multiplier: 1, shift: 2) == -1)    // -1.25 -> -1
        #expect(Requantize.apply(-6, multiplier: 1, shift: 2) == -1)    // -1.5 -> -1
        #expect(Requantize.apply(-7, multiplier: 1, shift: 2) == -2)    // -1.75 -> -2
    }

    @Test func outputEpilogue() {
        var r = SplitMix64(seed: 7)
        for _ in 0..<50_000 {
            let row = r.requantRow()
            let acc = Int32.random(in: .min ... .max, using: &r)
            let zy = Int32(r.int(-128...127))
            let (m, s) = acc >= 0 ? (row[0], row[1]) : (row[2], row[3])
            let want = Int8(min(max(Int64(zy) + wideRequantize(acc, m, s), -128), 127))
            let got = row.withUnsafeBufferPointer { Requantize.output(acc, row: $0.baseAddress!, outputZeroPoint: zy) }
            if got != want { Issue.record("acc \(acc) row \(row) zy \(zy): \(got) != \(want)"); return }
        }
        // acc == 0 uses the positive pair; acc == -1 the negative pair.
        let row: [Int32] = [1 << 30, 30, -(1 << 30), 30]
        row.withUnsafeBufferPointer { p in
            #expect(Requantize.output(0, row: p.baseAddress!, outputZeroPoint: 5) == 5)
            #expect(Requantize.output(100, row: p.baseAddress!, outputZeroPoint: 5) == 105)
            #expect(Requantize.output(-100, row: p.baseAddress!, outputZeroPoint: 5) == 105)
            #expect(Requantize.output(1000, row: p.baseAddress!, outputZeroPoint: 5) == 127)
            #expect(Requantize.output(-1000, row: p.baseAddress!, outputZeroPoint: -120) == 127)
        }
    }
}

@Suite struct QuantizeTests {
    func q(_ x: Float, _ s: Float = 1, _ z: Int32 = 0) -> Int8 {
        var out: Int8 = 99
        Quantize.run([x], &out, count: 1, scale: s, zeroPoint: z)
        return out
    }

    /// The SIMD QUANTIZE of every variant equals the scalar twin on random values of every
    /// magnitude, ties, the int8 edges, NaN, infinities, subnormals and -0, at lengths off 16.
    /// QUANTIZE on the pool (an image-sized input in several chunks, and lengths off 64) equals
    /// the scalar twin at 1 and 2 threads.
    @Test(arguments: [224 * 224 * 3, 100_003, 16_385, 5])
    func parallelQuantize(_ n: Int) {
        var r = SplitMix64(seed: UInt64(n))
        let x = r.floats(n, -3...3), want = x.map { Quantize.one($0, scale: 0.02, zeroPoint: -7) }
        for (threads, pool) in threadPools() {
            var y = [Int8](repeating: 99, count: n)
            let q = ParallelQuantize(count: n, scale: 0.02, zeroPoint: -7)
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { yp in
                    q.input = xp.baseAddress; q.output = yp.baseAddress
                    q.run(pool: pool)
                }
            }
            #expect(firstMismatch(y, want) == nil, "\(threads) threads, n \(n)")
        }
    }

    @Test func simdQuantizeEqualsTwin() {
        var r = SplitMix64(seed: 0x0A11)
        var xs: [Float] = [.nan, -.nan, .infinity, -.infinity, 0, -0.0, .leastNonzeroMagnitude, -.leastNonzeroMagnitude,
                           .greatestFiniteMagnitude, -.greatestFiniteMagnitude, 1e30, -1e30]
        for k in -300...300 { xs.append(Float(k) * 0.5); xs.append(Float(k) * 0.5 + 0.25) }    // ties and quarters
        for _ in 0..<5000 { xs.append(Float(bitPattern: UInt32(truncatingIfNeeded: r.next()))) }  // every magnitude
        for _ in 0..<5000 { xs.append(Float.random(in: -40...40, using: &r)) }
        for (scale, z) in [(Float(0.1), Int32(3)), (0.3125, -128), (1, 127), (7.3e-3, 0), (1e-20, -5), (3e30, 9)] {
            let want = xs.map { Quantize.one($0, scale: scale, zeroPoint: z) }
            for variant in supportedVariants {
                for n in [xs.count, 15, 17, 1] {
                    var got = [Int8](repeating: 99, count: n)
                    Quantize.run(xs, &got, count: n, scale: scale, zeroPoint: z, variant: variant)
                    if let i = firstMismatch(got, Array(want[0..<n])) {
                        Issue.record("\(variant) quantize(\(xs[i]) / \(scale) + \(z)): \(got[i]), twin \(want[i])")
                        return
                    }
                }
            }
        }
    }

    @Test func tiesToEven() {
        #expect(q(0.5) == 0); #expect(q(1.5) == 2); #expect(q(2.5) == 2); #expect(q(-0.5) == 0)
        #expect(q(-1.5) == -2); #expect(q(-2.5) == -2); #expect(q(3.5) == 4)
        #expect(q(0.49999997) == 0); #expect(q(0.50000006) == 1)
        #expect(q(1.25, 0.5) == 2)                     // 2.5 -> 2
        #expect(q(0.75, 0.5, 10) == 12)                // 1.5 -> 2, + 10
    }

    @Test func clamps() {
        #expect(q(127.4) == 127); #expect(q(127.6) == 127); #expect(q(1e30) == 127); #expect(q(.infinity) == 127)
        #expect(q(-128.4) == -128); #expect(q(-1e30) == -128); #expect(q(-.infinity) == -128)
        #expect(q(100, 1, 100) == 127); #expect(q(-100, 1, -100) == -128)
        #expect(q(-250, 1, 127) == -123); #expect(q(250, 1, -128) == 122)
        #expect(q(.greatestFiniteMagnitude, 1e-30) == 127)
    }

    @Test func nanBecomesZeroPoint() {
        #expect(q(.nan) == 0); #expect(q(.nan, 0.1, -7) == -7); #expect(q(-.nan, 2, 127) == 127)
        #expect(q(.infinity, .infinity, 3) == 3)       // inf / inf = NaN
    }

    /// One binary32 division, not multiplication by a reciprocal.
    @Test func divisionNotReciprocal() {
        var r = SplitMix64(seed: 3)
        for _ in 0..<100_000 {
            let s = Float.random(in: 0.001...0.1, using: &r)
            let x = Float.random(in: -20...20, using: &r)
            let z = Int32(r.int(-128...127))
            let want = Int8(min(max(Int32((x / s).rounded(.toNearestOrEven)) + z, -128), 127))
            if q(x, s, z) != want { Issue.record("x \(x) s \(s) z \(z)"); return }
        }
    }

    @Test func dequantize() {
        let xs: [Int8] = [-128, -1, 0, 1, 127]
        var out = [Float](repeating: 0, count: 5)
        Dequantize.run(xs, &out, count: 5, scale: 0.1, zeroPoint: -3)
        for i in 0..<5 { #expect(out[i] == Float(Int32(xs[i]) + 3) * Float(0.1)) }
    }
}
