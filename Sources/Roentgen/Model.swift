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

    /// SPEC "CONFIDENCE": softmax of the output over the file's temperature; an SVM without a
    /// CONFIDENCE section has no probabilities.
    public func probabilities(_ scores: [Float]) -> [Double]? {
        if let c = file.confidence { return softmax(scores, temperature: c.temperature) }
        return outputKind == .logits ? softmax(scores) : nil
    }
    /// SPEC "Probabilities": the first maximum of the output, skipping a REJECT class; uncertain
    /// when its probability is below `threshold` or, with a reject class, not above the reject
    /// class's (nil without probabilities).
    public func answer(_ scores: [Float], _ probabilities: [Double]?, threshold: Double) -> (index: Int, uncertain: Bool?) {
        let reject = file.confidence?.rejectClass
        var index = reject == 0 ? 1 : 0
        for i in scores.indices where i != reject && scores[i] > scores[index] { index = i }
        guard let p = probabilities else { return (index, nil) }
        return (index, p[index] < threshold || reject.map { p[index] <= p[$0] } ?? false)
    }

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
    /// Softmax of the output over the file's temperature (SPEC "CONFIDENCE"); nil for an SVM
    /// without a CONFIDENCE section, which has no probabilities.
    public let probabilities: [Double]?
    /// The top probability is below the threshold (the caller's, else the file's); nil without
    /// probabilities.
    public let uncertain: Bool?
    /// The DICOM header fields of a DICOM input; nil for a PNG.
    public let dicom: DICOMReader.Header?
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

    /// How a DICOM image is windowed (`classify --window C,W`, `--full-range`); PNGs ignore it.
    public var window: DICOMReader.Window = .fromFile

    /// The uncertainty threshold (`classify --min-confidence`); nil: the file's (0 without one).
    public var minConfidence: Double? = nil

    public var threshold: Double { minConfidence ?? model.file.confidence.map { Double($0.minConfidence) } ?? 0 }

    public func classify(path: String) throws(RoentgenError) -> Classification {
        let start = Clock.now()
        let image: InputImage
        do { image = try InputImage.read(contentsOf: path, window: window) } catch {
            throw RoentgenError(path: path, message: error.reason)
        }
        image.tensor(spec: model.preprocessSpec, into: interpreter.input)
        let inferenceStart = Clock.now()
        interpreter.invoke()
        let end = Clock.now()
        let scores = Array(interpreter.logits)
        let probabilities = model.probabilities(scores)
        let (index, uncertain) = model.answer(scores, probabilities, threshold: threshold)
        var dicom: DICOMReader.Header? = nil
        if case let .dicom(d) = image { dicom = d.header }
        return Classification(path: path, index: index, label: model.labels[index], scores: scores,
                              probabilities: probabilities, uncertain: uncertain, dicom: dicom,
                              latencyMs: (end - start) * 1e3, inferenceMs: (end - inferenceStart) * 1e3)
    }
}

/// SPEC "Probabilities": float64, shifted by the maximum logit, over the temperature.
public func softmax(_ logits: [Float], temperature: Float = 1) -> [Double] {
    let top = Double(logits.max() ?? 0), t = Double(temperature)
    let exps = logits.map { exp((Double($0) - top) / t) }
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
