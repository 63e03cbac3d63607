// The shape rules of SPEC "The ops", one function per op, named after it. GraphValidator has
// already matched the op's signature (so every slot has its role and dtype) and checked the
// attributes generically; what is left is what only this op knows: dims, window geometry,
// requant tables, and the bounds that keep every int8 accumulator exact in int32.

struct OpShapeCheck {
    let op: OpInfo
    let model: ParsedModel
    let field: String

    func run() throws(FormatError) {
        switch op.kind {
        case .quantize: try quantize()
        case .dequantize: try dequantize()
        case .conv2d: try conv2d()
        case .maxpool2d: try maxpool2d()
        case .dense: try dense()
        case .avgpool2d: try avgpool2d()
        case .mean: try mean()
        case .add: try add()
        case .mul: try mul()
        case .concat: try concat()
        case .activation: try activation()
        case .pad: try pad()
        case .reshape: try reshape()
        }
    }

    // MARK: the ops

    func quantize() throws(FormatError) {
        try sameShape(x, y)
    }

    func dequantize() throws(FormatError) {
        try sameShape(x, y)
    }

    func conv2d() throws(FormatError) {
        let x = try featureMap("x"), w = slot("w")
        guard w.shape.count == 4 else { throw fail("w", "\"\(w.name)\" must be [OC, KH, KW, IC / groups], is \(w.shape)") }
        let ic = x.shape[3], oc = w.shape[0], groups = op.int(.groups)
        guard groups >= 1, ic % groups == 0, oc % groups == 0 else {
            throw fail("groups", "is \(groups); it must be >= 1 and divide the input channels \(ic) and the output channels \(oc)")
        }
        let window = try checkedWindow(maxPad: FormatLimits.pad, padBelowKernel: false)
        let expectedW = [oc, window.kernelHeight, window.kernelWidth, ic / groups]
        guard w.shape == expectedW else { throw fail("w", "\"\(w.name)\" is \(w.shape), expected \(expectedW) (OHWI, groups \(groups))") }
        try shape("b", [oc])
        let (oh, ow) = try outputSize(window, x)
        try shape(y, [1, oh, ow, oc], "output")
        guard isInt8 else { return }
        try perChannel("w", oc)
        try perChannel("b", oc)
        try requantPairs("requant", rows: oc, pairsPerRow: 2)
        try accumulatorFits(k: window.kernelHeight * window.kernelWidth * (ic / groups), bias: "b")
    }

    func maxpool2d() throws(FormatError) {
        let x = try featureMap("x")
        let window = try checkedWindow(maxPad: nil, padBelowKernel: true)
        let (oh, ow) = try outputSize(window, x)
        try shape(y, [1, oh, ow, x.shape[3]], "output")
        if isInt8 { try sameQuantization(x, y) }
    }

    func dense() throws(FormatError) {
        let x = slot("x"), w = slot("w")
        let k = x.elementCount
        guard w.shape.count == 2, w.shape[1] == k else { throw fail("w", "\"\(w.name)\" is \(w.shape), expected [N, \(k)] for \(k) input elements") }
        let n = w.shape[0]
        try shape("b", [n])
        try shape(y, [1, n], "output")
        guard slot("x").dtype == .int8 else { return }
        try perChannel("w", n)
        try perChannel("b", n)
        try accumulatorFits(k: k, bias: "b")
        if isInt8 {
            try requantPairs("requant", rows: n, pairsPerRow: 2)
        } else {
            try shape("out_scale", [n])
            for (i, s) in constant("out_scale", as: Float.self).enumerated() where !(s.isFinite && s > 0) {
                throw fail("out_scale", "out_scale[\(i)] is \(s), expected finite and > 0")
            }
        }
    }

    func avgpool2d() throws(FormatError) {
        let x = try featureMap("x")
        let window = try checkedWindow(maxPad: nil, padBelowKernel: true)
        try flag(.countIncludePad)
        let (oh, ow) = try outputSize(window, x)
        try shape(y, [1, oh, ow, x.shape[3]], "output")
        guard isInt8 else { return }
        let taps = window.kernelHeight * window.kernelWidth
        guard taps * 255 <= Int(Int32.max) else { throw fail("kernel_h", "a \(window.kernelHeight)x\(window.kernelWidth) window can overflow the int32 sum") }
        try requantPairs("requant", rows: taps, pairsPerRow: 1)
    }

    func mean() throws(FormatError) {
        let x = try featureMap("x")
        try shape(y, [1, 1, 1, x.shape[3]], "output")
        guard isInt8 else { return }
        guard x.shape[1] * x.shape[2] * 255 <= Int(Int32.max) else {
            throw fail("x", "\(x.shape[1])x\(x.shape[2]) positions can overflow the int32 sum")
        }
        try requantPairs("requant", rows: 1, pairsPerRow: 1)
    }

    func add() throws(FormatError) {
        try broadcastable()
        guard isInt8 else { return }
        // (m_a, m_b, shift): two multipliers sharing one shift.
        try shape("requant", [3])
        let r = constant("requant", as: Int32.self)
        try multiplier(r[0], "requant", "m_a")
        try multiplier(r[1], "requant", "m_b")
        try shift(r[2], "requant", "shift")
    }

    func mul() throws(FormatError) {
        try broadcastable()
        guard isInt8 else { return }
        try shape("requant", [2])
        let r = constant("requant", as: Int32.self)
        try multiplier(r[0], "requant", "m")
        try shift(r[1], "requant", "shift")
    }

    func concat() throws(FormatError) {
        let parts = op.variadicInputs.map { model.tensors[$0] }
        let first = parts[0]
        var channels = 0
        for (i, t) in parts.enumerated() {
            guard t.shape.count == first.shape.count, t.shape.dropLast() == first.shape.dropLast() else {
                throw fail("inputs[\(i)]", "\"\(t.name)\" \(t.shape) does not agree with \"\(first.name)\" \(first.shape) except in the last dim")
            }
            channels += t.shape.last!
        }
        try shape(y, Array(first.shape.dropLast()) + [channels], "output")
        if isInt8 { try requantPairs("requant", rows: parts.count, pairsPerRow: 1) }
    }

    func activation() throws(FormatError) {
        try sameShape(x, y)
        let raw = op.int(.function)
        guard let function = ActivationFunction(rawValue: Int32(truncatingIfNeeded: raw)), Int(function.rawValue) == raw else {
            throw fail("function", "\(raw) is unknown (\(ActivationFunction.allCases.map { "\($0.rawValue) = \($0.name)" }.joined(separator: ", ")))")
        }
        // A parameter the function does not use holds its "none" value (SPEC "ACTIVATION").
        let used: Set<AttributeID> = switch function {
        case .leakyRelu: [.alpha]
        case .clip: [.clipMin, .clipMax]
        case .hardSigmoid: [.alpha, .beta]
        case .relu, .hardSwish, .sigmoid, .silu, .tanh: []
        }
        let none: [AttributeID: Float] = [.alpha: 0, .beta: 0, .clipMin: -.infinity, .clipMax: .infinity]
        for (id, value) in none where !used.contains(id) && op.float(id).bitPattern != value.bitPattern {
            throw fail(id.name, "is \(op.float(id)) but \(function.name) does not use it; expected \(value)")
        }
        if isInt8 {
            try shape("table", [256])
            guard slot("table").quantization == nil else { throw fail("table", "a lookup table has no quantization") }
        }
    }

    func pad() throws(FormatError) {
        let x = try featureMap("x")
        let pads = [AttributeID.padTop, .padLeft, .padBottom, .padRight].map { op.int($0) }
        for (id, p) in zip([AttributeID.padTop, .padLeft, .padBottom, .padRight], pads) where !(0...FormatLimits.pad).contains(p) {
            throw fail(id.name, "is \(p), expected 0...\(FormatLimits.pad)")
        }
        try shape(y, [1, pads[0] + x.shape[1] + pads[2], pads[1] + x.shape[2] + pads[3], x.shape[3]], "output")
        guard isInt8 else { return }
        let value = op.int(.valueQ)
        guard (-128...127).contains(value) else { throw fail("value_q", "is \(value), expected -128...127") }
        try sameQuantization(x, y)
    }

    func reshape() throws(FormatError) {
        guard x.elementCount == y.elementCount else {
            throw fail("output", "\"\(y.name)\" \(y.shape) has \(y.elementCount) elements, the input \(x.shape) \(x.elementCount)")
        }
        if isInt8 { try sameQuantization(x, y) }
    }

    // MARK: helpers

    var y: TensorInfo { model.tensors[op.output] }
    /// The first input (every op has an `x` or `a` first).
    var x: TensorInfo { model.tensors[op.inputs[0]] }
    var isInt8: Bool { y.dtype == .int8 }

    /// The input in the slot of that name (not the variadic one).
    func slot(_ name: String) -> TensorInfo {
        let slots = GraphValidator.slots(op.kind.definition.signatures[op.signature], count: op.inputs.count)!
        return model.tensors[op.inputs[slots.firstIndex { $0.name == name }!]]
    }

    func fail(_ name: String, _ reason: String) -> FormatError { FormatError("\(field).\(name)", "\(op.kind.name): \(reason)") }

    func constant<T>(_ name: String, as: T.Type) -> UnsafeBufferPointer<T> { model.constant(slot(name).index, as: T.self) }

    func featureMap(_ name: String) throws(FormatError) -> TensorInfo {
        let t = slot(name)
        guard t.shape.count == 4 else { throw fail(name, "\"\(t.name)\" must be [1, H, W, C], is \(t.shape)") }
        return t
    }

    func shape(_ name: String, _ expected: [Int]) throws(FormatError) { try shape(slot(name), expected, name) }

    func shape(_ t: TensorInfo, _ expected: [Int], _ name: String) throws(FormatError) {
        guard t.shape == expected else { throw fail(name, "\"\(t.name)\" is \(t.shape), expected \(expected)") }
    }

    func sameShape(_ a: TensorInfo, _ b: TensorInfo) throws(FormatError) { try shape(b, a.shape, "output") }

    func sameQuantization(_ a: TensorInfo, _ b: TensorInfo) throws(FormatError) {
        guard a.quantization == b.quantization else {
            throw fail("output", "\"\(b.name)\" must have the scale and zero point of \"\(a.name)\"")
        }
    }

    /// `b` of `a`'s shape or `[1, 1, 1, C]` (broadcast over height and width); `y` of `a`'s shape.
    func broadcastable() throws(FormatError) {
        let a = slot("a"), b = slot("b")
        let gate = a.shape.count == 4 && b.shape == [1, 1, 1, a.shape[3]]
        guard b.shape == a.shape || gate else {
            throw fail("b", "\"\(b.name)\" is \(b.shape), expected \(a.shape)\(a.shape.count == 4 ? " or [1, 1, 1, \(a.shape[3])]" : "")")
        }
        try shape(y, a.shape, "output")
    }

    /// A weight or bias quantized per output channel (SPEC "TENSORS": OC entries on axis 0).
    func perChannel(_ name: String, _ channels: Int) throws(FormatError) {
        guard let q = slot(name).quantization, q.scales.count == channels else {
            throw fail(name, "\"\(slot(name).name)\" must be quantized per output channel (quant_count \(channels))")
        }
    }

    func flag(_ id: AttributeID) throws(FormatError) {
        guard op.int(id) == 0 || op.int(id) == 1 else { throw fail(id.name, "is \(op.int(id)), expected 0 or 1") }
    }

    /// Kernel and stride >= 1, dilation >= 1, pads in range (pools: smaller than the kernel).
    func checkedWindow(maxPad: Int?, padBelowKernel: Bool) throws(FormatError) -> Window {
        for id in [AttributeID.kernelH, .kernelW, .strideH, .strideW] where op.int(id) < 1 {
            throw fail(id.name, "is \(op.int(id)), expected >= 1")
        }
        if op.kind == .conv2d {
            for id in [AttributeID.dilationH, .dilationW] where op.int(id) < 1 { throw fail(id.name, "is \(op.int(id)), expected >= 1") }
        } else {
            try flag(.ceilMode)
        }
        for (id, kernel) in [(AttributeID.padTop, AttributeID.kernelH), (.padBottom, .kernelH), (.padLeft, .kernelW), (.padRight, .kernelW)] {
            let p = op.int(id)
            guard p >= 0 else { throw fail(id.name, "is \(p), expected >= 0") }
            if let maxPad, p > maxPad { throw fail(id.name, "is \(p), at most \(maxPad)") }
            if padBelowKernel, p >= op.int(kernel) { throw fail(id.name, "is \(p); a pool's pads are smaller than its kernel (\(op.int(kernel)))") }
        }
        return op.window
    }

    func outputSize(_ w: Window, _ x: TensorInfo) throws(FormatError) -> (Int, Int) {
        // Attributes are i32, so these sums cannot overflow Int.
        guard let oh = Window.outputExtent(input: x.shape[1], padBefore: w.padTop, padAfter: w.padBottom,
                                           kernel: w.effectiveKernelHeight, stride: w.strideHeight, ceilMode: w.ceilMode) else {
            throw fail("kernel_h", "the kernel's extent \(w.effectiveKernelHeight) exceeds the padded input height \(x.shape[1] + w.padTop + w.padBottom)")
        }
        guard let ow = Window.outputExtent(input: x.shape[2], padBefore: w.padLeft, padAfter: w.padRight,
                                           kernel: w.effectiveKernelWidth, stride: w.strideWidth, ceilMode: w.ceilMode) else {
            throw fail("kernel_w", "the kernel's extent \(w.effectiveKernelWidth) exceeds the padded input width \(x.shape[2] + w.padLeft + w.padRight)")
        }
        return (oh, ow)
    }

    /// A requant table of `rows` rows of `pairsPerRow` (m, shift) pairs, every pair in range.
    func requantPairs(_ name: String, rows: Int, pairsPerRow: Int) throws(FormatError) {
        guard slot(name).quantization == nil else { throw fail(name, "a requant table has no quantization") }
        try shape(name, [rows, 2 * pairsPerRow])
        let table = constant(name, as: Int32.self)
        for r in 0..<rows {
            for p in 0..<pairsPerRow {
                try multiplier(table[2 * pairsPerRow * r + 2 * p], name, "row \(r) m")
                try shift(table[2 * pairsPerRow * r + 2 * p + 1], name, "row \(r) shift")
            }
        }
    }

    func multiplier(_ m: Int32, _ name: String, _ what: String) throws(FormatError) {
        guard m != Int32.min else { throw fail(name, "\(what) is -2^31, outside [-(2^31 - 1), 2^31 - 1]") }
    }

    func shift(_ s: Int32, _ name: String, _ what: String) throws(FormatError) {
        guard (1...62).contains(s) else { throw fail(name, "\(what) \(s) is outside [1, 62]") }
    }

    /// SPEC "CONV2D": `K * 255 * 127 + max|b| <= 2^31 - 1`, so every int32 sum is exact.
    func accumulatorFits(k: Int, bias: String) throws(FormatError) {
        var largest = 0
        for b in constant(bias, as: Int32.self) { largest = max(largest, abs(Int(b))) }
        guard k <= Int(Int32.max), k * 255 * 127 + largest <= Int(Int32.max) else {
            throw fail(bias, "K = \(k) with a bias up to \(largest) can overflow the int32 accumulator")
        }
    }
}
