// Where everything inference writes lives: one arena holding the activations at the offsets of the
// file's verified plan (SPEC "PLAN") and each op's kernel scratch, placed by the runtime.
//
//   0                                          arena_size                  totalBytes
//   +------------+---------+----------+--------+---------------------------+
//   | conv1      | pool1   | conv2    |  ...   |                           |   activations
//   +------------+---------+----------+--------+---------------------------+   (file's plan)
//        [scratch of op 3]      [scratch of op 7 ..................]            scratch, first fit
//
// Scratch of op i lives during op i only. It goes, first fit, to the lowest 64-aligned offset where
// it overlaps no activation live at op i, past arena_size where nothing fits (SPEC "Scratch"); so
// scratch of different ops may share bytes with each other and with activations that are dead at
// that op, and the arena is max(arena_size, end of every scratch) bytes.

import RoentgenFormat

public struct ArenaPlan: Sendable {
    /// Per tensor: the activation's byte range (nil for constants), from the file.
    public let activations: [Range<Int>?]
    /// The file's arena_size: the bytes the activations need.
    public let activationBytes: Int
    /// Per op: its scratch's byte range (empty when the op needs none).
    public let scratch: [Range<Int>]
    /// The arena's size: max(arena_size, end of every scratch).
    public let totalBytes: Int

    /// Places each op's `scratchBytes[i]` around the activations live at op i.
    public init(model: ModelFile, scratchBytes: [Int]) {
        precondition(scratchBytes.count == model.ops.count, "ArenaPlan: one scratch size per op")
        let plan = model.plan
        let activations = model.tensors.map { t in plan.offsets[t.index].map { $0..<($0 + t.byteCount) } }
        self.activations = activations
        activationBytes = plan.arenaSize
        // The activations live at each op, by a sweep: born at their first op, gone after their last.
        var born = [[Int]](repeating: [], count: model.ops.count), dies = [[Int]](repeating: [], count: model.ops.count)
        for (t, life) in plan.lifetimes.enumerated() {
            guard let life else { continue }
            born[life.lowerBound].append(t)
            dies[life.upperBound].append(t)
        }
        var live = Set<Int>()
        var scratch: [Range<Int>] = []
        for i in model.ops.indices {
            live.formUnion(born[i])
            let busy = live.map { activations[$0]! }.sorted { $0.lowerBound < $1.lowerBound }
            scratch.append(Self.firstFit(scratchBytes[i], avoiding: busy))
            live.subtract(dies[i])
        }
        self.scratch = scratch
        totalBytes = max(activationBytes, scratch.map(\.upperBound).max() ?? 0)
    }

    /// The lowest 64-aligned offset where `bytes` overlap none of `busy` (sorted by start).
    public static func firstFit(_ bytes: Int, avoiding busy: [Range<Int>]) -> Range<Int> {
        guard bytes > 0 else { return 0..<0 }
        var offset = 0
        for range in busy {
            if offset + bytes <= range.lowerBound { break }
            offset = max(offset, align(range.upperBound))
        }
        return offset..<(offset + bytes)
    }

    static func align(_ n: Int) -> Int { (n + FormatVersion.alignment - 1) / FormatVersion.alignment * FormatVersion.alignment }

    /// Scratch bytes placed beyond the activations' arena_size.
    public var scratchBeyondActivations: Int { totalBytes - activationBytes }
}
