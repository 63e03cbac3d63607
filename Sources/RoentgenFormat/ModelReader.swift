// Reads a Roentgen model file (SPEC.md format 2.0) and checks every field before anything trusts it.
// Order matters: length, magic, version, sizes and the checksum come first, so a corrupt or
// foreign file is named as such instead of failing somewhere deep in the tensor table. Every
// count that sizes an allocation is checked against SPEC "Limits" before that allocation.
//
// The checks run in the order of the Python reader (roentgen_tools/fileformat/reader.py), so one
// defect gives the same field in both: header, section table, PLAN prefix (arena_size bounds the
// activations), TENSORS, INPUT, LABELS, OPS (each op: its record, the op table's generic checks
// and the DAG rules in GraphValidator.swift, then its shape rules in Shapes.swift), the graph as a
// whole, PLAN entries and the overlap of live activations (PlanVerifier.swift), PROVENANCE.
//
// Fields are named as the errors print them: `header.file_size`, `section[3].count`,
// `tensor[5] 'conv1'.dims[0]`, `op[2] CONV2D.attrs.groups`, `plan[4].offset`.

#if canImport(Glibc)
import Glibc
#endif

public enum ModelReader {
    /// Reads the whole file once and validates it.
    public static func load(path: String) throws(FormatError) -> ModelFile {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw FormatError("file", "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw FormatError("file", "cannot stat: \(String(cString: strerror(errno)))") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw FormatError("file", "not a regular file") }
        let size = Int(info.st_size)
        // Read straight into the model's own aligned memory: one copy of the file, however large.
        let storage = ModelStorage(byteCount: size)
        var done = 0
        while done < size {
            let n = read(fd, storage.writable + done, size - done)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw FormatError("file", "read failed after \(done) of \(size) bytes") }
            done += n
        }
        return try parse(storage)
    }

    /// Validates `bytes` and returns a model that owns an aligned copy of them.
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(FormatError) -> ModelFile {
        try parse(ModelStorage(copying: bytes))
    }

    static func parse(_ storage: ModelStorage) throws(FormatError) -> ModelFile {
        let bytes = storage.bytes
        try checkHeader(bytes)
        var parser = Parser(storage: storage)
        try parser.readSectionTable()
        let arenaSize = try parser.readPlanPrefix()
        let tensors = try parser.readTensors(arenaSize: arenaSize)
        let input = try parser.readInputSpec(tensors: tensors)
        let labels = try parser.readLabels(classes: tensors[input.outputTensor].shape.last!)
        var graph = GraphValidator(storage: storage, tensors: tensors, input: input)
        let ops = try parser.readOps(graph: &graph)
        try graph.finish()
        let plan = try PlanVerifier(parser: parser, tensors: tensors, ops: ops, input: input, arenaSize: arenaSize).verify()
        let provenance = try parser.readProvenance()
        let confidence = try parser.readConfidence(classes: labels.count)
        return ModelFile(
            versionMajor: bytes.le(UInt16.self, at: 8), versionMinor: bytes.le(UInt16.self, at: 10),
            fileSize: bytes.count, checksum: Array(bytes[40..<72]), input: input, labels: labels,
            tensors: tensors, ops: ops, plan: plan, provenance: provenance, confidence: confidence, storage: storage)
    }

    /// The checks that come before anything else is read, including the checksum.
    static func checkHeader(_ bytes: UnsafeRawBufferPointer) throws(FormatError) {
        let n = bytes.count
        guard n >= FormatVersion.headerSize else {
            throw FormatError("header", "the file is \(n) bytes, shorter than the 128-byte header (truncated or not a model)")
        }
        guard Array(bytes[0..<8]) == FormatVersion.magic else {
            throw FormatError("header.magic", "not a Roentgen model file (expected \"ROENTGEN\")")
        }
        let major = bytes.le(UInt16.self, at: 8), minor = bytes.le(UInt16.self, at: 10)
        if major == 1 {
            throw FormatError("header.version_major", "format 1.\(minor) is no longer supported: re-convert the model from its source with roentgen-convert 2.x")
        }
        guard major <= FormatVersion.major else {
            throw FormatError("header.version_major", "format \(major).\(minor) is newer than this runtime (\(FormatVersion.major).\(FormatVersion.minor)); upgrade roentgen")
        }
        guard major == FormatVersion.major else {
            throw FormatError("header.version_major", "format \(major).\(minor) is not supported")
        }
        let headerSize = bytes.le(UInt32.self, at: 12)
        guard headerSize == UInt32(FormatVersion.headerSize) else { throw FormatError("header.header_size", "\(headerSize) != 128") }
        let fileSize = bytes.le(UInt64.self, at: 16)
        guard fileSize == UInt64(n) else {
            throw FormatError("header.file_size", "the header says \(fileSize) bytes but the file has \(n) (truncated or appended to)")
        }
        var hasher = SHA256.Hasher()
        hasher.update(UnsafeRawBufferPointer(rebasing: bytes[0..<40]))
        hasher.update(UnsafeRawBufferPointer(rebasing: bytes[72..<n]))
        guard hasher.finish() == Array(bytes[40..<72]) else {
            throw FormatError("header.sha256", "checksum mismatch: the file is damaged")
        }
        let flags = bytes.le(UInt32.self, at: 28)
        guard flags == 0 else { throw FormatError("header.flags", "\(flags) is not 0 (format 2.0 defines no flags)") }
        let count = bytes.le(UInt32.self, at: 24)
        guard FormatLimits.sections.contains(Int(count)) else {
            throw FormatError("header.section_count", "\(count) is outside \(FormatLimits.sections.lowerBound)...\(FormatLimits.sections.upperBound)")
        }
        let tableOffset = bytes.le(UInt64.self, at: 32)
        guard tableOffset == UInt64(FormatVersion.headerSize) else { throw FormatError("header.section_table_offset", "\(tableOffset) != 128") }
        guard bytes.allZero(72..<128) else { throw FormatError("header.reserved", "bytes [72, 128) are not zero") }
        let tableEnd = FormatVersion.headerSize + 32 * Int(count)
        guard tableEnd <= n else {
            throw FormatError("header.section_count", "the table of \(count) sections [128, \(tableEnd)) runs past the end of the file (\(n) bytes)")
        }
    }
}

/// `tensor[5] 'conv1'`: the field prefix of a tensor (the name quoted verbatim).
func tensorWhere(_ i: Int, _ name: String) -> String { "tensor[\(i)] '\(name)'" }
/// `op[3] CONV2D`: the field prefix of an op.
func opWhere(_ i: Int, _ kind: OpKind) -> String { "op[\(i)] \(kind.name)" }

extension UnsafeRawBufferPointer {
    /// A little-endian integer at `offset`; callers have checked the bounds.
    func le<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        T(littleEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }
    func f32(at offset: Int) -> Float { Float(bitPattern: le(UInt32.self, at: offset)) }
    func allZero(_ range: Range<Int>) -> Bool { range.allSatisfy { self[$0] == 0 } }
}

enum SectionKind: UInt32, CaseIterable {
    case strings = 1, input, labels, tensors, ops, plan, provenance, data
    case confidence   // 2.1, optional
    case reject       // 2.2, optional, needs CONFIDENCE
    var name: String { String(describing: self).uppercased() }
    var isRequired: Bool { self != .confidence && self != .reject }
    /// SPEC "Limits" on the section's count (PLAN: one entry per activation).
    var countLimit: Int? {
        switch self {
        case .labels: FormatLimits.labels
        case .tensors: FormatLimits.tensors
        case .ops: FormatLimits.ops
        case .plan: FormatLimits.activations
        case .provenance: FormatLimits.provenanceEntries
        default: nil
        }
    }
}

/// A section: its index in the section table (for messages), where it is and its count.
struct Section { let entry: Int; let offset: Int; let size: Int; let count: Int }

/// Parses the sections after the header. Every offset read from the file is range-checked before use.
struct Parser {
    let storage: ModelStorage
    var bytes: UnsafeRawBufferPointer { storage.bytes }
    var sections: [SectionKind: Section] = [:]

    init(storage: ModelStorage) { self.storage = storage }

    // MARK: section table

    mutating func readSectionTable() throws(FormatError) {
        let count = Int(bytes.le(UInt32.self, at: 24))   // 8...64 (checkHeader)
        let tableEnd = FormatVersion.headerSize + 32 * count
        var spans: [Range<UInt64>] = []
        for i in 0..<count {
            let at = FormatVersion.headerSize + 32 * i
            let rawKind = bytes.le(UInt32.self, at: at), reserved = bytes.le(UInt32.self, at: at + 4)
            let offset = bytes.le(UInt64.self, at: at + 8), size = bytes.le(UInt64.self, at: at + 16)
            let records = bytes.le(UInt64.self, at: at + 24)
            let w = "section[\(i)]"
            guard reserved == 0 else { throw FormatError("\(w).reserved", "\(reserved) is not 0") }
            guard offset % UInt64(FormatVersion.alignment) == 0 else { throw FormatError("\(w).offset", "\(offset) is not 64-aligned") }
            guard offset >= UInt64(tableEnd) else {
                throw FormatError("\(w).offset", "\(offset) overlaps the header or the section table (which end at \(tableEnd))")
            }
            guard size <= UInt64(bytes.count), offset <= UInt64(bytes.count) - size else {
                throw FormatError("\(w).size", "[\(offset), +\(size)) is outside the file (\(bytes.count) bytes)")
            }
            let span = offset..<(offset + size)
            // Table order, like the Python reader: at most 64 entries.
            if let j = spans.firstIndex(where: { $0.overlaps(span) }) {
                throw FormatError("\(w).offset", "[\(offset), \(offset + size)) overlaps section[\(j)] [\(spans[j].lowerBound), \(spans[j].upperBound))")
            }
            spans.append(span)
            guard let kind = SectionKind(rawValue: rawKind) else { continue }  // a 2.x reader skips kinds it does not know
            if let first = sections[kind] { throw FormatError("\(w).kind", "a second \(kind.name) section (the first is section[\(first.entry)])") }
            if kind == .input, records != 1 { throw FormatError("\(w).count", "INPUT count \(records) != 1") }
            if kind == .data, records != 0 { throw FormatError("\(w).count", "DATA count \(records) != 0") }
            if kind == .confidence || kind == .reject, records != 1 { throw FormatError("\(w).count", "\(kind.name) count \(records) != 1") }
            if let limit = kind.countLimit, records > UInt64(limit) {
                throw FormatError("\(w).count", "\(records) \(kind.name) records, more than the limit \(limit)")
            }
            let expected: UInt64? = switch kind {
            case .strings: records
            case .input: 64
            case .labels: 8 * records
            case .tensors: 64 * records
            case .plan: 16 + 16 * records
            case .provenance: 16 * records
            case .confidence, .reject: 16
            case .ops, .data: nil   // OPS: the sum of its variable records, checked while reading them
            }
            if let expected, size != expected {
                throw FormatError("\(w).size", "\(size) does not match its count \(records) (a \(kind.name) section of \(records) is \(expected) bytes)")
            }
            // Every count is now bounded by the file's size or a limit, so it fits in Int.
            sections[kind] = Section(entry: i, offset: Int(offset), size: Int(size), count: Int(records))
        }
        for kind in SectionKind.allCases where kind.isRequired && sections[kind] == nil {
            throw FormatError("section \(kind.name)", "missing")
        }
    }

    // MARK: strings

    func string(at offset: Int, field: String) throws(FormatError) -> String {
        let strings = sections[.strings]!
        let start = Int(bytes.le(UInt32.self, at: offset)), length = Int(bytes.le(UInt32.self, at: offset + 4))
        guard start >= strings.offset, start + length <= strings.offset + strings.size else {
            throw FormatError(field, "the string [\(start), \(start + length)) is outside STRINGS [\(strings.offset), \(strings.offset + strings.size))")
        }
        let slice = UnsafeRawBufferPointer(rebasing: bytes[start..<(start + length)])
        guard let text = String(validating: slice, as: UTF8.self) else { throw FormatError(field, "the string is not valid UTF-8") }
        return text
    }

    func checkInData(offset: UInt64, size: UInt64, field: String) throws(FormatError) {
        let data = sections[.data]!
        guard offset % UInt64(FormatVersion.alignment) == 0 else { throw FormatError(field, "\(offset) is not 64-aligned") }
        guard offset >= UInt64(data.offset), size <= UInt64(data.size), offset - UInt64(data.offset) <= UInt64(data.size) - size else {
            throw FormatError(field, "[\(offset), +\(size)) is outside DATA [\(data.offset), \(data.offset + data.size))")
        }
    }

    // MARK: plan prefix

    /// arena_size, read first: it bounds every activation's data_size.
    func readPlanPrefix() throws(FormatError) -> Int {
        let at = sections[.plan]!.offset
        let arenaSize = bytes.le(UInt64.self, at: at)
        guard arenaSize % UInt64(FormatVersion.alignment) == 0 else { throw FormatError("plan.arena_size", "\(arenaSize) is not a multiple of 64") }
        guard arenaSize <= UInt64(FormatLimits.arenaSize) else { throw FormatError("plan.arena_size", "\(arenaSize) is above the limit 2^30") }
        let reserved = bytes.le(UInt64.self, at: at + 8)
        guard reserved == 0 else { throw FormatError("plan.reserved", "\(reserved) is not 0") }
        return Int(arenaSize)
    }

    // MARK: tensors

    func readTensors(arenaSize: Int) throws(FormatError) -> [TensorInfo] {
        let table = sections[.tensors]!
        var tensors: [TensorInfo] = []
        tensors.reserveCapacity(table.count)   // <= FormatLimits.tensors (section table)
        var names: [String: Int] = [:]
        var activations = 0
        for i in 0..<table.count {
            let at = table.offset + 64 * i
            let name = try string(at: at, field: "tensor[\(i)].name")
            guard !name.isEmpty else { throw FormatError("tensor[\(i)].name", "empty") }
            if let other = names[name] { throw FormatError("tensor[\(i)].name", "'\(name)' is also the name of tensor[\(other)]") }
            names[name] = i
            let w = tensorWhere(i, name)
            guard let dtype = DType(rawValue: bytes[at + 8]) else { throw FormatError("\(w).dtype", "\(bytes[at + 8]) is not 1 (int8), 2 (int32) or 3 (f32)") }
            guard let role = TensorRole(rawValue: bytes[at + 9]) else { throw FormatError("\(w).role", "\(bytes[at + 9]) is not 0 (activation) or 1 (constant)") }
            let rank = Int(bytes[at + 10])
            guard (1...4).contains(rank) else { throw FormatError("\(w).rank", "\(rank) is outside 1..4") }
            guard bytes[at + 11] == 0, bytes.le(UInt32.self, at: at + 12) == 0 else { throw FormatError("\(w).reserved", "not zero") }
            var shape: [Int] = []
            for j in 0..<4 {
                let dim = bytes.le(UInt32.self, at: at + 16 + 4 * j)
                if j < rank && dim == 0 { throw FormatError("\(w).dims[\(j)]", "0 (every dimension is >= 1)") }
                if j >= rank && dim != 0 { throw FormatError("\(w).dims[\(j)]", "\(dim) beyond rank \(rank) (must be 0)") }
                if j < rank { shape.append(Int(dim)) }
            }
            var byteCount: UInt64 = UInt64(dtype.size), overflow = false
            for d in shape where !overflow { (byteCount, overflow) = byteCount.multipliedReportingOverflow(by: UInt64(d)) }
            guard !overflow else { throw FormatError("\(w).dims", "the product of \(shape) x \(dtype.size) bytes overflows 64 bits") }
            let dataOffset = bytes.le(UInt64.self, at: at + 32), dataSize = bytes.le(UInt64.self, at: at + 40)
            guard dataSize == byteCount else { throw FormatError("\(w).data_size", "\(dataSize) != product(dims) * sizeof(dtype) = \(byteCount)") }
            switch role {
            case .activation:
                activations += 1
                guard activations <= FormatLimits.activations else { throw FormatError("\(w).role", "more than \(FormatLimits.activations) activations") }
                guard dtype != .int32 else { throw FormatError("\(w).dtype", "an int32 activation (activations are int8 or f32)") }
                guard shape[0] == 1 else { throw FormatError("\(w).dims[0]", "batch \(shape[0]) != 1") }
                guard dataOffset == 0 else { throw FormatError("\(w).data_offset", "\(dataOffset), but an activation has no data (0)") }
                guard dataSize <= UInt64(arenaSize) else { throw FormatError("\(w).data_size", "\(dataSize) bytes, more than arena_size \(arenaSize)") }
            case .constant:
                try checkInData(offset: dataOffset, size: dataSize, field: "\(w).data_offset")
            }
            // data_size is now at most the arena (<= 2^30) or the DATA section: it fits in Int.
            let quantization = try readQuantization(at: at, shape: shape, dtype: dtype, role: role, w: w)
            if role == .constant, dtype == .int8, quantization != nil {
                // An int8 weight: |w| <= 127, so the accumulator bounds of SPEC "CONV2D" hold.
                let start = bytes.baseAddress! + Int(dataOffset)   // memchr, not a Swift byte loop (~5 instructions a byte)
                if let hit = memchr(start, 0x80, Int(dataSize)) {
                    throw FormatError("\(w).data", "int8 weight -128 at element \(start.distance(to: UnsafeRawPointer(hit))) (weights are in [-127, 127])")
                }
            }
            tensors.append(TensorInfo(index: i, name: name, dtype: dtype, role: role, shape: shape,
                                      dataOffset: Int(dataOffset), byteCount: Int(dataSize), quantization: quantization))
        }
        return tensors
    }

    /// SPEC "TENSORS"' table: int8 activations per tensor, int8 / int32 constants none or per
    /// dims[0] (weights and biases; which slot needs which is checked per op), f32 none.
    func readQuantization(at: Int, shape: [Int], dtype: DType, role: TensorRole, w: String) throws(FormatError) -> Quantization? {
        let count = bytes.le(UInt32.self, at: at + 48), axis = bytes.le(UInt32.self, at: at + 52)
        let offset = bytes.le(UInt64.self, at: at + 56)
        let allowed: [UInt32] = switch (role, dtype) {
        case (.activation, .int8): [1]
        case (_, .float32): [0]
        default: [0, UInt32(shape[0])]
        }
        guard allowed.contains(count) else {
            throw FormatError("\(w).quant_count", "\(count); a \(dtype.name) \(role == .activation ? "activation" : "constant") has \(allowed.map(String.init).joined(separator: " or "))")
        }
        guard axis == 0 else { throw FormatError("\(w).quant_axis", "\(axis) != 0") }
        if count == 0 {
            guard offset == 0 else { throw FormatError("\(w).quant_offset", "\(offset) without quantization (must be 0)") }
            return nil
        }
        try checkInData(offset: offset, size: 8 * UInt64(count), field: "\(w).quant_offset")
        let n = Int(count), base = Int(offset)
        let scales = (0..<n).map { bytes.f32(at: base + 4 * $0) }
        let zeroPoints = (0..<n).map { Int32(bitPattern: bytes.le(UInt32.self, at: base + 4 * n + 4 * $0)) }
        if let k = scales.firstIndex(where: { !($0.isFinite && $0 > 0) }) {
            throw FormatError("\(w).scales[\(k)]", "\(scales[k]) is not finite and > 0")
        }
        if role == .activation {
            if let k = zeroPoints.firstIndex(where: { !(-128...127).contains($0) }) {
                throw FormatError("\(w).zero_points[\(k)]", "\(zeroPoints[k]) is outside [-128, 127]")
            }
        } else if let k = zeroPoints.firstIndex(where: { $0 != 0 }) {
            throw FormatError("\(w).zero_points[\(k)]", "\(zeroPoints[k]); weights and biases have zero point 0")
        }
        return Quantization(scales: scales, zeroPoints: zeroPoints, axis: 0)
    }

    // MARK: input spec

    func readInputSpec(tensors: [TensorInfo]) throws(FormatError) -> InputSpec {
        let at = sections[.input]!.offset
        let channels = bytes.le(UInt32.self, at: at), height = bytes.le(UInt32.self, at: at + 4)
        let width = bytes.le(UInt32.self, at: at + 8), resize = bytes.le(UInt32.self, at: at + 12)
        let side = UInt32(FormatLimits.imageSide)
        guard channels == 1 || channels == 3 else { throw FormatError("input.channels", "\(channels) is not 1 or 3") }
        guard (1...side).contains(height) else { throw FormatError("input.height", "\(height) is outside 1..\(side)") }
        guard (1...side).contains(width) else { throw FormatError("input.width", "\(width) is outside 1..\(side)") }
        guard resize == 1 else { throw FormatError("input.resize", "\(resize) is not 1 (bilinear)") }
        let mean = (0..<3).map { bytes.f32(at: at + 16 + 4 * $0) }, std = (0..<3).map { bytes.f32(at: at + 28 + 4 * $0) }
        let used = Int(channels)
        for c in 0..<3 {
            if c < used && !mean[c].isFinite { throw FormatError("input.mean[\(c)]", "\(mean[c]) is not finite") }
            if c >= used && mean[c] != 0 { throw FormatError("input.mean[\(c)]", "\(mean[c]) beyond the \(channels) channel(s) must be 0") }
        }
        for c in 0..<3 {
            if c < used && !(std[c].isFinite && std[c] > 0) { throw FormatError("input.std[\(c)]", "\(std[c]) is not finite and > 0") }
            if c >= used && std[c] != 1 { throw FormatError("input.std[\(c)]", "\(std[c]) beyond the \(channels) channel(s) must be 1") }
        }
        let inputTensor = Int(bytes.le(UInt32.self, at: at + 40)), outputTensor = Int(bytes.le(UInt32.self, at: at + 44))
        for (field, t) in [("input.input_tensor", inputTensor), ("input.output_tensor", outputTensor)] {
            guard t < tensors.count else { throw FormatError(field, "tensor index \(t) is out of range (\(tensors.count) tensors)") }
            guard tensors[t].isActivation, tensors[t].dtype == .float32 else { throw FormatError(field, "'\(tensors[t].name)' is not an f32 activation") }
        }
        let expected = [1, Int(height), Int(width), used]
        guard tensors[inputTensor].shape == expected else {
            throw FormatError("input.input_tensor", "dims \(tensors[inputTensor].shape) != \(expected)")
        }
        guard tensors[outputTensor].shape.count == 2 else {
            throw FormatError("input.output_tensor", "dims \(tensors[outputTensor].shape) are not [1, classes]")
        }
        let kind = bytes.le(UInt32.self, at: at + 48)
        guard let outputKind = OutputKind(rawValue: kind) else {
            throw FormatError("input.output_kind", "\(kind) is not 0 (logits) or 1 (SVM decision values)")
        }
        guard bytes.allZero((at + 52)..<(at + 64)) else { throw FormatError("input.reserved", "not zero") }
        return InputSpec(channels: used, height: Int(height), width: Int(width), mean: Array(mean[..<used]), std: Array(std[..<used]),
                         inputTensor: inputTensor, outputTensor: outputTensor, outputKind: outputKind)
    }

    // MARK: labels

    func readLabels(classes: Int) throws(FormatError) -> [String] {
        let section = sections[.labels]!
        var labels: [String] = [], seen: [String: Int] = [:]
        labels.reserveCapacity(section.count)   // <= FormatLimits.labels
        for i in 0..<section.count {
            let label = try string(at: section.offset + 8 * i, field: "label[\(i)]")
            guard !label.isEmpty else { throw FormatError("label[\(i)]", "empty") }
            if let other = seen[label] { throw FormatError("label[\(i)]", "'\(label)' repeats label[\(other)]") }
            seen[label] = i
            labels.append(label)
        }
        guard labels.count == classes else { throw FormatError("labels.count", "\(labels.count) labels for the output's \(classes) classes") }
        return labels
    }

    // MARK: ops

    /// Reads the op records one after another; each is checked (GraphValidator) before the next.
    func readOps(graph: inout GraphValidator) throws(FormatError) -> [OpInfo] {
        let section = sections[.ops]!
        let tensorCount = graph.tensors.count
        let end = section.offset + section.size
        var at = section.offset
        var ops: [OpInfo] = []
        ops.reserveCapacity(section.count)   // <= FormatLimits.ops (section table)
        func pastEnd(_ i: Int) -> FormatError {
            FormatError("section[\(section.entry)].size", "OPS is \(section.size) bytes, but op[\(i)] runs past its end")
        }
        for i in 0..<section.count {
            guard end - at >= 16 else { throw pastEnd(i) }
            let rawKind = bytes.le(UInt32.self, at: at)
            guard let kind = OpKind(rawValue: rawKind) else { throw FormatError("op[\(i)].kind", "\(rawKind) is not an op of ops.toml") }
            let definition = kind.definition
            let w = opWhere(i, kind)
            let output = bytes.le(UInt32.self, at: at + 4)
            let inputCount = bytes.le(UInt32.self, at: at + 8), attrCount = bytes.le(UInt32.self, at: at + 12)
            guard (1...UInt32(FormatLimits.inputsPerOp)).contains(inputCount) else {
                throw FormatError("\(w).input_count", "\(inputCount) is outside 1..\(FormatLimits.inputsPerOp)")
            }
            guard attrCount == UInt32(definition.attributes.count) else {
                throw FormatError("\(w).attr_count", "\(attrCount) != \(definition.attributes.count), the attributes ops.toml lists for \(kind.name)")
            }
            let size = 16 + 4 * Int(inputCount) + 8 * Int(attrCount)
            guard end - at >= size else { throw pastEnd(i) }
            let inputs = (0..<Int(inputCount)).map { Int(bytes.le(UInt32.self, at: at + 16 + 4 * $0)) }
            if let j = inputs.firstIndex(where: { $0 >= tensorCount }) {
                throw FormatError("\(w).inputs[\(j)]", "tensor index \(inputs[j]) is out of range (\(tensorCount) tensors)")
            }
            guard output < UInt32(tensorCount) else { throw FormatError("\(w).output", "tensor index \(output) is out of range (\(tensorCount) tensors)") }
            let attrs = at + 16 + 4 * Int(inputCount)
            var attributes: [Attribute] = []
            for (k, expected) in definition.attributes.enumerated() {
                let id = bytes.le(UInt32.self, at: attrs + 8 * k)
                guard id == expected.id.rawValue else {
                    throw FormatError("\(w).attrs[\(k)].id", "\(id) where ops.toml has \(expected.id.rawValue) (\(expected.id.name))")
                }
                attributes.append(Attribute(id: expected.id, bits: bytes.le(UInt32.self, at: attrs + 8 * k + 4)))
            }
            at += size
            ops.append(try graph.check(index: i, kind: kind, inputs: inputs, output: Int(output), attributes: attributes))
        }
        guard at == end else {
            throw FormatError("section[\(section.entry)].size", "\(section.size) != \(at - section.offset), the sum of the \(section.count) op records' sizes")
        }
        return ops
    }

    // MARK: provenance

    static let requiredProvenance = ["precision", "source_sha256", "calibration_digest", "calibration", "converter_version", "created"]

    func readProvenance() throws(FormatError) -> [(key: String, value: String)] {
        let section = sections[.provenance]!
        var entries: [(key: String, value: String)] = [], seen: [String: Int] = [:]
        for i in 0..<section.count {
            let at = section.offset + 16 * i
            let key = try string(at: at, field: "provenance[\(i)].key")
            guard !key.isEmpty else { throw FormatError("provenance[\(i)].key", "empty") }
            if let other = seen[key] { throw FormatError("provenance[\(i)].key", "'\(key)' repeats provenance[\(other)]") }
            seen[key] = i
            entries.append((key, try string(at: at + 8, field: "provenance[\(i)].value")))
        }
        for key in Self.requiredProvenance where seen[key] == nil {
            throw FormatError("provenance.\(key)", "the required key is missing")
        }
        return entries
    }

    // MARK: confidence

    func readConfidence(classes: Int) throws(FormatError) -> Confidence? {
        guard let section = sections[.confidence] else {
            if let reject = sections[.reject] {
                throw FormatError("section[\(reject.entry)].kind", "a REJECT section without a CONFIDENCE section")
            }
            return nil
        }
        let t = bytes.f32(at: section.offset), m = bytes.f32(at: section.offset + 4)
        guard t.isFinite, t > 0 else { throw FormatError("confidence.temperature", "\(Double(t)) is not finite and > 0") }
        guard m.isFinite, m >= 0, m < 1 else { throw FormatError("confidence.min_confidence", "\(Double(m)) is not in [0, 1)") }
        guard bytes.allZero((section.offset + 8)..<(section.offset + 16)) else { throw FormatError("confidence.reserved", "not zero") }
        return Confidence(temperature: t, minConfidence: m, rejectClass: try readRejectClass(classes: classes))
    }

    func readRejectClass(classes: Int) throws(FormatError) -> Int? {
        guard let section = sections[.reject] else { return nil }
        let rejectClass = bytes.le(UInt32.self, at: section.offset)
        guard classes >= 2 else { throw FormatError("reject.class", "a reject class needs at least 2 classes (the model has \(classes))") }
        guard rejectClass < classes else {
            throw FormatError("reject.class", "\(rejectClass) is not a class (the model has \(classes))")
        }
        guard bytes.allZero((section.offset + 4)..<(section.offset + 16)) else { throw FormatError("reject.reserved", "not zero") }
        return Int(rejectClass)
    }
}
