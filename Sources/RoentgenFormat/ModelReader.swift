// Reads a Roentgen model file and checks every field SPEC.md lists before anything trusts it.
// Order matters: length, magic, version, sizes and the checksum come first, so a corrupt or
// foreign file is named as such instead of failing somewhere deep in the tensor table.

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
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(size, 1), alignment: FormatVersion.alignment)
        defer { buffer.deallocate() }
        var done = 0
        while done < size {
            let n = read(fd, buffer.baseAddress! + done, size - done)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw FormatError("file", "read failed after \(done) of \(size) bytes") }
            done += n
        }
        return try parse(UnsafeRawBufferPointer(rebasing: buffer[0..<size]))
    }

    /// Validates `bytes` and returns a model that owns an aligned copy of them.
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(FormatError) -> ModelFile {
        try checkHeader(bytes)
        let storage = ModelStorage(copying: bytes)
        var reader = Parser(storage: storage)
        return try reader.parse()
    }

    /// The checks that come before anything else is read, including the checksum.
    static func checkHeader(_ bytes: UnsafeRawBufferPointer) throws(FormatError) {
        let n = bytes.count
        guard n >= FormatVersion.headerSize else {
            throw FormatError("header", "file is \(n) bytes, shorter than the 128-byte header (truncated or not a model)")
        }
        guard Array(bytes[0..<8]) == FormatVersion.magic else {
            throw FormatError("magic", "not a Roentgen model file (expected \"ROENTGEN\")")
        }
        let major = bytes.le(UInt16.self, at: 8), minor = bytes.le(UInt16.self, at: 10)
        guard major <= FormatVersion.major else {
            throw FormatError("version_major", "model format \(major).\(minor) is newer than this runtime supports (\(FormatVersion.major).x); upgrade roentgen")
        }
        guard major == FormatVersion.major else { throw FormatError("version_major", "model format \(major).\(minor) is not supported") }
        let headerSize = bytes.le(UInt32.self, at: 12)
        guard headerSize == UInt32(FormatVersion.headerSize) else { throw FormatError("header_size", "is \(headerSize), expected 128") }
        let fileSize = bytes.le(UInt64.self, at: 16)
        guard fileSize == UInt64(n) else {
            throw FormatError("file_size", "header says \(fileSize) bytes but the file has \(n) (truncated or appended to)")
        }
        var hasher = SHA256.Hasher()
        hasher.update(UnsafeRawBufferPointer(rebasing: bytes[0..<40]))
        hasher.update(UnsafeRawBufferPointer(rebasing: bytes[72..<n]))
        guard hasher.finish() == Array(bytes[40..<72]) else {
            throw FormatError("sha256", "checksum mismatch: the file is corrupt")
        }
    }
}

extension UnsafeRawBufferPointer {
    /// A little-endian integer at `offset`; callers have checked the bounds.
    func le<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        T(littleEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }
    func f32(at offset: Int) -> Float { Float(bitPattern: le(UInt32.self, at: offset)) }
}

enum SectionKind: UInt32, CaseIterable {
    case strings = 1, input, labels, tensors, ops, plan, provenance, data
    var recordSize: Int {
        switch self {
        case .strings: 1; case .input: 64; case .labels: 8; case .tensors: 64; case .ops: 64
        case .plan: 16; case .provenance: 16; case .data: 0
        }
    }
    var name: String { String(describing: self).uppercased() }
}

struct Section { let offset: Int; let size: Int; let count: Int }

/// Parses everything after the header. Every offset read from the file is range-checked before use.
struct Parser {
    let storage: ModelStorage
    var bytes: UnsafeRawBufferPointer { storage.bytes }
    var sections: [SectionKind: Section] = [:]

    init(storage: ModelStorage) { self.storage = storage }

    mutating func parse() throws(FormatError) -> ModelFile {
        let flags = bytes.le(UInt32.self, at: 28)
        guard flags == 0 else { throw FormatError("flags", "is \(flags); version 1 defines no flags") }
        try readSectionTable()
        let input = try readInputSpec()
        let tensors = try readTensors()
        let ops = try readOps(tensorCount: tensors.count)
        let plan = try readPlan(tensors: tensors)
        let labels = try readLabels()
        let provenance = try readProvenance()
        let model = ModelFile(
            versionMajor: bytes.le(UInt16.self, at: 8), versionMinor: bytes.le(UInt16.self, at: 10),
            fileSize: bytes.count, checksum: Array(bytes[40..<72]), input: input, labels: labels,
            tensors: tensors, ops: ops, plan: plan, provenance: provenance, storage: storage)
        try GraphValidator(model: model).validate()
        try MemoryPlan.verify(model)
        return model
    }

    // MARK: section table

    mutating func readSectionTable() throws(FormatError) {
        let count = Int(bytes.le(UInt32.self, at: 24))
        let tableOffset = bytes.le(UInt64.self, at: 32)
        guard tableOffset == UInt64(FormatVersion.headerSize) else {
            throw FormatError("section_table_offset", "is \(tableOffset), expected 128")
        }
        guard (1...64).contains(count) else { throw FormatError("section_count", "is \(count), expected 1...64") }
        let tableEnd = FormatVersion.headerSize + 32 * count
        guard tableEnd <= bytes.count else { throw FormatError("section_count", "\(count) sections do not fit in the file") }
        var taken: [(Int, Int, String)] = []
        for i in 0..<count {
            let at = FormatVersion.headerSize + 32 * i
            let rawKind = bytes.le(UInt32.self, at: at)
            let field = "section[\(i)]"
            let offset = bytes.le(UInt64.self, at: at + 8), size = bytes.le(UInt64.self, at: at + 16)
            let recordCount = bytes.le(UInt64.self, at: at + 24)
            guard offset % UInt64(FormatVersion.alignment) == 0 else { throw FormatError("\(field).offset", "\(offset) is not 64-byte aligned") }
            guard offset >= UInt64(tableEnd), size <= UInt64(bytes.count), offset <= UInt64(bytes.count) - size else {
                throw FormatError("\(field).offset", "[\(offset), +\(size)) lies outside the file's \(bytes.count) bytes or over the section table")
            }
            let start = Int(offset), length = Int(size)
            if let clash = taken.first(where: { start < $0.0 + $0.1 && $0.0 < start + length && length > 0 && $0.1 > 0 }) {
                throw FormatError("\(field).offset", "overlaps \(clash.2)")
            }
            taken.append((start, length, field))
            guard let kind = SectionKind(rawValue: rawKind) else { continue }  // a newer minor version's section
            guard sections[kind] == nil else { throw FormatError("\(field).kind", "\(kind.name) appears twice") }
            guard recordCount <= UInt64(bytes.count) else { throw FormatError("\(field).count", "\(recordCount) is impossibly large") }
            let records = Int(recordCount)
            let expected: Int
            switch kind {
            case .data: expected = length
            case .plan: expected = 16 + 16 * records
            case .input: expected = 64; guard records == 1 else { throw FormatError("INPUT.count", "is \(records), expected 1") }
            default: expected = kind.recordSize * records
            }
            guard length == expected else { throw FormatError("\(kind.name).size", "is \(length) bytes, expected \(expected) for \(records) records") }
            sections[kind] = Section(offset: start, size: length, count: records)
        }
        for kind in SectionKind.allCases where sections[kind] == nil {
            throw FormatError("section_table", "the \(kind.name) section is missing")
        }
    }

    // MARK: strings

    func string(at offset: Int, field: String) throws(FormatError) -> String {
        let strings = sections[.strings]!
        let start = Int(bytes.le(UInt32.self, at: offset)), length = Int(bytes.le(UInt32.self, at: offset + 4))
        guard start >= strings.offset, start <= strings.offset + strings.size, length <= strings.offset + strings.size - start else {
            throw FormatError(field, "string [\(start), +\(length)) lies outside the STRINGS section [\(strings.offset), +\(strings.size))")
        }
        let slice = UnsafeRawBufferPointer(rebasing: bytes[start..<(start + length)])
        guard let text = String(validating: slice, as: UTF8.self) else { throw FormatError(field, "is not valid UTF-8") }
        return text
    }

    // MARK: input spec

    func readInputSpec() throws(FormatError) -> InputSpec {
        let at = sections[.input]!.offset
        let channels = Int(bytes.le(UInt32.self, at: at)), height = Int(bytes.le(UInt32.self, at: at + 4))
        let width = Int(bytes.le(UInt32.self, at: at + 8)), resize = bytes.le(UInt32.self, at: at + 12)
        guard channels == 1 || channels == 3 else { throw FormatError("input.channels", "is \(channels), expected 1 or 3") }
        guard (1...16384).contains(height) else { throw FormatError("input.height", "is \(height), expected 1...16384") }
        guard (1...16384).contains(width) else { throw FormatError("input.width", "is \(width), expected 1...16384") }
        guard resize == 1 else { throw FormatError("input.resize", "method \(resize) is unknown (1 = bilinear)") }
        var mean: [Float] = [], std: [Float] = []
        for c in 0..<channels {
            let m = bytes.f32(at: at + 16 + 4 * c), s = bytes.f32(at: at + 28 + 4 * c)
            guard m.isFinite else { throw FormatError("input.mean[\(c)]", "is not finite") }
            guard s.isFinite, s > 0 else { throw FormatError("input.std[\(c)]", "is \(s), expected finite and > 0") }
            mean.append(m); std.append(s)
        }
        let kind = bytes.le(UInt32.self, at: at + 48)
        guard let outputKind = OutputKind(rawValue: kind) else {
            throw FormatError("input.output_kind", "\(kind) is unknown (0 = classifier logits, 1 = SVM decision values)")
        }
        return InputSpec(channels: channels, height: height, width: width, mean: mean, std: std,
                         inputTensor: Int(bytes.le(UInt32.self, at: at + 40)),
                         outputTensor: Int(bytes.le(UInt32.self, at: at + 44)), outputKind: outputKind)
    }

    // MARK: tensors

    func readTensors() throws(FormatError) -> [TensorInfo] {
        let table = sections[.tensors]!, data = sections[.data]!
        var tensors: [TensorInfo] = []
        var names = Set<String>()
        for i in 0..<table.count {
            let at = table.offset + 64 * i
            var field = "tensor[\(i)]"
            let name = try string(at: at, field: "\(field).name")
            guard !name.isEmpty else { throw FormatError("\(field).name", "is empty") }
            guard names.insert(name).inserted else { throw FormatError("\(field).name", "\"\(name)\" is not unique") }
            field = "tensor[\(i)] \"\(name)\""
            guard let dtype = DType(rawValue: bytes[at + 8]) else { throw FormatError("\(field).dtype", "\(bytes[at + 8]) is unknown") }
            let role = bytes[at + 9], rank = Int(bytes[at + 10])
            guard role <= 1 else { throw FormatError("\(field).role", "\(role) is unknown") }
            guard (1...4).contains(rank) else { throw FormatError("\(field).rank", "is \(rank), expected 1...4") }
            var shape: [Int] = [], product = 1
            for d in 0..<4 {
                let dim = Int(bytes.le(UInt32.self, at: at + 16 + 4 * d))
                if d < rank {
                    guard dim >= 1 else { throw FormatError("\(field).dims[\(d)]", "is 0") }
                    let (p, overflow) = product.multipliedReportingOverflow(by: dim)
                    guard !overflow, p <= Int(Int32.max) else { throw FormatError("\(field).dims", "element count overflows") }
                    product = p
                    shape.append(dim)
                } else if dim != 0 {
                    throw FormatError("\(field).dims[\(d)]", "is \(dim) beyond rank \(rank); expected 0")
                }
            }
            let dataOffset = bytes.le(UInt64.self, at: at + 32), dataSize = bytes.le(UInt64.self, at: at + 40)
            guard dataSize == UInt64(product * dtype.size) else {
                throw FormatError("\(field).data_size", "is \(dataSize), expected \(product * dtype.size) for shape \(shape) \(dtype.name)")
            }
            let isConstant = role == 1
            if isConstant {
                try checkInData(offset: dataOffset, size: dataSize, data: data, field: "\(field).data_offset")
            } else if dataOffset != 0 {
                throw FormatError("\(field).data_offset", "is \(dataOffset); an activation lives in the arena, expected 0")
            }
            let quantization = try readQuantization(at: at, shape: shape, dtype: dtype, data: data, field: field)
            tensors.append(TensorInfo(index: i, name: name, dtype: dtype, isConstant: isConstant, shape: shape,
                                      dataOffset: Int(dataOffset), byteCount: Int(dataSize), quantization: quantization))
        }
        return tensors
    }

    func checkInData(offset: UInt64, size: UInt64, data: Section, field: String) throws(FormatError) {
        guard offset % UInt64(FormatVersion.alignment) == 0 else { throw FormatError(field, "\(offset) is not 64-byte aligned") }
        guard offset >= UInt64(data.offset), size <= UInt64(data.size), offset - UInt64(data.offset) <= UInt64(data.size) - size else {
            throw FormatError(field, "[\(offset), +\(size)) lies outside the DATA section")
        }
    }

    func readQuantization(at: Int, shape: [Int], dtype: DType, data: Section, field: String) throws(FormatError) -> Quantization? {
        let count = Int(bytes.le(UInt32.self, at: at + 48)), axis = Int(bytes.le(UInt32.self, at: at + 52))
        let offset = bytes.le(UInt64.self, at: at + 56)
        if count == 0 {
            guard offset == 0, axis == 0 else { throw FormatError("\(field).quant_offset", "set although quant_count is 0") }
            return nil
        }
        guard axis < shape.count else { throw FormatError("\(field).quant_axis", "\(axis) is not below rank \(shape.count)") }
        if count > 1 {
            guard count == shape[axis] else { throw FormatError("\(field).quant_count", "is \(count), expected 1 or dims[\(axis)] = \(shape[axis])") }
        } else if axis != 0 {
            throw FormatError("\(field).quant_axis", "must be 0 for per-tensor quantization")
        }
        try checkInData(offset: offset, size: UInt64(8 * count), data: data, field: "\(field).quant_offset")
        var scales: [Float] = [], zeroPoints: [Int32] = []
        for c in 0..<count {
            let scale = bytes.f32(at: Int(offset) + 4 * c)
            guard scale.isFinite, scale > 0 else { throw FormatError("\(field).scale[\(c)]", "is \(scale), expected finite and > 0") }
            let zero = Int32(bitPattern: bytes.le(UInt32.self, at: Int(offset) + 4 * count + 4 * c))
            guard (-128...127).contains(zero) else { throw FormatError("\(field).zero_point[\(c)]", "is \(zero), expected -128...127") }
            scales.append(scale); zeroPoints.append(zero)
        }
        return Quantization(scales: scales, zeroPoints: zeroPoints, axis: axis)
    }

    // MARK: ops

    func readOps(tensorCount: Int) throws(FormatError) -> [OpInfo] {
        let table = sections[.ops]!
        guard table.count >= 1 else { throw FormatError("OPS.count", "the model has no ops") }
        var ops: [OpInfo] = []
        for i in 0..<table.count {
            let at = table.offset + 64 * i
            let field = "op[\(i)]"
            let rawKind = bytes.le(UInt32.self, at: at)
            guard let kind = OpKind(rawValue: rawKind) else { throw FormatError("\(field).kind", "\(rawKind) is unknown") }
            let activation = bytes.le(UInt32.self, at: at + 4), alpha = bytes.f32(at: at + 8)
            let leakyAlpha: Float?
            switch activation {
            case 0:
                guard alpha == 0 else { throw FormatError("\(field).alpha", "is \(alpha) without an activation") }
                leakyAlpha = nil
            case 1:
                guard alpha.isFinite else { throw FormatError("\(field).alpha", "is not finite") }
                guard kind == .conv2d || kind == .dense else { throw FormatError("\(field).activation", "\(kind.name) cannot carry an activation") }
                leakyAlpha = alpha
            default: throw FormatError("\(field).activation", "\(activation) is unknown")
            }
            var inputs: [Int?] = []
            for s in 0..<4 {
                let raw = bytes.le(UInt32.self, at: at + 12 + 4 * s)
                if raw == UInt32.max { inputs.append(nil); continue }
                guard Int(raw) < tensorCount else { throw FormatError("\(field).inputs[\(s)]", "tensor \(raw) does not exist (\(tensorCount) tensors)") }
                inputs.append(Int(raw))
            }
            let output = bytes.le(UInt32.self, at: at + 28)
            guard Int(output) < tensorCount else { throw FormatError("\(field).output", "tensor \(output) does not exist") }
            let w = (0..<8).map { Int(bytes.le(UInt32.self, at: at + 32 + 4 * $0)) }
            let window = Window(kernelHeight: w[0], kernelWidth: w[1], strideHeight: w[2], strideWidth: w[3],
                                padTop: w[4], padLeft: w[5], padBottom: w[6], padRight: w[7])
            ops.append(OpInfo(index: i, kind: kind, leakyAlpha: leakyAlpha, inputs: inputs, output: Int(output), window: window))
        }
        return ops
    }

    // MARK: plan, labels, provenance

    func readPlan(tensors: [TensorInfo]) throws(FormatError) -> MemoryPlan {
        let section = sections[.plan]!
        let arenaSize = bytes.le(UInt64.self, at: section.offset)
        guard arenaSize <= UInt64(Int32.max) else { throw FormatError("plan.arena_size", "\(arenaSize) bytes is too large") }
        var offsets = [Int?](repeating: nil, count: tensors.count)
        for i in 0..<section.count {
            let at = section.offset + 16 + 16 * i
            let index = Int(bytes.le(UInt32.self, at: at)), offset = bytes.le(UInt64.self, at: at + 8)
            let field = "plan[\(i)]"
            guard index < tensors.count else { throw FormatError("\(field).tensor", "tensor \(index) does not exist") }
            guard !tensors[index].isConstant else { throw FormatError("\(field).tensor", "\"\(tensors[index].name)\" is a constant, not an activation") }
            guard offsets[index] == nil else { throw FormatError("\(field).tensor", "\"\(tensors[index].name)\" is planned twice") }
            guard offset % UInt64(FormatVersion.alignment) == 0 else { throw FormatError("\(field).offset", "\(offset) is not 64-byte aligned") }
            guard offset <= arenaSize, UInt64(tensors[index].byteCount) <= arenaSize - offset else {
                throw FormatError("\(field).offset", "\"\(tensors[index].name)\" [\(offset), +\(tensors[index].byteCount)) lies outside the \(arenaSize)-byte arena")
            }
            offsets[index] = Int(offset)
        }
        for t in tensors where !t.isConstant && offsets[t.index] == nil {
            throw FormatError("plan", "activation \"\(t.name)\" has no place in the arena")
        }
        return MemoryPlan(arenaSize: Int(arenaSize), offsets: offsets)
    }

    func readLabels() throws(FormatError) -> [String] {
        let section = sections[.labels]!
        var labels: [String] = [], seen = Set<String>()
        for i in 0..<section.count {
            let label = try string(at: section.offset + 8 * i, field: "label[\(i)]")
            guard !label.isEmpty else { throw FormatError("label[\(i)]", "is empty") }
            guard seen.insert(label).inserted else { throw FormatError("label[\(i)]", "\"\(label)\" is not unique") }
            labels.append(label)
        }
        return labels
    }

    func readProvenance() throws(FormatError) -> [(key: String, value: String)] {
        let section = sections[.provenance]!
        var entries: [(key: String, value: String)] = []
        for i in 0..<section.count {
            let at = section.offset + 16 * i
            entries.append((try string(at: at, field: "provenance[\(i)].key"), try string(at: at + 8, field: "provenance[\(i)].value")))
        }
        for key in ["precision", "source_sha256", "calibration_digest", "calibration", "converter_version", "created"]
        where !entries.contains(where: { $0.key == key }) {
            throw FormatError("provenance", "required key \"\(key)\" is missing")
        }
        return entries
    }
}
