// AVGPOOL2D (SPEC "AVGPOOL2D"): the sum of each window's taps inside the input over the divisor
// (count_include_pad says whether padding counts); int8 requantizes with the row for the divisor.

import RoentgenFormat
import RoentgenKernels

enum AvgPool2DOp {
    static func prepare(_ c: OpContext) -> PreparedOp {
        let geometry = MaxPool2DOp.geometry(c), includePad = c.op.int(.countIncludePad) != 0
        if c.isInt8 {
            return Int8Step(AvgPool2DInt8(geometry: geometry, requant: c.constant("requant", as: Int32.self),
                                          inputZeroPoint: c.zeroPoint(c.tensor("x")), outputZeroPoint: c.zeroPoint(c.output),
                                          countIncludePad: includePad), c)
        }
        return FloatStep(AvgPool2DFloat(geometry: geometry, countIncludePad: includePad), c)
    }

    final class Int8Step: PreparedOp {
        let scratchBytes = 0
        let kernel: AvgPool2DInt8
        var tensors: Unary<Int8, Int8>

        init(_ kernel: AvgPool2DInt8, _ c: OpContext) { self.kernel = kernel; tensors = Unary(c) }
        func bind(_ arena: Arena) { tensors.bind(arena) }
        func run(pool: WorkerPool?) { kernel.run(input: tensors.x!, output: tensors.y!) }
    }

    final class FloatStep: PreparedOp {
        let scratchBytes = 0
        let kernel: AvgPool2DFloat
        var tensors: Unary<Float, Float>

        init(_ kernel: AvgPool2DFloat, _ c: OpContext) { self.kernel = kernel; tensors = Unary(c) }
        func bind(_ arena: Arena) { tensors.bind(arena) }
        func run(pool: WorkerPool?) { kernel.run(input: tensors.x!, output: tensors.y!) }
    }
}
