// Depthwise CONV2D (groups == IC > 1, weights [OC][KH][KW][1], channel multiplier OC / IC >= 1),
// int8 and f32: SIMD along channels (the generated SIMD section of each variant; int8 32 channels
// per step, f32 16), no input copy. With a multiplier > 1, the input is first expanded in scratch to OC
// channels (x'[p][c * M + j] = x[p][c]), so that output channel oc reads input channel oc.
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

/// Output rows per chunk so that a chunk is about 4096 output values or more.
func rowChunkCount(threads: Int, rows: Int, valuesPerRow: Int) -> Int {
    if threads <= 1 { return 1 }
    return max(1, min(8 * threads, rows, rows * valuesPerRow / 4096))
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
    let multiplier: Int
    let scratchBytes: Int

    /// The kernel's channel order within each 32: the 16 even channels, then the 16 odd ones
    /// (its accumulators after one pair-multiply-add over channel pairs; see the SIMD section).
    static func lane(ofChannel o: Int) -> Int { o / 32 * 32 + (o % 2) * 16 + o % 32 / 2 }

    init(geometry g: Conv2DGeometry, weights w: UnsafePointer<Int8>, bias: UnsafePointer<Int32>, requant: UnsafePointer<Int32>,
         inputZeroPoint: Int32, outputZeroPoint: Int32, outputMin: Int32, outputMax: Int32, variant: KernelVariant) {
        precondition(g.isDepthwise && g.isValid, "DepthwiseConv2DInt8: not a depthwise geometry \(g)")
        geometry = g
        kernel = depthwiseEntries(variant).int8
        multiplier = g.outputChannels / g.inputChannels
        scratchBytes = multiplier > 1 ? (g.inputHeight * g.inputWidth * g.outputChannels + 63) / 64 * 64 : 0
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
        let g = geometry
        var x = input
        if multiplier > 1 {
            let expanded = scratch.assumingMemoryBound(to: Int8.self)
            expandChannels(input, expanded, pixels: g.inputHeight * g.inputWidth, channels: g.inputChannels, multiplier: multiplier)
            x = UnsafePointer(expanded)
        }
        for r in 0..<runs { args[r].input = x; args[r].output = output }
    }

    func chunkCount(threads: Int) -> Int {
        rowChunkCount(threads: threads, rows: geometry.outputHeight, valuesPerRow: geometry.outputWidth * geometry.outputChannels)
    }

    func compute(part: Int, of parts: Int) {
        let rows = taperedRange(geometry.outputHeight, part, parts)
        if !rows.isEmpty { for r in 0..<runs { kernel(args + r, rows.lowerBound, rows.upperBound) } }
    }
}

/// Depthwise CONV2D f32 (RoentgenFloat's Conv2DFloat runs it for groups == IC > 1).
public final class DepthwiseConv2DFloat: @unchecked Sendable {
    public let geometry: Conv2DGeometry
    let args: UnsafeMutablePointer<rtg_depthwise_args>
    let weights: UnsafeMutablePointer<Float>        // [KH * KW][cPad]
    let bias: UnsafeMutablePointer<Float>           // [cPad]
    let kernel: DepthwiseEntry
    let multiplier: Int
    public let scratchBytes: Int

    public init(geometry g: Conv2DGeometry, weights w: UnsafePointer<Float>, bias b: UnsafePointer<Float>,
                alpha: Float, clipMin: Float, clipMax: Float, variant: KernelVariant) {
        precondition(g.isDepthwise && g.isValid, "DepthwiseConv2DFloat: not a depthwise geometry \(g)")
        geometry = g
        kernel = depthwiseEntries(variant).float
        multiplier = g.outputChannels / g.inputChannels
        scratchBytes = multiplier > 1 ? (g.inputHeight * g.inputWidth * g.outputChannels * 4 + 63) / 64 * 64 : 0
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
        let g = geometry
        if multiplier > 1 {
            let expanded = scratch.assumingMemoryBound(to: Float.self)
            expandChannels(input, expanded, pixels: g.inputHeight * g.inputWidth, channels: g.inputChannels, multiplier: multiplier)
            args.pointee.inputF32 = UnsafePointer(expanded)
        } else {
            args.pointee.inputF32 = input
        }
        args.pointee.outputF32 = output
    }

    public func chunkCount(threads: Int) -> Int {
        rowChunkCount(threads: threads, rows: geometry.outputHeight, valuesPerRow: geometry.outputWidth * geometry.outputChannels)
    }

    public func compute(part: Int, of parts: Int) {
        let rows = taperedRange(geometry.outputHeight, part, parts)
        if !rows.isEmpty { kernel(args, rows.lowerBound, rows.upperBound) }
    }
}
