// QUANTIZE (SPEC "QUANTIZE"): f32 -> int8 with the output's scale and zero point.

import RoentgenKernels

final class QuantizeOp: PreparedOp {
    let scratchBytes = 0
    let kernel: ParallelQuantize
    var tensors: Unary<Float, Int8>

    init(_ c: OpContext) {
        kernel = ParallelQuantize(count: c.output.elementCount, scale: c.output.quantization!.scale,
                                  zeroPoint: c.output.quantization!.zeroPoint)
        tensors = Unary(c)
    }

    func bind(_ arena: Arena) {
        tensors.bind(arena)
        kernel.input = tensors.x!; kernel.output = tensors.y!
    }
    func run(pool: WorkerPool?) { kernel.run(pool: pool) }
}
