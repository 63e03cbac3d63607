// Verifies the converter's memory plan before anything is written into the arena.
//
//   arena (arena_size bytes, 64-aligned, allocated once at load)
//   +--------------------+----------+--------------------+------
//   | conv1 out          | conv2 out| ...  activations whose lifetimes do not intersect share bytes
//   +--------------------+----------+--------------------+------
//
// The converter plans; the reader only verifies. Lifetimes are computed here from the ops, never
// read from the file: an activation is live from the op that writes it (the graph input: op 0)
// to the last op that reads it (the graph output: the last op), inclusive. So an op's output never
// shares bytes with its own inputs.
//
// The check is a sweep over op time: at op i the activations born there are added to the set of
// live ones, kept sorted by offset and pairwise disjoint, so a newcomer only needs comparing with
// its two neighbours; then the activations that die at op i leave. O(n log n + n * live).

struct PlanVerifier {
    let model: ParsedModel
    let ops: [OpInfo]

    init(_ model: ParsedModel, ops: [OpInfo]) { self.model = model; self.ops = ops }

    /// First and last op index during which each activation is live; nil for constants.
    static func lifetimes(tensors: [TensorInfo], ops: [OpInfo], input: Int, output: Int) -> [ClosedRange<Int>?] {
        var first = [Int?](repeating: nil, count: tensors.count), last = [Int](repeating: 0, count: tensors.count)
        first[input] = 0
        for op in ops {
            if first[op.output] == nil { first[op.output] = op.index }
            last[op.output] = max(last[op.output], op.index)
            for t in op.inputs where tensors[t].isActivation { last[t] = max(last[t], op.index) }
        }
        last[output] = ops.count - 1
        return tensors.map { t in
            guard t.isActivation, let start = first[t.index] else { return nil }
            return start...max(start, last[t.index])
        }
    }

    func verify() throws(FormatError) -> MemoryPlan {
        let tensors = model.tensors
        let lifetimes = Self.lifetimes(tensors: tensors, ops: ops, input: model.input.inputTensor, output: model.input.outputTensor)
        // Every activation is written by some op (GraphValidator), so every one has a lifetime.
        var born = [[Int]](repeating: [], count: ops.count), dies = [[Int]](repeating: [], count: ops.count)
        for t in tensors where t.isActivation {
            let life = lifetimes[t.index]!
            born[life.lowerBound].append(t.index)
            dies[life.upperBound].append(t.index)
        }
        let offsets = model.offsets
        func extent(_ t: Int) -> Range<Int> { offsets[t]!..<(offsets[t]! + tensors[t].byteCount) }
        var live: [Int] = []   // tensor indices, sorted by offset, pairwise disjoint
        for i in 0..<ops.count {
            for t in born[i] {
                let mine = extent(t)
                // The first live activation that starts at or after this one's offset.
                var lo = 0, hi = live.count
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if offsets[live[mid]]! < mine.lowerBound { lo = mid + 1 } else { hi = mid }
                }
                for neighbour in [lo - 1, lo] where live.indices.contains(neighbour) && extent(live[neighbour]).overlaps(mine) {
                    let other = tensors[live[neighbour]], me = tensors[t]
                    throw FormatError("plan", "\"\(me.name)\" [\(mine.lowerBound), +\(me.byteCount)) and \"\(other.name)\" [\(offsets[other.index]!), +\(other.byteCount)) are live at the same time (op \(i)) and share bytes")
                }
                live.insert(t, at: lo)
            }
            for t in dies[i] { live.removeAll { $0 == t } }
        }
        return MemoryPlan(arenaSize: model.arenaSize, offsets: offsets, lifetimes: lifetimes)
    }
}

extension MemoryPlan {
    /// The activations live during op `i`, for the runtime's scratch placement.
    public func live(at i: Int) -> [Int] {
        lifetimes.indices.filter { lifetimes[$0]?.contains(i) == true }
    }
}
