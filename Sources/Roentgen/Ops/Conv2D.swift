// CONV2D (SPEC "CONV2D"): grouped / depthwise, dilated, asymmetric pads. int8: the epilogue's
// requant rows and out_min / out_max (a fused ReLU6 or clip); f32: alpha (leaky ReLU) and the clip.
// The kernels repack the weights at init (SPEC "Kernel layouts") and copy the input into scratch.

import RoentgenFormat
import RoentgenKernels
import RoentgenFloat

enum Conv2DOp {
    static func geometry(_ c: OpContext) -> Conv2DGeometry {
        let x = c.tensor("x").shape, y = c.output.shape, w = c.op.window
        return Conv2DGeometry(
            inputHeight: x[1], inputWidth: x[2], inputChannels: x[3],
            outputHeight: y[1], outputWidth: y[2], outputChannels: y[3],
            kernelHeight: w.kernelHeight, kernelWidth: w.kernelWidth, strideHeight: w.strideHeight, strideWidth: w.strideWidth,
            padTop: w.padTop, padLeft: w.padLeft, padBottom: w.padBottom, padRight: w.padRight,
            dilationHeight: w.dilationHeight, dilationWidth: w.dilationWidth, groups: c.op.int(.groups))
    }

    static func prepare(_ c: OpContext) -> PreparedOp {
        if c.isInt8 {
            let kernel = Conv2DInt8(
                geometry: geometry(c), weights: c.constant("w", as: Int8.self), bias: c.constant("b", as: Int32.self),
                requant: c.constant("requant", as: Int32.self),
                inputZeroPoint: c.zeroPoint(c.tensor("x")), outputZeroPoint: c.zeroPoint(c.output),
                outputMin: Int32(c.op.int(.outMin)), outputMax: Int32(c.op.int(.outMax)), variant: c.variant,
                threads: c.threads)
            return Int8Step(kernel, c)
        }
        let kernel = Conv2DFloat(
            geometry: geometry(c), weights: c.constant("w", as: Float.self), bias: c.constant("b", as: Float.self),
            alpha: c.op.float(.alpha), clipMin: c.op.float(.clipMin), clipMax: c.op.float(.clipMax), variant: c.variant,
            threads: c.threads)
        return FloatStep(kernel, c)
    }

    final class Int8Step: PreparedOp {
        let kernel: Conv2DInt8
        let index: Int
        var tensors: Unary<Int8, Int8>
        var scratch: UnsafeMutableRawPointer? = nil
        var scratchBytes: Int { kernel.scratchBytes }

        init(_ kernel: Conv2DInt8, _ c: OpContext) { self.kernel = kernel; index = c.op.index; tensors = Unary(c) }
        func bind(_ arena: Arena) { tensors.bind(arena); scratch = arena.scratch(forOp: index) }
        func run(pool: WorkerPool?) { kernel.run(input: tensors.x!, output: tensors.y!, scratch: scratch!, pool: pool) }
    }

    final class FloatStep: PreparedOp {
        let kernel: Conv2DFloat
        let index: Int
        var tensors: Unary<Float, Float>
        var scratch: UnsafeMutableRawPointer? = nil
        var scratchBytes: Int { kernel.scratchBytes }

        init(_ kernel: Conv2DFloat, _ c: OpContext) { self.kernel = kernel; index = c.op.index; tensors = Unary(c) }
        func bind(_ arena: Arena) { tensors.bind(arena); scratch = arena.scratch(forOp: index) }
        func run(pool: WorkerPool?) { kernel.run(input: tensors.x!, output: tensors.y!, scratch: scratch!, pool: pool) }
    }
}
