// The f32 epilogue of CONV2D and DENSE (SPEC "CONV2D" f32): y < 0 ? y * alpha : y, then
// clamp(y, clipMin, clipMax). alpha = 1 is no activation (y * 1 == y, so skipping it is exact),
// clipMin = -inf / clipMax = inf no clip. NaN passes through.
public struct FloatEpilogue: Sendable, Equatable {
    public var alpha: Float, clipMin: Float, clipMax: Float

    public init(alpha: Float = 1, clipMin: Float = -.infinity, clipMax: Float = .infinity) {
        self.alpha = alpha; self.clipMin = clipMin; self.clipMax = clipMax
    }

    public var isIdentity: Bool { alpha == 1 && clipMin == -.infinity && clipMax == .infinity }

    @inlinable @inline(__always)
    public func apply(_ value: Float) -> Float {
        var y = value
        if y < 0 { y = y * alpha }
        if y < clipMin { y = clipMin }
        if y > clipMax { y = clipMax }
        return y
    }

    public func apply(_ y: UnsafeMutablePointer<Float>, count: Int) {
        if isIdentity { return }
        for i in 0..<count { y[i] = apply(y[i]) }
    }
}
