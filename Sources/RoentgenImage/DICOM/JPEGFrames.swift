import CJPEG
import COpenJPEG

/// Step 1 for JPEG Baseline / Extended (libjpeg-turbo) and JPEG 2000 (OpenJPEG): frame 0's codestream
/// decoded, checked against the Image Pixel module, and written as the native frame that steps 2-7
/// read (little-endian words of Bits Allocated, each value at High Bit).
enum JPEGFrames {
    static func jpeg(_ codestream: ArraySlice<UInt8>, _ m: PixelModule, _ syntax: TransferSyntax) throws(ImageError) -> PixelPipeline.Frame {
        var image = cjpeg_image()
        var message = [CChar](repeating: 0, count: 256)
        let code = codestream.withUnsafeBytes { raw in
            message.withUnsafeMutableBufferPointer { err in
                cjpeg_decode(raw.baseAddress?.assumingMemoryBound(to: UInt8.self), raw.count, UInt32(m.columns),
                             UInt32(m.rows), UInt32(m.samplesPerPixel), &image, err.baseAddress, err.count)
            }
        }
        defer { cjpeg_free(&image) }
        let text = Self.text(message)
        switch Int(code) {
        case Int(CJPEG_OK): break
        case Int(CJPEG_ERR_PRECISION):
            // Debian's libjpeg62-turbo is built for 8-bit samples only.
            throw DICOMFail.corrupt("transfer syntax \(syntax.uid) (\(syntax.name)): \(image.precision)-bit JPEG is not supported (8-bit only)")
        case Int(CJPEG_ERR_MISMATCH):
            throw mismatch(m, width: image.width, height: image.height, components: image.components,
                           "the JPEG frame header", otherwise: text)
        case Int(CJPEG_ERR_TRUNCATED): throw DICOMFail.truncated("\(Tag.pixelData): JPEG frame 0 is cut short (\(text))")
        case Int(CJPEG_ERR_NO_MEMORY): throw ImageError(path: nil, reason: "\(Tag.pixelData): JPEG frame 0: \(text)", kind: .outOfMemory)
        default: throw DICOMFail.corrupt("\(Tag.pixelData): JPEG frame 0: \(text)")
        }
        let samples = UnsafeBufferPointer(start: image.samples, count: m.pixels * m.samplesPerPixel)
        let words = try nativeWords(samples, precision: 8, codedSigned: false, m, "the 8-bit JPEG frame")
        return PixelPipeline.Frame(bytes: words[...], bigEndian: false, planar: false)
    }

    static func jpeg2000(_ codestream: ArraySlice<UInt8>, _ m: PixelModule) throws(ImageError) -> PixelPipeline.Frame {
        var image = copenjpeg_image()
        var message = [CChar](repeating: 0, count: 256)
        let code = codestream.withUnsafeBytes { raw in
            message.withUnsafeMutableBufferPointer { err in
                copenjpeg_decode(raw.baseAddress?.assumingMemoryBound(to: UInt8.self), raw.count, UInt32(m.columns),
                                 UInt32(m.rows), UInt32(m.samplesPerPixel), &image, err.baseAddress, err.count)
            }
        }
        defer { copenjpeg_free(&image) }
        let text = Self.text(message)
        switch Int(code) {
        case Int(COPENJPEG_OK): break
        case Int(COPENJPEG_ERR_MISMATCH):
            throw mismatch(m, width: image.width, height: image.height, components: image.components,
                           "the JPEG 2000 header", otherwise: text)
        case Int(COPENJPEG_ERR_UNSUPPORTED): throw DICOMFail.corrupt("\(Tag.pixelData): JPEG 2000 frame 0: \(text) is not supported")
        case Int(COPENJPEG_ERR_NO_MEMORY): throw ImageError(path: nil, reason: "\(Tag.pixelData): JPEG 2000 frame 0: \(text)", kind: .outOfMemory)
        default: throw DICOMFail.corrupt("\(Tag.pixelData): JPEG 2000 frame 0: \(text)")
        }
        let samples = UnsafeBufferPointer(start: image.samples, count: m.pixels * m.samplesPerPixel)
        let signed = image.is_signed != 0
        let words = try nativeWords(samples, precision: Int(image.precision), codedSigned: signed, m,
                                    "the JPEG 2000 codestream (\(image.precision)-bit \(signed ? "signed" : "unsigned"))")
        return PixelPipeline.Frame(bytes: words[...], bigEndian: false, planar: true)
    }

    /// Decoded samples as native words. A sample is the low `precision` bits of a stored value; where
    /// the codestream's signedness differs from Pixel Representation, those bits are read in Pixel
    /// Representation's (as pydicom does, e.g. for J2K_pixelrep_mismatch.dcm). The value must then fit
    /// in Bits Stored, so that step 2 gives it back unchanged.
    static func nativeWords<Sample: BinaryInteger>(_ samples: UnsafeBufferPointer<Sample>, precision: Int, codedSigned: Bool,
                                                   _ m: PixelModule, _ source: String) throws(ImageError) -> [UInt8] {
        let field = (Int64(1) << precision) - 1
        let storedMask = (UInt64(1) << m.bitsStored) - 1
        let lowest: Int64 = m.signed ? -(Int64(1) << (m.bitsStored - 1)) : 0
        let highest: Int64 = m.signed ? (Int64(1) << (m.bitsStored - 1)) - 1 : Int64(storedMask)
        let shift = UInt64(m.highBit + 1 - m.bitsStored)
        let width = m.bytesPerSample
        var words = [UInt8](repeating: 0, count: samples.count * width)
        for i in 0..<samples.count {
            var v = Int64(samples[i])
            if codedSigned != m.signed {
                v &= field
                if m.signed && v > field >> 1 { v -= field + 1 }
            }
            guard v >= lowest && v <= highest else {
                throw DICOMFail.corrupt("\(Tag.bitsStored): \(m.bitsStored) (\(m.signed ? "signed" : "unsigned")), but \(source) "
                                        + "holds the value \(v) at sample \(i)")
            }
            let word = (UInt64(bitPattern: v) & storedMask) << shift
            for k in 0..<width { words[i * width + k] = UInt8(truncatingIfNeeded: word >> UInt64(8 * k)) }
        }
        return words
    }

    /// The first of Rows, Columns, Samples per Pixel that the codestream disagrees with.
    static func mismatch(_ m: PixelModule, width: UInt32, height: UInt32, components: UInt32, _ header: String,
                         otherwise: String) -> ImageError {
        if Int(height) != m.rows { return DICOMFail.corrupt("\(Tag.rows): \(m.rows), but \(header) has \(height)") }
        if Int(width) != m.columns { return DICOMFail.corrupt("\(Tag.columns): \(m.columns), but \(header) has \(width)") }
        if Int(components) != m.samplesPerPixel {
            return DICOMFail.corrupt("\(Tag.samplesPerPixel): \(m.samplesPerPixel), but \(header) has \(components) components")
        }
        return DICOMFail.corrupt("\(Tag.pixelData): frame 0: \(otherwise)")
    }

    static func text(_ message: [CChar]) -> String {
        let bytes = message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return bytes.isEmpty ? "no message from the decoder" : String(decoding: bytes, as: UTF8.self)
    }
}
