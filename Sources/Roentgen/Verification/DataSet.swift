// The images `roentgen verify` runs on: a folder of class folders (the folder name is the label),
// or a CSV of `path,label` (paths relative to the CSV's folder). Images without a label still
// count for the agreement between the two models.

import Foundation
import RoentgenImage

public struct LabeledImage: Sendable, Equatable {
    public let path: String
    /// The true class name, or nil when the data set has none for this image.
    public let label: String?
    public init(path: String, label: String?) { self.path = path; self.label = label }
}

public enum DataSet {
    /// Lists a folder or a CSV file. A folder: each image (PNG or DICOM, found by content and
    /// through DICOMDIRs as `InputImage.images(inFolder:)` finds them, sorted) is labelled with the
    /// name of the top-level folder it lies in; images directly in the folder have no label.
    /// A CSV: `path,label` per line, an optional header line starting with `path`, `#` comments,
    /// double quotes around fields that hold commas; an empty or missing label means "none".
    /// `problems`: DICOMDIRs that cannot be read or reference missing files, as (path, message);
    /// the images that can be listed still are.
    public static func list(_ path: String, problems: inout [(path: String, message: String)]) throws(RoentgenError) -> [LabeledImage] {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw RoentgenError(path: path, message: "no such file or folder")
        }
        let images: [LabeledImage]
        if isFolder.boolValue {
            let (found, folderProblems) = folder(path)
            images = found
            problems += folderProblems
        } else {
            images = try csv(path)
        }
        guard !images.isEmpty else { throw RoentgenError(path: path, message: "no images in the data set") }
        return images
    }

    /// As above, with any problem an error (for callers that cannot report them one by one).
    public static func list(_ path: String) throws(RoentgenError) -> [LabeledImage] {
        var problems: [(path: String, message: String)] = []
        let images = try list(path, problems: &problems)
        if let first = problems.first { throw RoentgenError(path: first.path, message: first.message) }
        return images
    }

    static func folder(_ root: String) -> ([LabeledImage], [(path: String, message: String)]) {
        let (files, problems) = InputImage.images(inFolder: root)
        let base = root.hasSuffix("/") ? root : root + "/"
        let images = files.map { full in
            let parts = full.dropFirst(base.count).split(separator: "/", omittingEmptySubsequences: true)
            return LabeledImage(path: full, label: parts.count > 1 ? String(parts[0]) : nil)
        }
        return (images, problems)
    }

    static func csv(_ file: String) throws(RoentgenError) -> [LabeledImage] {
        let text: String
        do { text = try String(contentsOfFile: file, encoding: .utf8) } catch {
            throw RoentgenError(path: file, message: "cannot read the CSV file (\(error.localizedDescription))")
        }
        let folder = (file as NSString).deletingLastPathComponent
        var images: [LabeledImage] = []
        for (number, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = try splitCSV(line, file: file, line: number + 1)
            if images.isEmpty && fields[0].lowercased() == "path" { continue }  // header
            guard fields.count <= 2 || fields[2...].allSatisfy(\.isEmpty) else {
                throw RoentgenError(path: file, message: "line \(number + 1): expected path,label, got \(fields.count) fields")
            }
            let p = fields[0]
            guard !p.isEmpty else { throw RoentgenError(path: file, message: "line \(number + 1): empty path") }
            let resolved = p.hasPrefix("/") || folder.isEmpty ? p : folder + "/" + p
            let label = fields.count > 1 && !fields[1].isEmpty ? fields[1] : nil
            images.append(LabeledImage(path: resolved, label: label))
        }
        return images
    }

    static func splitCSV(_ line: String, file: String, line number: Int) throws(RoentgenError) -> [String] {
        var fields: [String] = [], field = "", quoted = false, wasQuoted = false
        var chars = line.makeIterator()
        while let c = chars.next() {
            if quoted {
                if c == "\"" {
                    // "" inside quotes is a literal quote; anything else ends the quoted part
                    var peek = chars
                    if peek.next() == "\"" { field.append("\""); chars = peek } else { quoted = false }
                } else {
                    field.append(c)
                }
            } else if c == "\"" && field.isEmpty && !wasQuoted {
                quoted = true
                wasQuoted = true
            } else if c == "," {
                fields.append(wasQuoted ? field : field.trimmingCharacters(in: .whitespaces))
                field = ""
                wasQuoted = false
            } else {
                field.append(c)
            }
        }
        guard !quoted else { throw RoentgenError(path: file, message: "line \(number): unterminated quote") }
        fields.append(wasQuoted ? field : field.trimmingCharacters(in: .whitespaces))
        return fields
    }

    /// The model's class index of every image's label (nil where an image has none). A label that
    /// is not one of the model's labels is an error listing every such label.
    public static func classIndices(_ images: [LabeledImage], labels: [String], dataPath: String) throws(RoentgenError) -> [Int?] {
        var index: [String: Int] = [:]
        for (i, l) in labels.enumerated() { index[l] = i }
        var unknown: [String] = []
        let indices = images.map { image -> Int? in
            guard let label = image.label else { return nil }
            if let i = index[label] { return i }
            if !unknown.contains(label) { unknown.append(label) }
            return nil
        }
        guard unknown.isEmpty else {
            throw RoentgenError(path: dataPath, message: "label(s) not in the models' label list: \(unknown.sorted().joined(separator: ", ")) (the models know: \(labels.joined(separator: ", ")))")
        }
        return indices
    }
}
