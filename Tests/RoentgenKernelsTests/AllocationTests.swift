// Kernels allocate nothing in `run` (scratch comes from the caller's arena). Needs the MallocCounter
// target as a dependency of RoentgenKernelsTests (Package.swift).
import MallocCounter
import Testing
@testable import RoentgenKernels
import RoentgenFloat

@Suite struct AllocationTests {
    /// Runs `body` once to warm up (lazily initialised state is not per-run work), then counts.
    func allocations(_ body: () -> Void) -> Int {
        body()
        malloc_counter_start()
        body()
        return malloc_counter_stop()
    }

    @Test func counterSeesAllocations() {
        malloc_counter_start()
        let array = [Int](repeating: 1, count: 1000 + Int.random(in: 0..<10))
        #expect(malloc_counter_stop() >= 1)
        #expect(array.count >= 1000)
    }

    @Test(arguments: 0..<12)
    func convAndDense(_ i: Int) {
        let c = ConvCase.random(seed: 0xA110C &+ UInt64(i), kind: [.dense, .grouped, .depthwise][i % 3])
        let g = c.g
        var r = SplitMix64(seed: UInt64(i))
        let xf = r.floats(g.inputCount), wf = r.floats(g.weightCount), bf = r.floats(g.outputChannels)
        var y = [Int8](repeating: 0, count: g.outputCount), yf = [Float](repeating: 0, count: g.outputCount)
        var d = [Int8](repeating: 0, count: 16)
        let rq: [Int32] = (0..<16).flatMap { _ -> [Int32] in [1 << 30, 40, 1 << 29, 40] }
        for variant in supportedVariants {
            for (threads, pool) in threadPools() {
                let conv = Conv2DInt8(geometry: g, weights: c.w, bias: c.b, requant: c.rq, inputZeroPoint: c.zx, outputZeroPoint: c.zy,
                                      variant: variant)
                let s = Scratch(conv.scratchBytes)
                var n = allocations { conv.run(input: c.x, output: &y, scratch: s.pointer, pool: pool) }
                #expect(n == 0, "Conv2DInt8 \(variant) x\(threads): \(n) allocations; \(c)")
                let convF = Conv2DFloat(geometry: g, weights: wf, bias: bf, alpha: 0.1, clipMax: 3, variant: variant)
                let sf = Scratch(convF.scratchBytes)
                n = allocations { convF.run(input: xf, output: &yf, scratch: sf.pointer, pool: pool) }
                #expect(n == 0, "Conv2DFloat \(variant) x\(threads): \(n) allocations; \(g)")
                rq.withUnsafeBufferPointer { rqp in
                    let k = g.inputCount
                    let dense = DenseInt8(inputCount: k, outputCount: 16, weights: r.weights(16 * k), bias: [Int32](repeating: 3, count: 16),
                                          inputZeroPoint: 1, output: .int8(requant: rqp.baseAddress!, outputZeroPoint: 0), variant: variant)
                    let sd = Scratch(dense.scratchBytes)
                    n = allocations { dense.run(input: c.x, output: &d, scratch: sd.pointer, pool: pool) }
                    #expect(n == 0, "DenseInt8 \(variant) x\(threads): \(n) allocations")
                }
            }
        }
    }

    @Test func otherOps() {
        var r = SplitMix64(seed: 99)
        let pg = PoolGeometry(inputHeight: 7, inputWidth: 6, channels: 21, outputHeight: 4, outputWidth: 3, kernelHeight: 3, kernelWidth: 3,
                              strideHeight: 2, strideWidth: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 0)
        let x = r.int8s(pg.inputCount), x2 = r.int8s(pg.inputCount), xf = r.floats(pg.inputCount), xf2 = r.floats(pg.inputCount)
        var y = [Int8](repeating: 0, count: 2 * pg.inputCount), yf = [Float](repeating: 0, count: 2 * pg.inputCount)
        let table = r.int8s(256)
        let rq: [Int32] = (0..<9).flatMap { _ -> [Int32] in [1 << 30, 33] }
        let pad = PadGeometry(height: 7, width: 6, channels: 21, padTop: 1, padLeft: 0, padBottom: 2, padRight: 1)
        var yp = [Int8](repeating: 0, count: pad.outputCount), ypf = [Float](repeating: 0, count: pad.outputCount)
        for variant in supportedVariants {
            let add = AddInt8(elements: pg.inputCount, channels: 21, broadcast: false, multiplierA: 1 << 30, multiplierB: 1 << 29, shift: 31,
                              zeroPointA: 1, zeroPointB: 2, outputZeroPoint: 3, variant: variant)
            let addB = AddInt8(elements: pg.inputCount, channels: 21, broadcast: true, multiplierA: 1 << 30, multiplierB: 1 << 29, shift: 3,
                               zeroPointA: 1, zeroPointB: 2, outputZeroPoint: 3, variant: variant)
            let mul = MulInt8(elements: pg.inputCount, channels: 21, broadcast: true, multiplier: 1 << 30, shift: 40,
                              zeroPointA: 1, zeroPointB: 2, outputZeroPoint: 3, variant: variant)
            let mean = MeanInt8(height: 7, width: 6, channels: 21, multiplier: 1 << 30, shift: 36, inputZeroPoint: 0, outputZeroPoint: 0, variant: variant)
            let n = allocations {
                add.run(a: x, b: x2, output: &y); addB.run(a: x, b: x2, output: &y); mul.run(a: x, b: x2, output: &y)
                mean.run(input: x, output: &y)
            }
            #expect(n == 0, "\(variant): \(n) allocations")
        }
        let avg = AvgPool2DInt8(geometry: pg, requant: rq, inputZeroPoint: 0, outputZeroPoint: 0, countIncludePad: true)
        let avgF = AvgPool2DFloat(geometry: pg, countIncludePad: false)
        let concat = ConcatInt8(pixels: 42, channels: [21, 21], multipliers: [1 << 30, 1 << 29], shifts: [30, 30], zeroPoints: [0, 0], outputZeroPoint: 0)
        let concatF = ConcatFloat(pixels: 42, channels: [21, 21])
        let act = ActivationFloat(function: .hardSwish), sig = ActivationFloat(function: .sigmoid)
        let addF = AddFloat(elements: pg.inputCount, channels: 21, broadcast: true, clipMin: 0), mulF = MulFloat(elements: pg.inputCount, channels: 21, broadcast: false)
        let meanF = MeanFloat(height: 7, width: 6, channels: 21)
        let padI = PadInt8(geometry: pad, value: -3), padF = PadFloat(geometry: pad, value: 1)
        withPointers([x, x2]) { ptrs in
            withPointers([xf, xf2]) { fptrs in
                ptrs.withUnsafeBufferPointer { p in
                    fptrs.withUnsafeBufferPointer { fp in
                        let n = allocations {
                            MaxPool2D.run(geometry: pg, input: x, output: &y); MaxPool2D.run(geometry: pg, input: xf, output: &yf)
                            avg.run(input: x, output: &y); avgF.run(input: xf, output: &yf)
                            concat.run(inputs: p.baseAddress!, output: &y); concatF.run(inputs: fp.baseAddress!, output: &yf)
                            LookupTableInt8.run(input: x, output: &y, count: x.count, table: table)
                            act.run(input: xf, output: &yf, count: xf.count); sig.run(input: xf, output: &yf, count: xf.count)
                            addF.run(a: xf, b: xf2, output: &yf); mulF.run(a: xf, b: xf2, output: &yf); meanF.run(input: xf, output: &yf)
                            padI.run(input: x, output: &yp); padF.run(input: xf, output: &ypf)
                            Quantize.run(xf, &y, count: xf.count, scale: 0.1, zeroPoint: 3); Dequantize.run(x, &yf, count: x.count, scale: 0.1, zeroPoint: 3)
                        }
                        #expect(n == 0, "\(n) allocations")
                    }
                }
            }
        }
    }
}
