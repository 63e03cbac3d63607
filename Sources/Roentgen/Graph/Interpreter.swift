// Executes a validated model in three visible steps:
//   load     `Model(path:)` / `ModelReader`: every field, the graph and the plan verified.
//   plan     `Interpreter.init`: one prepared op per op (Ops/, kernels built and weights packed
//            once), their scratch placed around the activations (ArenaPlan), one arena allocated,
//            and every op bound to its addresses in it.
//   invoke   `invoke()`: walks the prepared ops over the arena; no heap allocation.

import RoentgenFormat
import RoentgenKernels

public final class Interpreter: @unchecked Sendable {
    public let model: ModelFile
    public let arena: Arena
    /// Where every activation and every op's scratch lives.
    public var arenaPlan: ArenaPlan { arena.plan }
    /// Threads inference uses, the caller's included (1: no worker).
    public let threads: Int
    /// The int8 kernel variant every CONV2D and DENSE runs (KernelVariant.selected unless forced).
    public let kernelVariant: KernelVariant
    /// Persistent workers created at load (nil for one thread), woken per op without allocation.
    private let pool: WorkerPool?
    /// Ops the pool ran on the calling thread alone because its worker lagged (0 without a pool).
    public var soloOps: Int { pool?.soloOps ?? 0 }
    private let steps: [PreparedOp]

    public init(model: ModelFile, threads: Int = 1, kernelVariant: KernelVariant = .selected) {
        precondition(threads >= 1, "Interpreter: threads must be >= 1")
        self.model = model
        self.threads = threads
        self.kernelVariant = kernelVariant
        pool = threads > 1 ? WorkerPool(threads: threads) : nil
        let steps = model.ops.map { OpPreparation.prepare($0, model: model, variant: kernelVariant, threads: threads) }
        arena = Arena(plan: ArenaPlan(model: model, scratchBytes: steps.map(\.scratchBytes)))
        for step in steps { step.bind(arena) }
        self.steps = steps
    }

    /// Where the preprocessed image goes: NHWC float32, height * width * channels values.
    public var input: UnsafeMutablePointer<Float> { arena.pointer(model.input.inputTensor, as: Float.self) }

    /// The output tensor (logits or SVM decision values) after `invoke`.
    public var logits: UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: arena.pointer(model.input.outputTensor, as: Float.self),
                            count: model.tensors[model.input.outputTensor].elementCount)
    }

    /// Runs every op once over the arena. No heap allocation.
    public func invoke() {
        for step in steps { step.run(pool: pool) }
    }

    /// Runs the same prepared ops as `invoke()`, calling `afterEach` right after each op has
    /// written its output, so a caller can read that op's output from the arena (`arena.pointer`)
    /// before a later op reuses the memory. For diagnostics (`roentgen verify`, `bench --per-op`);
    /// `invoke()` stays the hot path.
    public func invoke(afterEach: (OpInfo) -> Void) {
        for (op, step) in zip(model.ops, steps) {
            step.run(pool: pool)
            afterEach(op)
        }
    }
}
