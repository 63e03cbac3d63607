import Foundation

/// A DICOMDIR (Basic Directory IOD, PS3.3 F.3, PS3.10 8): the index of the folder tree it lies in.
/// Only what a folder walk needs is read: the Referenced File ID (0004,1500) of each IMAGE record
/// (Directory Record Type (0004,1430)) in the Directory Record Sequence (0004,1220).
public enum DICOMDirectory {
    static let directoryRecordSequence = Tag(0x0004, 0x1220)
    static let referencedFileID = Tag(0x0004, 0x1500)
    static let directoryRecordType = Tag(0x0004, 0x1430)

    /// True for a file a folder walk takes as an index: PS3.10 8.6 names it exactly DICOMDIR; case is
    /// ignored because media written on ISO 9660 or FAT are often copied with lower-case names.
    public static func isIndexName(_ name: String) -> Bool { name.uppercased() == "DICOMDIR" }

    /// The Referenced File IDs of the IMAGE records, in record order, as "/"-joined paths relative
    /// to the DICOMDIR's folder (the components as written; see `resolve`).
    public static func referencedFiles(contentsOf path: String) throws(ImageError) -> [String] {
        let bytes = try FileIO.readAll(path: path)
        return try DICOMReader.withPath(path) { () throws(ImageError) -> [String] in
            let (set, _) = try DICOMReader.parse(bytes)
            guard let sequence = set[directoryRecordSequence] else {
                throw DICOMFail.corrupt("(0004,1220) Directory Record Sequence: missing (not a DICOMDIR)")
            }
            var files: [String] = []
            for record in try records(sequence, bigEndian: set.bigEndian) {
                guard record.string(directoryRecordType)?.uppercased() == "IMAGE",
                      let id = record.string(referencedFileID), !id.isEmpty else { continue }
                let parts = id.split(separator: "\\", omittingEmptySubsequences: false).map { Bytes.trimmed(String($0)) }
                // PS3.10 8.2: components are relative to the DICOMDIR's folder; refuse anything that climbs out.
                guard !parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." || $0.contains("/") }) else {
                    throw DICOMFail.corrupt("(0004,1500) Referenced File ID '\(parts.joined(separator: "/"))' is not a path inside its folder")
                }
                files.append(parts.joined(separator: "/"))
            }
            return files
        }
    }

    /// The records. In implicit VR the parser keeps a defined-length sequence it does not know as
    /// bytes (see `Tag.knownSequences`), so those are parsed here as the sequence they are.
    static func records(_ e: Element, bigEndian: Bool) throws(ImageError) -> [DataSet] {
        if let items = e.items { return items }
        var parser = DataSetParser(bytes: e.value, at: e.value.startIndex, explicitVR: false, bigEndian: bigEndian)
        return try parser.sequence(directoryRecordSequence, end: e.value.endIndex, depth: 0)
    }

    /// `relative` ("/"-separated) inside `folder`, each component matched exactly or else ignoring
    /// case (File IDs are upper case; copied media often are not). Nil when a component is missing.
    public static func resolve(_ relative: String, in folder: String) -> String? {
        var current = folder.hasSuffix("/") ? String(folder.dropLast()) : folder
        for part in relative.split(separator: "/").map(String.init) {
            let exact = current + "/" + part
            if FileManager.default.fileExists(atPath: exact) { current = exact; continue }
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: current),
                  let match = names.sorted().first(where: { $0.uppercased() == part.uppercased() }) else { return nil }
            current += "/" + match
        }
        return current
    }
}
