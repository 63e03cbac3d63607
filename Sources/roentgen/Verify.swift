// `roentgen verify --float F32 --int8 INT8 DATA`: the int8 model against its float model on this
// box, with this runtime: accuracy of both, top-1 agreement, probability differences, the images
// they disagree on, per-layer SQNR and cosine similarity, confusion matrices (PNG + CSV) and a JSON
// report. Exit status 2 when the gate fails (agreement or accuracy drop), 1 on errors.

import ArgumentParser
import Foundation
import Roentgen
import RoentgenFormat

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare an int8 model with its float model: accuracy, agreement, per-layer error.",
        discussion: """
        DATA is a folder of class folders (the folder names are the labels; PNG and DICOM files found \
        by content, DICOMDIRs read as indexes) or a CSV of path,label (paths relative to the CSV). \
        Images without labels still count for the agreement. Exit status: 0 passed, 2 the gate \
        failed (agreement below --min-agreement, or int8 accuracy more than --max-drop below \
        float), 1 an error.
        """)

    @Option(name: .customLong("float"), help: "The float32 model (.rtg).") var floatModel: String
    @Option(name: .customLong("int8"), help: "The int8 (or mixed) model (.rtg).") var int8Model: String
    @Argument(help: "A folder of class folders, or a CSV of path,label.") var data: String
    @Option(name: .customLong("min-agreement"), help: "Fail when top-1 agreement is below this fraction.") var minAgreement: Double = 0.99
    @Option(name: .customLong("max-drop"), help: "Fail when int8 accuracy is more than this fraction below float accuracy.") var maxDrop: Double = 0.01
    @Option(name: .customLong("report"), help: "Write report.json, confusion.png and CSVs into this folder.") var report: String?
    @Flag(help: "Print the summary as one JSON object on stdout.") var json = false
    @Flag(name: .customLong("no-layers"), help: "Skip the per-layer comparison (faster).") var noLayers = false

    func validate() throws {
        guard (0...1).contains(minAgreement) else { throw ValidationError("--min-agreement must be in [0, 1]") }
        guard maxDrop >= 0 else { throw ValidationError("--max-drop must be >= 0") }
    }

    func run() throws {
        let floatLoaded = try loadModel(floatModel), int8Loaded = try loadModel(int8Model)
        let verifier: Verifier
        let images: [LabeledImage]
        let truth: [Int?]
        var listProblems: [(path: String, message: String)] = []
        do {
            verifier = try Verifier(float: floatLoaded, int8: int8Loaded, compareLayers: !noLayers)
            images = try DataSet.list(data, problems: &listProblems)
            truth = try DataSet.classIndices(images, labels: verifier.labels, dataPath: data)
        } catch {
            throw fail(error.description)
        }
        let progress = ProgressBar(total: images.count, enabled: isatty(2) != 0)
        let result = verifier.run(images, truth: truth, progress: progress.update)
        progress.finish()
        for (path, message) in listProblems + result.failures {
            FileHandle.standardError.write(Data("roentgen: error: \(path): \(message)\n".utf8))
        }
        guard result.metrics.count > 0 else { throw fail("\(data): no image could be read") }

        let gate = gateFailures(result.metrics)
        let summary = summaryFields(result, gate: gate)
        if let report {
            do { try writeReport(result, summary: summary, models: (floatLoaded, int8Loaded), to: report) } catch {
                throw fail("\(report): \(error)")
            }
        }
        if json {
            print(JSON.line(summary))
        } else {
            printText(result)
        }
        for reason in gate { FileHandle.standardError.write(Data("roentgen: verify failed: \(reason)\n".utf8)) }
        if !gate.isEmpty { throw ExitCode(2) }
        if !result.failures.isEmpty || !listProblems.isEmpty { throw ExitCode.failure }
    }

    private func gateFailures(_ m: VerificationMetrics) -> [String] {
        var reasons: [String] = []
        if m.agreement < minAgreement {
            reasons.append(String(format: "top-1 agreement %.4f < --min-agreement %.4f", m.agreement, minAgreement))
        }
        if let drop = m.accuracyDrop, drop > maxDrop {
            reasons.append(String(format: "int8 accuracy %.4f is %.4f below float %.4f (> --max-drop %.4f)",
                                  m.int8Accuracy!, drop, m.floatAccuracy!, maxDrop))
        }
        return reasons
    }

    private func optional(_ v: Double?) -> JSON { v.map { .double($0) } ?? .null }

    private func summaryFields(_ r: VerificationResult, gate: [String]) -> [(String, JSON)] {
        let m = r.metrics
        return [
            ("images", .int(m.count)), ("labelled_images", .int(m.labelledCount)), ("unreadable_images", .int(r.failures.count)),
            ("agreement", .double(m.agreement)),
            ("float_accuracy", optional(m.floatAccuracy)), ("int8_accuracy", optional(m.int8Accuracy)),
            ("accuracy_drop", optional(m.accuracyDrop)),
            ("mean_abs_probability_difference", .double(m.meanAbsDifference)),
            ("max_abs_probability_difference", .double(m.maxAbsDifference)),
            ("disagreements", .int(m.disagreements.count)),
            ("worst_layer", r.worstLayer.map { .string($0.name) } ?? .null),
            ("worst_layer_sqnr_drop_db", r.worstLayer.map { .double($0.sqnrDrop) } ?? .null),
            ("images_per_second", .double(r.imagesPerSecond)),
            ("float_inference_images_per_second", .double(r.floatImagesPerSecond)),
            ("int8_inference_images_per_second", .double(r.int8ImagesPerSecond)),
            ("min_agreement", .double(minAgreement)), ("max_drop", .double(maxDrop)),
            ("passed", .bool(gate.isEmpty)), ("gate_failures", .array(gate.map { .string($0) })),
        ]
    }

    // MARK: text

    private func percent(_ v: Double?) -> String { v.map { String(format: "%.2f %%", $0 * 100) } ?? "n/a (no labels)" }

    private func printText(_ r: VerificationResult) {
        let m = r.metrics, labels = m.labels
        print("verify: \(int8Model) against \(floatModel) on \(m.count) images (\(m.labelledCount) labelled)")
        print("  float accuracy   \(percent(m.floatAccuracy))")
        print("  int8 accuracy    \(percent(m.int8Accuracy))" + (m.accuracyDrop.map { String(format: "   (drop %.2f points)", $0 * 100) } ?? ""))
        print("  top-1 agreement  \(percent(m.agreement))   (\(m.disagreements.count) disagreements)")
        print(String(format: "  |p_float - p_int8|  mean %.5f  max %.5f", m.meanAbsDifference, m.maxAbsDifference))
        print(String(format: "  speed  %.1f images/s overall; inference alone: float %.1f, int8 %.1f images/s",
                     r.imagesPerSecond, r.floatImagesPerSecond, r.int8ImagesPerSecond))
        if m.hasLabels {
            print("  per-class recall (float / int8):")
            let width = labels.map(\.count).max() ?? 0
            for i in labels.indices where m.floatConfusion.rowTotal(i) > 0 {
                print(String(format: "    %@  %6.2f %%  %6.2f %%  (%d images)",
                             labels[i].padding(toLength: width, withPad: " ", startingAt: 0),
                             m.floatConfusion.recall(i)! * 100, m.int8Confusion.recall(i)! * 100, m.floatConfusion.rowTotal(i)))
            }
        }
        if !m.disagreements.isEmpty {
            print("  disagreements (path: float -> int8):")
            for d in m.disagreements.prefix(20) {
                print("    \(d.path): \(labels[d.floatIndex]) -> \(labels[d.int8Index])" + (d.truth.map { " (true: \(labels[$0]))" } ?? ""))
            }
            if m.disagreements.count > 20 { print("    ... \(m.disagreements.count - 20) more (see --report)") }
        }
        if !r.layers.isEmpty {
            print("  per-layer error (int8 vs float, mean over images):")
            let width = max(r.layers.map(\.name.count).max() ?? 0, 5)
            print("    " + "layer".padding(toLength: width, withPad: " ", startingAt: 0) + "  op          dtype    SQNR dB   cosine")
            for l in r.layers {
                let mark = l.name == r.worstLayer?.name ? "  <- worst (error jumps \(String(format: "%.1f", r.worstLayer!.sqnrDrop)) dB)" : ""
                print("    " + l.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                      + l.kind.padding(toLength: 11, withPad: " ", startingAt: 0) + " "
                      + l.dtype.padding(toLength: 8, withPad: " ", startingAt: 0)
                      + String(format: "%8.2f  %7.5f", l.meanSQNR, l.meanCosine) + mark)
            }
        }
        if let report { print("  report: \(report)") }
    }

    // MARK: report folder

    private func writeReport(_ r: VerificationResult, summary: [(String, JSON)], models: (Model, Model), to dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        func write(_ name: String, _ text: String) throws {
            try Data(text.utf8).write(to: URL(fileURLWithPath: dir).appendingPathComponent(name))
        }
        let m = r.metrics, labels = m.labels
        var panels: [ConfusionPanel] = []
        if m.hasLabels {
            try write("confusion_float.csv", m.floatConfusion.csv(corner: "true\\predicted"))
            try write("confusion_int8.csv", m.int8Confusion.csv(corner: "true\\predicted"))
            panels.append(ConfusionPanel(title: "float32: accuracy " + percent(m.floatAccuracy), matrix: m.floatConfusion))
            panels.append(ConfusionPanel(title: "int8: accuracy " + percent(m.int8Accuracy), matrix: m.int8Confusion))
        }
        try write("agreement.csv", m.agreementMatrix.csv(corner: "float\\int8"))
        panels.append(ConfusionPanel(title: "float32 vs int8: agreement " + percent(m.agreement), matrix: m.agreementMatrix,
                                     rowAxis: "float32 prediction", columnAxis: "int8 prediction"))
        let png = try ConfusionPicture.png(panels)
        try Data(png).write(to: URL(fileURLWithPath: dir).appendingPathComponent("confusion.png"))

        var layerCSV = "layer,op_index,op,dtype,images,mean_sqnr_db,min_sqnr_db,mean_cosine,max_abs_error,quantize_step\n"
        for l in r.layers {
            layerCSV += "\(ConfusionMatrix.csvQuote(l.name)),\(l.opIndex),\(l.kind),\(l.dtype),\(l.images),\(l.meanSQNR),\(l.minSQNR),\(l.meanCosine),\(l.maxAbsError),\(l.isQuantizeStep)\n"
        }
        try write("layers.csv", layerCSV)
        var disagreeCSV = "path,float,int8,true\n"
        for d in m.disagreements {
            disagreeCSV += [d.path, labels[d.floatIndex], labels[d.int8Index], d.truth.map { labels[$0] } ?? ""].map(ConfusionMatrix.csvQuote).joined(separator: ",") + "\n"
        }
        try write("disagreements.csv", disagreeCSV)

        func matrix(_ c: ConfusionMatrix) -> JSON { .array(c.counts.map { .array($0.map { .int($0) }) }) }
        func model(_ x: Model) -> JSON {
            .object([("path", .string(x.path)), ("sha256", .string(SHA256.hex(x.file.checksum))), ("precision", .string(x.file.precision)),
                     ("provenance", .object(x.file.provenance.map { ($0.key, .string($0.value)) }))])
        }
        var fields = summary
        fields += [
            ("float_model", model(models.0)), ("int8_model", model(models.1)),
            ("data", .string(data)),
            ("labels", .array(labels.map { .string($0) })),
            ("per_class", .array(labels.indices.map { i in
                .object([("label", .string(labels[i])), ("images", .int(m.floatConfusion.rowTotal(i))),
                         ("float_recall", optional(m.floatConfusion.recall(i))), ("int8_recall", optional(m.int8Confusion.recall(i)))])
            })),
            ("confusion_float", m.hasLabels ? matrix(m.floatConfusion) : .null),
            ("confusion_int8", m.hasLabels ? matrix(m.int8Confusion) : .null),
            ("agreement_matrix", matrix(m.agreementMatrix)),
            ("layers", .array(r.layers.map { l in
                .object([("name", .string(l.name)), ("op_index", .int(l.opIndex)), ("op", .string(l.kind)), ("dtype", .string(l.dtype)),
                         ("quantize_step", .bool(l.isQuantizeStep)), ("images", .int(l.images)),
                         ("mean_sqnr_db", .double(l.meanSQNR)), ("min_sqnr_db", .double(l.minSQNR)),
                         ("mean_cosine", .double(l.meanCosine)), ("max_abs_error", .double(l.maxAbsError))])
            })),
            ("disagreement_list", .array(m.disagreements.map { d in
                .object([("path", .string(d.path)), ("float", .string(labels[d.floatIndex])), ("int8", .string(labels[d.int8Index])),
                         ("true", d.truth.map { .string(labels[$0]) } ?? .null), ("max_abs_probability_difference", .double(d.maxAbsDifference))])
            })),
            ("unreadable", .array(r.failures.map { .object([("path", .string($0.path)), ("error", .string($0.message))]) })),
            ("seconds", .double(r.seconds)),
            ("files", .array(["report.json", "confusion.png", "agreement.csv", "layers.csv", "disagreements.csv"]
                .map { .string($0) } + (m.hasLabels ? [.string("confusion_float.csv"), .string("confusion_int8.csv")] : []))),
        ]
        try write("report.json", JSON.line(fields) + "\n")
    }
}

/// `[#####.....] 45/120` on stderr, redrawn in place; nothing when stderr is not a terminal.
final class ProgressBar {
    let total: Int
    let enabled: Bool
    private var lastDrawn = -1.0
    private let start = Clock.now()

    init(total: Int, enabled: Bool) { self.total = total; self.enabled = enabled }

    func update(_ done: Int) {
        guard enabled else { return }
        let now = Clock.now()
        guard done == total || now - lastDrawn > 0.1 else { return }
        lastDrawn = now
        let width = 30, filled = total > 0 ? width * done / total : width
        let rate = Double(done) / max(now - start, 1e-9)
        let line = "\r[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            + "] \(done)/\(total)  " + String(format: "%.1f images/s", rate)
        FileHandle.standardError.write(Data(line.utf8))
    }

    func finish() {
        if enabled { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
