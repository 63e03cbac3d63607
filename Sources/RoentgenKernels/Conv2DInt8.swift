// CONV2D int8 (SPEC "CONV2D"): groups = 1, grouped, depthwise, dilated, padded, clamped.
//
// `Conv2DInt8` picks its implementation once, at init, from the variant and the geometry:
//   depthwise (groups == IC > 1)  -> DepthwiseConv2DInt8 (SIMD along channels, every variant)
//   avx2, 3x3 stride 1            -> WinogradInt8 (Winograd F(2x2, 3x3), exact integers)
//   avx2 / vnni                   -> PackedInt8 (the generated tiles; groups and dilation cut a
//                                    kernel row into segments, see SPEC "Kernel layouts")
//   portable                      -> PortableConv2DInt8 (exact Float partial sums)
// `reference` is the scalar twin: checked Int32 arithmetic straight from SPEC.

public final class Conv2DInt8: ParallelWork, @unchecked Sendable {
    public let geometry: Conv2DGeometry
    public let inputZeroPoint: Int32
    public let outputZeroPoint: Int32
    public let outputMin: Int32, outputMax: Int32
    public let variant: KernelVariant
    /// Bytes of scratch `run` needs (64-byte aligned, contents undefined on entry); 0 if none.
    public let scratchBytes: Int

    enum Implementation {
        case packed(PackedInt8)
        case portable(PortableConv2DInt8)
        case depthwise(DepthwiseConv2DInt8)
        case winograd(WinogradInt8)
    }
    let implementation: Implementation
    /// The packed form's band copy on the pool's threads, and the band it writes.
    private var bandCopy: BandCopy? = nil
    private var copyBand = 0

    public init(geometry g: Conv2DGeometry, weights: UnsafePointer<Int8>, bias: UnsafePointer<Int32>,
                requant: UnsafePointer<Int32>, inputZeroPoint: Int32, outputZeroPoint: Int32,
                outputMin: Int32 = -128, outputMax: Int32 = 127, variant: KernelVariant = .selected,
                bandBudget: Int = RowBands.defaultBudget, threads: Int = 1) {
        precondition(variant.isSupported, "Conv2DInt8: this CPU cannot run the \(variant.rawValue) kernels")
        precondition(g.isValid, "Conv2DInt8: invalid geometry \(g)")
        precondition(-128 <= outputMin && outputMin <= outputMax && outputMax <= 127, "Conv2DInt8: bad clamp [\(outputMin), \(outputMax)]")
        geometry = g
        self.inputZeroPoint = inputZeroPoint
        self.outputZeroPoint = outputZeroPoint
        self.outputMin = outputMin; self.outputMax = outputMax
        self.variant = variant
        if g.isDepthwise {
            let d = DepthwiseConv2DInt8(geometry: g, weights: weights, bias: bias, requant: requant, inputZeroPoint: inputZeroPoint,
                                        outputZeroPoint: outputZeroPoint, outputMin: outputMin, outputMax: outputMax, variant: variant,
                                        threads: threads, bandBudget: bandBudget)
            implementation = .depthwise(d); scratchBytes = d.scratchBytes
        } else if variant == .avx2 && WinogradInt8.applies(g) {
            let w = WinogradInt8(geometry: g, weights: weights, bias: bias, requant: requant, inputZeroPoint: inputZeroPoint,
                                 outputZeroPoint: outputZeroPoint, outputMin: outputMin, outputMax: outputMax)
            implementation = .winograd(w); scratchBytes = w.scratchBytes
        } else if variant == .portable {
            let p = PortableConv2DInt8(geometry: g, weights: weights, bias: bias, requant: requant, inputZeroPoint: inputZeroPoint,
                                       outputZeroPoint: outputZeroPoint, outputMin: outputMin, outputMax: outputMax, bandBudget: bandBudget)
            implementation = .portable(p); scratchBytes = p.scratchBytes
        } else {
            let p = PackedInt8(variant: variant, geometry: g, weights: weights, bias: bias, requant: requant,
                               inputZeroPoint: inputZeroPoint, outputZeroPoint: outputZeroPoint,
                               outputMin: outputMin, outputMax: outputMax, bandBudget: bandBudget)
            implementation = .packed(p); scratchBytes = p.scratchBytes
        }
        super.init()
        if case let .packed(p) = implementation {
            bandCopy = BandCopy(rows: g.inputHeight + g.padTop + g.padBottom) { [unowned self] part, parts in
                p.prepare(band: self.copyBand, part: part, of: parts)
            }
        }
    }

    /// The epilogue kinds (EpilogueColumns.kinds): of each vector (packed, Winograd), of each run of
    /// channels' even and odd halves (depthwise); nil for portable, which has one of its own. For tests and diagnostics.
    var requantKinds: [UInt8]? {
        switch implementation {
        case let .packed(p):      // row 0 of each group's EpilogueColumns.tileKinds: one vector per tile
            let n = p.layout.ocVectors
            return (0..<p.layout.groups).flatMap { grp in UnsafeBufferPointer(start: p.requantKinds + grp * 3 * n, count: n) }
        case let .depthwise(d): return d.runKinds.flatMap { [UInt8($0.even), UInt8($0.odd)] }
        case let .winograd(w): return Array(UnsafeBufferPointer(start: w.requantKinds, count: w.plan.ocVectors))
        case .portable: return nil
        }
    }

    /// Runs the convolution band by band (SPEC "Row bands"), each band split over the pool's threads
    /// when there is one. `scratch` is
    /// `scratchBytes` long and 64-byte aligned. One instance must not run on two threads at once.
    /// Does not allocate.
    public func run(input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>, scratch: UnsafeMutableRawPointer,
                    pool: WorkerPool? = nil) {
        let bands: Int
        switch implementation {
        case let .packed(p): p.bind(input: input, output: output, scratch: scratch); bands = p.bandCount
        case let .portable(p): p.bind(input: input, output: output, scratch: scratch); bands = p.bandCount
        case let .depthwise(d): d.prepare(input: input, output: output, scratch: scratch); bands = 1
        case let .winograd(w): w.bind(input: input, output: output, scratch: scratch); bands = 1
        }
        for band in 0..<bands {
            switch implementation {
            case let .packed(p):
                if !p.prepareInChunks(band: band, threads: pool?.threads ?? 1) { copyBand = band; bandCopy!.run(pool: pool) }
            case let .portable(p): p.prepare(band: band)
            case .depthwise, .winograd: break
            }
            if let pool, pool.threads > 1 { pool.run(self) } else { runChunk(0, of: 1) }
        }
    }

    public override func chunkCount(threads: Int) -> Int {
        switch implementation {
        case let .packed(p): return p.chunkCount(threads: threads)
        case let .portable(p): return p.chunkCount(threads: threads)
        case let .depthwise(d): return d.chunkCount(threads: threads)
        case let .winograd(w): return w.chunkCount(threads: threads)
        }
    }

    public override func runChunk(_ chunk: Int, of chunks: Int) {
        switch implementation {
        case let .packed(p): p.compute(part: chunk, of: chunks)
        case let .portable(p): p.compute(part: chunk, of: chunks)
        case let .depthwise(d): d.compute(part: chunk, of: chunks)
        case let .winograd(w): w.compute(part: chunk, of: chunks)
        }
    }

    /// The scalar twin: plain loops over the SPEC formula (checked Int32 arithmetic, traps on
    /// overflow), then the shared `Requantize`.
    public static func reference(geometry g: Conv2DGeometry, input: UnsafePointer<Int8>, weights: UnsafePointer<Int8>,
                                 bias: UnsafePointer<Int32>, requant: UnsafePointer<Int32>,
                                 inputZeroPoint: Int32, outputZeroPoint: Int32, outputMin: Int32 = -128, outputMax: Int32 = 127,
                                 output: UnsafeMutablePointer<Int8>) {
        let icg = g.groupInputChannels, ocg = g.groupOutputChannels
        for oh in 0..<g.outputHeight {
            for ow in 0..<g.outputWidth {
                for oc in 0..<g.outputChannels {
                    let group = oc / ocg
                    var acc = bias[oc]
                    for kh in 0..<g.kernelHeight {
                        let ih = oh * g.strideHeight - g.padTop + kh * g.dilationHeight
                        if ih < 0 || ih >= g.inputHeight { continue }
                        for kw in 0..<g.kernelWidth {
                            let iw = ow * g.strideWidth - g.padLeft + kw * g.dilationWidth
                            if iw < 0 || iw >= g.inputWidth { continue }
                            for j in 0..<icg {
                                let x = Int32(input[(ih * g.inputWidth + iw) * g.inputChannels + group * icg + j])
                                let w = Int32(weights[((oc * g.kernelHeight + kh) * g.kernelWidth + kw) * icg + j])
                                acc += (x - inputZeroPoint) * w
                            }
                        }
                    }
                    output[(oh * g.outputWidth + ow) * g.outputChannels + oc] =
                        Requantize.output(acc, row: requant + oc * 4, outputZeroPoint: outputZeroPoint, min: outputMin, max: outputMax)
                }
            }
        }
    }
}
