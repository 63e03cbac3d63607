/// A decoded picture (SPEC INPUT step 1): palette expanded to RGB, gray 1/2/4-bit expanded to
/// 8 bits, alpha dropped, de-interlaced. Samples are row-major and channel-interleaved, at the
/// image's bit depth (0...255 or 0...65535).
public struct DecodedImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// 1 (gray) or 3 (RGB); alpha has been dropped.
    public let channels: Int
    /// 8 or 16.
    public let bitDepth: Int
    /// `width * height * channels` samples, row-major, interleaved.
    public let samples: [UInt16]

    public init(width: Int, height: Int, channels: Int, bitDepth: Int, samples: [UInt16]) {
        precondition(width > 0 && height > 0, "DecodedImage: empty image")
        precondition(channels == 1 || channels == 3, "DecodedImage: channels must be 1 or 3")
        precondition(bitDepth == 8 || bitDepth == 16, "DecodedImage: bitDepth must be 8 or 16")
        precondition(samples.count == width * height * channels, "DecodedImage: sample count mismatch")
        self.width = width
        self.height = height
        self.channels = channels
        self.bitDepth = bitDepth
        self.samples = samples
    }
}
