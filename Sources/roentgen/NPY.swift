// .npy files (NumPy format 1.0) of float32 arrays, for `preprocess` and `dicom-dump`: what users
// and the Python tests load with `numpy.load`.

import Foundation

enum NPY {
    /// Magic, version, a little-endian u16 header length, a Python dict literal padded with spaces
    /// to a multiple of 64 bytes, then the raw little-endian float32 data (C order).
    static func write(_ path: String, _ values: [Float], shape: [Int]) throws {
        precondition(shape.reduce(1, *) == values.count, "NPY.write: shape \(shape) does not hold \(values.count) values")
        let dims = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var dict = "{'descr': '<f4', 'fortran_order': False, 'shape': \(dims), }"
        let unpadded = 10 + dict.utf8.count + 1
        dict += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let headerLength = UInt16(dict.utf8.count)
        data.append(contentsOf: [UInt8(headerLength & 0xFF), UInt8(headerLength >> 8)])
        data.append(contentsOf: Array(dict.utf8))
        values.withUnsafeBytes { data.append(contentsOf: $0) }  // x86-64 and arm64 are little endian
        do { try data.write(to: URL(fileURLWithPath: path)) } catch { throw fail("\(path): cannot write: \(error.localizedDescription)") }
    }
}
