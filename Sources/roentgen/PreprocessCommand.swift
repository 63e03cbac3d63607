// `roentgen preprocess MODEL IMAGE --npy OUT.npy`: the exact float32 input tensor the model would
// see for a PNG or DICOM image, [1, height, width, channels] (NHWC), to debug preprocessing with.

import ArgumentParser
import Foundation
import Roentgen
import RoentgenImage

struct PreprocessCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "preprocess", abstract: "Write the input tensor a model would see for an image (.npy, float32 NHWC).")

    @Argument(help: "The model file (.rtg): its input size, channels, mean and std.") var model: String
    @Argument(help: "A PNG or DICOM file.") var image: String
    @Option(help: "Where to write the tensor.") var npy: String
    @Option(help: ArgumentHelp("DICOM: window with this center and width instead of the file's VOI LUT.", valueName: "C,W"))
    var window: String?
    @Flag(name: .customLong("full-range"), help: "DICOM: map the full range of the pixel values instead of the file's window.")
    var fullRange = false

    func run() throws {
        let spec = try loadModel(model).preprocessSpec
        let input: InputImage
        do {
            input = try InputImage.read(contentsOf: image, window: try DICOMWindowOption.parse(window: window, fullRange: fullRange))
        } catch let error as ImageError { throw fail(error.description) }
        var tensor = [Float](repeating: 0, count: spec.height * spec.width * spec.channels)
        tensor.withUnsafeMutableBufferPointer { input.tensor(spec: spec, into: $0.baseAddress!) }
        try NPY.write(npy, tensor, shape: [1, spec.height, spec.width, spec.channels])
    }
}

/// `--window C,W` / `--full-range`, shared by `classify` and `preprocess`.
enum DICOMWindowOption {
    static func parse(window: String?, fullRange: Bool) throws -> DICOMReader.Window {
        if fullRange && window != nil { throw ValidationError("--window and --full-range exclude each other") }
        if fullRange { return .fullRange }
        guard let window else { return .fromFile }
        let parts = window.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2, let c = parts[0], let w = parts[1], c.isFinite, w.isFinite, w >= 1 else {
            throw ValidationError("--window must be CENTER,WIDTH with a width >= 1, e.g. --window 2048,4096")
        }
        return .override(center: c, width: w)
    }
}
