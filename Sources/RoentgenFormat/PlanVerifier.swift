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
    let parser: Parser
    let tensors: [TensorInfo]
    let ops: [OpInfo]
    let input: InputSpec
    let arenaSize: Int

    /// First and last op index during which each activation is live; nil for constants.
    static func lifetimes(tensors: [TensorInfo], ops: [OpInfo], input: Int, output: Int) -> [ClosedRange<Int>?] {
        var first = [Int?](repeating: nil, count: tensors.count), last = [Int](repeating: 0, count: tensors.count)
        first[input] = 0
        for op in ops {
            if first[op.output] == nil { first[op.output] = op.index }
            last[op.output] = max(last[op.output], op.index)
            for t in op.inputs where tensors[t].isActivation { last[t] = max(last[t], op.index) }
        }
        last[output] = max(last[output], ops.count - 1)
        return tensors.map { t in
            guard t.isActivation, let start = first[t.index] else { return nil }
            return start...max(start, last[t.index])
        }
    }

    func verify() throws(FormatError) -> MemoryPlan {
        let section = parser.sections[.plan]!
        let bytes = parser.bytes
        var offsets = [Int?](repeating: nil, count: tensors.count)
        var entry = [Int](repeating: 0, count: tensors.count)
        var previous = -1
        for j in 0..<section.count {
            let at = section.offset + 16 + 16 * j
            let t = Int(bytes.le(UInt32.self, at: at)), reserved = bytes.le(UInt32.self, at: at + 4)
            let offset = bytes.le(UInt64.self, at: at + 8)
            let w = "plan[\(j)]"
            guard t < tensors.count, tensors[t].isActivation else { throw FormatError("\(w).tensor", "\(t) is not an activation") }
            guard t != previous else { throw FormatError("\(w).tensor", "'\(tensors[t].name)' has a second entry") }
            guard t > previous else { throw FormatError("\(w).tensor", "\(t) after \(previous) (entries are in increasing tensor order)") }
            previous = t
            guard reserved == 0 else { throw FormatError("\(w).reserved", "\(reserved) is not 0") }
            guard offset % UInt64(FormatVersion.alignment) == 0 else { throw FormatError("\(w).offset", "\(offset) is not 64-aligned") }
            guard offset <= UInt64(arenaSize), UInt64(tensors[t].byteCount) <= UInt64(arenaSize) - offset else {
                throw FormatError("\(w).offset", "'\(tensors[t].name)' [\(offset), \(offset + UInt64(tensors[t].byteCount))) ends beyond arena_size \(arenaSize)")
            }
            offsets[t] = Int(offset)
            entry[t] = j
        }
        if let missing = tensors.first(where: { $0.isActivation && offsets[$0.index] == nil }) {
            throw FormatError("plan.count", "\(section.count) entries for \(tensors.filter(\.isActivation).count) activations ('\(missing.name)' has none)")
        }
        let lifetimes = Self.lifetimes(tensors: tensors, ops: ops, input: input.inputTensor, output: input.outputTensor)
        try checkOverlap(offsets: offsets, entry: entry, lifetimes: lifetimes)
        return MemoryPlan(arenaSize: arenaSize, offsets: offsets, lifetimes: lifetimes)
    }

    private func checkOverlap(offsets: [Int?], entry: [Int], lifetimes: [ClosedRange<Int>?]) throws(FormatError) {
        // Every activation is read by some op or is the graph output (GraphValidator), so every one
        // is written and has a lifetime.
        var born = [[Int]](repeating: [], count: ops.count), dies = [[Int]](repeating: [], count: ops.count)
        for t in tensors where t.isActivation {
            born[lifetimes[t.index]!.lowerBound].append(t.index)
            dies[lifetimes[t.index]!.upperBound].append(t.index)
        }
        func extent(_ t: Int) -> Range<Int> { offsets[t]!..<(offsets[t]! + tensors[t].byteCount) }
        var live: [Int] = []   // tensor indices, sorted by offset, pairwise disjoint
        for i in 0..<ops.count {
            for t in born[i] {   // in tensor order
                let mine = extent(t)
                // The first live activation that starts at or after this one's offset.
                var lo = 0, hi = live.count
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if offsets[live[mid]]! < mine.lowerBound { lo = mid + 1 } else { hi = mid }
                }
                for k in [lo - 1, lo] where live.indices.contains(k) && extent(live[k]).overlaps(mine) {
                    let other = extent(live[k])
                    throw FormatError("plan[\(entry[t])].offset", "'\(tensors[t].name)' [\(mine.lowerBound), \(mine.upperBound)) shares bytes with '\(tensors[live[k]].name)' [\(other.lowerBound), \(other.upperBound)), live at the same time (op \(i))")
                }
                live.insert(t, at: lo)
            }
            for t in dies[i] { live.removeAll { $0 == t } }
        }
    }
}

extension MemoryPlan {
    /// The activations live during op `i`, for the runtime's scratch placement.
    public func live(at i: Int) -> [Int] {
        lifetimes.indices.filter { lifetimes[$0]?.contains(i) == true }
    }
}
