// f32 CONV2D on the avx2 / vnni tiles (SPEC "Kernel layouts"): weights repacked once at load to
// [group][vector][kh][segment][j][lanes] f32, the input copied into a zero-bordered f32 buffer in the
// caller's scratch on every run (a 1x1 stride-1 unpadded conv reads the input itself), then the
// same MR x NR register tiles as the int8 kernels with fused multiply-adds; bias, leaky ReLU and
// clip fused in the epilogue. (The portable variant is im2col
// + OpenBLAS sgemm, RoentgenFloat.)
import CRoentgenISA
#if arch(x86_64)
import RoentgenKernelsVNNI
import RoentgenKernelsAVX2
#endif

public final class PackedConvFloat: @unchecked Sendable {
    public let variant: KernelVariant
    public let geometry: Conv2DGeometry
    let layout: TileLayout
    let args: UnsafeMutablePointer<rtg_conv_args>      // one per group
    let weights: UnsafeMutableRawPointer
    let bias: UnsafeMutablePointer<Float>              // [groups][ocVectors * lanes]
    /// Bytes of the bordered f32 copy (0 when `readsInPlace`).
    public let scratchBytes: Int
    /// A 1x1, stride-1, unpadded conv of one group: its bordered copy would equal the input, so
    /// the tiles read the input in place, all rows in one band.
    public let readsInPlace: Bool

    /// nil when this variant has no f32 tiles (portable).
    public static func make(variant: KernelVariant, geometry: Conv2DGeometry, weights: UnsafePointer<Float>,
                            bias: UnsafePointer<Float>, alpha: Float, clipMin: Float, clipMax: Float,
                            bandBudget: Int = RowBands.defaultBudget) -> PackedConvFloat? {
        guard variant != .portable, variant.isSupported else { return nil }
        return PackedConvFloat(variant: variant, geometry: geometry, weights: weights, bias: bias,
                               alpha: alpha, clipMin: clipMin, clipMax: clipMax, bandBudget: bandBudget)
    }

    init(variant: KernelVariant, geometry g: Conv2DGeometry, weights w: UnsafePointer<Float>, bias b: UnsafePointer<Float>,
         alpha: Float, clipMin: Float, clipMax: Float, bandBudget: Int) {
        precondition(g.isValid, "PackedConvFloat: invalid geometry \(g)")
        self.variant = variant
        geometry = g
        let L = TileLayout(g, lanes: variant == .vnni ? 16 : 8, elementBytes: 4, quadElements: 1, bandBudget: bandBudget)
        layout = L
        readsInPlace = g.kernelHeight == 1 && g.kernelWidth == 1 && g.strideHeight == 1 && g.strideWidth == 1
            && g.padTop == 0 && g.padBottom == 0 && g.padLeft == 0 && g.padRight == 0 && g.groups == 1
        scratchBytes = readsInPlace ? 0 : L.paddedBytes
        let ocg = L.groupOutputChannels, ocPad = L.ocVectors * L.lanes
        let weightBytes = L.groups * L.ocVectors * L.vectorBytes
        weights = .allocate(byteCount: weightBytes, alignment: 64)
        weights.initializeMemory(as: UInt8.self, repeating: 0, count: weightBytes)
        let packed = weights
        L.forEachWeight(g) { source, at in packed.storeBytes(of: w[source], toByteOffset: at, as: Float.self) }
        bias = UnsafeMutableRawPointer.allocate(byteCount: L.groups * ocPad * 4, alignment: 64)
            .bindMemory(to: Float.self, capacity: L.groups * ocPad)
        bias.initialize(repeating: 0, count: L.groups * ocPad)
        for o in 0..<g.outputChannels {
            let (grp, local) = o.quotientAndRemainder(dividingBy: ocg)
            bias[grp * ocPad + local] = b[o]
        }
        args = .allocate(capacity: L.groups)
        for grp in 0..<L.groups {
            var c = L.arguments(g, group: grp)
            c.weights = UnsafeRawPointer(weights + grp * L.ocVectors * L.vectorBytes)
            c.bias = UnsafeRawPointer(bias + grp * ocPad).assumingMemoryBound(to: Int32.self)
            c.alpha = alpha; c.leaky = alpha == 1 ? 0 : 1
            c.clipMin = clipMin; c.clipMax = clipMax
            c.clip = clipMin == -.infinity && clipMax == .infinity ? 0 : 1
            (args + grp).initialize(to: c)
        }
    }

    deinit { args.deallocate(); weights.deallocate(); bias.deallocate() }

    private var input: UnsafePointer<Float>? = nil
    private var scratch: UnsafeMutableRawPointer? = nil
    private var bandPixels = 0..<0

    /// Binds one run's input, output and scratch (nil when `readsInPlace`). Then `prepare(band:)`
    /// and `compute` for every band.
    public func bind(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, scratch: UnsafeMutableRawPointer?) {
        precondition(scratch != nil || readsInPlace, "PackedConvFloat: no scratch for the bordered copy")
        self.input = input; self.scratch = scratch
        for grp in 0..<layout.groups { args[grp].outputF32 = output + grp * layout.groupOutputChannels }
    }

    public var bandCount: Int { readsInPlace ? 1 : layout.bands.count }

    /// Writes band `band`'s bordered copy (border 0) into scratch; when `readsInPlace`, points the
    /// tiles at the input instead (part 0 only, then no other part has work).
    public func prepare(band: Int, part: Int = 0, of parts: Int = 1) {
        let g = geometry, L = layout, ic = g.inputChannels, input = input!
        if readsInPlace {
            guard part == 0 else { return }
            args[0].padded = UnsafeRawPointer(input); args[0].firstRow = 0
            bandPixels = 0..<g.outputHeight * g.outputWidth
            return
        }
        L.writeBand(band, g, into: scratch!, border: 0, args: args, part: part, of: parts) { row, rows, dst, columns in
            for r in 0..<rows {
                (dst + r * L.paddedRowBytes).assumingMemoryBound(to: Float.self)
                    .update(from: input + (row + r) * g.inputWidth * ic, count: columns * ic)
            }
        }
        guard part == 0 else { return }
        let rows = L.bands.outputRows(band)
        bandPixels = rows.lowerBound * g.outputWidth..<rows.upperBound * g.outputWidth
    }

    public func chunkCount(threads: Int) -> Int { layout.chunkCount(threads: threads, pixels: bandPixels.count) }

    /// Computes part `part` of `parts` of the prepared band: a range of its pixels and of channel
    /// vectors (`TileLayout.chunk`), every group.
    public func compute(part: Int, of parts: Int) {
        let (pr, vr) = layout.chunk(part, of: parts, pixels: bandPixels)
        guard !pr.isEmpty, !vr.isEmpty else { return }
        #if arch(x86_64)
        for grp in 0..<layout.groups {
            if variant == .vnni {
                VNNIKernels.convFloat(args + grp, pixelBegin: pr.lowerBound, pixelEnd: pr.upperBound, vectorBegin: vr.lowerBound, vectorEnd: vr.upperBound)
            } else {
                AVX2Kernels.convFloat(args + grp, pixelBegin: pr.lowerBound, pixelEnd: pr.upperBound, vectorBegin: vr.lowerBound, vectorEnd: vr.upperBound)
            }
        }
        #endif
    }
}
