import CPNG

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads PNG files (SPEC INPUT step 1). Decoding allocates; the inference step does not.
public enum PNGDecoder {
    /// Reads and decodes the PNG file at `path`.
    public static func decode(contentsOf path: String) throws(ImageError) -> DecodedImage {
        let bytes = try FileIO.readAll(path: path)
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(ImageError) -> DecodedImage in try decode(raw, path: path) }
        }
        return try result.get()
    }

    /// Decodes a PNG held in memory. `path` is only used in error messages.
    public static func decode(_ bytes: UnsafeRawBufferPointer, path: String?) throws(ImageError) -> DecodedImage {
        var image = cpng_image()
        var message = [CChar](repeating: 0, count: 512)
        let code = message.withUnsafeMutableBufferPointer { err in
            cpng_decode(bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count,
                        &image, err.baseAddress, err.count)
        }
        defer { cpng_free(&image) }
        guard code == Int32(CPNG_OK) else {
            throw ImageError(path: path, reason: CPNGStatus.message(message), kind: CPNGStatus.kind(code))
        }
        let width = Int(image.width), height = Int(image.height)
        let channels = Int(image.channels), bitDepth = Int(image.bit_depth)
        let count = width * height * channels
        guard let pixels = image.pixels else {
            throw ImageError(path: path, reason: "decoder returned no pixels", kind: .corrupt)
        }
        let samples: [UInt16]
        if bitDepth == 16 {
            // cpng_decode asked libpng for native-endian 16-bit samples.
            samples = Array(UnsafeBufferPointer(start: pixels.assumingMemoryBound(to: UInt16.self), count: count))
        } else {
            let source = pixels.assumingMemoryBound(to: UInt8.self)
            samples = [UInt16](unsafeUninitializedCapacity: count) { buffer, initialized in
                for i in 0..<count { buffer[i] = UInt16(source[i]) }
                initialized = count
            }
        }
        return DecodedImage(width: width, height: height, channels: channels, bitDepth: bitDepth, samples: samples)
    }
}

/// Maps the shim's return codes to `ImageError.Kind`.
enum CPNGStatus {
    static func kind(_ code: Int32) -> ImageError.Kind {
        switch Int(code) {
        case Int(CPNG_ERR_EMPTY): return .empty
        case Int(CPNG_ERR_SIGNATURE): return .notPNG
        case Int(CPNG_ERR_TRUNCATED): return .truncated
        case Int(CPNG_ERR_TOO_LARGE): return .tooLarge
        case Int(CPNG_ERR_NO_MEMORY): return .outOfMemory
        case Int(CPNG_ERR_ARGUMENT): return .invalidArgument
        default: return .corrupt
        }
    }

    static func message(_ buffer: [CChar]) -> String {
        let text = buffer.withUnsafeBufferPointer { ptr -> String in
            let bytes = UnsafeRawBufferPointer(ptr).prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
        return text.isEmpty ? "unknown PNG error" : text
    }
}

/// Whole-file reads and writes with POSIX calls (no Foundation).
enum FileIO {
    /// At most `count` bytes from the start of the file (fewer when it is shorter).
    static func readPrefix(path: String, count: Int) throws(ImageError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw ioError(path, "cannot open", errno) }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + got, count - got) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            got += n
        }
        return Array(bytes[0..<got])
    }

    static func readAll(path: String) throws(ImageError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw ioError(path, "cannot open", errno) }
        defer { close(fd) }
        var info = stat()
        if fstat(fd, &info) != 0 { throw ioError(path, "cannot stat", errno) }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            throw ImageError(path: path, reason: "is a directory, not a PNG file", kind: .io)
        }
        var bytes = [UInt8]()
        var capacity = max(Int(info.st_size), 0) + 1  // +1 so reaching EOF needs no regrowth
        var count = 0
        while true {
            if count == capacity { capacity *= 2 }
            if bytes.count < capacity { bytes.append(contentsOf: repeatElement(0, count: capacity - bytes.count)) }
            let n = bytes.withUnsafeMutableBytes { buffer in
                read(fd, buffer.baseAddress! + count, capacity - count)
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw ioError(path, "read error", errno)
            }
            if n == 0 { break }
            count += n
        }
        bytes.removeSubrange(count...)
        if count == 0 { throw ImageError(path: path, reason: "empty file (0 bytes)", kind: .empty) }
        return bytes
    }

    static func writeAll(path: String, bytes: [UInt8]) throws(ImageError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd < 0 { throw ioError(path, "cannot create", errno) }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { buffer in
                write(fd, buffer.baseAddress! + written, bytes.count - written)
            }
            if n < 0 {
                if errno == EINTR { continue }
                let code = errno
                close(fd)
                throw ioError(path, "write error", code)
            }
            written += n
        }
        if close(fd) != 0 { throw ioError(path, "write error (close)", errno) }
    }

    static func ioError(_ path: String, _ what: String, _ code: Int32) -> ImageError {
        let text = strerror(code).map { String(cString: $0) } ?? "errno \(code)"
        return ImageError(path: path, reason: "\(what): \(text)", kind: .io)
    }
}
