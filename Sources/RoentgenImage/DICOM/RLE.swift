/// RLE Lossless (PS3.5 Annex G): one frame is one fragment holding a 64-byte header (the segment
/// count and 15 offsets) and up to 15 PackBits segments. Segment k holds byte k of every sample
/// word, most significant byte first, each sample of a colour image in its own run of segments (the
/// decoded frame is always planar, PS3.5 G.2).
enum RLE {
    /// Returns the frame as native little-endian sample words, planar (all R, then G, then B), so the
    /// pixel step reads it like a native frame with Planar Configuration 1.
    static func decodeFrame(_ fragment: ArraySlice<UInt8>, pixels: Int, samplesPerPixel: Int,
                            bytesPerSample: Int) throws(ImageError) -> [UInt8] {
        let tag = Tag.pixelData
        guard fragment.count >= 64 else {
            throw DICOMFail.truncated("\(tag): RLE fragment of \(fragment.count) bytes has no 64-byte header")
        }
        let base = fragment.startIndex
        let segments = Int(Bytes.u32(fragment, base, bigEndian: false))
        let expected = samplesPerPixel * bytesPerSample
        guard segments == expected else {
            throw DICOMFail.corrupt("\(tag): RLE header has \(segments) segments, the image needs \(expected)")
        }
        var offsets: [Int] = []
        for k in 0..<segments {
            offsets.append(Int(Bytes.u32(fragment, base + 4 + 4 * k, bigEndian: false)))
        }
        // PackBits expands 2 bytes to at most 128, so a fragment too small for the image is refused
        // before the frame is allocated (a tiny file cannot claim gigabytes).
        let minimumSegment = 2 * ((pixels + 127) / 128)
        guard fragment.count - 64 >= segments * minimumSegment else {
            throw DICOMFail.truncated("\(tag): RLE fragment of \(fragment.count) bytes cannot hold \(segments) segments "
                                      + "of \(pixels) bytes (at least \(minimumSegment) bytes each)")
        }
        var frame = [UInt8](repeating: 0, count: pixels * expected)
        for k in 0..<segments {
            let start = offsets[k]
            let end = k + 1 < segments ? offsets[k + 1] : fragment.count
            guard start >= 64, start <= end, end <= fragment.count else {
                throw DICOMFail.corrupt("\(tag): RLE segment \(k) offset \(start)..\(end) lies outside the \(fragment.count)-byte fragment")
            }
            let sample = k / bytesPerSample
            let byteInSample = k % bytesPerSample            // 0 = most significant
            let littleEndianByte = bytesPerSample - 1 - byteInSample
            // Destination of decoded byte i: sample plane `sample`, pixel i, byte littleEndianByte.
            let planeStart = sample * pixels * bytesPerSample
            var written = 0
            var i = base + start
            let stop = base + end
            // PackBits: n in 0...127 copies n+1 literal bytes; n in -127...-1 repeats the next byte 1-n
            // times; -128 is a no-op. Output beyond `pixels` bytes is padding and ignored.
            while i < stop && written < pixels {
                let n = Int(Int8(bitPattern: fragment[i]))
                i += 1
                if n >= 0 {
                    let count = n + 1
                    guard i + count <= stop else {
                        throw DICOMFail.truncated("\(tag): RLE segment \(k) literal run passes the segment end")
                    }
                    for j in 0..<min(count, pixels - written) {
                        frame[planeStart + (written + j) * bytesPerSample + littleEndianByte] = fragment[i + j]
                    }
                    written += count
                    i += count
                } else if n != -128 {
                    guard i < stop else { throw DICOMFail.truncated("\(tag): RLE segment \(k) replicate run passes the segment end") }
                    let count = 1 - n
                    let value = fragment[i]
                    for j in 0..<min(count, pixels - written) {
                        frame[planeStart + (written + j) * bytesPerSample + littleEndianByte] = value
                    }
                    written += count
                    i += 1
                }
            }
            guard written >= pixels else {
                throw DICOMFail.truncated("\(tag): RLE segment \(k) decodes to \(written) bytes, the image needs \(pixels)")
            }
        }
        return frame
    }
}
