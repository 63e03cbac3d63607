// Small format 2.0 models built with the Swift writer, for checks that need a graph shape the
// shipped models do not have.

import RoentgenFormat
import RoentgenTestSupport

enum TestModels {
    /// input -> QUANTIZE -> CONV2D (1 -> 4 channels) -> CONV2D (groups 4, dilation 2, pads 2)
    /// -> ADD (the skip from the first conv) -> MEAN -> DEQUANTIZE -> RESHAPE -> logits [1, 4].
    static func residual() -> ModelDraft {
        var d = ModelDraft(channels: 1, height: 8, width: 8)
        let x = d.activation("input", .float32, [1, 8, 8, 1])
        let xq = d.activation("input.q", .int8, [1, 8, 8, 1], scale: 1.0 / 64, zeroPoint: -3)
        d.op(.quantize, [x], xq)
        // conv0: 1 -> 4 channels, plain; conv1: 4 -> 4, groups 4, dilation 2, pads 2.
        let w0 = d.constant("conv0.w", int8: [1, -2, 3, 4], [4, 1, 1, 1], scales: [0.01, 0.02, 0.03, 0.04])
        let b0 = d.constant("conv0.b", int32: [0, 1, 2, 3], [4], scales: [1e-4, 2e-4, 3e-4, 4e-4])
        let r0 = d.constant("conv0.requant", int32: Array(repeating: [1 << 30, 31, 1 << 30, 31], count: 4).flatMap { $0 }, [4, 4])
        let c0 = d.activation("conv0", .int8, [1, 8, 8, 4], scale: 0.05, zeroPoint: 1)
        d.op(.conv2d, [xq, w0, b0, r0], c0)
        let w1 = d.constant("conv1.w", int8: (0..<36).map { Int8($0 % 7 - 3) }, [4, 3, 3, 1], scales: [0.01, 0.01, 0.01, 0.01])
        let b1 = d.constant("conv1.b", int32: [5, -5, 0, 9], [4], scales: [5e-4, 5e-4, 5e-4, 5e-4])
        let r1 = d.constant("conv1.requant", int32: Array(repeating: [1 << 30, 32, 1 << 29, 32], count: 4).flatMap { $0 }, [4, 4])
        let c1 = d.activation("conv1", .int8, [1, 8, 8, 4], scale: 0.05, zeroPoint: 0)
        d.op(.conv2d, [c0, w1, b1, r1], c1, [.kernelH: 3, .kernelW: 3, .dilationH: 2, .dilationW: 2,
                                             .padTop: 2, .padLeft: 2, .padBottom: 2, .padRight: 2, .groups: 4])
        let ra = d.constant("add.requant", int32: [1 << 29, 1 << 29, 30], [3])
        let sum = d.activation("add", .int8, [1, 8, 8, 4], scale: 0.1, zeroPoint: 0)
        d.op(.add, [c1, c0, ra], sum, [.outMin: -20])
        let rm = d.constant("mean.requant", int32: [1 << 30, 36], [1, 2])
        let pooled = d.activation("mean", .int8, [1, 1, 1, 4], scale: 0.1, zeroPoint: 0)
        d.op(.mean, [sum, rm], pooled)
        let dq = d.activation("mean.dq", .float32, [1, 1, 1, 4])
        d.op(.dequantize, [pooled], dq)
        let logits = d.activation("logits", .float32, [1, 4])
        d.op(.reshape, [dq], logits)
        d.inputTensor = x
        d.outputTensor = logits
        d.labels = ["a", "b", "c", "d"]
        return d
    }

    /// A chain of RESHAPEs over `activations` f32 [1, 1] tensors t0 ... t(n-1), planned
    /// alternately at 0 and 64 (each is live with its neighbours only).
    static func chain(activations n: Int) -> ModelDraft {
        var d = ModelDraft(channels: 1, height: 1, width: 1, precision: "f32")
        let first = d.activation("t0", .float32, [1, 1, 1, 1])
        var previous = first
        for i in 1..<n {
            let t = d.activation("t\(i)", .float32, i == n - 1 ? [1, 1] : [1, 1, 1, 1])
            d.op(.reshape, [previous], t)
            previous = t
        }
        d.inputTensor = first
        d.outputTensor = previous
        d.labels = ["only"]
        d.planOffsets = Dictionary(uniqueKeysWithValues: (0..<n).map { ($0, 64 * ($0 % 2)) })
        d.arenaSize = 128
        return d
    }
}
