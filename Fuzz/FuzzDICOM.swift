// libFuzzer target: the DICOM reader (File Meta group, data set in every supported transfer syntax,
// deflate, RLE, the pixel pipeline to [0, 1]) on arbitrary bytes, then preprocessing as classify does.
import RoentgenImage

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDICOM(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    do {
        let read = try DICOMReader.read(bytes, path: "fuzz.dcm")
        // FloatImage promises values in [0, 1]; a NaN or an out-of-range value would reach the model.
        if let bad = read.image.values.first(where: { !($0 >= 0 && $0 <= 1) }) {
            fatalError("a DICOM value \(bad) outside [0, 1]")
        }
        _ = Preprocess.tensor(from: read.image, spec: PreprocessSpec(channels: 1, height: 7, width: 9))
    } catch {
        let message = String(describing: error)
        if message.contains(where: \.isNewline) { fatalError("a DICOM error of more than one line: \(message)") }
    }
    return 0
}
