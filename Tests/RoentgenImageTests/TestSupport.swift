import Foundation
import Testing
import RoentgenImage

/// A fresh temporary directory per call (removed by the caller with `cleanup`).
struct TempDir {
    let path: String

    init() throws {
        let base = NSTemporaryDirectory() + "roentgen-image-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        path = base
    }

    func file(_ name: String) -> String { path + "/" + name }

    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let p = file(name)
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return p
    }

    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

/// Deterministic samples: the same LCG as the numpy reference used for the golden vectors.
func lcg(count: Int, seed: UInt64, modulo: UInt64) -> [UInt16] {
    var s = seed
    var out = [UInt16]()
    out.reserveCapacity(count)
    for _ in 0..<count {
        s = (s &* 1_103_515_245 &+ 12345) % (1 << 31)
        out.append(UInt16((s >> 8) % modulo))
    }
    return out
}

/// PNG chunk layout of a byte string: (type, offset of the length field, data length).
func chunks(_ png: [UInt8]) -> [(type: String, offset: Int, length: Int)] {
    var result: [(String, Int, Int)] = []
    var pos = 8
    while pos + 8 <= png.count {
        let length = Int(png[pos]) << 24 | Int(png[pos + 1]) << 16 | Int(png[pos + 2]) << 8 | Int(png[pos + 3])
        let type = String(decoding: png[(pos + 4)..<(pos + 8)], as: UTF8.self)
        result.append((type, pos, length))
        pos += 12 + length
    }
    return result
}

func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for b in bytes {
        crc ^= UInt32(b)
        for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return ~crc
}

/// Rewrites IHDR width/height (fixing its CRC) to build "valid looking" oversized headers.
func withIHDRSize(_ png: [UInt8], width: UInt32, height: UInt32) -> [UInt8] {
    var out = png
    let ihdr = 8  // IHDR is always the first chunk
    for (i, v) in [width, height].enumerated() {
        for k in 0..<4 { out[ihdr + 8 + 4 * i + k] = UInt8(truncatingIfNeeded: v >> (24 - 8 * k)) }
    }
    let crc = crc32(out[(ihdr + 4)..<(ihdr + 8 + 13)])
    for k in 0..<4 { out[ihdr + 8 + 13 + k] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * k)) }
    return out
}

func decodeBytes(_ bytes: [UInt8], path: String? = "memory.png") throws(ImageError) -> DecodedImage {
    let result = bytes.withUnsafeBytes { raw in
        Result { () throws(ImageError) -> DecodedImage in try PNGDecoder.decode(raw, path: path) }
    }
    return try result.get()
}

/// Runs `body`, which must throw an ImageError; returns it (or nil if nothing was thrown).
/// Any other error type is a failure (returned as nil after recording an issue).
func expectImageError(_ body: () throws -> Void) -> ImageError? {
    do {
        try body()
        return nil
    } catch let error as ImageError {
        return error
    } catch {
        Issue.record("unexpected error type: \(error)")
        return nil
    }
}
