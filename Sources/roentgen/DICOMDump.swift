// `roentgen dicom-dump FILE --npy OUT.npy`: a debugging door (hidden from help) that writes the
// first frame's Modality LUT output as float32 .npy, so tools/tests/test_dicom_pixels.py can hold
// our DICOM decoding to pydicom's, pixel for pixel. Prints one JSON line with the header fields.

import ArgumentParser
import Foundation
import RoentgenImage

struct DICOMDump: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dicom-dump", abstract: "Write a DICOM file's decoded pixels as .npy (debugging).",
        shouldDisplay: false)

    @Argument(help: "The DICOM file.") var file: String
    @Option(help: "Write the Modality LUT output (before the VOI step), float32 [rows, columns(, 3)].") var npy: String?
    @Option(help: "Write the finished image (values in [0, 1]), float32 [rows, columns(, 3)].") var imageNpy: String?

    func run() throws {
        let modality: DICOMReader.ModalityImage
        do { modality = try DICOMReader.modalityImage(contentsOf: file) } catch { throw fail(error.description) }
        if let npy { try write(npy, modality.values, modality.height, modality.width, modality.channels) }
        if let imageNpy {
            let read: DICOMReader.Image
            do { read = try DICOMReader.read(contentsOf: file) } catch { throw fail(error.description) }
            let image = read.image
            try write(imageNpy, image.values, image.height, image.width, image.channels)
        }
        let h = modality.header
        func text(_ s: String?) -> JSON { s.map(JSON.string) ?? .null }
        print(JSON.line([
            ("file", .string(file)), ("rows", .int(modality.height)), ("columns", .int(modality.width)),
            ("samples", .int(modality.channels)), ("photometric", .string(modality.photometricInterpretation)),
            ("transfer_syntax", .string(h.transferSyntaxUID)), ("sop_class", text(h.sopClassUID)),
            ("sop_instance", text(h.sopInstanceUID)), ("study_instance", text(h.studyInstanceUID)),
            ("modality", text(h.modality)), ("body_part", text(h.bodyPartExamined)), ("view_position", text(h.viewPosition)),
        ]))
    }

    /// NPY format 1.0: magic, version, a little-endian u16 header length, a Python dict literal
    /// padded with spaces to a multiple of 64 bytes, then the raw little-endian float32 data.
    private func write(_ path: String, _ values: [Float], _ rows: Int, _ columns: Int, _ channels: Int) throws {
        let shape = channels == 1 ? "(\(rows), \(columns))" : "(\(rows), \(columns), \(channels))"
        var dict = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }"
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
