// CONV2D 3x3 stride 1 by Winograd F(2x2, 3x3): 16 products per 2 x 2 outputs instead of 36.
//   int8 (avx2): exact integers, every accumulator bit-identical to the direct sum (the arithmetic,
//                and why it is exact: generate_isa_kernels.py, "Winograd");
//   f32 (avx2, vnni): within the direct sum's rounding (SPEC "Float arithmetic").
// The output tiles are cut into blocks; a block's transformed input and its 16 positions' products
// live in one of `slots` scratch slots, one per chunk, so threads never share a buffer.
import CRoentgenISA
#if arch(x86_64)
import RoentgenKernelsVNNI
import RoentgenKernelsAVX2
#endif

/// The blocking shared by both precisions: tiles, blocks, slots, and the tiles' arguments for each
/// position (one set per slot, since `padded` / `raw` point into the slot).
struct WinogradPlan {
    /// Chunks run at once at most (each has its own slot of scratch).
    static let slots = 4
    /// Bytes of scratch one slot aims at (the block's transformed input and products stay in L2).
    static let slotBudget = 128 * 1024

    /// Groups = 1, 3 x 3, stride 1, no dilation, at least 4 input channels (with one, the cost is the
    /// epilogue, not the products: the direct kernel is as fast).
    static func shapeApplies(_ g: Conv2DGeometry) -> Bool {
        g.groups == 1 && g.kernelHeight == 3 && g.kernelWidth == 3 && g.strideHeight == 1 && g.strideWidth == 1
            && g.dilationHeight == 1 && g.dilationWidth == 1 && g.inputChannels >= 4
    }

    let lanes: Int, elementBytes: Int
    let icPadded: Int, ocVectors: Int
    let tilesWide: Int, tileCount: Int
    /// Tiles per block and blocks.
    let blockTiles: Int, blockCount: Int
    let inputBytes: Int, slotBytes: Int, slots: Int
    var scratchBytes: Int { slots * slotBytes }
    /// Elements between two positions' rows in a slot: input (s16 / f32) and products (int32 / f32).
    var inputStride: Int { blockTiles * icPadded }
    var productStride: Int { blockTiles * ocVectors * lanes }
    /// Packed weights of one position and vector: [ICp / quadElements quads][lanes][4 bytes].
    var vectorBytes: Int { icPadded * elementBytes * lanes }
    /// Packed weights of one position: [ocVectors][vectorBytes].
    var positionBytes: Int { ocVectors * vectorBytes }

    /// Fills `weights` ([16 positions][ocVectors][vectorBytes], a quad = 4 / elementBytes input
    /// channels) with every 3 x 3 kernel's transformed values: `transform(o, j, u)` writes those of
    /// output channel `o`, input channel `j` to `u[0..<16]` in position order. One vector of output
    /// channels at a time is staged in rows 64 bytes longer than a vector, then copied row by row:
    /// `positionBytes` is often a power of two, and the 16 positions' stores that far apart fell in
    /// one L1 set and missed a third of the time (callgrind), so that the int8 transform took about as
    /// long as the Table-2 inference's main tile (perf). Padding lanes and channels are zero.
    @inline(__always) func packKernels<T>(_ g: Conv2DGeometry, into weights: UnsafeMutableRawPointer, as _: T.Type,
                        _ transform: (_ o: Int, _ j: Int, _ u: UnsafeMutablePointer<T>) -> Void) {
        precondition(MemoryLayout<T>.size == elementBytes, "WinogradPlan: \(T.self) is not \(elementBytes) bytes")
        let quad = 4 / elementBytes, row = vectorBytes + 64
        let stage = UnsafeMutableRawPointer.allocate(byteCount: 16 * row, alignment: 64)
        let u = UnsafeMutablePointer<T>.allocate(capacity: 16)
        defer { stage.deallocate(); u.deallocate() }
        for v in 0..<ocVectors {
            stage.initializeMemory(as: UInt8.self, repeating: 0, count: 16 * row)
            for j in 0..<g.inputChannels {
                let first = (j / quad * lanes) * 4 + j % quad * elementBytes
                for lane in 0..<min(lanes, g.outputChannels - v * lanes) {
                    transform(v * lanes + lane, j, u)
                    for position in 0..<16 { stage.storeBytes(of: u[position], toByteOffset: position &* row &+ first &+ lane &* 4, as: T.self) }
                }
            }
            for position in 0..<16 {
                (weights + position * positionBytes + v * vectorBytes).copyMemory(from: stage + position * row, byteCount: vectorBytes)
            }
        }
    }

    /// `elementBytes` of the transformed input (2: s16 pairs per quad, 4: one f32 per quad);
    /// `icStep`: the input transform's vector of channels; `tileRows`: the products tiles' row counts
    /// for 4, 2 and 1 vectors (a block is a multiple of the one this layer mostly runs).
    init(_ g: Conv2DGeometry, lanes: Int, elementBytes: Int, icStep: Int, tileRows: (Int, Int, Int)) {
        self.lanes = lanes; self.elementBytes = elementBytes
        icPadded = (g.inputChannels + icStep - 1) / icStep * icStep
        ocVectors = (g.outputChannels + lanes - 1) / lanes
        tilesWide = (g.outputWidth + 1) / 2
        tileCount = tilesWide * ((g.outputHeight + 1) / 2)
        let perTile = 16 * icPadded * elementBytes + 16 * ocVectors * lanes * 4
        let rows = ocVectors >= 4 ? tileRows.0 : ocVectors >= 2 ? tileRows.1 : tileRows.2
        var block = max(rows, WinogradPlan.slotBudget / perTile / rows * rows)
        // at least two blocks when there are tiles enough, so that two threads share the work
        if tileCount >= 4 * rows { block = min(block, ((tileCount + 1) / 2 + rows - 1) / rows * rows) }
        blockTiles = min(block, tileCount)
        blockCount = (tileCount + blockTiles - 1) / blockTiles
        inputBytes = (16 * blockTiles * icPadded * elementBytes + 63) / 64 * 64
        slotBytes = inputBytes + (16 * blockTiles * ocVectors * lanes * 4 + 63) / 64 * 64
        slots = min(WinogradPlan.slots, blockCount)
    }

    /// The tiles' arguments for [slot][position]; weights of position p at `weights + p * ocVectors * vectorBytes`.
    func productArguments(_ g: Conv2DGeometry, weights: UnsafeRawPointer) -> UnsafeMutablePointer<rtg_conv_args> {
        let args = UnsafeMutablePointer<rtg_conv_args>.allocate(capacity: slots * 16)
        for i in 0..<slots * 16 {
            var a = rtg_conv_args()
            a.weights = weights + (i % 16) * ocVectors * vectorBytes
            a.outWidth = 1 << 40                  // one long row of tiles: tile p's input is at p * ICp elements
            a.oc = Int64(g.outputChannels); a.ocVectors = Int64(ocVectors)
            a.kernelHeight = 1; a.quads = Int64(icPadded * elementBytes / 4); a.segments = 1
            a.pixelStepBytes = Int64(icPadded * elementBytes); a.vectorBytes = Int64(vectorBytes)
            (args + i).initialize(to: a)
        }
        return args
    }

    /// Points every slot's arguments at their rows in `scratch`.
    func bind(_ args: UnsafeMutablePointer<rtg_conv_args>, scratch: UnsafeMutableRawPointer) {
        for s in 0..<slots {
            let slot = scratch + s * slotBytes
            for position in 0..<16 {
                let a = args + s * 16 + position
                a.pointee.padded = UnsafeRawPointer(slot + position * inputStride * elementBytes)
                a.pointee.raw = (slot + inputBytes).assumingMemoryBound(to: Int32.self) + position * productStride
            }
        }
    }

    func chunkCount(threads: Int) -> Int { threads <= 1 ? 1 : slots }

    /// U = 2G g (2G)^T of the 3 x 3 kernel `g(0...8)` (row-major), 2G = [[2,0,0],[1,1,1],[1,-1,1],[0,0,2]],
    /// into `u` in position order (r * 4 + c). Int32 for int8 weights (exact), Double for f32.
    @inline(__always) static func transformKernel<T: SignedNumeric>(_ g: (Int) -> T, into u: UnsafeMutablePointer<T>) {
        @inline(__always) func apply(_ a: T, _ b: T, _ c: T) -> (T, T, T, T) { (a + a, a + b + c, a - b + c, c + c) }
        // t = 2G g column by column, then each row of t times (2G)^T
        let c0 = apply(g(0), g(3), g(6)), c1 = apply(g(1), g(4), g(7)), c2 = apply(g(2), g(5), g(8))
        @inline(__always) func row(_ r: Int, _ a: T, _ b: T, _ c: T) {
            let q = apply(a, b, c)
            u[r * 4] = q.0; u[r * 4 + 1] = q.1; u[r * 4 + 2] = q.2; u[r * 4 + 3] = q.3
        }
        row(0, c0.0, c1.0, c2.0); row(1, c0.1, c1.1, c2.1); row(2, c0.2, c1.2, c2.2); row(3, c0.3, c1.3, c2.3)
    }
}

final class WinogradInt8: @unchecked Sendable {
    /// The shape, and 4 * the largest possible accumulator fits in int32 (|sum| <= 9 * IC * 255 * 128),
    /// so that the wrapped int32 sums are exact.
    static func applies(_ g: Conv2DGeometry) -> Bool {
        WinogradPlan.shapeApplies(g) && 4 * 9 * g.inputChannels * 255 * 128 < Int(Int32.max)
    }

    let geometry: Conv2DGeometry
    let plan: WinogradPlan
    let inputZeroPoint: Int32
    let weights: UnsafeMutableRawPointer          // [16 positions][ocVectors][ICp / 2 quads][8 lanes][2 x s16]
    let columns: UnsafeMutablePointer<Int32>
    let requantKinds: UnsafeMutablePointer<UInt8>   // EpilogueColumns.tileKinds
    let productArgs: UnsafeMutablePointer<rtg_conv_args>   // [slot][16 positions]
    let outputArgs: UnsafeMutablePointer<rtg_conv_args>
    var scratchBytes: Int { plan.scratchBytes }

    init(geometry g: Conv2DGeometry, weights w: UnsafePointer<Int8>, bias: UnsafePointer<Int32>, requant: UnsafePointer<Int32>,
         inputZeroPoint zx: Int32, outputZeroPoint zy: Int32, outputMin: Int32, outputMax: Int32) {
        precondition(WinogradInt8.applies(g), "WinogradInt8: geometry \(g) is not a 3x3 stride-1 conv it can run exactly")
        geometry = g
        inputZeroPoint = zx
        let P = WinogradPlan(g, lanes: 8, elementBytes: 2, icStep: 16, tileRows: (2, 5, 10))
        plan = P
        let lanes = P.lanes, ic = g.inputChannels
        weights = .allocate(byteCount: 16 * P.ocVectors * P.vectorBytes, alignment: 64)
        let u = UnsafeMutablePointer<Int32>.allocate(capacity: 16)
        defer { u.deallocate() }
        P.packKernels(g, into: weights, as: Int16.self) { o, j, values in
            WinogradPlan.transformKernel({ Int32(w[(o &* 9 &+ $0) &* ic &+ j]) }, into: u)
            for position in 0..<16 { values[position] = Int16(truncatingIfNeeded: u[position]) }   // |u| <= 9 * 128
        }
        let ocPad = P.ocVectors * lanes
        columns = EpilogueColumns.make(groups: 1, groupChannels: g.outputChannels, paddedChannels: ocPad,
                                       channels: g.outputChannels, requant: requant, outputZeroPoint: zy) { bias[$0] }
        requantKinds = EpilogueColumns.tileKinds(EpilogueColumns.kinds(columns, groups: 1, rowsPerGroup: EpilogueColumns.rows,
                                                                       paddedChannels: ocPad, lanes: lanes), groups: 1, vectors: P.ocVectors)
        productArgs = P.productArguments(g, weights: UnsafeRawPointer(weights))
        var o = rtg_conv_args()
        o.bias = UnsafePointer(columns)
        o.mPos = UnsafePointer(columns + ocPad); o.sPos = UnsafePointer(columns + 2 * ocPad)
        o.mNeg = UnsafePointer(columns + 3 * ocPad); o.sNeg = UnsafePointer(columns + 4 * ocPad)
        o.tPos = UnsafePointer(columns + 5 * ocPad); o.tNeg = UnsafePointer(columns + 6 * ocPad)
        o.rPos = UnsafePointer(columns + 7 * ocPad); o.rNeg = UnsafePointer(columns + 8 * ocPad); o.rFolded = UnsafePointer(columns + 9 * ocPad)
        o.requantKinds = UnsafePointer(requantKinds)
        o.outWidth = Int64(g.outputWidth); o.oc = Int64(g.outputChannels); o.ocVectors = Int64(P.ocVectors)
        o.outputStride = Int64(g.outputChannels)
        o.outputZeroPoint = Int64(zy); o.outputMin = Int64(outputMin); o.outputMax = Int64(outputMax)
        outputArgs = .allocate(capacity: 1)
        outputArgs.initialize(to: o)
    }

    deinit { weights.deallocate(); columns.deallocate(); requantKinds.deallocate(); productArgs.deallocate(); outputArgs.deallocate() }

    private var input: UnsafePointer<Int8>? = nil
    private var scratch: UnsafeMutableRawPointer? = nil

    func bind(input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>, scratch: UnsafeMutableRawPointer) {
        self.input = input; self.scratch = scratch
        outputArgs.pointee.output = output
        plan.bind(productArgs, scratch: scratch)
    }

    func chunkCount(threads: Int) -> Int { plan.chunkCount(threads: threads) }

    /// Blocks of part `part` of `parts` (parts <= slots), in slot `part`.
    func compute(part: Int, of parts: Int) {
        #if arch(x86_64)
        let g = geometry, P = plan, slot = scratch! + part * P.slotBytes
        let products = (slot + P.inputBytes).assumingMemoryBound(to: Int32.self)
        for block in taperedRange(P.blockCount, part, parts) {
            let first = block * P.blockTiles, tiles = min(P.blockTiles, P.tileCount - first)
            AVX2Kernels.winogradInput(input!, height: g.inputHeight, width: g.inputWidth, channels: g.inputChannels,
                                      zeroPoint: inputZeroPoint, padTop: g.padTop, padLeft: g.padLeft, tilesWide: P.tilesWide,
                                      tileBegin: first, tiles: tiles, slot.assumingMemoryBound(to: Int16.self),
                                      positionStride: P.inputStride, icPadded: P.icPadded)
            for position in 0..<16 {
                AVX2Kernels.winogradProducts(productArgs + part * 16 + position, tiles: tiles, vectorBegin: 0, vectorEnd: P.ocVectors)
            }
            AVX2Kernels.winogradOutput(outputArgs, products, positionStride: P.productStride,
                                       outHeight: g.outputHeight, tilesWide: P.tilesWide, tileBegin: first, tiles: tiles)
        }
        #endif
    }
}

public final class WinogradFloat: @unchecked Sendable {
    /// The shape, with 32 channels or more on both sides: with fewer, the transforms cost what the
    /// products save (measured on the Table-2 layers).
    public static func applies(_ g: Conv2DGeometry, variant: KernelVariant) -> Bool {
        variant != .portable && WinogradPlan.shapeApplies(g) && min(g.inputChannels, g.outputChannels) >= 32
    }

    public let variant: KernelVariant
    let geometry: Conv2DGeometry
    let plan: WinogradPlan
    let weights: UnsafeMutableRawPointer          // [16 positions][ocVectors][ICp][lanes] f32
    let bias: UnsafeMutablePointer<Float>
    let productArgs: UnsafeMutablePointer<rtg_conv_args>
    let outputArgs: UnsafeMutablePointer<rtg_conv_args>
    public var scratchBytes: Int { plan.scratchBytes }

    public init(variant: KernelVariant, geometry g: Conv2DGeometry, weights w: UnsafePointer<Float>, bias b: UnsafePointer<Float>,
                alpha: Float, clipMin: Float, clipMax: Float) {
        precondition(WinogradFloat.applies(g, variant: variant) && variant.isSupported, "WinogradFloat: \(variant) cannot run \(g)")
        self.variant = variant
        geometry = g
        let lanes = variant == .vnni ? 16 : 8
        let P = WinogradPlan(g, lanes: lanes, elementBytes: 4, icStep: lanes, tileRows: variant == .vnni ? (6, 12, 16) : (2, 5, 10))
        plan = P
        let ic = g.inputChannels
        weights = .allocate(byteCount: 16 * P.ocVectors * P.vectorBytes, alignment: 64)
        let u = UnsafeMutablePointer<Double>.allocate(capacity: 16)
        defer { u.deallocate() }
        P.packKernels(g, into: weights, as: Float.self) { o, j, values in
            WinogradPlan.transformKernel({ Double(w[(o &* 9 &+ $0) &* ic &+ j]) }, into: u)
            for position in 0..<16 { values[position] = Float(u[position]) }
        }
        let ocPad = P.ocVectors * lanes
        bias = UnsafeMutableRawPointer.allocate(byteCount: ocPad * 4, alignment: 64).bindMemory(to: Float.self, capacity: ocPad)
        bias.initialize(repeating: 0, count: ocPad)
        for o in 0..<g.outputChannels { bias[o] = b[o] }
        productArgs = P.productArguments(g, weights: UnsafeRawPointer(weights))
        var o = rtg_conv_args()
        o.bias = UnsafeRawPointer(bias).assumingMemoryBound(to: Int32.self)
        o.alpha = alpha; o.leaky = alpha == 1 ? 0 : 1
        o.clipMin = clipMin; o.clipMax = clipMax
        o.clip = clipMin == -.infinity && clipMax == .infinity ? 0 : 1
        o.outWidth = Int64(g.outputWidth); o.oc = Int64(g.outputChannels); o.ocVectors = Int64(P.ocVectors)
        o.outputStride = Int64(g.outputChannels)
        outputArgs = .allocate(capacity: 1)
        outputArgs.initialize(to: o)
    }

    deinit { weights.deallocate(); bias.deallocate(); productArgs.deallocate(); outputArgs.deallocate() }

    private var input: UnsafePointer<Float>? = nil
    private var scratch: UnsafeMutableRawPointer? = nil

    public func bind(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, scratch: UnsafeMutableRawPointer) {
        self.input = input; self.scratch = scratch
        outputArgs.pointee.outputF32 = output
        plan.bind(productArgs, scratch: scratch)
    }

    public func chunkCount(threads: Int) -> Int { plan.chunkCount(threads: threads) }

    public func compute(part: Int, of parts: Int) {
        #if arch(x86_64)
        let g = geometry, P = plan, slot = scratch! + part * P.slotBytes
        let transformed = slot.assumingMemoryBound(to: Float.self)
        let products = (slot + P.inputBytes).assumingMemoryBound(to: Float.self)
        let vnni = variant == .vnni
        for block in taperedRange(P.blockCount, part, parts) {
            let first = block * P.blockTiles, tiles = min(P.blockTiles, P.tileCount - first)
            if vnni {
                VNNIKernels.winogradInputFloat(input!, height: g.inputHeight, width: g.inputWidth, channels: g.inputChannels,
                                               padTop: g.padTop, padLeft: g.padLeft, tilesWide: P.tilesWide, tileBegin: first, tiles: tiles,
                                               transformed, positionStride: P.inputStride, icPadded: P.icPadded)
                for position in 0..<16 {
                    VNNIKernels.winogradProductsFloat(productArgs + part * 16 + position, tiles: tiles, vectorBegin: 0, vectorEnd: P.ocVectors)
                }
                VNNIKernels.winogradOutputFloat(outputArgs, products, positionStride: P.productStride, outHeight: g.outputHeight,
                                                tilesWide: P.tilesWide, tileBegin: first, tiles: tiles)
            } else {
                AVX2Kernels.winogradInputFloat(input!, height: g.inputHeight, width: g.inputWidth, channels: g.inputChannels,
                                               padTop: g.padTop, padLeft: g.padLeft, tilesWide: P.tilesWide, tileBegin: first, tiles: tiles,
                                               transformed, positionStride: P.inputStride, icPadded: P.icPadded)
                for position in 0..<16 {
                    AVX2Kernels.winogradProductsFloat(productArgs + part * 16 + position, tiles: tiles, vectorBegin: 0, vectorEnd: P.ocVectors)
                }
                AVX2Kernels.winogradOutputFloat(outputArgs, products, positionStride: P.productStride, outHeight: g.outputHeight,
                                                tilesWide: P.tilesWide, tileBegin: first, tiles: tiles)
            }
        }
        #endif
    }
}
