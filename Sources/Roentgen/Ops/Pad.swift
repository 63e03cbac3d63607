// PAD (SPEC "PAD"): constant padding of height and width; int8 pads with value_q (the output
// shares the input's scale and zero point), f32 with value.

import RoentgenFormat
import RoentgenKernels

enum PadOp {
    static func prepare(_ c: OpContext) -> PreparedOp {
        let x = c.tensor("x").shape
        let geometry = PadGeometry(height: x[1], width: x[2], channels: x[3], padTop: c.op.int(.padTop), padLeft: c.op.int(.padLeft),
                                   padBottom: c.op.int(.padBottom), padRight: c.op.int(.padRight))
        if c.isInt8 { return Int8Step(PadInt8(geometry: geometry, value: Int8(c.op.int(.valueQ))), c) }
        return FloatStep(PadFloat(geometry: geometry, value: c.op.float(.value)), c)
    }

    final class Int8Step: PreparedOp {
        let scratchBytes = 0
        let kernel: PadInt8
        var tensors: Unary<Int8, Int8>

        init(_ kernel: PadInt8, _ c: OpContext) { self.kernel = kernel; tensors = Unary(c) }
        func bind(_ arena: Arena) { tensors.bind(arena) }
        func run(pool: WorkerPool?) { kernel.run(input: tensors.x!, output: tensors.y!) }
    }

    final class FloatStep: PreparedOp {
        let scratchBytes = 0
        let kernel: PadFloat
        var tensors: Unary<Float, Float>

        init(_ kernel: PadFloat, _ c: OpContext) { self.kernel = kernel; tensors = Unary(c) }
        func bind(_ arena: Arena) { tensors.bind(arena) }
        func run(pool: WorkerPool?) { kernel.run(input: tensors.x!, output: tensors.y!) }
    }
}
