// The Roentgen model file of SPEC.md format 2.0: the types a reader produces.
// Parsing lives in ModelReader.swift, the graph and op checks in GraphValidator.swift and
// Shapes.swift, the memory plan check in PlanVerifier.swift; this file only names things.
// The op table itself (OpKind, AttributeID, signatures) is generated from ops.toml (Ops.swift).

/// A malformed or unsupported model file. `field` names the part of the file that is wrong.
public struct FormatError: Error, CustomStringConvertible, Equatable {
    public let field: String
    public let reason: String
    public init(_ field: String, _ reason: String) { self.field = field; self.reason = reason }
    /// One line whatever the file holds: names and labels are quoted verbatim, so their control
    /// characters (a line break, a vertical tab, ...) are printed as escapes (found by fuzzing).
    public var description: String {
        let text = "\(field): \(reason)"
        guard text.unicodeScalars.contains(where: Self.needsEscape) else { return text }
        var line = ""
        for scalar in text.unicodeScalars {
            line += Self.needsEscape(scalar) ? scalar.escaped(asASCII: false) : String(scalar)
        }
        return line
    }

    static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.generalCategory == .control || scalar.properties.isPatternWhitespace && scalar.value > 0x20
    }
}

public enum FormatVersion {
    public static let major: UInt16 = 2
    public static let minor: UInt16 = 2
    public static let magic: [UInt8] = Array("ROENTGEN".utf8)
    public static let headerSize = 128
    public static let alignment = 64
}

/// SPEC "Limits": a reader rejects a file beyond these before allocating anything they size.
public enum FormatLimits {
    public static let tensors = 16384
    public static let ops = 4096
    public static let activations = 4096
    public static let inputsPerOp = 256
    public static let labels = 65536
    public static let provenanceEntries = 1024
    public static let arenaSize = 1 << 30
    public static let imageSide = 16384
    public static let sections = 8...64
    /// CONV2D pads and PAD's pads (SPEC "Window geometry", "PAD").
    public static let pad = 1024
}

public enum DType: UInt8, Sendable {
    case int8 = 1, int32 = 2, float32 = 3
    public var size: Int { self == .int8 ? 1 : 4 }
    public var name: String { switch self { case .int8: "int8"; case .int32: "int32"; case .float32: "float32" } }
}

/// real = scale * (q - zeroPoint), per tensor (one entry) or per slice along `axis`.
public struct Quantization: Sendable, Equatable {
    public let scales: [Float]
    public let zeroPoints: [Int32]
    public let axis: Int
    /// The one (scale, zero point) of a per-tensor quantization (every int8 activation has one).
    public var scale: Float { scales[0] }
    public var zeroPoint: Int32 { zeroPoints[0] }
}

public struct TensorInfo: Sendable {
    public let index: Int
    public let name: String
    public let dtype: DType
    public let role: TensorRole
    public let shape: [Int]
    /// Absolute file offset of a constant's data; 0 for activations (their place is in the plan).
    public let dataOffset: Int
    public let byteCount: Int
    public let quantization: Quantization?

    public var isConstant: Bool { role == .constant }
    public var isActivation: Bool { role == .activation }
    public var elementCount: Int { byteCount / dtype.size }
    /// `int8 [1, 16, 16, 8]`, for messages.
    public var summary: String { "\(dtype.name) \(shape)" }
}

/// One attribute of an op record: its id and its 32 bits (an i32 or the bits of an f32).
public struct Attribute: Sendable, Equatable {
    public let id: AttributeID
    public let bits: UInt32
    public var int: Int { Int(Int32(bitPattern: bits)) }
    public var float: Float { Float(bitPattern: bits) }
}

/// Kernel, stride, dilation and padding of CONV2D, MAXPOOL2D and AVGPOOL2D (SPEC "Window geometry").
public struct Window: Sendable, Equatable {
    public let kernelHeight, kernelWidth: Int
    public let strideHeight, strideWidth: Int
    /// 1 for the pools, which have no dilation.
    public let dilationHeight, dilationWidth: Int
    public let padTop, padLeft, padBottom, padRight: Int
    /// Pools only; CONV2D always rounds down.
    public let ceilMode: Bool

    public init(kernelHeight: Int, kernelWidth: Int, strideHeight: Int, strideWidth: Int,
                dilationHeight: Int = 1, dilationWidth: Int = 1,
                padTop: Int = 0, padLeft: Int = 0, padBottom: Int = 0, padRight: Int = 0, ceilMode: Bool = false) {
        self.kernelHeight = kernelHeight; self.kernelWidth = kernelWidth
        self.strideHeight = strideHeight; self.strideWidth = strideWidth
        self.dilationHeight = dilationHeight; self.dilationWidth = dilationWidth
        self.padTop = padTop; self.padLeft = padLeft; self.padBottom = padBottom; self.padRight = padRight
        self.ceilMode = ceilMode
    }

    /// The kernel's extent over the input, `dilation * (kernel - 1) + 1`.
    public var effectiveKernelHeight: Int { dilationHeight * (kernelHeight - 1) + 1 }
    public var effectiveKernelWidth: Int { dilationWidth * (kernelWidth - 1) + 1 }

    /// OH (or OW) for an input extent, or nil when the padded input is smaller than the kernel.
    /// Callers have checked kernel, stride and dilation >= 1 and pads >= 0.
    public static func outputExtent(input: Int, padBefore: Int, padAfter: Int, kernel: Int, stride: Int, ceilMode: Bool) -> Int? {
        let span = input + padBefore + padAfter - kernel
        guard span >= 0 else { return nil }
        guard ceilMode else { return span / stride + 1 }
        var extent = (span + stride - 1) / stride + 1
        // The last window must start inside the input or its leading padding (PyTorch's rule).
        if (extent - 1) * stride >= input + padBefore { extent -= 1 }
        return extent
    }

    public var description: String {
        var parts = ["kernel \(kernelHeight)x\(kernelWidth)", "stride \(strideHeight)x\(strideWidth)"]
        if dilationHeight != 1 || dilationWidth != 1 { parts.append("dilation \(dilationHeight)x\(dilationWidth)") }
        if padTop != 0 || padLeft != 0 || padBottom != 0 || padRight != 0 {
            parts.append("pad \(padTop),\(padLeft),\(padBottom),\(padRight)")
        }
        if ceilMode { parts.append("ceil") }
        return parts.joined(separator: " ")
    }
}

public struct OpInfo: Sendable {
    public let index: Int
    public let kind: OpKind
    /// Tensor indices, in the order of the matched signature's slots.
    public let inputs: [Int]
    public let output: Int
    /// The record's attributes, in ops.toml order.
    public let attributes: [Attribute]
    /// Which of `kind.definition.signatures` the op matched.
    public let signature: Int

    public func attribute(_ id: AttributeID) -> Attribute {
        guard let a = attributes.first(where: { $0.id == id }) else {
            preconditionFailure("\(kind.name) has no attribute \(id.name)")
        }
        return a
    }
    /// An i32 attribute (the reader has checked the op has it).
    public func int(_ id: AttributeID) -> Int { attribute(id).int }
    /// An f32 attribute.
    public func float(_ id: AttributeID) -> Float { attribute(id).float }

    /// The window of CONV2D, MAXPOOL2D and AVGPOOL2D.
    public var window: Window {
        let dilated = kind == .conv2d
        let pooled = kind == .maxpool2d || kind == .avgpool2d
        return Window(kernelHeight: int(.kernelH), kernelWidth: int(.kernelW),
                      strideHeight: int(.strideH), strideWidth: int(.strideW),
                      dilationHeight: dilated ? int(.dilationH) : 1, dilationWidth: dilated ? int(.dilationW) : 1,
                      padTop: int(.padTop), padLeft: int(.padLeft), padBottom: int(.padBottom), padRight: int(.padRight),
                      ceilMode: pooled && int(.ceilMode) != 0)
    }

    /// The slot each input fills, in input order (a variadic slot repeated for each of its inputs).
    public var slots: [SlotDefinition] {
        GraphValidator.slots(kind.definition.signatures[signature], count: inputs.count)!
    }

    /// The tensor in the input slot of that name (ops.toml: `x`, `w`, `b`, `requant`, `a`, ...).
    public func input(_ slot: String) -> Int {
        guard let j = slots.firstIndex(where: { $0.name == slot }) else { preconditionFailure("\(kind.name) has no input slot \(slot)") }
        return inputs[j]
    }

    /// Every tensor in the slot of that name: the variadic slot's inputs (CONCAT's `x`), in order.
    public func inputs(_ slot: String) -> [Int] {
        zip(inputs, slots).filter { $0.1.name == slot }.map(\.0)
    }

    /// Whether the signature has an input slot of that name.
    public func has(_ slot: String) -> Bool { slots.contains { $0.name == slot } }
}

/// What the output tensor holds.
public enum OutputKind: UInt32, Sendable {
    /// Logits of a classifier; probabilities are their softmax.
    case logits = 0
    /// Decision values of a linear SVM head; probabilities only with a CONFIDENCE section.
    case svmDecisionValues = 1
}

public struct InputSpec: Sendable, Equatable {
    public let channels, height, width: Int
    /// One value per channel (the file's unused slots are not kept).
    public let mean: [Float]
    public let std: [Float]
    public let inputTensor: Int
    public let outputTensor: Int
    public let outputKind: OutputKind
}

/// SPEC "CONFIDENCE" (2.1, optional): probabilities are softmax(output / temperature), and an
/// image whose top probability is below `minConfidence` is reported uncertain. SPEC "REJECT" (2.2,
/// optional): the class that means "none of the others" (an out-of-domain image).
public struct Confidence: Sendable, Equatable {
    public let temperature: Float
    public let minConfidence: Float
    public let rejectClass: Int?

    public init(temperature: Float, minConfidence: Float, rejectClass: Int? = nil) {
        self.temperature = temperature
        self.minConfidence = minConfidence
        self.rejectClass = rejectClass
    }
}

/// The converter's memory plan: each activation's byte offset in one arena of `arenaSize` bytes,
/// and each activation's lifetime as the reader computed it from the ops (never read from the file).
public struct MemoryPlan: Sendable {
    public let arenaSize: Int
    /// Indexed by tensor; nil for constants.
    public let offsets: [Int?]
    /// Indexed by tensor: the first and last op during which the activation is live; nil for constants.
    public let lifetimes: [ClosedRange<Int>?]
}

/// A parsed and fully validated model. Constant data stays in `storage`, 64-byte aligned.
public struct ModelFile: Sendable {
    public let versionMajor: UInt16
    public let versionMinor: UInt16
    public let fileSize: Int
    public let checksum: [UInt8]
    public let input: InputSpec
    public let labels: [String]
    public let tensors: [TensorInfo]
    public let ops: [OpInfo]
    public let plan: MemoryPlan
    public let provenance: [(key: String, value: String)]
    /// nil when the file has no CONFIDENCE section (uncalibrated: temperature 1, never uncertain).
    public let confidence: Confidence?
    public let storage: ModelStorage

    public var precision: String { provenance.first { $0.key == "precision" }?.value ?? "unknown" }
    public var weightBytes: Int { tensors.filter(\.isConstant).reduce(0) { $0 + $1.byteCount } }
    public var activationCount: Int { tensors.filter(\.isActivation).count }

    /// Typed pointer to a constant tensor's data, inside the loaded file.
    public func constant<T>(_ tensor: Int, as type: T.Type) -> UnsafePointer<T> {
        (storage.bytes.baseAddress! + tensors[tensor].dataOffset).assumingMemoryBound(to: T.self)
    }
}

/// The file's bytes, read once into 64-byte aligned memory that lives as long as the model.
public final class ModelStorage: @unchecked Sendable {
    public let bytes: UnsafeRawBufferPointer
    private let memory: UnsafeMutableRawBufferPointer

    convenience init(copying source: UnsafeRawBufferPointer) {
        self.init(byteCount: source.count)
        if source.count > 0 { memory.copyMemory(from: source) }
    }

    /// Zeroed memory for a file of `byteCount` bytes, to be filled before parsing (`ModelReader.load`).
    init(byteCount: Int) {
        memory = UnsafeMutableRawBufferPointer.allocate(byteCount: max(byteCount, 1), alignment: FormatVersion.alignment)
        memory.initializeMemory(as: UInt8.self, repeating: 0)
        bytes = UnsafeRawBufferPointer(rebasing: memory[0..<byteCount])
    }

    /// Where `ModelReader.load` reads the file into.
    var writable: UnsafeMutableRawPointer { memory.baseAddress! }

    deinit { memory.deallocate() }
}
