// The arena: activations at the file's offsets, each op's scratch placed first fit around the
// activations live at that op (SPEC "PLAN", "Scratch").

import Foundation
import Testing
import Roentgen
import RoentgenFormat
import RoentgenKernels

@Suite struct ArenaPlanTests {
    /// Every property of SPEC's rule, checked on one interpreter's plan: scratch is 64-aligned,
    /// shares no byte with an activation live at its op, sits at the lowest such offset, and the
    /// arena is exactly max(arena_size, end of every scratch).
    static func checkRule(_ interpreter: Interpreter, _ what: String) {
        let model = interpreter.model, plan = interpreter.arenaPlan
        for op in model.ops {
            let scratch = plan.scratch[op.index]
            let live = model.plan.live(at: op.index).map { plan.activations[$0]! }
            guard !scratch.isEmpty else { continue }
            #expect(scratch.lowerBound % 64 == 0, "\(what) op \(op.index): scratch at \(scratch.lowerBound)")
            #expect(!live.contains { $0.overlaps(scratch) }, "\(what) op \(op.index): scratch \(scratch) overlaps a live activation")
            for lower in stride(from: 0, to: scratch.lowerBound, by: 64) {
                let earlier = lower..<(lower + scratch.count)
                #expect(live.contains { $0.overlaps(earlier) }, "\(what) op \(op.index): \(earlier) was free, first fit is lower")
            }
        }
        #expect(plan.totalBytes == max(plan.activationBytes, plan.scratch.map(\.upperBound).max() ?? 0), "\(what)")
        #expect(interpreter.arena.size == plan.totalBytes)
    }

    @Test(arguments: [Fixtures.int8Model, Fixtures.f32Model, Fixtures.svmInt8Model])
    func scratchAvoidsLiveActivations(modelPath: String) throws {
        let model = try Model(path: modelPath)
        for variant in KernelVariant.allCases where variant.isSupported {
            let interpreter = Interpreter(model: model.file, kernelVariant: variant)
            #expect(interpreter.arenaPlan.scratch.contains { !$0.isEmpty }, "the convs need scratch")
            Self.checkRule(interpreter, "\(modelPath) \(variant)")
        }
    }

    /// A DAG whose skip connection stays live across the ops that need scratch.
    @Test func scratchAroundASkipConnection() throws {
        var g = OpGraph([8, 8, 8], seed: 0x5C)
        let (xq, _) = g.quantized(scale: 1.0 / 32, zeroPoint: 0)
        var previous = xq
        for i in 0..<3 {
            let w = g.draft.constant("w\(i)", int8: g.rng.int8s(8 * 9 * 8), [8, 3, 3, 8], scales: [Float](repeating: 0.01, count: 8))
            let b = g.draft.constant("b\(i)", int32: [Int32](repeating: 0, count: 8), [8], scales: [Float](repeating: 0.01 / 32, count: 8))
            let r = g.draft.constant("r\(i)", int32: Array(repeating: [1 << 30, 34, 1 << 30, 34], count: 8).flatMap { $0 }, [8, 4])
            let y = g.int8([1, 8, 8, 8], scale: 1.0 / 32, zeroPoint: 0)
            g.draft.op(.conv2d, [previous, w, b, r], y, [.kernelH: 3, .kernelW: 3, .padTop: 1, .padLeft: 1, .padBottom: 1, .padRight: 1])
            previous = y
        }
        let sum = g.int8([1, 8, 8, 8], scale: 1.0 / 16, zeroPoint: 0)
        g.draft.op(.add, [previous, xq, g.draft.constant("add", int32: [1 << 29, 1 << 29, 30], [3])], sum)
        let model = g.finish(sum)
        for variant in KernelVariant.allCases where variant.isSupported {
            let interpreter = Interpreter(model: model, kernelVariant: variant)
            Self.checkRule(interpreter, "skip \(variant)")
            // The skip (xq) is live at every conv, so no conv's scratch may touch it.
            for op in model.ops where op.kind == .conv2d {
                #expect(!interpreter.arenaPlan.scratch[op.index].overlaps(interpreter.arenaPlan.activations[xq]!))
            }
        }
    }

    @Test func firstFitTakesTheLowestGap() {
        let busy = [0..<100, 192..<300]
        #expect(ArenaPlan.firstFit(64, avoiding: busy) == 128..<192, "the gap between them, 64-aligned")
        #expect(ArenaPlan.firstFit(65, avoiding: busy) == 320..<385, "too big for the gap: past the last")
        #expect(ArenaPlan.firstFit(0, avoiding: busy).isEmpty)
        #expect(ArenaPlan.firstFit(500, avoiding: []) == 0..<500)
        #expect(ArenaPlan.firstFit(64, avoiding: [64..<128]) == 0..<64)
    }
}
