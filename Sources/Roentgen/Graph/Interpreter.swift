// Executes a validated model: load -> plan -> invoke, as three visible steps.
// `init` prepares one kernel object per op (packing weights once); `invoke` walks the prepared
// steps over the arena and performs no heap allocation.

import RoentgenFormat
import RoentgenKernels
import RoentgenFloat

public final class Interpreter: @unchecked Sendable {
    public let model: ModelFile
    public let arena: Arena
    private let steps: [Step]
    /// Threads inference uses, the caller's included (1: no worker).
    public let threads: Int
    /// The int8 kernel variant every CONV2D and DENSE runs (KernelVariant.selected unless forced).
    public let kernelVariant: KernelVariant
    /// Persistent workers created at load (nil for one thread), woken per op without allocation.
    private let pool: WorkerPool?

    /// One prepared op. Payloads hold arena pointers resolved at load.
    enum Step {
        case quantize(UnsafePointer<Float>, UnsafeMutablePointer<Int8>, count: Int, scale: Float, zeroPoint: Int32)
        case dequantize(UnsafePointer<Int8>, UnsafeMutablePointer<Float>, count: Int, scale: Float, zeroPoint: Int32)
        case convInt8(Conv2DInt8, UnsafePointer<Int8>, UnsafeMutablePointer<Int8>)
        case convFloat(Conv2DFloat, UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>)
        case maxPoolInt8(PoolGeometry, UnsafePointer<Int8>, UnsafeMutablePointer<Int8>)
        case maxPoolFloat(PoolGeometry, UnsafePointer<Float>, UnsafeMutablePointer<Float>)
        case denseInt8(DenseInt8, UnsafePointer<Int8>, UnsafeMutableRawPointer)
        case denseFloat(DenseFloat, UnsafePointer<Float>, UnsafeMutablePointer<Float>)
    }

    public init(model: ModelFile, threads: Int = 1, kernelVariant: KernelVariant = .selected) {
        precondition(threads >= 1, "Interpreter: threads must be >= 1")
        self.model = model
        self.threads = threads
        self.kernelVariant = kernelVariant
        pool = threads > 1 ? WorkerPool(threads: threads) : nil
        let arena = Arena(plan: model.plan)
        self.arena = arena
        steps = model.ops.map { Interpreter.prepare($0, model: model, arena: arena, variant: kernelVariant) }
    }

    /// Where the preprocessed image goes: NHWC float32, height * width * channels values.
    public var input: UnsafeMutablePointer<Float> { arena.pointer(model.input.inputTensor, as: Float.self) }

    /// The logits after `invoke`.
    public var logits: UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: arena.pointer(model.input.outputTensor, as: Float.self),
                            count: model.tensors[model.input.outputTensor].elementCount)
    }

    /// Runs every op once over the arena. No heap allocation.
    public func invoke() {
        for step in steps { execute(step) }
    }

    /// Runs the same prepared steps as `invoke()`, calling `afterEach` right after each op has
    /// written its output, so a caller can read that op's output from the arena (`arena.pointer`)
    /// before a later op reuses the memory. For diagnostics (`roentgen verify`); `invoke()` stays
    /// the hot path. Both run `execute`, so they cannot drift apart.
    public func invoke(afterEach: (OpInfo) -> Void) {
        for (op, step) in zip(model.ops, steps) {
            execute(step)
            afterEach(op)
        }
    }

    /// One prepared op; CONV2D and DENSE are split over `pool` when it has more than one thread.
    @inline(__always)
    private func execute(_ step: Step) {
        switch step {
        case let .quantize(x, y, count, scale, zeroPoint):
            Quantize.run(x, y, count: count, scale: scale, zeroPoint: zeroPoint)
        case let .dequantize(x, y, count, scale, zeroPoint):
            Dequantize.run(x, y, count: count, scale: scale, zeroPoint: zeroPoint)
        case let .convInt8(kernel, x, y):
            kernel.run(input: x, output: y, pool: pool)
        case let .convFloat(kernel, x, scratch, y):
            kernel.run(input: x, scratch: scratch, output: y, pool: pool)
        case let .maxPoolInt8(geometry, x, y):
            MaxPool2D.run(geometry: geometry, input: x, output: y)
        case let .maxPoolFloat(geometry, x, y):
            MaxPool2D.run(geometry: geometry, input: x, output: y)
        case let .denseInt8(kernel, x, y):
            kernel.run(input: x, output: y, pool: pool)
        case let .denseFloat(kernel, x, y):
            kernel.run(input: x, output: y)
        }
    }

    // MARK: preparation (load time: may allocate)

    private static func prepare(_ op: OpInfo, model: ModelFile, arena: Arena, variant: KernelVariant) -> Step {
        let tensors = model.tensors
        let x = tensors[op.inputs[0]!], y = tensors[op.output]
        switch op.kind {
        case .quantize:
            let q = y.quantization!
            return .quantize(arena.pointer(x.index, as: Float.self), arena.pointer(y.index, as: Int8.self),
                             count: x.elementCount, scale: q.scales[0], zeroPoint: q.zeroPoints[0])
        case .dequantize:
            let q = x.quantization!
            return .dequantize(arena.pointer(x.index, as: Int8.self), arena.pointer(y.index, as: Float.self),
                               count: x.elementCount, scale: q.scales[0], zeroPoint: q.zeroPoints[0])
        case .maxPool2d:
            let w = op.window
            let geometry = PoolGeometry(
                inputHeight: x.shape[1], inputWidth: x.shape[2], channels: x.shape[3],
                outputHeight: y.shape[1], outputWidth: y.shape[2], kernelHeight: w.kernelHeight, kernelWidth: w.kernelWidth,
                strideHeight: w.strideHeight, strideWidth: w.strideWidth, padTop: w.padTop, padLeft: w.padLeft)
            if x.dtype == .int8 {
                return .maxPoolInt8(geometry, arena.pointer(x.index, as: Int8.self), arena.pointer(y.index, as: Int8.self))
            }
            return .maxPoolFloat(geometry, arena.pointer(x.index, as: Float.self), arena.pointer(y.index, as: Float.self))
        case .conv2d:
            let w = op.window
            let geometry = Conv2DGeometry(
                inputHeight: x.shape[1], inputWidth: x.shape[2], inputChannels: x.shape[3],
                outputHeight: y.shape[1], outputWidth: y.shape[2], outputChannels: y.shape[3],
                kernelHeight: w.kernelHeight, kernelWidth: w.kernelWidth, strideHeight: w.strideHeight,
                strideWidth: w.strideWidth, padTop: w.padTop, padLeft: w.padLeft)
            if x.dtype == .int8 {
                let kernel = Conv2DInt8(
                    geometry: geometry, weights: model.constant(op.inputs[1]!, as: Int8.self),
                    bias: model.constant(op.inputs[2]!, as: Int32.self), requant: model.constant(op.inputs[3]!, as: Int32.self),
                    inputZeroPoint: x.quantization!.zeroPoints[0], outputZeroPoint: y.quantization!.zeroPoints[0],
                    variant: variant)
                return .convInt8(kernel, arena.pointer(x.index, as: Int8.self), arena.pointer(y.index, as: Int8.self))
            }
            let kernel = Conv2DFloat(geometry: geometry, weights: model.constant(op.inputs[1]!, as: Float.self),
                                     bias: model.constant(op.inputs[2]!, as: Float.self), leakyAlpha: op.leakyAlpha,
                                     variant: variant)
            return .convFloat(kernel, arena.pointer(x.index, as: Float.self), scratch: arena.pointer(op.inputs[3]!, as: Float.self),
                              arena.pointer(y.index, as: Float.self))
        case .dense:
            let n = y.elementCount, k = x.elementCount
            if x.dtype == .int8 {
                let output: DenseInt8.Output = y.dtype == .int8
                    ? .int8(requant: model.constant(op.inputs[3]!, as: Int32.self), outputZeroPoint: y.quantization!.zeroPoints[0])
                    : .logits(outScale: model.constant(op.inputs[3]!, as: Float.self), leakyAlpha: op.leakyAlpha)
                let kernel = DenseInt8(inputCount: k, outputCount: n, weights: model.constant(op.inputs[1]!, as: Int8.self),
                                       bias: model.constant(op.inputs[2]!, as: Int32.self),
                                       inputZeroPoint: x.quantization!.zeroPoints[0], output: output, variant: variant)
                return .denseInt8(kernel, arena.pointer(x.index, as: Int8.self), UnsafeMutableRawPointer(arena.pointer(y.index, as: Int8.self)))
            }
            let kernel = DenseFloat(inputCount: k, outputCount: n, weights: model.constant(op.inputs[1]!, as: Float.self),
                                    bias: model.constant(op.inputs[2]!, as: Float.self), leakyAlpha: op.leakyAlpha)
            return .denseFloat(kernel, arena.pointer(x.index, as: Float.self), arena.pointer(y.index, as: Float.self))
        }
    }
}
