// The CONV2D / DENSE core of the avx2, avxvnni and vnni variants (SPEC "Kernel layouts"): weights repacked
// once at load (kernel-owned constants), a bordered input copy in the caller's scratch written on
// every run, the zero-point correction folded into the bias. Grouped and dilated convs run the
// same tiles with a kernel row cut into KW segments; each group has its own weights and args. The
// hot loops live in RoentgenKernelsVNNI / RoentgenKernelsAVX2 / RoentgenKernelsAVXVNNI.
import CRoentgenISA
#if arch(x86_64)
import RoentgenKernelsVNNI
import RoentgenKernelsAVX2
import RoentgenKernelsAVXVNNI
#endif

/// Where the tiles read: the bordered input copy `[Hp][Wp][IC]` and how a kernel row is cut into
/// segments of quads (4 bytes: 4 u8, 2 s16 or 1 f32) for one group's weights.
struct TileLayout {
    let lanes: Int, elementBytes: Int, quadElements: Int
    let groupInputChannels: Int, groupOutputChannels: Int
    /// Conv groups per vector when groups sit side by side (`convGrouped`, int8), else 1.
    let groupsPerVector: Int
    /// Tile argument sets: one per conv group, or one for all when groups sit side by side.
    let groups: Int
    /// Output channels of one argument set.
    let argumentChannels: Int
    /// Segments per kernel row and elements per segment: the whole row (KW * IC) when it is
    /// contiguous in the copy (groups = 1, dilation_w = 1, or KW = 1), else one kernel tap's IC / groups.
    let segments: Int, segmentLength: Int, quads: Int
    let ocVectors: Int                     // per group
    let vectorBytes: Int                   // packed weights of one vector of `lanes` output channels
    let paddedWidth: Int, paddedRowBytes: Int
    /// The copy holds one band of output rows' input rows at a time.
    let bands: RowBands
    /// Bytes of one band's copy plus 64 bytes of slack for a segment's last quad (met by zero weights).
    let paddedBytes: Int

    static func sideBySide(_ g: Conv2DGeometry, lanes: Int, elementBytes: Int, vectorBytes: Int) -> Int {
        let ocg = g.groupOutputChannels, groupBytes = g.groupInputChannels * elementBytes
        guard g.groups > 1, ocg < lanes, lanes % ocg == 0, groupBytes % 4 == 0, lanes / ocg * groupBytes <= vectorBytes else { return 1 }
        return lanes / ocg
    }

    init(_ g: Conv2DGeometry, lanes: Int, elementBytes: Int, quadElements: Int, groupsPerVector: Int = 1,
         bandBudget: Int = RowBands.defaultBudget) {
        self.lanes = lanes; self.elementBytes = elementBytes; self.quadElements = quadElements
        self.groupsPerVector = groupsPerVector
        groups = groupsPerVector > 1 ? 1 : g.groups
        argumentChannels = groupsPerVector > 1 ? g.outputChannels : g.groupOutputChannels
        groupInputChannels = g.groupInputChannels
        groupOutputChannels = g.groupOutputChannels
        if g.kernelWidth == 1 || (g.groups == 1 && g.dilationWidth == 1) {
            segments = 1; segmentLength = g.kernelWidth * g.groupInputChannels
        } else {
            segments = g.kernelWidth; segmentLength = g.groupInputChannels
        }
        quads = (segmentLength + quadElements - 1) / quadElements
        ocVectors = (argumentChannels + lanes - 1) / lanes
        vectorBytes = g.kernelHeight * segments * quads * lanes * 4
        paddedWidth = g.paddedWidth
        paddedRowBytes = paddedWidth * g.inputChannels * elementBytes
        bands = RowBands(g, paddedRowBytes: paddedRowBytes, budget: bandBudget)
        paddedBytes = (bands.maxPaddedRows * paddedRowBytes + 64 + 63) / 64 * 64
    }

    /// Index into the OHWI weights of element `j` of segment `seg` of kernel row `r`, channel `o`:
    /// a segment of the whole row starts at 0, a tap's segment at `seg * IC/groups` - the same formula.
    func weightIndex(_ g: Conv2DGeometry, o: Int, r: Int, seg: Int, j: Int) -> Int {
        o * g.reductionCount + r * g.kernelWidth * groupInputChannels + seg * segmentLength + j
    }

    /// Byte offset in packed weights of (group, vector, row, segment, element j, lane): quads of
    /// `quadElements` consecutive elements, `lanes` channels side by side, 4 bytes each.
    func packedOffset(group: Int, v: Int, r: Int, seg: Int, j: Int, lane: Int) -> Int {
        let (q, e) = j.quotientAndRemainder(dividingBy: quadElements)
        return (group * ocVectors + v) * vectorBytes + (((r * segments + seg) * quads + q) * lanes + lane) * 4 + e * elementBytes
    }

    /// Calls `body(source, at)` for every weight: `source` its index in the OHWI weights
    /// (`weightIndex`), `at` its byte offset in the packed weights (`packedOffset`), the offsets
    /// stepped rather than computed (computed per weight, with divisions, they were a quarter of a
    /// Table-2 classify's instructions).
    @inline(__always) func forEachWeight(_ g: Conv2DGeometry, _ body: (_ source: Int, _ at: Int) -> Void) {
        precondition(quadElements.nonzeroBitCount == 1, "TileLayout: quadElements \(quadElements) is not a power of 2")
        let quadShift = quadElements.trailingZeroBitCount, quadBytes = lanes * 4
        for o in 0..<g.outputChannels {
            let (group, local) = o.quotientAndRemainder(dividingBy: argumentChannels)
            let (v, lane) = local.quotientAndRemainder(dividingBy: lanes)
            for r in 0..<g.kernelHeight {
                for seg in 0..<segments {
                    let source = weightIndex(g, o: o, r: r, seg: seg, j: 0)
                    let segment = packedOffset(group: group, v: v, r: r, seg: seg, j: 0, lane: lane)
                    for j in 0..<segmentLength {
                        body(source &+ j, segment &+ (j &>> quadShift) &* quadBytes &+ (j & (quadElements &- 1)) &* elementBytes)
                    }
                }
            }
        }
    }

    /// Fills the per-group fields of the tile arguments that do not depend on the run.
    func arguments(_ g: Conv2DGeometry, group: Int) -> rtg_conv_args {
        var c = rtg_conv_args()
        c.outWidth = Int64(g.outputWidth); c.oc = Int64(argumentChannels); c.ocVectors = Int64(ocVectors)
        c.kernelHeight = Int64(g.kernelHeight); c.quads = Int64(quads); c.segments = Int64(segments)
        c.segmentStepBytes = Int64(g.dilationWidth * g.inputChannels * elementBytes)
        c.rowAdvanceBytes = Int64(g.dilationHeight * paddedRowBytes) - Int64(segments) * c.segmentStepBytes
        c.pixelStepBytes = Int64(g.strideWidth * g.inputChannels * elementBytes)
        c.rowStepBytes = Int64(g.strideHeight * paddedRowBytes)
        c.vectorBytes = Int64(vectorBytes); c.outputStride = Int64(g.outputChannels)
        c.vectorInputBytes = Int64(groupsPerVector * groupInputChannels * elementBytes)
        return c
    }

    /// Writes part `part` of `parts` of band `band`'s bordered copy to `buffer` (SPEC "Row bands"),
    /// the input rows through `fill`; part 0 also points every argument set at it.
    func writeBand(_ band: Int, _ g: Conv2DGeometry, into buffer: UnsafeMutableRawPointer, border: UInt8,
                   args: UnsafeMutablePointer<rtg_conv_args>, part: Int, of parts: Int, fill: (Int, Int, UnsafeMutableRawPointer, Int) -> Void) {
        bands.writeCopy(band, g, into: buffer, rowBytes: paddedRowBytes, pixelBytes: g.inputChannels * elementBytes, border: border,
                        part: part, of: parts, fill: fill)
        guard part == 0 else { return }
        for grp in 0..<groups {
            args[grp].padded = UnsafeRawPointer(buffer + grp * groupInputChannels * elementBytes)
            args[grp].firstRow = Int64(bands.outputRows(band).lowerBound)
        }
    }

    /// Chunks for the worker pool: pieces of >= 64 output pixels, at most 8 per thread, and when
    /// that gives fewer than 2 per thread (the small maps of late layers, a dense-like 1x1 map) each
    /// piece also split into runs of channel vectors (multiples of 4, the widest tile), so every
    /// thread has work and reads only its share of the weights. (Pieces of >= 32 pixels, tried in
    /// stop 32 so that a 14 x 14 1x1 conv would not split its channels behind a conversion pass,
    /// were slower at 2 threads once `readsInPlace` had removed that pass: EfficientNet-Lite0 1.32
    /// -> 1.20 ms back at 64, Table-2 1.31 -> 1.22.)
    func chunkCount(threads: Int, pixels: Int) -> Int {
        if threads <= 1 { return 1 }
        let p = max(1, min(8 * threads, pixels / 64))
        if p >= 2 * threads { return p }
        return p * max(1, min((ocVectors + 3) / 4, (2 * threads + p - 1) / p))
    }

    /// Whether `parts` chunks of `pixels` pixels cut the channel vectors too (`chunk`).
    func splitsChannels(parts: Int, pixels: Int) -> Bool { parts / min(parts, max(1, pixels / 64)) > 1 }

    /// Chunk `part` of `parts` (from `chunkCount`) of the band's `pixels`: its pixels and channel vectors.
    func chunk(_ part: Int, of parts: Int, pixels: Range<Int>) -> (pixels: Range<Int>, vectors: Range<Int>) {
        let p = min(parts, max(1, pixels.count / 64)), v = max(1, parts / p)
        let (pi, vi) = part.quotientAndRemainder(dividingBy: v)
        let r = taperedRange(pixels.count, pi, p), q = partRange((ocVectors + 3) / 4, vi, v)
        return (pixels.lowerBound + r.lowerBound..<pixels.lowerBound + r.upperBound,
                min(ocVectors, 4 * q.lowerBound)..<min(ocVectors, 4 * q.upperBound))
    }
}

/// The epilogue's per-channel columns of the int8 kernels, per group: bias, mPos, sPos, mNeg, sNeg,
/// tPos, tNeg, rPos, rNeg, rFolded ([groups][10][paddedChannels] int32; where shift >= 33:
/// t = shift - 32, r = 2^(t-1), rFolded = r + z_y * 2^t), and which epilogue is exact for each
/// slice of lanes (`kinds`). A kernel picks the epilogue per tile or per run of channels, so one
/// near-dead or very strong channel costs its own vectors the slower form, not the whole layer
/// (EfficientNet-Lite0's 5 such channels are in depthwise convs, which scale them onto the 32-bit
/// form: `DepthwiseConv2DInt8.scaleShifts`). Lanes past OC get m 0 and shift 33 so that they never decide.
enum EpilogueColumns {
    static let rows = 10

    static func make(groups: Int, groupChannels ocg: Int, paddedChannels ocPad: Int, channels: Int,
                     requant: UnsafePointer<Int32>?, outputZeroPoint zy: Int32, bias: (Int) -> Int32) -> UnsafeMutablePointer<Int32> {
        let columns = UnsafeMutablePointer<Int32>.allocate(capacity: groups * rows * ocPad)
        columns.initialize(repeating: 0, count: groups * rows * ocPad)
        for o in 0..<channels {
            let (grp, local) = o.quotientAndRemainder(dividingBy: ocg)
            let col = columns + grp * rows * ocPad
            col[local] = bias(o)
            if let rq = requant {
                col[ocPad + local] = rq[o * 4]; col[2 * ocPad + local] = rq[o * 4 + 1]
                col[3 * ocPad + local] = rq[o * 4 + 2]; col[4 * ocPad + local] = rq[o * 4 + 3]
            }
        }
        for grp in 0..<groups {
            let col = columns + grp * rows * ocPad
            for o in ocg..<ocPad { col[2 * ocPad + o] = 33; col[4 * ocPad + o] = 33 }
            for o in 0..<ocPad {
                for (sCol, tCol, rCol) in [(2, 5, 7), (4, 6, 8)] where col[sCol * ocPad + o] >= 33 {
                    col[tCol * ocPad + o] = col[sCol * ocPad + o] - 32
                    col[rCol * ocPad + o] = Int32(1) << (col[sCol * ocPad + o] - 33)
                }
                // Wraps where t > 22; no slice with such a lane takes kind 3.
                col[9 * ocPad + o] = col[7 * ocPad + o] &+ (zy &<< col[5 * ocPad + o])
            }
        }
        return columns
    }

    /// The epilogue each `lanes`-wide slice of the columns can take (row k of group g at
    /// `columns + (g * rowsPerGroup + k) * paddedChannels`, in the kernel's lane order): 0 the
    /// 64-bit one; 1 the 32-bit one (requantizeFast), when every shift of the slice is >= 33, as
    /// converters produce for real layers (M = s_x * s_w / s_y << 1); 2 the same without the sign
    /// select, when moreover every lane's negative pair equals its positive one (no leaky ReLU);
    /// 3 the same with z_y in the rounding term (rFolded), when every t <= 22: floor((h + r) / 2^t)
    /// = floor((h + 2^(t-1)) / 2^t) + z_y exactly, and |h| < 2^30, |z_y * 2^t| <= 2^29 keep the sum
    /// inside int32 (one add less per vector). Each kind is exact wherever a higher one is, so a
    /// tile over several slices takes their minimum. [groups][paddedChannels / lanes].
    static func kinds(_ columns: UnsafePointer<Int32>, groups: Int, rowsPerGroup: Int, paddedChannels ocPad: Int,
                      lanes: Int) -> UnsafeMutablePointer<UInt8> {
        precondition(ocPad % lanes == 0)
        let perGroup = ocPad / lanes
        let kinds = UnsafeMutablePointer<UInt8>.allocate(capacity: max(1, groups * perGroup))
        for grp in 0..<groups {
            let col = columns + grp * rowsPerGroup * ocPad
            for v in 0..<perGroup {
                let slice = v * lanes..<(v + 1) * lanes
                kinds[grp * perGroup + v] =
                    slice.contains { col[2 * ocPad + $0] < 33 || col[4 * ocPad + $0] < 33 } ? 0
                    : slice.contains { col[ocPad + $0] != col[3 * ocPad + $0] || col[2 * ocPad + $0] != col[4 * ocPad + $0] } ? 1
                    : slice.contains { col[5 * ocPad + $0] > 22 } ? 2 : 3
            }
        }
        return kinds
    }

    /// The kinds a tile of 1, 2 or 4 vectors starting at vector v takes (the lowest of its vectors'):
    /// [groups][3][vectors], row log2(NR), read with one load per tile. Deallocates `kinds`.
    static func tileKinds(_ kinds: UnsafeMutablePointer<UInt8>, groups: Int, vectors: Int) -> UnsafeMutablePointer<UInt8> {
        defer { kinds.deallocate() }
        let table = UnsafeMutablePointer<UInt8>.allocate(capacity: max(1, groups * 3 * vectors))
        for grp in 0..<groups {
            for row in 0..<3 {
                for v in 0..<vectors {
                    let span = v..<min(vectors, v + (1 << row))
                    table[(grp * 3 + row) * vectors + v] = span.map { kinds[grp * vectors + $0] }.min()!
                }
            }
        }
        return table
    }
}

final class PackedInt8: @unchecked Sendable {
    let variant: KernelVariant
    let geometry: Conv2DGeometry
    let layout: TileLayout
    let args: UnsafeMutablePointer<rtg_conv_args>      // one per group
    let weights: UnsafeMutableRawPointer
    let columns: UnsafeMutablePointer<Int32>           // per group: EpilogueColumns.rows
    let requantKinds: UnsafeMutablePointer<UInt8>      // per group, tile width and vector (EpilogueColumns.tileKinds)
    let inputZeroPoint: Int32
    /// Side-by-side groups: lane l of quad q reads input dword (l / (OC / groups)) * quads + q.
    let permute: UnsafeMutablePointer<Int32>?
    /// Scratch: the bordered copy (u8 x + 128 for vnni and avxvnni, s16 x - z for avx2), then in raw mode the
    /// int32 accumulators.
    let scratchBytes: Int
    let rawOffset: Int
    /// A 1x1, stride-1, unpadded conv of one argument set whose pixels are whole quads: a pixel's
    /// copy is that input pixel converted, and nothing reads past its own pixel, so each chunk can
    /// convert the pixels it reads itself (no pass over the band before the tiles, no barrier).
    let pointwise: Bool
    /// A `pointwise` conv of the u8-quad variants (vnni, avxvnni): its tiles read the int8 input
    /// itself, each quad XORed with 0x80808080 in the register (`inputFlip`; x ^ 0x80 = x + 128 as
    /// u8), so there is no copy, no conversion and, at 2 threads, no wait for one.
    let readsInPlace: Bool
    /// avx2 DENSE (raw mode, one pixel, one argument set): the weights stay s8, half the bytes a
    /// GEMV streams, and `AVX2Kernels.gemv` widens them at the load (the tiles' layout at half the offsets).
    let narrowWeights: Bool
    /// `pointwise` and this band's chunks are pixel ranges (set by `prepareInChunks`).
    private var convertsInChunks = false

    /// `requant` nil: raw mode, the tiles write int32 accumulators to scratch (DENSE, `raw(_:)`).
    init(variant: KernelVariant, geometry g: Conv2DGeometry, weights w: UnsafePointer<Int8>, bias: UnsafePointer<Int32>,
         requant: UnsafePointer<Int32>?, inputZeroPoint zx: Int32, outputZeroPoint zy: Int32,
         outputMin: Int32 = -128, outputMax: Int32 = 127, bandBudget: Int = RowBands.defaultBudget) {
        precondition(variant != .portable)
        precondition(g.isValid, "PackedInt8: invalid geometry \(g)")
        self.variant = variant
        geometry = g
        inputZeroPoint = zx
        let quads = !variant.multipliesPairs           // u8 x + 128 against s8 quads (vnni, avxvnni), else s16 pairs
        let lanes = variant.lanes, eb = quads ? 1 : 2
        let L = TileLayout(g, lanes: lanes, elementBytes: eb, quadElements: quads ? 4 : 2,
                           groupsPerVector: TileLayout.sideBySide(g, lanes: lanes, elementBytes: eb, vectorBytes: lanes * 4),
                           bandBudget: bandBudget)
        layout = L
        let groups = L.groups, ocg = L.argumentChannels
        let ocPad = L.ocVectors * lanes
        pointwise = g.kernelHeight == 1 && g.kernelWidth == 1 && g.strideHeight == 1 && g.strideWidth == 1
            && g.padTop == 0 && g.padBottom == 0 && g.padLeft == 0 && g.padRight == 0
            && L.groups == 1 && L.groupsPerVector == 1 && g.inputChannels % L.quadElements == 0
        readsInPlace = pointwise && !variant.multipliesPairs
        rawOffset = readsInPlace ? 0 : L.paddedBytes
        scratchBytes = rawOffset + (requant == nil ? (groups * ocPad * 4 + 63) / 64 * 64 : 0)
        narrowWeights = variant.multipliesPairs && requant == nil && g.outputHeight * g.outputWidth == 1 && L.groups == 1 && L.groupsPerVector == 1
        let narrow = narrowWeights, vectorBytes = narrow ? L.vectorBytes / 2 : L.vectorBytes

        let weightBytes = groups * L.ocVectors * vectorBytes
        weights = .allocate(byteCount: max(weightBytes, 64), alignment: 64)
        weights.initializeMemory(as: UInt8.self, repeating: 0, count: max(weightBytes, 64))
        let k = g.reductionCount
        let packed = weights
        if quads { L.forEachWeight(g) { packed.storeBytes(of: w[$0], toByteOffset: $1, as: Int8.self) } }
        else if narrow { L.forEachWeight(g) { packed.storeBytes(of: w[$0], toByteOffset: $1 / 2, as: Int8.self) } }
        else { L.forEachWeight(g) { packed.storeBytes(of: Int16(w[$0]), toByteOffset: $1, as: Int16.self) } }

        // bias' = b - (z + 128) * sum(w) for u8 inputs x + 128 (wrapping: the final sum is exact).
        columns = EpilogueColumns.make(groups: groups, groupChannels: ocg, paddedChannels: ocPad, channels: g.outputChannels,
                                       requant: requant, outputZeroPoint: zy) { o in
            guard quads else { return bias[o] }
            var sum: Int32 = 0
            for i in 0..<k { sum &+= Int32(w[o * k + i]) }
            return bias[o] &- (zx &+ 128) &* sum
        }
        requantKinds = EpilogueColumns.tileKinds(EpilogueColumns.kinds(columns, groups: groups, rowsPerGroup: EpilogueColumns.rows,
                                                                       paddedChannels: ocPad, lanes: lanes),
                                                 groups: groups, vectors: L.ocVectors)

        if L.groupsPerVector > 1 {
            let p = UnsafeMutablePointer<Int32>.allocate(capacity: L.quads * lanes)
            for q in 0..<L.quads { for l in 0..<lanes { p[q * lanes + l] = Int32(l / L.groupOutputChannels * L.quads + q) } }
            permute = p
        } else {
            permute = nil
        }
        args = .allocate(capacity: groups)
        for grp in 0..<groups {
            var c = L.arguments(g, group: grp)
            let col = columns + grp * EpilogueColumns.rows * ocPad
            c.weights = UnsafeRawPointer(weights + grp * L.ocVectors * vectorBytes)
            c.vectorBytes = Int64(vectorBytes)
            c.bias = UnsafePointer(col)
            c.mPos = UnsafePointer(col + ocPad); c.sPos = UnsafePointer(col + 2 * ocPad)
            c.mNeg = UnsafePointer(col + 3 * ocPad); c.sNeg = UnsafePointer(col + 4 * ocPad)
            c.tPos = UnsafePointer(col + 5 * ocPad); c.tNeg = UnsafePointer(col + 6 * ocPad)
            c.rPos = UnsafePointer(col + 7 * ocPad); c.rNeg = UnsafePointer(col + 8 * ocPad); c.rFolded = UnsafePointer(col + 9 * ocPad)
            c.outputZeroPoint = Int64(zy); c.outputMin = Int64(outputMin); c.outputMax = Int64(outputMax)
            c.requantKinds = UnsafePointer(requantKinds + grp * 3 * L.ocVectors)
            c.permute = permute.map { UnsafePointer($0) }
            c.inputFlip = readsInPlace ? Int32(bitPattern: 0x8080_8080) : 0
            (args + grp).initialize(to: c)
        }
    }

    deinit { args.deallocate(); weights.deallocate(); columns.deallocate(); requantKinds.deallocate(); permute?.deallocate() }

    /// The raw accumulators in `scratch` (raw mode): [groups][ocVectors * lanes] int32.
    func raw(_ scratch: UnsafeMutableRawPointer) -> UnsafeMutablePointer<Int32> {
        (scratch + rawOffset).assumingMemoryBound(to: Int32.self)
    }

    private var input: UnsafePointer<Int8>? = nil
    private var scratch: UnsafeMutableRawPointer? = nil
    /// The output pixels of the band whose copy is in scratch.
    private var bandPixels = 0..<0

    /// Binds one run's input, output (int8, requantized) or, when nil, the raw accumulators in
    /// scratch, and scratch. Then `prepare(band:)` and `compute` for every band.
    func bind(input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>?, scratch: UnsafeMutableRawPointer) {
        self.input = input; self.scratch = scratch
        let L = layout, ocPad = L.ocVectors * L.lanes
        for grp in 0..<L.groups {
            args[grp].output = output.map { $0 + grp * L.argumentChannels }
            args[grp].raw = output == nil ? raw(scratch) + grp * ocPad : nil
        }
    }

    var bandCount: Int { readsInPlace ? 1 : layout.bands.count }

    /// Writes band `band`'s bordered copy into scratch (border: the real 0); when `readsInPlace`,
    /// points the tiles at the input instead (one band, part 0 only).
    func prepare(band: Int, part: Int = 0, of parts: Int = 1) {
        let g = geometry, L = layout, z = inputZeroPoint, input = input!
        if readsInPlace {
            guard part == 0 else { return }
            args[0].padded = UnsafeRawPointer(input); args[0].firstRow = 0
            convertsInChunks = false
            bandPixels = 0..<g.outputHeight * g.outputWidth
            return
        }
        L.writeBand(band, g, into: scratch!, border: variant.multipliesPairs ? 0 : UInt8(truncatingIfNeeded: z &+ 128), args: args,
                    part: part, of: parts) { row, rows, dst, columns in
            fill(input + row * g.inputWidth * g.inputChannels, dst, rows: rows, count: columns * g.inputChannels)
        }
        guard part == 0 else { return }
        convertsInChunks = false
        let rows = L.bands.outputRows(band)
        bandPixels = rows.lowerBound * g.outputWidth..<rows.upperBound * g.outputWidth
    }

    /// Instead of `prepare(band:)` when it returns true (a `pointwise` conv whose chunks at
    /// `threads` threads are pixel ranges): band `band` is bound and each chunk converts its own
    /// pixels. Returns false, binding nothing, otherwise.
    func prepareInChunks(band: Int, threads: Int) -> Bool {
        guard pointwise else { return false }
        if readsInPlace { prepare(band: band); return true }
        let g = geometry, L = layout, rows = L.bands.outputRows(band)
        let pixels = rows.lowerBound * g.outputWidth..<rows.upperBound * g.outputWidth
        guard !L.splitsChannels(parts: L.chunkCount(threads: threads, pixels: pixels.count), pixels: pixels.count) else { return false }
        bandPixels = pixels
        args[0].padded = UnsafeRawPointer(scratch!)
        args[0].firstRow = Int64(rows.lowerBound)
        convertsInChunks = true
        return true
    }

    /// `count` input elements from `src` into the copy's form at `dst`, `rows` times (strides: the input's and the copy's rows).
    private func fill(_ src: UnsafePointer<Int8>, _ dst: UnsafeMutableRawPointer, rows: Int, count: Int) {
        let g = geometry, z = inputZeroPoint, srcStride = g.inputWidth * g.inputChannels
        #if arch(x86_64)
        switch variant {
        case .vnni: VNNIKernels.fill(src, dst, rows: rows, count: count, srcStride: srcStride, dstStride: layout.paddedRowBytes, zeroPoint: z)
        case .avxvnni: AVXVNNIKernels.fill(src, dst, rows: rows, count: count, srcStride: srcStride, dstStride: layout.paddedRowBytes, zeroPoint: z)
        default: AVX2Kernels.fill(src, dst, rows: rows, count: count, srcStride: srcStride, dstStride: layout.paddedRowBytes, zeroPoint: z)
        }
        #endif
    }

    /// Convenience for a single-band run (DENSE): bind, then band 0.
    func prepare(input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>?, scratch: UnsafeMutableRawPointer) {
        bind(input: input, output: output, scratch: scratch)
        prepare(band: 0)
    }

    func chunkCount(threads: Int) -> Int { layout.chunkCount(threads: threads, pixels: bandPixels.count) }

    /// Computes part `part` of `parts` of the prepared band: a range of its pixels and of channel
    /// vectors (`TileLayout.chunk`), every group.
    func compute(part: Int, of parts: Int) {
        let (pr, vr) = layout.chunk(part, of: parts, pixels: bandPixels)
        guard !pr.isEmpty, !vr.isEmpty else { return }
        if convertsInChunks {
            let ic = geometry.inputChannels
            fill(input! + pr.lowerBound * ic, scratch! + (pr.lowerBound - bandPixels.lowerBound) * ic * layout.elementBytes,
                 rows: 1, count: pr.count * ic)
        }
        #if arch(x86_64)
        let b = pr.lowerBound, e = pr.upperBound, vb = vr.lowerBound, ve = vr.upperBound
        if narrowWeights {
            AVX2Kernels.gemv(args, vectorBegin: vb, vectorEnd: ve)
            return
        }
        if layout.groupsPerVector > 1 {
            switch variant {
            case .vnni: VNNIKernels.convGrouped(args, pixelBegin: b, pixelEnd: e, vectorBegin: vb, vectorEnd: ve)
            case .avxvnni: AVXVNNIKernels.convGrouped(args, pixelBegin: b, pixelEnd: e, vectorBegin: vb, vectorEnd: ve)
            default: AVX2Kernels.convGrouped(args, pixelBegin: b, pixelEnd: e, vectorBegin: vb, vectorEnd: ve)
            }
            return
        }
        for grp in 0..<layout.groups {
            switch variant {
            case .vnni: VNNIKernels.conv(args + grp, pixelBegin: b, pixelEnd: e, vectorBegin: vb, vectorEnd: ve)
            case .avxvnni: AVXVNNIKernels.conv(args + grp, pixelBegin: b, pixelEnd: e, vectorBegin: vb, vectorEnd: ve)
            default: AVX2Kernels.conv(args + grp, pixelBegin: b, pixelEnd: e, vectorBegin: vb, vectorEnd: ve)
            }
        }
        #endif
    }
}
