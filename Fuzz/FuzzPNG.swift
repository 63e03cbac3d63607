// libFuzzer target: the PNG decoder (libpng behind the CPNG shim) on arbitrary bytes, and on success
// the preprocessing that every decoded image goes through, to a small gray and a small RGB tensor.
import CZlib
import RoentgenImage

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPNG(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var bytes = Array(UnsafeBufferPointer(start: data, count: size))
    resealCRCs(&bytes)
    do {
        let image = try bytes.withUnsafeBytes { raw in try PNGDecoder.decode(raw, path: "fuzz.png") }
        for spec in [PreprocessSpec(channels: 1, height: 7, width: 9), PreprocessSpec(channels: 3, height: 4, width: 4)] {
            _ = Preprocess.tensor(from: image, spec: spec)
        }
    } catch {
        let message = String(describing: error)
        if message.contains(where: \.isNewline) { fatalError("a PNG error of more than one line: \(message)") }
    }
    return 0
}

/// The decoder rejects any chunk whose CRC is wrong, and a mutation almost never keeps it right:
/// recompute each whole chunk's CRC so that mutations of IHDR, PLTE, tRNS and IDAT get decoded.
func resealCRCs(_ bytes: inout [UInt8]) {
    var at = 8
    while at + 12 <= bytes.count {
        let length = bytes[at..<at + 4].reduce(0) { $0 << 8 | Int($1) }
        guard length <= bytes.count - at - 12 else { return }
        let crc = bytes.withUnsafeBufferPointer { crc32(0, $0.baseAddress! + at + 4, UInt32(length + 4)) }
        for k in 0..<4 { bytes[at + 8 + length + k] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * k)) }
        at += 12 + length
    }
}
