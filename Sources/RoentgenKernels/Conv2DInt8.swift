// CONV2D int8 (SPEC "Integer arithmetic").
//
// `Conv2DInt8` runs one of the kernel variants (KernelVariant): vnni / avx2 (PackedInt8, SPEC
// "Kernel layouts") or the portable Swift kernel below (`PortableConv2DInt8`).

public final class Conv2DInt8: ParallelWork, @unchecked Sendable {
    public let geometry: Conv2DGeometry
    public let inputZeroPoint: Int32
    public let outputZeroPoint: Int32
    public let variant: KernelVariant
    let portable: PortableConv2DInt8?
    let packed: PackedInt8?

    public init(geometry g: Conv2DGeometry, weights: UnsafePointer<Int8>, bias: UnsafePointer<Int32>,
                requant: UnsafePointer<Int32>, inputZeroPoint: Int32, outputZeroPoint: Int32,
                variant: KernelVariant = .selected) {
        precondition(variant.isSupported, "Conv2DInt8: this CPU cannot run the \(variant.rawValue) kernels")
        geometry = g
        self.inputZeroPoint = inputZeroPoint
        self.outputZeroPoint = outputZeroPoint
        self.variant = variant
        if variant == .portable {
            portable = PortableConv2DInt8(geometry: g, weights: weights, bias: bias, requant: requant,
                                          inputZeroPoint: inputZeroPoint, outputZeroPoint: outputZeroPoint)
            packed = nil
        } else {
            precondition(g.outputHeight >= 1 && g.outputWidth >= 1 && g.outputChannels >= 1 && g.inputChannels >= 1
                         && g.kernelHeight >= 1 && g.kernelWidth >= 1 && g.strideHeight >= 1 && g.strideWidth >= 1,
                         "Conv2DInt8: invalid geometry \(g)")
            packed = PackedInt8(variant: variant, geometry: g, weights: weights, bias: bias, requant: requant,
                                inputZeroPoint: inputZeroPoint, outputZeroPoint: outputZeroPoint)
            portable = nil
        }
        super.init()
    }

    /// Runs the convolution on the calling thread. Uses the instance's internal scratch, so one
    /// instance must not run on two threads at once. Does not allocate.
    public func run(input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>) {
        if let packed {
            packed.fill(input)
            packed.bind(output: output, raw: nil)
            packed.compute(part: 0, of: 1)
        } else {
            portable!.run(input: input, output: output)
        }
    }

    /// Runs the convolution split over the pool's threads (the portable variant runs on the caller).
    public func run(input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>, pool: WorkerPool?) {
        guard let pool, pool.threads > 1, let packed else { return run(input: input, output: output) }
        packed.fill(input)
        packed.bind(output: output, raw: nil)
        pool.run(self)
    }

    public override func chunkCount(threads: Int) -> Int { packed?.chunkCount(threads: threads) ?? 1 }
    public override func runChunk(_ chunk: Int, of chunks: Int) { packed!.compute(part: chunk, of: chunks) }

    /// The oracle: plain scalar loops over the SPEC formula (checked Int32 arithmetic).
    public static func reference(geometry g: Conv2DGeometry, input: UnsafePointer<Int8>, weights: UnsafePointer<Int8>,
                                 bias: UnsafePointer<Int32>, requant: UnsafePointer<Int32>,
                                 inputZeroPoint: Int32, outputZeroPoint: Int32, output: UnsafeMutablePointer<Int8>) {
        PortableConv2DInt8.reference(geometry: g, input: input, weights: weights, bias: bias, requant: requant,
                                     inputZeroPoint: inputZeroPoint, outputZeroPoint: outputZeroPoint, output: output)
    }
}

// The portable variant, exact by construction:
// * `run` first writes `x - z_x` as Float into a zero-bordered copy of the input (allocated at
//   init), so padded positions are the real value 0 and contribute nothing: no border cases.
// * Every product (x - z_x) * w is an integer with |p| <= 255 * 128 = 32640, so a sum of at most
//   `chunk` = 128 products is an integer of magnitude <= 4_177_920 < 2^22 and is computed EXACTLY in
//   binary32 (with or without FMA contraction, in any order). Each chunk is converted to Int32 with
//   the exact magic-number trick (ExactFloat) and added to an Int32 accumulator that started at the
//   bias. The result equals the SPEC's int32 sum bit for bit.
// * Vectorised over 8 output channels (weights repacked at init to [OC/8][KH][KW*IC][8]), each
//   reduction step is one broadcast input times one weight vector, for a tile of 6 output
//   pixels (12 SSE / 6 AVX accumulator registers).

final class PortableConv2DInt8: @unchecked Sendable {
    public let geometry: Conv2DGeometry
    public let inputZeroPoint: Int32
    public let outputZeroPoint: Int32

    @usableFromInline static let block = 8            // output channels per vector
    @usableFromInline static let chunk = 128          // products per exact Float partial sum (< 2^22)

    struct Segment { var kh: Int; var j0: Int; var j1: Int; var flush: Bool }

    let ocBlocks: Int
    let rowLength: Int                                // KW * IC: one contiguous kernel row
    let paddedHeight: Int, paddedWidth: Int
    let packed: UnsafeMutablePointer<Float>           // [ocBlocks][KH][rowLength][8]
    let biasPadded: UnsafeMutablePointer<Int32>       // [ocBlocks * 8]
    let requant: UnsafeMutablePointer<Int32>          // [OC][4]
    let padded: UnsafeMutablePointer<Float>           // [paddedHeight][paddedWidth][IC]
    let segments: UnsafeMutablePointer<Segment>
    let segmentCount: Int

    /// Floats of the zero-bordered input copy that `run` fills.
    static func scratchCount(_ g: Conv2DGeometry) -> Int {
        let hp = (g.outputHeight - 1) * g.strideHeight + g.kernelHeight
        let wp = (g.outputWidth - 1) * g.strideWidth + g.kernelWidth
        return hp * wp * g.inputChannels
    }

    public init(geometry g: Conv2DGeometry, weights: UnsafePointer<Int8>, bias: UnsafePointer<Int32>,
                requant: UnsafePointer<Int32>, inputZeroPoint: Int32, outputZeroPoint: Int32) {
        precondition(g.outputHeight >= 1 && g.outputWidth >= 1 && g.outputChannels >= 1 && g.inputChannels >= 1
                     && g.kernelHeight >= 1 && g.kernelWidth >= 1 && g.strideHeight >= 1 && g.strideWidth >= 1,
                     "Conv2DInt8: invalid geometry \(g)")
        geometry = g
        self.inputZeroPoint = inputZeroPoint
        self.outputZeroPoint = outputZeroPoint
        let b = Self.block
        let oc = g.outputChannels, kh = g.kernelHeight, ic = g.inputChannels
        ocBlocks = (oc + b - 1) / b
        rowLength = g.kernelWidth * ic
        paddedHeight = (g.outputHeight - 1) * g.strideHeight + g.kernelHeight
        paddedWidth = (g.outputWidth - 1) * g.strideWidth + g.kernelWidth

        let packedCount = ocBlocks * kh * rowLength * b
        packed = UnsafeMutableRawPointer.allocate(byteCount: packedCount * 4, alignment: 64)
            .bindMemory(to: Float.self, capacity: packedCount)
        packed.initialize(repeating: 0, count: packedCount)
        let k = g.reductionCount
        for o in 0..<oc {
            let (blk, lane) = o.quotientAndRemainder(dividingBy: b)
            for r in 0..<kh {
                for j in 0..<rowLength {
                    packed[((blk * kh + r) * rowLength + j) * b + lane] = Float(weights[o * k + r * rowLength + j])
                }
            }
        }
        biasPadded = UnsafeMutableRawPointer.allocate(byteCount: ocBlocks * b * 4, alignment: 64)
            .bindMemory(to: Int32.self, capacity: ocBlocks * b)
        biasPadded.initialize(repeating: 0, count: ocBlocks * b)
        biasPadded.update(from: bias, count: oc)
        self.requant = .allocate(capacity: oc * 4)
        self.requant.initialize(from: requant, count: oc * 4)
        let pc = Self.scratchCount(g)
        padded = UnsafeMutableRawPointer.allocate(byteCount: pc * 4, alignment: 64).bindMemory(to: Float.self, capacity: pc)
        padded.initialize(repeating: 0, count: pc)

        // Reduction segments: contiguous pieces of kernel rows; flush the Float partial sums to
        // Int32 before the running count of products would exceed `chunk`.
        var segs: [Segment] = []
        var count = 0
        for r in 0..<kh {
            var j = 0
            while j < rowLength {
                let len = min(Self.chunk, rowLength - j)
                if count + len > Self.chunk, !segs.isEmpty { segs[segs.count - 1].flush = true; count = 0 }
                segs.append(Segment(kh: r, j0: j, j1: j + len, flush: false))
                count += len
                j += len
            }
        }
        segs[segs.count - 1].flush = true
        segmentCount = segs.count
        segments = .allocate(capacity: segs.count)
        segments.initialize(from: segs, count: segs.count)
    }

    deinit {
        packed.deallocate(); biasPadded.deallocate(); requant.deallocate()
        padded.deallocate(); segments.deallocate()
    }

    /// Writes `x - z_x` into the zero-bordered Float copy.
    @inline(__always)
    func fillPadded(_ input: UnsafePointer<Int8>) {
        let g = geometry, ic = g.inputChannels, wp = paddedWidth
        let z = inputZeroPoint
        let colStart = min(g.padLeft, wp)                       // first padded column holding input
        let colEnd = min(g.padLeft + g.inputWidth, wp)          // one past the last
        for ph in 0..<paddedHeight {
            let row = padded + ph * wp * ic
            let ih = ph - g.padTop
            if ih < 0 || ih >= g.inputHeight {
                row.update(repeating: 0, count: wp * ic)
                continue
            }
            row.update(repeating: 0, count: colStart * ic)
            if colEnd > colStart {
                let src = input + (ih * g.inputWidth + (colStart - g.padLeft)) * ic
                let dst = row + colStart * ic
                for i in 0..<((colEnd - colStart) * ic) {
                    dst[i] = Float(Int32(src[i]) &- z)
                }
            }
            if colEnd < wp { (row + colEnd * ic).update(repeating: 0, count: (wp - colEnd) * ic) }
        }
    }

    /// Runs the convolution. Uses the instance's internal scratch, so one instance must not run
    /// on two threads at once. Does not allocate.
    public func run(input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>) {
        fillPadded(input)
        let g = geometry
        let pixels = g.outputHeight * g.outputWidth
        for blk in 0..<ocBlocks {
            var p = 0
            while p + 6 <= pixels {
                tile6(blk, p, output)
                p += 6
            }
            while p < pixels {
                tile1(blk, p, output)
                p += 1
            }
        }
    }

    /// Pointer to the padded input at the top-left of pixel `p`'s receptive field.
    @inline(__always)
    func origin(_ p: Int) -> UnsafePointer<Float> {
        let g = geometry
        let (oh, ow) = p.quotientAndRemainder(dividingBy: g.outputWidth)
        return UnsafePointer(padded + (oh * g.strideHeight * paddedWidth + ow * g.strideWidth) * g.inputChannels)
    }

    @inline(__always)
    func store(_ acc: SIMD8<Int32>, _ blk: Int, _ p: Int, _ output: UnsafeMutablePointer<Int8>) {
        let oc = geometry.outputChannels, b = Self.block
        let base = blk * b
        let n = min(b, oc - base)
        let out = output + p * oc + base
        let rq = UnsafePointer(requant + base * 4)
        for lane in 0..<n {
            out[lane] = Requantize.output(acc[lane], row: rq + lane * 4, outputZeroPoint: outputZeroPoint)
        }
    }

    @inline(__always)
    static func toInt(_ f: SIMD8<Float>) -> SIMD8<Int32> {
        ExactFloat.toInt(f)
    }

    @inline(never)
    func tile6(_ blk: Int, _ p: Int, _ output: UnsafeMutablePointer<Int8>) {
        let b = Self.block
        let rowStride = paddedWidth * geometry.inputChannels
        let o0 = origin(p), o1 = origin(p + 1), o2 = origin(p + 2), o3 = origin(p + 3), o4 = origin(p + 4), o5 = origin(p + 5)
        let wBlock = UnsafeRawPointer(packed + blk * geometry.kernelHeight * rowLength * b)
        let bias = UnsafeRawPointer(biasPadded + blk * b).load(as: SIMD8<Int32>.self)
        var i0 = bias, i1 = bias, i2 = bias, i3 = bias, i4 = bias, i5 = bias
        var f0 = SIMD8<Float>(), f1 = SIMD8<Float>(), f2 = SIMD8<Float>(), f3 = SIMD8<Float>(), f4 = SIMD8<Float>(), f5 = SIMD8<Float>()
        for s in 0..<segmentCount {
            let seg = segments[s]
            let off = seg.kh * rowStride
            let x0 = o0 + off, x1 = o1 + off, x2 = o2 + off, x3 = o3 + off, x4 = o4 + off, x5 = o5 + off
            let w = (wBlock + seg.kh * rowLength * b * 4).assumingMemoryBound(to: SIMD8<Float>.self)
            for j in seg.j0..<seg.j1 {
                let wv = w[j]
                f0 = f0 + wv * x0[j]
                f1 = f1 + wv * x1[j]
                f2 = f2 + wv * x2[j]
                f3 = f3 + wv * x3[j]
                f4 = f4 + wv * x4[j]
                f5 = f5 + wv * x5[j]
            }
            if seg.flush {
                i0 &+= Self.toInt(f0); i1 &+= Self.toInt(f1); i2 &+= Self.toInt(f2); i3 &+= Self.toInt(f3); i4 &+= Self.toInt(f4); i5 &+= Self.toInt(f5)
                f0 = .zero; f1 = .zero; f2 = .zero; f3 = .zero; f4 = .zero; f5 = .zero
            }
        }
        store(i0, blk, p, output); store(i1, blk, p + 1, output); store(i2, blk, p + 2, output)
        store(i3, blk, p + 3, output); store(i4, blk, p + 4, output); store(i5, blk, p + 5, output)
    }

    @inline(never)
    func tile1(_ blk: Int, _ p: Int, _ output: UnsafeMutablePointer<Int8>) {
        let b = Self.block
        let rowStride = paddedWidth * geometry.inputChannels
        let o0 = origin(p)
        let wBlock = UnsafeRawPointer(packed + blk * geometry.kernelHeight * rowLength * b)
        var i0 = UnsafeRawPointer(biasPadded + blk * b).load(as: SIMD8<Int32>.self)
        var f0 = SIMD8<Float>()
        for s in 0..<segmentCount {
            let seg = segments[s]
            var x0 = o0 + seg.kh * rowStride + seg.j0
            var w = wBlock + (seg.kh * rowLength + seg.j0) * b * 4
            for _ in seg.j0..<seg.j1 {
                f0 = f0 + w.load(as: SIMD8<Float>.self) * x0.pointee
                x0 += 1
                w += b * 4
            }
            if seg.flush { i0 &+= Self.toInt(f0); f0 = .zero }
        }
        store(i0, blk, p, output)
    }

    /// The oracle: plain scalar loops over the SPEC formula (checked Int32 arithmetic).
    public static func reference(geometry g: Conv2DGeometry, input: UnsafePointer<Int8>, weights: UnsafePointer<Int8>,
                                 bias: UnsafePointer<Int32>, requant: UnsafePointer<Int32>,
                                 inputZeroPoint: Int32, outputZeroPoint: Int32, output: UnsafeMutablePointer<Int8>) {
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
                                let x = Int32(input[(ih * g.inputWidth + iw) * g.inputChannels + ic])
                                let w = Int32(weights[((oc * g.kernelHeight + kh) * g.kernelWidth + kw) * g.inputChannels + ic])
                                acc += (x - inputZeroPoint) * w
                            }
                        }
                    }
                    let row = requant + oc * 4
                    let (m, s) = acc >= 0 ? (row[0], row[1]) : (row[2], row[3])
                    let y = Int64(outputZeroPoint) + ((Int64(acc) * Int64(m) + (Int64(1) << (s - 1))) >> s)
                    output[(oh * g.outputWidth + ow) * g.outputChannels + oc] = Int8(min(max(y, -128), 127))
                }
            }
        }
    }
}
