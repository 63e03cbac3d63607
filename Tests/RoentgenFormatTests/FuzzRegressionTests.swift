// Every input the fuzzer (Fuzz/FuzzModel.swift, docs/FUZZING.md) crashed the model reader with, minimised
// and stored re-sealed in fixtures/fuzz-regressions/model/: each must now be rejected with a one-line error.

import Foundation
import Testing
import RoentgenFormat

@Suite struct FuzzRegressionTests {
    static let folder = Fixtures.path("fixtures/fuzz-regressions/model")
    static let files: [String] = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()

    @Test func theRegressionsAreThere() {
        #expect(!Self.files.isEmpty, "no files in \(Self.folder)")
    }

    @Test(arguments: files)
    func isRejectedInOneLine(_ file: String) {
        do {
            _ = try ModelReader.load(path: Self.folder + "/" + file)
            Issue.record("\(file) was accepted")
        } catch {
            let lines = error.description.split(whereSeparator: \.isNewline).count
            #expect(lines == 1, "\(file): \(error.description.debugDescription)")
            #expect(error.field != "header.sha256" && error.field != "header.file_size",
                    "\(file) is not stored re-sealed, so it no longer reaches the check it found: \(error)")
        }
    }
}
