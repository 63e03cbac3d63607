// AVGPOOL2D and MEAN (SPEC "AVGPOOL2D", "MEAN"), int8 and f32. Windows are clipped to the input
// (PoolGeometry.window); the int8 epilogues are the shared rounding rule on 16 lanes at a time.
#if arch(x86_64)
import RoentgenKernelsVNNI
import RoentgenKernelsAVX2
#endif

/// The AVGPOOL2D divisor of output (oh, ow): the taps inside the input, or with count_include_pad
/// the taps inside the padded extent [-pad_top, H + pad_bottom) x [-pad_left, W + pad_right).
@inline(__always)
func averageDivisor(_ g: PoolGeometry, _ rows: Range<Int>, _ cols: Range<Int>, _ oh: Int, _ ow: Int, includePad: Bool) -> Int {
    if !includePad { return rows.count * cols.count }
    let r0 = oh * g.strideHeight - g.padTop, c0 = ow * g.strideWidth - g.padLeft
    let rh = max(0, min(r0 + g.kernelHeight, g.inputHeight + g.padBottom) - max(r0, -g.padTop))
    let cw = max(0, min(c0 + g.kernelWidth, g.inputWidth + g.padRight) - max(c0, -g.padLeft))
    return rh * cw
}

public final class AvgPool2DInt8: @unchecked Sendable {
    public let geometry: PoolGeometry
    public let inputZeroPoint: Int32, outputZeroPoint: Int32
    public let countIncludePad: Bool
    let requant: UnsafeMutablePointer<Int32>      // [KH * KW][2]: row c - 1 for divisor c

    public init(geometry g: PoolGeometry, requant: UnsafePointer<Int32>, inputZeroPoint: Int32, outputZeroPoint: Int32,
                countIncludePad: Bool) {
        precondition(g.kernelHeight >= 1 && g.kernelWidth >= 1 && g.channels >= 1, "AvgPool2DInt8: invalid geometry \(g)")
        geometry = g
        self.inputZeroPoint = inputZeroPoint; self.outputZeroPoint = outputZeroPoint
        self.countIncludePad = countIncludePad
        let n = g.kernelHeight * g.kernelWidth * 2
        self.requant = .allocate(capacity: n)
        self.requant.initialize(from: requant, count: n)
    }

    deinit { requant.deallocate() }

    public func run(input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>) {
        let g = geometry, c = g.channels
        typealias K = PortableKernels
        for oh in 0..<g.outputHeight {
            let rows = PoolGeometry.window(oh, stride: g.strideHeight, pad: g.padTop, kernel: g.kernelHeight, size: g.inputHeight)
            for ow in 0..<g.outputWidth {
                let cols = PoolGeometry.window(ow, stride: g.strideWidth, pad: g.padLeft, kernel: g.kernelWidth, size: g.inputWidth)
                let divisor = averageDivisor(g, rows, cols, oh, ow, includePad: countIncludePad)
                let m = K.V32(repeating: requant[(divisor - 1) * 2]), s = K.V32(repeating: requant[(divisor - 1) * 2 + 1])
                let offset = K.V32(repeating: Int32(rows.count * cols.count) &* inputZeroPoint)
                let out = output + (oh * g.outputWidth + ow) * c
                var c0 = 0
                while c0 < c {
                    let n = c - c0
                    var acc = K.V32()
                    for ih in rows {
                        for iw in cols { acc &+= K.V32(truncatingIfNeeded: K.load8(input + ((ih * g.inputWidth + iw) * c + c0), n)) }
                    }
                    K.store8(K.V8(truncatingIfNeeded: K.requantize(acc &- offset, m, s, Int64(outputZeroPoint), -128, 127)), out + c0, n)
                    c0 += 16
                }
            }
        }
    }

    /// The scalar twin (checked Int32 sums, the shared Requantize).
    public static func reference(geometry g: PoolGeometry, requant: UnsafePointer<Int32>, inputZeroPoint: Int32, outputZeroPoint: Int32,
                                 countIncludePad: Bool, input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>) {
        for oh in 0..<g.outputHeight {
            for ow in 0..<g.outputWidth {
                for ch in 0..<g.channels {
                    var acc: Int32 = 0, inside = 0, padded = 0
                    for kh in 0..<g.kernelHeight {
                        let ih = oh * g.strideHeight - g.padTop + kh
                        for kw in 0..<g.kernelWidth {
                            let iw = ow * g.strideWidth - g.padLeft + kw
                            if ih >= -g.padTop && ih < g.inputHeight + g.padBottom && iw >= -g.padLeft && iw < g.inputWidth + g.padRight {
                                padded += 1
                            }
                            if ih < 0 || ih >= g.inputHeight || iw < 0 || iw >= g.inputWidth { continue }
                            inside += 1
                            acc += Int32(input[(ih * g.inputWidth + iw) * g.channels + ch]) - inputZeroPoint
                        }
                    }
                    let c = countIncludePad ? padded : inside
                    let v = Requantize.apply(acc, multiplier: requant[(c - 1) * 2], shift: requant[(c - 1) * 2 + 1])
                    output[(oh * g.outputWidth + ow) * g.channels + ch] = Requantize.clamp(v, zeroPoint: outputZeroPoint, min: -128, max: 127)
                }
            }
        }
    }
}

public final class AvgPool2DFloat: @unchecked Sendable {
    public let geometry: PoolGeometry
    public let countIncludePad: Bool

    public init(geometry g: PoolGeometry, countIncludePad: Bool) {
        precondition(g.kernelHeight >= 1 && g.kernelWidth >= 1 && g.channels >= 1, "AvgPool2DFloat: invalid geometry \(g)")
        geometry = g; self.countIncludePad = countIncludePad
    }

    /// y = (sum over the taps inside the input of x) / f32(c), summed in tap order.
    public func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        let g = geometry, c = g.channels
        typealias K = PortableKernels
        for oh in 0..<g.outputHeight {
            let rows = PoolGeometry.window(oh, stride: g.strideHeight, pad: g.padTop, kernel: g.kernelHeight, size: g.inputHeight)
            for ow in 0..<g.outputWidth {
                let cols = PoolGeometry.window(ow, stride: g.strideWidth, pad: g.padLeft, kernel: g.kernelWidth, size: g.inputWidth)
                let divisor = K.VF(repeating: Float(averageDivisor(g, rows, cols, oh, ow, includePad: countIncludePad)))
                let out = output + (oh * g.outputWidth + ow) * c
                var c0 = 0
                while c0 < c {
                    let n = c - c0
                    var acc = K.VF()
                    for ih in rows {
                        for iw in cols { acc = acc + K.loadF(input + ((ih * g.inputWidth + iw) * c + c0), n) }
                    }
                    K.storeF(acc / divisor, out + c0, n)
                    c0 += 16
                }
            }
        }
    }

    /// The double-precision twin (tests compare within a tolerance).
    public static func reference(geometry g: PoolGeometry, countIncludePad: Bool, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Double>) {
        for oh in 0..<g.outputHeight {
            for ow in 0..<g.outputWidth {
                for ch in 0..<g.channels {
                    var acc = 0.0, inside = 0, padded = 0
                    for kh in 0..<g.kernelHeight {
                        let ih = oh * g.strideHeight - g.padTop + kh
                        for kw in 0..<g.kernelWidth {
                            let iw = ow * g.strideWidth - g.padLeft + kw
                            if ih >= -g.padTop && ih < g.inputHeight + g.padBottom && iw >= -g.padLeft && iw < g.inputWidth + g.padRight {
                                padded += 1
                            }
                            if ih < 0 || ih >= g.inputHeight || iw < 0 || iw >= g.inputWidth { continue }
                            inside += 1
                            acc += Double(input[(ih * g.inputWidth + iw) * g.channels + ch])
                        }
                    }
                    output[(oh * g.outputWidth + ow) * g.channels + ch] = acc / Double(countIncludePad ? padded : inside)
                }
            }
        }
    }
}

typealias MeanEntry = (UnsafePointer<Int8>, Int, Int, Int32, Int32, Int32, Int32, UnsafeMutablePointer<Int8>) -> Void

public final class MeanInt8: @unchecked Sendable {
    public let height: Int, width: Int, channels: Int
    public let multiplier: Int32, shift: Int32, inputZeroPoint: Int32, outputZeroPoint: Int32
    let kernel: MeanEntry

    public init(height: Int, width: Int, channels: Int, multiplier: Int32, shift: Int32, inputZeroPoint: Int32,
                outputZeroPoint: Int32, variant: KernelVariant = .selected) {
        precondition(height >= 1 && width >= 1 && channels >= 1, "MeanInt8: invalid shape")
        precondition(height * width * 255 <= Int(Int32.max), "MeanInt8: \(height)x\(width) may overflow int32")
        checkRequant("MeanInt8", multiplier, shift)
        self.height = height; self.width = width; self.channels = channels
        self.multiplier = multiplier; self.shift = shift
        self.inputZeroPoint = inputZeroPoint; self.outputZeroPoint = outputZeroPoint
        switch variant {
        #if arch(x86_64)
        case .vnni: kernel = { VNNIKernels.meanInt8($0, pixels: $1, channels: $2, multiplier: $3, shift: $4, inputZeroPoint: $5, outputZeroPoint: $6, $7) }
        case .avx2, .avxvnni: kernel = { AVX2Kernels.meanInt8($0, pixels: $1, channels: $2, multiplier: $3, shift: $4, inputZeroPoint: $5, outputZeroPoint: $6, $7) }
        #endif
        default: kernel = { PortableKernels.meanInt8($0, pixels: $1, channels: $2, multiplier: $3, shift: $4, inputZeroPoint: $5, outputZeroPoint: $6, $7) }
        }
    }

    /// x [1, H, W, C] -> y [1, 1, 1, C]. No allocation.
    public func run(input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>) {
        kernel(input, height * width, channels, multiplier, shift, inputZeroPoint, outputZeroPoint, output)
    }

    /// The scalar twin: acc = sum of (x - z_x) (checked Int32), the shared Requantize.
    public static func reference(height: Int, width: Int, channels: Int, multiplier: Int32, shift: Int32, inputZeroPoint: Int32,
                                 outputZeroPoint: Int32, input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>) {
        for c in 0..<channels {
            var acc: Int32 = 0
            for p in 0..<(height * width) { acc += Int32(input[p * channels + c]) - inputZeroPoint }
            output[c] = Requantize.clamp(Requantize.apply(acc, multiplier: multiplier, shift: shift), zeroPoint: outputZeroPoint, min: -128, max: 127)
        }
    }
}

public final class MeanFloat: @unchecked Sendable {
    public let height: Int, width: Int, channels: Int

    public init(height: Int, width: Int, channels: Int) {
        precondition(height >= 1 && width >= 1 && channels >= 1, "MeanFloat: invalid shape")
        self.height = height; self.width = width; self.channels = channels
    }

    /// y = (sum of x, in pixel order) / f32(H * W).
    public func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        PortableKernels.channelSumsFloat(input, pixels: height * width, channels: channels, output)
        let d = Float(height * width)
        for c in 0..<channels { output[c] = output[c] / d }
    }

    public static func reference(height: Int, width: Int, channels: Int, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Double>) {
        for c in 0..<channels {
            var acc = 0.0
            for p in 0..<(height * width) { acc += Double(input[p * channels + c]) }
            output[c] = acc / Double(height * width)
        }
    }
}
