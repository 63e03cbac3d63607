// The arithmetic of SPEC "The ops", written out plainly (loops, 64-bit integers, float64 sums) so
// the runtime's wiring of every op - slot order, attributes, broadcast, padding, the epilogues - is
// checked against the document rather than against the kernels it calls.

import RoentgenFormat

/// A feature map or vector of one image: `values` in NHWC order, `shape` without the batch.
struct Map<T> {
    var values: [T]
    var shape: [Int]
    var h: Int { shape[0] }
    var w: Int { shape[1] }
    var c: Int { shape[2] }
    subscript(y: Int, x: Int, ch: Int) -> T { values[(y * w + x) * c + ch] }
}

enum Spec {
    static func requantize(_ acc: Int64, _ m: Int32, _ shift: Int32) -> Int64 {
        (acc * Int64(m) + (Int64(1) << (shift - 1))) >> Int64(shift)
    }

    static func clamp(_ v: Int64, _ lo: Int, _ hi: Int) -> Int8 { Int8(min(max(v, Int64(lo)), Int64(hi))) }

    /// The converter's (m, shift) for a real multiplier (SPEC "The rounding rule").
    static func requantPair(_ multiplier: Double) -> (m: Int32, shift: Int32) {
        var shift = 62
        while shift > 1 && abs((multiplier * pow2(shift)).rounded(.toNearestOrEven)) >= 2147483648 { shift -= 1 }
        return (Int32((multiplier * pow2(shift)).rounded(.toNearestOrEven)), Int32(shift))
    }

    static func pow2(_ n: Int) -> Double { Double(sign: .plus, exponent: n, significand: 1) }

    static func quantize(_ x: Float, _ s: Float, _ z: Int32) -> Int8 {
        let q = x / s
        if q.isNaN { return Int8(z) }
        return clamp(Int64(max(min(q.rounded(.toNearestOrEven), 1e6), -1e6)) + Int64(z), -128, 127)
    }

    static func dequantize(_ q: Int8, _ s: Float, _ z: Int32) -> Float { Float(Int32(q) - z) * s }

    /// The input rows/columns a window reads: nil for a padding tap.
    static func tap(_ o: Int, _ k: Int, stride: Int, pad: Int, dilation: Int, size: Int) -> Int? {
        let i = o * stride - pad + k * dilation
        return (0..<size).contains(i) ? i : nil
    }

    // MARK: int8

    struct Conv {
        var window: Window
        var groups: Int
        var weights: [Int8]   // [OC][KH][KW][IC / groups]
        var bias: [Int32]
        var requant: [Int32]  // [OC][4]
        var outMin = -128, outMax = 127
    }

    static func conv2d(_ x: Map<Int8>, zx: Int32, _ p: Conv, oc: Int, zy: Int32) -> Map<Int8> {
        let win = p.window
        let oh = Window.outputExtent(input: x.h, padBefore: win.padTop, padAfter: win.padBottom, kernel: win.effectiveKernelHeight, stride: win.strideHeight, ceilMode: false)!
        let ow = Window.outputExtent(input: x.w, padBefore: win.padLeft, padAfter: win.padRight, kernel: win.effectiveKernelWidth, stride: win.strideWidth, ceilMode: false)!
        let icg = x.c / p.groups, ocg = oc / p.groups
        var out: [Int8] = []
        for y in 0..<oh {
            for xx in 0..<ow {
                for o in 0..<oc {
                    let g = o / ocg
                    var acc = Int64(p.bias[o])
                    for kh in 0..<win.kernelHeight {
                        guard let iy = tap(y, kh, stride: win.strideHeight, pad: win.padTop, dilation: win.dilationHeight, size: x.h) else { continue }
                        for kw in 0..<win.kernelWidth {
                            guard let ix = tap(xx, kw, stride: win.strideWidth, pad: win.padLeft, dilation: win.dilationWidth, size: x.w) else { continue }
                            for j in 0..<icg {
                                let wv = p.weights[((o * win.kernelHeight + kh) * win.kernelWidth + kw) * icg + j]
                                acc += (Int64(x[iy, ix, g * icg + j]) - Int64(zx)) * Int64(wv)
                            }
                        }
                    }
                    let r = Array(p.requant[(4 * o)..<(4 * o + 4)])
                    let v = acc >= 0 ? requantize(acc, r[0], r[1]) : requantize(acc, r[2], r[3])
                    out.append(clamp(Int64(zy) + v, p.outMin, p.outMax))
                }
            }
        }
        return Map(values: out, shape: [oh, ow, oc])
    }

    /// DENSE int8: the accumulators (the two epilogues differ).
    static func denseAccumulators(_ x: [Int8], zx: Int32, weights: [Int8], bias: [Int32], n: Int) -> [Int64] {
        let k = x.count
        return (0..<n).map { o in
            var acc = Int64(bias[o])
            for i in 0..<k { acc += (Int64(x[i]) - Int64(zx)) * Int64(weights[o * k + i]) }
            return acc
        }
    }

    static func pool(_ x: Map<Int8>, _ win: Window, body: (_ taps: [Int8], _ divisorWithPad: Int) -> Int8) -> Map<Int8> {
        let oh = Window.outputExtent(input: x.h, padBefore: win.padTop, padAfter: win.padBottom, kernel: win.kernelHeight, stride: win.strideHeight, ceilMode: win.ceilMode)!
        let ow = Window.outputExtent(input: x.w, padBefore: win.padLeft, padAfter: win.padRight, kernel: win.kernelWidth, stride: win.strideWidth, ceilMode: win.ceilMode)!
        var out: [Int8] = []
        for y in 0..<oh {
            for xx in 0..<ow {
                for ch in 0..<x.c {
                    var taps: [Int8] = [], padded = 0
                    for kh in 0..<win.kernelHeight {
                        for kw in 0..<win.kernelWidth {
                            let iy = y * win.strideHeight - win.padTop + kh, ix = xx * win.strideWidth - win.padLeft + kw
                            // count_include_pad counts taps inside [-pad, size + pad), not ceil_mode's extra ones
                            if (-win.padTop..<(x.h + win.padBottom)).contains(iy) && (-win.padLeft..<(x.w + win.padRight)).contains(ix) { padded += 1 }
                            if (0..<x.h).contains(iy) && (0..<x.w).contains(ix) { taps.append(x[iy, ix, ch]) }
                        }
                    }
                    out.append(body(taps, padded))
                }
            }
        }
        return Map(values: out, shape: [oh, ow, x.c])
    }

    static func maxpool(_ x: Map<Int8>, _ win: Window) -> Map<Int8> { pool(x, win) { taps, _ in taps.max()! } }

    static func avgpool(_ x: Map<Int8>, _ win: Window, zx: Int32, zy: Int32, requant: [Int32], includePad: Bool) -> Map<Int8> {
        pool(x, win) { taps, padded in
            let c = includePad ? padded : taps.count
            let acc = taps.reduce(Int64(0)) { $0 + Int64($1) - Int64(zx) }
            return clamp(Int64(zy) + requantize(acc, requant[2 * (c - 1)], requant[2 * (c - 1) + 1]), -128, 127)
        }
    }

    static func mean(_ x: Map<Int8>, zx: Int32, zy: Int32, m: Int32, shift: Int32) -> [Int8] {
        (0..<x.c).map { ch in
            var acc: Int64 = 0
            for y in 0..<x.h { for xx in 0..<x.w { acc += Int64(x[y, xx, ch]) - Int64(zx) } }
            return clamp(Int64(zy) + requantize(acc, m, shift), -128, 127)
        }
    }

    /// ADD / MUL over `a`, with `b` of a's size or one value per channel.
    static func elementwise(_ a: [Int8], _ b: [Int8], channels: Int, _ f: (Int64, Int64) -> Int8) -> [Int8] {
        a.indices.map { i in f(Int64(a[i]), Int64(b.count == a.count ? b[i] : b[i % channels])) }
    }

    static func add(_ a: [Int8], _ b: [Int8], channels: Int, za: Int32, zb: Int32, zy: Int32, requant: [Int32], outMin: Int, outMax: Int) -> [Int8] {
        elementwise(a, b, channels: channels) { x, y in
            let sum = (x - Int64(za)) * Int64(requant[0]) + (y - Int64(zb)) * Int64(requant[1]) + (Int64(1) << (requant[2] - 1))
            return clamp(Int64(zy) + (sum >> Int64(requant[2])), outMin, outMax)
        }
    }

    static func mul(_ a: [Int8], _ b: [Int8], channels: Int, za: Int32, zb: Int32, zy: Int32, requant: [Int32], outMin: Int, outMax: Int) -> [Int8] {
        elementwise(a, b, channels: channels) { x, y in
            clamp(Int64(zy) + requantize((x - Int64(za)) * (y - Int64(zb)), requant[0], requant[1]), outMin, outMax)
        }
    }

    static func concat<T>(_ parts: [Map<T>]) -> Map<T> {
        var out: [T] = []
        let pixels = parts[0].h * parts[0].w
        for p in 0..<pixels { for m in parts { out += m.values[(p * m.c)..<((p + 1) * m.c)] } }
        return Map(values: out, shape: [parts[0].h, parts[0].w, parts.reduce(0) { $0 + $1.c }])
    }

    static func pad<T>(_ x: Map<T>, top: Int, left: Int, bottom: Int, right: Int, value: T) -> Map<T> {
        let oh = top + x.h + bottom, ow = left + x.w + right
        var out: [T] = []
        for y in 0..<oh {
            for xx in 0..<ow {
                for ch in 0..<x.c {
                    let iy = y - top, ix = xx - left
                    out.append((0..<x.h).contains(iy) && (0..<x.w).contains(ix) ? x[iy, ix, ch] : value)
                }
            }
        }
        return Map(values: out, shape: [oh, ow, x.c])
    }

    // MARK: f32 (float64 sums; the runtime matches to rounding)

    static func conv2d(_ x: Map<Float>, _ win: Window, groups: Int, weights: [Float], bias: [Float], oc: Int,
                       alpha: Float, clipMin: Float, clipMax: Float) -> Map<Double> {
        let oh = Window.outputExtent(input: x.h, padBefore: win.padTop, padAfter: win.padBottom, kernel: win.effectiveKernelHeight, stride: win.strideHeight, ceilMode: false)!
        let ow = Window.outputExtent(input: x.w, padBefore: win.padLeft, padAfter: win.padRight, kernel: win.effectiveKernelWidth, stride: win.strideWidth, ceilMode: false)!
        let icg = x.c / groups, ocg = oc / groups
        var out: [Double] = []
        for y in 0..<oh {
            for xx in 0..<ow {
                for o in 0..<oc {
                    let g = o / ocg
                    var acc = Double(bias[o])
                    for kh in 0..<win.kernelHeight {
                        guard let iy = tap(y, kh, stride: win.strideHeight, pad: win.padTop, dilation: win.dilationHeight, size: x.h) else { continue }
                        for kw in 0..<win.kernelWidth {
                            guard let ix = tap(xx, kw, stride: win.strideWidth, pad: win.padLeft, dilation: win.dilationWidth, size: x.w) else { continue }
                            for j in 0..<icg { acc += Double(x[iy, ix, g * icg + j]) * Double(weights[((o * win.kernelHeight + kh) * win.kernelWidth + kw) * icg + j]) }
                        }
                    }
                    out.append(epilogue(acc, alpha: alpha, clipMin: clipMin, clipMax: clipMax))
                }
            }
        }
        return Map(values: out, shape: [oh, ow, oc])
    }

    static func epilogue(_ v: Double, alpha: Float, clipMin: Float, clipMax: Float) -> Double {
        let y = v < 0 ? v * Double(alpha) : v
        return min(max(y, Double(clipMin)), Double(clipMax))
    }
}
