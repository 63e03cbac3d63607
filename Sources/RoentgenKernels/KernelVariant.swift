// Which int8 kernel variant runs: chosen once per process from the CPU's features, or forced with
// the environment variable ROENTGEN_KERNEL=portable|avx2|avxvnni|vnni (tests run every variant this way).
import CRoentgenISA
#if canImport(Glibc)
import Glibc
#endif

public enum KernelVariant: String, CaseIterable, Sendable, CustomStringConvertible {
    /// Portable Swift (exact Float partial sums, see Conv2DInt8); any CPU, including aarch64.
    case portable
    /// x86-64 AVX2: s16 x s16 pair products (`vpmaddwd`), 8 output channels per vector.
    case avx2
    /// x86-64 AVX-VNNI on ymm, no AVX-512 needed (Alder Lake and later, Alder Lake-N, Zen 5): vnni's
    /// u8 x s8 quads (`vpdpbusd` ymm) on avx2's 8 channels per vector. CONV2D and DENSE run its own
    /// tiles (RoentgenKernelsAVXVNNI); every other op, and the f32 path, runs avx2's.
    case avxvnni
    /// x86-64 AVX-512 VNNI: u8 x s8 quadruple products (`vpdpbusd`), 16 output channels per vector.
    case vnni

    /// What this CPU (and OS) can run.
    public var isSupported: Bool {
        switch self {
        case .portable: return true
        case .avx2: return KernelVariant.features & 1 != 0
        case .avxvnni: return KernelVariant.features & 4 != 0
        case .vnni: return KernelVariant.features & 2 != 0
        }
    }

    static let features = Int(rtg_cpu_features())

    /// The fastest supported variant.
    public static let best: KernelVariant = [.vnni, .avxvnni, .avx2].first(where: \.isSupported) ?? .portable

    /// The tiles multiply s16 pairs (x - z) x w (avx2) rather than u8 quads x + 128 (vnni, avxvnni).
    public var multipliesPairs: Bool { self == .avx2 }
    /// int32 lanes of the tiles' accumulator vectors.
    public var lanes: Int { self == .vnni ? 16 : 8 }

    /// `ROENTGEN_KERNEL` if it is set to a supported variant, else `best` (an unknown or
    /// unsupported request is reported once on stderr).
    public static let selected: KernelVariant = {
        guard let raw = getenv("ROENTGEN_KERNEL").map({ String(cString: $0) }), !raw.isEmpty else { return best }
        guard let v = KernelVariant(rawValue: raw.lowercased()) else {
            warn("ROENTGEN_KERNEL=\(raw) is not one of portable, avx2, avxvnni, vnni; using \(best.rawValue)")
            return best
        }
        guard v.isSupported else {
            warn("ROENTGEN_KERNEL=\(raw): this CPU cannot run it; using \(best.rawValue)")
            return best
        }
        return v
    }()

    public var description: String {
        switch self {
        case .portable: return "portable (Swift SIMD, exact float partial sums)"
        case .avx2: return "avx2 (vpmaddwd s16 x s16)"
        case .avxvnni: return "avxvnni (AVX-VNNI vpdpbusd ymm u8 x s8)"
        case .vnni: return "vnni (AVX-512 vpdpbusd u8 x s8)"
        }
    }
}

private func warn(_ message: String) {
    var line = "roentgen: warning: \(message)\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}
