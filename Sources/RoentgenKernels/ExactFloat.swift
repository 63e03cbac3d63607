// Exact Float -> Int32 conversion for integer-valued floats of magnitude < 2^22 (the partial sums
// of the int8 kernels). Adding 1.5 * 2^23 puts the integer into the low mantissa bits with a fixed
// exponent; since |f| < 2^22 the sum is in [2^23, 2^24) and exact, and its bit pattern minus the
// magic's bit pattern is the integer in two's complement.
@usableFromInline
enum ExactFloat {
    @usableFromInline static let magic: Float = 12_582_912          // 1.5 * 2^23, bits 0x4B40_0000
    @usableFromInline static let magicBits: Int32 = 0x4B40_0000

    @inlinable @inline(__always)
    static func toInt(_ f: SIMD16<Float>) -> SIMD16<Int32> {
        unsafeBitCast(f + SIMD16<Float>(repeating: magic), to: SIMD16<Int32>.self) &- SIMD16<Int32>(repeating: magicBits)
    }

    @inlinable @inline(__always)
    static func toInt(_ f: SIMD8<Float>) -> SIMD8<Int32> {
        unsafeBitCast(f + SIMD8<Float>(repeating: magic), to: SIMD8<Int32>.self) &- SIMD8<Int32>(repeating: magicBits)
    }

    @inlinable @inline(__always)
    static func toInt(_ f: Float) -> Int32 {
        Int32(bitPattern: (f + magic).bitPattern) &- magicBits
    }
}
