// ADD (SPEC "ADD"): a + b, b of a's shape or [1, 1, 1, C] broadcast over the pixels. int8: both
// operands rescaled with one common shift and a single rounding; f32: a + b, then the clip.

import RoentgenFormat
import RoentgenKernels

enum AddOp {
    static func prepare(_ c: OpContext) -> PreparedOp {
        let tensors = Binary<Int8>(c)
        if c.isInt8 {
            let requant = c.constant("requant", as: Int32.self)   // [3]: (m_a, m_b, shift)
            return Int8Step(AddInt8(elements: tensors.elements, channels: tensors.channels, broadcast: tensors.broadcast,
                                    multiplierA: requant[0], multiplierB: requant[1], shift: requant[2],
                                    zeroPointA: c.zeroPoint(c.tensor("a")), zeroPointB: c.zeroPoint(c.tensor("b")),
                                    outputZeroPoint: c.zeroPoint(c.output),
                                    outputMin: Int32(c.op.int(.outMin)), outputMax: Int32(c.op.int(.outMax)), variant: c.variant), c)
        }
        return FloatStep(AddFloat(elements: tensors.elements, channels: tensors.channels, broadcast: tensors.broadcast,
                                  clipMin: c.op.float(.clipMin), clipMax: c.op.float(.clipMax)), c)
    }

    final class Int8Step: PreparedOp {
        let scratchBytes = 0
        let kernel: AddInt8
        var tensors: Binary<Int8>

        init(_ kernel: AddInt8, _ c: OpContext) { self.kernel = kernel; tensors = Binary(c) }
        func bind(_ arena: Arena) { tensors.bind(arena) }
        func run(pool: WorkerPool?) { kernel.run(a: tensors.x!, b: tensors.y!, output: tensors.z!, pool: pool) }
    }

    final class FloatStep: PreparedOp {
        let scratchBytes = 0
        let kernel: AddFloat
        var tensors: Binary<Float>

        init(_ kernel: AddFloat, _ c: OpContext) { self.kernel = kernel; tensors = Binary(c) }
        func bind(_ arena: Arena) { tensors.bind(arena) }
        func run(pool: WorkerPool?) { kernel.run(a: tensors.x!, b: tensors.y!, output: tensors.z!, pool: pool) }
    }
}
