import Foundation
import Testing
import Roentgen
import RoentgenImage

@Suite struct VerificationTests {
    static func temporaryFolder(_ name: String) throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("roentgen-verify-\(name)-\(getpid())").path
        try? FileManager.default.removeItem(atPath: folder)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        return folder
    }

    // MARK: per-layer capture

    /// invoke(afterEach:) runs the same steps as invoke(): one call per op, in file order, and the
    /// same logits bit for bit.
    @Test(arguments: [Fixtures.int8Model, Fixtures.f32Model])
    func afterEachSeesEveryOpAndChangesNothing(modelPath: String) throws {
        let model = try Model(path: modelPath)
        let a = Interpreter(model: model.file), b = Interpreter(model: model.file)
        let image = try PNGDecoder.decode(contentsOf: try Fixtures.images()[1])
        Preprocess.tensor(from: image, spec: model.preprocessSpec, into: a.input)
        Preprocess.tensor(from: image, spec: model.preprocessSpec, into: b.input)
        a.invoke()
        var seen: [Int] = []
        b.invoke { op in seen.append(op.index) }
        #expect(seen == Array(0..<model.file.ops.count))
        #expect(Array(a.logits) == Array(b.logits))
    }

    /// A model compared with itself: every layer exact (SQNR at the cap, cosine 1).
    @Test func aModelAgainstItselfIsExact() throws {
        let model = try Model(path: Fixtures.f32Model)
        let f = Interpreter(model: model.file), g = Interpreter(model: model.file)
        let comparator = try LayerComparator(float: f, int8: g)
        for path in try Fixtures.images().prefix(2) {
            let image = try PNGDecoder.decode(contentsOf: path)
            Preprocess.tensor(from: image, spec: model.preprocessSpec, into: f.input)
            Preprocess.tensor(from: image, spec: model.preprocessSpec, into: g.input)
            comparator.compare()
        }
        #expect(comparator.layers.count == model.file.ops.count)
        for layer in comparator.layers {
            #expect(layer.images == 2)
            #expect(layer.meanSQNR == LayerComparator.sqnrCap, "\(layer.name)")
            #expect(abs(layer.meanCosine - 1) < 1e-12, "\(layer.name)")
        }
    }

    /// int8 against f32 on the shipped CNN: the layers pair up by name, the input quantization
    /// is the baseline, and each SQNR equals one computed independently from the two arenas.
    @Test func int8AgainstFloatPerLayer() throws {
        let fm = try Model(path: Fixtures.f32Model), qm = try Model(path: Fixtures.int8Model)
        let verifier = try Verifier(float: fm, int8: qm)
        let images = try Fixtures.images().prefix(3).map { LabeledImage(path: $0, label: nil) }
        let result = verifier.run(Array(images), truth: [nil, nil, nil])
        let names = result.layers.map(\.name)
        #expect(names.first == "input.q")
        #expect(names.contains("conv1") && names.contains("pool4") && names.last == "logits")
        #expect(result.layers.first!.isQuantizeStep)
        for layer in result.layers {
            #expect(layer.images == 3)
            #expect(layer.meanSQNR > 5, "\(layer.name): \(layer.meanSQNR) dB")
            #expect(layer.meanCosine > 0.9 && layer.meanCosine <= 1.0000001, "\(layer.name)")
        }
        #expect(result.worstLayer != nil && result.worstLayer!.name != "input.q")
        #expect(result.metrics.count == 3 && !result.metrics.hasLabels)

        // conv1 recomputed by hand: float conv1 vs dequantized int8 conv1 of the first image
        let f = Interpreter(model: fm.file), q = Interpreter(model: qm.file)
        let image = try PNGDecoder.decode(contentsOf: images[0].path)
        Preprocess.tensor(from: image, spec: fm.preprocessSpec, into: f.input)
        Preprocess.tensor(from: image, spec: qm.preprocessSpec, into: q.input)
        var reference: [Float] = []
        f.invoke { op in
            let t = fm.file.tensors[op.output]
            if t.name == "conv1" { reference = Array(UnsafeBufferPointer(start: f.arena.pointer(t.index, as: Float.self), count: t.elementCount)) }
        }
        var dequantized: [Float] = []
        q.invoke { op in
            let t = qm.file.tensors[op.output]
            if t.name == "conv1" {
                let p = q.arena.pointer(t.index, as: Int8.self), s = t.quantization!.scales[0], z = t.quantization!.zeroPoints[0]
                dequantized = (0..<t.elementCount).map { Float(Int32(p[$0]) - z) * s }
            }
        }
        let stats = reference.withUnsafeBufferPointer { r in
            dequantized.withUnsafeBufferPointer { LayerComparator.statistics(reference: r, values: $0) }
        }
        var signal = 0.0, noise = 0.0
        for (a, b) in zip(reference, dequantized) { signal += Double(a) * Double(a); noise += (Double(a) - Double(b)) * (Double(a) - Double(b)) }
        #expect(abs(stats.sqnr - 10 * log10(signal / noise)) < 1e-9)
        // the single-image value is in the range the averaged run reported for conv1
        let conv1 = result.layers.first { $0.name == "conv1" }!
        #expect(stats.sqnr >= conv1.minSQNR - 1e-9)
    }

    @Test func statisticsOfKnownVectors() {
        let f: [Float] = [1, 2, 3, 4], noisy: [Float] = [1.1, 2, 3, 4]
        let s = f.withUnsafeBufferPointer { a in noisy.withUnsafeBufferPointer { LayerComparator.statistics(reference: a, values: $0) } }
        let expected = 10 * log10(30.0 / (Double(Float(1.1)) - 1) / (Double(Float(1.1)) - 1))
        #expect(abs(s.sqnr - expected) < 1e-6)
        #expect(s.cosine > 0.999 && s.cosine < 1)
        let exact = f.withUnsafeBufferPointer { a in f.withUnsafeBufferPointer { LayerComparator.statistics(reference: a, values: $0) } }
        #expect(exact.sqnr == LayerComparator.sqnrCap && exact.cosine == 1 && exact.maxAbsError == 0)
        let zeros: [Float] = [0, 0, 0, 0]
        let z = zeros.withUnsafeBufferPointer { a in zeros.withUnsafeBufferPointer { LayerComparator.statistics(reference: a, values: $0) } }
        #expect(z.sqnr == LayerComparator.sqnrCap && z.cosine == 1)
        let opposite = f.map { -$0 }
        let o = f.withUnsafeBufferPointer { a in opposite.withUnsafeBufferPointer { LayerComparator.statistics(reference: a, values: $0) } }
        #expect(abs(o.cosine + 1) < 1e-12 && o.sqnr < 0)
    }

    /// The worst layer is where the SQNR drops most from the row before it, not the lowest SQNR.
    @Test func worstLayerIsTheLargestJump() {
        func layer(_ name: String, _ sqnr: Double, quantize: Bool = false) -> LayerError {
            var l = LayerError(name: name, opIndex: 0, kind: quantize ? "QUANTIZE" : "CONV2D", dtype: "int8", isQuantizeStep: quantize)
            l.add(.init(sqnr: sqnr, cosine: 1, maxAbsError: 0))
            return l
        }
        let layers = [layer("input.q", 45, quantize: true), layer("conv1", 35), layer("conv2", 10), layer("conv3", 8), layer("logits", 7)]
        let worst = LayerComparator.worstLayer(layers)!
        #expect(layers[worst.index].name == "conv2" && worst.drop == 25)
        // a QUANTIZE step is never named, even when its own error is the largest jump
        let q = [layer("input.q", 5, quantize: true), layer("conv1", 4)]
        #expect(q[LayerComparator.worstLayer(q)!.index].name == "conv1")
    }

    // MARK: data sets

    @Test func folderOfClassFolders() throws {
        let root = try Self.temporaryFolder("folder")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let png = try Data(contentsOf: URL(fileURLWithPath: try Fixtures.images()[0]))
        for (folder, file) in [("chest PA", "a.png"), ("hand", "b.png"), ("hand/more", "c.png"), ("", "loose.png")] {
            let dir = folder.isEmpty ? root : root + "/" + folder
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try png.write(to: URL(fileURLWithPath: dir + "/" + file))
        }
        try Data("x".utf8).write(to: URL(fileURLWithPath: root + "/hand/notes.txt"))
        let images = try DataSet.list(root)
        #expect(images.map(\.label) == ["chest PA", "hand", "hand", nil])
        #expect(images.map { ($0.path as NSString).lastPathComponent } == ["a.png", "b.png", "c.png", "loose.png"])
        let labels = ["chest PA", "hand", "foot"]
        #expect(try DataSet.classIndices(images, labels: labels, dataPath: root) == [0, 1, 1, nil])
        #expect(throws: RoentgenError.self) { try DataSet.classIndices(images, labels: ["chest PA"], dataPath: root) }
    }

    @Test func csvListing() throws {
        let root = try Self.temporaryFolder("csv")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let csv = root + "/list.csv"
        try Data("path,label\n# comment\nimg/a.png,hand\n\"img/b,c.png\",\"chest PA\"\n/abs/d.png,\nimg/e.png\n".utf8)
            .write(to: URL(fileURLWithPath: csv))
        let images = try DataSet.list(csv)
        #expect(images == [LabeledImage(path: root + "/img/a.png", label: "hand"),
                           LabeledImage(path: root + "/img/b,c.png", label: "chest PA"),
                           LabeledImage(path: "/abs/d.png", label: nil),
                           LabeledImage(path: root + "/img/e.png", label: nil)])
        do {
            _ = try DataSet.classIndices(images, labels: ["hand", "foot"], dataPath: csv)
            Issue.record("a label the model lacks must be an error")
        } catch {
            #expect(error.message.contains("chest PA"))
        }
        #expect(throws: RoentgenError.self) { try DataSet.list(root + "/missing.csv") }
    }

    // MARK: metrics and pictures

    @Test func metricsCountAgreementAccuracyAndRecall() {
        var m = VerificationMetrics(labels: ["a", "b", "c"])
        m.add(path: "1", truth: 0, floatScores: [0.8, 0.1, 0.1], int8Scores: [0.7, 0.2, 0.1])  // both right
        m.add(path: "2", truth: 1, floatScores: [0.2, 0.7, 0.1], int8Scores: [0.6, 0.3, 0.1])  // int8 wrong
        m.add(path: "3", truth: 1, floatScores: [0.6, 0.3, 0.1], int8Scores: [0.6, 0.3, 0.1])  // both wrong
        m.add(path: "4", truth: nil, floatScores: [0.1, 0.1, 0.8], int8Scores: [0.1, 0.1, 0.8])
        #expect(m.count == 4 && m.labelledCount == 3)
        #expect(m.agreement == 0.75)
        #expect(m.floatAccuracy == 2.0 / 3 && m.int8Accuracy == 1.0 / 3)
        #expect(abs(m.accuracyDrop! - 1.0 / 3) < 1e-12)
        #expect(m.floatConfusion.recall(1) == 0.5 && m.int8Confusion.recall(1) == 0 && m.floatConfusion.recall(2) == nil)
        #expect(m.disagreements.map(\.path) == ["2"])
        #expect(abs(m.maxAbsDifference - 0.4) < 1e-12)
        #expect(m.agreementMatrix.counts == [[2, 0, 0], [1, 0, 0], [0, 0, 1]])
        #expect(m.int8Confusion.csv(corner: "true\\predicted") == "true\\predicted,a,b,c\na,1,0,0\nb,2,0,0\nc,0,0,0\n")
    }

    @Test func confusionPictureIsAReadablePNG() throws {
        var c = ConfusionMatrix(labels: ["chest_pa", "hand", "ribs oblique, left"])
        for (r, col) in [(0, 0), (0, 0), (1, 1), (1, 2), (2, 2)] { c.add(row: r, column: col) }
        let bytes = try ConfusionPicture.png([ConfusionPanel(title: "float32", matrix: c), ConfusionPanel(title: "int8", matrix: c)])
        let image = try bytes.withUnsafeBytes { try PNGDecoder.decode($0, path: nil) }
        #expect(image.width > 2 * (3 * 40) && image.height > 3 * 40)
        #expect(image.channels == 3 && image.bitDepth == 8)
        // text is drawn: the row-label strip left of the first grid holds dark pixels
        var dark = 0
        for y in 0..<image.height {
            for x in 0..<60 where image.samples[(y * image.width + x) * 3] < 80 { dark += 1 }
        }
        #expect(dark > 100)
    }
}
