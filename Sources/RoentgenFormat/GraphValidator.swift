// Semantic checks of the op list against SPEC.md's op table: every input has the dtype, role and
// shape its slot requires, every output shape follows from the formulas, requantization stays in
// range and no int32 accumulator can overflow. After this, kernels can run without checking.

extension OpInfo {
    /// The activations this op writes: its output, and for a float32 CONV2D its im2col scratch,
    /// which lives only during that op (SPEC.md, OPS).
    public func writes(_ tensors: [TensorInfo]) -> [Int] {
        if kind == .conv2d, let scratch = inputs[3], !tensors[scratch].isConstant, tensors[scratch].dtype == .float32 {
            return [output, scratch]
        }
        return [output]
    }
}

struct GraphValidator {
    let model: ModelFile
    var tensors: [TensorInfo] { model.tensors }

    func validate() throws(FormatError) {
        let input = model.input
        guard input.inputTensor < tensors.count else { throw FormatError("input.input_tensor", "tensor \(input.inputTensor) does not exist") }
        guard input.outputTensor < tensors.count else { throw FormatError("input.output_tensor", "tensor \(input.outputTensor) does not exist") }
        let x = tensors[input.inputTensor], y = tensors[input.outputTensor]
        guard !x.isConstant, x.dtype == .float32, x.shape == [1, input.height, input.width, input.channels] else {
            throw FormatError("input.input_tensor", "\"\(x.name)\" must be a float32 activation [1, \(input.height), \(input.width), \(input.channels)], is \(x.dtype.name) \(x.shape)")
        }
        guard !y.isConstant, y.dtype == .float32, y.shape.count == 2, y.shape[0] == 1 else {
            throw FormatError("input.output_tensor", "\"\(y.name)\" must be a float32 activation [1, classes], is \(y.dtype.name) \(y.shape)")
        }
        guard model.labels.count == y.shape[1] else {
            throw FormatError("LABELS.count", "\(model.labels.count) labels for \(y.shape[1]) outputs")
        }

        // Each activation is written by exactly one op, before any op reads it.
        var produced = [Bool](repeating: false, count: tensors.count)
        produced[input.inputTensor] = true
        for op in model.ops {
            let field = "op[\(op.index)] \(op.kind.name)"
            for case let t? in op.inputs where !tensors[t].isConstant && !produced[t] && !op.writes(tensors).contains(t) {
                throw FormatError("\(field).inputs", "reads \"\(tensors[t].name)\" before any op writes it")
            }
            let out = tensors[op.output]
            guard !out.isConstant else { throw FormatError("\(field).output", "\"\(out.name)\" is a constant") }
            for t in op.writes(tensors) {
                guard !produced[t] else { throw FormatError("\(field).output", "\"\(tensors[t].name)\" is written twice (or is the input)") }
                produced[t] = true
            }
            try check(op, field: field)
        }
        guard produced[input.outputTensor], input.outputTensor != input.inputTensor else {
            throw FormatError("input.output_tensor", "no op writes \"\(y.name)\"")
        }
    }

    // MARK: per-op checks

    private func check(_ op: OpInfo, field: String) throws(FormatError) {
        let slots = op.inputs
        let out = tensors[op.output]
        func need(_ slot: Int) throws(FormatError) -> TensorInfo {
            guard let t = slots[slot] else { throw FormatError("\(field).inputs[\(slot)]", "is required") }
            return tensors[t]
        }
        func none(_ from: Int) throws(FormatError) {
            for s in from..<4 where slots[s] != nil { throw FormatError("\(field).inputs[\(s)]", "must be unused") }
        }
        func activation(_ t: TensorInfo, _ dtype: DType, _ slot: String) throws(FormatError) {
            guard !t.isConstant, t.dtype == dtype else {
                throw FormatError("\(field).\(slot)", "\"\(t.name)\" must be a \(dtype.name) activation, is \(t.isConstant ? "a constant" : t.dtype.name)")
            }
            if dtype == .int8 {
                guard let q = t.quantization, q.scales.count == 1 else {
                    throw FormatError("\(field).\(slot)", "int8 activation \"\(t.name)\" needs per-tensor quantization")
                }
            }
        }
        func constant(_ t: TensorInfo, _ dtype: DType, _ shape: [Int], _ slot: String) throws(FormatError) {
            guard t.isConstant, t.dtype == dtype, t.shape == shape else {
                throw FormatError("\(field).\(slot)", "\"\(t.name)\" must be a \(dtype.name) constant \(shape), is \(t.isConstant ? "constant" : "activation") \(t.dtype.name) \(t.shape)")
            }
        }
        if op.kind != .conv2d && op.kind != .maxPool2d {
            let w = op.window
            guard [w.kernelHeight, w.kernelWidth, w.strideHeight, w.strideWidth, w.padTop, w.padLeft, w.padBottom, w.padRight].allSatisfy({ $0 == 0 }) else {
                throw FormatError("\(field).kernel", "window fields must be 0 for \(op.kind.name)")
            }
        }

        switch op.kind {
        case .quantize, .dequantize:
            let x = try need(0)
            try none(1)
            let (from, to): (DType, DType) = op.kind == .quantize ? (.float32, .int8) : (.int8, .float32)
            try activation(x, from, "inputs[0]")
            try activation(out, to, "output")
            guard x.shape == out.shape else { throw FormatError("\(field).output", "shape \(out.shape) differs from input \(x.shape)") }

        case .maxPool2d:
            let x = try need(0)
            try none(1)
            try activation(x, x.dtype == .int8 ? .int8 : .float32, "inputs[0]")
            try activation(out, x.dtype, "output")
            guard x.shape.count == 4 else { throw FormatError("\(field).inputs[0]", "\"\(x.name)\" must be [1, H, W, C], is \(x.shape)") }
            let (oh, ow) = try outputSize(op.window, height: x.shape[1], width: x.shape[2], field: field)
            guard out.shape == [1, oh, ow, x.shape[3]] else { throw FormatError("\(field).output", "shape \(out.shape), expected \([1, oh, ow, x.shape[3]])") }
            guard x.quantization == out.quantization else { throw FormatError("\(field).output", "quantization must equal the input's") }

        case .conv2d:
            let x = try need(0), w = try need(1), b = try need(2)
            let isInt8 = x.dtype == .int8
            try activation(x, isInt8 ? .int8 : .float32, "inputs[0]")
            guard x.shape.count == 4 else { throw FormatError("\(field).inputs[0]", "\"\(x.name)\" must be [1, H, W, C], is \(x.shape)") }
            guard w.shape.count == 4 else { throw FormatError("\(field).inputs[1]", "\"\(w.name)\" must be [OC, KH, KW, IC], is \(w.shape)") }
            let oc = w.shape[0], win = op.window
            try constant(w, isInt8 ? .int8 : .float32, [oc, win.kernelHeight, win.kernelWidth, x.shape[3]], "inputs[1]")
            try constant(b, isInt8 ? .int32 : .float32, [oc], "inputs[2]")
            let (oh, ow) = try outputSize(win, height: x.shape[1], width: x.shape[2], field: field)
            try activation(out, isInt8 ? .int8 : .float32, "output")
            guard out.shape == [1, oh, ow, oc] else { throw FormatError("\(field).output", "shape \(out.shape), expected \([1, oh, ow, oc])") }
            let k = win.kernelHeight * win.kernelWidth * x.shape[3]
            if isInt8 {
                let requant = try need(3)
                try constant(requant, .int32, [oc, 4], "inputs[3]")
                try checkRequant(requant, field: field)
                try checkAccumulator(k: k, bias: b, field: field)
            } else {
                let scratch = try need(3)
                try activation(scratch, .float32, "inputs[3]")
                guard scratch.shape == [oh * ow, k] else { throw FormatError("\(field).inputs[3]", "im2col scratch \"\(scratch.name)\" must be \([oh * ow, k]), is \(scratch.shape)") }
            }

        case .dense:
            let x = try need(0), w = try need(1), b = try need(2)
            let isInt8 = x.dtype == .int8
            try activation(x, isInt8 ? .int8 : .float32, "inputs[0]")
            guard w.shape.count == 2 else { throw FormatError("\(field).inputs[1]", "\"\(w.name)\" must be [N, K], is \(w.shape)") }
            let n = w.shape[0], k = x.elementCount
            try constant(w, isInt8 ? .int8 : .float32, [n, k], "inputs[1]")
            try constant(b, isInt8 ? .int32 : .float32, [n], "inputs[2]")
            guard out.shape == [1, n] else { throw FormatError("\(field).output", "shape \(out.shape), expected \([1, n])") }
            if !isInt8 {
                try none(3)
                try activation(out, .float32, "output")
            } else {
                try checkAccumulator(k: k, bias: b, field: field)
                let extra = try need(3)
                if out.dtype == .int8 {
                    try activation(out, .int8, "output")
                    try constant(extra, .int32, [n, 4], "inputs[3]")
                    try checkRequant(extra, field: field)
                } else {
                    try activation(out, .float32, "output")
                    try constant(extra, .float32, [n], "inputs[3]")
                    let scales = model.constant(extra.index, as: Float.self)
                    for i in 0..<n where !scales[i].isFinite {
                        throw FormatError("\(field).inputs[3]", "out_scale[\(i)] is not finite")
                    }
                }
            }
        }
    }

    private func outputSize(_ w: Window, height: Int, width: Int, field: String) throws(FormatError) -> (Int, Int) {
        guard w.kernelHeight >= 1, w.kernelWidth >= 1 else { throw FormatError("\(field).kernel", "kernel \(w.kernelHeight)x\(w.kernelWidth) must be >= 1") }
        guard w.strideHeight >= 1, w.strideWidth >= 1 else { throw FormatError("\(field).stride", "stride \(w.strideHeight)x\(w.strideWidth) must be >= 1") }
        guard w.padTop < w.kernelHeight, w.padBottom < w.kernelHeight, w.padLeft < w.kernelWidth, w.padRight < w.kernelWidth else {
            throw FormatError("\(field).pad", "padding must be smaller than the kernel")
        }
        let nh = height + w.padTop + w.padBottom - w.kernelHeight, nw = width + w.padLeft + w.padRight - w.kernelWidth
        guard nh >= 0, nw >= 0 else { throw FormatError("\(field).kernel", "kernel \(w.kernelHeight)x\(w.kernelWidth) is larger than the padded input \(height)x\(width)") }
        return (nh / w.strideHeight + 1, nw / w.strideWidth + 1)
    }

    /// m in [-(2^31-1), 2^31-1] and shift in [1, 62], so |acc * m| + 2^61 never leaves Int64.
    private func checkRequant(_ table: TensorInfo, field: String) throws(FormatError) {
        let rows = model.constant(table.index, as: Int32.self)
        for i in 0..<table.shape[0] {
            for (m, s) in [(rows[4 * i], rows[4 * i + 1]), (rows[4 * i + 2], rows[4 * i + 3])] {
                guard m != Int32.min else { throw FormatError("\(field).requant[\(i)]", "multiplier is -2^31") }
                guard (1...62).contains(s) else { throw FormatError("\(field).requant[\(i)]", "shift \(s) is outside [1, 62]") }
            }
        }
    }

    /// SPEC: K * 255 * 127 + max|b| must fit in int32.
    private func checkAccumulator(k: Int, bias: TensorInfo, field: String) throws(FormatError) {
        let b = model.constant(bias.index, as: Int32.self)
        var largest = 0
        for i in 0..<bias.elementCount { largest = max(largest, abs(Int(b[i]))) }
        guard k * 255 * 127 + largest <= Int(Int32.max) else {
            throw FormatError("\(field).inputs[2]", "K = \(k) with bias up to \(largest) can overflow the int32 accumulator")
        }
    }
}
