// The checks that relate records to each other (SPEC "OPS"): the input spec's tensors, each op
// against its entry of the generated op table (signature, attribute neutrals, finiteness), the
// DAG rules, and each op's shape rules (Shapes.swift). After this, kernels can run without checking.

struct GraphValidator {
    let model: ParsedModel
    var tensors: [TensorInfo] { model.tensors }

    init(_ model: ParsedModel) { self.model = model }

    func validate() throws(FormatError) -> [OpInfo] {
        try checkInputSpec()
        let graphInput = model.input.inputTensor, graphOutput = model.input.outputTensor
        guard !model.ops.isEmpty else { throw FormatError("OPS.count", "the model has no ops") }
        var written = [Bool](repeating: false, count: tensors.count)
        var read = [Bool](repeating: false, count: tensors.count)
        written[graphInput] = true
        var ops: [OpInfo] = []
        ops.reserveCapacity(model.ops.count)
        for (i, record) in model.ops.enumerated() {
            let field = "op[\(i)]"
            let signature = try matchSignature(record, field: field)
            let op = OpInfo(index: i, kind: record.kind, inputs: record.inputs, output: record.output,
                            attributes: record.attributes, signature: signature)
            try checkAttributes(op, field: field)
            // Ops run in file order: an op reads constants, the graph input and earlier outputs only.
            for (j, t) in op.inputs.enumerated() where tensors[t].isActivation {
                guard written[t] else {
                    throw FormatError("\(field).inputs[\(j)]", t == op.output
                        ? "\(op.kind.name) reads its own output \"\(tensors[t].name)\""
                        : "\(op.kind.name) reads \"\(tensors[t].name)\" before any op writes it")
                }
                read[t] = true
            }
            guard op.output != graphInput else { throw FormatError("\(field).output", "\(op.kind.name) writes the graph input \"\(tensors[op.output].name)\"") }
            guard !written[op.output] else { throw FormatError("\(field).output", "\"\(tensors[op.output].name)\" is written twice") }
            written[op.output] = true
            try OpShapeCheck(op: op, model: model, field: field).run()
            ops.append(op)
        }
        guard written[graphOutput] else {
            throw FormatError("input.output_tensor", "no op writes the graph output \"\(tensors[graphOutput].name)\"")
        }
        for t in tensors where t.isActivation {
            guard written[t.index] else { throw FormatError("tensor[\(t.index)]", "activation \"\(t.name)\" is written by no op") }
            guard read[t.index] || t.index == graphOutput else {
                throw FormatError("tensor[\(t.index)]", "activation \"\(t.name)\" is read by no op and is not the graph output")
            }
        }
        return ops
    }

    // MARK: input spec

    private func checkInputSpec() throws(FormatError) {
        let input = model.input
        guard input.inputTensor < tensors.count else { throw FormatError("input.input_tensor", "tensor \(input.inputTensor) does not exist") }
        guard input.outputTensor < tensors.count else { throw FormatError("input.output_tensor", "tensor \(input.outputTensor) does not exist") }
        let x = tensors[input.inputTensor], y = tensors[input.outputTensor]
        let expected = [1, input.height, input.width, input.channels]
        guard x.isActivation, x.dtype == .float32, x.shape == expected else {
            throw FormatError("input.input_tensor", "\"\(x.name)\" must be a float32 activation \(expected), is \(x.isActivation ? "an activation" : "a constant") \(x.summary)")
        }
        guard y.isActivation, y.dtype == .float32, y.shape.count == 2 else {
            throw FormatError("input.output_tensor", "\"\(y.name)\" must be a float32 activation [1, classes], is \(y.isActivation ? "an activation" : "a constant") \(y.summary)")
        }
        guard input.outputTensor != input.inputTensor else { throw FormatError("input.output_tensor", "is the graph input") }
        guard model.labels.count == y.shape[1] else {
            throw FormatError("LABELS.count", "\(model.labels.count) labels for \(y.shape[1]) outputs of \"\(y.name)\"")
        }
    }

    // MARK: the op table

    /// The index of the one signature the op's inputs and output match.
    private func matchSignature(_ op: OpRecord, field: String) throws(FormatError) -> Int {
        let out = tensors[op.output]
        let matches = op.kind.definition.signatures.indices.filter { s in
            let signature = op.kind.definition.signatures[s]
            guard signature.output == out.dtype, let slots = Self.slots(signature, count: op.inputs.count) else { return false }
            return zip(op.inputs, slots).allSatisfy { t, slot in tensors[t].role == slot.role && tensors[t].dtype == slot.dtype }
        }
        guard matches.count == 1 else {
            let given = op.inputs.map { t in "\(tensors[t].isActivation ? "act" : "const") \(tensors[t].dtype.name)" }
            let accepted = op.kind.definition.signatures.map { s in
                "(" + s.inputs.map { "\($0.name)\($0.variadic ? "*" : ""): \($0.role == .activation ? "act" : "const") \($0.dtype.name)" }
                    .joined(separator: ", ") + ") -> \(s.output.name)"
            }
            throw FormatError("\(field).inputs", "\(op.kind.name) (\(given.joined(separator: ", "))) -> \(out.dtype.name) matches no signature; accepted: \(accepted.joined(separator: " | "))")
        }
        guard out.isActivation else { throw FormatError("\(field).output", "\"\(out.name)\" is a constant") }
        return matches[0]
    }

    /// The slot each of `count` inputs fills (a variadic slot takes one or more), or nil.
    static func slots(_ signature: SignatureDefinition, count: Int) -> [SlotDefinition]? {
        let fixed = signature.inputs.filter { !$0.variadic }.count
        guard let v = signature.inputs.firstIndex(where: \.variadic) else {
            return count == fixed ? signature.inputs : nil
        }
        guard count > fixed else { return nil }
        let repeated = [SlotDefinition](repeating: signature.inputs[v], count: count - fixed)
        return Array(signature.inputs[..<v]) + repeated + Array(signature.inputs[(v + 1)...])
    }

    /// The f32 attribute values that may be infinite: an attribute's neutral infinity anywhere in
    /// the table (`clip_min = -inf`, `clip_max = inf`: no clip).
    static let neutralInfinities: [AttributeID: UInt32] = {
        var found: [AttributeID: UInt32] = [:]
        for kind in OpKind.allCases {
            for a in kind.definition.attributes {
                if let bits = a.neutralBits, a.id.type == .float32, Float(bitPattern: bits).isInfinite { found[a.id] = bits }
            }
        }
        return found
    }()

    /// Non-applying attributes hold their neutral, f32 values are finite (or a neutral infinity),
    /// and the clip ranges are ordered.
    private func checkAttributes(_ op: OpInfo, field: String) throws(FormatError) {
        let output = tensors[op.output].dtype
        for (a, definition) in zip(op.attributes, op.kind.definition.attributes) {
            let applies = switch definition.applies { case .all: true; case .int8: output == .int8; case .float32: output == .float32 }
            if !applies, let neutral = definition.neutralBits, a.bits != neutral {
                let shown = a.id.type == .float32 ? "\(a.float)" : "\(a.int)"
                let expected = a.id.type == .float32 ? "\(Float(bitPattern: neutral))" : "\(Int32(bitPattern: neutral))"
                throw FormatError("\(field).\(a.id.name)", "is \(shown) but does not apply to \(op.kind.name) with \(output.name) output; expected its neutral \(expected)")
            }
            if a.id.type == .float32, !a.float.isFinite, Self.neutralInfinities[a.id] != a.bits {
                throw FormatError("\(field).\(a.id.name)", "is \(a.float), expected a finite value")
            }
        }
        let ids = op.attributes.map(\.id)
        if ids.contains(.clipMin), ids.contains(.clipMax), !(op.float(.clipMin) <= op.float(.clipMax)) {
            throw FormatError("\(field).clip_min", "\(op.float(.clipMin)) is above clip_max \(op.float(.clipMax))")
        }
        if ids.contains(.outMin), ids.contains(.outMax) {
            let lo = op.int(.outMin), hi = op.int(.outMax)
            guard (-128...127).contains(lo) else { throw FormatError("\(field).out_min", "is \(lo), expected -128...127") }
            guard (-128...127).contains(hi) else { throw FormatError("\(field).out_max", "is \(hi), expected -128...127") }
            guard lo <= hi else { throw FormatError("\(field).out_min", "\(lo) is above out_max \(hi)") }
        }
    }
}
