// Per-layer error between an int8 (or mixed) model and its float model: after each op of the int8
// model, its output (dequantized with the tensor's scale and zero point) is compared with the float
// model's activation of the same name on the same image. Both files use the converter's layer names;
// the int8 file's extra tensors (`input.q`, `<layer>.q`, `<layer>.dq`) have no float twin, except a
// QUANTIZE output, which is compared with its float input: the error the quantization step adds
// (for `input.q`, the error of quantizing the image), used as the baseline of the next layer.
//
// Runs through `Interpreter.invoke(afterEach:)`, so the fixed arena and the prepared kernels are the
// ones classification uses; the float activations are copied out after each float op.

import Foundation
import RoentgenFormat

/// One compared layer, accumulated over images.
public struct LayerError: Sendable {
    public let name: String
    /// Index of the op in the int8 file.
    public let opIndex: Int
    public let kind: String
    /// The dtype the int8 file computes this layer in (`int8`, or `float32` in a mixed model).
    public let dtype: String
    /// A QUANTIZE step (the error of quantizing a float tensor), not a layer of the network.
    public let isQuantizeStep: Bool
    public internal(set) var images = 0
    public internal(set) var sqnrSum = 0.0
    public internal(set) var cosineSum = 0.0
    public internal(set) var minSQNR = Double.infinity
    public internal(set) var maxAbsError = 0.0

    public init(name: String, opIndex: Int, kind: String, dtype: String, isQuantizeStep: Bool) {
        self.name = name; self.opIndex = opIndex; self.kind = kind; self.dtype = dtype; self.isQuantizeStep = isQuantizeStep
    }

    /// Adds one image's statistics.
    public mutating func add(_ s: LayerComparator.Statistics) {
        images += 1
        sqnrSum += s.sqnr
        cosineSum += s.cosine
        minSQNR = min(minSQNR, s.sqnr)
        maxAbsError = max(maxAbsError, s.maxAbsError)
    }

    /// Mean over images of the SQNR in dB, each clamped to +-`LayerComparator.sqnrCap`.
    public var meanSQNR: Double { images > 0 ? sqnrSum / Double(images) : .nan }
    public var meanCosine: Double { images > 0 ? cosineSum / Double(images) : .nan }
}

public final class LayerComparator {
    /// SQNR of an exact match (no noise), and the floor for an all-noise layer, in dB.
    public static let sqnrCap = 100.0

    public let float: Interpreter
    public let int8: Interpreter
    public private(set) var layers: [LayerError] = []

    /// Per int8 op: the row in `layers`, or nil when the op's output has no float twin.
    private var rowOfOp: [Int?]
    /// Per int8 op with a row: the float tensor it is compared with.
    private var floatTensorOfOp: [Int?]
    /// Per float op: the slot in `captured` its output is copied to, or nil.
    private var slotOfFloatOp: [Int?]
    private var slotOfFloatTensor: [Int: Int] = [:]
    private var captured: [[Float]] = []

    /// Pairs layers by tensor name. Throws when no layer matches or a matched pair's shapes differ.
    public init(float: Interpreter, int8: Interpreter) throws(RoentgenError) {
        self.float = float
        self.int8 = int8
        let ft = float.model.tensors, it = int8.model.tensors
        var floatByName: [String: Int] = [:]
        for op in float.model.ops { floatByName[ft[op.output].name] = op.output }
        floatByName[ft[float.model.input.inputTensor].name] = float.model.input.inputTensor
        rowOfOp = Array(repeating: nil, count: int8.model.ops.count)
        floatTensorOfOp = Array(repeating: nil, count: int8.model.ops.count)
        slotOfFloatOp = Array(repeating: nil, count: float.model.ops.count)
        for op in int8.model.ops {
            let y = it[op.output]
            let isQuantize = op.kind == .quantize
            // A QUANTIZE step is compared with the float tensor it quantizes.
            let twinName = isQuantize ? it[op.inputs[0]].name : y.name
            guard let twin = floatByName[twinName] else { continue }
            guard ft[twin].shape == y.shape else {
                throw RoentgenError(path: int8.model.ops.isEmpty ? "" : y.name,
                                    message: "layer \"\(y.name)\" has shape \(y.shape) in the int8 model but \(ft[twin].shape) in the float model")
            }
            rowOfOp[op.index] = layers.count
            floatTensorOfOp[op.index] = twin
            layers.append(LayerError(name: y.name, opIndex: op.index, kind: op.kind.name, dtype: y.dtype.name,
                                     isQuantizeStep: isQuantize))
            if slotOfFloatTensor[twin] == nil {
                slotOfFloatTensor[twin] = captured.count
                captured.append([Float](repeating: 0, count: ft[twin].elementCount))
            }
        }
        guard layers.contains(where: { !$0.isQuantizeStep }) else {
            throw RoentgenError(path: "", message: "no layer of the int8 model has a float twin of the same name: are these two conversions of the same network?")
        }
        for op in float.model.ops { slotOfFloatOp[op.index] = slotOfFloatTensor[op.output] }
    }

    /// Runs both models on the inputs already in their arenas (see `Interpreter.input`) and adds
    /// one image to every layer's statistics. Afterwards both arenas hold the normal results
    /// (the logits are those `invoke()` gives). Fill the inputs before every call: the plan may reuse
    /// the input's memory after op 0.
    public func compare() {
        let fm = float.model
        if let slot = slotOfFloatTensor[fm.input.inputTensor] {
            copy(fm.input.inputTensor, from: float, into: slot)
        }
        float.invoke { op in
            if let slot = slotOfFloatOp[op.index] { copy(op.output, from: float, into: slot) }
        }
        int8.invoke { op in
            guard let row = rowOfOp[op.index], let twin = floatTensorOfOp[op.index] else { return }
            let stats = captured[slotOfFloatTensor[twin]!].withUnsafeBufferPointer { reference in
                LayerComparator.statistics(reference: reference, tensor: int8.model.tensors[op.output], arena: int8.arena)
            }
            layers[row].add(stats)
        }
    }

    private func copy(_ tensor: Int, from interpreter: Interpreter, into slot: Int) {
        let t = interpreter.model.tensors[tensor]
        captured[slot].withUnsafeMutableBufferPointer { out in
            LayerComparator.read(t, arena: interpreter.arena, into: out)
        }
    }

    /// A tensor's real values: float32 as is, int8 dequantized (`scale * (q - zeroPoint)`).
    static func read(_ t: TensorInfo, arena: Arena, into out: UnsafeMutableBufferPointer<Float>) {
        let n = t.elementCount
        if t.dtype == .int8 {
            let q = arena.pointer(t.index, as: Int8.self)
            let s = t.quantization!.scales[0], z = t.quantization!.zeroPoints[0]
            for i in 0..<n { out[i] = Float(Int32(q[i]) - z) * s }
        } else {
            let f = arena.pointer(t.index, as: Float.self)
            for i in 0..<n { out[i] = f[i] }
        }
    }

    public struct Statistics: Sendable {
        public let sqnr: Double
        public let cosine: Double
        public let maxAbsError: Double
        public init(sqnr: Double, cosine: Double, maxAbsError: Double) {
            self.sqnr = sqnr; self.cosine = cosine; self.maxAbsError = maxAbsError
        }
    }

    /// SQNR = 10 log10(sum f^2 / sum (f - q)^2) in dB, clamped to +-`sqnrCap` (an exact match is
    /// +cap); cosine similarity = f.q / (|f| |q|), 1 when both are all zero, 0 when one is.
    public static func statistics(reference f: UnsafeBufferPointer<Float>, values q: UnsafeBufferPointer<Float>) -> Statistics {
        var signal = 0.0, noise = 0.0, dot = 0.0, qq = 0.0, maxErr = 0.0
        for i in 0..<min(f.count, q.count) {
            let a = Double(f[i]), b = Double(q[i]), d = a - b
            signal += a * a; noise += d * d; dot += a * b; qq += b * b
            maxErr = max(maxErr, abs(d))
        }
        return finish(signal: signal, noise: noise, dot: dot, qq: qq, maxErr: maxErr)
    }

    static func statistics(reference f: UnsafeBufferPointer<Float>, tensor t: TensorInfo, arena: Arena) -> Statistics {
        var signal = 0.0, noise = 0.0, dot = 0.0, qq = 0.0, maxErr = 0.0
        let n = min(f.count, t.elementCount)
        if t.dtype == .int8 {
            let q = arena.pointer(t.index, as: Int8.self)
            let s = t.quantization!.scales[0], z = t.quantization!.zeroPoints[0]
            for i in 0..<n {
                let a = Double(f[i]), b = Double(Float(Int32(q[i]) - z) * s), d = a - b
                signal += a * a; noise += d * d; dot += a * b; qq += b * b
                maxErr = max(maxErr, abs(d))
            }
        } else {
            let q = arena.pointer(t.index, as: Float.self)
            for i in 0..<n {
                let a = Double(f[i]), b = Double(q[i]), d = a - b
                signal += a * a; noise += d * d; dot += a * b; qq += b * b
                maxErr = max(maxErr, abs(d))
            }
        }
        return finish(signal: signal, noise: noise, dot: dot, qq: qq, maxErr: maxErr)
    }

    private static func finish(signal: Double, noise: Double, dot: Double, qq: Double, maxErr: Double) -> Statistics {
        let sqnr: Double
        if noise == 0 { sqnr = sqnrCap }
        else if signal == 0 { sqnr = -sqnrCap }
        else { sqnr = min(max(10 * log10(signal / noise), -sqnrCap), sqnrCap) }
        let cosine: Double
        if signal == 0 && qq == 0 { cosine = 1 }
        else if signal == 0 || qq == 0 { cosine = 0 }
        else { cosine = dot / (signal.squareRoot() * qq.squareRoot()) }
        return Statistics(sqnr: sqnr, cosine: cosine, maxAbsError: maxErr)
    }

    /// The layer where the error jumps most: the largest drop of mean SQNR from the row before it in
    /// op order (a QUANTIZE step counts as a row before, so the first layer is measured against the
    /// error of quantizing the image; a first row with nothing before is measured against +cap).
    /// Returns the index into `layers` and the drop in dB; QUANTIZE steps are never named.
    public func worstLayer() -> (index: Int, drop: Double)? {
        LayerComparator.worstLayer(layers)
    }

    public static func worstLayer(_ layers: [LayerError]) -> (index: Int, drop: Double)? {
        var best: (index: Int, drop: Double)? = nil
        var previous = sqnrCap
        for (i, layer) in layers.enumerated() where layer.images > 0 {
            let drop = previous - layer.meanSQNR
            if !layer.isQuantizeStep && (best == nil || drop > best!.drop) { best = (i, drop) }
            previous = layer.meanSQNR
        }
        return best
    }
}
