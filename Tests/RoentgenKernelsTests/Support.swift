// Seeded random numbers and small helpers shared by the kernel tests.
@testable import RoentgenKernels

struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension SplitMix64 {
    mutating func int(_ r: ClosedRange<Int>) -> Int { Int.random(in: r, using: &self) }
    mutating func int8s(_ n: Int) -> [Int8] { (0..<n).map { _ in Int8.random(in: .min ... .max, using: &self) } }
    mutating func floats(_ n: Int, _ r: ClosedRange<Float> = -1...1) -> [Float] { (0..<n).map { _ in Float.random(in: r, using: &self) } }
    /// A requant row (m_pos, shift_pos, m_neg, shift_neg) with the SPEC's ranges, favouring edge cases.
    mutating func requantRow() -> [Int32] {
        func m(_ g: inout SplitMix64) -> Int32 {
            switch g.int(0...9) {
            case 0: return 0
            case 1: return Int32.max
            case 2: return -Int32.max
            case 3: return Int32(g.int(-1000...1000))
            default: return Int32.random(in: -Int32.max ... Int32.max, using: &g)
            }
        }
        func s(_ g: inout SplitMix64) -> Int32 {
            switch g.int(0...5) {
            case 0: return 1
            case 1: return 62
            default: return Int32(g.int(1...62))
            }
        }
        // Typical converter output has shift ~ 30-45 so results land inside int8; mix both.
        return [m(&self), s(&self), m(&self), s(&self)]
    }
}

/// Index of the first differing element, or nil.
func firstMismatch<T: Equatable>(_ a: [T], _ b: [T]) -> Int? {
    precondition(a.count == b.count)
    for i in 0..<a.count where a[i] != b[i] { return i }
    return nil
}
