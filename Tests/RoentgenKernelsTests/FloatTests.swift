import Testing
import RoentgenKernels
import RoentgenFloat

func close(_ a: [Float], _ b: [Float], _ tol: Float = 1e-4) -> Int? {
    for i in 0..<a.count where !(abs(a[i] - b[i]) <= tol * max(1, abs(b[i]))) { return i }
    return nil
}

@Suite struct FloatKernelTests {
    @Test(arguments: 0..<50)
    func conv(_ i: Int) {
        let c = ConvCase.random(seed: 0xF10A7 &+ UInt64(i))
        var r = SplitMix64(seed: UInt64(i))
        let g = c.g
        let x = r.floats(g.inputCount), w = r.floats(g.weightCount, -0.2...0.2), b = r.floats(g.outputChannels)
        let alpha: Float? = [nil, 0.1, 0][i % 3]
        var scratch = [Float](repeating: .nan, count: Conv2DFloat.scratchCount(g))
        var ref = [Float](repeating: 0, count: g.outputCount)
        Conv2DFloat.reference(geometry: g, input: x, weights: w, bias: b, leakyAlpha: alpha, output: &ref)
        // Every variant (portable: im2col + sgemm; avx2 / vnni: packed FMA tiles), 1 and 2 threads.
        for variant in KernelVariant.allCases where variant.isSupported {
            let conv = Conv2DFloat(geometry: g, weights: w, bias: b, leakyAlpha: alpha, variant: variant)
            var fast = [Float](repeating: 0, count: g.outputCount)
            conv.run(input: x, scratch: &scratch, output: &fast)
            if let j = close(fast, ref) { Issue.record("\(variant) float conv at \(j): \(fast[j]) vs \(ref[j]); \(c)") }
            var two = [Float](repeating: 0, count: g.outputCount)
            conv.run(input: x, scratch: &scratch, output: &two, pool: WorkerPool(threads: 2))
            if variant != .portable {
                #expect(two.map(\.bitPattern) == fast.map(\.bitPattern), "\(variant): 2 threads differ; \(c)")
            } else if let j = close(two, ref) { Issue.record("portable 2-thread float conv at \(j); \(c)") }
        }
    }

    @Test(arguments: 0..<20)
    func dense(_ i: Int) {
        var r = SplitMix64(seed: 0xD0 &+ UInt64(i))
        let k = r.int(1...3000), n = r.int(1...300)
        let x = r.floats(k), w = r.floats(n * k, -0.1...0.1), b = r.floats(n)
        let alpha: Float? = [nil, 0.1, 0][i % 3]
        var fast = [Float](repeating: 0, count: n), ref = [Float](repeating: 0, count: n)
        DenseFloat(inputCount: k, outputCount: n, weights: w, bias: b, leakyAlpha: alpha).run(input: x, output: &fast)
        DenseFloat.reference(inputCount: k, outputCount: n, weights: w, bias: b, leakyAlpha: alpha, input: x, output: &ref)
        if let j = close(fast, ref) { Issue.record("dense at \(j): \(fast[j]) vs \(ref[j]); seed \(i) k \(k) n \(n)") }
    }
}
