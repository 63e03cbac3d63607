// Test helpers: the repository's fixture files, and byte-level surgery on a model file that
// re-seals the checksum so a test reaches the check it means to reach.

import Foundation
import RoentgenFormat
import RoentgenTestSupport

enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }
    static func bytes(_ relative: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path(relative)))) }
    /// A shipped model (fixtures/models).
    static func model(_ name: String) -> String { path("fixtures/models/" + name) }
}

/// A model file's bytes with helpers to find and change fields.
struct ModelBytes {
    var bytes: [UInt8]

    init(bytes: [UInt8]) { self.bytes = bytes }
    init(path: String) throws { bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

    func u32(_ at: Int) -> UInt32 { bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: UInt32.self)) } }
    func u64(_ at: Int) -> UInt64 { bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: UInt64.self)) } }
    mutating func set<T: FixedWidthInteger>(_ value: T, at: Int) {
        withUnsafeBytes(of: value.littleEndian) { for (i, b) in $0.enumerated() { bytes[at + i] = b } }
    }
    mutating func set(_ value: Float, at: Int) { set(value.bitPattern, at: at) }

    /// The section of `kind` (SPEC.md section table) and its table entry's offset.
    func section(_ kind: UInt32) -> (offset: Int, size: Int, count: Int, entry: Int) {
        let n = Int(u32(24))
        for i in 0..<n where u32(128 + 32 * i) == kind {
            return (Int(u64(128 + 32 * i + 8)), Int(u64(128 + 32 * i + 16)), Int(u64(128 + 32 * i + 24)), 128 + 32 * i)
        }
        fatalError("no section \(kind)")
    }
    func tensorRecord(_ i: Int) -> Int { section(4).offset + 64 * i }
    /// Op records are variable-length: walk them.
    func opRecord(_ i: Int) -> Int {
        var at = section(5).offset
        for _ in 0..<i { at += 16 + 4 * Int(u32(at + 8)) + 8 * Int(u32(at + 12)) }
        return at
    }
    /// The byte offset of attribute `id`'s value in op `i`'s record.
    func attribute(_ id: AttributeID, ofOp i: Int) -> Int {
        let at = opRecord(i)
        let attrs = at + 16 + 4 * Int(u32(at + 8))
        for j in 0..<Int(u32(at + 12)) where u32(attrs + 8 * j) == id.rawValue { return attrs + 8 * j + 4 }
        fatalError("op \(i) has no \(id.name)")
    }

    /// Recomputes the SHA-256 so a changed field is judged on its own merits.
    mutating func reseal() { ModelDraft.seal(&bytes) }

    func parse() throws(FormatError) -> ModelFile {
        let result = bytes.withUnsafeBytes { raw in Result { () throws(FormatError) in try ModelReader.parse(raw) } }
        return try result.get()
    }

    /// The error parsing gives, or nil when the file is accepted.
    func error() -> FormatError? {
        do { _ = try parse(); return nil } catch { return error }
    }
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
}
