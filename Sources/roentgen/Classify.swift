// `roentgen classify MODEL PATH...`: one line (or one JSON object) per image. A failed image is
// reported and skipped; the exit status says whether any failed.

import ArgumentParser
import Foundation
import Roentgen
import RoentgenImage

struct Classify: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Classify PNG and DICOM images (files, or folders searched recursively).")

    @Argument(help: "The model file (.rtg).") var model: String
    @Argument(help: "PNG or DICOM files, or folders (files are recognized by content, not by name; a DICOMDIR is read as the index of its folder).") var paths: [String]
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
    @Option(name: .customLong("dicom-terms"),
            help: ArgumentHelp("DICOM: the class-to-header-terms file (e.g. fixtures/models/dicom-terms.tsv); reports header_mismatch.", valueName: "FILE"))
    var dicomTerms: String?

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
        var terms: DICOMTerms? = nil
        if let dicomTerms {
            do { terms = try DICOMTerms(contentsOf: dicomTerms, labels: loaded.labels) } catch { throw fail(error.description) }
        }
        let k = min(topK, loaded.labels.count)
        var failures = 0
        for entry in paths {
            let images: [String]
            do {
                let (found, problems) = try imageFiles(at: entry)
                images = found
                for p in problems {
                    failures += 1
                    report(path: p.path, error: p.message)
                }
            } catch {
                failures += 1
                report(path: entry, error: "\(error)")
                continue
            }
            for path in images {
                do {
                    let result = try classifier.classify(path: path)
                    let mismatch = result.dicom.flatMap { terms?.mismatch(label: result.label, uncertain: result.uncertain, header: $0) }
                    print(json ? jsonLine(result, topK: k, labels: loaded.labels, outputKind: loaded.outputKind, mismatch: mismatch)
                               : textLine(result, topK: k, labels: loaded.labels, mismatch: mismatch))
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

    private func textLine(_ r: Classification, topK k: Int, labels: [String], mismatch: (mismatch: Bool, reason: String?)?) -> String {
        let best = ranked(r, k).map { i in
            "\(labels[i]) " + (r.probabilities.map { String(format: "%.4f", $0[i]) } ?? String(format: "decision %.3f", r.scores[i]))
        }
        let answer = r.uncertain == true ? "uncertain (best guess \(best.joined(separator: ", ")))" : best.joined(separator: ", ")
        let warning = mismatch?.reason.map { "  [header mismatch: \($0)]" } ?? ""
        return "\(r.path)\t\(answer)\t\(String(format: "%.2f", r.latencyMs)) ms" + warning
    }

    private func jsonLine(_ r: Classification, topK k: Int, labels: [String], outputKind: OutputKind,
                          mismatch: (mismatch: Bool, reason: String?)?) -> String {
        var fields: [(String, JSON)] = [("path", .string(r.path)), ("label", .string(r.label)), ("index", .int(r.index))]
        if let probabilities = r.probabilities {
            fields += [("probability", .double(probabilities[r.index])), ("uncertain", .bool(r.uncertain!)),
                       ("probabilities", .array(probabilities.map { .double($0) }))]
        }
        fields.append((outputKind == .logits ? "logits" : "decision_values", .array(r.scores.map { .float($0) })))
        if let h = r.dicom {
            func text(_ s: String?) -> JSON { s.map(JSON.string) ?? .null }
            var header: [(String, JSON)] = [
                ("sop_instance_uid", text(h.sopInstanceUID)), ("study_instance_uid", text(h.studyInstanceUID)),
                ("modality", text(h.modality)), ("body_part_examined", text(h.bodyPartExamined)),
                ("view_position", text(h.viewPosition)), ("transfer_syntax_uid", .string(h.transferSyntaxUID))]
            // Only with --dicom-terms: without a map nothing was compared, and the object stays as the
            // Python reference (roentgen-reference) writes it.
            if dicomTerms != nil {
                header += [("header_mismatch", mismatch.map { .bool($0.mismatch) } ?? .null),
                           ("header_mismatch_reason", text(mismatch?.reason))]
            }
            fields.append(("dicom", .object(header)))
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
/// is listed by `InputImage.images(inFolder:)`: PNG and DICOM files by content, DICOMDIRs read as
/// the index of their folder tree. `problems`: DICOMDIRs that cannot be read or that reference
/// missing files (the rest of the folder is still listed).
func imageFiles(at path: String) throws -> (files: [String], problems: [(path: String, message: String)]) {
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else { throw PathError(description: "no such file or folder") }
    guard isFolder.boolValue else { return ([path], []) }
    let (found, problems) = InputImage.images(inFolder: path)
    guard !found.isEmpty || !problems.isEmpty else { throw PathError(description: "folder has no PNG or DICOM files") }
    return (found, problems)
}
