// SPEC "Integer arithmetic": the single rounding rule, QUANTIZE and DEQUANTIZE.

public enum Requantize {
    /// `(i64(acc) * i64(m) + 2^(shift-1)) >> shift` (arithmetic shift): round half up, exact in 64 bits.
    /// For any Int32 `acc` and `m`, |acc * m| <= 2^62 and the rounding term is <= 2^61, so the sum
    /// cannot overflow Int64 for `shift` in 1...62 (the SPEC's range; a reader rejects others).
    @inlinable @inline(__always)
    public static func apply(_ acc: Int32, multiplier: Int32, shift: Int32) -> Int64 {
        let product = Int64(acc) &* Int64(multiplier)
        let s = Int64(shift)
        return (product &+ (Int64(1) &<< (s &- 1))) &>> s
    }

    /// Epilogue: `clamp(z_y + requantize(acc, m, shift), -128, 127)` where `row` is the requant row
    /// `(m_pos, shift_pos, m_neg, shift_neg)` and the negative pair is used when `acc < 0`.
    @inlinable @inline(__always)
    public static func output(_ acc: Int32, row: UnsafePointer<Int32>, outputZeroPoint: Int32) -> Int8 {
        let neg = acc < 0
        let m = neg ? row[2] : row[0]
        let s = neg ? row[3] : row[1]
        let v = Int64(outputZeroPoint) &+ apply(acc, multiplier: m, shift: s)   // |v| < 2^62
        return Int8(truncatingIfNeeded: min(max(v, -128), 127))
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

    public static func run(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Int8>,
                           count: Int, scale: Float, zeroPoint: Int32) {
        for i in 0..<count {
            output[i] = one(input[i], scale: scale, zeroPoint: zeroPoint)
        }
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
