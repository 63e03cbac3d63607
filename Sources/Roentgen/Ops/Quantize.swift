// QUANTIZE (SPEC "QUANTIZE"): f32 -> int8 with the output's scale and zero point.

import RoentgenKernels

final class QuantizeOp: PreparedOp {
    let scratchBytes = 0
    let count: Int, scale: Float, zeroPoint: Int32
    var tensors: Unary<Float, Int8>

    init(_ c: OpContext) {
        count = c.output.elementCount
        scale = c.output.quantization!.scale
        zeroPoint = c.output.quantization!.zeroPoint
        tensors = Unary(c)
    }

    func bind(_ arena: Arena) { tensors.bind(arena) }
    func run(pool: WorkerPool?) { Quantize.run(tensors.x!, tensors.y!, count: count, scale: scale, zeroPoint: zeroPoint) }
}
