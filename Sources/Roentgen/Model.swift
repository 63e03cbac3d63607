// The public face of the runtime: load a model file (verified completely before any kernel
// runs), then classify images with it.

#if canImport(Glibc)
import Glibc
#endif
import RoentgenFormat
import RoentgenImage
@_exported import enum RoentgenFormat.OutputKind

/// Anything that went wrong, for one file: `path` names the model or image, `message` says what.
public struct RoentgenError: Error, CustomStringConvertible {
    public let path: String
    public let message: String
    public init(path: String, message: String) { self.path = path; self.message = message }
    public var description: String { "\(path): \(message)" }
}

/// A loaded model file, every field and the memory plan verified.
public final class Model: Sendable {
    public let path: String
    public let file: ModelFile

    public init(path: String) throws(RoentgenError) {
        self.path = path
        do {
            file = try ModelReader.load(path: path)
        } catch {
            throw RoentgenError(path: path, message: error.description)
        }
    }

    public var labels: [String] { file.labels }
    /// The activations' arena (the file's plan); an interpreter's arena adds its kernels' scratch
    /// (`Interpreter.arenaPlan.totalBytes`).
    public var activationBytes: Int { file.plan.arenaSize }
    public var outputKind: OutputKind { file.input.outputKind }
    public var preprocessSpec: PreprocessSpec {
        PreprocessSpec(channels: file.input.channels, height: file.input.height, width: file.input.width,
                       mean: file.input.mean, std: file.input.std)
    }
}

public struct Classification: Sendable {
    public let path: String
    /// The class with the largest score (the first one on a tie).
    public let index: Int
    public let label: String
    /// What the model outputs: logits, or an SVM's decision values (see `Model.outputKind`).
    public let scores: [Float]
    /// Softmax of the logits; nil for an SVM, which has no probabilities.
    public let probabilities: [Double]?
    /// Decode + preprocess + inference, milliseconds.
    public let latencyMs: Double
    /// Inference alone (`Interpreter.invoke`), milliseconds.
    public let inferenceMs: Double

    /// The ranking used for top-k: probabilities where there are some, else the scores.
    public func rank(_ i: Int) -> Double { probabilities?[i] ?? Double(scores[i]) }
}

/// Classifies images one at a time with one interpreter and its arena. Not thread-safe: use one
/// classifier per thread.
public final class Classifier {
    public let model: Model
    public let interpreter: Interpreter

    /// `threads`: threads inference uses (a persistent worker per extra thread, created here).
    public init(model: Model, threads: Int = 1) {
        self.model = model
        interpreter = Interpreter(model: model.file, threads: threads)
    }

    public func classify(path: String) throws(RoentgenError) -> Classification {
        let start = Clock.now()
        let image: DecodedImage
        do { image = try PNGDecoder.decode(contentsOf: path) } catch {
            throw RoentgenError(path: path, message: error.reason)
        }
        Preprocess.tensor(from: image, spec: model.preprocessSpec, into: interpreter.input)
        let inferenceStart = Clock.now()
        interpreter.invoke()
        let end = Clock.now()
        let scores = Array(interpreter.logits)
        let index = scores.indices.max { scores[$0] < scores[$1] }!
        return Classification(path: path, index: index, label: model.labels[index], scores: scores,
                              probabilities: model.outputKind == .logits ? softmax(scores) : nil,
                              latencyMs: (end - start) * 1e3, inferenceMs: (end - inferenceStart) * 1e3)
    }
}

/// SPEC "Probabilities": float64, shifted by the maximum logit.
public func softmax(_ logits: [Float]) -> [Double] {
    let top = Double(logits.max() ?? 0)
    let exps = logits.map { exp(Double($0) - top) }
    let sum = exps.reduce(0, +)
    return exps.map { $0 / sum }
}

/// Monotonic seconds.
public enum Clock {
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}
