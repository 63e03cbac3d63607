// DENSE int8 -> int8 and int8 -> f32 logits (SPEC "Integer arithmetic").
// Same exactness argument as Conv2DInt8: products |(x - z_x) * w| <= 32640, each Float lane sums at
// most 1024 / 16 = 64 of them per chunk (|sum| < 2^21 < 2^22), chunks are converted exactly
// (ExactFloat) and added in Int32.

// The avx2 / vnni variants run it as a 1x1 convolution of one pixel (PackedInt8, raw int32
// accumulators), then apply the same scalar epilogue.

public final class DenseInt8: ParallelWork, @unchecked Sendable {
    public enum Output {
        /// int8 output with the requant table [N][4] and the output zero point.
        case int8(requant: UnsafePointer<Int32>, outputZeroPoint: Int32)
        /// f32 logits: `y = f32(acc) * outScale[n]`, then `y * alpha` when leaky and `acc < 0`.
        case logits(outScale: UnsafePointer<Float>, leakyAlpha: Float?)
    }

    public let inputCount: Int
    public let outputCount: Int
    public let inputZeroPoint: Int32

    enum Epilogue { case int8(Int32); case logits(Float?) }
    let epilogue: Epilogue
    let table: UnsafeMutableRawPointer             // requant [N][4] Int32 or outScale [N] Float
    let weights: UnsafeMutablePointer<Float>       // [N][K]
    let bias: UnsafeMutablePointer<Int32>
    let x: UnsafeMutablePointer<Float>             // [K] scratch: x - z_x

    static let chunk = 1024
    public let variant: KernelVariant
    let packed: PackedInt8?
    let raw: UnsafeMutablePointer<Int32>           // packed variants: [N rounded up] accumulators

    public init(inputCount k: Int, outputCount n: Int, weights: UnsafePointer<Int8>, bias: UnsafePointer<Int32>,
                inputZeroPoint: Int32, output: Output, variant: KernelVariant = .selected) {
        precondition(k >= 1 && n >= 1, "DenseInt8: invalid shape \(k) -> \(n)")
        precondition(variant.isSupported, "DenseInt8: this CPU cannot run the \(variant.rawValue) kernels")
        inputCount = k; outputCount = n; self.inputZeroPoint = inputZeroPoint
        self.variant = variant
        if variant == .portable {
            packed = nil
            self.weights = UnsafeMutableRawPointer.allocate(byteCount: n * k * 4, alignment: 64).bindMemory(to: Float.self, capacity: n * k)
            for i in 0..<(n * k) { self.weights[i] = Float(weights[i]) }
        } else {
            let g = Conv2DGeometry(inputHeight: 1, inputWidth: 1, inputChannels: k, outputHeight: 1, outputWidth: 1,
                                   outputChannels: n, kernelHeight: 1, kernelWidth: 1, strideHeight: 1, strideWidth: 1,
                                   padTop: 0, padLeft: 0)
            packed = PackedInt8(variant: variant, geometry: g, weights: weights, bias: bias, requant: nil,
                                inputZeroPoint: inputZeroPoint, outputZeroPoint: 0)
            self.weights = .allocate(capacity: 1)
        }
        raw = UnsafeMutableRawPointer.allocate(byteCount: (n + 16) * 4, alignment: 64).bindMemory(to: Int32.self, capacity: n + 16)
        raw.initialize(repeating: 0, count: n + 16)
        self.bias = .allocate(capacity: n)
        self.bias.initialize(from: bias, count: n)
        x = UnsafeMutableRawPointer.allocate(byteCount: k * 4, alignment: 64).bindMemory(to: Float.self, capacity: k)
        x.initialize(repeating: 0, count: k)
        switch output {
        case let .int8(requant, zy):
            epilogue = .int8(zy)
            table = UnsafeMutableRawPointer.allocate(byteCount: n * 16, alignment: 16)
            table.copyMemory(from: requant, byteCount: n * 16)
        case let .logits(outScale, alpha):
            epilogue = .logits(alpha)
            table = UnsafeMutableRawPointer.allocate(byteCount: n * 4, alignment: 16)
            table.copyMemory(from: outScale, byteCount: n * 4)
        }
        super.init()
    }

    deinit { weights.deallocate(); bias.deallocate(); x.deallocate(); table.deallocate(); raw.deallocate() }

    /// Writes N Int8 or N Float (per `Output`). Uses internal scratch: one instance must not run on
    /// two threads at once. Does not allocate.
    public func run(input: UnsafePointer<Int8>, output: UnsafeMutableRawPointer) {
        run(input: input, output: output, pool: nil)
    }

    /// As `run(input:output:)`, the packed variants' dot products split over the pool's threads.
    public func run(input: UnsafePointer<Int8>, output: UnsafeMutableRawPointer, pool: WorkerPool?) {
        if let packed {
            packed.fill(input)
            packed.bind(output: nil, raw: raw)
            if let pool, pool.threads > 1 { pool.run(self) } else { packed.compute(part: 0, of: 1) }
            for o in 0..<outputCount { write(raw[o], o, output) }
            return
        }
        let k = inputCount, z = inputZeroPoint
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
        case let .int8(zy):
            let row = UnsafePointer((table + o * 16).assumingMemoryBound(to: Int32.self))
            output.storeBytes(of: Requantize.output(acc, row: row, outputZeroPoint: zy), toByteOffset: o, as: Int8.self)
        case let .logits(alpha):
            var y = Float(acc) * table.load(fromByteOffset: o * 4, as: Float.self)
            if let alpha, acc < 0 { y = y * alpha }
            output.storeBytes(of: y, toByteOffset: o * 4, as: Float.self)
        }
    }

    /// The oracle: plain scalar loops over the SPEC formula (checked Int32 arithmetic).
    public static func reference(inputCount k: Int, outputCount n: Int, weights: UnsafePointer<Int8>, bias: UnsafePointer<Int32>,
                                 inputZeroPoint: Int32, output mode: Output,
                                 input: UnsafePointer<Int8>, output: UnsafeMutableRawPointer) {
        for o in 0..<n {
            var acc = bias[o]
            for i in 0..<k { acc += (Int32(input[i]) - inputZeroPoint) * Int32(weights[o * k + i]) }
            switch mode {
            case let .int8(requant, zy):
                let row = requant + o * 4
                let (m, s) = acc >= 0 ? (row[0], row[1]) : (row[2], row[3])
                let y = Int64(zy) + ((Int64(acc) * Int64(m) + (Int64(1) << (s - 1))) >> s)
                output.storeBytes(of: Int8(min(max(y, -128), 127)), toByteOffset: o, as: Int8.self)
            case let .logits(outScale, alpha):
                var y = Float(acc) * outScale[o]
                if let alpha, acc < 0 { y = y * alpha }
                output.storeBytes(of: y, toByteOffset: o * 4, as: Float.self)
            }
        }
    }
}
