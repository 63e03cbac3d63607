// `roentgen inspect MODEL`: what is in a model file, after the same checks classify makes, and the
// arena this runtime plans for it (activations at the file's offsets, each op's kernel scratch).

import ArgumentParser
import Foundation
import Roentgen
import RoentgenFormat
import RoentgenKernels

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a model's format, input, labels, provenance, ops and memory plan.")

    @Argument(help: "The model file (.rtg).") var model: String
    @Flag(help: "One JSON object.") var json = false

    func run() throws {
        let loaded = try loadModel(model)
        let file = loaded.file
        // Preparing the ops is how the runtime learns each kernel's scratch (weights are packed too).
        let interpreter = Interpreter(model: file)
        let plan = interpreter.arenaPlan
        if json {
            print(JSON.line(jsonFields(file, plan: plan, variant: interpreter.kernelVariant)))
            return
        }
        let input = file.input
        print("\(model): Roentgen model format \(file.versionMajor).\(file.versionMinor), \(file.precision), \(file.fileSize) bytes, sha256 \(SHA256.hex(file.checksum))")
        print("input: \(input.height)x\(input.width)x\(input.channels) (\(input.channels == 1 ? "grayscale" : "RGB")), bilinear resize, mean \(input.mean), std \(input.std)")
        print("output: \(file.tensors[input.outputTensor].name) \(input.outputKind == .logits ? "(logits)" : "(linear-SVM decision values)")")
        print("labels (\(file.labels.count)): \(file.labels.joined(separator: ", "))")
        if let c = file.confidence {
            print("confidence: temperature \(c.temperature), uncertain below \(c.minConfidence)"
                  + (c.rejectClass.map { ", or when \"\(file.labels[$0])\" (the reject class) is at least as likely" } ?? ""))
        } else {
            print("confidence: uncalibrated (temperature 1, never uncertain unless --min-confidence)")
        }
        print("provenance:")
        for (key, value) in file.provenance { print("  \(key): \(value)") }
        print("ops (\(file.ops.count)):")
        let width = String(file.ops.count - 1).count
        for op in file.ops {
            let y = file.tensors[op.output]
            let inputs = op.inputs.filter { file.tensors[$0].isActivation }.map { file.tensors[$0].name }
            var line = "  " + String(op.index).leftPadded(width) + " " + op.kind.name.padding(toLength: 10, withPad: " ", startingAt: 0)
            line += " \(inputs.joined(separator: ", ")) -> \(y.name) \(y.shape) \(y.dtype.name)"
            let attributes = OpDescription.attributes(op, file)
            if !attributes.isEmpty { line += "  " + attributes }
            let constants = OpDescription.constantBytes(op, file)
            line += "  | activation \(y.byteCount) B"
            if constants > 0 { line += ", constants \(constants) B" }
            if !plan.scratch[op.index].isEmpty { line += ", scratch \(plan.scratch[op.index].count) B at \(plan.scratch[op.index].lowerBound)" }
            print(line)
        }
        print("weight_bytes: \(file.weightBytes) (every constant)")
        print("activation_bytes: \(plan.activationBytes) (the file's plan, \(file.activationCount) activations)")
        print("scratch_bytes: \(plan.scratch.map(\.count).max() ?? 0) largest of one op, \(plan.scratchBeyondActivations) beyond the activations")
        print("arena_bytes: \(plan.totalBytes)")
        print("kernel: \(interpreter.kernelVariant) (this CPU supports: \(KernelVariant.allCases.filter(\.isSupported).map(\.rawValue).joined(separator: ", ")); ROENTGEN_KERNEL overrides)")
    }

    private func jsonFields(_ file: ModelFile, plan: ArenaPlan, variant: KernelVariant) -> [(String, JSON)] {
        let input = file.input
        func tensor(_ t: TensorInfo) -> JSON {
            .object([("name", .string(t.name)), ("shape", .array(t.shape.map { .int($0) })), ("dtype", .string(t.dtype.name))])
        }
        let ops: [JSON] = file.ops.map { op in
            let y = file.tensors[op.output]
            let attributes: [(String, JSON)] = op.attributes.map { a in
                (a.id.name, a.id.type == .float32 ? .float(a.float) : .int(a.int))
            }
            return .object([
                ("index", .int(op.index)), ("kind", .string(op.kind.name)),
                ("inputs", .array(op.inputs.filter { file.tensors[$0].isActivation }.map { tensor(file.tensors[$0]) })),
                ("constants", .array(op.inputs.filter { file.tensors[$0].isConstant }.map { tensor(file.tensors[$0]) })),
                ("output", tensor(y)),
                ("attributes", .object(attributes)),
                ("summary", .string(OpDescription.attributes(op, file))),
                ("constant_bytes", .int(OpDescription.constantBytes(op, file))),
                ("activation_bytes", .int(y.byteCount)),
                ("activation_offset", .int(plan.activations[op.output]!.lowerBound)),
                ("scratch_bytes", .int(plan.scratch[op.index].count)),
                ("scratch_offset", plan.scratch[op.index].isEmpty ? .null : .int(plan.scratch[op.index].lowerBound)),
            ])
        }
        return [
            ("path", .string(model)),
            ("format_version", .string("\(file.versionMajor).\(file.versionMinor)")),
            ("precision", .string(file.precision)),
            ("file_bytes", .int(file.fileSize)),
            ("sha256", .string(SHA256.hex(file.checksum))),
            ("input", .object([("channels", .int(input.channels)), ("height", .int(input.height)), ("width", .int(input.width)),
                               ("resize", .string("bilinear")), ("mean", .array(input.mean.map { .float($0) })),
                               ("std", .array(input.std.map { .float($0) }))])),
            ("output", .object([("name", .string(file.tensors[input.outputTensor].name)),
                                ("kind", .string(input.outputKind == .logits ? "logits" : "decision_values"))])),
            ("labels", .array(file.labels.map { .string($0) })),
            ("confidence", file.confidence.map { .object([("temperature", .float($0.temperature)), ("min_confidence", .float($0.minConfidence)),
                                                               ("reject_class", $0.rejectClass.map { .int($0) } ?? .null)]) } ?? .null),
            ("provenance", .object(file.provenance.map { ($0.key, .string($0.value)) })),
            ("ops", .array(ops)),
            ("weight_bytes", .int(file.weightBytes)),
            ("activation_bytes", .int(plan.activationBytes)),
            ("scratch_beyond_activations_bytes", .int(plan.scratchBeyondActivations)),
            ("arena_bytes", .int(plan.totalBytes)),
            ("kernel", .string(variant.rawValue)),
        ]
    }
}

/// An op's attributes as a person reads them: the window, groups, the fused activation or clip.
enum OpDescription {
    static func attributes(_ op: OpInfo, _ file: ModelFile) -> String {
        let int8 = file.tensors[op.output].dtype == .int8
        var parts: [String] = []
        switch op.kind {
        case .conv2d:
            parts.append(op.window.description)
            if op.int(.groups) != 1 { parts.append("groups \(op.int(.groups))") }
            parts += epilogue(op, int8: int8, slope: true)
        case .dense:
            parts += epilogue(op, int8: int8, slope: true)
        case .maxpool2d:
            parts.append(op.window.description)
        case .avgpool2d:
            parts.append(op.window.description)
            if op.int(.countIncludePad) != 0 { parts.append("count_include_pad") }
        case .add, .mul:
            parts += epilogue(op, int8: int8, slope: false)
        case .activation:
            parts.append(function(op))
        case .pad:
            parts.append("pad \(op.int(.padTop)),\(op.int(.padLeft)),\(op.int(.padBottom)),\(op.int(.padRight))")
            parts.append(int8 ? "value_q \(op.int(.valueQ))" : "value \(op.float(.value))")
        case .concat:
            parts.append("\(op.inputs("x").count) inputs")
        case .quantize, .dequantize, .mean, .reshape:
            break
        }
        return parts.joined(separator: " ")
    }

    /// The fused leaky ReLU (alpha: 1 none, 0 ReLU) and the clip: out_min / out_max for int8,
    /// clip_min / clip_max for f32 (a DENSE int8 -> f32 applies them to its float result).
    static func epilogue(_ op: OpInfo, int8: Bool, slope: Bool) -> [String] {
        var parts: [String] = []
        if slope {
            let alpha = op.float(.alpha)
            if alpha == 0 { parts.append("+relu") } else if alpha != 1 { parts.append("+leaky_relu(\(alpha))") }
        }
        if int8 {
            if op.int(.outMin) != -128 || op.int(.outMax) != 127 { parts.append("+clamp[\(op.int(.outMin)), \(op.int(.outMax))]") }
        } else if op.float(.clipMin) != -.infinity || op.float(.clipMax) != .infinity {
            parts.append("+clip[\(op.float(.clipMin)), \(op.float(.clipMax))]")
        }
        return parts
    }

    static func function(_ op: OpInfo) -> String {
        let f = ActivationFunction(rawValue: Int32(op.int(.function)))!
        switch f {
        case .leakyRelu: return "\(f.name)(alpha \(op.float(.alpha)))"
        case .clip: return "\(f.name)[\(op.float(.clipMin)), \(op.float(.clipMax))]"
        case .hardSigmoid: return "\(f.name)(alpha \(op.float(.alpha)), beta \(op.float(.beta)))"
        default: return f.name
        }
    }

    /// Weights, biases, requant and lookup tables the op reads.
    static func constantBytes(_ op: OpInfo, _ file: ModelFile) -> Int {
        op.inputs.filter { file.tensors[$0].isConstant }.reduce(0) { $0 + file.tensors[$1].byteCount }
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}
