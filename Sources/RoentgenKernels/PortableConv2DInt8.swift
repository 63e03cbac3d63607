// The portable CONV2D int8 kernel (any CPU, including aarch64), exact by construction:
// * `prepare` writes `x - z_x` as Float into a zero-bordered copy in scratch (the border written on
//   every run), so padded positions are the real value 0 and contribute nothing: no border cases.
// * Every product (x - z_x) * w is an integer with |p| <= 255 * 127 < 2^15, so a sum of at most
//   `chunk` = 128 products is an integer of magnitude < 2^22 and is computed EXACTLY in binary32
//   (with or without FMA contraction, in any order). Each chunk is converted to Int32 with the
//   exact magic-number trick (ExactFloat) and added to an Int32 accumulator that started at the
//   bias. The result equals the SPEC's int32 sum bit for bit.
// * Vectorised over 8 output channels (weights repacked at init to [group][OC/8][K][8]), each
//   reduction step is one broadcast input times one weight vector, for a tile of 6 output pixels.
//   A kernel row is one contiguous segment, or KW segments of IC / groups (grouped / dilated).

final class PortableConv2DInt8: @unchecked Sendable {
    let geometry: Conv2DGeometry
    let inputZeroPoint: Int32, outputZeroPoint: Int32
    let outputMin: Int32, outputMax: Int32

    static let block = 8            // output channels per vector
    static let chunk = 128          // products per exact Float partial sum (< 2^22)

    struct Segment { var inputOffset: Int; var k0: Int; var length: Int; var flush: Bool }

    let ocBlocks: Int                                 // per group
    let paddedWidth: Int
    let packed: UnsafeMutablePointer<Float>           // [groups][ocBlocks][K][8]
    let biasPadded: UnsafeMutablePointer<Int32>       // [groups][ocBlocks * 8]
    let requant: UnsafeMutablePointer<Int32>          // [OC][4]
    let segments: UnsafeMutablePointer<Segment>
    let segmentCount: Int
    /// The Float copy holds one band of output rows' input rows at a time (SPEC "Row bands").
    let bands: RowBands
    let scratchBytes: Int
    private var padded: UnsafeMutablePointer<Float>? = nil
    private var output: UnsafeMutablePointer<Int8>? = nil

    init(geometry g: Conv2DGeometry, weights: UnsafePointer<Int8>, bias: UnsafePointer<Int32>,
         requant: UnsafePointer<Int32>, inputZeroPoint: Int32, outputZeroPoint: Int32, outputMin: Int32, outputMax: Int32, bandBudget: Int) {
        precondition(g.isValid, "Conv2DInt8: invalid geometry \(g)")
        geometry = g
        self.inputZeroPoint = inputZeroPoint; self.outputZeroPoint = outputZeroPoint
        self.outputMin = outputMin; self.outputMax = outputMax
        let b = Self.block, k = g.reductionCount, ocg = g.groupOutputChannels
        ocBlocks = (ocg + b - 1) / b
        paddedWidth = g.paddedWidth
        bands = RowBands(g, paddedRowBytes: g.paddedWidth * g.inputChannels * 4, budget: bandBudget)
        scratchBytes = (bands.maxPaddedRows * g.paddedWidth * g.inputChannels * 4 + 63) / 64 * 64

        let packedCount = g.groups * ocBlocks * k * b
        packed = UnsafeMutableRawPointer.allocate(byteCount: packedCount * 4, alignment: 64)
            .bindMemory(to: Float.self, capacity: packedCount)
        packed.initialize(repeating: 0, count: packedCount)
        biasPadded = UnsafeMutableRawPointer.allocate(byteCount: g.groups * ocBlocks * b * 4, alignment: 64)
            .bindMemory(to: Int32.self, capacity: g.groups * ocBlocks * b)
        biasPadded.initialize(repeating: 0, count: g.groups * ocBlocks * b)
        for o in 0..<g.outputChannels {
            let (grp, local) = o.quotientAndRemainder(dividingBy: ocg)
            let (blk, lane) = local.quotientAndRemainder(dividingBy: b)
            for i in 0..<k { packed[((grp * ocBlocks + blk) * k + i) * b + lane] = Float(weights[o * k + i]) }
            biasPadded[grp * ocBlocks * b + local] = bias[o]
        }
        self.requant = .allocate(capacity: g.outputChannels * 4)
        self.requant.initialize(from: requant, count: g.outputChannels * 4)

        // Reduction segments: contiguous input runs of a kernel row, cut so that the running count
        // of products never exceeds `chunk` before the Float partial sums are flushed to Int32.
        let contiguous = g.kernelWidth == 1 || (g.groups == 1 && g.dilationWidth == 1)
        let pieces = contiguous ? 1 : g.kernelWidth
        let pieceLength = contiguous ? g.kernelWidth * g.groupInputChannels : g.groupInputChannels
        var segs: [Segment] = []
        var count = 0
        for r in 0..<g.kernelHeight {
            for piece in 0..<pieces {
                var j = 0
                while j < pieceLength {
                    let len = min(Self.chunk, pieceLength - j)
                    if count + len > Self.chunk, !segs.isEmpty { segs[segs.count - 1].flush = true; count = 0 }
                    let offset = (r * g.dilationHeight * paddedWidth + piece * g.dilationWidth) * g.inputChannels + j
                    segs.append(Segment(inputOffset: offset, k0: (r * pieces + piece) * pieceLength + j, length: len, flush: false))
                    count += len
                    j += len
                }
            }
        }
        segs[segs.count - 1].flush = true
        segmentCount = segs.count
        segments = .allocate(capacity: segs.count)
        segments.initialize(from: segs, count: segs.count)
    }

    deinit { packed.deallocate(); biasPadded.deallocate(); requant.deallocate(); segments.deallocate() }

    private var input: UnsafePointer<Int8>? = nil
    private var bandPixels = 0..<0
    private var bandFirstRow = 0

    /// Binds one run's input, output and scratch. Then `prepare(band:)` and `compute` for every band.
    func bind(input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>, scratch: UnsafeMutableRawPointer) {
        self.input = input
        padded = scratch.assumingMemoryBound(to: Float.self)
        self.output = output
    }

    var bandCount: Int { bands.count }

    /// Writes band `band`'s zero-bordered Float copy of `x - z_x` into scratch.
    func prepare(band: Int) {
        let g = geometry, ic = g.inputChannels, z = inputZeroPoint, input = input!, rowBytes = paddedWidth * ic * 4
        bands.writeCopy(band, g, into: UnsafeMutableRawPointer(padded!), rowBytes: rowBytes, pixelBytes: ic * 4, border: 0) { row, rows, dst, columns in
            for r in 0..<rows {
                let s = input + (row + r) * g.inputWidth * ic
                let d = (dst + r * rowBytes).assumingMemoryBound(to: Float.self)
                for i in 0..<(columns * ic) { d[i] = Float(Int32(s[i]) &- z) }
            }
        }
        let rows = bands.outputRows(band)
        bandFirstRow = rows.lowerBound
        bandPixels = rows.lowerBound * g.outputWidth..<rows.upperBound * g.outputWidth
    }

    func chunkCount(threads: Int) -> Int { threads <= 1 ? 1 : max(1, min(8 * threads, bandPixels.count / 32)) }

    /// Computes part `part` of `parts` of the prepared band's pixels.
    func compute(part: Int, of parts: Int) {
        let r = taperedRange(bandPixels.count, part, parts)
        let range = bandPixels.lowerBound + r.lowerBound..<bandPixels.lowerBound + r.upperBound
        guard !range.isEmpty, let output else { return }
        for grp in 0..<geometry.groups {
            for blk in 0..<ocBlocks {
                var p = range.lowerBound
                while p + 6 <= range.upperBound { tile6(grp, blk, p, output); p += 6 }
                while p < range.upperBound { tile1(grp, blk, p, output); p += 1 }
            }
        }
    }

    /// Pointer to the padded input at the top-left of pixel `p`'s receptive field, group `grp`.
    @inline(__always)
    func origin(_ grp: Int, _ p: Int) -> UnsafePointer<Float> {
        let g = geometry
        let (oh, ow) = p.quotientAndRemainder(dividingBy: g.outputWidth)
        return UnsafePointer(padded! + ((oh - bandFirstRow) * g.strideHeight * paddedWidth + ow * g.strideWidth) * g.inputChannels + grp * g.groupInputChannels)
    }

    @inline(__always)
    func store(_ acc: SIMD8<Int32>, _ grp: Int, _ blk: Int, _ p: Int, _ output: UnsafeMutablePointer<Int8>) {
        let g = geometry, b = Self.block
        let base = grp * g.groupOutputChannels + blk * b
        let n = min(b, g.groupOutputChannels - blk * b)
        let out = output + p * g.outputChannels + base
        let rq = UnsafePointer(requant + base * 4)
        for lane in 0..<n {
            out[lane] = Requantize.output(acc[lane], row: rq + lane * 4, outputZeroPoint: outputZeroPoint, min: outputMin, max: outputMax)
        }
    }

    @inline(__always)
    func weightBlock(_ grp: Int, _ blk: Int) -> UnsafePointer<SIMD8<Float>> {
        UnsafeRawPointer(packed + (grp * ocBlocks + blk) * geometry.reductionCount * Self.block).assumingMemoryBound(to: SIMD8<Float>.self)
    }

    @inline(never)
    func tile6(_ grp: Int, _ blk: Int, _ p: Int, _ output: UnsafeMutablePointer<Int8>) {
        let o0 = origin(grp, p), o1 = origin(grp, p + 1), o2 = origin(grp, p + 2)
        let o3 = origin(grp, p + 3), o4 = origin(grp, p + 4), o5 = origin(grp, p + 5)
        let wBlock = weightBlock(grp, blk)
        let bias = UnsafeRawPointer(biasPadded + (grp * ocBlocks + blk) * Self.block).load(as: SIMD8<Int32>.self)
        var i0 = bias, i1 = bias, i2 = bias, i3 = bias, i4 = bias, i5 = bias
        var f0 = SIMD8<Float>(), f1 = SIMD8<Float>(), f2 = SIMD8<Float>(), f3 = SIMD8<Float>(), f4 = SIMD8<Float>(), f5 = SIMD8<Float>()
        for s in 0..<segmentCount {
            let seg = segments[s]
            let off = seg.inputOffset
            let x0 = o0 + off, x1 = o1 + off, x2 = o2 + off, x3 = o3 + off, x4 = o4 + off, x5 = o5 + off
            let w = wBlock + seg.k0
            for j in 0..<seg.length {
                let wv = w[j]
                f0 = f0 + wv * x0[j]
                f1 = f1 + wv * x1[j]
                f2 = f2 + wv * x2[j]
                f3 = f3 + wv * x3[j]
                f4 = f4 + wv * x4[j]
                f5 = f5 + wv * x5[j]
            }
            if seg.flush {
                i0 &+= ExactFloat.toInt(f0); i1 &+= ExactFloat.toInt(f1); i2 &+= ExactFloat.toInt(f2)
                i3 &+= ExactFloat.toInt(f3); i4 &+= ExactFloat.toInt(f4); i5 &+= ExactFloat.toInt(f5)
                f0 = .zero; f1 = .zero; f2 = .zero; f3 = .zero; f4 = .zero; f5 = .zero
            }
        }
        store(i0, grp, blk, p, output); store(i1, grp, blk, p + 1, output); store(i2, grp, blk, p + 2, output)
        store(i3, grp, blk, p + 3, output); store(i4, grp, blk, p + 4, output); store(i5, grp, blk, p + 5, output)
    }

    @inline(never)
    func tile1(_ grp: Int, _ blk: Int, _ p: Int, _ output: UnsafeMutablePointer<Int8>) {
        let o0 = origin(grp, p)
        let wBlock = weightBlock(grp, blk)
        var i0 = UnsafeRawPointer(biasPadded + (grp * ocBlocks + blk) * Self.block).load(as: SIMD8<Int32>.self)
        var f0 = SIMD8<Float>()
        for s in 0..<segmentCount {
            let seg = segments[s]
            let x0 = o0 + seg.inputOffset
            let w = wBlock + seg.k0
            for j in 0..<seg.length { f0 = f0 + w[j] * x0[j] }
            if seg.flush { i0 &+= ExactFloat.toInt(f0); f0 = .zero }
        }
        store(i0, grp, blk, p, output)
    }
}
