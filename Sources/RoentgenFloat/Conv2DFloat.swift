// f32 CONV2D and DENSE (SPEC "Float arithmetic"): y = b + sum x * w, then leaky ReLU if set.
// Summation order is BLAS's. Threading of OpenBLAS is configured elsewhere (never here).
import COpenBLAS
import RoentgenKernels

public final class Conv2DFloat: ParallelWork, @unchecked Sendable {
    public let geometry: Conv2DGeometry
    public let leakyAlpha: Float?
    let weights: UnsafeMutablePointer<Float>   // [OC][K]
    let bias: UnsafeMutablePointer<Float>

    /// The avx2 / vnni f32 tiles (RoentgenKernels.PackedConvFloat), or nil: im2col + sgemm.
    let packed: PackedConvFloat?

    public init(geometry g: Conv2DGeometry, weights: UnsafePointer<Float>, bias: UnsafePointer<Float>, leakyAlpha: Float?,
                variant: KernelVariant = .selected) {
        _ = openBLASSingleThreaded
        packed = PackedConvFloat.make(variant: variant, geometry: g, weights: weights, bias: bias, leakyAlpha: leakyAlpha)
        geometry = g
        self.leakyAlpha = leakyAlpha
        self.weights = .allocate(capacity: g.weightCount)
        self.weights.initialize(from: weights, count: g.weightCount)
        self.bias = .allocate(capacity: g.outputChannels)
        self.bias.initialize(from: bias, count: g.outputChannels)
        super.init()
    }

    deinit { weights.deallocate(); bias.deallocate() }

    /// im2col scratch floats: OH * OW * KH * KW * IC.
    public static func scratchCount(_ g: Conv2DGeometry) -> Int {
        g.outputHeight * g.outputWidth * g.reductionCount
    }

    /// Fills rows `pixels` of the im2col matrix [OH*OW][KH*KW*IC] (zeros at padding).
    static func im2col(_ g: Conv2DGeometry, _ input: UnsafePointer<Float>, _ cols: UnsafeMutablePointer<Float>,
                       pixels: Range<Int>? = nil) {
        let ic = g.inputChannels, kw = g.kernelWidth
        let range = pixels ?? 0..<(g.outputHeight * g.outputWidth)
        var dst = cols + range.lowerBound * g.reductionCount
        for p in range {
            let (oh, ow) = p.quotientAndRemainder(dividingBy: g.outputWidth)
            do {
                for kh in 0..<g.kernelHeight {
                    let ih = oh * g.strideHeight - g.padTop + kh
                    if ih < 0 || ih >= g.inputHeight {
                        dst.update(repeating: 0, count: kw * ic)
                        dst += kw * ic
                        continue
                    }
                    let iw0 = ow * g.strideWidth - g.padLeft
                    let lo = max(0, -iw0), hi = min(kw, g.inputWidth - iw0)   // valid kw range [lo, hi)
                    if lo >= hi {
                        dst.update(repeating: 0, count: kw * ic)
                    } else {
                        if lo > 0 { dst.update(repeating: 0, count: lo * ic) }
                        (dst + lo * ic).update(from: input + (ih * g.inputWidth + iw0 + lo) * ic, count: (hi - lo) * ic)
                        if hi < kw { (dst + hi * ic).update(repeating: 0, count: (kw - hi) * ic) }
                    }
                    dst += kw * ic
                }
            }
        }
    }

    public func run(input: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>) {
        run(input: input, scratch: scratch, output: output, pool: nil)
    }

    /// As `run`, the output rows (pixels) split over the pool's threads, one single-threaded
    /// sgemm per part (OpenBLAS's own threads would allocate per call).
    public func run(input: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>,
                    pool: WorkerPool?) {
        bound = (input, scratch, output)
        packed?.prepare(input: input, output: output)
        if let pool, pool.threads > 1 { pool.run(self) } else { runChunk(0, of: 1) }
    }

    private var bound: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>)?

    public override func chunkCount(threads: Int) -> Int {
        if let packed { return packed.chunkCount(threads: threads) }
        return threads <= 1 ? 1 : min(4 * threads, max(1, geometry.outputHeight * geometry.outputWidth / 32))
    }

    public override func runChunk(_ part: Int, of parts: Int) {
        if let packed { return packed.compute(part: part, of: parts) }
        let g = geometry
        let (input, scratch, output) = bound!
        let rows = partRange(g.outputHeight * g.outputWidth, part, parts)
        guard !rows.isEmpty else { return }
        let m = rows.count, n = g.outputChannels, k = g.reductionCount
        Self.im2col(g, input, scratch, pixels: rows)
        let a = scratch + rows.lowerBound * k, c = output + rows.lowerBound * n
        for r in 0..<m { (c + r * n).update(from: bias, count: n) }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k),
                    1, a, Int32(k), weights, Int32(k), 1, c, Int32(n))
        if let alpha = leakyAlpha { leaky(c, m * n, alpha) }
    }

    public static func reference(geometry g: Conv2DGeometry, input: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                                 bias: UnsafePointer<Float>, leakyAlpha: Float?, output: UnsafeMutablePointer<Float>) {
        for oh in 0..<g.outputHeight {
            for ow in 0..<g.outputWidth {
                for oc in 0..<g.outputChannels {
                    var acc = bias[oc]
                    for kh in 0..<g.kernelHeight {
                        let ih = oh * g.strideHeight - g.padTop + kh
                        if ih < 0 || ih >= g.inputHeight { continue }
                        for kw in 0..<g.kernelWidth {
                            let iw = ow * g.strideWidth - g.padLeft + kw
                            if iw < 0 || iw >= g.inputWidth { continue }
                            for ic in 0..<g.inputChannels {
                                acc += input[(ih * g.inputWidth + iw) * g.inputChannels + ic]
                                    * weights[((oc * g.kernelHeight + kh) * g.kernelWidth + kw) * g.inputChannels + ic]
                            }
                        }
                    }
                    if let a = leakyAlpha, acc < 0 { acc = acc * a }
                    output[(oh * g.outputWidth + ow) * g.outputChannels + oc] = acc
                }
            }
        }
    }
}

@inline(__always)
func leaky(_ y: UnsafeMutablePointer<Float>, _ count: Int, _ alpha: Float) {
    for i in 0..<count where y[i] < 0 { y[i] = y[i] * alpha }
}

public final class DenseFloat: @unchecked Sendable {
    public let inputCount: Int, outputCount: Int
    public let leakyAlpha: Float?
    let weights: UnsafeMutablePointer<Float>   // [N][K]
    let bias: UnsafeMutablePointer<Float>

    public init(inputCount k: Int, outputCount n: Int, weights: UnsafePointer<Float>, bias: UnsafePointer<Float>, leakyAlpha: Float?) {
        inputCount = k; outputCount = n; self.leakyAlpha = leakyAlpha
        self.weights = .allocate(capacity: n * k)
        self.weights.initialize(from: weights, count: n * k)
        self.bias = .allocate(capacity: n)
        self.bias.initialize(from: bias, count: n)
    }

    deinit { weights.deallocate(); bias.deallocate() }

    public func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        let n = outputCount, k = inputCount
        output.update(from: bias, count: n)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(k), 1, weights, Int32(k), input, 1, 1, output, 1)
        if let alpha = leakyAlpha { leaky(output, n, alpha) }
    }

    public static func reference(inputCount k: Int, outputCount n: Int, weights: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                                 leakyAlpha: Float?, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        for o in 0..<n {
            var acc = bias[o]
            for i in 0..<k { acc += input[i] * weights[o * k + i] }
            if let a = leakyAlpha, acc < 0 { acc = acc * a }
            output[o] = acc
        }
    }
}

/// OpenBLAS's own threads allocate a job queue on every sgemm call, which would break the
/// no-allocation-per-image rule; one BLAS thread allocates nothing. Set once, process-wide,
/// when the first float convolution is prepared.
let openBLASSingleThreaded: Void = openblas_set_num_threads(1)
