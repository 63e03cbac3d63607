// `roentgen classify MODEL PATH...`: one line (or one JSON object) per image. A failed image is
// reported and skipped; the exit status says whether any failed.

import ArgumentParser
import Foundation
import Roentgen

struct Classify: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Classify PNG images (files, or folders searched recursively).")

    @Argument(help: "The model file (.rtg).") var model: String
    @Argument(help: "PNG files or folders.") var paths: [String]
    @Flag(help: "One JSON object per line.") var json = false
    @Option(name: .customLong("top-k"), help: "Also list the K most probable classes.") var topK: Int = 1
    @Option(help: "Threads for inference (a persistent worker per extra thread).") var threads: Int = 1

    func validate() throws {
        guard topK >= 1 else { throw ValidationError("--top-k must be at least 1") }
        guard (1...64).contains(threads) else { throw ValidationError("--threads must be in 1...64") }
    }

    func run() throws {
        let loaded = try loadModel(model)
        let classifier = Classifier(model: loaded, threads: threads)
        let k = min(topK, loaded.labels.count)
        var failures = 0
        for entry in paths {
            let images: [String]
            do { images = try pngFiles(at: entry) } catch {
                failures += 1
                report(path: entry, error: "\(error)")
                continue
            }
            for path in images {
                do {
                    let result = try classifier.classify(path: path)
                    print(json ? jsonLine(result, topK: k, labels: loaded.labels) : textLine(result, topK: k, labels: loaded.labels))
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
        return "\(r.path)\t\(best.joined(separator: ", "))\t\(String(format: "%.2f", r.latencyMs)) ms"
    }

    private func jsonLine(_ r: Classification, topK k: Int, labels: [String]) -> String {
        var fields: [(String, JSON)] = [("path", .string(r.path)), ("label", .string(r.label)), ("index", .int(r.index))]
        if let probabilities = r.probabilities {
            fields += [("probability", .double(probabilities[r.index])),
                       ("probabilities", .array(probabilities.map { .double($0) })),
                       ("logits", .array(r.scores.map { .float($0) }))]
        } else {
            fields.append(("decision_values", .array(r.scores.map { .float($0) })))
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

/// A file is taken as given (the decoder says if it is not a PNG); a folder is searched
/// recursively for *.png, in sorted order so runs are reproducible.
func pngFiles(at path: String) throws -> [String] {
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else { throw PathError(description: "no such file or folder") }
    guard isFolder.boolValue else { return [path] }
    guard let walker = FileManager.default.enumerator(atPath: path) else { throw PathError(description: "cannot read folder") }
    var found: [String] = []
    while let relative = walker.nextObject() as? String {
        if relative.lowercased().hasSuffix(".png") {
            found.append(path.hasSuffix("/") ? path + relative : path + "/" + relative)
        }
    }
    guard !found.isEmpty else { throw PathError(description: "folder has no .png files") }
    return found.sorted()
}
