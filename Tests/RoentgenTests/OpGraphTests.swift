// Every op through the whole runtime (reader, prepared op, arena, kernel): a small graph per case,
// run on every kernel variant with 1 and 2 threads. int8 outputs equal SPEC's arithmetic
// (SpecArithmetic.swift) bit for bit; f32 outputs match a float64 evaluation to rounding.

import Foundation
import Testing
import Roentgen
import RoentgenFormat

@Suite struct OpGraphTests {
    // MARK: checks

    func expectExact(_ graph: OpGraph, _ model: ModelFile, _ expected: [Float]) {
        for (label, got) in OpGraph.outputs(model, image: graph.image) {
            #expect(got.count == expected.count, "seed \(graph.seed), \(label): \(got.count) outputs")
            let wrong = zip(got, expected).enumerated().filter { $0.element.0.bitPattern != $0.element.1.bitPattern }
            #expect(wrong.isEmpty, "seed \(graph.seed), \(label): \(wrong.count) of \(expected.count) differ, first at \(wrong.first.map { "\($0.offset): \($0.element.0) vs \($0.element.1)" } ?? "")")
        }
    }

    func expectClose(_ graph: OpGraph, _ model: ModelFile, _ expected: [Double], tolerance: Double = 1e-4) {
        for (label, got) in OpGraph.outputs(model, image: graph.image) {
            #expect(got.count == expected.count, "seed \(graph.seed), \(label)")
            let worst = zip(got, expected).map { abs(Double($0) - $1) / (1 + abs($1)) }.max() ?? 0
            #expect(worst <= tolerance, "seed \(graph.seed), \(label): relative error \(worst)")
        }
    }

    // MARK: CONV2D

    struct ConvCase: Sendable, CustomTestStringConvertible {
        var shape: [Int], oc: Int, kernel: Int, stride: Int = 1, dilation: Int = 1
        var pads = [1, 1, 1, 1], groups = 1, leaky = false, outMin = -128, outMax = 127
        var testDescription: String { "\(shape) -> \(oc) k\(kernel) s\(stride) d\(dilation) pads \(pads) g\(groups)\(leaky ? " leaky" : "")" }
        var window: Window {
            Window(kernelHeight: kernel, kernelWidth: kernel, strideHeight: stride, strideWidth: stride, dilationHeight: dilation,
                   dilationWidth: dilation, padTop: pads[0], padLeft: pads[1], padBottom: pads[2], padRight: pads[3])
        }
        var attributes: [AttributeID: Double] {
            [.kernelH: Double(kernel), .kernelW: Double(kernel), .strideH: Double(stride), .strideW: Double(stride),
             .dilationH: Double(dilation), .dilationW: Double(dilation), .padTop: Double(pads[0]), .padLeft: Double(pads[1]),
             .padBottom: Double(pads[2]), .padRight: Double(pads[3]), .groups: Double(groups)]
        }
    }

    static let convCases = [
        ConvCase(shape: [6, 7, 3], oc: 5, kernel: 3),
        ConvCase(shape: [7, 6, 4], oc: 8, kernel: 3, stride: 2, pads: [0, 1, 1, 0], leaky: true),
        ConvCase(shape: [5, 5, 4], oc: 6, kernel: 3, groups: 2, outMin: -20, outMax: 90),
        ConvCase(shape: [6, 6, 8], oc: 8, kernel: 3, stride: 2, groups: 8),
        ConvCase(shape: [5, 5, 4], oc: 8, kernel: 3, groups: 4, leaky: true),
        ConvCase(shape: [9, 9, 3], oc: 4, kernel: 3, dilation: 2, pads: [2, 2, 2, 2]),
        ConvCase(shape: [4, 4, 16], oc: 24, kernel: 1, pads: [0, 0, 0, 0]),
        ConvCase(shape: [8, 8, 32], oc: 40, kernel: 3),
        ConvCase(shape: [10, 10, 3], oc: 16, kernel: 5, stride: 2, pads: [2, 1, 2, 1]),
    ]

    @Test(arguments: convCases)
    func conv2dInt8(_ k: ConvCase) throws {
        var g = OpGraph(k.shape, seed: 0xC0 &+ UInt64(k.shape.reduce(0, +) * 31 + k.oc * 7 + k.groups))
        let sx: Float = 1.0 / 32, sy: Float = 0.05
        let (xq, xv) = g.quantized(scale: sx, zeroPoint: 5)
        let icg = k.shape[2] / k.groups
        let weights = g.rng.int8s(k.oc * k.kernel * k.kernel * icg)
        let sw = (0..<k.oc).map { _ in g.rng.float(0.002, 0.02) }
        let bias = (0..<k.oc).map { _ in Int32(g.rng.int(-3000...3000)) }
        var requant: [Int32] = []
        for o in 0..<k.oc {
            let m = Double(sx) * Double(sw[o]) / Double(sy)
            let pos = Spec.requantPair(m), neg = k.leaky ? Spec.requantPair(0.1 * m) : pos
            requant += [pos.m, pos.shift, neg.m, neg.shift]
        }
        let wt = g.draft.constant("w", int8: weights, [k.oc, k.kernel, k.kernel, icg], scales: sw)
        let bt = g.draft.constant("b", int32: bias, [k.oc], scales: sw.map { sx * $0 })
        let rt = g.draft.constant("requant", int32: requant, [k.oc, 4])
        let params = Spec.Conv(window: k.window, groups: k.groups, weights: weights, bias: bias, requant: requant, outMin: k.outMin, outMax: k.outMax)
        let expected = Spec.conv2d(xv, zx: 5, params, oc: k.oc, zy: -3)
        let y = g.int8([1] + expected.shape, scale: sy, zeroPoint: -3)
        var attributes = k.attributes
        attributes[.outMin] = Double(k.outMin); attributes[.outMax] = Double(k.outMax)
        attributes[.alpha] = k.leaky ? 0.1 : 1
        g.draft.op(.conv2d, [xq, wt, bt, rt], y, attributes)
        let model = g.finish(y)
        #expect(Set(expected.values).count > 20, "the case exercises a spread of outputs")
        expectExact(g, model, g.dequantized(expected.values, y))
    }

    @Test(arguments: convCases)
    func conv2dFloat(_ k: ConvCase) throws {
        var g = OpGraph(k.shape, seed: 0xF0 &+ UInt64(k.shape.reduce(0, +) * 31 + k.oc * 7 + k.groups), precision: "f32")
        let icg = k.shape[2] / k.groups
        let weights = g.rng.floats(k.oc * k.kernel * k.kernel * icg, -0.5, 0.5)
        let bias = g.rng.floats(k.oc)
        let alpha: Float = k.leaky ? 0.1 : 1, clipMin: Float = k.outMin == -128 ? -.infinity : -0.5, clipMax: Float = k.outMax == 127 ? .infinity : 1.5
        let wt = g.draft.constant("w", float: weights, [k.oc, k.kernel, k.kernel, icg])
        let bt = g.draft.constant("b", float: bias, [k.oc])
        let expected = Spec.conv2d(g.xValues, k.window, groups: k.groups, weights: weights, bias: bias, oc: k.oc,
                                   alpha: alpha, clipMin: clipMin, clipMax: clipMax)
        let y = g.float([1] + expected.shape)
        var attributes = k.attributes
        attributes[.alpha] = Double(alpha); attributes[.clipMin] = Double(clipMin); attributes[.clipMax] = Double(clipMax)
        g.draft.op(.conv2d, [g.x, wt, bt], y, attributes)
        expectClose(g, g.finish(y), expected.values)
    }

    // MARK: DENSE

    @Test func denseInt8ToInt8() throws {
        var g = OpGraph([2, 2, 6], seed: 0xD1)
        let (xq, xv) = g.quantized(scale: 1.0 / 16, zeroPoint: -7)
        let n = 7, k = 24
        let weights = g.rng.int8s(n * k), sw = (0..<n).map { _ in g.rng.float(0.005, 0.02) }
        let bias = (0..<n).map { _ in Int32(g.rng.int(-500...500)) }
        let sy: Float = 0.03
        let requant = (0..<n).flatMap { o -> [Int32] in
            let p = Spec.requantPair(Double(1.0 / 16) * Double(sw[o]) / Double(sy)), q = Spec.requantPair(0.2 * Double(1.0 / 16) * Double(sw[o]) / Double(sy))
            return [p.m, p.shift, q.m, q.shift]
        }
        let y = g.int8([1, n], scale: sy, zeroPoint: 4)
        g.draft.op(.dense, [xq, g.draft.constant("w", int8: weights, [n, k], scales: sw), g.draft.constant("b", int32: bias, [n], scales: sw),
                            g.draft.constant("r", int32: requant, [n, 4])], y, [.alpha: 0.2, .outMin: -100, .outMax: 100])
        let model = g.finish(y)
        let expected = Spec.denseAccumulators(xv.values, zx: -7, weights: weights, bias: bias, n: n).enumerated().map { o, acc in
            let r = Array(requant[(4 * o)..<(4 * o + 4)])
            return Spec.clamp(4 + (acc >= 0 ? Spec.requantize(acc, r[0], r[1]) : Spec.requantize(acc, r[2], r[3])), -100, 100)
        }
        expectExact(g, model, g.dequantized(expected, y))
    }

    /// The logits / SVM form: `y = f32(acc) * out_scale[n]`, then the f32 epilogue.
    @Test func denseInt8ToFloat() throws {
        var g = OpGraph([3, 3, 3], seed: 0xD2)
        let (xq, xv) = g.quantized(scale: 1.0 / 20, zeroPoint: 3)
        let n = 5, k = 27
        let weights = g.rng.int8s(n * k), sw = (0..<n).map { _ in g.rng.float(0.005, 0.02) }
        let bias = (0..<n).map { _ in Int32(g.rng.int(-500...500)) }
        let outScale = sw.map { Float(1.0 / 20) * $0 }
        let y = g.float([1, n])
        g.draft.op(.dense, [xq, g.draft.constant("w", int8: weights, [n, k], scales: sw), g.draft.constant("b", int32: bias, [n], scales: outScale),
                            g.draft.constant("out_scale", float: outScale, [n])], y, [.alpha: 0.5, .clipMin: -0.25, .clipMax: 100])
        let model = g.finish(y)
        let expected = Spec.denseAccumulators(xv.values, zx: 3, weights: weights, bias: bias, n: n).enumerated().map { o, acc -> Float in
            let v = Float(acc) * outScale[o]
            return min(max(v < 0 ? v * 0.5 : v, -0.25), 100)
        }
        expectExact(g, model, expected)
    }

    @Test func denseFloat() throws {
        var g = OpGraph([2, 3, 4], seed: 0xD3, precision: "f32")
        let n = 6, k = 24
        let weights = g.rng.floats(n * k), bias = g.rng.floats(n)
        let y = g.float([1, n])
        g.draft.op(.dense, [g.x, g.draft.constant("w", float: weights, [n, k]), g.draft.constant("b", float: bias, [n])], y, [.alpha: 0])
        let expected = (0..<n).map { o in
            Spec.epilogue((0..<k).reduce(Double(bias[o])) { $0 + Double(g.xValues.values[$1]) * Double(weights[o * k + $1]) },
                          alpha: 0, clipMin: -.infinity, clipMax: .infinity)
        }
        expectClose(g, g.finish(y), expected)
    }

    // MARK: pools

    static let poolWindows = [
        Window(kernelHeight: 3, kernelWidth: 3, strideHeight: 2, strideWidth: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1),
        Window(kernelHeight: 3, kernelWidth: 3, strideHeight: 2, strideWidth: 2, ceilMode: true),
        Window(kernelHeight: 2, kernelWidth: 3, strideHeight: 2, strideWidth: 1, padTop: 0, padLeft: 1, padBottom: 1, padRight: 2, ceilMode: true),
    ]

    static func attributes(_ w: Window) -> [AttributeID: Double] {
        [.kernelH: Double(w.kernelHeight), .kernelW: Double(w.kernelWidth), .strideH: Double(w.strideHeight), .strideW: Double(w.strideWidth),
         .padTop: Double(w.padTop), .padLeft: Double(w.padLeft), .padBottom: Double(w.padBottom), .padRight: Double(w.padRight),
         .ceilMode: w.ceilMode ? 1 : 0]
    }

    @Test(arguments: poolWindows)
    func maxpool(_ window: Window) throws {
        var g = OpGraph([8, 7, 3], seed: 0x41)
        let (xq, xv) = g.quantized(scale: 1.0 / 40, zeroPoint: 0)
        let expected = Spec.maxpool(xv, window)
        let y = g.int8([1] + expected.shape, scale: 1.0 / 40, zeroPoint: 0)
        g.draft.op(.maxpool2d, [xq], y, Self.attributes(window))
        expectExact(g, g.finish(y), g.dequantized(expected.values, y))

        var f = OpGraph([8, 7, 3], seed: 0x42, precision: "f32")
        let fy = f.float([1] + expected.shape)
        f.draft.op(.maxpool2d, [f.x], fy, Self.attributes(window))
        var reference: [Float] = []
        let oh = expected.h, ow = expected.w, x = f.xValues
        for y in 0..<oh {
            for xx in 0..<ow {
                for c in 0..<x.c {
                    var best = -Float.infinity
                    for kh in 0..<window.kernelHeight {
                        for kw in 0..<window.kernelWidth {
                            let iy = y * window.strideHeight - window.padTop + kh, ix = xx * window.strideWidth - window.padLeft + kw
                            if (0..<x.h).contains(iy) && (0..<x.w).contains(ix) { best = max(best, x[iy, ix, c]) }
                        }
                    }
                    reference.append(best)
                }
            }
        }
        expectExact(f, f.finish(fy), reference)
    }

    @Test(arguments: poolWindows, [false, true])
    func avgpoolInt8(_ window: Window, includePad: Bool) throws {
        var g = OpGraph([8, 7, 3], seed: 0x43)
        let sx: Float = 1.0 / 40, sy: Float = 1.0 / 50
        let (xq, xv) = g.quantized(scale: sx, zeroPoint: 2)
        let taps = window.kernelHeight * window.kernelWidth
        let (rt, requant) = g.requantRows((1...taps).map { Double(sx) / (Double($0) * Double(sy)) })
        let expected = Spec.avgpool(xv, window, zx: 2, zy: -1, requant: requant, includePad: includePad)
        let y = g.int8([1] + expected.shape, scale: sy, zeroPoint: -1)
        var attributes = Self.attributes(window)
        attributes[.countIncludePad] = includePad ? 1 : 0
        g.draft.op(.avgpool2d, [xq, rt], y, attributes)
        expectExact(g, g.finish(y), g.dequantized(expected.values, y))
    }

    @Test(arguments: poolWindows, [false, true])
    func avgpoolFloat(_ window: Window, includePad: Bool) throws {
        var g = OpGraph([8, 7, 3], seed: 0x44, precision: "f32")
        // The same walk as the int8 reference, on the float values.
        let x = g.xValues
        let shape = Spec.maxpool(Map(values: [Int8](repeating: 0, count: x.values.count), shape: x.shape), window).shape
        var expected: [Double] = []
        for y in 0..<shape[0] {
            for xx in 0..<shape[1] {
                for c in 0..<x.c {
                    var sum = 0.0, inside = 0, padded = 0
                    for kh in 0..<window.kernelHeight {
                        for kw in 0..<window.kernelWidth {
                            let iy = y * window.strideHeight - window.padTop + kh, ix = xx * window.strideWidth - window.padLeft + kw
                            if (-window.padTop..<(x.h + window.padBottom)).contains(iy) && (-window.padLeft..<(x.w + window.padRight)).contains(ix) { padded += 1 }
                            if (0..<x.h).contains(iy) && (0..<x.w).contains(ix) { sum += Double(x[iy, ix, c]); inside += 1 }
                        }
                    }
                    expected.append(sum / Double(includePad ? padded : inside))
                }
            }
        }
        let y = g.float([1] + shape)
        var attributes = Self.attributes(window)
        attributes[.countIncludePad] = includePad ? 1 : 0
        g.draft.op(.avgpool2d, [g.x], y, attributes)
        expectClose(g, g.finish(y), expected)
    }

    @Test func mean() throws {
        var g = OpGraph([6, 5, 8], seed: 0x45)
        let sx: Float = 1.0 / 30, sy: Float = 1.0 / 90
        let (xq, xv) = g.quantized(scale: sx, zeroPoint: -4)
        let (rt, requant) = g.requantRows([Double(sx) / (30 * Double(sy))])
        let y = g.int8([1, 1, 1, 8], scale: sy, zeroPoint: 6)
        g.draft.op(.mean, [xq, rt], y)
        expectExact(g, g.finish(y), g.dequantized(Spec.mean(xv, zx: -4, zy: 6, m: requant[0], shift: requant[1]), y))

        var f = OpGraph([6, 5, 8], seed: 0x46, precision: "f32")
        let fy = f.float([1, 1, 1, 8])
        f.draft.op(.mean, [f.x], fy)
        let expected = (0..<8).map { c in (0..<30).reduce(0.0) { $0 + Double(f.xValues.values[$1 * 8 + c]) } / 30 }
        expectClose(f, f.finish(fy), expected)
    }

    // MARK: ADD, MUL

    /// b is a second quantization of x (same shape) or, broadcast, the MEAN of one.
    @Test(arguments: [false, true])
    func addInt8(broadcast: Bool) throws {
        var g = OpGraph([4, 5, 6], seed: broadcast ? 0xA2 : 0xA1)
        let (a, av) = g.quantized(scale: 1.0 / 30, zeroPoint: 3)
        var (b, bv) = g.quantized(scale: 1.0 / 50, zeroPoint: -9)
        var sb: Float = 1.0 / 50, zb: Int32 = -9
        var bValues = bv.values
        if broadcast {
            let (rt, r) = g.requantRows([Double(1.0 / 50) / (20 * Double(1.0 / 70))])
            let m = g.int8([1, 1, 1, 6], scale: 1.0 / 70, zeroPoint: 1)
            g.draft.op(.mean, [b, rt], m)
            bValues = Spec.mean(bv, zx: -9, zy: 1, m: r[0], shift: r[1])
            (b, sb, zb) = (m, 1.0 / 70, 1)
            bv = Map(values: bValues, shape: [1, 1, 6])
        }
        let sy: Float = 1.0 / 25
        var shift = 62
        let ma = Double(1.0 / 30) / Double(sy), mb = Double(sb) / Double(sy)
        while shift > 1 && (abs((ma * Spec.pow2(shift)).rounded(.toNearestOrEven)) >= 2147483648 || abs((mb * Spec.pow2(shift)).rounded(.toNearestOrEven)) >= 2147483648) { shift -= 1 }
        let requant = [Int32((ma * Spec.pow2(shift)).rounded(.toNearestOrEven)), Int32((mb * Spec.pow2(shift)).rounded(.toNearestOrEven)), Int32(shift)]
        let y = g.int8([1, 4, 5, 6], scale: sy, zeroPoint: 0)
        g.draft.op(.add, [a, b, g.draft.constant("requant", int32: requant, [3])], y, [.outMin: -60])
        let expected = Spec.add(av.values, bValues, channels: 6, za: 3, zb: zb, zy: 0, requant: requant, outMin: -60, outMax: 127)
        expectExact(g, g.finish(y), g.dequantized(expected, y))
    }

    @Test(arguments: [false, true])
    func mulInt8(broadcast: Bool) throws {
        var g = OpGraph([3, 4, 8], seed: broadcast ? 0xB2 : 0xB1)
        let (a, av) = g.quantized(scale: 1.0 / 30, zeroPoint: 3)
        let (q, qv) = g.quantized(scale: 1.0 / 60, zeroPoint: -2)
        var b = q, bValues = qv.values, sb: Float = 1.0 / 60, zb: Int32 = -2
        if broadcast {
            let (rt, r) = g.requantRows([Double(1.0 / 60) / (12 * Double(1.0 / 100))])
            let m = g.int8([1, 1, 1, 8], scale: 1.0 / 100, zeroPoint: -5)
            g.draft.op(.mean, [q, rt], m)
            bValues = Spec.mean(qv, zx: -2, zy: -5, m: r[0], shift: r[1])
            (b, sb, zb) = (m, 1.0 / 100, -5)
        }
        let sy: Float = 1.0 / 200
        let p = Spec.requantPair(Double(1.0 / 30) * Double(sb) / Double(sy))
        let y = g.int8([1, 3, 4, 8], scale: sy, zeroPoint: 1)
        g.draft.op(.mul, [a, b, g.draft.constant("requant", int32: [p.m, p.shift], [2])], y, [.outMax: 100])
        let expected = Spec.mul(av.values, bValues, channels: 8, za: 3, zb: zb, zy: 1, requant: [p.m, p.shift], outMin: -128, outMax: 100)
        expectExact(g, g.finish(y), g.dequantized(expected, y))
    }

    @Test(arguments: [OpKind.add, .mul], [false, true])
    func elementwiseFloat(_ kind: OpKind, broadcast: Bool) throws {
        var g = OpGraph([3, 4, 5], seed: 0xE0 &+ UInt64(kind.rawValue) &+ (broadcast ? 1 : 0), precision: "f32")
        var b = g.x, bValues = g.xValues.values
        if broadcast {
            b = g.float([1, 1, 1, 5])
            g.draft.op(.mean, [g.x], b)
            bValues = (0..<5).map { c in Float((0..<12).reduce(0.0) { $0 + Double(g.xValues.values[$1 * 5 + c]) } / 12) }
        }
        let y = g.float([1, 3, 4, 5])
        g.draft.op(kind, [g.x, b], y, [.clipMin: -0.5, .clipMax: 1])
        let a = g.xValues.values
        let expected = a.indices.map { i -> Double in
            let other = Double(broadcast ? bValues[i % 5] : bValues[i])
            return min(max(kind == .add ? Double(a[i]) + other : Double(a[i]) * other, -0.5), 1)
        }
        expectClose(g, g.finish(y), expected, tolerance: broadcast ? 1e-5 : 1e-6)
    }

    // MARK: CONCAT

    @Test func concatInt8() throws {
        var g = OpGraph([3, 4, 5], seed: 0xCC)
        let (a, av) = g.quantized(scale: 1.0 / 30, zeroPoint: 3)
        let (b, bv) = g.quantized(scale: 1.0 / 60, zeroPoint: -2)
        let sy: Float = 1.0 / 40, zy: Int32 = 1
        let (rt, requant) = g.requantRows([Double(1.0 / 30) / Double(sy), Double(1.0 / 60) / Double(sy), Double(1.0 / 30) / Double(sy)])
        let y = g.int8([1, 3, 4, 15], scale: sy, zeroPoint: zy)
        g.draft.op(.concat, [a, b, a, rt], y)
        func rescaled(_ m: Map<Int8>, _ z: Int32, _ row: Int) -> Map<Int8> {
            Map(values: m.values.map { Spec.clamp(Int64(zy) + Spec.requantize(Int64($0) - Int64(z), requant[2 * row], requant[2 * row + 1]), -128, 127) }, shape: m.shape)
        }
        let expected = Spec.concat([rescaled(av, 3, 0), rescaled(bv, -2, 1), rescaled(av, 3, 2)])
        expectExact(g, g.finish(y), g.dequantized(expected.values, y))
    }

    @Test func concatFloat() throws {
        var g = OpGraph([2, 3, 4], seed: 0xCD, precision: "f32")
        let m = g.float([1, 2, 3, 4])
        g.draft.op(.activation, [g.x], m, [.function: 1])   // RELU: a second, different input
        let y = g.float([1, 2, 3, 12])
        g.draft.op(.concat, [m, g.x, m], y)
        let relu = Map(values: g.xValues.values.map { max($0, 0) }, shape: g.xValues.shape)
        expectExact(g, g.finish(y), Spec.concat([relu, g.xValues, relu]).values)
    }

    // MARK: ACTIVATION, PAD, RESHAPE

    @Test func activationTableInt8() throws {
        var g = OpGraph([4, 4, 3], seed: 0xAC)
        let (xq, xv) = g.quantized(scale: 1.0 / 40, zeroPoint: -10)
        let table = g.rng.int8s(256, -128...127)
        let y = g.int8([1, 4, 4, 3], scale: 1.0 / 7, zeroPoint: 2)
        g.draft.op(.activation, [xq, g.draft.constant("table", int8: table, [256])], y, [.function: 7])
        expectExact(g, g.finish(y), g.dequantized(xv.values.map { table[Int($0) + 128] }, y))
    }

    static let functions: [(ActivationFunction, [AttributeID: Double])] = [
        (.relu, [:]), (.leakyRelu, [.alpha: 0.1]), (.clip, [.clipMin: -0.5, .clipMax: 1.25]), (.hardSwish, [:]),
        (.hardSigmoid, [.alpha: 0.2, .beta: 0.5]), (.sigmoid, [:]), (.silu, [:]), (.tanh, [:]),
    ]

    @Test(arguments: functions.indices)
    func activationFloat(_ index: Int) throws {
        let (function, parameters) = Self.functions[index]
        var g = OpGraph([4, 4, 3], seed: 0xAF &+ UInt64(index), precision: "f32")
        let y = g.float([1, 4, 4, 3])
        var attributes = parameters
        attributes[.function] = Double(function.rawValue)
        g.draft.op(.activation, [g.x], y, attributes)
        let alpha = parameters[.alpha] ?? 0, beta = parameters[.beta] ?? 0
        let expected = g.xValues.values.map { v -> Double in
            let x = Double(v)
            switch function {
            case .relu: return max(x, 0)
            case .leakyRelu: return x < 0 ? Double(Float(alpha)) * x : x
            case .clip: return min(max(x, -0.5), 1.25)
            case .hardSwish: return x * min(max(x / 6 + 0.5, 0), 1)
            case .hardSigmoid: return min(max(Double(Float(alpha)) * x + Double(Float(beta)), 0), 1)
            case .sigmoid: return 1 / (1 + exp(-x))
            case .silu: return x / (1 + exp(-x))
            case .tanh: return Foundation.tanh(x)
            }
        }
        expectClose(g, g.finish(y), expected, tolerance: 1e-6)
    }

    @Test func padInt8AndFloat() throws {
        var g = OpGraph([3, 4, 5], seed: 0xAD)
        let (xq, xv) = g.quantized(scale: 1.0 / 30, zeroPoint: 4)
        let y = g.int8([1, 3 + 1 + 2, 4 + 0 + 3, 5], scale: 1.0 / 30, zeroPoint: 4)
        g.draft.op(.pad, [xq], y, [.padTop: 1, .padLeft: 0, .padBottom: 2, .padRight: 3, .valueQ: -77])
        expectExact(g, g.finish(y), g.dequantized(Spec.pad(xv, top: 1, left: 0, bottom: 2, right: 3, value: Int8(-77)).values, y))

        var f = OpGraph([3, 4, 5], seed: 0xAE, precision: "f32")
        let fy = f.float([1, 3 + 2 + 0, 4 + 1 + 1, 5])
        f.draft.op(.pad, [f.x], fy, [.padTop: 2, .padLeft: 1, .padBottom: 0, .padRight: 1, .value: -1.5])
        expectExact(f, f.finish(fy), Spec.pad(f.xValues, top: 2, left: 1, bottom: 0, right: 1, value: Float(-1.5)).values)
    }

    @Test func reshapeKeepsTheBytes() throws {
        var g = OpGraph([2, 3, 4], seed: 0xAB)
        let (xq, xv) = g.quantized(scale: 1.0 / 30, zeroPoint: 0)
        let y = g.int8([1, 6, 4], scale: 1.0 / 30, zeroPoint: 0)
        g.draft.op(.reshape, [xq], y)
        expectExact(g, g.finish(y), g.dequantized(xv.values, y))
    }
}
