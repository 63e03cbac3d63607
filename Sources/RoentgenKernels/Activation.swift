// ACTIVATION (SPEC "ACTIVATION"): int8 is a 256-entry table lookup (the converter computed it), f32
// evaluates the function in binary32 with libm's exp / tanh.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum LookupTableInt8 {
    /// y = table[x + 128] for `count` elements (a byte load per element: a 256-byte table stays in
    /// L1, and on AVX2 / AVX-512 without VBMI a shuffle-based lookup needs 16 pshufb per vector).
    public static func run(input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>, count: Int, table: UnsafePointer<Int8>) {
        let t = table + 128
        var i = 0
        while i + 4 <= count {
            output[i] = t[Int(input[i])]; output[i + 1] = t[Int(input[i + 1])]
            output[i + 2] = t[Int(input[i + 2])]; output[i + 3] = t[Int(input[i + 3])]
            i += 4
        }
        while i < count { output[i] = t[Int(input[i])]; i += 1 }
    }

    public static func reference(input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>, count: Int, table: UnsafePointer<Int8>) {
        for i in 0..<count { output[i] = table[Int(input[i]) + 128] }
    }
}

public final class ActivationFloat: @unchecked Sendable {
    /// ops.toml `enum function` (the same raw values as RoentgenFormat's ActivationFunction).
    public enum Function: Int32, CaseIterable, Sendable {
        case relu = 1, leakyRelu = 2, clip = 3, hardSwish = 4, hardSigmoid = 5, sigmoid = 6, silu = 7, tanh = 8
    }

    public let function: Function
    public let alpha: Float, beta: Float, clipMin: Float, clipMax: Float

    public init(function: Function, alpha: Float = 0, beta: Float = 0, clipMin: Float = -.infinity, clipMax: Float = .infinity) {
        self.function = function
        self.alpha = alpha; self.beta = beta; self.clipMin = clipMin; self.clipMax = clipMax
    }

    /// f(x) in binary32, each step one IEEE operation as SPEC's table writes it.
    @inline(__always)
    public func value(_ x: Float) -> Float {
        switch function {
        case .relu: return x < 0 ? 0 : x
        case .leakyRelu: return x < 0 ? alpha * x : x
        case .clip: return Self.clamp(x, clipMin, clipMax)
        case .hardSwish: return x * Self.clamp(x / 6 + 0.5, 0, 1)
        case .hardSigmoid: return Self.clamp(alpha * x + beta, 0, 1)
        case .sigmoid: return 1 / (1 + expf(-x))
        case .silu: return x / (1 + expf(-x))
        case .tanh: return tanhf(x)
        }
    }

    @inline(__always) static func clamp(_ v: Float, _ lo: Float, _ hi: Float) -> Float {
        var y = v
        if y < lo { y = lo }
        if y > hi { y = hi }
        return y
    }

    public func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, count: Int) {
        switch function {
        case .relu: for i in 0..<count { let x = input[i]; output[i] = x < 0 ? 0 : x }
        default: for i in 0..<count { output[i] = value(input[i]) }
        }
    }

    /// The double-precision twin.
    public static func reference(function: Function, alpha: Float = 0, beta: Float = 0, clipMin: Float = -.infinity,
                                 clipMax: Float = .infinity, _ x: Double) -> Double {
        func clamp(_ v: Double, _ lo: Double, _ hi: Double) -> Double { min(max(v, lo), hi) }
        switch function {
        case .relu: return max(x, 0)
        case .leakyRelu: return x < 0 ? Double(alpha) * x : x
        case .clip: return clamp(x, Double(clipMin), Double(clipMax))
        case .hardSwish: return x * clamp(x / 6 + 0.5, 0, 1)
        case .hardSigmoid: return clamp(Double(alpha) * x + Double(beta), 0, 1)
        case .sigmoid: return 1 / (1 + exp(-x))
        case .silu: return x / (1 + exp(-x))
        case .tanh: return Glibc.tanh(x)
        }
    }
}
