// DENSE int8 -> int8 and int8 -> f32 (logits, SVM decision values) (SPEC "DENSE").
// portable: the exact-Float argument of the portable conv (products |(x - z_x) * w| <= 255 * 128,
// each Float lane sums at most 1024 / 16 = 64 of them per chunk, |sum| < 2^21, chunks converted
// exactly by ExactFloat and added in Int32). avx2 / vnni: a 1x1 convolution of one pixel
// (PackedInt8 in raw mode: int32 accumulators in scratch; avx2 as a GEMV over s8 weights), then
// the same scalar epilogue.

public final class DenseInt8: ParallelWork, @unchecked Sendable {
    public enum Output {
        /// int8: `clamp(z_y + requantize(acc, m, shift), outputMin, outputMax)`, requant [N][4].
        case int8(requant: UnsafePointer<Int32>, outputZeroPoint: Int32, outputMin: Int32 = -128, outputMax: Int32 = 127)
        /// f32: `y = f32(acc) * outScale[n]`, then the f32 epilogue (alpha, clipMin, clipMax).
        case logits(outScale: UnsafePointer<Float>, alpha: Float = 1, clipMin: Float = -.infinity, clipMax: Float = .infinity)
    }

    public let inputCount: Int
    public let outputCount: Int
    public let inputZeroPoint: Int32
    public let variant: KernelVariant
    /// Bytes of scratch `run` needs (64-byte aligned, contents undefined on entry).
    public let scratchBytes: Int

    enum Epilogue { case int8(zeroPoint: Int32, min: Int32, max: Int32); case logits(FloatEpilogue) }
    let epilogue: Epilogue
    let table: UnsafeMutableRawPointer             // requant [N][4] Int32 or outScale [N] Float
    let bias: UnsafeMutablePointer<Int32>
    let weights: UnsafeMutablePointer<Float>?      // portable: [N][K]
    let packed: PackedInt8?
    static let chunk = 1024

    public init(inputCount k: Int, outputCount n: Int, weights: UnsafePointer<Int8>, bias: UnsafePointer<Int32>,
                inputZeroPoint: Int32, output: Output, variant: KernelVariant = .selected) {
        precondition(k >= 1 && n >= 1, "DenseInt8: invalid shape \(k) -> \(n)")
        precondition(variant.isSupported, "DenseInt8: this CPU cannot run the \(variant.rawValue) kernels")
        inputCount = k; outputCount = n; self.inputZeroPoint = inputZeroPoint
        self.variant = variant
        if variant == .portable {
            packed = nil
            let wf = UnsafeMutableRawPointer.allocate(byteCount: n * k * 4, alignment: 64).bindMemory(to: Float.self, capacity: n * k)
            for i in 0..<(n * k) { wf[i] = Float(weights[i]) }
            self.weights = wf
            scratchBytes = (k * 4 + 63) / 64 * 64
        } else {
            let g = Conv2DGeometry(inputHeight: 1, inputWidth: 1, inputChannels: k, outputHeight: 1, outputWidth: 1,
                                   outputChannels: n, kernelHeight: 1, kernelWidth: 1, strideHeight: 1, strideWidth: 1,
                                   padTop: 0, padLeft: 0)
            let p = PackedInt8(variant: variant, geometry: g, weights: weights, bias: bias, requant: nil,
                               inputZeroPoint: inputZeroPoint, outputZeroPoint: 0)
            packed = p
            self.weights = nil
            scratchBytes = p.scratchBytes
        }
        self.bias = .allocate(capacity: n)
        self.bias.initialize(from: bias, count: n)
        switch output {
        case let .int8(requant, zy, lo, hi):
            precondition(-128 <= lo && lo <= hi && hi <= 127, "DenseInt8: bad clamp [\(lo), \(hi)]")
            epilogue = .int8(zeroPoint: zy, min: lo, max: hi)
            table = UnsafeMutableRawPointer.allocate(byteCount: n * 16, alignment: 16)
            table.copyMemory(from: requant, byteCount: n * 16)
        case let .logits(outScale, alpha, lo, hi):
            epilogue = .logits(FloatEpilogue(alpha: alpha, clipMin: lo, clipMax: hi))
            table = UnsafeMutableRawPointer.allocate(byteCount: n * 4, alignment: 16)
            table.copyMemory(from: outScale, byteCount: n * 4)
        }
        super.init()
    }

    deinit { weights?.deallocate(); bias.deallocate(); table.deallocate() }

    /// Writes N Int8 or N Float (per `Output`); the packed variants' dot products are split over
    /// the pool's threads. One instance must not run on two threads at once. Does not allocate.
    public func run(input: UnsafePointer<Int8>, output: UnsafeMutableRawPointer, scratch: UnsafeMutableRawPointer,
                    pool: WorkerPool? = nil) {
        if let packed {
            packed.prepare(input: input, output: nil, scratch: scratch)
            if let pool, pool.threads > 1 { pool.run(self) } else { packed.compute(part: 0, of: 1) }
            let raw = packed.raw(scratch)
            for o in 0..<outputCount { write(raw[o], o, output) }
            return
        }
        let k = inputCount, z = inputZeroPoint, weights = weights!
        let x = scratch.assumingMemoryBound(to: Float.self)
        for i in 0..<k { x[i] = Float(Int32(input[i]) &- z) }
        let xr = UnsafeRawPointer(x)
        for o in 0..<outputCount {
            let wr = UnsafeRawPointer(weights + o * k)
            var acc = bias[o]
            var i = 0
            while i + 16 <= k {
                let end = min(i + Self.chunk, k)
                var f = SIMD16<Float>()
                while i + 16 <= end {
                    f = f + xr.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                          * wr.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                    i += 16
                }
                acc &+= ExactFloat.toInt(f).wrappedSum()
            }
            while i < k {
                acc &+= Int32(x[i]) &* Int32(weights[o * k + i])
                i += 1
            }
            write(acc, o, output)
        }
    }

    public override func chunkCount(threads: Int) -> Int { packed?.chunkCount(threads: threads) ?? 1 }
    public override func runChunk(_ chunk: Int, of chunks: Int) { packed!.compute(part: chunk, of: chunks) }

    @inline(__always)
    func write(_ acc: Int32, _ o: Int, _ output: UnsafeMutableRawPointer) {
        switch epilogue {
        case let .int8(zy, lo, hi):
            let row = UnsafePointer((table + o * 16).assumingMemoryBound(to: Int32.self))
            output.storeBytes(of: Requantize.output(acc, row: row, outputZeroPoint: zy, min: lo, max: hi), toByteOffset: o, as: Int8.self)
        case let .logits(e):
            let y = Float(acc) * table.load(fromByteOffset: o * 4, as: Float.self)
            output.storeBytes(of: e.apply(y), toByteOffset: o * 4, as: Float.self)
        }
    }

    /// The scalar twin: plain loops over the SPEC formula (checked Int32 arithmetic).
    public static func reference(inputCount k: Int, outputCount n: Int, weights: UnsafePointer<Int8>, bias: UnsafePointer<Int32>,
                                 inputZeroPoint: Int32, output mode: Output,
                                 input: UnsafePointer<Int8>, output: UnsafeMutableRawPointer) {
        for o in 0..<n {
            var acc = bias[o]
            for i in 0..<k { acc += (Int32(input[i]) - inputZeroPoint) * Int32(weights[o * k + i]) }
            switch mode {
            case let .int8(requant, zy, lo, hi):
                let y = Requantize.output(acc, row: requant + o * 4, outputZeroPoint: zy, min: lo, max: hi)
                output.storeBytes(of: y, toByteOffset: o, as: Int8.self)
            case let .logits(outScale, alpha, lo, hi):
                var y = Float(acc) * outScale[o]
                if y < 0 { y = y * alpha }
                if y < lo { y = lo }
                if y > hi { y = hi }
                output.storeBytes(of: y, toByteOffset: o * 4, as: Float.self)
            }
        }
    }
}
