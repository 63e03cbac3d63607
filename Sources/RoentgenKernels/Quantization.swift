// SPEC "The rounding rule": the one requantize function every int8 epilogue uses, QUANTIZE and
// DEQUANTIZE. Fast kernels may use a proved-equivalent SIMD form (each says why it is exact); the
// scalar twins ("reference") call these.
import CRoentgenISA
#if arch(x86_64)
import RoentgenKernelsVNNI
import RoentgenKernelsAVX2
#endif

public enum Requantize {
    /// `(sum + 2^(shift-1)) >> shift` (arithmetic shift): round half up. `sum` is an exact i64
    /// product (or ADD's sum of two) with |sum| <= 2^62, so nothing overflows for shift in 1...62.
    @inlinable @inline(__always)
    public static func rounded(_ sum: Int64, shift: Int32) -> Int64 {
        let s = Int64(shift)
        return (sum &+ (Int64(1) &<< (s &- 1))) &>> s
    }

    /// `requantize(acc, m, shift) = (i64(acc) * i64(m) + 2^(shift-1)) >> shift`, exact in 64 bits:
    /// for Int32 `acc` and `m`, |acc * m| <= 2^62 and the rounding term is <= 2^61.
    @inlinable @inline(__always)
    public static func apply(_ acc: Int32, multiplier: Int32, shift: Int32) -> Int64 {
        rounded(Int64(acc) &* Int64(multiplier), shift: shift)
    }

    /// `clamp(z + v, lo, hi)` as Int8; `v` is any requantized value (|v| < 2^62), lo...hi inside int8.
    @inlinable @inline(__always)
    public static func clamp(_ v: Int64, zeroPoint: Int32, min lo: Int32, max hi: Int32) -> Int8 {
        let y = Int64(zeroPoint) &+ v
        return Int8(truncatingIfNeeded: Swift.min(Swift.max(y, Int64(lo)), Int64(hi)))
    }

    /// The CONV2D / DENSE epilogue: `clamp(z_y + requantize(acc, m, shift), lo, hi)` where `row` is
    /// the requant row `(m_pos, shift_pos, m_neg, shift_neg)`, the negative pair used when `acc < 0`.
    @inlinable @inline(__always)
    public static func output(_ acc: Int32, row: UnsafePointer<Int32>, outputZeroPoint: Int32,
                              min lo: Int32 = -128, max hi: Int32 = 127) -> Int8 {
        let neg = acc < 0
        let m = neg ? row[2] : row[0]
        let s = neg ? row[3] : row[1]
        return clamp(apply(acc, multiplier: m, shift: s), zeroPoint: outputZeroPoint, min: lo, max: hi)
    }
}

public enum Quantize {
    /// One element: `clamp(rint(x / scale) + z, -128, 127)`, ties to even, NaN -> z.
    @inlinable @inline(__always)
    public static func one(_ x: Float, scale: Float, zeroPoint: Int32) -> Int8 {
        let q = x / scale
        if q.isNaN { return Int8(truncatingIfNeeded: min(max(zeroPoint, -128), 127)) }
        // Clamp before converting so that infinities and huge values cannot trap; +-1024 is far
        // outside the int8 range even after adding a zero point in [-128, 127].
        let r = min(max(q.rounded(.toNearestOrEven), -1024), 1024)
        let v = Int32(r) &+ zeroPoint
        return Int8(truncatingIfNeeded: min(max(v, -128), 127))
    }

    /// The variant's SIMD section (the same rounding, 16 lanes at a time; `one` is its scalar twin).
    public static func run(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Int8>,
                           count: Int, scale: Float, zeroPoint: Int32, variant: KernelVariant = .selected) {
        switch variant {
        #if arch(x86_64)
        case .vnni: VNNIKernels.quantize(input, output, count: count, scale: scale, zeroPoint: zeroPoint)
        case .avx2, .avxvnni: AVX2Kernels.quantize(input, output, count: count, scale: scale, zeroPoint: zeroPoint)
        #endif
        default: PortableKernels.quantize(input, output, count: count, scale: scale, zeroPoint: zeroPoint)
        }
    }
}

/// QUANTIZE on the worker pool: runs of at least 16 Ki elements (a multiple of 64) per chunk.
public final class ParallelQuantize: ElementRuns, @unchecked Sendable {
    let scale: Float, zeroPoint: Int32
    public var input: UnsafePointer<Float>? = nil
    public var output: UnsafeMutablePointer<Int8>? = nil

    public init(count: Int, scale: Float, zeroPoint: Int32) {
        self.scale = scale; self.zeroPoint = zeroPoint
        super.init(count: count, align: 64, minimum: 16_384)
    }

    public override func runRange(_ r: Range<Int>) {
        Quantize.run(input! + r.lowerBound, output! + r.lowerBound, count: r.count, scale: scale, zeroPoint: zeroPoint)
    }
}

public enum Dequantize {
    /// `y = f32(q - z) * s`, one binary32 multiplication.
    public static func run(_ input: UnsafePointer<Int8>, _ output: UnsafeMutablePointer<Float>,
                           count: Int, scale: Float, zeroPoint: Int32) {
        for i in 0..<count {
            output[i] = Float(Int32(input[i]) &- zeroPoint) * scale
        }
    }
}
