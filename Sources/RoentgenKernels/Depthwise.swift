// Depthwise CONV2D (groups == IC > 1, weights [OC][KH][KW][1], channel multiplier OC / IC >= 1),
// int8 and f32: SIMD along channels (the generated SIMD section of each variant; int8 32 channels
// per step, f32 16), by bands of output rows (`DepthwiseBands`). A band reads the input in place or,
// where windows leave the input often (and always for a channel multiplier M > 1), a bordered copy
// of its input rows, in which M > 1 is expanded to OC channels (x'[p][c * M + j] = x[p][c]), so
// that output channel oc reads copy channel oc.
import CRoentgenISA
#if arch(x86_64)
import RoentgenKernelsVNNI
import RoentgenKernelsAVX2
#endif

typealias DepthwiseEntry = (UnsafePointer<rtg_depthwise_args>, Int, Int) -> Void

/// The variant's depthwise kernels, chosen once at init.
func depthwiseEntries(_ variant: KernelVariant) -> (int8: DepthwiseEntry, float: DepthwiseEntry) {
    switch variant {
    #if arch(x86_64)
    case .vnni: return ({ VNNIKernels.depthwise($0, rowBegin: $1, rowEnd: $2) }, { VNNIKernels.depthwiseFloat($0, rowBegin: $1, rowEnd: $2) })
    case .avx2, .avxvnni: return ({ AVX2Kernels.depthwise($0, rowBegin: $1, rowEnd: $2) }, { AVX2Kernels.depthwiseFloat($0, rowBegin: $1, rowEnd: $2) })
    #endif
    default: return ({ PortableKernels.depthwise($0, rowBegin: $1, rowEnd: $2) }, { PortableKernels.depthwiseFloat($0, rowBegin: $1, rowEnd: $2) })
    }
}

/// Fills the geometry fields of the depthwise arguments.
func depthwiseArguments(_ g: Conv2DGeometry) -> rtg_depthwise_args {
    var a = rtg_depthwise_args()
    a.height = Int64(g.inputHeight); a.width = Int64(g.inputWidth); a.channels = Int64(g.outputChannels)
    a.outHeight = Int64(g.outputHeight); a.outWidth = Int64(g.outputWidth)
    a.kernelHeight = Int64(g.kernelHeight); a.kernelWidth = Int64(g.kernelWidth)
    a.strideHeight = Int64(g.strideHeight); a.strideWidth = Int64(g.strideWidth)
    a.dilationHeight = Int64(g.dilationHeight); a.dilationWidth = Int64(g.dilationWidth)
    a.padTop = Int64(g.padTop); a.padLeft = Int64(g.padLeft)
    a.channelBegin = 0; a.channelEnd = Int64(g.outputChannels)
    return a
}

/// Expands [pixels][IC] to [pixels][IC * M] (each channel repeated M times).
@inline(__always)
func expandChannels<T>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, pixels: Int, channels: Int, multiplier: Int) {
    for p in 0..<pixels {
        let src = x + p * channels, dst = y + p * channels * multiplier
        for c in 0..<channels {
            let v = src[c]
            for j in 0..<multiplier { dst[c * multiplier + j] = v }
        }
    }
}

/// A depthwise conv's output rows in bands. When windows leave the input often enough, each band
/// is computed from its own bordered copy of the input rows it reads (the border adds nothing: z_x
/// in int8, whose `z_x * w` the inside bias takes out, and 0 in f32, whose products are zeros), so
/// that every output pixel's window lies inside the copy and takes the kernel's many-pixel path.
/// Without it, a pixel whose window leaves the input takes the one-pixel path (a 7 x 7 map with a
/// 5 x 5 kernel has no other pixel). A band is one worker chunk; with copies each has its own place
/// in scratch, so no thread waits for another's copy: bands as the row-band budget gives them (SPEC
/// "Row bands") and at least one per thread the interpreter runs (a copy repeats the rows its band
/// shares with the next, so more chunks than threads would copy more). Without copies the kernel
/// reads the input in place and the rows are cut into up to 8 chunks per thread.
struct DepthwiseBands {
    let geometry: Conv2DGeometry
    let bands: RowBands
    /// Whether the bands compute from copies (else from the input in place).
    let copies: Bool
    /// One padded row of a copy: `Wp + 1` pixels of OC channels. The pixel past `Wp` holds the
    /// lanes past OC that the last many-pixel step of the last row loads.
    let rowBytes: Int
    let elementBytes: Int
    /// One band's copy, 64-byte aligned (0 without copies).
    let bandBytes: Int

    init(_ g: Conv2DGeometry, elementBytes: Int, threads: Int, budget: Int) {
        geometry = g
        self.elementBytes = elementBytes
        copies = elementBytes == 1 ? Self.copyPays(g) : g.outputChannels > g.inputChannels
        rowBytes = (g.paddedWidth + 1) * g.outputChannels * elementBytes
        if copies {
            bands = RowBands(g, paddedRowBytes: rowBytes, budget: budget, atLeast: threads)
            bandBytes = (bands.maxPaddedRows * rowBytes + 63) / 64 * 64
        } else {
            let chunks = threads <= 1 ? 1 : max(1, min(8 * threads, g.outputCount / 4096))
            bands = RowBands(g, paddedRowBytes: 1, budget: Int.max / 2, atLeast: chunks)
            bandBytes = 0
        }
    }

    /// A copy when the taps of the windows that leave the input are at least half the input pixels,
    /// which the copy moves (a channel multiplier > 1 expands the input anyway, so it is always
    /// copied). On Zen 5 (stop 32, EfficientNet-Lite0 int8 per op) copies won from a ratio of 0.6
    /// (5x5 on 7 x 7 and 14 x 14 maps: 1.7x faster; 3x3 on 56 x 56: 1.2x), were even or lost
    /// around 0.3 (3x3 on 112 x 112, 3x3 stride 2 on 28 x 28) and lost at 0.08 (3x3 stride 2 on
    /// 112 x 112 x 96: 1.1x slower).
    static func copyPays(_ g: Conv2DGeometry) -> Bool {
        func inside(_ outSize: Int, _ size: Int, _ stride: Int, _ pad: Int, _ extent: Int) -> Int {
            // outputs o with 0 <= o * stride - pad and o * stride - pad + extent <= size
            let lo = (pad + stride - 1) / stride, hi = size - extent + pad >= 0 ? (size - extent + pad) / stride + 1 : 0
            return max(0, min(outSize, hi) - lo)
        }
        let insidePixels = inside(g.outputHeight, g.inputHeight, g.strideHeight, g.padTop, g.dilatedKernelHeight)
            * inside(g.outputWidth, g.inputWidth, g.strideWidth, g.padLeft, g.dilatedKernelWidth)
        let edgeTaps = (g.outputHeight * g.outputWidth - insidePixels) * g.kernelHeight * g.kernelWidth
        return g.outputChannels > g.inputChannels || 2 * edgeTaps >= g.inputHeight * g.inputWidth
    }

    var scratchBytes: Int { bands.count * bandBytes }

    /// The kernel arguments of band `b` and the output rows to pass it: `a` with the input and output.
    /// With copies, first writes band `b`'s copy of `input` ([H][W][IC]) into its place in `scratch`
    /// (every byte outside the input `border`); the arguments then read that copy with no pads, and
    /// the output starts at the band's first row.
    func bind(_ b: Int, _ a: rtg_depthwise_args, input: UnsafeRawPointer, output: UnsafeMutableRawPointer,
              scratch: UnsafeMutableRawPointer?, border: UInt8) -> (rtg_depthwise_args, rows: Range<Int>) {
        let g = geometry, rows = bands.outputRows(b)
        var band = a
        guard copies else {
            if elementBytes == 1 {
                band.input = input.assumingMemoryBound(to: Int8.self); band.output = output.assumingMemoryBound(to: Int8.self)
            } else {
                band.inputF32 = input.assumingMemoryBound(to: Float.self); band.outputF32 = output.assumingMemoryBound(to: Float.self)
            }
            return (band, rows)
        }
        let copy = scratch! + b * bandBytes, multiplier = g.outputChannels / g.inputChannels
        let inputPixelBytes = g.inputChannels * elementBytes, rowBytes = rowBytes, elementBytes = elementBytes
        bands.writeCopy(b, g, into: copy, rowBytes: rowBytes, pixelBytes: g.outputChannels * elementBytes, border: border) { first, count, dst, columns in
            for r in 0..<count {
                let src = input + (first + r) * g.inputWidth * inputPixelBytes, row = dst + r * rowBytes
                if multiplier == 1 {
                    row.copyMemory(from: src, byteCount: columns * inputPixelBytes)
                } else if elementBytes == 1 {
                    expandChannels(src.assumingMemoryBound(to: Int8.self), row.assumingMemoryBound(to: Int8.self),
                                   pixels: columns, channels: g.inputChannels, multiplier: multiplier)
                } else {
                    expandChannels(src.assumingMemoryBound(to: Float.self), row.assumingMemoryBound(to: Float.self),
                                   pixels: columns, channels: g.inputChannels, multiplier: multiplier)
                }
            }
        }
        band.height = Int64(bands.paddedRows(b).count); band.width = Int64(rowBytes / (g.outputChannels * elementBytes))
        band.padTop = 0; band.padLeft = 0; band.outHeight = Int64(rows.count)
        let outputOffset = rows.lowerBound * g.outputWidth * g.outputChannels * elementBytes
        if elementBytes == 1 {
            band.input = UnsafePointer(copy.assumingMemoryBound(to: Int8.self))
            band.output = (output + outputOffset).assumingMemoryBound(to: Int8.self)
        } else {
            band.inputF32 = UnsafePointer(copy.assumingMemoryBound(to: Float.self))
            band.outputF32 = (output + outputOffset).assumingMemoryBound(to: Float.self)
        }
        return (band, 0..<rows.count)
    }

    /// Chunk `part` of `parts`: its bands (one each when `parts` is `chunkCount`).
    func bands(part: Int, of parts: Int) -> Range<Int> { partRange(bands.count, part, parts) }

    func chunkCount(threads: Int) -> Int { threads <= 1 ? 1 : bands.count }
}

final class DepthwiseConv2DInt8: @unchecked Sendable {
    let geometry: Conv2DGeometry
    /// One argument set per run of 32-channel blocks whose even and whose odd channels share an
    /// epilogue kind (one run unless a few channels need a slower form): the kernel is called once
    /// per run, so its two epilogues are constants of the call and the loops stay unswitched.
    let args: UnsafeMutablePointer<rtg_depthwise_args>
    let runs: Int
    let weights: UnsafeMutablePointer<Int16>        // [KH * KW][cPad / 32][even, odd][32]
    let columns: UnsafeMutablePointer<Int32>        // EpilogueColumns.rows, then biasFull, x [cPad]
    let kernel: DepthwiseEntry
    let bands: DepthwiseBands
    let border: UInt8
    var scratchBytes: Int { bands.scratchBytes }
    private var input: UnsafePointer<Int8>? = nil, output: UnsafeMutablePointer<Int8>? = nil, scratch: UnsafeMutableRawPointer? = nil

    /// The kernel's channel order within each 32: the 16 even channels, then the 16 odd ones
    /// (its accumulators after one pair-multiply-add over channel pairs; see the SIMD section).
    static func lane(ofChannel o: Int) -> Int { o / 32 * 32 + (o % 2) * 16 + o % 32 / 2 }

    init(geometry g: Conv2DGeometry, weights w: UnsafePointer<Int8>, bias: UnsafePointer<Int32>, requant: UnsafePointer<Int32>,
         inputZeroPoint: Int32, outputZeroPoint: Int32, outputMin: Int32, outputMax: Int32, variant: KernelVariant,
         threads: Int = 1, bandBudget: Int = RowBands.defaultBudget) {
        precondition(g.isDepthwise && g.isValid, "DepthwiseConv2DInt8: not a depthwise geometry \(g)")
        geometry = g
        kernel = depthwiseEntries(variant).int8
        bands = DepthwiseBands(g, elementBytes: 1, threads: threads, budget: bandBudget)
        border = UInt8(truncatingIfNeeded: inputZeroPoint)
        let c = g.outputChannels, cPad = (c + 31) / 32 * 32, taps = g.kernelHeight * g.kernelWidth
        let scale = Self.scaleShifts(c, taps: taps, weights: w, bias: bias, requant: requant)
        var scaledRequant = Array(UnsafeBufferPointer(start: requant, count: 4 * c))
        for o in 0..<c { scaledRequant[4 * o + 1] += Int32(scale[o]); scaledRequant[4 * o + 3] += Int32(scale[o]) }
        // Tap t of channel o: lane o % 32 of the even (o even) or odd vector of its 32, zeros between.
        weights = UnsafeMutableRawPointer.allocate(byteCount: taps * cPad * 4, alignment: 64).bindMemory(to: Int16.self, capacity: taps * cPad * 2)
        weights.initialize(repeating: 0, count: taps * cPad * 2)
        for o in 0..<c {
            for t in 0..<taps { weights[t * cPad * 2 + o / 32 * 64 + (o % 2) * 32 + o % 32] = Int16(w[o * taps + t]) << scale[o] }
        }
        let made = scaledRequant.withUnsafeBufferPointer { rq in
            EpilogueColumns.make(groups: 1, groupChannels: c, paddedChannels: cPad, channels: c, requant: rq.baseAddress,
                                 outputZeroPoint: outputZeroPoint) { bias[$0] << scale[$0] }
        }
        defer { made.deallocate() }
        let rows = EpilogueColumns.rows
        columns = .allocate(capacity: (rows + 1) * cPad)
        for k in 0..<rows { for o in 0..<cPad { columns[k * cPad + Self.lane(ofChannel: o)] = made[k * cPad + o] } }
        for o in 0..<cPad {
            var sum: Int32 = 0
            if o < c { for t in 0..<taps { sum &+= Int32(w[o * taps + t]) << scale[o] } }
            columns[rows * cPad + Self.lane(ofChannel: o)] = made[o] &- inputZeroPoint &* sum
        }
        // A block of 32 channels is requantized as its even and its odd 16 (lane order): kinds
        // [2 * block] and [2 * block + 1].
        let kinds = EpilogueColumns.kinds(columns, groups: 1, rowsPerGroup: rows + 1, paddedChannels: cPad, lanes: 16)
        defer { kinds.deallocate() }
        var starts = [0]
        for block in 1..<cPad / 32 where kinds[2 * block] != kinds[2 * block - 2] || kinds[2 * block + 1] != kinds[2 * block - 1] {
            starts.append(block * 32)
        }
        runs = starts.count
        var a = depthwiseArguments(g)
        a.weights = UnsafePointer(weights); a.bias = UnsafePointer(columns)
        a.mPos = UnsafePointer(columns + cPad); a.sPos = UnsafePointer(columns + 2 * cPad)
        a.mNeg = UnsafePointer(columns + 3 * cPad); a.sNeg = UnsafePointer(columns + 4 * cPad)
        a.tPos = UnsafePointer(columns + 5 * cPad); a.tNeg = UnsafePointer(columns + 6 * cPad)
        a.rPos = UnsafePointer(columns + 7 * cPad); a.rNeg = UnsafePointer(columns + 8 * cPad)
        a.rFolded = UnsafePointer(columns + 9 * cPad); a.biasFull = UnsafePointer(columns + rows * cPad)
        a.inputZeroPoint = Int64(inputZeroPoint); a.outputZeroPoint = Int64(outputZeroPoint)
        a.outputMin = Int64(outputMin); a.outputMax = Int64(outputMax)
        args = .allocate(capacity: runs)
        for (r, begin) in starts.enumerated() {
            a.channelBegin = Int64(begin); a.channelEnd = Int64(r + 1 < runs ? starts[r + 1] : c)
            a.kindEven = Int32(kinds[begin / 16]); a.kindOdd = Int32(kinds[begin / 16 + 1])
            (args + r).initialize(to: a)
        }
    }

    deinit { args.deallocate(); weights.deallocate(); columns.deallocate() }

    /// k per channel: a channel whose smaller shift is below 33 (|M| >= 1/4, e.g. a depthwise channel
    /// with large weights) would take the 64-bit epilogue for its whole 16-channel half. Its weights
    /// and bias times 2^k and both shifts plus k, k = 33 - that shift, give the same value for any
    /// m (`requantize(2^k acc, m, s + k) = requantize(acc, m, s)`: the product and the rounding term
    /// both scale by 2^k) on the 32-bit forms, where the scaled weights stay s16, the scaled
    /// accumulator's bound |b| + taps * 255 * max |w| stays in int32 and the shifts <= 62. 0 elsewhere.
    static func scaleShifts(_ c: Int, taps: Int, weights w: UnsafePointer<Int8>, bias: UnsafePointer<Int32>,
                            requant: UnsafePointer<Int32>) -> [Int] {
        (0..<c).map { o in
            let k = 33 - Int(min(requant[4 * o + 1], requant[4 * o + 3]))
            guard k > 0, Int(max(requant[4 * o + 1], requant[4 * o + 3])) + k <= 62 else { return 0 }
            let maxW = (0..<taps).map { abs(Int(w[o * taps + $0])) }.max() ?? 0
            let bound = abs(Int(bias[o])) + taps * 255 * maxW
            return maxW << k <= Int(Int16.max) && bound << k < 1 << 31 ? k : 0
        }
    }

    /// Each run's first channel and the epilogue kinds of its even and odd channels (tests, diagnostics).
    var runKinds: [(channel: Int, even: Int, odd: Int)] {
        (0..<runs).map { (Int(args[$0].channelBegin), Int(args[$0].kindEven), Int(args[$0].kindOdd)) }
    }

    func prepare(input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>, scratch: UnsafeMutableRawPointer) {
        self.input = input; self.output = output; self.scratch = scratch
    }

    func chunkCount(threads: Int) -> Int { bands.chunkCount(threads: threads) }

    func compute(part: Int, of parts: Int) {
        for b in bands.bands(part: part, of: parts) {
            var (band, rows) = bands.bind(b, args[0], input: input!, output: output!, scratch: scratch, border: border)
            for r in 0..<runs {
                band.channelBegin = args[r].channelBegin; band.channelEnd = args[r].channelEnd
                band.kindEven = args[r].kindEven; band.kindOdd = args[r].kindOdd
                kernel(&band, rows.lowerBound, rows.upperBound)
            }
        }
    }
}

/// Depthwise CONV2D f32 (RoentgenFloat's Conv2DFloat runs it for groups == IC > 1).
public final class DepthwiseConv2DFloat: @unchecked Sendable {
    public let geometry: Conv2DGeometry
    let args: UnsafeMutablePointer<rtg_depthwise_args>
    let weights: UnsafeMutablePointer<Float>        // [KH * KW][cPad]
    let bias: UnsafeMutablePointer<Float>           // [cPad]
    let kernel: DepthwiseEntry
    let bands: DepthwiseBands
    public var scratchBytes: Int { bands.scratchBytes }
    private var input: UnsafePointer<Float>? = nil, output: UnsafeMutablePointer<Float>? = nil, scratch: UnsafeMutableRawPointer? = nil

    public init(geometry g: Conv2DGeometry, weights w: UnsafePointer<Float>, bias b: UnsafePointer<Float>,
                alpha: Float, clipMin: Float, clipMax: Float, variant: KernelVariant,
                threads: Int = 1, bandBudget: Int = RowBands.defaultBudget) {
        precondition(g.isDepthwise && g.isValid, "DepthwiseConv2DFloat: not a depthwise geometry \(g)")
        geometry = g
        kernel = depthwiseEntries(variant).float
        bands = DepthwiseBands(g, elementBytes: 4, threads: threads, budget: bandBudget)
        let c = g.outputChannels, cPad = (c + 15) / 16 * 16, taps = g.kernelHeight * g.kernelWidth
        weights = UnsafeMutableRawPointer.allocate(byteCount: taps * cPad * 4, alignment: 64).bindMemory(to: Float.self, capacity: taps * cPad)
        weights.initialize(repeating: 0, count: taps * cPad)
        for o in 0..<c { for t in 0..<taps { weights[t * cPad + o] = w[o * taps + t] } }
        bias = UnsafeMutableRawPointer.allocate(byteCount: cPad * 4, alignment: 64).bindMemory(to: Float.self, capacity: cPad)
        bias.initialize(repeating: 0, count: cPad)
        bias.update(from: b, count: c)
        var a = depthwiseArguments(g)
        a.weightsF32 = UnsafePointer(weights); a.biasF32 = UnsafePointer(bias)
        a.alpha = alpha; a.leaky = alpha == 1 ? 0 : 1
        a.clipMin = clipMin; a.clipMax = clipMax; a.clip = clipMin == -.infinity && clipMax == .infinity ? 0 : 1
        args = .allocate(capacity: 1)
        args.initialize(to: a)
    }

    deinit { args.deallocate(); weights.deallocate(); bias.deallocate() }

    public func prepare(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, scratch: UnsafeMutableRawPointer) {
        self.input = input; self.output = output; self.scratch = scratch
    }

    public func chunkCount(threads: Int) -> Int { bands.chunkCount(threads: threads) }

    public func compute(part: Int, of parts: Int) {
        for b in bands.bands(part: part, of: parts) {
            var (band, rows) = bands.bind(b, args.pointee, input: input!, output: output!, scratch: scratch, border: 0)
            kernel(&band, rows.lowerBound, rows.upperBound)
        }
    }
}
