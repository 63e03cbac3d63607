// ACTIVATION (SPEC "ACTIVATION"): an elementwise function. int8 is a lookup in the converter's
// 256-entry table (the runtime never evaluates the function); f32 evaluates it.

import RoentgenFormat
import RoentgenKernels

enum ActivationOp {
    static func prepare(_ c: OpContext) -> PreparedOp {
        if c.isInt8 { return Int8Step(c) }
        let function = ActivationFloat.Function(rawValue: Int32(c.op.int(.function)))!   // the reader checked it
        return FloatStep(ActivationFloat(function: function, alpha: c.op.float(.alpha), beta: c.op.float(.beta),
                                         clipMin: c.op.float(.clipMin), clipMax: c.op.float(.clipMax)), c)
    }

    final class Int8Step: PreparedOp {
        let scratchBytes = 0
        let table: UnsafePointer<Int8>
        let count: Int
        var tensors: Unary<Int8, Int8>

        init(_ c: OpContext) { table = c.constant("table", as: Int8.self); count = c.output.elementCount; tensors = Unary(c) }
        func bind(_ arena: Arena) { tensors.bind(arena) }
        func run(pool: WorkerPool?) { LookupTableInt8.run(input: tensors.x!, output: tensors.y!, count: count, table: table) }
    }

    final class FloatStep: PreparedOp {
        let scratchBytes = 0
        let kernel: ActivationFloat
        let count: Int
        var tensors: Unary<Float, Float>

        init(_ kernel: ActivationFloat, _ c: OpContext) { self.kernel = kernel; count = c.output.elementCount; tensors = Unary(c) }
        func bind(_ arena: Arena) { tensors.bind(arena) }
        func run(pool: WorkerPool?) { kernel.run(input: tensors.x!, output: tensors.y!, count: count) }
    }
}
