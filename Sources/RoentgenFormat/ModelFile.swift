// The Roentgen model file, as SPEC.md defines it: the types a reader produces.
// Parsing and every check live in ModelReader.swift; this file only names things.

/// A malformed or unsupported model file. `field` names the part of the file that is wrong.
public struct FormatError: Error, CustomStringConvertible, Equatable {
    public let field: String
    public let reason: String
    public init(_ field: String, _ reason: String) { self.field = field; self.reason = reason }
    public var description: String { "\(field): \(reason)" }
}

public enum FormatVersion {
    public static let major: UInt16 = 1
    public static let minor: UInt16 = 0
    public static let magic: [UInt8] = Array("ROENTGEN".utf8)
    public static let headerSize = 128
    public static let alignment = 64
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
}

public struct TensorInfo: Sendable {
    public let index: Int
    public let name: String
    public let dtype: DType
    public let isConstant: Bool
    public let shape: [Int]
    /// Absolute file offset of a constant's data; 0 for activations (their place is in the plan).
    public let dataOffset: Int
    public let byteCount: Int
    public let quantization: Quantization?
    public var elementCount: Int { byteCount / dtype.size }
}

public enum OpKind: UInt32, Sendable {
    case quantize = 1, dequantize = 2, conv2d = 3, maxPool2d = 4, dense = 5
    public var name: String {
        switch self {
        case .quantize: "QUANTIZE"; case .dequantize: "DEQUANTIZE"; case .conv2d: "CONV2D"
        case .maxPool2d: "MAXPOOL2D"; case .dense: "DENSE"
        }
    }
}

public struct Window: Sendable, Equatable {
    public let kernelHeight, kernelWidth, strideHeight, strideWidth: Int
    public let padTop, padLeft, padBottom, padRight: Int
}

public struct OpInfo: Sendable {
    public let index: Int
    public let kind: OpKind
    /// nil: no activation. 0: ReLU. Otherwise leaky ReLU with this slope.
    public let leakyAlpha: Float?
    /// Four slots as in SPEC.md's op table; nil where unused.
    public let inputs: [Int?]
    public let output: Int
    public let window: Window
}

/// What the output tensor holds.
public enum OutputKind: UInt32, Sendable {
    /// Logits of a classifier; probabilities are their softmax.
    case logits = 0
    /// Decision values of a linear SVM head; there are no probabilities.
    case svmDecisionValues = 1
}

public struct InputSpec: Sendable, Equatable {
    public let channels, height, width: Int
    public let mean: [Float]
    public let std: [Float]
    public let inputTensor: Int
    public let outputTensor: Int
    public let outputKind: OutputKind
}

/// The converter's memory plan: each activation's byte offset in one arena of `arenaSize` bytes.
public struct MemoryPlan: Sendable {
    public let arenaSize: Int
    /// Indexed by tensor; nil for constants.
    public let offsets: [Int?]
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
    public let storage: ModelStorage

    public var precision: String { provenance.first { $0.key == "precision" }?.value ?? "unknown" }
    public var weightBytes: Int { tensors.filter(\.isConstant).reduce(0) { $0 + $1.byteCount } }

    /// Typed pointer to a constant tensor's data, inside the loaded file.
    public func constant<T>(_ tensor: Int, as type: T.Type) -> UnsafePointer<T> {
        (storage.bytes.baseAddress! + tensors[tensor].dataOffset).assumingMemoryBound(to: T.self)
    }
}

/// The file's bytes, read once into 64-byte aligned memory that lives as long as the model.
public final class ModelStorage: @unchecked Sendable {
    public let bytes: UnsafeRawBufferPointer
    private let memory: UnsafeMutableRawBufferPointer

    init(copying source: UnsafeRawBufferPointer) {
        memory = UnsafeMutableRawBufferPointer.allocate(byteCount: max(source.count, 1), alignment: FormatVersion.alignment)
        if source.count > 0 { memory.copyMemory(from: source) }
        bytes = UnsafeRawBufferPointer(rebasing: memory[0..<source.count])
    }

    deinit { memory.deallocate() }
}
