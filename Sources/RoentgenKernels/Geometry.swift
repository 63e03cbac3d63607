// Shapes of the spatial ops. Activations are NHWC with batch 1; CONV2D weights are
// [OC][KH][KW][IC / groups] (OHWI).

/// Geometry of one CONV2D (SPEC "Window geometry", "CONV2D"). The output size is given (the reader
/// computes it per SPEC); a tap outside the input is padding whatever the pads say, so kernels read
/// `padTop` / `padLeft` to place windows and keep `padBottom` / `padRight` for the record.
public struct Conv2DGeometry: Sendable, Equatable, CustomStringConvertible {
    public var inputHeight, inputWidth, inputChannels: Int
    public var outputHeight, outputWidth, outputChannels: Int
    public var kernelHeight, kernelWidth, strideHeight, strideWidth: Int
    public var padTop, padLeft, padBottom, padRight: Int
    public var dilationHeight, dilationWidth: Int
    /// 1, a divisor of IC and OC, or IC (depthwise: weights [OC, KH, KW, 1]).
    public var groups: Int

    public init(inputHeight: Int, inputWidth: Int, inputChannels: Int,
                outputHeight: Int, outputWidth: Int, outputChannels: Int,
                kernelHeight: Int, kernelWidth: Int, strideHeight: Int, strideWidth: Int,
                padTop: Int, padLeft: Int, padBottom: Int = 0, padRight: Int = 0,
                dilationHeight: Int = 1, dilationWidth: Int = 1, groups: Int = 1) {
        self.inputHeight = inputHeight; self.inputWidth = inputWidth; self.inputChannels = inputChannels
        self.outputHeight = outputHeight; self.outputWidth = outputWidth; self.outputChannels = outputChannels
        self.kernelHeight = kernelHeight; self.kernelWidth = kernelWidth
        self.strideHeight = strideHeight; self.strideWidth = strideWidth
        self.padTop = padTop; self.padLeft = padLeft; self.padBottom = padBottom; self.padRight = padRight
        self.dilationHeight = dilationHeight; self.dilationWidth = dilationWidth
        self.groups = groups
    }

    /// Elements of the input activation (H * W * IC).
    public var inputCount: Int { inputHeight * inputWidth * inputChannels }
    /// Elements of the output activation (OH * OW * OC).
    public var outputCount: Int { outputHeight * outputWidth * outputChannels }
    /// Input channels each output channel reads (IC / groups).
    public var groupInputChannels: Int { inputChannels / groups }
    /// Output channels of one group (OC / groups).
    public var groupOutputChannels: Int { outputChannels / groups }
    /// Reduction length per output element (KH * KW * IC / groups).
    public var reductionCount: Int { kernelHeight * kernelWidth * groupInputChannels }
    /// Elements of the weight tensor (OC * KH * KW * IC / groups).
    public var weightCount: Int { outputChannels * reductionCount }
    /// groups == IC > 1: every output channel reads one input channel (IC = 1 is an ordinary conv).
    public var isDepthwise: Bool { groups > 1 && groups == inputChannels }
    /// Dilated kernel extent (KH' = dilation_h * (KH - 1) + 1), and likewise for the width.
    public var dilatedKernelHeight: Int { dilationHeight * (kernelHeight - 1) + 1 }
    public var dilatedKernelWidth: Int { dilationWidth * (kernelWidth - 1) + 1 }
    /// Rows and columns of a zero-bordered input copy that holds every tap of every output:
    /// `(OH - 1) * stride + KH'` (likewise for the width).
    public var paddedHeight: Int { (outputHeight - 1) * strideHeight + dilatedKernelHeight }
    public var paddedWidth: Int { (outputWidth - 1) * strideWidth + dilatedKernelWidth }

    /// The preconditions every kernel relies on (the reader enforces them for files).
    public var isValid: Bool {
        inputHeight >= 1 && inputWidth >= 1 && inputChannels >= 1
            && outputHeight >= 1 && outputWidth >= 1 && outputChannels >= 1
            && kernelHeight >= 1 && kernelWidth >= 1 && strideHeight >= 1 && strideWidth >= 1
            && dilationHeight >= 1 && dilationWidth >= 1
            && padTop >= 0 && padLeft >= 0 && padBottom >= 0 && padRight >= 0
            && padTop <= 1024 && padLeft <= 1024 && padBottom <= 1024 && padRight <= 1024
            && groups >= 1 && inputChannels % groups == 0 && outputChannels % groups == 0
    }

    public var description: String {
        "in \(inputHeight)x\(inputWidth)x\(inputChannels) -> out \(outputHeight)x\(outputWidth)x\(outputChannels), "
            + "k \(kernelHeight)x\(kernelWidth) s \(strideHeight)x\(strideWidth) d \(dilationHeight)x\(dilationWidth) "
            + "pad t\(padTop) l\(padLeft) b\(padBottom) r\(padRight) groups \(groups)"
    }
}

/// Geometry of one MAXPOOL2D / AVGPOOL2D (channels are preserved). The output size is given
/// (ceil_mode is already in it); windows are clipped to the input, so bottom/right padding and the
/// extra windows of ceil_mode need nothing else (AVGPOOL2D's count_include_pad reads the pads).
public struct PoolGeometry: Sendable, Equatable, CustomStringConvertible {
    public var inputHeight, inputWidth, channels: Int
    public var outputHeight, outputWidth: Int
    public var kernelHeight, kernelWidth, strideHeight, strideWidth: Int
    public var padTop, padLeft, padBottom, padRight: Int

    public init(inputHeight: Int, inputWidth: Int, channels: Int,
                outputHeight: Int, outputWidth: Int,
                kernelHeight: Int, kernelWidth: Int, strideHeight: Int, strideWidth: Int,
                padTop: Int, padLeft: Int, padBottom: Int = 0, padRight: Int = 0) {
        self.inputHeight = inputHeight; self.inputWidth = inputWidth; self.channels = channels
        self.outputHeight = outputHeight; self.outputWidth = outputWidth
        self.kernelHeight = kernelHeight; self.kernelWidth = kernelWidth
        self.strideHeight = strideHeight; self.strideWidth = strideWidth
        self.padTop = padTop; self.padLeft = padLeft; self.padBottom = padBottom; self.padRight = padRight
    }

    public var inputCount: Int { inputHeight * inputWidth * channels }
    public var outputCount: Int { outputHeight * outputWidth * channels }

    /// Input rows (or columns) of output index `o`'s window, clipped to the input.
    @inlinable @inline(__always)
    public static func window(_ o: Int, stride: Int, pad: Int, kernel: Int, size: Int) -> Range<Int> {
        let start = o * stride - pad
        return max(start, 0)..<max(min(start + kernel, size), max(start, 0))
    }

    public var description: String {
        "in \(inputHeight)x\(inputWidth)x\(channels) -> out \(outputHeight)x\(outputWidth), k \(kernelHeight)x\(kernelWidth) "
            + "s \(strideHeight)x\(strideWidth) pad t\(padTop) l\(padLeft) b\(padBottom) r\(padRight)"
    }
}

/// Output rows in bands (SPEC "Kernel layouts", "Row bands"): a convolution copies, per band, only
/// the padded input rows that band reads, so its scratch is about `budget` bytes whatever the image
/// size, and the copy is still in cache when the tiles read it.
public struct RowBands: Sendable, Equatable {
    /// Padded input rows one output row reads.
    public let span: Int
    public let strideHeight: Int
    public let outputHeight: Int
    /// Output rows per band (the last may have fewer) and the number of bands.
    public let rowsPerBand: Int, count: Int

    /// The default budget of one band's copy: most of a core's L2 on every CPU we target.
    public static let defaultBudget = 256 * 1024

    /// The least number of bands whose copies fit `budget`, and no fewer bands than `atLeast` would
    /// give with even rows (`ceil(OH / atLeast)` rows or fewer per band).
    public init(_ g: Conv2DGeometry, paddedRowBytes: Int, budget: Int = RowBands.defaultBudget, atLeast: Int = 1) {
        span = g.dilatedKernelHeight
        strideHeight = g.strideHeight
        outputHeight = g.outputHeight
        let fitting = (budget / max(1, paddedRowBytes) - span) / g.strideHeight + 1
        let rows = min(g.outputHeight, max(1, fitting), (g.outputHeight + max(1, atLeast) - 1) / max(1, atLeast))
        let bands = (g.outputHeight + rows - 1) / rows
        rowsPerBand = (g.outputHeight + bands - 1) / bands     // as many bands, evened out
        count = (g.outputHeight + rowsPerBand - 1) / rowsPerBand
    }

    /// Padded rows of the largest band's copy.
    public var maxPaddedRows: Int { (rowsPerBand - 1) * strideHeight + span }

    /// Output rows of band `b`.
    public func outputRows(_ b: Int) -> Range<Int> {
        b * rowsPerBand..<min(outputHeight, (b + 1) * rowsPerBand)
    }

    /// Padded input rows band `b` reads.
    public func paddedRows(_ b: Int) -> Range<Int> {
        let o = outputRows(b)
        return o.lowerBound * strideHeight..<(o.upperBound - 1) * strideHeight + span
    }
}

extension RowBands {
    /// Writes band `b`'s bordered copy to `buffer` (padded row `paddedRows(b).lowerBound` first, rows
    /// `rowBytes` apart): every byte outside the input is `border`, and the input rows go through
    /// `fill(firstInputRow, rowCount, destination, columns)`, destination being the first one's
    /// first input column. Part `part` of `parts` writes only its share of the rows (`partRange`),
    /// so that the worker pool's threads can write one copy together. Does not allocate.
    public func writeCopy(_ b: Int, _ g: Conv2DGeometry, into buffer: UnsafeMutableRawPointer, rowBytes: Int, pixelBytes: Int,
                          border: UInt8, part: Int = 0, of parts: Int = 1, fill: (Int, Int, UnsafeMutableRawPointer, Int) -> Void) {
        let band = paddedRows(b), share = partRange(band.count, part, parts)
        let rows = band.lowerBound + share.lowerBound..<band.lowerBound + share.upperBound
        guard !rows.isEmpty else { return }
        let buffer = buffer + share.lowerBound * rowBytes
        let columns = max(0, min(g.padLeft + g.inputWidth, g.paddedWidth) - g.padLeft)
        let first = max(rows.lowerBound, g.padTop)      // a band may lie wholly in the padding
        let inside = first..<max(first, min(rows.upperBound, g.padTop + g.inputHeight))
        func borderRows(_ r: Range<Int>) {
            guard !r.isEmpty else { return }
            (buffer + (r.lowerBound - rows.lowerBound) * rowBytes).initializeMemory(as: UInt8.self, repeating: border, count: r.count * rowBytes)
        }
        guard !inside.isEmpty, columns > 0 else { borderRows(rows); return }
        borderRows(rows.lowerBound..<inside.lowerBound)
        borderRows(inside.upperBound..<rows.upperBound)
        let left = g.padLeft * pixelBytes, rightStart = (g.padLeft + columns) * pixelBytes
        for r in inside {
            let row = buffer + (r - rows.lowerBound) * rowBytes
            if left > 0 { row.initializeMemory(as: UInt8.self, repeating: border, count: left) }
            if rightStart < rowBytes { (row + rightStart).initializeMemory(as: UInt8.self, repeating: border, count: rowBytes - rightStart) }
        }
        fill(inside.lowerBound - g.padTop, inside.count, buffer + (inside.lowerBound - rows.lowerBound) * rowBytes + left, columns)
    }
}

/// The bordered copy of a tiled conv's band, written by the worker pool's threads together (each a
/// share of its rows) before they compute on it: a serial copy of a 128 x 128 x 32 input is a
/// sixth of its conv's time at 2 threads.
public final class BandCopy: ParallelWork, @unchecked Sendable {
    let copy: (Int, Int) -> Void   // (part, parts) of the current band
    let rows: Int

    /// `copy(part, parts)` writes that share of the band; `rows` bounds the useful parts.
    public init(rows: Int, copy: @escaping (Int, Int) -> Void) { self.rows = rows; self.copy = copy }

    public override func chunkCount(threads: Int) -> Int { threads <= 1 ? 1 : max(1, min(2 * threads, rows)) }
    public override func runChunk(_ chunk: Int, of chunks: Int) { copy(chunk, chunks) }

    /// All parts: on `pool` when it has more than one thread, else on the calling thread.
    public func run(pool: WorkerPool?) {
        if let pool, pool.threads > 1 { pool.run(self) } else { copy(0, 1) }
    }
}
