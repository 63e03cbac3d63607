// MAXPOOL2D for int8 and f32 (SPEC "MAXPOOL2D"): the maximum over the window's taps inside the
// input. Windows are clipped to the input, so bottom/right pads and ceil_mode's extra windows
// (both in the given output size) need nothing else; SPEC keeps every window non-empty.

public enum MaxPool2D {
    public static func run(geometry g: PoolGeometry, input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>) {
        pool(g, input, output, SIMD16<Int8>.self)
    }
    public static func run(geometry g: PoolGeometry, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        pool(g, input, output, SIMD8<Float>.self)
    }
    public static func reference(geometry g: PoolGeometry, input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>) {
        scalarPool(g, input, output)
    }
    public static func reference(geometry g: PoolGeometry, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        scalarPool(g, input, output)
    }

    @inline(__always)
    static func window(_ o: Int, stride: Int, pad: Int, kernel: Int, size: Int) -> Range<Int> {
        PoolGeometry.window(o, stride: stride, pad: pad, kernel: kernel, size: size)
    }

    @inline(__always)
    static func pool<V: SIMD>(_ g: PoolGeometry, _ input: UnsafePointer<V.Scalar>,
                              _ output: UnsafeMutablePointer<V.Scalar>, _: V.Type, rows outputRows: Range<Int>? = nil) where V.Scalar: Comparable {
        let c = g.channels, w = V.scalarCount
        let raw = UnsafeRawPointer(input)
        let out = UnsafeMutableRawPointer(output)
        let stride = MemoryLayout<V.Scalar>.stride
        for oh in outputRows ?? 0..<g.outputHeight {
            let rows = window(oh, stride: g.strideHeight, pad: g.padTop, kernel: g.kernelHeight, size: g.inputHeight)
            for ow in 0..<g.outputWidth {
                let cols = window(ow, stride: g.strideWidth, pad: g.padLeft, kernel: g.kernelWidth, size: g.inputWidth)
                let o = (oh * g.outputWidth + ow) * c
                if rows.isEmpty || cols.isEmpty { continue }   // impossible when pad < kernel (SPEC)
                let first = (rows.lowerBound * g.inputWidth + cols.lowerBound) * c
                var ch = 0
                while ch + w <= c {
                    var m = raw.loadUnaligned(fromByteOffset: (first + ch) * stride, as: V.self)
                    for ih in rows {
                        for iw in cols {
                            let v = raw.loadUnaligned(fromByteOffset: ((ih * g.inputWidth + iw) * c + ch) * stride, as: V.self)
                            m = pointwiseMax(m, v)
                        }
                    }
                    out.storeBytes(of: m, toByteOffset: (o + ch) * stride, as: V.self)
                    ch += w
                }
                while ch < c {
                    var m = input[first + ch]
                    for ih in rows {
                        for iw in cols {
                            let v = input[(ih * g.inputWidth + iw) * c + ch]
                            if v > m { m = v }
                        }
                    }
                    output[o + ch] = m
                    ch += 1
                }
            }
        }
    }

    static func scalarPool<T: Comparable>(_ g: PoolGeometry, _ input: UnsafePointer<T>, _ output: UnsafeMutablePointer<T>) {
        for oh in 0..<g.outputHeight {
            for ow in 0..<g.outputWidth {
                for ch in 0..<g.channels {
                    var best: T? = nil
                    for kh in 0..<g.kernelHeight {
                        let ih = oh * g.strideHeight - g.padTop + kh
                        if ih < 0 || ih >= g.inputHeight { continue }
                        for kw in 0..<g.kernelWidth {
                            let iw = ow * g.strideWidth - g.padLeft + kw
                            if iw < 0 || iw >= g.inputWidth { continue }
                            let v = input[(ih * g.inputWidth + iw) * g.channels + ch]
                            if best == nil || v > best! { best = v }
                        }
                    }
                    if let best { output[(oh * g.outputWidth + ow) * g.channels + ch] = best }
                }
            }
        }
    }
}

/// A MAXPOOL2D on the worker pool, in chunks of output rows (as depthwise convs are cut): the
/// rows a conv's threads just wrote are pooled where they are, and the second core has work.
public final class ParallelMaxPool2D: ParallelWork, @unchecked Sendable {
    let geometry: PoolGeometry
    let pool: (Range<Int>) -> Void

    public init(geometry g: PoolGeometry, input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>) {
        geometry = g
        pool = { MaxPool2D.pool(g, input, output, SIMD16<Int8>.self, rows: $0) }
    }

    public init(geometry g: PoolGeometry, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        geometry = g
        pool = { MaxPool2D.pool(g, input, output, SIMD8<Float>.self, rows: $0) }
    }

    /// Output rows per chunk so that a chunk is about 4096 output values or more.
    public override func chunkCount(threads: Int) -> Int {
        if threads <= 1 { return 1 }
        return max(1, min(8 * threads, geometry.outputHeight, geometry.outputHeight * geometry.outputWidth * geometry.channels / 4096))
    }

    public override func runChunk(_ chunk: Int, of chunks: Int) {
        let rows = taperedRange(geometry.outputHeight, chunk, chunks)
        if !rows.isEmpty { pool(rows) }
    }

    /// All chunks: on `pool` when there is one, else on the calling thread.
    public func run(pool workers: WorkerPool?) {
        if let workers { workers.run(self) } else { runChunk(0, of: 1) }
    }
}
