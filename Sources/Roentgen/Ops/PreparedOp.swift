// An op of the graph ready to run. Each op kind has one file here (Conv2D.swift, Add.swift, ...)
// that prepares it at load: builds the kernel object(s) from the model (constants, quantization,
// attributes), states the scratch bytes the kernel needs, and - once the arena is planned -
// binds the arena addresses of its tensors and scratch. `run` is the per-image work and never
// allocates.

import RoentgenFormat
import RoentgenKernels

protocol PreparedOp: AnyObject {
    /// Bytes of scratch the op uses while it runs (ArenaPlan places them).
    var scratchBytes: Int { get }
    /// Takes the arena addresses of the op's tensors and scratch (once, at load).
    func bind(_ arena: Arena)
    /// Runs the op over the arena. No heap allocation.
    func run(pool: WorkerPool?)
}

/// What an op file reads while preparing: the op, its model, and typed views of its tensors.
struct OpContext {
    let op: OpInfo
    let model: ModelFile
    let variant: KernelVariant
    /// Threads the interpreter runs with (kernels that give each thread its own scratch plan for them).
    let threads: Int

    var output: TensorInfo { model.tensors[op.output] }
    func tensor(_ slot: String) -> TensorInfo { model.tensors[op.input(slot)] }
    /// A constant input's data, inside the loaded file (it lives as long as the model).
    func constant<T>(_ slot: String, as: T.Type) -> UnsafePointer<T> { model.constant(op.input(slot), as: T.self) }
    /// The (scale, zero point) of an int8 activation.
    func zeroPoint(_ t: TensorInfo) -> Int32 { t.quantization!.zeroPoint }
    var isInt8: Bool { output.dtype == .int8 }
}

enum OpPreparation {
    /// The prepared form of `op`.
    static func prepare(_ op: OpInfo, model: ModelFile, variant: KernelVariant, threads: Int) -> PreparedOp {
        let c = OpContext(op: op, model: model, variant: variant, threads: threads)
        switch op.kind {
        case .quantize: return QuantizeOp(c)
        case .dequantize: return DequantizeOp(c)
        case .conv2d: return Conv2DOp.prepare(c)
        case .maxpool2d: return MaxPool2DOp.prepare(c)
        case .dense: return DenseOp.prepare(c)
        case .avgpool2d: return AvgPool2DOp.prepare(c)
        case .mean: return MeanOp.prepare(c)
        case .add: return AddOp.prepare(c)
        case .mul: return MulOp.prepare(c)
        case .concat: return ConcatOp.prepare(c)
        case .activation: return ActivationOp.prepare(c)
        case .pad: return PadOp.prepare(c)
        case .reshape: return ReshapeOp(c)
        }
    }
}

/// The x -> y pointers of a one-input op, bound at load.
struct Unary<X, Y> {
    let input: Int, output: Int
    private(set) var x: UnsafePointer<X>? = nil, y: UnsafeMutablePointer<Y>? = nil
    init(_ c: OpContext) { input = c.op.inputs[0]; output = c.op.output }
    mutating func bind(_ arena: Arena) {
        x = UnsafePointer(arena.pointer(input, as: X.self))
        y = arena.pointer(output, as: Y.self)
    }
}

/// The a, b -> y pointers of ADD and MUL, bound at load.
struct Binary<T> {
    let a: Int, b: Int, output: Int
    /// `b` is [1, 1, 1, C], broadcast over every pixel of `a`.
    let broadcast: Bool
    /// Elements of `a` (and `y`) and the channels of a pixel.
    let elements: Int, channels: Int
    private(set) var x: UnsafePointer<T>? = nil, y: UnsafePointer<T>? = nil, z: UnsafeMutablePointer<T>? = nil

    init(_ c: OpContext) {
        let ta = c.tensor("a"), tb = c.tensor("b")
        a = ta.index; b = tb.index; output = c.op.output
        broadcast = tb.shape != ta.shape
        elements = ta.elementCount
        channels = ta.shape.last!
    }

    mutating func bind(_ arena: Arena) {
        x = UnsafePointer(arena.pointer(a, as: T.self))
        y = UnsafePointer(arena.pointer(b, as: T.self))
        z = arena.pointer(output, as: T.self)
    }
}
