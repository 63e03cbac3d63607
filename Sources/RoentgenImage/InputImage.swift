/// An image file as the classifier takes it: a PNG or a DICOM file, told apart by content (PACS
/// exports often have no extension), never by the file name.
public enum InputImage: Sendable {
    case png(DecodedImage)
    case dicom(DICOMReader.Image)

    static let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Reads the file once and decodes it as what its first bytes say it is.
    public static func read(contentsOf path: String, window: DICOMReader.Window = .fromFile) throws(ImageError) -> InputImage {
        let bytes = try FileIO.readAll(path: path)
        if bytes.starts(with: pngSignature) || !DICOMReader.looksLikeDICOM(bytes) {
            // Not DICOM: the PNG decoder names what is wrong (empty, not a PNG, truncated, ...).
            let result = bytes.withUnsafeBytes { raw in
                Result { () throws(ImageError) -> DecodedImage in try PNGDecoder.decode(raw, path: path) }
            }
            do { return .png(try result.get()) } catch {
                if error.kind == .notPNG {
                    throw ImageError(path: path, reason: "neither a PNG nor a DICOM file", kind: .notPNG)
                }
                throw error
            }
        }
        return .dicom(try DICOMReader.read(bytes, path: path, window: window))
    }

    /// True when the first bytes at `path` are a PNG signature or a DICOM start (for folder walks).
    public static func isImageFile(_ path: String) -> Bool {
        guard let prefix = try? FileIO.readPrefix(path: path, count: 132) else { return false }
        return prefix.starts(with: pngSignature) || DICOMReader.looksLikeDICOM(prefix)
    }

    /// SPEC INPUT steps 2-5 into `output`, whichever kind of file it was.
    public func tensor(spec: PreprocessSpec, into output: UnsafeMutablePointer<Float>) {
        switch self {
        case let .png(image): Preprocess.tensor(from: image, spec: spec, into: output)
        case let .dicom(d): Preprocess.tensor(from: d.image, spec: spec, into: output)
        }
    }
}
