// Builds small format 2.0 graphs around one op with the Swift writer, runs them on every kernel
// variant this CPU supports with 1 and 2 threads, and hands the outputs to the test.
//
//   image f32 [1, 1, N/3, 3] -> RESHAPE -> x f32 [1, H, W, C] -> (QUANTIZE -> int8 x) -> op(s) ... ->
//   (DEQUANTIZE) -> RESHAPE -> logits f32 [1, elements]
//
// The graph input must have 1 or 3 channels, so feature maps of any channel count come from a
// RESHAPE of the image. Values are seeded; a failing test names its seed.

import Foundation
import Roentgen
import RoentgenFormat
import RoentgenTestSupport
import RoentgenKernels

struct TestRNG {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
    mutating func int(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(next() % UInt64(range.count)) }
    mutating func float(_ lo: Float, _ hi: Float) -> Float { lo + (hi - lo) * Float(next() >> 40) / Float(1 << 24) }
    mutating func int8s(_ n: Int, _ range: ClosedRange<Int> = -127...127) -> [Int8] { (0..<n).map { _ in Int8(int(range)) } }
    mutating func floats(_ n: Int, _ lo: Float = -1, _ hi: Float = 1) -> [Float] { (0..<n).map { _ in float(lo, hi) } }
}

struct OpGraph {
    var draft: ModelDraft
    var rng: TestRNG
    let seed: UInt64
    /// The image written into the graph input.
    let image: [Float]
    /// The f32 feature map [1, H, W, C] (a RESHAPE of the image) and its values.
    let x: Int
    let xValues: Map<Float>

    init(_ shape: [Int], seed: UInt64, precision: String = "int8") {
        let n = shape.reduce(1, *)
        let channels = n % 3 == 0 ? 3 : 1
        draft = ModelDraft(channels: channels, height: 1, width: n / channels, precision: precision)
        rng = TestRNG(seed: seed)
        self.seed = seed
        let input = draft.activation("image", .float32, [1, 1, n / channels, channels])
        draft.inputTensor = input
        image = rng.floats(n, -2, 2)
        x = draft.activation("x", .float32, [1] + shape)
        draft.op(.reshape, [input], x)
        xValues = Map(values: image, shape: shape)
    }

    private var names = 0
    mutating func name(_ base: String) -> String { names += 1; return "\(base)\(names)" }

    /// QUANTIZE of the feature map with this scale and zero point, and the values it holds.
    mutating func quantized(scale: Float, zeroPoint: Int32) -> (tensor: Int, values: Map<Int8>) {
        let t = draft.activation(name("q"), .int8, [1] + xValues.shape, scale: scale, zeroPoint: zeroPoint)
        draft.op(.quantize, [x], t)
        return (t, Map(values: xValues.values.map { Spec.quantize($0, scale, zeroPoint) }, shape: xValues.shape))
    }

    /// An int8 activation of `shape` (batch included).
    mutating func int8(_ shape: [Int], scale: Float, zeroPoint: Int32) -> Int {
        draft.activation(name("t"), .int8, shape, scale: scale, zeroPoint: zeroPoint)
    }

    mutating func float(_ shape: [Int]) -> Int { draft.activation(name("f"), .float32, shape) }

    /// The converter's requant table `[rows, 2]` for these real multipliers.
    mutating func requantRows(_ multipliers: [Double]) -> (tensor: Int, values: [Int32]) {
        let values = multipliers.flatMap { let p = Spec.requantPair($0); return [p.m, p.shift] }
        return (draft.constant(name("requant"), int32: values, [multipliers.count, 2]), values)
    }

    /// Makes `t` the graph output (through DEQUANTIZE when int8) and returns the finished file.
    mutating func finish(_ t: Int) -> ModelFile {
        var y = t
        let elements = draft.tensors[t].shape.reduce(1, *)
        if draft.tensors[t].dtype == .int8 {
            y = float(draft.tensors[t].shape)
            draft.op(.dequantize, [t], y)
        }
        let logits = draft.activation("logits", .float32, [1, elements])
        draft.op(.reshape, [y], logits)
        draft.outputTensor = logits
        draft.labels = (0..<elements).map { "c\($0)" }
        let bytes = draft.encode()
        do {
            return try bytes.withUnsafeBytes { raw in try ModelReader.parse(raw) }
        } catch {
            fatalError("seed \(seed): the test graph does not load: \(error)")
        }
    }

    /// The output of `model` on `image` for every supported kernel variant and 1 and 2 threads.
    static func outputs(_ model: ModelFile, image: [Float]) -> [(label: String, values: [Float])] {
        var results: [(String, [Float])] = []
        for variant in KernelVariant.allCases where variant.isSupported {
            for threads in [1, 2] {
                let interpreter = Interpreter(model: model, threads: threads, kernelVariant: variant)
                interpreter.input.update(from: image, count: image.count)
                interpreter.invoke()
                results.append(("\(variant.rawValue), \(threads) thread(s)", Array(interpreter.logits)))
            }
        }
        return results
    }

    func dequantized(_ values: [Int8], _ tensor: Int) -> [Float] {
        let q = draft.tensors[tensor]
        return values.map { Spec.dequantize($0, q.scales[0], q.zeroPoints[0]) }
    }
}

extension OpGraph {
    /// One graph with every op kind of `precision` (int8: QUANTIZE first, DEQUANTIZE last), chained:
    /// a workout for the allocation tests.
    static func everyOp(precision: String, seed: UInt64 = 0xE7) -> (OpGraph, ModelFile) {
        var g = OpGraph([8, 8, 6], seed: seed, precision: precision)
        let int8 = precision == "int8"
        var tensor: Int
        var shape = [1, 8, 8, 6]
        func next(_ g: inout OpGraph, _ shape: [Int]) -> Int { int8 ? g.int8(shape, scale: 1.0 / 32, zeroPoint: 0) : g.float(shape) }
        func requant(_ g: inout OpGraph, _ rows: Int, _ pairs: Int) -> Int {
            g.draft.constant(g.name("rq"), int32: Array(repeating: [1 << 30, 31], count: rows * pairs).flatMap { $0 }, [rows, 2 * pairs])
        }
        tensor = int8 ? g.quantized(scale: 1.0 / 32, zeroPoint: 0).tensor : g.x
        // CONV2D 6 -> 12, then depthwise
        for (oc, groups) in [(12, 1), (12, 12)] {
            let icg = shape[3] / groups
            let w = int8 ? g.draft.constant(g.name("w"), int8: g.rng.int8s(oc * 9 * icg), [oc, 3, 3, icg], scales: [Float](repeating: 0.01, count: oc))
                         : g.draft.constant(g.name("w"), float: g.rng.floats(oc * 9 * icg), [oc, 3, 3, icg])
            let b = int8 ? g.draft.constant(g.name("b"), int32: [Int32](repeating: 1, count: oc), [oc], scales: [Float](repeating: 0.01 / 32, count: oc))
                         : g.draft.constant(g.name("b"), float: g.rng.floats(oc), [oc])
            shape = [1, 8, 8, oc]
            let y = next(&g, shape)
            var inputs = [tensor, w, b]
            if int8 { inputs.append(g.draft.constant(g.name("r"), int32: Array(repeating: [1 << 30, 36, 1 << 30, 36], count: oc).flatMap { $0 }, [oc, 4])) }
            g.draft.op(.conv2d, inputs, y, [.kernelH: 3, .kernelW: 3, .padTop: 1, .padLeft: 1, .padBottom: 1, .padRight: 1, .groups: Double(groups)])
            tensor = y
        }
        let pool: [AttributeID: Double] = [.kernelH: 2, .kernelW: 2, .strideH: 2, .strideW: 2]
        shape = [1, 4, 4, 12]
        let maxed = next(&g, shape)
        g.draft.op(.maxpool2d, [tensor], maxed, pool)
        let averaged = next(&g, shape)
        g.draft.op(.avgpool2d, int8 ? [tensor, requant(&g, 4, 1)] : [tensor], averaged, pool)
        let padded = next(&g, [1, 6, 6, 12])
        g.draft.op(.pad, [averaged], padded, [.padTop: 1, .padLeft: 1, .padBottom: 1, .padRight: 1])
        let cropped = next(&g, shape)
        g.draft.op(.maxpool2d, [padded], cropped, [.kernelH: 3, .kernelW: 3])
        let activated = next(&g, shape)
        g.draft.op(.activation, int8 ? [cropped, g.draft.constant(g.name("lut"), int8: g.rng.int8s(256), [256])] : [cropped], activated, [.function: 4])
        let sum = next(&g, shape)
        g.draft.op(.add, int8 ? [activated, maxed, g.draft.constant(g.name("add"), int32: [1 << 29, 1 << 29, 30], [3])] : [activated, maxed], sum)
        let gate = next(&g, [1, 1, 1, 12])
        g.draft.op(.mean, int8 ? [sum, requant(&g, 1, 1)] : [sum], gate)
        let product = next(&g, shape)
        g.draft.op(.mul, int8 ? [sum, gate, g.draft.constant(g.name("mul"), int32: [1 << 30, 35], [2])] : [sum, gate], product)
        let joined = next(&g, [1, 4, 4, 36])
        g.draft.op(.concat, int8 ? [product, sum, maxed, requant(&g, 3, 1)] : [product, sum, maxed], joined)
        let flat = next(&g, [1, 576])
        g.draft.op(.reshape, [joined], flat)
        let logits = next(&g, [1, 5])
        if int8 {
            g.draft.op(.dense, [flat, g.draft.constant(g.name("dw"), int8: g.rng.int8s(5 * 576), [5, 576], scales: [Float](repeating: 0.01, count: 5)),
                                g.draft.constant(g.name("db"), int32: [Int32](repeating: 0, count: 5), [5], scales: [Float](repeating: 0.01 / 32, count: 5)),
                                g.draft.constant(g.name("dr"), int32: Array(repeating: [1 << 30, 40, 1 << 30, 40], count: 5).flatMap { $0 }, [5, 4])], logits)
        } else {
            g.draft.op(.dense, [flat, g.draft.constant(g.name("dw"), float: g.rng.floats(5 * 576), [5, 576]), g.draft.constant(g.name("db"), float: g.rng.floats(5), [5])], logits)
        }
        let model = g.finish(logits)
        return (g, model)
    }
}
