import Foundation

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

    /// The images of a folder tree, sorted (runs are reproducible): files whose first bytes are a PNG
    /// or DICOM start (PACS exports often have no extension), `*.png`, `*.dcm`, and every IMAGE a
    /// DICOMDIR in the tree references (resolved against the DICOMDIR's folder, ignoring case, so
    /// listed even when its content is not recognisable, and reading it says what is wrong).
    /// Files found by content that no DICOMDIR lists are kept: exports add files without updating
    /// the index, and an image left out silently is worse than one classified. `problems`: an
    /// unreadable DICOMDIR, or a file it references that is missing, as (DICOMDIR path, message);
    /// the rest of the tree is still listed.
    public static func images(inFolder root: String) -> (files: [String], problems: [(path: String, message: String)]) {
        let base = root.hasSuffix("/") ? root : root + "/"
        guard let walker = FileManager.default.enumerator(atPath: root) else { return ([], [(root, "cannot read folder")]) }
        var found = Set<String>()
        var problems: [(path: String, message: String)] = []
        while let relative = walker.nextObject() as? String {
            let type = walker.fileAttributes?[.type] as? FileAttributeType
            guard type == .typeRegular || type == .typeSymbolicLink else { continue }
            let full = base + relative
            guard DICOMDirectory.isIndexName((relative as NSString).lastPathComponent) else {
                let name = relative.lowercased()
                if name.hasSuffix(".png") || name.hasSuffix(".dcm") || isImageFile(full) { found.insert(full) }
                continue
            }
            // Built from `base` like the walk's own paths, so a file found both ways is listed once.
            let dir = (relative as NSString).deletingLastPathComponent
            let folder = dir.isEmpty ? String(base.dropLast()) : base + dir
            do {
                for file in try DICOMDirectory.referencedFiles(contentsOf: full) {
                    if let path = DICOMDirectory.resolve(file, in: folder) { found.insert(path) } else {
                        problems.append((full, "references \(file), which does not exist (\(folder)/\(file), case ignored)"))
                    }
                }
            } catch {
                problems.append((full, error.reason))
            }
        }
        return (found.sorted(), problems)
    }

    /// SPEC INPUT steps 2-5 into `output`, whichever kind of file it was.
    public func tensor(spec: PreprocessSpec, into output: UnsafeMutablePointer<Float>) {
        switch self {
        case let .png(image): Preprocess.tensor(from: image, spec: spec, into: output)
        case let .dicom(d): Preprocess.tensor(from: d.image, spec: spec, into: output)
        }
    }

    /// SPEC INPUT steps 2-5 as a new array.
    public func tensor(spec: PreprocessSpec) -> [Float] {
        switch self {
        case let .png(image): Preprocess.tensor(from: image, spec: spec)
        case let .dicom(d): Preprocess.tensor(from: d.image, spec: spec)
        }
    }
}
