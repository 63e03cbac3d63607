// `classify --dicom-terms FILE`: which Body Part Examined and View Position values agree with each
// class, so that a DICOM header the predicted class contradicts is reported (wrong body-part tags
// are a known PACS problem an anatomy detector can catch). Format in fixtures/models/dicom-terms.tsv.

import Foundation
import Roentgen
import RoentgenImage

struct DICOMTerms {
    struct Terms {
        var bodyParts: Set<String>
        var viewPositions: Set<String>
    }

    let byClass: [String: Terms]

    /// Parses `class<TAB>body parts<TAB>view positions` lines (values comma-separated, either column
    /// may be empty; `#` comments, blank lines). Every class must be one of `labels`, once: a typo
    /// would otherwise silently turn the check off for that class.
    init(contentsOf path: String, labels: [String]) throws(RoentgenError) {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw RoentgenError(path: path, message: "cannot read the DICOM terms file (\(error.localizedDescription))")
        }
        var byClass: [String: Terms] = [:]
        for (number, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            func lineError(_ what: String) -> RoentgenError { RoentgenError(path: path, message: "line \(number + 1): \(what)") }
            let columns = raw.split(separator: "\t", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard columns.count == 3 else {
                throw lineError("expected class<TAB>body parts<TAB>view positions, got \(columns.count) tab-separated columns")
            }
            let name = columns[0]
            guard labels.contains(name) else { throw lineError("'\(name)' is not one of the model's labels (\(labels.joined(separator: ", ")))") }
            guard byClass[name] == nil else { throw lineError("'\(name)' is listed twice") }
            func values(_ column: String) -> Set<String> {
                Set(column.split(separator: ",").map { DICOMTerms.normalized(String($0)) }.filter { !$0.isEmpty })
            }
            byClass[name] = Terms(bodyParts: values(columns[1]), viewPositions: values(columns[2]))
        }
        self.byClass = byClass
    }

    /// Code strings are upper case by definition, but headers are written by hand often enough.
    static func normalized(_ value: String) -> String { value.trimmingCharacters(in: .whitespaces).uppercased() }

    /// nil: nothing to compare (an uncertain answer, a class without terms, or a header without
    /// either element); else whether a present element disagrees, and which.
    func mismatch(label: String, uncertain: Bool?, header: DICOMReader.Header) -> (mismatch: Bool, reason: String?)? {
        guard uncertain != true, let terms = byClass[label] else { return nil }
        var compared = false
        var reasons: [String] = []
        for (element, value, accepted) in [("BodyPartExamined", header.bodyPartExamined, terms.bodyParts),
                                           ("ViewPosition", header.viewPosition, terms.viewPositions)] {
            guard let value, !DICOMTerms.normalized(value).isEmpty, !accepted.isEmpty else { continue }
            compared = true
            if !accepted.contains(DICOMTerms.normalized(value)) { reasons.append("\(element) '\(value)' but predicted \(label)") }
        }
        guard compared else { return nil }
        return (!reasons.isEmpty, reasons.isEmpty ? nil : reasons.joined(separator: "; "))
    }
}
