// PAD (SPEC "PAD"): x [1, H, W, C] -> y [1, pt + H + pb, pl + W + pr, C], positions outside the
// input hold `value` (int8: value_q with the input's scale and zero point).

public struct PadGeometry: Sendable, Equatable {
    public var height, width, channels: Int
    public var padTop, padLeft, padBottom, padRight: Int
    public init(height: Int, width: Int, channels: Int, padTop: Int, padLeft: Int, padBottom: Int, padRight: Int) {
        self.height = height; self.width = width; self.channels = channels
        self.padTop = padTop; self.padLeft = padLeft; self.padBottom = padBottom; self.padRight = padRight
    }
    public var outputHeight: Int { padTop + height + padBottom }
    public var outputWidth: Int { padLeft + width + padRight }
    public var outputCount: Int { outputHeight * outputWidth * channels }
    public var inputCount: Int { height * width * channels }
}

@inline(__always)
func pad<T>(_ g: PadGeometry, _ input: UnsafePointer<T>, _ output: UnsafeMutablePointer<T>, _ value: T) {
    let c = g.channels, rowOut = g.outputWidth * c
    output.update(repeating: value, count: g.padTop * rowOut)
    for h in 0..<g.height {
        let row = output + (g.padTop + h) * rowOut
        row.update(repeating: value, count: g.padLeft * c)
        (row + g.padLeft * c).update(from: input + h * g.width * c, count: g.width * c)
        (row + (g.padLeft + g.width) * c).update(repeating: value, count: g.padRight * c)
    }
    (output + (g.padTop + g.height) * rowOut).update(repeating: value, count: g.padBottom * rowOut)
}

@inline(__always)
func padReference<T>(_ g: PadGeometry, _ input: UnsafePointer<T>, _ output: UnsafeMutablePointer<T>, _ value: T) {
    for oh in 0..<g.outputHeight {
        for ow in 0..<g.outputWidth {
            let ih = oh - g.padTop, iw = ow - g.padLeft
            let inside = ih >= 0 && ih < g.height && iw >= 0 && iw < g.width
            for ch in 0..<g.channels {
                output[(oh * g.outputWidth + ow) * g.channels + ch] = inside ? input[(ih * g.width + iw) * g.channels + ch] : value
            }
        }
    }
}

public final class PadInt8: @unchecked Sendable {
    public let geometry: PadGeometry
    public let value: Int8
    public init(geometry: PadGeometry, value: Int8) { self.geometry = geometry; self.value = value }
    public func run(input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>) { pad(geometry, input, output, value) }
    public static func reference(geometry: PadGeometry, value: Int8, input: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>) {
        padReference(geometry, input, output, value)
    }
}

public final class PadFloat: @unchecked Sendable {
    public let geometry: PadGeometry
    public let value: Float
    public init(geometry: PadGeometry, value: Float) { self.geometry = geometry; self.value = value }
    public func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) { pad(geometry, input, output, value) }
    public static func reference(geometry: PadGeometry, value: Float, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        padReference(geometry, input, output, value)
    }
}
