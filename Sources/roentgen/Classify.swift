// `roentgen classify MODEL PATH...`: one line (or one JSON object) per image. A failed image is
// reported and skipped; the exit status says whether any failed.

import ArgumentParser
import Foundation
import Roentgen
import RoentgenImage

struct Classify: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Classify PNG and DICOM images (files, or folders searched recursively).")

    @Argument(help: "The model file (.rtg).") var model: String
    @Argument(help: "PNG or DICOM files, or folders (files are recognized by content, not by name).") var paths: [String]
    @Flag(help: "One JSON object per line.") var json = false
    @Option(name: .customLong("top-k"), help: "Also list the K most probable classes.") var topK: Int = 1
    @Option(help: "Threads for inference (a persistent worker per extra thread).") var threads: Int = 1
    @Option(name: .customLong("min-confidence"),
            help: "Report an image whose top probability is below this as uncertain (default: the model's).")
    var minConfidence: Double?
    @Option(help: ArgumentHelp("DICOM: window with this center and width instead of the file's VOI LUT.", valueName: "C,W"))
    var window: String?
    @Flag(name: .customLong("full-range"), help: "DICOM: map the full range of the pixel values instead of the file's window.")
    var fullRange = false

    /// --window / --full-range as the reader's option.
    func dicomWindow() throws -> DICOMReader.Window { try DICOMWindowOption.parse(window: window, fullRange: fullRange) }

    func validate() throws {
        guard topK >= 1 else { throw ValidationError("--top-k must be at least 1") }
        guard (1...64).contains(threads) else { throw ValidationError("--threads must be in 1...64") }
        if let p = minConfidence, !(0...1).contains(p) { throw ValidationError("--min-confidence must be in [0, 1]") }
        _ = try dicomWindow()
    }

    func run() throws {
        let loaded = try loadModel(model)
        if minConfidence != nil, loaded.file.confidence == nil, loaded.outputKind != .logits {
            throw RoentgenError(path: model, message: "--min-confidence: this SVM model has no probabilities (no CONFIDENCE section; convert with --temperature)")
        }
        let classifier = Classifier(model: loaded, threads: threads)
        classifier.minConfidence = minConfidence
        classifier.window = try dicomWindow()
        let k = min(topK, loaded.labels.count)
        var failures = 0
        for entry in paths {
            let images: [String]
            do { images = try imageFiles(at: entry) } catch {
                failures += 1
                report(path: entry, error: "\(error)")
                continue
            }
            for path in images {
                do {
                    let result = try classifier.classify(path: path)
                    print(json ? jsonLine(result, topK: k, labels: loaded.labels, outputKind: loaded.outputKind) : textLine(result, topK: k, labels: loaded.labels))
                } catch {
                    failures += 1
                    report(path: path, error: error.message)
                }
            }
        }
        if failures > 0 { throw ExitCode.failure }
    }

    private func report(path: String, error: String) {
        if json {
            print(JSON.line([("path", .string(path)), ("error", .string(error))]))
        } else {
            FileHandle.standardError.write(Data("roentgen: error: \(path): \(error)\n".utf8))
        }
    }

    private func ranked(_ r: Classification, _ k: Int) -> [Int] {
        Array(r.scores.indices.sorted { r.rank($0) > r.rank($1) || (r.rank($0) == r.rank($1) && $0 < $1) }.prefix(k))
    }

    private func textLine(_ r: Classification, topK k: Int, labels: [String]) -> String {
        let best = ranked(r, k).map { i in
            "\(labels[i]) " + (r.probabilities.map { String(format: "%.4f", $0[i]) } ?? String(format: "decision %.3f", r.scores[i]))
        }
        let answer = r.uncertain == true ? "uncertain (best guess \(best.joined(separator: ", ")))" : best.joined(separator: ", ")
        return "\(r.path)\t\(answer)\t\(String(format: "%.2f", r.latencyMs)) ms"
    }

    private func jsonLine(_ r: Classification, topK k: Int, labels: [String], outputKind: OutputKind) -> String {
        var fields: [(String, JSON)] = [("path", .string(r.path)), ("label", .string(r.label)), ("index", .int(r.index))]
        if let probabilities = r.probabilities {
            fields += [("probability", .double(probabilities[r.index])), ("uncertain", .bool(r.uncertain!)),
                       ("probabilities", .array(probabilities.map { .double($0) }))]
        }
        fields.append((outputKind == .logits ? "logits" : "decision_values", .array(r.scores.map { .float($0) })))
        if let h = r.dicom {
            func text(_ s: String?) -> JSON { s.map(JSON.string) ?? .null }
            fields.append(("dicom", .object([
                ("sop_instance_uid", text(h.sopInstanceUID)), ("study_instance_uid", text(h.studyInstanceUID)),
                ("modality", text(h.modality)), ("body_part_examined", text(h.bodyPartExamined)),
                ("view_position", text(h.viewPosition)), ("transfer_syntax_uid", .string(h.transferSyntaxUID))])))
        }
        fields += [("latency_ms", .double(r.latencyMs)), ("inference_ms", .double(r.inferenceMs))]
        if k > 1 {
            fields.append(("top_k", .array(ranked(r, k).map { i in
                .object([("label", .string(labels[i])), ("index", .int(i)),
                         r.probabilities.map { ("probability", .double($0[i])) } ?? ("decision_value", .float(r.scores[i]))])
            })))
        }
        return JSON.line(fields)
    }
}

struct PathError: Error, CustomStringConvertible {
    let description: String
}

/// A file is taken as given (the decoder says if it is neither a PNG nor a DICOM file); a folder
/// is searched recursively, in sorted order so runs are reproducible, for *.png files and for
/// files whose first bytes are a PNG or DICOM start (PACS exports often have no extension).
func imageFiles(at path: String) throws -> [String] {
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else { throw PathError(description: "no such file or folder") }
    guard isFolder.boolValue else { return [path] }
    guard let walker = FileManager.default.enumerator(atPath: path) else { throw PathError(description: "cannot read folder") }
    var found: [String] = []
    while let relative = walker.nextObject() as? String {
        let full = path.hasSuffix("/") ? path + relative : path + "/" + relative
        let type = walker.fileAttributes?[.type] as? FileAttributeType
        guard type == .typeRegular || type == .typeSymbolicLink else { continue }
        let name = relative.lowercased()
        if name == "dicomdir" || name.hasSuffix("/dicomdir") { continue }   // the index of a DICOM folder, not an image
        if name.hasSuffix(".png") || name.hasSuffix(".dcm") || InputImage.isImageFile(full) { found.append(full) }
    }
    guard !found.isEmpty else { throw PathError(description: "folder has no PNG or DICOM files") }
    return found.sorted()
}
