import Foundation
import MallocCounter
import Testing
import Roentgen
import RoentgenImage
import RoentgenKernels

enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }
    /// The shipped demo models: the paper's Table-2 CNN trained on DRRs (11 classes), and the
    /// linear-SVM head on a feature CNN.
    static func model(_ name: String) -> String { path("fixtures/models/" + name) }
    static let int8Model = model("cnn-int8.rtg")
    static let f32Model = model("cnn-f32.rtg")
    static let svmInt8Model = model("svm-int8.rtg")

    static func images() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path("fixtures/images"))
            .filter { $0.hasSuffix(".png") }.sorted().map { path("fixtures/images/" + $0) }
    }
}

@Suite struct RuntimeTests {
    /// The inference step allocates nothing: the arena and the prepared kernels are all it uses.
    @Test(arguments: [Fixtures.int8Model, Fixtures.f32Model])
    func inferenceAllocatesNothing(modelPath: String) throws {
        let classifier = Classifier(model: try Model(path: modelPath))
        let image = try PNGDecoder.decode(contentsOf: try Fixtures.images()[0])
        Preprocess.tensor(from: image, spec: classifier.model.preprocessSpec, into: classifier.interpreter.input)
        classifier.interpreter.invoke()   // warm-up: lazily initialised runtime state is not per-image work
        for _ in 0..<3 {
            malloc_counter_start()
            classifier.interpreter.invoke()
            let allocations = malloc_counter_stop()
            #expect(allocations == 0, "\(modelPath): \(allocations) heap allocations in one invoke")
        }
    }

    /// The counter itself works, so the test above can fail.
    @Test func counterSeesAllocations() {
        malloc_counter_start()
        let array = [Int](repeating: 1, count: 1000 + Int.random(in: 0..<10))
        let allocations = malloc_counter_stop()
        #expect(array.count >= 1000)
        #expect(allocations >= 1)
    }

    /// Like tflite-micro's arena threshold test: fails when the Table-2 arena grows past the
    /// targets, int8 <= 1.5 MiB and f32 <= 6 MiB, on every variant. The arena is everything
    /// inference writes: the activations and every kernel's scratch (row-banded input copies).
    @Test(arguments: KernelVariant.allCases.filter(\.isSupported))
    func cnnArenaStaysSmall(variant: KernelVariant) throws {
        let int8Limit = 3 << 19, f32Limit = 6 << 20
        let int8 = Interpreter(model: try Model(path: Fixtures.int8Model).file, kernelVariant: variant).arenaPlan
        #expect(int8.totalBytes <= int8Limit, "\(variant): int8 arena \(int8.totalBytes) B exceeds \(int8Limit) B")
        // The activation peak is conv2: its input (32 channels) and output (16 channels) at 128x128, int8.
        #expect(int8.activationBytes == (32 + 16) * 128 * 128, "int8 activations changed: \(int8.activationBytes) B")
        let f32 = Interpreter(model: try Model(path: Fixtures.f32Model).file, kernelVariant: variant).arenaPlan
        #expect(f32.totalBytes <= f32Limit, "\(variant): f32 arena \(f32.totalBytes) B exceeds \(f32Limit) B")
        #expect(f32.activationBytes == 4 * (32 + 16) * 128 * 128, "f32 activations changed: \(f32.activationBytes) B")
    }

    /// The int8 logits equal the numpy reference's (fixtures/expected, written by roentgen-reference) bit for bit.
    @Test func int8LogitsEqualTheReference() throws {
        let classifier = Classifier(model: try Model(path: Fixtures.int8Model))
        let lines = try String(contentsOfFile: Fixtures.path("fixtures/expected/cnn-int8.jsonl"), encoding: .utf8)
            .split(separator: "\n")
        #expect(lines.count == (try Fixtures.images().count) + 33, "fixtures/images and fixtures/heldout")
        for line in lines {
            let expected = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let path = expected["path"] as! String
            let result = try classifier.classify(path: Fixtures.path(path))
            let logits = (expected["logits"] as! [Double]).map { Float($0) }
            #expect(result.scores == logits, "\(path)")
            #expect(result.index == expected["index"] as! Int, "\(path)")
            #expect(result.label == expected["label"] as! String)
        }
    }

    /// The trained CNN and the SVM model name the held-out DRRs (a seed never used in training) right.
    @Test(arguments: [Fixtures.int8Model, Fixtures.svmInt8Model])
    func heldOutRadiographsAreClassified(modelPath: String) throws {
        let classifier = Classifier(model: try Model(path: modelPath))
        let rows = try String(contentsOfFile: Fixtures.path("fixtures/heldout/labels.csv"), encoding: .utf8)
            .split(separator: "\n").dropFirst().map { $0.split(separator: ",").map(String.init) }
        #expect(rows.count == 33)
        var correct = 0
        for row in rows {
            let result = try classifier.classify(path: Fixtures.path("fixtures/heldout/" + row[0]))
            if result.label == row[1] { correct += 1 }
            // Both shipped models are calibrated (a CONFIDENCE section): the SVM has probabilities too.
            #expect(result.probabilities != nil && result.uncertain != nil, "\(modelPath): calibrated probabilities")
        }
        // the issue's bars on held-out DRRs, rounded up to whole images: CNN >= 95 %, SVM >= 92 %
        let minimum = modelPath == Fixtures.svmInt8Model ? 31 : 32
        #expect(correct >= minimum, "\(modelPath): \(correct) of \(rows.count) held-out images right")
    }

    @Test func badImagesAreErrorsNamingTheFile() throws {
        let classifier = Classifier(model: try Model(path: Fixtures.int8Model))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("roentgen-bad-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let text = folder.appendingPathComponent("notes.png").path
        try Data("this is not a png".utf8).write(to: URL(fileURLWithPath: text))
        let good = try Fixtures.images()[0]
        let truncated = folder.appendingPathComponent("truncated.png").path
        let bytes = try Data(contentsOf: URL(fileURLWithPath: good))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: truncated))
        for path in [text, truncated, folder.appendingPathComponent("missing.png").path] {
            #expect(throws: RoentgenError.self) { try classifier.classify(path: path) }
            do { _ = try classifier.classify(path: path) } catch {
                #expect(error.description.hasPrefix(path))
                #expect(!error.description.contains("\n"))
            }
        }
        // The classifier still works after failures.
        #expect(try classifier.classify(path: good).probabilities?.count == 11)
    }

    @Test func modelErrorsNameTheFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("roentgen-\(getpid()).rtg").path
        try Data(try Data(contentsOf: URL(fileURLWithPath: Fixtures.int8Model)).prefix(5000)).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        do { _ = try Model(path: path); Issue.record("a truncated model loaded") } catch {
            #expect(error.description == "\(path): header.file_size: the header says \((try Data(contentsOf: URL(fileURLWithPath: Fixtures.int8Model))).count) bytes but the file has 5000 (truncated or appended to)")
        }
    }

    @Test func softmaxIsStable() {
        let p = softmax([1000, 1000, -1000])
        #expect(abs(p[0] - 0.5) < 1e-12 && abs(p[1] - 0.5) < 1e-12 && p[2] == 0)
    }
}
