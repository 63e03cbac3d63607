/// How a decoded picture becomes the model's input tensor (SPEC INPUT section).
public struct PreprocessSpec: Sendable, Equatable {
    /// 1 (gray) or 3 (RGB).
    public var channels: Int
    public var height: Int
    public var width: Int
    /// Per channel, `count == channels`.
    public var mean: [Float]
    /// Per channel, `count == channels`, finite and > 0.
    public var std: [Float]

    public init(channels: Int, height: Int, width: Int, mean: [Float]? = nil, std: [Float]? = nil) {
        self.channels = channels
        self.height = height
        self.width = width
        self.mean = mean ?? Array(repeating: 0, count: channels)
        self.std = std ?? Array(repeating: 1, count: channels)
    }
}

/// SPEC INPUT steps 2-5. Every arithmetic step is exactly one IEEE binary32 operation, in the
/// SPEC's order (Swift does not contract `a * b + c` into a fused multiply-add), so the result has
/// the same bits as `roentgen_tools/image.py`.
///
/// Scaling and colour conversion are per-pixel functions, so evaluating them only at the source
/// pixels the bilinear resize reads gives exactly the same bits as converting the whole
/// full-resolution image first (the SPEC's order), at a fraction of the cost.
public enum Preprocess {
    /// Luma weights of step 3, written as bit patterns so that no literal conversion path can
    /// change them: 0.299f = 0x3E991687, 0.587f = 0x3F1645A2, 0.114f = 0x3DE978D5
    /// (identical to C's `0.299f` and numpy's `np.float32(0.299)`).
    public static let lumaR = Float(bitPattern: 0x3E99_1687)
    public static let lumaG = Float(bitPattern: 0x3F16_45A2)
    public static let lumaB = Float(bitPattern: 0x3DE9_78D5)

    /// Writes `spec.height * spec.width * spec.channels` floats (NHWC, batch 1) into `output`.
    /// Does not allocate on the heap for output widths/heights up to a few thousand.
    public static func tensor(from image: DecodedImage, spec: PreprocessSpec, into output: UnsafeMutablePointer<Float>) {
        precondition(image.channels == 1 || image.channels == 3, "DecodedImage.channels must be 1 or 3")
        precondition(image.samples.count == image.width * image.height * image.channels,
                     "DecodedImage sample count mismatch")

        // Step 2 denominator: f32(2^bitdepth - 1).
        let denominator: Float = image.bitDepth == 16 ? 65535 : 255
        let mode = colourMode(from: image.channels, spec: spec)
        image.samples.withUnsafeBufferPointer { buffer in
            let source = Source(samples: buffer.baseAddress!, inChannels: image.channels,
                                denominator: denominator, mode: mode)
            resizeAndNormalise(source: source, inWidth: image.width, inHeight: image.height, spec: spec, output: output)
        }
    }

    /// Convenience: returns the tensor as a new array.
    public static func tensor(from image: DecodedImage, spec: PreprocessSpec) -> [Float] {
        let count = spec.height * spec.width * spec.channels
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            tensor(from: image, spec: spec, into: buffer.baseAddress!)
            initialized = count
        }
    }

    // MARK: - internals

    enum ColourMode { case same, grayFromRGB, rgbFromGray }

    /// Checks the spec (the callers' contract) and picks step 3's conversion; shared by the
    /// `DecodedImage` and `FloatImage` paths.
    static func colourMode(from inChannels: Int, spec: PreprocessSpec) -> ColourMode {
        precondition(spec.channels == 1 || spec.channels == 3, "PreprocessSpec.channels must be 1 or 3")
        precondition(spec.height > 0 && spec.width > 0, "PreprocessSpec size must be positive")
        precondition(spec.mean.count == spec.channels && spec.std.count == spec.channels,
                     "PreprocessSpec mean/std need one value per channel")
        precondition(spec.std.allSatisfy { $0.isFinite && $0 > 0 } && spec.mean.allSatisfy(\.isFinite),
                     "PreprocessSpec std must be finite and > 0, mean finite")
        precondition(inChannels == 1 || inChannels == 3, "image channels must be 1 or 3")
        switch (inChannels, spec.channels) {
        case (3, 1): return .grayFromRGB
        case (1, 3): return .rgbFromGray
        default: return .same
        }
    }

    /// Steps 4 and 5 over any source of step-3 values (decoded samples here, `FloatImage` in
    /// PreprocessFloat.swift), so both inputs share one resize and one normalisation.
    static func resizeAndNormalise<S: PreprocessSource>(source: S, inWidth: Int, inHeight: Int, spec: PreprocessSpec,
                                                        output: UnsafeMutablePointer<Float>) {
        let mean = (spec.mean[0], spec.channels == 3 ? spec.mean[1] : 0, spec.channels == 3 ? spec.mean[2] : 0)
        let std = (spec.std[0], spec.channels == 3 ? spec.std[1] : 1, spec.channels == 3 ? spec.std[2] : 1)
        let outC = spec.channels
        if inWidth == spec.width && inHeight == spec.height {
            // Step 4 skipped: sizes match.
            let pixels = spec.width * spec.height
            for p in 0..<pixels {
                for c in 0..<outC {
                    output[p * outC + c] = normalise(source.value(pixel: p, channel: c), c, mean, std)
                }
            }
            return
        }
        resize(source: source, inWidth: inWidth, inHeight: inHeight, spec: spec,
               mean: mean, std: std, output: output)
    }

    /// Steps 2 and 3 at one source pixel.
    struct Source: PreprocessSource {
        let samples: UnsafePointer<UInt16>
        let inChannels: Int
        let denominator: Float
        let mode: ColourMode

        @inline(__always)
        func value(pixel p: Int, channel c: Int) -> Float {
            switch mode {
            case .same:
                return Float(samples[p &* inChannels &+ c]) / denominator
            case .rgbFromGray:
                return Float(samples[p]) / denominator
            case .grayFromRGB:
                let base = p &* 3
                let r = Float(samples[base]) / denominator
                let g = Float(samples[base &+ 1]) / denominator
                let b = Float(samples[base &+ 2]) / denominator
                let rg = lumaR * r + lumaG * g   // (0.299f*r + 0.587f*g): two roundings
                return rg + lumaB * b           // + 0.114f*b: two more
            }
        }
    }

    /// Step 5.
    @inline(__always)
    static func normalise(_ x: Float, _ c: Int, _ mean: (Float, Float, Float), _ std: (Float, Float, Float)) -> Float {
        switch c {
        case 0: return (x - mean.0) / std.0
        case 1: return (x - mean.1) / std.1
        default: return (x - mean.2) / std.2
        }
    }

    /// Step 4 source coordinate for one output index (SPEC formula, same for x and y).
    @inline(__always)
    static func coordinate(_ out: Int, scale: Float, inSize: Int) -> (i0: Int, i1: Int, f: Float) {
        var s = (Float(out) + 0.5) * scale - 0.5
        if s < 0 { s = 0 }
        let i0 = min(Int(s.rounded(.down)), inSize - 1)
        let i1 = min(i0 + 1, inSize - 1)
        let f = s - Float(i0)
        return (i0, i1, f)
    }

    static func resize<S: PreprocessSource>(source: S, inWidth: Int, inHeight: Int, spec: PreprocessSpec,
                       mean: (Float, Float, Float), std: (Float, Float, Float),
                       output: UnsafeMutablePointer<Float>) {
        let outW = spec.width, outH = spec.height, outC = spec.channels
        let scaleX = Float(inWidth) / Float(outW)
        let scaleY = Float(inHeight) / Float(outH)
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 2 * outW) { xs in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: outW) { fxs in
                for x in 0..<outW {
                    let (x0, x1, fx) = coordinate(x, scale: scaleX, inSize: inWidth)
                    xs[2 * x] = x0
                    xs[2 * x + 1] = x1
                    fxs[x] = fx
                }
                for y in 0..<outH {
                    let (y0, y1, fy) = coordinate(y, scale: scaleY, inSize: inHeight)
                    let row0 = y0 * inWidth, row1 = y1 * inWidth
                    for x in 0..<outW {
                        let x0 = xs[2 * x], x1 = xs[2 * x + 1], fx = fxs[x]
                        let o = (y * outW + x) * outC
                        for c in 0..<outC {
                            let p00 = source.value(pixel: row0 + x0, channel: c)
                            let p01 = source.value(pixel: row0 + x1, channel: c)
                            let p10 = source.value(pixel: row1 + x0, channel: c)
                            let p11 = source.value(pixel: row1 + x1, channel: c)
                            let top = p00 + fx * (p01 - p00)
                            let bottom = p10 + fx * (p11 - p10)
                            let v = top + fy * (bottom - top)
                            output[o + c] = normalise(v, c, mean, std)
                        }
                    }
                }
            }
        }
    }
}

/// A step-3 value (x in [0, 1], in the model's channel count) at a source pixel.
protocol PreprocessSource {
    func value(pixel p: Int, channel c: Int) -> Float
}
