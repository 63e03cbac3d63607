// The checks of one op record against everything read before it (SPEC "OPS"), run as each record
// is read: the output is an activation, the op matches exactly one signature of the generated op
// table, its attributes hold their neutral values where they do not apply and are finite, the DAG
// rules (file order is a topological order), and finally its shape rules (Shapes.swift). `finish`
// checks the graph as a whole. After this, kernels can run without checking.

struct GraphValidator {
    let storage: ModelStorage
    let tensors: [TensorInfo]
    let input: InputSpec
    /// Per tensor: the op that writes it.
    private var writer: [Int?]
    private var read: [Bool]

    init(storage: ModelStorage, tensors: [TensorInfo], input: InputSpec) {
        self.storage = storage
        self.tensors = tensors
        self.input = input
        writer = Array(repeating: nil, count: tensors.count)
        read = Array(repeating: false, count: tensors.count)
    }

    mutating func check(index i: Int, kind: OpKind, inputs: [Int], output: Int, attributes: [Attribute]) throws(FormatError) -> OpInfo {
        let w = opWhere(i, kind)
        let y = tensors[output]
        guard y.isActivation else { throw FormatError("\(w).output", "'\(y.name)' is a constant") }
        let signature = try Self.matchSignature(kind, inputs: inputs, output: y, tensors: tensors, w: w)
        let op = OpInfo(index: i, kind: kind, inputs: inputs, output: output, attributes: attributes, signature: signature)
        try checkAttributes(op, output: y.dtype, w: w)
        // Ops run in file order: an op reads constants, the graph input and earlier outputs only.
        guard output != input.inputTensor else { throw FormatError("\(w).output", "'\(y.name)' is the graph input") }
        if let other = writer[output] { throw FormatError("\(w).output", "'\(y.name)' is already written by op[\(other)]") }
        for (j, t) in inputs.enumerated() where tensors[t].isActivation && t != input.inputTensor && writer[t] == nil {
            throw FormatError("\(w).inputs[\(j)]", t == output ? "reads its own output '\(tensors[t].name)'"
                                                           : "reads '\(tensors[t].name)' before any op writes it")
        }
        writer[output] = i
        for t in inputs { read[t] = true }
        try OpShapeCheck(op: op, tensors: tensors, storage: storage, w: w).run()
        return op
    }

    /// The graph output is written by an op, and every activation is read by some op or is the
    /// graph output (so every activation is written, and has a lifetime).
    func finish() throws(FormatError) {
        let out = input.outputTensor
        guard writer[out] != nil else { throw FormatError("input.output_tensor", "'\(tensors[out].name)' is written by no op") }
        for t in tensors where t.isActivation && t.index != out && !read[t.index] {
            throw FormatError(tensorWhere(t.index, t.name), "an activation no op reads that is not the graph output")
        }
    }

    // MARK: the op table

    /// The index of the one signature the op's inputs and output match.
    static func matchSignature(_ kind: OpKind, inputs: [Int], output y: TensorInfo, tensors: [TensorInfo], w: String) throws(FormatError) -> Int {
        let signatures = kind.definition.signatures
        let matches = signatures.indices.filter { s in
            guard signatures[s].output == y.dtype, let slots = slots(signatures[s], count: inputs.count) else { return false }
            return zip(inputs, slots).allSatisfy { t, slot in tensors[t].role == slot.role && tensors[t].dtype == slot.dtype }
        }
        guard matches.count == 1 else {
            let given = inputs.map { t in "\(tensors[t].isActivation ? "act" : "const"):\(tensors[t].dtype.name)" }
            throw FormatError("\(w).signature", "(\(given.joined(separator: ", "))) -> \(y.dtype.name) matches \(matches.isEmpty ? "no" : "more than one") signature of ops.toml")
        }
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

    /// Non-applying attributes hold their neutral, applying f32 values are finite (or a neutral
    /// infinity), and the clip ranges are ordered and in range.
    private func checkAttributes(_ op: OpInfo, output: DType, w: String) throws(FormatError) {
        for (a, definition) in zip(op.attributes, op.kind.definition.attributes) {
            let applies = switch definition.applies { case .all: true; case .int8: output == .int8; case .float32: output == .float32 }
            let shown = a.id.type == .float32 ? "\(a.float)" : "\(a.int)"
            if !applies {
                if let neutral = definition.neutralBits, a.bits != neutral {
                    let expected = a.id.type == .float32 ? "\(Float(bitPattern: neutral))" : "\(Int32(bitPattern: neutral))"
                    throw FormatError("\(w).attrs.\(a.id.name)", "\(shown) does not apply to a \(output.name) output and must hold its neutral value \(expected)")
                }
            } else if a.id.type == .float32, !a.float.isFinite, Self.neutralInfinities[a.id] != a.bits {
                throw FormatError("\(w).attrs.\(a.id.name)", "\(shown) is not finite")
            }
        }
        let ids = op.attributes.map(\.id)
        if ids.contains(.clipMin), !(op.float(.clipMin) <= op.float(.clipMax)) {
            throw FormatError("\(w).attrs.clip_min", "\(op.float(.clipMin)) > clip_max \(op.float(.clipMax))")
        }
        if ids.contains(.outMin) {
            for id in [AttributeID.outMin, .outMax] where !(-128...127).contains(op.int(id)) {
                throw FormatError("\(w).attrs.\(id.name)", "\(op.int(id)) is outside [-128, 127]")
            }
            guard op.int(.outMin) <= op.int(.outMax) else {
                throw FormatError("\(w).attrs.out_min", "\(op.int(.outMin)) > out_max \(op.int(.outMax))")
            }
        }
    }
}
