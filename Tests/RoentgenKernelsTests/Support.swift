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

/// Scratch memory as the runtime's arena gives it: 64-byte aligned, `bytes` long, filled with
/// garbage before every run (contents are undefined on entry), followed by a guard region that
/// must be untouched afterwards (scratchBytes is exact, kernels write nothing past it).
final class Scratch {
    static let guardBytes = 256
    let bytes: Int
    let pointer: UnsafeMutableRawPointer
    private var state: UInt64

    init(_ bytes: Int, seed: UInt64 = 0x5C7A) {
        self.bytes = bytes
        pointer = .allocate(byteCount: bytes + Self.guardBytes, alignment: 64)
        state = seed
        scramble()
    }

    deinit { pointer.deallocate() }

    /// New garbage in the scratch, a known pattern in the guard.
    func scramble() {
        var r = SplitMix64(seed: state)
        state &+= 1
        var i = 0
        while i + 8 <= bytes { pointer.storeBytes(of: r.next(), toByteOffset: i, as: UInt64.self); i += 8 }
        while i < bytes { pointer.storeBytes(of: UInt8(truncatingIfNeeded: r.next()), toByteOffset: i, as: UInt8.self); i += 1 }
        (pointer + bytes).initializeMemory(as: UInt8.self, repeating: 0xA5, count: Self.guardBytes)
    }

    /// True when nothing wrote past `bytes`.
    var guardIntact: Bool {
        for i in 0..<Self.guardBytes where pointer.load(fromByteOffset: bytes + i, as: UInt8.self) != 0xA5 { return false }
        return true
    }
}

/// The variants this CPU runs, and the thread counts every kernel is checked at.
let supportedVariants = KernelVariant.allCases.filter(\.isSupported)
/// (threads, pool) for 1 and 2 threads. Each call makes its own pool: WorkerPool.run takes one
/// caller at a time, and Swift Testing runs tests in parallel.
func threadPools() -> [(Int, WorkerPool?)] { [(1, nil), (2, WorkerPool(threads: 2))] }

extension SplitMix64 {
    /// int8 weights as the reader admits them: [-127, 127].
    mutating func weights(_ n: Int) -> [Int8] { (0..<n).map { _ in Int8.random(in: -127...127, using: &self) } }
    /// A zero point, favouring the ends of the range.
    mutating func zeroPoint() -> Int32 {
        switch int(0...4) { case 0: return -128; case 1: return 127; default: return Int32(int(-128...127)) }
    }
    /// An output clamp [lo, hi]: usually the full range, sometimes a ReLU6-like window.
    mutating func clampRange() -> (Int32, Int32) {
        switch int(0...3) {
        case 0: let lo = Int32(int(-128...0)); return (lo, Int32(int(Int(lo)...127)))
        case 1: return (Int32(int(-128...20)), 127)
        default: return (-128, 127)
        }
    }
    /// A single (m, shift) pair: extremes (m near 2^31 - 1, shift 1 and 62) mixed with realistic ones.
    mutating func requantPair() -> (Int32, Int32) {
        let row = requantRow()
        return (row[0], row[1])
    }
    /// A realistic multiplier M as the converter derives it: (rint(M * 2^shift), shift).
    mutating func realisticPair(_ real: Double) -> (Int32, Int32) {
        var shift = 62
        while abs((real * Double(UInt64(1) << UInt64(shift))).rounded()) >= 2147483648.0 { shift -= 1 }
        return (Int32((real * Double(UInt64(1) << UInt64(shift))).rounded()), Int32(shift))
    }
}

/// Index of the first pair not within `tol` (relative, at least absolute 1 * tol), or nil.
func notClose(_ got: [Float], _ want: [Double], _ tol: Double = 1e-4) -> Int? {
    precondition(got.count == want.count)
    for i in 0..<got.count where !(abs(Double(got[i]) - want[i]) <= tol * max(1, abs(want[i]))) { return i }
    return nil
}
