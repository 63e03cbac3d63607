// libFuzzer target: the model-file reader (ModelReader.parse: header, sections, tensors, ops with the
// graph rules, the memory plan, provenance, confidence) on arbitrary bytes.
import RoentgenFormat

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzModel(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var bytes = Array(UnsafeBufferPointer(start: data, count: size))
    // A mutation almost never keeps file_size and the SHA-256 right, and the reader checks both
    // before anything else: re-seal them so the mutations reach the section table and beyond.
    if bytes.count >= FormatVersion.headerSize {
        withUnsafeBytes(of: UInt64(bytes.count).littleEndian) { bytes.replaceSubrange(16..<24, with: $0) }
        var hasher = SHA256.Hasher()
        bytes.withUnsafeBytes { raw in
            hasher.update(UnsafeRawBufferPointer(rebasing: raw[0..<40]))
            hasher.update(UnsafeRawBufferPointer(rebasing: raw[72...]))
        }
        bytes.replaceSubrange(40..<72, with: hasher.finish())
    }
    do {
        let model = try bytes.withUnsafeBytes { raw throws(FormatError) in try ModelReader.parse(raw) }
        // What the runtime asks of a loaded plan when it places kernel scratch.
        for i in model.ops.indices { _ = model.plan.live(at: i) }
    } catch {
        let message = String(describing: error)
        if message.contains(where: \.isNewline) { fatalError("a model error of more than one line: \(message)") }
    }
    return 0
}
