// swift-tools-version:6.0
// Roentgen: an int8 inference runtime for classifying radiographs by anatomy.
// The folder tree mirrors the architecture: model format, kernels, float path, image input,
// graph execution (arena + interpreter), and the `roentgen` command.
import PackageDescription

/// `-target-cpu` for an x86-64 kernel module (the manifest is compiled for the host, so an aarch64
/// build gets no flags; those modules' sources are `#if arch(x86_64)`). Functions and loops start
/// on 64-byte lines: otherwise a change anywhere in the binary moved the tiles' loops and their
/// time by up to 10 % (docs/SPEED.md "Stop 24").
func isaFlags(_ cpu: String) -> [SwiftSetting] {
    #if arch(x86_64)
    return [.unsafeFlags(["-target-cpu", cpu, "-Xllvm", "-align-all-functions=6", "-Xllvm", "-align-loops=64"])]
    #else
    return []
    #endif
}

let package = Package(
    name: "Roentgen",
    products: [
        .library(name: "Roentgen", targets: ["Roentgen"]),
        .executable(name: "roentgen", targets: ["roentgen"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C shims: each exists only because Swift cannot reach what it wraps directly.
        .target(name: "CPNG", linkerSettings: [.linkedLibrary("png16")]),
        .target(name: "CJPEG", linkerSettings: [.linkedLibrary("jpeg")]),
        .target(name: "COpenJPEG", linkerSettings: [.linkedLibrary("openjp2")]),
        .systemLibrary(name: "COpenBLAS"),
        .systemLibrary(name: "CZlib"),

        .target(name: "RoentgenFormat", dependencies: ["CRoentgenISA"]),
        // Single-instruction shims (vpdpbusd, vpmaddwd) and the CPU-feature query for the kernel variants.
        .target(name: "CRoentgenISA"),
        // Per-ISA int8 kernels: the same generated Swift, each module compiled for its own CPU so the
        // shims inline; RoentgenKernels picks one at load from the CPU's features (KernelVariant).
        .target(name: "RoentgenKernelsVNNI", dependencies: ["CRoentgenISA"], swiftSettings: isaFlags("cascadelake")),
        .target(name: "RoentgenKernelsAVX2", dependencies: ["CRoentgenISA"], swiftSettings: isaFlags("haswell")),
        // AVX-VNNI without AVX-512 (`alderlake`: no zmm can slip in).
        .target(name: "RoentgenKernelsAVXVNNI", dependencies: ["CRoentgenISA"], swiftSettings: isaFlags("alderlake")),
        .target(name: "RoentgenKernels", dependencies: ["CRoentgenISA", "RoentgenKernelsVNNI", "RoentgenKernelsAVX2", "RoentgenKernelsAVXVNNI"],
                exclude: ["generate_isa_kernels.py", "README.md"]),
        .target(name: "RoentgenFloat", dependencies: ["COpenBLAS", "RoentgenKernels"]),
        .target(name: "RoentgenImage", dependencies: ["CPNG", "CZlib", "CJPEG", "COpenJPEG"]),
        .target(name: "Roentgen",
                dependencies: ["RoentgenFormat", "RoentgenKernels", "RoentgenFloat", "RoentgenImage"]),
        .executableTarget(name: "roentgen", dependencies: [
            "Roentgen", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .testTarget(name: "RoentgenFormatTests", dependencies: ["RoentgenFormat", "RoentgenTestSupport"]),
        .testTarget(name: "RoentgenKernelsTests", dependencies: ["RoentgenKernels", "RoentgenFloat", "MallocCounter"]),
        .testTarget(name: "RoentgenImageTests", dependencies: ["RoentgenImage"]),
        .testTarget(name: "RoentgenTests", dependencies: ["Roentgen", "MallocCounter", "RoentgenTestSupport"]),
        // Test support: writes small format-2.0 files of any op (and files broken in one field) for the
        // Swift tests; the converter (Python) is the writer real models come from.
        .target(name: "RoentgenTestSupport", dependencies: ["RoentgenFormat"], path: "Tests/RoentgenTestSupport"),
        // Test support: counts heap allocations to prove inference allocates nothing.
        .target(name: "MallocCounter", path: "Tests/MallocCounter"),
    ]
)
