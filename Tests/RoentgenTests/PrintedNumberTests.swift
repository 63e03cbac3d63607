// SPEC "Probabilities and printed numbers": the same text as roentgen_tools.fileformat.numbers.

import Testing
import Roentgen

@Suite struct PrintedNumberTests {
    @Test func binary32() {
        let cases: [(Float, String)] = [
            (0, "0.0"), (-0.0, "-0.0"), (3, "3.0"), (-12.5, "-12.5"), (0.001, "0.001"), (0.1, "0.1"),
            (16777216, "16777216.0"), (1e-4, "0.0001"), (-1e-4, "-0.0001"), (9.9999e-5, "9.9999e-05"), (1e-5, "1.0e-05"),
            (1e16, "1.0e+16"), (9.999999e15, "9999999000000000.0"), (-2.5e17, "-2.5e+17"),
            (Float.greatestFiniteMagnitude, "3.4028235e+38"), (Float.leastNonzeroMagnitude, "1.0e-45"),
            (Float.leastNormalMagnitude, "1.1754944e-38"), (1.2345678e-3, "0.0012345678"), (123456.79, "123456.79"),
            (.nan, "null"), (.infinity, "null"), (-.infinity, "null"),
        ]
        for (v, text) in cases { #expect(PrintedNumber.text(v) == text, "\(v)") }
    }

    @Test func binary64() {
        let cases: [(Double, String)] = [
            (0, "0.0"), (-0.0, "-0.0"), (1, "1.0"), (0.1, "0.1"), (Double(Float(0.1)), "0.10000000149011612"),
            (1e-4, "0.0001"), (9.999999999999999e-05, "9.999999999999999e-05"), (1e-5, "1.0e-05"),
            (1e16, "1.0e+16"), (9999999999999998.0, "9999999999999998.0"), (123456.789, "123456.789"),
            (Double.leastNonzeroMagnitude, "5.0e-324"), (Double.greatestFiniteMagnitude, "1.7976931348623157e+308"),
            (0.3552006645913518, "0.3552006645913518"), (2.5e-300, "2.5e-300"), (-1e100, "-1.0e+100"),
        ]
        for (v, text) in cases { #expect(PrintedNumber.text(v) == text, "\(v)") }
    }

    /// Printing loses nothing: the text reads back to the same bits, for values of every magnitude.
    @Test func roundTrips() {
        var rng = TestRNG(seed: 0x7E57)
        for _ in 0..<20000 {
            let f = Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))
            let d = Double(bitPattern: rng.next())
            if f.isFinite { #expect(Float(PrintedNumber.text(f))?.bitPattern == f.bitPattern, "\(f.bitPattern)") }
            if d.isFinite { #expect(Double(PrintedNumber.text(d))?.bitPattern == d.bitPattern, "\(d.bitPattern)") }
        }
    }
}
