// Test helpers: the repository's fixture files, and byte-level surgery on a model file that
// re-seals the checksum so a test reaches the check it means to reach.

import Foundation
import RoentgenFormat

enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }
    static func bytes(_ relative: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path(relative)))) }
}

/// A model file's bytes with helpers to find and change fields.
struct ModelBytes {
    var bytes: [UInt8]

    func u32(_ at: Int) -> UInt32 { bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: UInt32.self)) } }
    func u64(_ at: Int) -> UInt64 { bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: UInt64.self)) } }
    mutating func set<T: FixedWidthInteger>(_ value: T, at: Int) {
        withUnsafeBytes(of: value.littleEndian) { for (i, b) in $0.enumerated() { bytes[at + i] = b } }
    }

    /// Offset of the section of `kind` (SPEC.md section table).
    func section(_ kind: UInt32) -> (offset: Int, size: Int, count: Int) {
        let n = Int(u32(24))
        for i in 0..<n where u32(128 + 32 * i) == kind {
            return (Int(u64(128 + 32 * i + 8)), Int(u64(128 + 32 * i + 16)), Int(u64(128 + 32 * i + 24)))
        }
        fatalError("no section \(kind)")
    }
    func tensorRecord(_ i: Int) -> Int { section(4).offset + 64 * i }
    func opRecord(_ i: Int) -> Int { section(5).offset + 64 * i }

    /// Recomputes the SHA-256 so a changed field is judged on its own merits.
    mutating func reseal() {
        var hasher = SHA256.Hasher()
        bytes.withUnsafeBytes { raw in
            hasher.update(UnsafeRawBufferPointer(rebasing: raw[0..<40]))
            hasher.update(UnsafeRawBufferPointer(rebasing: raw[72...]))
        }
        let digest = hasher.finish()
        bytes.replaceSubrange(40..<72, with: digest)
    }

    func parse() throws(FormatError) -> ModelFile {
        let result = bytes.withUnsafeBytes { raw in Result { () throws(FormatError) in try ModelReader.parse(raw) } }
        return try result.get()
    }

    /// The error parsing gives, or nil when the file is accepted.
    func error() -> FormatError? {
        do { _ = try parse(); return nil } catch { return error }
    }
}
