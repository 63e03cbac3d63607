// A model file changed at random and re-sealed (so the checksum passes) either loads and runs
// without crashing or is rejected with a FormatError naming a field; never anything else.

import Foundation
import Testing
import Roentgen
import RoentgenFormat
import RoentgenTestSupport

@Suite struct ResealedModelTests {
    @Test func mutatedModelsLoadAndRunOrAreRejected() throws {
        let original = Array(try Data(contentsOf: URL(fileURLWithPath: Fixtures.int8Model)))
        let dataStart = original.withUnsafeBytes { raw -> Int in
            for i in 0..<Int(raw.loadUnaligned(fromByteOffset: 24, as: UInt32.self)) where raw.loadUnaligned(fromByteOffset: 128 + 32 * i, as: UInt32.self) == 8 {
                return Int(raw.loadUnaligned(fromByteOffset: 128 + 32 * i + 8, as: UInt64.self))
            }
            return original.count
        }
        var rng = TestRNG(seed: 0xBAD)
        var rejected = 0, ran = 0
        let trials = 120
        for trial in 0..<trials {
            var bytes = original
            for _ in 0..<(1 + rng.int(0...2)) { bytes[rng.int(0...(dataStart - 1))] = UInt8(truncatingIfNeeded: rng.next()) }
            ModelDraft.seal(&bytes)
            do {
                let model = try bytes.withUnsafeBytes { raw throws(FormatError) in try ModelReader.parse(raw) }
                let interpreter = Interpreter(model: model)
                for i in 0..<(model.input.height * model.input.width * model.input.channels) { interpreter.input[i] = Float(i % 7) / 7 }
                interpreter.invoke()
                #expect(interpreter.logits.count == model.labels.count, "trial \(trial)")
                ran += 1
            } catch let error as FormatError {
                #expect(!error.field.isEmpty && !error.description.contains("\n"), "trial \(trial): \(error)")
                rejected += 1
            } catch {
                Issue.record("trial \(trial): not a FormatError: \(error)")
            }
        }
        #expect(rejected >= trials / 2, "only \(rejected) of \(trials) mutated files were rejected (\(ran) ran)")
    }
}
