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
        if let npy { try NPY.write(npy, modality.values, shape: modality.channels == 1 ? [modality.height, modality.width] : [modality.height, modality.width, modality.channels]) }
        if let imageNpy {
            let read: DICOMReader.Image
            do { read = try DICOMReader.read(contentsOf: file) } catch { throw fail(error.description) }
            let image = read.image
            try NPY.write(imageNpy, image.values, shape: image.channels == 1 ? [image.height, image.width] : [image.height, image.width, image.channels])
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

}
