// The int8 CONV2D / DENSE core of the avx2 and vnni variants (SPEC "Kernel layouts"): weights
// repacked once at load, a zero-bordered input copy owned by the kernel, the zero-point
// correction folded into the bias. The hot loops live in RoentgenKernelsVNNI / RoentgenKernelsAVX2.
import CRoentgenISA
#if arch(x86_64)
import RoentgenKernelsVNNI
import RoentgenKernelsAVX2
#endif

final class PackedInt8: @unchecked Sendable {
    let variant: KernelVariant
    let geometry: Conv2DGeometry
    let lanes: Int, elementBytes: Int, groupElements: Int
    let ocVectors: Int
    let args: UnsafeMutablePointer<rtg_conv_args>
    let padded: UnsafeMutableRawPointer
    let paddedBytes: Int
    let weights: UnsafeMutableRawPointer
    let columns: UnsafeMutablePointer<Int32>      // bias, mPos, sPos, mNeg, sNeg, tPos, tNeg, rPos, rNeg: 9 x [ocVectors * lanes]
    let inputZeroPoint: Int32
    // Input fill: `rows` rows of `count` elements from input row stride `srcStride` to padded + dstOffset.
    let fillRows: Int, fillCount: Int, fillSrcStride: Int, fillDstOffset: Int

    /// `requant` nil: raw mode, the kernel writes int32 accumulators to `raw` (DENSE).
    init(variant: KernelVariant, geometry g: Conv2DGeometry, weights w: UnsafePointer<Int8>, bias: UnsafePointer<Int32>,
         requant: UnsafePointer<Int32>?, inputZeroPoint zx: Int32, outputZeroPoint zy: Int32) {
        precondition(variant == .avx2 || variant == .vnni)
        self.variant = variant
        geometry = g
        inputZeroPoint = zx
        let vnni = variant == .vnni
        lanes = vnni ? 16 : 8
        elementBytes = vnni ? 1 : 2
        groupElements = vnni ? 4 : 2
        let oc = g.outputChannels, kh = g.kernelHeight, ic = g.inputChannels
        let rowLength = g.kernelWidth * ic
        let groups = (rowLength + groupElements - 1) / groupElements
        ocVectors = (oc + lanes - 1) / lanes
        let ocPad = ocVectors * lanes

        // Zero-bordered input: [Hp][Wp][IC] elements, border = the real zero (u8 z+128 / s16 0),
        // plus 64 bytes of slack for the last group's over-read (its weights are 0).
        let hp = (g.outputHeight - 1) * g.strideHeight + g.kernelHeight
        let wp = (g.outputWidth - 1) * g.strideWidth + g.kernelWidth
        let rowBytes = wp * ic * elementBytes
        paddedBytes = hp * rowBytes + 64
        padded = .allocate(byteCount: paddedBytes, alignment: 64)
        padded.initializeMemory(as: UInt8.self, repeating: vnni ? UInt8(truncatingIfNeeded: zx + 128) : 0, count: paddedBytes)
        fillRows = max(0, min(g.inputHeight, hp - g.padTop))
        fillCount = max(0, min(g.padLeft + g.inputWidth, wp) - g.padLeft) * ic
        fillSrcStride = g.inputWidth * ic
        fillDstOffset = g.padTop * rowBytes + g.padLeft * ic * elementBytes

        // Weights: [vector][kh][group][lane][4 bytes]; a group is 4 s8 (vnni) or 2 s16 (avx2)
        // consecutive elements of the kernel row (KW * IC); beyond the row and beyond OC: 0.
        let vectorBytes = kh * groups * lanes * 4
        weights = .allocate(byteCount: ocVectors * vectorBytes, alignment: 64)
        weights.initializeMemory(as: UInt8.self, repeating: 0, count: ocVectors * vectorBytes)
        let k = g.reductionCount
        for o in 0..<oc {
            let (v, lane) = o.quotientAndRemainder(dividingBy: lanes)
            for r in 0..<kh {
                for j in 0..<rowLength {
                    let (grp, e) = j.quotientAndRemainder(dividingBy: groupElements)
                    let at = v * vectorBytes + ((r * groups + grp) * lanes + lane) * 4 + e * elementBytes
                    let value = w[o * k + r * rowLength + j]
                    if vnni { weights.storeBytes(of: value, toByteOffset: at, as: Int8.self) }
                    else { weights.storeBytes(of: Int16(value), toByteOffset: at, as: Int16.self) }
                }
            }
        }

        // bias' = b - (z + 128) * sum(w) for u8 inputs x + 128 (wrapping: the final sum is exact).
        columns = .allocate(capacity: 9 * ocPad)
        columns.initialize(repeating: 0, count: 9 * ocPad)
        for o in 0..<oc {
            var b = bias[o]
            if vnni {
                var sum: Int32 = 0
                for i in 0..<k { sum &+= Int32(w[o * k + i]) }
                b = b &- (zx &+ 128) &* sum
            }
            columns[o] = b
            if let rq = requant {
                columns[ocPad + o] = rq[o * 4]; columns[2 * ocPad + o] = rq[o * 4 + 1]
                columns[3 * ocPad + o] = rq[o * 4 + 2]; columns[4 * ocPad + o] = rq[o * 4 + 3]
            }
        }
        for o in oc..<ocPad { columns[2 * ocPad + o] = 33; columns[4 * ocPad + o] = 33 }
        // The 32-bit epilogue (requantizeFast) when every shift is >= 33, as converters produce
        // for real layers (M = s_x * s_w / s_y << 1); otherwise the 64-bit one.
        var fast = true
        for o in 0..<ocPad {
            for (sCol, tCol, rCol) in [(2, 5, 7), (4, 6, 8)] {
                let sh = columns[sCol * ocPad + o]
                if sh < 33 { fast = false; continue }
                columns[tCol * ocPad + o] = sh - 32
                columns[rCol * ocPad + o] = Int32(1) << (sh - 33)
            }
        }

        args = .allocate(capacity: 1)
        var c = rtg_conv_args()
        c.padded = UnsafeRawPointer(padded); c.weights = UnsafeRawPointer(weights); c.bias = UnsafePointer(columns)
        c.mPos = UnsafePointer(columns + ocPad); c.sPos = UnsafePointer(columns + 2 * ocPad)
        c.mNeg = UnsafePointer(columns + 3 * ocPad); c.sNeg = UnsafePointer(columns + 4 * ocPad)
        c.outWidth = Int64(g.outputWidth); c.oc = Int64(oc); c.ocVectors = Int64(ocVectors)
        c.kernelHeight = Int64(kh); c.groups = Int64(groups); c.rowBytes = Int64(rowBytes)
        c.pixelStepBytes = Int64(g.strideWidth * ic * elementBytes); c.rowStepBytes = Int64(g.strideHeight * rowBytes)
        c.vectorBytes = Int64(vectorBytes); c.outputZeroPoint = Int64(zy)
        c.tPos = UnsafePointer(columns + 5 * ocPad); c.tNeg = UnsafePointer(columns + 6 * ocPad)
        c.rPos = UnsafePointer(columns + 7 * ocPad); c.rNeg = UnsafePointer(columns + 8 * ocPad)
        c.fastRequant = fast && requant != nil ? 1 : 0
        args.initialize(to: c)
    }

    deinit { args.deallocate(); padded.deallocate(); weights.deallocate(); columns.deallocate() }

    /// Writes the input (x + 128 or x - z) into the bordered copy; the border never changes.
    func fill(_ input: UnsafePointer<Int8>) {
        guard fillRows > 0, fillCount > 0 else { return }
        #if arch(x86_64)
        let dst = padded + fillDstOffset, stride = Int(args.pointee.rowBytes)
        if variant == .vnni {
            VNNIKernels.fill(input, dst, rows: fillRows, count: fillCount, srcStride: fillSrcStride, dstStride: stride, zeroPoint: inputZeroPoint)
        } else {
            AVX2Kernels.fill(input, dst, rows: fillRows, count: fillCount, srcStride: fillSrcStride, dstStride: stride, zeroPoint: inputZeroPoint)
        }
        #endif
    }

    /// Sets where results go: int8 `output` (requantized) or int32 `raw` accumulators.
    func bind(output: UnsafeMutablePointer<Int8>?, raw: UnsafeMutablePointer<Int32>?) {
        args.pointee.output = output
        args.pointee.raw = raw
    }

    var pixels: Int { geometry.outputHeight * geometry.outputWidth }

    /// Chunks for the worker pool: pieces of >= 64 output pixels (or of 4 channel vectors for
    /// one pixel), at most 8 per thread.
    func chunkCount(threads: Int) -> Int {
        if threads <= 1 { return 1 }
        if pixels >= 2 * threads { return max(1, min(8 * threads, pixels / 64)) }
        return max(1, min(8 * threads, ocVectors / 4))
    }

    /// Computes part `part` of `parts`: a range of pixels, or of channel vectors for one pixel.
    func compute(part: Int, of parts: Int) {
        let (pr, vr): (Range<Int>, Range<Int>)
        if pixels > 1 { pr = partRange(pixels, part, parts); vr = 0..<ocVectors }
        else { pr = 0..<pixels; vr = partRange(ocVectors, part, parts) }
        guard !pr.isEmpty, !vr.isEmpty else { return }
        #if arch(x86_64)
        if variant == .vnni {
            VNNIKernels.conv(args, pixelBegin: pr.lowerBound, pixelEnd: pr.upperBound, vectorBegin: vr.lowerBound, vectorEnd: vr.upperBound)
        } else {
            AVX2Kernels.conv(args, pixelBegin: pr.lowerBound, pixelEnd: pr.upperBound, vectorBegin: vr.lowerBound, vectorEnd: vr.upperBound)
        }
        #endif
    }
}
