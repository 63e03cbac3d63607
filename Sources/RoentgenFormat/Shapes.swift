// The shape rules of SPEC "The ops", one function per op, named after it. GraphValidator has
// already matched the op's signature (so every slot has its role and dtype) and checked the
// attributes generically; what is left is what only this op knows: dims, window geometry,
// requant tables, and the bounds that keep every int8 accumulator exact in int32.
//
// Fields, as in the Python reader (shapes.py), after the op's prefix `op[3] CONV2D`: `.<slot>`
// for an input, `.output`, `.attrs.<name>`, `.requant.m` / `.requant.shift` for a value of a
// requant table. The checks run in the same order there and here.

struct OpShapeCheck {
    let op: OpInfo
    let tensors: [TensorInfo]
    let storage: ModelStorage
    /// The op's field prefix, `op[3] CONV2D`.
    let w: String

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
        try outputDims(slot("x").shape)
    }

    func dequantize() throws(FormatError) {
        try outputDims(slot("x").shape)
    }

    func conv2d() throws(FormatError) {
        let x = slot("x"), weights = slot("w"), bias = slot("b")
        try atLeastOne([.kernelH, .kernelW, .strideH, .strideW, .dilationH, .dilationW])
        try pads([.padTop: FormatLimits.pad + 1, .padLeft: FormatLimits.pad + 1, .padBottom: FormatLimits.pad + 1, .padRight: FormatLimits.pad + 1])
        let groups = op.int(.groups)
        guard groups >= 1 else { throw fail("attrs.groups", "\(groups) < 1") }
        let ic = try featureMap("x", x)[3]
        guard weights.shape.count == 4 else { throw fail("w", "dims \(weights.shape) are not [OC, KH, KW, IC / groups]") }
        let (oc, kh, kw, wic) = (weights.shape[0], weights.shape[1], weights.shape[2], weights.shape[3])
        guard kh == op.int(.kernelH), kw == op.int(.kernelW) else {
            throw fail("w", "dims \(weights.shape) disagree with the kernel \(op.int(.kernelH))x\(op.int(.kernelW))")
        }
        guard ic % groups == 0, oc % groups == 0 else {
            throw fail("attrs.groups", "\(groups) does not divide the input channels \(ic) and output channels \(oc)")
        }
        guard wic == ic / groups else { throw fail("w", "dims \(weights.shape): the last dim is not IC / groups = \(ic / groups)") }
        guard bias.shape == [oc] else { throw fail("b", "dims \(bias.shape) != [\(oc)]") }
        let (oh, ow) = try windowOutput(x)
        try outputDims([1, oh, ow, oc])
        guard x.dtype == .int8 else { return }
        try perChannel("w", weights, oc)
        try perChannel("b", bias, oc)
        try accumulatorFits(k: kh * kw * wic, bias: bias)
        try requant(dims: [oc, 4], mColumns: [0, 2], shiftColumns: [1, 3])
    }

    func maxpool2d() throws(FormatError) {
        try pool()
        if y.dtype == .int8 { try sameQuantization(slot("x")) }
    }

    func dense() throws(FormatError) {
        let x = slot("x"), weights = slot("w"), bias = slot("b")
        let k = x.elementCount
        guard weights.shape.count == 2, weights.shape[1] == k else {
            throw fail("w", "dims \(weights.shape) are not [N, \(k)] (K = the input's \(k) elements)")
        }
        let n = weights.shape[0]
        guard bias.shape == [n] else { throw fail("b", "dims \(bias.shape) != [\(n)]") }
        try outputDims([1, n])
        guard x.dtype == .int8 else { return }
        try perChannel("w", weights, n)
        try perChannel("b", bias, n)
        try accumulatorFits(k: k, bias: bias)
        if y.dtype == .int8 {
            try requant(dims: [n, 4], mColumns: [0, 2], shiftColumns: [1, 3])
        } else {
            try table("out_scale", dims: [n])
            let scales = constant("out_scale", as: Float.self)
            if let j = scales.firstIndex(where: { !($0.isFinite && $0 > 0) }) {
                throw fail("out_scale", "element \(j) = \(scales[j]) is not finite and > 0")
            }
        }
    }

    func avgpool2d() throws(FormatError) {
        try pool()
        guard y.dtype == .int8 else { return }
        // Each an i32 >= 1, so the product fits in Int; times 255 it might not (pads smaller than
        // a huge kernel can still cover it), so compare with the quotient.
        let taps = op.int(.kernelH) * op.int(.kernelW)
        guard taps <= Int(Int32.max) / 255 else {
            throw fail("attrs.kernel_h", "possible int32 overflow: KH * KW * 255 > 2^31 - 1 (KH = \(op.int(.kernelH)), KW = \(op.int(.kernelW)))")
        }
        try requant(dims: [taps, 2], mColumns: [0], shiftColumns: [1])
    }

    func mean() throws(FormatError) {
        let dims = try featureMap("x", slot("x"))
        try outputDims([1, 1, 1, dims[3]])
        guard y.dtype == .int8 else { return }
        let sum = dims[1] * dims[2] * 255
        guard sum <= Int(Int32.max) else { throw fail("x", "possible int32 overflow: H * W * 255 = \(sum) > 2^31 - 1") }
        try requant(dims: [1, 2], mColumns: [0], shiftColumns: [1])
    }

    func add() throws(FormatError) {
        try broadcast()
        // (m_a, m_b, shift): two multipliers sharing one shift.
        if y.dtype == .int8 { try requant(dims: [3], mColumns: [0, 1], shiftColumns: [2]) }
    }

    func mul() throws(FormatError) {
        try broadcast()
        if y.dtype == .int8 { try requant(dims: [2], mColumns: [0], shiftColumns: [1]) }
    }

    func concat() throws(FormatError) {
        let parts = op.inputs("x").map { tensors[$0] }
        let first = parts[0].shape
        for (i, x) in parts.enumerated() where x.shape.count != first.count || x.shape.dropLast() != first.dropLast() {
            throw fail("x[\(i)]", "dims \(x.shape) do not agree with x[0]'s \(first) except the last")
        }
        try outputDims(Array(first.dropLast()) + [parts.reduce(0) { $0 + $1.shape.last! }])
        if y.dtype == .int8 { try requant(dims: [parts.count, 2], mColumns: [0], shiftColumns: [1]) }
    }

    /// The parameters each function reads; the others hold 0 (alpha, beta) or -inf / inf.
    static func parameters(of function: ActivationFunction) -> Set<AttributeID> {
        switch function {
        case .leakyRelu: [.alpha]
        case .clip: [.clipMin, .clipMax]
        case .hardSigmoid: [.alpha, .beta]
        case .relu, .hardSwish, .sigmoid, .silu, .tanh: []
        }
    }

    static let unusedParameter: [(AttributeID, Float)] = [(.alpha, 0), (.beta, 0), (.clipMin, -.infinity), (.clipMax, .infinity)]

    func activation() throws(FormatError) {
        let raw = op.int(.function)
        guard let function = ActivationFunction(rawValue: Int32(truncatingIfNeeded: raw)), Int(function.rawValue) == raw else {
            throw fail("attrs.function", "\(raw) is not a function of ops.toml")
        }
        for (id, unused) in Self.unusedParameter where !Self.parameters(of: function).contains(id) && op.float(id).bitPattern != unused.bitPattern {
            throw fail("attrs.\(id.name)", "\(op.float(id)): \(function.name) does not use it, so it is \(unused)")
        }
        try outputDims(slot("x").shape)
        if y.dtype == .int8 { try table("table", dims: [256]) }
    }

    func pad() throws(FormatError) {
        let x = slot("x")
        try pads([.padTop: FormatLimits.pad + 1, .padLeft: FormatLimits.pad + 1, .padBottom: FormatLimits.pad + 1, .padRight: FormatLimits.pad + 1])
        if y.dtype == .int8, !(-128...127).contains(op.int(.valueQ)) {
            throw fail("attrs.value_q", "\(op.int(.valueQ)) is outside [-128, 127]")
        }
        let dims = try featureMap("x", x)
        try outputDims([1, op.int(.padTop) + dims[1] + op.int(.padBottom), op.int(.padLeft) + dims[2] + op.int(.padRight), dims[3]])
        if y.dtype == .int8 { try sameQuantization(x) }
    }

    func reshape() throws(FormatError) {
        let x = slot("x")
        guard y.elementCount == x.elementCount else {
            throw fail("output", "dims \(y.shape) hold \(y.elementCount) elements, the input \(x.shape) \(x.elementCount)")
        }
        if y.dtype == .int8 { try sameQuantization(x) }
    }

    // MARK: helpers

    var y: TensorInfo { tensors[op.output] }

    func fail(_ field: String, _ reason: String) -> FormatError { FormatError("\(w).\(field)", reason) }

    /// The input in the slot of that name (not the variadic one).
    func slot(_ name: String) -> TensorInfo { tensors[op.input(name)] }

    func constant<T>(_ name: String, as: T.Type) -> UnsafeBufferPointer<T> {
        let t = slot(name)
        return UnsafeBufferPointer(start: (storage.bytes.baseAddress! + t.dataOffset).assumingMemoryBound(to: T.self), count: t.elementCount)
    }

    func featureMap(_ name: String, _ t: TensorInfo) throws(FormatError) -> [Int] {
        guard t.shape.count == 4 else { throw fail(name, "dims \(t.shape) are not a feature map [1, H, W, C]") }
        return t.shape
    }

    func outputDims(_ expected: [Int]) throws(FormatError) {
        guard y.shape == expected else { throw fail("output", "dims \(y.shape) != \(expected)") }
    }

    /// MAXPOOL2D, PAD, RESHAPE: an int8 output shares the input's scale and zero point.
    func sameQuantization(_ x: TensorInfo) throws(FormatError) {
        let a = x.quantization!, b = y.quantization!
        guard a.scale.bitPattern == b.scale.bitPattern, a.zeroPoint == b.zeroPoint else {
            throw fail("output", "scale \(b.scale) and zero point \(b.zeroPoint) differ from the input's (\(a.scale), \(a.zeroPoint))")
        }
    }

    func atLeastOne(_ ids: [AttributeID]) throws(FormatError) {
        for id in ids where op.int(id) < 1 { throw fail("attrs.\(id.name)", "\(op.int(id)) < 1") }
    }

    /// Each pad in [0, bound), in the order given.
    func pads(_ bounds: KeyValuePairs<AttributeID, Int>) throws(FormatError) {
        for (id, bound) in bounds where !(0..<bound).contains(op.int(id)) {
            throw fail("attrs.\(id.name)", "\(op.int(id)) is outside [0, \(bound - 1)]")
        }
    }

    func flag(_ id: AttributeID) throws(FormatError) {
        guard op.int(id) == 0 || op.int(id) == 1 else { throw fail("attrs.\(id.name)", "\(op.int(id)) is not 0 or 1") }
    }

    /// MAXPOOL2D, AVGPOOL2D: kernel and stride >= 1, pads smaller than the kernel, flags 0 or 1.
    func pool() throws(FormatError) {
        let x = slot("x")
        try atLeastOne([.kernelH, .kernelW, .strideH, .strideW])
        try pads([.padTop: op.int(.kernelH), .padLeft: op.int(.kernelW), .padBottom: op.int(.kernelH), .padRight: op.int(.kernelW)])
        try flag(.ceilMode)
        if op.kind == .avgpool2d { try flag(.countIncludePad) }
        let c = try featureMap("x", x)[3]
        let (oh, ow) = try windowOutput(x)
        try outputDims([1, oh, ow, c])
    }

    /// SPEC "Window geometry": (OH, OW). Attributes are i32, so no sum here overflows Int.
    func windowOutput(_ x: TensorInfo) throws(FormatError) -> (Int, Int) {
        let win = op.window
        let rows = (x.shape[1], win.padTop, win.padBottom, win.effectiveKernelHeight, win.strideHeight, AttributeID.kernelH)
        let columns = (x.shape[2], win.padLeft, win.padRight, win.effectiveKernelWidth, win.strideWidth, AttributeID.kernelW)
        var out: [Int] = []
        for (size, before, after, kernel, stride, id) in [rows, columns] {
            guard let extent = Window.outputExtent(input: size, padBefore: before, padAfter: after, kernel: kernel, stride: stride, ceilMode: win.ceilMode) else {
                throw fail("attrs.\(id.name)", "the kernel spans \(kernel) positions, more than the padded input's \(size + before + after)")
            }
            out.append(extent)
        }
        return (out[0], out[1])
    }

    /// A table constant (requant, out_scale, LUT): no quantization, these dims.
    func table(_ name: String, dims: [Int]) throws(FormatError) {
        let t = slot(name)
        if let q = t.quantization { throw fail(name, "'\(t.name)' has quantization (quant_count \(q.scales.count)); a table has none") }
        guard t.shape == dims else { throw fail(name, "dims \(t.shape) != \(dims)") }
    }

    /// The `requant` table: int32 of `dims`, whose last axis holds `m` in `mColumns` and `shift`
    /// in `shiftColumns`. The first bad value in row-major order is reported.
    func requant(dims: [Int], mColumns: Set<Int>, shiftColumns: Set<Int>) throws(FormatError) {
        try table("requant", dims: dims)
        let columns = dims.last!
        for (flat, v) in constant("requant", as: Int32.self).enumerated() {
            let (row, column) = flat.quotientAndRemainder(dividingBy: columns)
            if mColumns.contains(column), v == Int32.min {
                throw fail("requant.m", "row \(row) column \(column): m = \(v) is outside [-(2^31 - 1), 2^31 - 1]")
            }
            if shiftColumns.contains(column), !(1...62).contains(v) {
                throw fail("requant.shift", "row \(row) column \(column): shift = \(v) is outside [1, 62]")
            }
        }
    }

    /// A weight or bias quantized per output channel (SPEC "TENSORS": dims[0] entries).
    func perChannel(_ name: String, _ t: TensorInfo, _ channels: Int) throws(FormatError) {
        let count = t.quantization?.scales.count ?? 0
        guard count == channels else { throw fail(name, "'\(t.name)' needs per-channel quantization (quant_count \(count) != \(channels))") }
    }

    /// SPEC "CONV2D": `K * 255 * 127 + max|b| <= 2^31 - 1`, so every int32 sum is exact.
    func accumulatorFits(k: Int, bias: TensorInfo) throws(FormatError) {
        var largest = 0
        for b in constant("b", as: Int32.self) { largest = max(largest, abs(Int(b))) }
        let bound = k * 255 * 127 + largest   // k <= 2^31 elements: no overflow in Int
        guard bound <= Int(Int32.max) else {
            throw fail("w", "possible int32 overflow: K * 255 * 127 + max|b| = \(bound) > 2^31 - 1 (K = \(k))")
        }
    }

    /// ADD, MUL: b of a's shape, or [1, 1, 1, C] over a feature map [1, H, W, C].
    func broadcast() throws(FormatError) {
        let a = slot("a").shape, b = slot("b").shape
        guard b == a || (a.count == 4 && b == [1, 1, 1, a[3]]) else { throw fail("b", "dims \(b) are neither a's \(a) nor [1, 1, 1, C]") }
        try outputDims(a)
    }
}
