// `roentgen verify` without the command line: runs a float model and its int8 model with this
// runtime on every image of a data set and gathers accuracy, agreement, probability differences
// and per-layer errors.

import RoentgenImage

public struct VerificationResult: Sendable {
    public let metrics: VerificationMetrics
    /// Per-layer errors in op order of the int8 file (empty when layers were not compared).
    public let layers: [LayerError]
    /// The layer where the error jumps most (see `LayerComparator.worstLayer`).
    public let worstLayer: (name: String, sqnrDrop: Double)?
    /// Images that could not be read: (path, message).
    public let failures: [(path: String, message: String)]
    /// Wall time of the whole run, and of `invoke()` alone for each model.
    public let seconds: Double
    public let floatInferenceSeconds: Double
    public let int8InferenceSeconds: Double

    public var imagesPerSecond: Double { seconds > 0 ? Double(metrics.count) / seconds : 0 }
    public var floatImagesPerSecond: Double { floatInferenceSeconds > 0 ? Double(metrics.count) / floatInferenceSeconds : 0 }
    public var int8ImagesPerSecond: Double { int8InferenceSeconds > 0 ? Double(metrics.count) / int8InferenceSeconds : 0 }
}

public final class Verifier {
    public let float: Model
    public let int8: Model
    let floatInterpreter: Interpreter
    let int8Interpreter: Interpreter
    let comparator: LayerComparator?

    /// The two models must classify into the same labels, in the same order, with the same kind
    /// of output. `compareLayers: false` skips the per-layer pass (about half the time).
    public init(float: Model, int8: Model, compareLayers: Bool = true) throws(RoentgenError) {
        guard float.labels == int8.labels else {
            throw RoentgenError(path: int8.path, message: "its labels differ from the float model's (\(float.path)): \(int8.labels.count) vs \(float.labels.count) classes\(float.labels.count == int8.labels.count ? ", first difference: \"\(zip(int8.labels, float.labels).first { $0 != $1 }!.0)\"" : "")")
        }
        guard float.outputKind == int8.outputKind else {
            throw RoentgenError(path: int8.path, message: "its output kind differs from the float model's")
        }
        self.float = float
        self.int8 = int8
        floatInterpreter = Interpreter(model: float.file)
        int8Interpreter = Interpreter(model: int8.file)
        comparator = compareLayers ? try LayerComparator(float: floatInterpreter, int8: int8Interpreter) : nil
    }

    public var labels: [String] { float.labels }

    /// Runs every image; `truth[i]` is image i's class index or nil. `progress(done)` is called
    /// after each image. Unreadable images are skipped and listed in `failures`.
    public func run(_ images: [LabeledImage], truth: [Int?], progress: (Int) -> Void = { _ in }) -> VerificationResult {
        var metrics = VerificationMetrics(labels: labels)
        var failures: [(String, String)] = []
        var floatTime = 0.0, int8Time = 0.0
        let start = Clock.now()
        for (i, image) in images.enumerated() {
            let decoded: InputImage
            do { decoded = try InputImage.read(contentsOf: image.path) } catch {
                failures.append((image.path, error.reason))
                progress(i + 1)
                continue
            }
            // The plan reuses the input's memory once op 0 has read it, so each pass gets a fresh copy.
            let floatInput = decoded.tensor(spec: float.preprocessSpec)
            let int8Input = decoded.tensor(spec: int8.preprocessSpec)
            floatInterpreter.input.update(from: floatInput, count: floatInput.count)
            int8Interpreter.input.update(from: int8Input, count: int8Input.count)
            // Timed: the plain hot path, exactly as `classify` runs it.
            let t0 = Clock.now()
            floatInterpreter.invoke()
            let t1 = Clock.now()
            int8Interpreter.invoke()
            let t2 = Clock.now()
            floatTime += t1 - t0
            int8Time += t2 - t1
            let floatScores = scores(floatInterpreter), int8Scores = scores(int8Interpreter)
            // Untimed: the same steps again, reading every layer's output as it is written.
            if let comparator {
                floatInterpreter.input.update(from: floatInput, count: floatInput.count)
                int8Interpreter.input.update(from: int8Input, count: int8Input.count)
                comparator.compare()
            }
            metrics.add(path: image.path, truth: i < truth.count ? truth[i] : nil, floatScores: floatScores, int8Scores: int8Scores)
            progress(i + 1)
        }
        let layers = comparator?.layers ?? []
        let worst = LayerComparator.worstLayer(layers).map { (layers[$0.index].name, $0.drop) }
        return VerificationResult(metrics: metrics, layers: layers, worstLayer: worst, failures: failures,
                                  seconds: Clock.now() - start, floatInferenceSeconds: floatTime, int8InferenceSeconds: int8Time)
    }

    private func scores(_ interpreter: Interpreter) -> [Double] {
        let logits = Array(interpreter.logits)
        return float.outputKind == .logits ? softmax(logits) : logits.map(Double.init)
    }
}
