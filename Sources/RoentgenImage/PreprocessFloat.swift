/// A picture already scaled to [0, 1]: what a DICOM image is after its VOI step (docs/DICOM.md),
/// the point where it joins the PNG path at SPEC INPUT step 3.
public struct FloatImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// 1 (gray) or 3 (RGB).
    public let channels: Int
    /// `width * height * channels` values in [0, 1], row-major, interleaved.
    public let values: [Float]

    public init(width: Int, height: Int, channels: Int, values: [Float]) {
        precondition(width > 0 && height > 0, "FloatImage: empty image")
        precondition(channels == 1 || channels == 3, "FloatImage: channels must be 1 or 3")
        precondition(values.count == width * height * channels, "FloatImage: value count mismatch")
        self.width = width
        self.height = height
        self.channels = channels
        self.values = values
    }
}

extension Preprocess {
    /// SPEC INPUT steps 3-5 on a `FloatImage` (its values stand for step 2's x), with the same
    /// colour conversion, resize and normalisation as the `DecodedImage` path, so a PNG and a DICOM
    /// image with the same x values give the same tensor bits.
    public static func tensor(from image: FloatImage, spec: PreprocessSpec, into output: UnsafeMutablePointer<Float>) {
        let mode = colourMode(from: image.channels, spec: spec)
        image.values.withUnsafeBufferPointer { buffer in
            let source = FloatSource(values: buffer.baseAddress!, inChannels: image.channels, mode: mode)
            resizeAndNormalise(source: source, inWidth: image.width, inHeight: image.height, spec: spec, output: output)
        }
    }

    /// Convenience: returns the tensor as a new array.
    public static func tensor(from image: FloatImage, spec: PreprocessSpec) -> [Float] {
        let count = spec.height * spec.width * spec.channels
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            tensor(from: image, spec: spec, into: buffer.baseAddress!)
            initialized = count
        }
    }

    /// Step 3 at one source pixel (the twin of `Source`, without step 2's division).
    struct FloatSource: PreprocessSource {
        let values: UnsafePointer<Float>
        let inChannels: Int
        let mode: ColourMode

        @inline(__always)
        func value(pixel p: Int, channel c: Int) -> Float {
            switch mode {
            case .same:
                return values[p &* inChannels &+ c]
            case .rgbFromGray:
                return values[p]
            case .grayFromRGB:
                let base = p &* 3
                let rg = lumaR * values[base] + lumaG * values[base &+ 1]
                return rg + lumaB * values[base &+ 2]
            }
        }
    }
}
