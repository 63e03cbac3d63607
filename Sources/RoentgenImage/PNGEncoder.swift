import CPNG

/// Writes PNG files (used by tests and for pictures such as confusion matrices).
public enum PNGEncoder {
    /// Encodes to PNG bytes. `channels`: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA. `bitDepth`: 8 or 16
    /// (1, 2 and 4 are accepted for gray). `samples`: `width * height * channels` values, row-major,
    /// interleaved, each below `2^bitDepth`. `transparentColor` (gray: 1 value, RGB: 3) adds a tRNS
    /// chunk. `compressionLevel`: 0...9, or -1 for libpng's default.
    public static func encode(width: Int, height: Int, channels: Int, bitDepth: Int, samples: [UInt16],
                              interlaced: Bool = false, transparentColor: [UInt16]? = nil,
                              compressionLevel: Int = -1) throws(ImageError) -> [UInt8] {
        let colorType: Int32
        switch channels {
        case 1: colorType = Int32(CPNG_COLOR_GRAY)
        case 2: colorType = Int32(CPNG_COLOR_GRAY_ALPHA)
        case 3: colorType = Int32(CPNG_COLOR_RGB)
        case 4: colorType = Int32(CPNG_COLOR_RGBA)
        default: throw invalid("channels must be 1, 2, 3 or 4 (got \(channels))")
        }
        if let transparentColor, transparentColor.count != (channels == 3 ? 3 : 1) {
            throw invalid("transparentColor needs \(channels == 3 ? 3 : 1) value(s)")
        }
        return try run(width: width, height: height, colorType: colorType, bitDepth: bitDepth,
                       samples: samples, perPixel: channels, interlaced: interlaced,
                       compressionLevel: compressionLevel, palette: [], alpha: [],
                       transparentColor: transparentColor)
    }

    /// Encodes a palette PNG. `indices`: one per pixel, below `palette.count / 3`. `palette`: RGB
    /// triplets (1...256 entries). `alpha`: optional tRNS alpha for the first entries.
    /// `bitDepth`: 1, 2, 4 or 8.
    public static func encodePalette(width: Int, height: Int, bitDepth: Int = 8, indices: [UInt16],
                                     palette: [UInt8], alpha: [UInt8] = [], interlaced: Bool = false,
                                     compressionLevel: Int = -1) throws(ImageError) -> [UInt8] {
        guard palette.count % 3 == 0 else { throw invalid("palette must hold RGB triplets") }
        return try run(width: width, height: height, colorType: Int32(CPNG_COLOR_PALETTE), bitDepth: bitDepth,
                       samples: indices, perPixel: 1, interlaced: interlaced,
                       compressionLevel: compressionLevel, palette: palette, alpha: alpha,
                       transparentColor: nil)
    }

    /// Encodes and writes a PNG file (see `encode` for the parameters).
    public static func write(path: String, width: Int, height: Int, channels: Int, bitDepth: Int,
                             samples: [UInt16], interlaced: Bool = false) throws(ImageError) {
        do {
            let bytes = try encode(width: width, height: height, channels: channels, bitDepth: bitDepth,
                                   samples: samples, interlaced: interlaced)
            try FileIO.writeAll(path: path, bytes: bytes)
        } catch {
            throw ImageError(path: path, reason: error.reason, kind: error.kind)
        }
    }

    /// Writes bytes (for example from `encode`) to a file.
    public static func write(path: String, bytes: [UInt8]) throws(ImageError) {
        try FileIO.writeAll(path: path, bytes: bytes)
    }

    private static func invalid(_ reason: String) -> ImageError {
        ImageError(path: nil, reason: reason, kind: .invalidArgument)
    }

    private static func run(width: Int, height: Int, colorType: Int32, bitDepth: Int, samples: [UInt16],
                            perPixel: Int, interlaced: Bool, compressionLevel: Int, palette: [UInt8],
                            alpha: [UInt8], transparentColor: [UInt16]?) throws(ImageError) -> [UInt8] {
        guard width > 0, height > 0, width <= Int(CPNG_MAX_SIDE), height <= Int(CPNG_MAX_SIDE) else {
            throw invalid("invalid image size \(width) x \(height)")
        }
        guard [1, 2, 4, 8, 16].contains(bitDepth) else { throw invalid("bit depth must be 1, 2, 4, 8 or 16") }
        guard (-1...9).contains(compressionLevel) else { throw invalid("compression level must be -1...9") }
        guard samples.count == width * height * perPixel else {
            throw invalid("expected \(width * height * perPixel) samples, got \(samples.count)")
        }
        var params = cpng_encode_params()
        params.width = UInt32(width)
        params.height = UInt32(height)
        params.color_type = UInt32(colorType)
        params.bit_depth = UInt32(bitDepth)
        params.interlaced = interlaced ? 1 : 0
        params.compression_level = Int32(compressionLevel)
        params.palette_count = UInt32(palette.count / 3)
        params.trans_count = UInt32(alpha.count)
        if let transparentColor {
            params.has_trans_color = 1
            params.trans_color.0 = transparentColor[0]
            params.trans_color.1 = transparentColor.count > 1 ? transparentColor[1] : 0
            params.trans_color.2 = transparentColor.count > 2 ? transparentColor[2] : 0
        }
        var message = [CChar](repeating: 0, count: 512)
        var data: UnsafeMutablePointer<UInt8>? = nil
        var size = 0
        let code = samples.withUnsafeBufferPointer { samplePtr in
            palette.withUnsafeBufferPointer { palettePtr in
                alpha.withUnsafeBufferPointer { alphaPtr in
                    message.withUnsafeMutableBufferPointer { err in
                        params.samples = samplePtr.baseAddress
                        params.palette = palettePtr.baseAddress
                        params.trans = alphaPtr.baseAddress
                        return cpng_encode(&params, &data, &size, err.baseAddress, err.count)
                    }
                }
            }
        }
        defer { cpng_free_buffer(data) }
        guard code == Int32(CPNG_OK), let data else {
            throw ImageError(path: nil, reason: CPNGStatus.message(message), kind: CPNGStatus.kind(code))
        }
        return Array(UnsafeBufferPointer(start: data, count: size))
    }
}
