// CONCAT along channels (SPEC "CONCAT"). int8: each input's map q -> clamp(z_y + requantize(q - z_i,
// m_i, shift_i), -128, 127) depends on q alone, so it is tabulated at init (256 entries, from the
// shared Requantize) and an input whose table is the identity is a plain copy.

public final class ConcatInt8: @unchecked Sendable {
    public let pixels: Int
    public let channels: [Int]
    public let outputChannels: Int
    let tables: UnsafeMutablePointer<Int8>        // [inputs][256]: y = table[q + 128]
    let identity: [Bool]

    public init(pixels: Int, channels: [Int], multipliers: [Int32], shifts: [Int32], zeroPoints: [Int32], outputZeroPoint: Int32) {
        let n = channels.count
        precondition(pixels >= 1 && n >= 1 && channels.allSatisfy { $0 >= 1 }
                     && multipliers.count == n && shifts.count == n && zeroPoints.count == n, "ConcatInt8: inconsistent inputs")
        self.pixels = pixels; self.channels = channels
        outputChannels = channels.reduce(0, +)
        tables = .allocate(capacity: n * 256)
        var same: [Bool] = []
        for i in 0..<n {
            checkRequant("ConcatInt8", multipliers[i], shifts[i])
            var id = true
            for q in -128...127 {
                let v = Requantize.apply(Int32(q) - zeroPoints[i], multiplier: multipliers[i], shift: shifts[i])
                let y = Requantize.clamp(v, zeroPoint: outputZeroPoint, min: -128, max: 127)
                tables[i * 256 + q + 128] = y
                if Int(y) != q { id = false }
            }
            same.append(id)
        }
        identity = same
    }

    deinit { tables.deallocate() }

    /// `inputs[i]` is [pixels][channels[i]]; `output` is [pixels][sum of channels]. No allocation.
    public func run(inputs: UnsafePointer<UnsafePointer<Int8>>, output: UnsafeMutablePointer<Int8>) {
        var offset = 0
        for i in 0..<channels.count {
            let c = channels[i], src = inputs[i]
            if identity[i] {
                for p in 0..<pixels { (output + p * outputChannels + offset).update(from: src + p * c, count: c) }
            } else {
                let table = tables + i * 256
                for p in 0..<pixels {
                    let s = src + p * c, d = output + p * outputChannels + offset
                    for j in 0..<c { d[j] = table[Int(s[j]) &+ 128] }
                }
            }
            offset += c
        }
    }

    /// The scalar twin: every element through the shared Requantize.
    public static func reference(pixels: Int, channels: [Int], multipliers: [Int32], shifts: [Int32], zeroPoints: [Int32],
                                 outputZeroPoint: Int32, inputs: [UnsafePointer<Int8>], output: UnsafeMutablePointer<Int8>) {
        let total = channels.reduce(0, +)
        for p in 0..<pixels {
            var offset = 0
            for i in 0..<channels.count {
                for j in 0..<channels[i] {
                    let q = Int32(inputs[i][p * channels[i] + j])
                    let v = Requantize.apply(q - zeroPoints[i], multiplier: multipliers[i], shift: shifts[i])
                    output[p * total + offset + j] = Requantize.clamp(v, zeroPoint: outputZeroPoint, min: -128, max: 127)
                }
                offset += channels[i]
            }
        }
    }
}

public final class ConcatFloat: @unchecked Sendable {
    public let pixels: Int
    public let channels: [Int]
    public let outputChannels: Int

    public init(pixels: Int, channels: [Int]) {
        precondition(pixels >= 1 && !channels.isEmpty && channels.allSatisfy { $0 >= 1 }, "ConcatFloat: inconsistent inputs")
        self.pixels = pixels; self.channels = channels
        outputChannels = channels.reduce(0, +)
    }

    public func run(inputs: UnsafePointer<UnsafePointer<Float>>, output: UnsafeMutablePointer<Float>) {
        var offset = 0
        for i in 0..<channels.count {
            let c = channels[i], src = inputs[i]
            for p in 0..<pixels { (output + p * outputChannels + offset).update(from: src + p * c, count: c) }
            offset += c
        }
    }
}
