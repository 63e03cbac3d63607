// Writes a model file of SPEC.md format 2.0 from an in-memory draft. The converter (Python,
// roentgen-convert) is how real models are made; this writer exists so the Swift tests can build
// small graphs of any op - and files broken in exactly one field - without the Python toolchain.
// It lays the file out as the converter does: sections in kind order, each 64-aligned, constants
// and quantization blocks 64-aligned in DATA, and the greedy plan of SPEC "PLAN".

import RoentgenFormat

public struct ModelDraft {
    public struct Tensor {
        public var name: String
        public var dtype: DType
        public var role: TensorRole
        public var shape: [Int]
        /// A constant's little-endian bytes; empty for activations.
        public var data: [UInt8]
        public var scales: [Float]
        public var zeroPoints: [Int32]
    }

    public struct Op {
        public var kind: OpKind
        public var inputs: [Int]
        public var output: Int
        /// Every attribute of the op's table entry, in order, as bits.
        public var attributes: [(id: AttributeID, bits: UInt32)]
    }

    public var channels: Int, height: Int, width: Int
    public var mean: [Float] = [0, 0, 0], std: [Float] = [1, 1, 1]
    public var inputTensor = 0, outputTensor = 0
    public var outputKind: OutputKind = .logits
    public var labels: [String] = []
    public var tensors: [Tensor] = []
    public var ops: [Op] = []
    public var provenance: [(key: String, value: String)]
    /// Overrides the greedy plan: tensor index -> offset (with `arenaSize`).
    public var planOffsets: [Int: Int]? = nil
    public var arenaSize: Int? = nil
    /// Sections of kinds a newer minor version might add, written after DATA.
    public var extraSections: [(kind: UInt32, bytes: [UInt8])] = []

    public init(channels: Int, height: Int, width: Int, precision: String = "int8") {
        self.channels = channels; self.height = height; self.width = width
        provenance = [("precision", precision), ("source_sha256", String(repeating: "0", count: 64)),
                      ("calibration_digest", precision == "f32" ? "none" : String(repeating: "0", count: 64)),
                      ("calibration", precision == "f32" ? "none" : "minmax"),
                      ("converter_version", "swift-test-writer"), ("created", "2025-01-01T00:00:00Z")]
    }

    // MARK: building

    /// Adds an activation; int8 ones need their scale and zero point.
    @discardableResult
    public mutating func activation(_ name: String, _ dtype: DType, _ shape: [Int], scale: Float? = nil, zeroPoint: Int32 = 0) -> Int {
        tensors.append(Tensor(name: name, dtype: dtype, role: .activation, shape: shape, data: [],
                              scales: scale.map { [$0] } ?? [], zeroPoints: scale == nil ? [] : [zeroPoint]))
        return tensors.count - 1
    }

    @discardableResult
    public mutating func constant(_ name: String, int8 values: [Int8], _ shape: [Int], scales: [Float] = []) -> Int {
        constant(name, .int8, shape, bytes: values.map { UInt8(bitPattern: $0) }, scales: scales)
    }

    @discardableResult
    public mutating func constant(_ name: String, int32 values: [Int32], _ shape: [Int], scales: [Float] = []) -> Int {
        constant(name, .int32, shape, bytes: values.flatMap { Self.le(UInt32(bitPattern: $0)) }, scales: scales)
    }

    @discardableResult
    public mutating func constant(_ name: String, float values: [Float], _ shape: [Int]) -> Int {
        constant(name, .float32, shape, bytes: values.flatMap { Self.le($0.bitPattern) }, scales: [])
    }

    private mutating func constant(_ name: String, _ dtype: DType, _ shape: [Int], bytes: [UInt8], scales: [Float]) -> Int {
        tensors.append(Tensor(name: name, dtype: dtype, role: .constant, shape: shape, data: bytes,
                              scales: scales, zeroPoints: [Int32](repeating: 0, count: scales.count)))
        return tensors.count - 1
    }

    /// Adds an op. `attributes` holds i32 and f32 values alike (a Double holds every i32); those
    /// not given take their neutral value, or the value meaning "none" (kernel, stride, dilation,
    /// groups 1; pads 0; CONV2D / DENSE alpha 1; no clip).
    public mutating func op(_ kind: OpKind, _ inputs: [Int], _ output: Int, _ attributes: [AttributeID: Double] = [:]) {
        let given = attributes
        let attributes = kind.definition.attributes.map { a -> (id: AttributeID, bits: UInt32) in
            if let v = given[a.id] {
                return (a.id, a.id.type == .float32 ? Float(v).bitPattern : UInt32(bitPattern: Int32(truncatingIfNeeded: Int64(v))))
            }
            let output = tensors[output].dtype
            let applies = switch a.applies { case .all: true; case .int8: output == .int8; case .float32: output == .float32 }
            if !applies, let neutral = a.neutralBits { return (a.id, neutral) }
            return (a.id, Self.defaultBits(a.id, kind: kind))
        }
        ops.append(Op(kind: kind, inputs: inputs, output: output, attributes: attributes))
    }

    static func defaultBits(_ id: AttributeID, kind: OpKind) -> UInt32 {
        switch id {
        case .kernelH, .kernelW, .strideH, .strideW, .dilationH, .dilationW, .groups: 1
        case .outMin: UInt32(bitPattern: -128)
        case .outMax: 127
        case .function: UInt32(ActivationFunction.relu.rawValue)
        case .alpha: kind == .activation ? 0 : Float(1).bitPattern
        case .clipMin: (-Float.infinity).bitPattern
        case .clipMax: Float.infinity.bitPattern
        default: 0
        }
    }

    // MARK: lifetimes and the greedy plan

    /// SPEC "PLAN": largest first (ties: earlier first op, lower index), lowest 64-aligned offset
    /// free of every placed activation with an intersecting lifetime.
    public func greedyPlan() -> (arenaSize: Int, offsets: [Int: Int]) {
        var first = [Int?](repeating: nil, count: tensors.count), last = [Int](repeating: 0, count: tensors.count)
        first[inputTensor] = 0
        for (i, op) in ops.enumerated() {
            if first[op.output] == nil { first[op.output] = i }
            last[op.output] = max(last[op.output], i)
            for t in op.inputs where tensors[t].role == .activation { last[t] = max(last[t], i) }
        }
        last[outputTensor] = ops.count - 1
        let acts = tensors.indices.filter { tensors[$0].role == .activation }
        let bytes = tensors.map { $0.shape.reduce(1, *) * $0.dtype.size }
        let life = tensors.indices.map { t -> ClosedRange<Int> in let f = first[t] ?? 0; return f...max(f, last[t]) }
        let order = acts.sorted { (-bytes[$0], life[$0].lowerBound, $0) < (-bytes[$1], life[$1].lowerBound, $1) }
        var placed: [(tensor: Int, start: Int, end: Int)] = []
        for t in order {
            let busy = placed.filter { life[$0.tensor].overlaps(life[t]) }.sorted { $0.start < $1.start }
            var offset = 0
            for b in busy {
                if offset + bytes[t] <= b.start { break }
                offset = max(offset, Self.align(b.end))
            }
            placed.append((t, offset, offset + bytes[t]))
        }
        var offsets: [Int: Int] = [:]
        for p in placed { offsets[p.tensor] = p.start }
        return (Self.align(placed.map(\.end).max() ?? 0), offsets)
    }

    // MARK: encoding

    public func encode() -> [UInt8] {
        var strings: [UInt8] = []
        var stringRefs: [String: Int] = [:]
        func intern(_ s: String) -> Int {
            if let at = stringRefs[s] { return at }
            stringRefs[s] = strings.count
            strings += Array(s.utf8)
            return stringRefs[s]!
        }
        for t in tensors { _ = intern(t.name) }
        for l in labels { _ = intern(l) }
        for (k, v) in provenance { _ = intern(k); _ = intern(v) }

        // DATA: each constant, then each quantization block, 64-aligned (relative offsets for now).
        var data: [UInt8] = []
        var dataAt: [Int: Int] = [:], quantAt: [Int: Int] = [:]
        for (i, t) in tensors.enumerated() {
            if t.role == .constant { dataAt[i] = data.count; data += t.data; data += Self.padding(data.count) }
            if !t.scales.isEmpty {
                quantAt[i] = data.count
                data += t.scales.flatMap { Self.le($0.bitPattern) } + t.zeroPoints.flatMap { Self.le(UInt32(bitPattern: $0)) }
                data += Self.padding(data.count)
            }
        }
        let (plannedSize, plannedOffsets) = planOffsets.map { (arenaSize ?? 0, $0) } ?? greedyPlan()
        let planEntries = tensors.indices.filter { tensors[$0].role == .activation }

        let opBytes = ops.reduce(0) { $0 + 16 + 4 * $1.inputs.count + 8 * $1.attributes.count }
        let sizes = [strings.count, 64, 8 * labels.count, 64 * tensors.count, opBytes, 16 + 16 * planEntries.count,
                     16 * provenance.count, data.count] + extraSections.map(\.bytes.count)
        let counts = [strings.count, 1, labels.count, tensors.count, ops.count, planEntries.count, provenance.count, 0]
            + extraSections.map { _ in 0 }
        let kinds = (1...8).map(UInt32.init) + extraSections.map(\.kind)
        var offsets: [Int] = []
        var cursor = 128 + 32 * kinds.count
        for size in sizes { cursor = Self.align(cursor); offsets.append(cursor); cursor += size }
        let fileSize = Self.align(cursor)
        let stringsBase = offsets[0], dataBase = offsets[7]

        var out = [UInt8](repeating: 0, count: fileSize)
        func put(_ value: some FixedWidthInteger, _ at: Int) {
            withUnsafeBytes(of: value.littleEndian) { for (i, b) in $0.enumerated() { out[at + i] = b } }
        }
        func string(_ s: String, _ at: Int) { put(UInt32(stringsBase + stringRefs[s]!), at); put(UInt32(s.utf8.count), at + 4) }

        out.replaceSubrange(0..<8, with: FormatVersion.magic)
        put(FormatVersion.major, 8); put(FormatVersion.minor, 10); put(UInt32(128), 12)
        put(UInt64(fileSize), 16); put(UInt32(kinds.count), 24); put(UInt32(0), 28); put(UInt64(128), 32)
        for k in kinds.indices {
            let at = 128 + 32 * k
            put(kinds[k], at); put(UInt64(offsets[k]), at + 8); put(UInt64(sizes[k]), at + 16); put(UInt64(counts[k]), at + 24)
        }
        out.replaceSubrange(offsets[0]..<(offsets[0] + strings.count), with: strings)

        let input = offsets[1]
        for (i, v) in [channels, height, width, 1].enumerated() { put(UInt32(v), input + 4 * i) }
        for c in 0..<3 {
            put((c < mean.count ? mean[c] : 0).bitPattern, input + 16 + 4 * c)
            put((c < std.count ? std[c] : 1).bitPattern, input + 28 + 4 * c)
        }
        put(UInt32(inputTensor), input + 40); put(UInt32(outputTensor), input + 44); put(outputKind.rawValue, input + 48)

        for (i, l) in labels.enumerated() { string(l, offsets[2] + 8 * i) }

        for (i, t) in tensors.enumerated() {
            let at = offsets[3] + 64 * i
            string(t.name, at)
            out[at + 8] = t.dtype.rawValue; out[at + 9] = t.role.rawValue; out[at + 10] = UInt8(t.shape.count)
            for (d, v) in t.shape.enumerated() { put(UInt32(v), at + 16 + 4 * d) }
            if let d = dataAt[i] { put(UInt64(dataBase + d), at + 32) }
            put(UInt64(t.shape.reduce(1, *) * t.dtype.size), at + 40)
            put(UInt32(t.scales.count), at + 48)
            if let q = quantAt[i] { put(UInt64(dataBase + q), at + 56) }
        }

        var at = offsets[4]
        for op in ops {
            put(op.kind.rawValue, at); put(UInt32(op.output), at + 4)
            put(UInt32(op.inputs.count), at + 8); put(UInt32(op.attributes.count), at + 12)
            at += 16
            for t in op.inputs { put(UInt32(t), at); at += 4 }
            for a in op.attributes { put(a.id.rawValue, at); put(a.bits, at + 4); at += 8 }
        }

        put(UInt64(plannedSize), offsets[5])
        for (i, t) in planEntries.enumerated() {
            put(UInt32(t), offsets[5] + 16 + 16 * i); put(UInt64(plannedOffsets[t] ?? 0), offsets[5] + 16 + 16 * i + 8)
        }

        for (i, (k, v)) in provenance.enumerated() { string(k, offsets[6] + 16 * i); string(v, offsets[6] + 16 * i + 8) }
        out.replaceSubrange(dataBase..<(dataBase + data.count), with: data)
        for (k, extra) in extraSections.enumerated() { out.replaceSubrange(offsets[8 + k]..<(offsets[8 + k] + extra.bytes.count), with: extra.bytes) }
        Self.seal(&out)
        return out
    }

    /// Writes the SHA-256 of everything but the checksum itself into bytes [40, 72).
    public static func seal(_ bytes: inout [UInt8]) {
        var hasher = SHA256.Hasher()
        bytes.withUnsafeBytes { raw in
            hasher.update(UnsafeRawBufferPointer(rebasing: raw[0..<40]))
            hasher.update(UnsafeRawBufferPointer(rebasing: raw[72...]))
        }
        bytes.replaceSubrange(40..<72, with: hasher.finish())
    }

    static func align(_ n: Int) -> Int { (n + 63) / 64 * 64 }
    static func padding(_ n: Int) -> [UInt8] { [UInt8](repeating: 0, count: align(n) - n) }
    static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
}
