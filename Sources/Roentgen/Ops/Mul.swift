// MUL (SPEC "MUL"): a * b, b of a's shape or [1, 1, 1, C] (a squeeze-excite gate). int8: one
// requantization of the product of the centred operands; f32: a * b, then the clip.

import RoentgenFormat
import RoentgenKernels

enum MulOp {
    static func prepare(_ c: OpContext) -> PreparedOp {
        let tensors = Binary<Int8>(c)
        if c.isInt8 {
            let requant = c.constant("requant", as: Int32.self)   // [2]: (m, shift)
            return Int8Step(MulInt8(elements: tensors.elements, channels: tensors.channels, broadcast: tensors.broadcast,
                                    multiplier: requant[0], shift: requant[1],
                                    zeroPointA: c.zeroPoint(c.tensor("a")), zeroPointB: c.zeroPoint(c.tensor("b")),
                                    outputZeroPoint: c.zeroPoint(c.output),
                                    outputMin: Int32(c.op.int(.outMin)), outputMax: Int32(c.op.int(.outMax)), variant: c.variant), c)
        }
        return FloatStep(MulFloat(elements: tensors.elements, channels: tensors.channels, broadcast: tensors.broadcast,
                                  clipMin: c.op.float(.clipMin), clipMax: c.op.float(.clipMax)), c)
    }

    final class Int8Step: PreparedOp {
        let scratchBytes = 0
        let kernel: MulInt8
        var tensors: Binary<Int8>

        init(_ kernel: MulInt8, _ c: OpContext) { self.kernel = kernel; tensors = Binary(c) }
        func bind(_ arena: Arena) { tensors.bind(arena) }
        func run(pool: WorkerPool?) { kernel.run(a: tensors.x!, b: tensors.y!, output: tensors.z!, pool: pool) }
    }

    final class FloatStep: PreparedOp {
        let scratchBytes = 0
        let kernel: MulFloat
        var tensors: Binary<Float>

        init(_ kernel: MulFloat, _ c: OpContext) { self.kernel = kernel; tensors = Binary(c) }
        func bind(_ arena: Arena) { tensors.bind(arena) }
        func run(pool: WorkerPool?) { kernel.run(a: tensors.x!, b: tensors.y!, output: tensors.z!, pool: pool) }
    }
}
