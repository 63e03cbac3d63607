// Verifies the converter's memory plan before anything is written into the arena.
//
//   arena (arena_size bytes, 64-aligned, allocated once at load)
//   +--------------------+----------+--------------------+------
//   | conv1 out          | conv2 out| ...  tensors whose lifetimes do not intersect share bytes
//   +--------------------+----------+--------------------+------
//
// The converter plans; the reader only verifies. Lifetimes are computed here from the op list,
// never read from the file: a tensor is live from the op that writes it (the graph input: op 0)
// to the last op that reads it (the graph output: the last op), inclusive. So an op's output can
// never share bytes with its own inputs. A float32 conv's im2col scratch lives during that op only.

extension MemoryPlan {
    /// First and last op index during which each activation is live; nil for constants.
    public static func lifetimes(of model: ModelFile) -> [ClosedRange<Int>?] {
        let tensors = model.tensors
        var first = [Int?](repeating: nil, count: tensors.count), last = [Int?](repeating: nil, count: tensors.count)
        first[model.input.inputTensor] = 0
        for op in model.ops {
            for t in op.writes(tensors) {
                if first[t] == nil { first[t] = op.index }
                last[t] = max(last[t] ?? op.index, op.index)
            }
            for case let t? in op.inputs where !tensors[t].isConstant {
                last[t] = max(last[t] ?? op.index, op.index)
            }
        }
        last[model.input.outputTensor] = model.ops.count - 1
        return tensors.map { t in
            guard !t.isConstant, let start = first[t.index] else { return nil }
            return start...max(start, last[t.index] ?? start)
        }
    }

    /// Throws when two activations that are live at the same time share a byte.
    static func verify(_ model: ModelFile) throws(FormatError) {
        let lifetimes = lifetimes(of: model)
        let live = model.tensors.filter { !$0.isConstant }
        for t in live where lifetimes[t.index] == nil {
            throw FormatError("plan", "activation \"\(t.name)\" is never written")
        }
        for (i, a) in live.enumerated() {
            for b in live[(i + 1)...] where lifetimes[a.index]!.overlaps(lifetimes[b.index]!) {
                let oa = model.plan.offsets[a.index]!, ob = model.plan.offsets[b.index]!
                if oa < ob + b.byteCount && ob < oa + a.byteCount {
                    throw FormatError("plan", "\"\(a.name)\" [\(oa), +\(a.byteCount)) and \"\(b.name)\" [\(ob), +\(b.byteCount)) are live at the same time and overlap")
                }
            }
        }
    }
}
