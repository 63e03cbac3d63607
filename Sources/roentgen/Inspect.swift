// `roentgen inspect MODEL`: what is in a model file, after the same checks classify makes.

import ArgumentParser
import Foundation
import Roentgen
import RoentgenFormat
import RoentgenKernels

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a model's format, input, labels, provenance, ops and memory plan.")

    @Argument(help: "The model file (.rtg).") var model: String
    @Flag(help: "One JSON object.") var json = false

    func run() throws {
        let loaded = try loadModel(model)
        let file = loaded.file
        let ops = file.ops.map { op -> (OpInfo, String, [Int], String, [Int], Int) in
            let x = file.tensors[op.inputs[0]!], y = file.tensors[op.output]
            let weights = op.inputs.dropFirst().compactMap { $0 }.filter { file.tensors[$0].isConstant }
                .reduce(0) { $0 + file.tensors[$1].byteCount }
            return (op, x.dtype.name, x.shape, y.name, y.shape, weights)
        }
        if json {
            let input = file.input
            let fields: [(String, JSON)] = [
                ("path", .string(model)),
                ("format_version", .string("\(file.versionMajor).\(file.versionMinor)")),
                ("precision", .string(file.precision)),
                ("file_bytes", .int(file.fileSize)),
                ("sha256", .string(SHA256.hex(file.checksum))),
                ("input", .object([("channels", .int(input.channels)), ("height", .int(input.height)), ("width", .int(input.width)),
                                   ("resize", .string("bilinear")), ("mean", .array(input.mean.map { .float($0) })),
                                   ("std", .array(input.std.map { .float($0) }))])),
                ("labels", .array(file.labels.map { .string($0) })),
                ("provenance", .object(file.provenance.map { ($0.key, .string($0.value)) })),
                ("ops", .array(ops.map { op, dtype, inShape, name, outShape, weights in
                    .object([("index", .int(op.index)), ("kind", .string(op.kind.name)), ("output", .string(name)),
                             ("input_shape", .array(inShape.map { .int($0) })), ("input_dtype", .string(dtype)),
                             ("output_shape", .array(outShape.map { .int($0) })),
                             ("activation", op.leakyAlpha.map { .float($0) } ?? .null), ("weight_bytes", .int(weights))])
                })),
                ("weight_bytes", .int(file.weightBytes)),
                ("arena_bytes", .int(loaded.arenaBytes)),
                ("kernel", .string(KernelVariant.selected.rawValue)),
            ]
            print(JSON.line(fields))
            return
        }
        let input = file.input
        print("\(model): Roentgen model format \(file.versionMajor).\(file.versionMinor), \(file.precision), \(file.fileSize) bytes")
        print("input: \(input.height)x\(input.width)x\(input.channels) (\(input.channels == 1 ? "grayscale" : "RGB")), bilinear resize, mean \(input.mean), std \(input.std)")
        print("labels (\(file.labels.count)): \(file.labels.joined(separator: ", "))")
        print("provenance:")
        for (key, value) in file.provenance { print("  \(key): \(value)") }
        print("ops:")
        for (op, dtype, inShape, name, outShape, weights) in ops {
            let act = op.leakyAlpha.map { $0 == 0 ? " +relu" : " +leaky(\($0))" } ?? ""
            let pad = "\(op.index)".count < 2 ? " " : ""
            print("  \(pad)\(op.index) \(op.kind.name.padding(toLength: 10, withPad: " ", startingAt: 0)) \(dtype) \(inShape) -> \(name) \(outShape)\(act)\(weights > 0 ? "  weights \(weights) B" : "")")
        }
        print("weight_bytes: \(file.weightBytes)")
        print("arena_bytes: \(loaded.arenaBytes)")
        print("kernel: \(KernelVariant.selected) (this CPU supports: \(KernelVariant.allCases.filter(\.isSupported).map(\.rawValue).joined(separator: ", ")); ROENTGEN_KERNEL overrides)")
    }
}
