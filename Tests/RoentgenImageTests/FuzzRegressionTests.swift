// Every input that broke the DICOM reader's contract under the fuzz harness (Fuzz/FuzzDICOM.swift,
// docs/FUZZING.md), minimised, in fixtures/fuzz-regressions/dicom/: each must now fail with a one-line
// error instead of decoding to values outside [0, 1]. (The PNG target has found nothing to keep.)

import Foundation
import Testing
import RoentgenImage

@Suite struct FuzzRegressionTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/fuzz-regressions/dicom").path
    static let files: [String] = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
        .map { folder + "/" + $0 }

    static func expectOneLineError(_ path: String, _ read: (String) throws(ImageError) -> Void) {
        do {
            try read(path)
            Issue.record("\(path) was decoded; it must fail")
        } catch {
            let lines = error.description.split(whereSeparator: \.isNewline).count
            #expect(lines == 1, "\(error.description.debugDescription)")
            #expect(error.path == path)
        }
    }

    @Test func theRegressionsAreThere() {
        #expect(!Self.files.isEmpty, "no files in \(Self.folder)")
    }

    @Test(arguments: files)
    func dicomFails(_ path: String) {
        Self.expectOneLineError(path) { (p) throws(ImageError) in _ = try DICOMReader.read(contentsOf: p) }
        // classify reads through InputImage: the same file must fail there too
        Self.expectOneLineError(path) { (p) throws(ImageError) in _ = try InputImage.read(contentsOf: p) }
    }
}
