// f32 CONV2D and DENSE (SPEC "CONV2D" f32, "Float arithmetic"): y = b + sum x * w, then
// y < 0 ? y * alpha : y, then clamp(y, clipMin, clipMax). The implementation is chosen once, at init:
//   depthwise (groups == IC > 1) -> DepthwiseConv2DFloat (SIMD along channels, every variant)
//   avx2 / vnni, 3x3 stride 1     -> WinogradFloat (Winograd F(2x2, 3x3), 2.25x fewer products)
//   avx2 / vnni                  -> PackedConvFloat (the generated f32 tiles, grouped / dilated too)
//   portable                     -> im2col + OpenBLAS sgemm, one sgemm per group and band of pixels
// Summation order is the kernel's (SPEC allows it); threading of OpenBLAS is off (never here).
import COpenBLAS
import RoentgenKernels

public final class Conv2DFloat: ParallelWork, @unchecked Sendable {
    public let geometry: Conv2DGeometry
    public let epilogue: FloatEpilogue
    /// Bytes of scratch `run` needs (64-byte aligned, contents undefined on entry).
    public let scratchBytes: Int

    enum Implementation {
        case packed(PackedConvFloat)
        case depthwise(DepthwiseConv2DFloat)
        case winograd(WinogradFloat)
        case gemm(weights: UnsafeMutablePointer<Float>, bias: UnsafeMutablePointer<Float>)   // [OC][K], [OC]
    }
    let implementation: Implementation
    /// The packed form's band copy on the pool's threads, and the band it writes.
    private var bandCopy: BandCopy? = nil
    private var copyBand = 0
    private var bound: (input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>)?
    /// gemm: output pixels per band of im2col rows (the rows in scratch at a time), the band being run.
    private var gemmBandSize = 0
    private var gemmPixels = 0..<0
    private var gemmBands: Int { (geometry.outputHeight * geometry.outputWidth + gemmBandSize - 1) / gemmBandSize }
    private func gemmBandPixels(_ band: Int) -> Range<Int> {
        band * gemmBandSize..<min(geometry.outputHeight * geometry.outputWidth, (band + 1) * gemmBandSize)
    }

    public init(geometry g: Conv2DGeometry, weights: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                alpha: Float = 1, clipMin: Float = -.infinity, clipMax: Float = .infinity, variant: KernelVariant = .selected,
                bandBudget: Int = RowBands.defaultBudget, threads: Int = 1) {
        precondition(g.isValid, "Conv2DFloat: invalid geometry \(g)")
        precondition(variant.isSupported, "Conv2DFloat: this CPU cannot run the \(variant.rawValue) kernels")
        _ = openBLASSingleThreaded
        geometry = g
        epilogue = FloatEpilogue(alpha: alpha, clipMin: clipMin, clipMax: clipMax)
        if g.isDepthwise {
            let d = DepthwiseConv2DFloat(geometry: g, weights: weights, bias: bias, alpha: alpha, clipMin: clipMin, clipMax: clipMax,
                                         variant: variant, threads: threads, bandBudget: bandBudget)
            implementation = .depthwise(d); scratchBytes = d.scratchBytes
        } else if WinogradFloat.applies(g, variant: variant) {
            let w = WinogradFloat(variant: variant, geometry: g, weights: weights, bias: bias, alpha: alpha, clipMin: clipMin, clipMax: clipMax)
            implementation = .winograd(w); scratchBytes = w.scratchBytes
        } else if let p = PackedConvFloat.make(variant: variant, geometry: g, weights: weights, bias: bias,
                                               alpha: alpha, clipMin: clipMin, clipMax: clipMax, bandBudget: bandBudget) {
            implementation = .packed(p); scratchBytes = p.scratchBytes
        } else {
            let w = UnsafeMutablePointer<Float>.allocate(capacity: g.weightCount)
            w.initialize(from: weights, count: g.weightCount)
            let b = UnsafeMutablePointer<Float>.allocate(capacity: g.outputChannels)
            b.initialize(from: bias, count: g.outputChannels)
            implementation = .gemm(weights: w, bias: b)
            gemmBandSize = min(g.outputHeight * g.outputWidth, max(1, bandBudget / (g.reductionCount * 4)))
            scratchBytes = (gemmBandSize * g.reductionCount * 4 + 63) / 64 * 64
        }
        super.init()
        if case let .packed(p) = implementation {
            bandCopy = BandCopy(rows: g.inputHeight + g.padTop + g.padBottom) { [unowned self] part, parts in
                p.prepare(band: self.copyBand, part: part, of: parts)
            }
        }
    }

    deinit {
        if case let .gemm(w, b) = implementation { w.deallocate(); b.deallocate() }
    }

    /// Runs the convolution, split over the pool's threads when there is one. Does not allocate.
    public func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, scratch: UnsafeMutableRawPointer,
                    pool: WorkerPool? = nil) {
        let bands: Int
        switch implementation {
        case let .packed(p): p.bind(input: input, output: output, scratch: scratch); bands = p.bandCount
        case let .depthwise(d): d.prepare(input: input, output: output, scratch: scratch); bands = 1
        case let .winograd(w): w.bind(input: input, output: output, scratch: scratch); bands = 1
        case .gemm: bound = (input, output, scratch.assumingMemoryBound(to: Float.self)); bands = gemmBands
        }
        for band in 0..<bands {
            switch implementation {
            case let .packed(p):
                if p.readsInPlace { p.prepare(band: band) } else { copyBand = band; bandCopy!.run(pool: pool) }
            case .depthwise, .winograd: break
            case .gemm: gemmPixels = gemmBandPixels(band)
            }
            if let pool, pool.threads > 1 { pool.run(self) } else { runChunk(0, of: 1) }
        }
    }

    public override func chunkCount(threads: Int) -> Int {
        switch implementation {
        case let .packed(p): return p.chunkCount(threads: threads)
        case let .depthwise(d): return d.chunkCount(threads: threads)
        case let .winograd(w): return w.chunkCount(threads: threads)
        case .gemm: return threads <= 1 ? 1 : min(4 * threads, max(1, gemmPixels.count / 32))
        }
    }

    public override func runChunk(_ part: Int, of parts: Int) {
        switch implementation {
        case let .packed(p): p.compute(part: part, of: parts)
        case let .depthwise(d): d.compute(part: part, of: parts)
        case let .winograd(w): w.compute(part: part, of: parts)
        case let .gemm(weights, bias): gemm(part, parts, weights, bias)
        }
    }

    /// Rows `part` of the band's output pixels: per group, im2col of those rows, then one
    /// single-threaded sgemm into the group's output columns (OpenBLAS's own threads would allocate
    /// per call). im2col row `p` of the band is at `scratch + (p - band start) * K`.
    private func gemm(_ part: Int, _ parts: Int, _ weights: UnsafeMutablePointer<Float>, _ bias: UnsafeMutablePointer<Float>) {
        let g = geometry
        let (input, output, scratch) = bound!
        let r = taperedRange(gemmPixels.count, part, parts)
        let rows = gemmPixels.lowerBound + r.lowerBound..<gemmPixels.lowerBound + r.upperBound
        guard !rows.isEmpty else { return }
        let m = rows.count, k = g.reductionCount, ocg = g.groupOutputChannels, oc = g.outputChannels
        let c = output + rows.lowerBound * oc
        for r in 0..<m { (c + r * oc).update(from: bias, count: oc) }
        let cols = scratch + r.lowerBound * k
        for grp in 0..<g.groups {
            Self.im2col(g, input, cols, group: grp, pixels: rows)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(ocg), Int32(k),
                        1, cols, Int32(k), weights + grp * ocg * k, Int32(k), 1, c + grp * ocg, Int32(oc))
        }
        if !epilogue.isIdentity { for r in 0..<m { epilogue.apply(c + r * oc, count: oc) } }
    }

    /// Writes the im2col rows [KH*KW*IC/groups] of output pixels `pixels`, group `group`, to `cols`
    /// (zeros at padding).
    static func im2col(_ g: Conv2DGeometry, _ input: UnsafePointer<Float>, _ cols: UnsafeMutablePointer<Float>,
                       group: Int, pixels: Range<Int>) {
        let icg = g.groupInputChannels, ic = g.inputChannels
        var dst = cols
        for p in pixels {
            let (oh, ow) = p.quotientAndRemainder(dividingBy: g.outputWidth)
            for kh in 0..<g.kernelHeight {
                let ih = oh * g.strideHeight - g.padTop + kh * g.dilationHeight
                for kw in 0..<g.kernelWidth {
                    let iw = ow * g.strideWidth - g.padLeft + kw * g.dilationWidth
                    if ih < 0 || ih >= g.inputHeight || iw < 0 || iw >= g.inputWidth {
                        dst.update(repeating: 0, count: icg)
                    } else {
                        dst.update(from: input + (ih * g.inputWidth + iw) * ic + group * icg, count: icg)
                    }
                    dst += icg
                }
            }
        }
    }

    /// The double-precision twin (tests compare within a tolerance).
    public static func reference(geometry g: Conv2DGeometry, input: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                                 bias: UnsafePointer<Float>, alpha: Float = 1, clipMin: Float = -.infinity, clipMax: Float = .infinity,
                                 output: UnsafeMutablePointer<Double>) {
        let icg = g.groupInputChannels, ocg = g.groupOutputChannels
        for oh in 0..<g.outputHeight {
            for ow in 0..<g.outputWidth {
                for oc in 0..<g.outputChannels {
                    let group = oc / ocg
                    var acc = Double(bias[oc])
                    for kh in 0..<g.kernelHeight {
                        let ih = oh * g.strideHeight - g.padTop + kh * g.dilationHeight
                        if ih < 0 || ih >= g.inputHeight { continue }
                        for kw in 0..<g.kernelWidth {
                            let iw = ow * g.strideWidth - g.padLeft + kw * g.dilationWidth
                            if iw < 0 || iw >= g.inputWidth { continue }
                            for j in 0..<icg {
                                acc += Double(input[(ih * g.inputWidth + iw) * g.inputChannels + group * icg + j])
                                    * Double(weights[((oc * g.kernelHeight + kh) * g.kernelWidth + kw) * icg + j])
                            }
                        }
                    }
                    output[(oh * g.outputWidth + ow) * g.outputChannels + oc] = epilogueReference(acc, alpha, clipMin, clipMax)
                }
            }
        }
    }
}

/// y < 0 ? y * alpha : y, then the clip, in double.
func epilogueReference(_ value: Double, _ alpha: Float, _ clipMin: Float, _ clipMax: Float) -> Double {
    var y = value
    if y < 0 { y *= Double(alpha) }
    return min(max(y, Double(clipMin)), Double(clipMax))
}

/// DENSE f32: on avx2 / vnni the f32 tiles as a 1x1 conv on a 1x1 map (they read the input in
/// place), cut along the outputs over the pool's threads, each output summed in the same order at
/// any thread count; portable: one sgemv.
public final class DenseFloat: ParallelWork, @unchecked Sendable {
    public let inputCount: Int, outputCount: Int
    public let epilogue: FloatEpilogue
    /// DENSE f32 needs no scratch.
    public let scratchBytes = 0
    let tiles: PackedConvFloat?
    let weights: UnsafeMutablePointer<Float>   // [N][K], for sgemv
    let bias: UnsafeMutablePointer<Float>

    public init(inputCount k: Int, outputCount n: Int, weights: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                alpha: Float = 1, clipMin: Float = -.infinity, clipMax: Float = .infinity, variant: KernelVariant = .selected) {
        precondition(k >= 1 && n >= 1, "DenseFloat: invalid shape \(k) -> \(n)")
        _ = openBLASSingleThreaded
        inputCount = k; outputCount = n
        epilogue = FloatEpilogue(alpha: alpha, clipMin: clipMin, clipMax: clipMax)
        let g = Conv2DGeometry(inputHeight: 1, inputWidth: 1, inputChannels: k, outputHeight: 1, outputWidth: 1, outputChannels: n,
                               kernelHeight: 1, kernelWidth: 1, strideHeight: 1, strideWidth: 1, padTop: 0, padLeft: 0)
        tiles = PackedConvFloat.make(variant: variant, geometry: g, weights: weights, bias: bias, alpha: alpha, clipMin: clipMin, clipMax: clipMax)
        precondition(tiles.map { $0.readsInPlace && $0.scratchBytes == 0 } ?? true)
        self.weights = .allocate(capacity: tiles == nil ? n * k : 0)
        self.bias = .allocate(capacity: tiles == nil ? n : 0)
        if tiles == nil { self.weights.initialize(from: weights, count: n * k); self.bias.initialize(from: bias, count: n) }
    }

    deinit { weights.deallocate(); bias.deallocate() }

    /// y = b + W x, then the epilogue. `scratch` is unused (API symmetry).
    public func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, scratch: UnsafeMutableRawPointer? = nil,
                    pool: WorkerPool? = nil) {
        guard let tiles else {
            let n = outputCount, k = inputCount
            output.update(from: bias, count: n)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(k), 1, weights, Int32(k), input, 1, 1, output, 1)
            epilogue.apply(output, count: n)
            return
        }
        tiles.bind(input: input, output: output, scratch: nil)
        tiles.prepare(band: 0)
        if let pool, pool.threads > 1 { pool.run(self) } else { tiles.compute(part: 0, of: 1) }
    }

    public override func chunkCount(threads: Int) -> Int { tiles?.chunkCount(threads: threads) ?? 1 }
    public override func runChunk(_ part: Int, of parts: Int) { tiles?.compute(part: part, of: parts) }

    public static func reference(inputCount k: Int, outputCount n: Int, weights: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                                 alpha: Float = 1, clipMin: Float = -.infinity, clipMax: Float = .infinity,
                                 input: UnsafePointer<Float>, output: UnsafeMutablePointer<Double>) {
        for o in 0..<n {
            var acc = Double(bias[o])
            for i in 0..<k { acc += Double(input[i]) * Double(weights[o * k + i]) }
            output[o] = epilogueReference(acc, alpha, clipMin, clipMax)
        }
    }
}

/// OpenBLAS's own threads allocate a job queue on every sgemm call, which would break the
/// no-allocation-per-image rule; one BLAS thread allocates nothing. Set once, process-wide,
/// when the first float kernel is prepared.
let openBLASSingleThreaded: Void = openblas_set_num_threads(1)
