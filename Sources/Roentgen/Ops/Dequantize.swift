// DEQUANTIZE (SPEC "DEQUANTIZE"): int8 -> f32 with the input's scale and zero point.

import RoentgenKernels

final class DequantizeOp: PreparedOp {
    let scratchBytes = 0
    let count: Int, scale: Float, zeroPoint: Int32
    var tensors: Unary<Int8, Float>

    init(_ c: OpContext) {
        let x = c.tensor("x")
        count = x.elementCount
        scale = x.quantization!.scale
        zeroPoint = x.quantization!.zeroPoint
        tensors = Unary(c)
    }

    func bind(_ arena: Arena) { tensors.bind(arena) }
    func run(pool: WorkerPool?) { Dequantize.run(tensors.x!, tensors.y!, count: count, scale: scale, zeroPoint: zeroPoint) }
}
