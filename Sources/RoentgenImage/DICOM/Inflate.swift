import CZlib

/// Raw deflate (RFC 1951, no zlib or gzip header), as Deflated Explicit VR Little Endian stores the
/// data set after the File Meta group (PS3.5 A.5).
enum Inflate {
    /// More than any image this reader accepts (2^28 pixels x 3 samples x 4 bytes): a small file that
    /// inflates beyond it is refused instead of filling memory.
    static let maxOutput = 3 << 30

    static func raw(_ input: ArraySlice<UInt8>) throws(ImageError) -> [UInt8] {
        var stream = z_stream()
        // inflateInit2 is a macro; this is its expansion. -15: raw deflate, 32 KiB window.
        guard inflateInit2_(&stream, -15, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw ImageError(path: nil, reason: "deflate: cannot initialise zlib", kind: .outOfMemory)
        }
        defer { inflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: max(4096, min(input.count * 4, maxOutput)))
        var produced = 0
        var status: Int32 = Z_OK
        input.withUnsafeBytes { raw in
            stream.next_in = UnsafeMutablePointer(mutating: raw.bindMemory(to: UInt8.self).baseAddress)
            stream.avail_in = UInt32(raw.count)
            while true {
                if produced == output.count {
                    if output.count >= maxOutput { status = Z_MEM_ERROR; return }
                    output.append(contentsOf: repeatElement(0, count: min(output.count, maxOutput - output.count)))
                }
                let room = min(output.count - produced, Int(UInt32.max))
                status = output.withUnsafeMutableBytes { out in
                    stream.next_out = out.bindMemory(to: UInt8.self).baseAddress! + produced
                    stream.avail_out = UInt32(room)
                    let code = inflate(&stream, Z_NO_FLUSH)
                    produced += room - Int(stream.avail_out)
                    return code
                }
                if status == Z_STREAM_END { return }
                if status == Z_BUF_ERROR && stream.avail_in == 0 { return }  // input ended early
                if status != Z_OK { return }
            }
        }
        switch status {
        case Z_STREAM_END:
            output.removeSubrange(produced...)
            return output
        case Z_BUF_ERROR:
            throw DICOMFail.truncated("deflated data set: the deflate stream ends early (\(produced) bytes inflated)")
        case Z_MEM_ERROR:
            throw DICOMFail.tooLarge("deflated data set: inflates to more than \(maxOutput) bytes")
        default:
            throw DICOMFail.corrupt("deflated data set: bad deflate data (zlib error \(status))")
        }
    }
}
