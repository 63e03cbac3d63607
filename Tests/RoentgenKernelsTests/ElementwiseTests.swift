import Testing
import Foundation
@testable import RoentgenKernels

struct EltwiseCase: CustomStringConvertible {
    var elements: Int, channels: Int, broadcast: Bool
    var a: [Int8], b: [Int8]
    var za: Int32, zb: Int32, zy: Int32, lo: Int32, hi: Int32
    var seed: Int
    var description: String { "seed \(seed): \(elements) elements, C \(channels), broadcast \(broadcast), za \(za) zb \(zb) zy \(zy) clamp [\(lo), \(hi)]" }

    static func random(_ i: Int, _ r: inout SplitMix64) -> EltwiseCase {
        let c = [r.int(1...70), 16, 1, 15, 17, 256][r.int(0...5)]
        let pixels = [1, r.int(1...50), 49][r.int(0...2)]
        let broadcast = i % 3 == 0
        let n = pixels * c
        let (lo, hi) = r.clampRange()
        return EltwiseCase(elements: n, channels: c, broadcast: broadcast, a: r.int8s(n), b: r.int8s(broadcast ? c : n),
                           za: r.zeroPoint(), zb: r.zeroPoint(), zy: r.zeroPoint(), lo: lo, hi: hi, seed: i)
    }
}

@Suite struct AddMulInt8Tests {
    /// (m_a, m_b, shift) as the converter writes them (one common shift), or extremes.
    static func addRequant(_ i: Int, _ r: inout SplitMix64) -> (Int32, Int32, Int32) {
        switch i % 6 {
        case 0: return (Int32.max, -Int32.max, Int32(r.int(1...62)))
        case 1: return (Int32.max, Int32.max, 1)
        case 2: return (Int32(r.int(-1000...1000)), Int32.max - 1, 62)
        case 3: return (Int32.random(in: -Int32.max...Int32.max, using: &r), Int32.random(in: -Int32.max...Int32.max, using: &r), Int32(r.int(1...62)))
        default:
            let ma = Double.random(in: 0.2...3, using: &r), mb = Double.random(in: 0.2...3, using: &r)
            var shift = 62
            while max(ma, mb) * Double(UInt64(1) << UInt64(shift)) >= 2147483647.5 { shift -= 1 }
            let f = Double(UInt64(1) << UInt64(shift))
            return (Int32((ma * f).rounded()), Int32((mb * f).rounded()), Int32(shift))
        }
    }

    @Test(arguments: 0..<60)
    func add(_ i: Int) {
        var r = SplitMix64(seed: 0xADD &+ UInt64(i))
        let c = EltwiseCase.random(i, &r)
        let (ma, mb, s) = Self.addRequant(i, &r)
        var ref = [Int8](repeating: 1, count: c.elements)
        AddInt8.reference(elements: c.elements, channels: c.channels, broadcast: c.broadcast, multiplierA: ma, multiplierB: mb, shift: s,
                          zeroPointA: c.za, zeroPointB: c.zb, outputZeroPoint: c.zy, outputMin: c.lo, outputMax: c.hi,
                          a: c.a, b: c.b, output: &ref)
        for variant in supportedVariants {
            var fast = [Int8](repeating: 0, count: c.elements)
            AddInt8(elements: c.elements, channels: c.channels, broadcast: c.broadcast, multiplierA: ma, multiplierB: mb, shift: s,
                    zeroPointA: c.za, zeroPointB: c.zb, outputZeroPoint: c.zy, outputMin: c.lo, outputMax: c.hi, variant: variant)
                .run(a: c.a, b: c.b, output: &fast)
            if let j = firstMismatch(fast, ref) {
                Issue.record("\(variant) add at \(j): \(fast[j]) vs \(ref[j]); m \(ma), \(mb) shift \(s); \(c)")
            }
        }
    }

    /// Every (a, b) pair of int8 values through the fast form at every shift, against the twin.
    @Test(arguments: [Int32(1), 16, 17, 18, 30, 33, 41, 42, 43, 62])
    func addAllPairs(_ shift: Int32) {
        let a = (0..<65536).map { Int8(truncatingIfNeeded: $0) }, b = (0..<65536).map { Int8(truncatingIfNeeded: $0 >> 8) }
        for (ma, mb) in [(Int32.max, Int32.max), (-Int32.max, 1_518_500_250), (65535, -65536), (1 << 30, 1 << 29)] {
            var ref = [Int8](repeating: 1, count: a.count)
            AddInt8.reference(elements: a.count, channels: 1, broadcast: false, multiplierA: ma, multiplierB: mb, shift: shift,
                              zeroPointA: 3, zeroPointB: -128, outputZeroPoint: 127, a: a, b: b, output: &ref)
            for variant in supportedVariants {
                var fast = [Int8](repeating: 0, count: a.count)
                AddInt8(elements: a.count, channels: 1, broadcast: false, multiplierA: ma, multiplierB: mb, shift: shift,
                        zeroPointA: 3, zeroPointB: -128, outputZeroPoint: 127, variant: variant).run(a: a, b: b, output: &fast)
                if let j = firstMismatch(fast, ref) { Issue.record("\(variant) shift \(shift) m \(ma), \(mb) at a \(a[j]) b \(b[j]): \(fast[j]) vs \(ref[j])") }
            }
        }
    }

    @Test(arguments: 0..<60)
    func mul(_ i: Int) {
        var r = SplitMix64(seed: 0x3E1 &+ UInt64(i))
        let c = EltwiseCase.random(i, &r)
        let (m, s) = i % 2 == 0 ? r.requantPair() : r.realisticPair(Double.random(in: 0.001...0.05, using: &r))
        var ref = [Int8](repeating: 1, count: c.elements)
        MulInt8.reference(elements: c.elements, channels: c.channels, broadcast: c.broadcast, multiplier: m, shift: s,
                          zeroPointA: c.za, zeroPointB: c.zb, outputZeroPoint: c.zy, outputMin: c.lo, outputMax: c.hi,
                          a: c.a, b: c.b, output: &ref)
        for variant in supportedVariants {
            var fast = [Int8](repeating: 0, count: c.elements)
            MulInt8(elements: c.elements, channels: c.channels, broadcast: c.broadcast, multiplier: m, shift: s,
                    zeroPointA: c.za, zeroPointB: c.zb, outputZeroPoint: c.zy, outputMin: c.lo, outputMax: c.hi, variant: variant)
                .run(a: c.a, b: c.b, output: &fast)
            if let j = firstMismatch(fast, ref) { Issue.record("\(variant) mul at \(j): \(fast[j]) vs \(ref[j]); m \(m) shift \(s); \(c)") }
        }
    }

    @Test(arguments: [Int32(1), 20, 32, 33, 47, 62])
    func mulAllPairs(_ shift: Int32) {
        let a = (0..<65536).map { Int8(truncatingIfNeeded: $0) }, b = (0..<65536).map { Int8(truncatingIfNeeded: $0 >> 8) }
        for m in [Int32.max, -Int32.max, 1, 1_518_500_250] {
            var ref = [Int8](repeating: 1, count: a.count)
            MulInt8.reference(elements: a.count, channels: 1, broadcast: false, multiplier: m, shift: shift,
                              zeroPointA: 127, zeroPointB: -128, outputZeroPoint: -3, a: a, b: b, output: &ref)
            for variant in supportedVariants {
                var fast = [Int8](repeating: 0, count: a.count)
                MulInt8(elements: a.count, channels: 1, broadcast: false, multiplier: m, shift: shift,
                        zeroPointA: 127, zeroPointB: -128, outputZeroPoint: -3, variant: variant).run(a: a, b: b, output: &fast)
                if let j = firstMismatch(fast, ref) { Issue.record("\(variant) shift \(shift) m \(m) at a \(a[j]) b \(b[j]): \(fast[j]) vs \(ref[j])") }
            }
        }
    }

    @Test func byHand() {
        var y: [Int8] = [0, 0]
        // M_a = M_b = 1/2 (m = 2^30, shift 31): (3 + 4) / 2 = 3.5 -> 4; (-3 - 4) / 2 = -3.5 -> -3 (half up); + z_y 10.
        AddInt8.reference(elements: 2, channels: 2, broadcast: false, multiplierA: 1 << 30, multiplierB: 1 << 30, shift: 31,
                          zeroPointA: 1, zeroPointB: -1, outputZeroPoint: 10, a: [4, -2], b: [3, -5], output: &y)
        #expect(y == [14, 7])
        // Broadcast b [C = 1]; clamp [0, 12].
        AddInt8.reference(elements: 2, channels: 1, broadcast: true, multiplierA: 1 << 30, multiplierB: 1 << 30, shift: 30,
                          zeroPointA: 0, zeroPointB: 0, outputZeroPoint: 0, outputMin: 0, outputMax: 12, a: [10, -20], b: [5], output: &y)
        #expect(y == [12, 0])
        // MUL: (3 - 1) * (5 - 2) = 6, M = 1/4 -> 1.5 -> 2.
        MulInt8.reference(elements: 1, channels: 1, broadcast: false, multiplier: 1 << 30, shift: 32,
                          zeroPointA: 1, zeroPointB: 2, outputZeroPoint: 0, a: [3], b: [5], output: &y)
        #expect(y[0] == 2)
    }
}

/// ADD / MUL on the pool: map-sized operands cut into runs (broadcast ones at pixel starts, channel
/// counts that do not divide 64) give the scalar twins' results at 1 and 2 threads, every variant.
@Suite struct ElementwiseOnPoolTests {
    @Test(arguments: [(56 * 56, 24, false), (56 * 56, 24, true), (28 * 28, 37, true), (14 * 14, 96, false), (33, 500, true)])
    func int8(_ pixels: Int, _ channels: Int, _ broadcast: Bool) {
        var r = SplitMix64(seed: UInt64(pixels * channels))
        let n = pixels * channels
        let a = r.int8s(n), b = r.int8s(broadcast ? channels : n)
        var add = [Int8](repeating: 0, count: n), mul = add
        AddInt8.reference(elements: n, channels: channels, broadcast: broadcast, multiplierA: 1_518_500_250, multiplierB: -1_073_741_824,
                          shift: 31, zeroPointA: 3, zeroPointB: -5, outputZeroPoint: 2, a: a, b: b, output: &add)
        MulInt8.reference(elements: n, channels: channels, broadcast: broadcast, multiplier: 1_300_000_000, shift: 38,
                          zeroPointA: -1, zeroPointB: 4, outputZeroPoint: -9, outputMin: -100, outputMax: 120, a: a, b: b, output: &mul)
        for variant in supportedVariants {
            for (threads, pool) in threadPools() {
                var y = [Int8](repeating: 77, count: n)
                AddInt8(elements: n, channels: channels, broadcast: broadcast, multiplierA: 1_518_500_250, multiplierB: -1_073_741_824,
                        shift: 31, zeroPointA: 3, zeroPointB: -5, outputZeroPoint: 2, variant: variant).run(a: a, b: b, output: &y, pool: pool)
                #expect(firstMismatch(y, add) == nil, "\(variant) add, \(threads) threads")
                MulInt8(elements: n, channels: channels, broadcast: broadcast, multiplier: 1_300_000_000, shift: 38,
                        zeroPointA: -1, zeroPointB: 4, outputZeroPoint: -9, outputMin: -100, outputMax: 120, variant: variant)
                    .run(a: a, b: b, output: &y, pool: pool)
                #expect(firstMismatch(y, mul) == nil, "\(variant) mul, \(threads) threads")
            }
        }
    }

    @Test(arguments: [(56 * 56, 24, false), (28 * 28, 37, true)])
    func float(_ pixels: Int, _ channels: Int, _ broadcast: Bool) {
        var r = SplitMix64(seed: UInt64(pixels + channels))
        let n = pixels * channels
        let a = r.floats(n), b = r.floats(broadcast ? channels : n)
        var add = [Float](repeating: 0, count: n), mul = add
        AddFloat.reference(elements: n, channels: channels, broadcast: broadcast, clipMin: 0, a: a, b: b, output: &add)
        MulFloat.reference(elements: n, channels: channels, broadcast: broadcast, a: a, b: b, output: &mul)
        for (threads, pool) in threadPools() {
            var y = [Float](repeating: .nan, count: n)
            AddFloat(elements: n, channels: channels, broadcast: broadcast, clipMin: 0).run(a: a, b: b, output: &y, pool: pool)
            #expect(y == add, "add, \(threads) threads")
            MulFloat(elements: n, channels: channels, broadcast: broadcast).run(a: a, b: b, output: &y, pool: pool)
            #expect(y == mul, "mul, \(threads) threads")
        }
    }
}

@Suite struct AddMulFloatTests {
    @Test(arguments: 0..<20)
    func random(_ i: Int) {
        var r = SplitMix64(seed: 0xF1AD &+ UInt64(i))
        let c = r.int(1...40), pixels = r.int(1...30), n = c * pixels, broadcast = i % 2 == 0
        let a = r.floats(n), b = r.floats(broadcast ? c : n)
        let (lo, hi): (Float, Float) = i % 3 == 0 ? (-0.5, 0.5) : (-.infinity, .infinity)
        var ref = [Float](repeating: 0, count: n), fast = [Float](repeating: .nan, count: n)
        AddFloat.reference(elements: n, channels: c, broadcast: broadcast, clipMin: lo, clipMax: hi, a: a, b: b, output: &ref)
        AddFloat(elements: n, channels: c, broadcast: broadcast, clipMin: lo, clipMax: hi).run(a: a, b: b, output: &fast)
        #expect(fast == ref, "add seed \(i)")
        // ADD / MUL f32 are one binary32 operation: exact against the double computation rounded once.
        for j in 0..<n { #expect(ref[j] == min(max(Float(Double(a[j]) + Double(b[broadcast ? j % c : j])), lo), hi)) }
        MulFloat.reference(elements: n, channels: c, broadcast: broadcast, clipMin: lo, clipMax: hi, a: a, b: b, output: &ref)
        MulFloat(elements: n, channels: c, broadcast: broadcast, clipMin: lo, clipMax: hi).run(a: a, b: b, output: &fast)
        #expect(fast == ref, "mul seed \(i)")
        for j in 0..<n { #expect(ref[j] == min(max(Float(Double(a[j]) * Double(b[broadcast ? j % c : j])), lo), hi)) }
    }
}

@Suite struct ConcatTests {
    @Test(arguments: 0..<30)
    func int8(_ i: Int) {
        var r = SplitMix64(seed: 0xC0C &+ UInt64(i))
        let pixels = r.int(1...40), n = r.int(1...5)
        let channels = (0..<n).map { _ in [r.int(1...40), 1, 16][r.int(0...2)] }
        let zy = r.zeroPoint()
        var ms: [Int32] = [], ss: [Int32] = [], zs: [Int32] = []
        for j in 0..<n {
            switch (i + j) % 3 {
            case 0: ms.append(1 << 30); ss.append(30); zs.append(zy)                         // identity: a plain copy
            case 1: let (m, s) = r.requantPair(); ms.append(m); ss.append(s); zs.append(r.zeroPoint())
            default: let (m, s) = r.realisticPair(Double.random(in: 0.5...2, using: &r)); ms.append(m); ss.append(s); zs.append(r.zeroPoint())
            }
        }
        let inputs = channels.map { r.int8s(pixels * $0) }
        let total = channels.reduce(0, +)
        var ref = [Int8](repeating: 1, count: pixels * total), fast = [Int8](repeating: 0, count: pixels * total)
        let concat = ConcatInt8(pixels: pixels, channels: channels, multipliers: ms, shifts: ss, zeroPoints: zs, outputZeroPoint: zy)
        withPointers(inputs) { ptrs in
            ConcatInt8.reference(pixels: pixels, channels: channels, multipliers: ms, shifts: ss, zeroPoints: zs, outputZeroPoint: zy,
                                 inputs: ptrs, output: &ref)
            ptrs.withUnsafeBufferPointer { concat.run(inputs: $0.baseAddress!, output: &fast) }
        }
        #expect(fast == ref, "seed \(i): channels \(channels) m \(ms) shifts \(ss) z \(zs) zy \(zy)")
        for j in 0..<n where (i + j) % 3 == 0 { #expect(concat.identity[j], "input \(j) should be a plain copy") }
    }

    /// The twin by hand: input 0 with M = 1/2 (m = 2^30, shift 31), z_0 = 2; input 1 an identity copy.
    @Test func int8ByHand() {
        var y = [Int8](repeating: 0, count: 3)
        withPointers([[Int8(7), -4], [Int8(-9)]]) { ptrs in
            ConcatInt8.reference(pixels: 1, channels: [2, 1], multipliers: [1 << 30, 1 << 30], shifts: [31, 30], zeroPoints: [2, -1],
                                 outputZeroPoint: -1, inputs: ptrs, output: &y)
        }
        // (7 - 2) / 2 = 2.5 -> 3, - 1 = 2; (-4 - 2) / 2 = -3, - 1 = -4; -9 copied.
        #expect(y == [2, -4, -9])
    }

    @Test func float() {
        let a: [Float] = [1, 2, 3, 4], b: [Float] = [5, 6]
        var y = [Float](repeating: 0, count: 6)
        withPointers([a, b]) { ptrs in
            ptrs.withUnsafeBufferPointer { ConcatFloat(pixels: 2, channels: [2, 1]).run(inputs: $0.baseAddress!, output: &y) }
        }
        #expect(y == [1, 2, 5, 3, 4, 6])
    }
}

/// Stable pointers to each array's elements for the duration of `body`.
func withPointers<T, R>(_ arrays: [[T]], _ body: ([UnsafePointer<T>]) -> R) -> R {
    let buffers = arrays.map { a -> UnsafeMutablePointer<T> in
        let p = UnsafeMutablePointer<T>.allocate(capacity: max(a.count, 1))
        p.initialize(from: a, count: a.count)
        return p
    }
    defer { for (p, a) in zip(buffers, arrays) { p.deinitialize(count: a.count); p.deallocate() } }
    return body(buffers.map { UnsafePointer($0) })
}

@Suite struct ActivationPadTests {
    @Test func lookupTable() {
        var r = SplitMix64(seed: 0x707)
        let table = r.int8s(256)
        for count in [0, 1, 3, 4, 17, 1000] {
            let x = r.int8s(count)
            var fast = [Int8](repeating: 0, count: count), ref = [Int8](repeating: 1, count: count)
            LookupTableInt8.run(input: x, output: &fast, count: count, table: table)
            LookupTableInt8.reference(input: x, output: &ref, count: count, table: table)
            #expect(fast == ref)
            for i in 0..<count { #expect(fast[i] == table[Int(x[i]) + 128]) }
        }
    }

    @Test(arguments: ActivationFloat.Function.allCases)
    func float(_ f: ActivationFloat.Function) {
        var r = SplitMix64(seed: UInt64(f.rawValue))
        let x = r.floats(1000, -8...8) + [0, -0.0, 3, -3, 6, -6, 20, -20, 88, -88]
        let (alpha, beta): (Float, Float) = f == .hardSigmoid ? (0.2, 0.5) : (f == .leakyRelu ? 0.01 : 0, 0)
        let (lo, hi): (Float, Float) = f == .clip ? (0, 6) : (-.infinity, .infinity)
        let act = ActivationFloat(function: f, alpha: alpha, beta: beta, clipMin: lo, clipMax: hi)
        var y = [Float](repeating: .nan, count: x.count)
        act.run(input: x, output: &y, count: x.count)
        for i in 0..<x.count {
            let want = ActivationFloat.reference(function: f, alpha: alpha, beta: beta, clipMin: lo, clipMax: hi, Double(x[i]))
            #expect(abs(Double(y[i]) - want) <= 2e-6 * max(1, abs(want)), "\(f) at x = \(x[i]): \(y[i]) vs \(want)")
        }
        // Values from SPEC's table by hand.
        let v = { (x: Float) in act.value(x) }
        switch f {
        case .relu: #expect(v(-2) == 0 && v(3) == 3)
        case .leakyRelu: #expect(v(-2) == -0.02 && v(3) == 3)
        case .clip: #expect(v(-1) == 0 && v(7) == 6 && v(2.5) == 2.5)
        case .hardSwish: #expect(v(-3) == 0 && v(3) == 3 && v(0) == 0 && v(1) == Float(1) * (Float(1) / 6 + 0.5))
        case .hardSigmoid: #expect(v(0) == 0.5 && v(5) == 1 && v(-5) == 0)
        case .sigmoid: #expect(v(0) == 0.5)
        case .silu: #expect(v(0) == 0)
        case .tanh: #expect(v(0) == 0)
        }
    }

    @Test(arguments: 0..<20)
    func pad(_ i: Int) {
        var r = SplitMix64(seed: 0xFAD &+ UInt64(i))
        let g = PadGeometry(height: r.int(1...6), width: r.int(1...6), channels: r.int(1...20),
                            padTop: r.int(0...3), padLeft: r.int(0...3), padBottom: r.int(0...3), padRight: r.int(0...3))
        let x = r.int8s(g.inputCount)
        let value = Int8(truncatingIfNeeded: r.zeroPoint())
        var fast = [Int8](repeating: 0, count: g.outputCount), ref = [Int8](repeating: 1, count: g.outputCount)
        PadInt8(geometry: g, value: value).run(input: x, output: &fast)
        PadInt8.reference(geometry: g, value: value, input: x, output: &ref)
        #expect(fast == ref, "seed \(i) \(g)")
        let xf = r.floats(g.inputCount)
        var ff = [Float](repeating: 0, count: g.outputCount), rf = [Float](repeating: 1, count: g.outputCount)
        PadFloat(geometry: g, value: -2.5).run(input: xf, output: &ff)
        PadFloat.reference(geometry: g, value: -2.5, input: xf, output: &rf)
        #expect(ff == rf, "seed \(i) \(g)")
    }

    @Test func padByHand() {
        var y = [Int8](repeating: 0, count: 6)
        PadInt8(geometry: PadGeometry(height: 1, width: 1, channels: 1, padTop: 1, padLeft: 0, padBottom: 0, padRight: 2), value: -7)
            .run(input: [5], output: &y)
        #expect(y == [-7, -7, -7, 5, -7, -7])
    }
}
