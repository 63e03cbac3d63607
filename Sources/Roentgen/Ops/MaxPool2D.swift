// MAXPOOL2D (SPEC "MAXPOOL2D"): the maximum over each window's taps inside the input; int8 keeps
// the input's scale and zero point, so the same kernel serves both dtypes' comparisons.

import RoentgenFormat
import RoentgenKernels

enum MaxPool2DOp {
    /// The window of a pool over `x` into `y` (ceil_mode is in y's size).
    static func geometry(_ c: OpContext) -> PoolGeometry {
        let x = c.tensor("x").shape, y = c.output.shape, w = c.op.window
        return PoolGeometry(inputHeight: x[1], inputWidth: x[2], channels: x[3], outputHeight: y[1], outputWidth: y[2],
                            kernelHeight: w.kernelHeight, kernelWidth: w.kernelWidth, strideHeight: w.strideHeight,
                            strideWidth: w.strideWidth, padTop: w.padTop, padLeft: w.padLeft, padBottom: w.padBottom,
                            padRight: w.padRight)
    }

    static func prepare(_ c: OpContext) -> PreparedOp {
        c.isInt8 ? Int8Step(c) : FloatStep(c)
    }

    final class Int8Step: PreparedOp {
        let scratchBytes = 0
        let geometry: PoolGeometry
        var tensors: Unary<Int8, Int8>
        var kernel: ParallelMaxPool2D?

        init(_ c: OpContext) { geometry = MaxPool2DOp.geometry(c); tensors = Unary(c) }
        func bind(_ arena: Arena) {
            tensors.bind(arena)
            kernel = ParallelMaxPool2D(geometry: geometry, input: tensors.x!, output: tensors.y!)
        }
        func run(pool: WorkerPool?) { kernel!.run(pool: pool) }
    }

    final class FloatStep: PreparedOp {
        let scratchBytes = 0
        let geometry: PoolGeometry
        var tensors: Unary<Float, Float>
        var kernel: ParallelMaxPool2D?

        init(_ c: OpContext) { geometry = MaxPool2DOp.geometry(c); tensors = Unary(c) }
        func bind(_ arena: Arena) {
            tensors.bind(arena)
            kernel = ParallelMaxPool2D(geometry: geometry, input: tensors.x!, output: tensors.y!)
        }
        func run(pool: WorkerPool?) { kernel!.run(pool: pool) }
    }
}
