// RESHAPE (SPEC "RESHAPE"): the same bytes under other dims - a copy (the plan gives input and
// output separate places, since both are live during the op).

import RoentgenKernels

final class ReshapeOp: PreparedOp {
    let scratchBytes = 0
    let byteCount: Int
    var tensors: Unary<UInt8, UInt8>

    init(_ c: OpContext) {
        byteCount = c.output.byteCount
        tensors = Unary(c)
    }

    func bind(_ arena: Arena) { tensors.bind(arena) }
    func run(pool: WorkerPool?) { tensors.y!.update(from: tensors.x!, count: byteCount) }
}
