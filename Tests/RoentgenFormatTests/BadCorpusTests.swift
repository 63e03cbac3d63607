// The shared corpus of bad files (fixtures/bad/, written by roentgen_tools/fileformat/badfiles.py):
// one file per rule of SPEC "What a reader must reject". The Python reader and this one must both
// reject every file with an error naming the field listed in index.tsv.

import Foundation
import Testing
import RoentgenFormat

@Suite struct BadCorpusTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let file: String, field: String, rule: String
        var testDescription: String { file }
    }

    /// index.tsv: `file <TAB> field <TAB> rule`, a header line first.
    static let cases: [Case] = {
        guard let text = try? String(contentsOfFile: Fixtures.path("fixtures/bad/index.tsv"), encoding: .utf8) else { return [] }
        return text.split(separator: "\n").dropFirst().compactMap { line in
            let parts = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            return parts.count == 3 ? Case(file: parts[0], field: parts[1], rule: parts[2]) : nil
        }
    }()

    @Test func theCorpusCoversTheRejectList() throws {
        #expect(Self.cases.count >= 150, "fixtures/bad/index.tsv lists \(Self.cases.count) files")
        let files = try FileManager.default.contentsOfDirectory(atPath: Fixtures.path("fixtures/bad")).filter { $0.hasSuffix(".rtg") }
        #expect(Set(files) == Set(Self.cases.map(\.file)), "every .rtg file is listed in index.tsv and every listed file exists")
    }

    @Test(arguments: cases)
    func isRejectedNamingTheField(_ c: Case) throws {
        do {
            _ = try ModelReader.load(path: Fixtures.path("fixtures/bad/" + c.file))
            Issue.record("\(c.file) was accepted; it must be rejected: \(c.rule)")
        } catch {
            #expect(error.description.contains(c.field), "\(c.file) (\(c.rule)): \"\(error)\" does not name \(c.field)")
            #expect(!error.description.contains("\n"))
        }
    }
}
