// CONCAT (SPEC "CONCAT"): the inputs joined along the last (channel) axis; int8 rescales each input
// from its own scale to the output's. The kernel takes the inputs as an array of pointers, which
// is allocated here at load and filled when the arena is bound.

import RoentgenFormat
import RoentgenKernels

enum ConcatOp {
    static func prepare(_ c: OpContext) -> PreparedOp {
        let parts = c.op.inputs("x").map { c.model.tensors[$0] }
        let channels = parts.map { $0.shape.last! }
        let pixels = c.output.elementCount / c.output.shape.last!
        if c.isInt8 {
            let requant = c.constant("requant", as: Int32.self)   // [n, 2]: (m_i, shift_i)
            let kernel = ConcatInt8(pixels: pixels, channels: channels,
                                    multipliers: parts.indices.map { requant[2 * $0] }, shifts: parts.indices.map { requant[2 * $0 + 1] },
                                    zeroPoints: parts.map { c.zeroPoint($0) }, outputZeroPoint: c.zeroPoint(c.output))
            return Step<Int8>(c, parts: parts.map(\.index)) { kernel.run(inputs: $0, output: $1) }
        }
        let kernel = ConcatFloat(pixels: pixels, channels: channels)
        return Step<Float>(c, parts: parts.map(\.index)) { kernel.run(inputs: $0, output: $1) }
    }

    final class Step<T>: PreparedOp {
        let scratchBytes = 0
        let parts: [Int], output: Int
        /// The kernel, holding its own tables.
        let kernel: (UnsafePointer<UnsafePointer<T>>, UnsafeMutablePointer<T>) -> Void
        /// The inputs' arena addresses, in order: the kernel's pointer array.
        let inputs: UnsafeMutablePointer<UnsafePointer<T>>
        var y: UnsafeMutablePointer<T>? = nil

        init(_ c: OpContext, parts: [Int], kernel: @escaping (UnsafePointer<UnsafePointer<T>>, UnsafeMutablePointer<T>) -> Void) {
            self.parts = parts
            output = c.op.output
            self.kernel = kernel
            inputs = .allocate(capacity: parts.count)
        }

        deinit { inputs.deallocate() }

        func bind(_ arena: Arena) {
            for (i, t) in parts.enumerated() { (inputs + i).initialize(to: UnsafePointer(arena.pointer(t, as: T.self))) }
            y = arena.pointer(output, as: T.self)
        }

        func run(pool: WorkerPool?) { kernel(UnsafePointer(inputs), y!) }
    }
}
