// DENSE (SPEC "DENSE"): the input read as a flat NHWC vector. int8 -> int8 with the CONV2D
// epilogue; int8 -> f32 (logits, SVM decision values) as f32(acc) * out_scale then the f32
// epilogue; f32 -> f32.

import RoentgenFormat
import RoentgenKernels
import RoentgenFloat

enum DenseOp {
    static func prepare(_ c: OpContext) -> PreparedOp {
        let x = c.tensor("x")
        let k = x.elementCount, n = c.output.elementCount
        let alpha = c.op.float(.alpha), clipMin = c.op.float(.clipMin), clipMax = c.op.float(.clipMax)
        guard x.dtype == .int8 else {
            let kernel = DenseFloat(inputCount: k, outputCount: n, weights: c.constant("w", as: Float.self),
                                    bias: c.constant("b", as: Float.self), alpha: alpha, clipMin: clipMin, clipMax: clipMax,
                                    variant: c.variant)
            return FloatStep(kernel, c)
        }
        let output: DenseInt8.Output = c.isInt8
            ? .int8(requant: c.constant("requant", as: Int32.self), outputZeroPoint: c.zeroPoint(c.output),
                    outputMin: Int32(c.op.int(.outMin)), outputMax: Int32(c.op.int(.outMax)))
            : .logits(outScale: c.constant("out_scale", as: Float.self), alpha: alpha, clipMin: clipMin, clipMax: clipMax)
        let kernel = DenseInt8(inputCount: k, outputCount: n, weights: c.constant("w", as: Int8.self),
                               bias: c.constant("b", as: Int32.self), inputZeroPoint: c.zeroPoint(x), output: output, variant: c.variant)
        return Int8Step(kernel, c)
    }

    final class Int8Step: PreparedOp {
        let kernel: DenseInt8
        let index: Int
        /// The output is int8 or f32 (`DenseInt8.Output`): bound as raw bytes.
        var tensors: Unary<Int8, UInt8>
        var scratch: UnsafeMutableRawPointer? = nil
        var scratchBytes: Int { kernel.scratchBytes }

        init(_ kernel: DenseInt8, _ c: OpContext) { self.kernel = kernel; index = c.op.index; tensors = Unary(c) }
        func bind(_ arena: Arena) { tensors.bind(arena); scratch = arena.scratch(forOp: index) }
        func run(pool: WorkerPool?) { kernel.run(input: tensors.x!, output: UnsafeMutableRawPointer(tensors.y!), scratch: scratch!, pool: pool) }
    }

    final class FloatStep: PreparedOp {
        let kernel: DenseFloat
        var tensors: Unary<Float, Float>
        var scratchBytes: Int { kernel.scratchBytes }

        init(_ kernel: DenseFloat, _ c: OpContext) { self.kernel = kernel; tensors = Unary(c) }
        func bind(_ arena: Arena) { tensors.bind(arena) }
        func run(pool: WorkerPool?) { kernel.run(input: tensors.x!, output: tensors.y!, scratch: nil, pool: pool) }
    }
}
