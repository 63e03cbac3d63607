// MEAN (SPEC "MEAN"): the global average over height and width, [1, H, W, C] -> [1, 1, 1, C].

import RoentgenFormat
import RoentgenKernels

enum MeanOp {
    static func prepare(_ c: OpContext) -> PreparedOp {
        let x = c.tensor("x")
        let (h, w, channels) = (x.shape[1], x.shape[2], x.shape[3])
        if c.isInt8 {
            let requant = c.constant("requant", as: Int32.self)   // [1, 2]: (m, shift)
            return Int8Step(MeanInt8(height: h, width: w, channels: channels, multiplier: requant[0], shift: requant[1],
                                     inputZeroPoint: c.zeroPoint(x), outputZeroPoint: c.zeroPoint(c.output), variant: c.variant), c)
        }
        return FloatStep(MeanFloat(height: h, width: w, channels: channels), c)
    }

    final class Int8Step: PreparedOp {
        let scratchBytes = 0
        let kernel: MeanInt8
        var tensors: Unary<Int8, Int8>

        init(_ kernel: MeanInt8, _ c: OpContext) { self.kernel = kernel; tensors = Unary(c) }
        func bind(_ arena: Arena) { tensors.bind(arena) }
        func run(pool: WorkerPool?) { kernel.run(input: tensors.x!, output: tensors.y!) }
    }

    final class FloatStep: PreparedOp {
        let scratchBytes = 0
        let kernel: MeanFloat
        var tensors: Unary<Float, Float>

        init(_ kernel: MeanFloat, _ c: OpContext) { self.kernel = kernel; tensors = Unary(c) }
        func bind(_ arena: Arena) { tensors.bind(arena) }
        func run(pool: WorkerPool?) { kernel.run(input: tensors.x!, output: tensors.y!) }
    }
}
