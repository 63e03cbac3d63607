// Reads a Roentgen model file (SPEC.md format 2.0) and checks every field before anything trusts it.
// Order matters: length, magic, version, sizes and the checksum come first, so a corrupt or
// foreign file is named as such instead of failing somewhere deep in the tensor table. Every
// count that sizes an allocation is checked against SPEC "Limits" before that allocation.
//
//   ModelReader.parse
//     checkHeader          length, magic, version, header_size, file_size, sha256
//     Parser.parse         flags .. reserved, section table, INPUT, TENSORS, OPS (records), PLAN,
//                          LABELS, PROVENANCE
//     GraphValidator       signatures, attributes, the DAG rules, per-op shapes (Shapes.swift)
//     PlanVerifier         lifetimes, and no two live activations sharing a byte

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
        var parser = Parser(storage: storage)
        let parsed = try parser.parse()
        let ops = try GraphValidator(parsed).validate()
        let plan = try PlanVerifier(parsed, ops: ops).verify()
        return ModelFile(
            versionMajor: storage.bytes.le(UInt16.self, at: 8), versionMinor: storage.bytes.le(UInt16.self, at: 10),
            fileSize: storage.bytes.count, checksum: Array(storage.bytes[40..<72]), input: parsed.input,
            labels: parsed.labels, tensors: parsed.tensors, ops: ops, plan: plan,
            provenance: parsed.provenance, storage: storage)
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
        if major == 1 {
            throw FormatError("version_major", "format \(major).\(minor): re-convert the model from its source with roentgen-convert 2.x")
        }
        guard major <= FormatVersion.major else {
            throw FormatError("version_major", "model format \(major).\(minor) is newer than this runtime (\(FormatVersion.major).x); upgrade roentgen")
        }
        guard major == FormatVersion.major else {
            throw FormatError("version_major", "model format \(major).\(minor) is not a Roentgen format version")
        }
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
    func allZero(_ range: Range<Int>) -> Bool { range.allSatisfy { self[$0] == 0 } }
}

enum SectionKind: UInt32, CaseIterable {
    case strings = 1, input, labels, tensors, ops, plan, provenance, data
    var name: String { String(describing: self).uppercased() }
}

struct Section { let offset: Int; let size: Int; let count: Int }

/// An op record as stored, before the signature and the graph are checked.
struct OpRecord {
    let kind: OpKind
    let inputs: [Int]
    let output: Int
    let attributes: [Attribute]
}

/// Everything the file holds, each record checked on its own; the cross-record rules follow in
/// GraphValidator and PlanVerifier.
struct ParsedModel {
    let storage: ModelStorage
    let input: InputSpec
    let tensors: [TensorInfo]
    let ops: [OpRecord]
    let arenaSize: Int
    let offsets: [Int?]
    let labels: [String]
    let provenance: [(key: String, value: String)]
    var bytes: UnsafeRawBufferPointer { storage.bytes }

    func constant<T>(_ tensor: Int, as: T.Type) -> UnsafeBufferPointer<T> {
        UnsafeBufferPointer(start: (bytes.baseAddress! + tensors[tensor].dataOffset).assumingMemoryBound(to: T.self),
                            count: tensors[tensor].elementCount)
    }
}

/// Parses everything after the header. Every offset read from the file is range-checked before use.
struct Parser {
    let storage: ModelStorage
    var bytes: UnsafeRawBufferPointer { storage.bytes }
    var sections: [SectionKind: Section] = [:]

    init(storage: ModelStorage) { self.storage = storage }

    mutating func parse() throws(FormatError) -> ParsedModel {
        let flags = bytes.le(UInt32.self, at: 28)
        guard flags == 0 else { throw FormatError("flags", "is \(flags); format 2.0 defines no flags") }
        try readSectionTable()
        let input = try readInputSpec()
        let tensors = try readTensors()
        let ops = try readOps(tensorCount: tensors.count)
        let (arenaSize, offsets) = try readPlan(tensors: tensors)
        let labels = try readLabels()
        let provenance = try readProvenance()
        return ParsedModel(storage: storage, input: input, tensors: tensors, ops: ops, arenaSize: arenaSize,
                           offsets: offsets, labels: labels, provenance: provenance)
    }

    // MARK: section table

    mutating func readSectionTable() throws(FormatError) {
        let count = bytes.le(UInt32.self, at: 24)
        guard FormatLimits.sections.contains(Int(count)) else {
            throw FormatError("section_count", "is \(count), expected \(FormatLimits.sections.lowerBound)...\(FormatLimits.sections.upperBound)")
        }
        let tableOffset = bytes.le(UInt64.self, at: 32)
        guard tableOffset == UInt64(FormatVersion.headerSize) else {
            throw FormatError("section_table_offset", "is \(tableOffset), expected 128")
        }
        guard bytes.allZero(72..<128) else { throw FormatError("reserved", "header bytes [72, 128) must be zero") }
        let tableEnd = FormatVersion.headerSize + 32 * Int(count)
        guard tableEnd <= bytes.count else { throw FormatError("section_count", "\(count) sections do not fit in the file") }
        var extents: [(start: Int, end: Int, entry: Int)] = []
        for i in 0..<Int(count) {
            let at = FormatVersion.headerSize + 32 * i
            let rawKind = bytes.le(UInt32.self, at: at)
            let name = SectionKind(rawValue: rawKind).map { "section[\(i)] \($0.name)" } ?? "section[\(i)]"
            guard bytes.le(UInt32.self, at: at + 4) == 0 else { throw FormatError("\(name).reserved", "must be zero") }
            let offset = bytes.le(UInt64.self, at: at + 8), size = bytes.le(UInt64.self, at: at + 16)
            let records = bytes.le(UInt64.self, at: at + 24)
            guard offset % UInt64(FormatVersion.alignment) == 0 else { throw FormatError("\(name).offset", "\(offset) is not 64-byte aligned") }
            guard offset >= UInt64(tableEnd), size <= UInt64(bytes.count), offset <= UInt64(bytes.count) - size else {
                throw FormatError("\(name).offset", "[\(offset), +\(size)) lies outside the file's \(bytes.count) bytes or over the section table")
            }
            let start = Int(offset), length = Int(size)
            if length > 0 { extents.append((start, start + length, i)) }
            guard let kind = SectionKind(rawValue: rawKind) else { continue }  // a newer minor version's section
            guard sections[kind] == nil else { throw FormatError("\(name).kind", "\(kind.name) appears twice") }
            try checkSize(kind, size: size, count: records, field: name)
            sections[kind] = Section(offset: start, size: length, count: Int(records))
        }
        extents.sort { $0.start < $1.start }
        for (a, b) in zip(extents, extents.dropFirst()) where b.start < a.end {
            throw FormatError("section[\(b.entry)].offset", "overlaps section[\(a.entry)]")
        }
        for kind in SectionKind.allCases where sections[kind] == nil {
            throw FormatError("section_table", "the \(kind.name) section is missing")
        }
    }

    /// A section's size agrees with its count, and the count is within SPEC "Limits".
    private func checkSize(_ kind: SectionKind, size: UInt64, count: UInt64, field: String) throws(FormatError) {
        func limit(_ most: Int, _ what: String) throws(FormatError) {
            guard count <= UInt64(most) else { throw FormatError("\(field).count", "\(count) \(what), at most \(most)") }
        }
        let expected: UInt64
        switch kind {
        case .strings: expected = count
        case .input:
            guard count == 1 else { throw FormatError("\(field).count", "is \(count), expected 1") }
            expected = 64
        case .labels: try limit(FormatLimits.labels, "labels"); expected = 8 * count
        case .tensors: try limit(FormatLimits.tensors, "tensors"); expected = 64 * count
        case .ops:
            try limit(FormatLimits.ops, "ops")
            // Records are variable; each is at least 16 bytes (the exact sum is checked while reading).
            guard size >= 16 * count else { throw FormatError("\(field).size", "\(size) bytes cannot hold \(count) op records") }
            return
        case .plan: try limit(FormatLimits.activations, "plan entries (activations)"); expected = 16 + 16 * count
        case .provenance: try limit(FormatLimits.provenanceEntries, "provenance entries"); expected = 16 * count
        case .data:
            guard count == 0 else { throw FormatError("\(field).count", "is \(count), expected 0") }
            return
        }
        guard size == expected else { throw FormatError("\(field).size", "is \(size) bytes, expected \(expected) for count \(count)") }
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
        let channels = bytes.le(UInt32.self, at: at), height = bytes.le(UInt32.self, at: at + 4)
        let width = bytes.le(UInt32.self, at: at + 8), resize = bytes.le(UInt32.self, at: at + 12)
        let side = UInt32(FormatLimits.imageSide)
        guard channels == 1 || channels == 3 else { throw FormatError("input.channels", "is \(channels), expected 1 or 3") }
        guard (1...side).contains(height) else { throw FormatError("input.height", "is \(height), expected 1...\(side)") }
        guard (1...side).contains(width) else { throw FormatError("input.width", "is \(width), expected 1...\(side)") }
        guard resize == 1 else { throw FormatError("input.resize", "method \(resize) is unknown (1 = bilinear)") }
        var mean: [Float] = [], std: [Float] = []
        for c in 0..<3 {
            let m = bytes.f32(at: at + 16 + 4 * c), s = bytes.f32(at: at + 28 + 4 * c)
            if c < Int(channels) {
                guard m.isFinite else { throw FormatError("input.mean[\(c)]", "is \(m), expected finite") }
                guard s.isFinite, s > 0 else { throw FormatError("input.std[\(c)]", "is \(s), expected finite and > 0") }
                mean.append(m); std.append(s)
            } else {
                guard m.bitPattern == 0 else { throw FormatError("input.mean[\(c)]", "is \(m) beyond \(channels) channel(s), expected 0") }
                guard s == 1 else { throw FormatError("input.std[\(c)]", "is \(s) beyond \(channels) channel(s), expected 1") }
            }
        }
        let kind = bytes.le(UInt32.self, at: at + 48)
        guard let outputKind = OutputKind(rawValue: kind) else {
            throw FormatError("input.output_kind", "\(kind) is unknown (0 = classifier logits, 1 = SVM decision values)")
        }
        guard bytes.allZero((at + 52)..<(at + 64)) else { throw FormatError("input.reserved", "must be zero") }
        return InputSpec(channels: Int(channels), height: Int(height), width: Int(width), mean: mean, std: std,
                         inputTensor: Int(bytes.le(UInt32.self, at: at + 40)),
                         outputTensor: Int(bytes.le(UInt32.self, at: at + 44)), outputKind: outputKind)
    }

    // MARK: tensors

    func readTensors() throws(FormatError) -> [TensorInfo] {
        let table = sections[.tensors]!, data = sections[.data]!
        var tensors: [TensorInfo] = []
        tensors.reserveCapacity(table.count)   // <= FormatLimits.tensors (section table)
        var names = Set<String>()
        var activations = 0
        for i in 0..<table.count {
            let at = table.offset + 64 * i
            let field = "tensor[\(i)]"
            let name = try string(at: at, field: "\(field).name")
            guard !name.isEmpty else { throw FormatError("\(field).name", "is empty") }
            guard names.insert(name).inserted else { throw FormatError("\(field).name", "\"\(name)\" is not unique") }
            let named = "(\"\(name)\")"
            guard let dtype = DType(rawValue: bytes[at + 8]) else { throw FormatError("\(field).dtype", "\(bytes[at + 8]) is unknown \(named)") }
            guard let role = TensorRole(rawValue: bytes[at + 9]) else { throw FormatError("\(field).role", "\(bytes[at + 9]) is unknown \(named)") }
            let rank = Int(bytes[at + 10])
            guard (1...4).contains(rank) else { throw FormatError("\(field).rank", "is \(rank), expected 1...4 \(named)") }
            guard bytes[at + 11] == 0 else { throw FormatError("\(field).reserved0", "must be zero \(named)") }
            guard bytes.le(UInt32.self, at: at + 12) == 0 else { throw FormatError("\(field).reserved1", "must be zero \(named)") }
            var shape: [Int] = [], product: UInt64 = 1
            for d in 0..<4 {
                let dim = UInt64(bytes.le(UInt32.self, at: at + 16 + 4 * d))
                if d < rank {
                    guard dim >= 1 else { throw FormatError("\(field).dims", "dims[\(d)] is 0 \(named)") }
                    let (p, overflow) = product.multipliedReportingOverflow(by: dim)
                    guard !overflow, p <= UInt64(Int32.max) else { throw FormatError("\(field).dims", "the element count overflows \(named)") }
                    product = p
                    shape.append(Int(dim))
                } else if dim != 0 {
                    throw FormatError("\(field).dims", "dims[\(d)] is \(dim) beyond rank \(rank), expected 0 \(named)")
                }
            }
            let byteCount = Int(product) * dtype.size
            let dataOffset = bytes.le(UInt64.self, at: at + 32), dataSize = bytes.le(UInt64.self, at: at + 40)
            guard dataSize == UInt64(byteCount) else {
                throw FormatError("\(field).data_size", "is \(dataSize), expected \(byteCount) for \(dtype.name) \(shape) \(named)")
            }
            switch role {
            case .constant:
                try checkInData(offset: dataOffset, size: dataSize, data: data, field: "\(field).data_offset", named)
            case .activation:
                guard dataOffset == 0 else {
                    throw FormatError("\(field).data_offset", "is \(dataOffset); an activation lives in the arena, expected 0 \(named)")
                }
                guard dtype != .int32 else { throw FormatError("\(field).dtype", "int32 activations do not exist \(named)") }
                guard shape[0] == 1 else { throw FormatError("\(field).dims", "an activation's batch dims[0] is \(shape[0]), expected 1 \(named)") }
                activations += 1
                guard activations <= FormatLimits.activations else {
                    throw FormatError("\(field).role", "more than \(FormatLimits.activations) activations")
                }
            }
            let quantization = try readQuantization(at: at, shape: shape, dtype: dtype, role: role, data: data, field: field, named)
            tensors.append(TensorInfo(index: i, name: name, dtype: dtype, role: role, shape: shape,
                                      dataOffset: Int(dataOffset), byteCount: byteCount, quantization: quantization))
            if role == .constant, dtype == .int8, quantization != nil {
                // An int8 weight: |w| <= 127, so the accumulator bounds of SPEC "CONV2D" hold.
                let values = UnsafeRawBufferPointer(rebasing: bytes[Int(dataOffset)..<(Int(dataOffset) + byteCount)])
                if let k = values.firstIndex(of: 0x80) {
                    throw FormatError("\(field).data", "weight element \(k) is -128; int8 weights are in [-127, 127] \(named)")
                }
            }
        }
        return tensors
    }

    func checkInData(offset: UInt64, size: UInt64, data: Section, field: String, _ named: String) throws(FormatError) {
        guard offset % UInt64(FormatVersion.alignment) == 0 else { throw FormatError(field, "\(offset) is not 64-byte aligned \(named)") }
        guard offset >= UInt64(data.offset), size <= UInt64(data.size), offset - UInt64(data.offset) <= UInt64(data.size) - size else {
            throw FormatError(field, "[\(offset), +\(size)) lies outside the DATA section [\(data.offset), +\(data.size)) \(named)")
        }
    }

    /// The quantization block, checked against SPEC "TENSORS"' table of the tensors that exist.
    func readQuantization(at: Int, shape: [Int], dtype: DType, role: TensorRole, data: Section,
                          field: String, _ named: String) throws(FormatError) -> Quantization? {
        let count = bytes.le(UInt32.self, at: at + 48), axis = bytes.le(UInt32.self, at: at + 52)
        let offset = bytes.le(UInt64.self, at: at + 56)
        // Which quantization this kind of tensor has: none, per tensor, or per output channel.
        let valid: Bool, expected: String
        switch (role, dtype) {
        case (.activation, .int8): (valid, expected) = (count == 1, "1 (per tensor)")
        case (.activation, _), (.constant, .float32): (valid, expected) = (count == 0, "0")
        case (.constant, _):   // int8 weight or LUT, int32 bias or requant table
            (valid, expected) = (count == 0 || count == UInt32(shape[0]), "0 or dims[0] = \(shape[0]) (per output channel)")
        }
        guard valid else {
            throw FormatError("\(field).quant_count", "is \(count), expected \(expected) for a \(dtype.name) \(role == .constant ? "constant" : "activation") \(named)")
        }
        guard axis == 0 else { throw FormatError("\(field).quant_axis", "is \(axis), expected 0 \(named)") }
        if count == 0 {
            guard offset == 0 else { throw FormatError("\(field).quant_offset", "is \(offset) although quant_count is 0 \(named)") }
            return nil
        }
        try checkInData(offset: offset, size: 8 * UInt64(count), data: data, field: "\(field).quant_offset", named)
        let n = Int(count), base = Int(offset)
        var scales: [Float] = [], zeroPoints: [Int32] = []
        scales.reserveCapacity(n); zeroPoints.reserveCapacity(n)
        for c in 0..<n {
            let scale = bytes.f32(at: base + 4 * c)
            guard scale.isFinite, scale > 0 else { throw FormatError("\(field).scale", "scale[\(c)] is \(scale), expected finite and > 0 \(named)") }
            let zero = Int32(bitPattern: bytes.le(UInt32.self, at: base + 4 * n + 4 * c))
            if role == .constant {
                guard zero == 0 else { throw FormatError("\(field).zero_point", "zero_point[\(c)] is \(zero); a weight's or bias's is 0 \(named)") }
            } else {
                guard (-128...127).contains(zero) else { throw FormatError("\(field).zero_point", "zero_point[\(c)] is \(zero), expected -128...127 \(named)") }
            }
            scales.append(scale); zeroPoints.append(zero)
        }
        return Quantization(scales: scales, zeroPoints: zeroPoints, axis: 0)
    }

    // MARK: ops

    func readOps(tensorCount: Int) throws(FormatError) -> [OpRecord] {
        let section = sections[.ops]!
        let end = section.offset + section.size
        var at = section.offset
        var ops: [OpRecord] = []
        ops.reserveCapacity(section.count)   // <= FormatLimits.ops (section table)
        for i in 0..<section.count {
            let field = "op[\(i)]"
            guard end - at >= 16 else { throw FormatError("OPS.size", "op \(i) starts at \(at), past the section's \(section.size) bytes") }
            let rawKind = bytes.le(UInt32.self, at: at)
            guard let kind = OpKind(rawValue: rawKind) else { throw FormatError("\(field).kind", "\(rawKind) is unknown") }
            let definition = kind.definition
            let output = bytes.le(UInt32.self, at: at + 4)
            let inputCount = bytes.le(UInt32.self, at: at + 8), attrCount = bytes.le(UInt32.self, at: at + 12)
            guard (1...UInt32(FormatLimits.inputsPerOp)).contains(inputCount) else {
                throw FormatError("\(field).input_count", "is \(inputCount), expected 1...\(FormatLimits.inputsPerOp) (\(kind.name))")
            }
            guard attrCount == UInt32(definition.attributes.count) else {
                throw FormatError("\(field).attr_count", "is \(attrCount); \(kind.name) has \(definition.attributes.count) attributes")
            }
            let size = 16 + 4 * Int(inputCount) + 8 * Int(attrCount)
            guard end - at >= size else { throw FormatError("OPS.size", "op \(i) (\(size) bytes at \(at)) runs past the section's \(section.size) bytes") }
            var inputs: [Int] = []
            inputs.reserveCapacity(Int(inputCount))
            for j in 0..<Int(inputCount) {
                let t = bytes.le(UInt32.self, at: at + 16 + 4 * j)
                guard t < UInt32(tensorCount) else { throw FormatError("\(field).inputs[\(j)]", "tensor \(t) does not exist (\(tensorCount) tensors)") }
                inputs.append(Int(t))
            }
            guard output < UInt32(tensorCount) else { throw FormatError("\(field).output", "tensor \(output) does not exist (\(tensorCount) tensors)") }
            var attributes: [Attribute] = []
            let attrs = at + 16 + 4 * Int(inputCount)
            for (j, expected) in definition.attributes.enumerated() {
                let id = bytes.le(UInt32.self, at: attrs + 8 * j)
                guard id == expected.id.rawValue else {
                    throw FormatError("\(field).attrs[\(j)].id", "is \(id); \(kind.name)'s attribute \(j) is \(expected.id.name) (\(expected.id.rawValue))")
                }
                attributes.append(Attribute(id: expected.id, bits: bytes.le(UInt32.self, at: attrs + 8 * j + 4)))
            }
            ops.append(OpRecord(kind: kind, inputs: inputs, output: Int(output), attributes: attributes))
            at += size
        }
        guard at == end else { throw FormatError("OPS.size", "is \(section.size) bytes but the \(section.count) records take \(at - section.offset)") }
        return ops
    }

    // MARK: plan, labels, provenance

    func readPlan(tensors: [TensorInfo]) throws(FormatError) -> (Int, [Int?]) {
        let section = sections[.plan]!
        let arenaSize = bytes.le(UInt64.self, at: section.offset)
        guard arenaSize % UInt64(FormatVersion.alignment) == 0 else { throw FormatError("PLAN.arena_size", "\(arenaSize) is not a multiple of 64") }
        guard arenaSize <= UInt64(FormatLimits.arenaSize) else {
            throw FormatError("PLAN.arena_size", "\(arenaSize) bytes is above the limit of \(FormatLimits.arenaSize)")
        }
        guard bytes.le(UInt64.self, at: section.offset + 8) == 0 else { throw FormatError("PLAN.reserved", "must be zero") }
        var offsets = [Int?](repeating: nil, count: tensors.count)
        var previous = -1
        for i in 0..<section.count {
            let at = section.offset + 16 + 16 * i
            let index = Int(bytes.le(UInt32.self, at: at)), offset = bytes.le(UInt64.self, at: at + 8)
            let field = "plan[\(i)]"
            guard index < tensors.count else { throw FormatError("\(field).tensor", "tensor \(index) does not exist") }
            let t = tensors[index]
            guard t.isActivation else { throw FormatError("\(field).tensor", "\"\(t.name)\" is a constant, not an activation") }
            guard index > previous else {
                throw FormatError("\(field).tensor", index == previous ? "\"\(t.name)\" is planned twice" : "tensor \(index) is out of order (after \(previous))")
            }
            previous = index
            guard bytes.le(UInt32.self, at: at + 4) == 0 else { throw FormatError("\(field).reserved", "must be zero") }
            guard offset % UInt64(FormatVersion.alignment) == 0 else { throw FormatError("\(field).offset", "\(offset) is not 64-byte aligned") }
            guard offset <= arenaSize, UInt64(t.byteCount) <= arenaSize - offset else {
                throw FormatError("\(field).offset", "\"\(t.name)\" [\(offset), +\(t.byteCount)) lies outside the \(arenaSize)-byte arena")
            }
            offsets[index] = Int(offset)
        }
        for t in tensors where t.isActivation && offsets[t.index] == nil {
            throw FormatError("PLAN.count", "activation \"\(t.name)\" (tensor \(t.index)) has no plan entry")
        }
        return (Int(arenaSize), offsets)
    }

    func readLabels() throws(FormatError) -> [String] {
        let section = sections[.labels]!
        var labels: [String] = [], seen = Set<String>()
        labels.reserveCapacity(section.count)   // <= FormatLimits.labels
        for i in 0..<section.count {
            let label = try string(at: section.offset + 8 * i, field: "label[\(i)]")
            guard !label.isEmpty else { throw FormatError("label[\(i)]", "is empty") }
            guard seen.insert(label).inserted else { throw FormatError("label[\(i)]", "\"\(label)\" is not unique") }
            labels.append(label)
        }
        return labels
    }

    static let requiredProvenance = ["precision", "source_sha256", "calibration_digest", "calibration", "converter_version", "created"]

    func readProvenance() throws(FormatError) -> [(key: String, value: String)] {
        let section = sections[.provenance]!
        var entries: [(key: String, value: String)] = [], keys = Set<String>()
        for i in 0..<section.count {
            let at = section.offset + 16 * i
            let key = try string(at: at, field: "provenance[\(i)].key")
            guard !key.isEmpty else { throw FormatError("provenance[\(i)].key", "is empty") }
            guard keys.insert(key).inserted else { throw FormatError("provenance[\(i)].key", "\"\(key)\" is not unique") }
            entries.append((key, try string(at: at + 8, field: "provenance[\(i)].value")))
        }
        for key in Self.requiredProvenance where !keys.contains(key) {
            throw FormatError("provenance", "required key \"\(key)\" is missing")
        }
        let precision = entries.first { $0.key == "precision" }!.value
        guard precision == "int8" || precision == "f32" else {
            throw FormatError("provenance.precision", "is \"\(precision)\", expected int8 or f32")
        }
        return entries
    }
}
