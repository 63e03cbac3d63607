import Synchronization
import Testing
@testable import RoentgenKernels

@Suite struct KernelVariantTests {
    @Test func bestAndSelectedAreSupported() {
        #expect(KernelVariant.portable.isSupported)
        #expect(KernelVariant.best.isSupported)
        #expect(KernelVariant.selected.isSupported)
        // VNNI and AVX-VNNI imply AVX2 in the feature query (bits 1 and 2 are only set with bit 0).
        if KernelVariant.vnni.isSupported || KernelVariant.avxvnni.isSupported { #expect(KernelVariant.avx2.isSupported) }
    }

    @Test func namesParse() {
        for v in KernelVariant.allCases { #expect(KernelVariant(rawValue: v.rawValue) == v) }
    }
}

final class CountingWork: ParallelWork, @unchecked Sendable {
    let counts: UnsafeMutablePointer<Int>
    let n: Int
    let hits = Atomic<Int>(0)
    /// Chunks run with another op's chunk count or index (a claim that mixed two ops).
    let foreign = Atomic<Int>(0)
    init(_ n: Int) { self.n = n; counts = .allocate(capacity: n); counts.initialize(repeating: 0, count: n); super.init() }
    deinit { counts.deallocate() }
    override func chunkCount(threads: Int) -> Int { threads == 1 ? 1 : n }
    override func runChunk(_ chunk: Int, of chunks: Int) {
        guard chunks == n, chunk < n else { foreign.add(1, ordering: .relaxed); return }
        counts[chunk] += 1          // each chunk is run by exactly one thread
        hits.add(1, ordering: .relaxed)
    }
}

@Suite struct WorkerPoolTests {
    /// Thousands of back-to-back ops (as in inference): every chunk runs exactly once per op.
    @Test(arguments: [2, 3])
    func everyChunkOnce(_ threads: Int) {
        let pool = WorkerPool(threads: threads)
        for n in [2, 3, 7, 16, 64] {
            let work = CountingWork(n)
            for _ in 0..<2000 { pool.run(work) }
            for c in 0..<n { #expect(work.counts[c] == 2000, "chunk \(c) of \(n)") }
            #expect(work.hits.load(ordering: .relaxed) == 2000 * n)
        }
    }

    /// Ops with different chunk counts back to back (as in inference): a thread that read one op's
    /// state and the next op's chunk count must not claim a chunk, which the pool would then run
    /// twice, with the wrong count, and count as done twice.
    @Test(arguments: [2, 3])
    func alternatingChunkCounts(_ threads: Int) {
        let pool = WorkerPool(threads: threads)
        let works = [2, 5, 3, 9, 4, 16, 2, 7].map { CountingWork($0) }
        let rounds = 100_000
        for _ in 0..<rounds { for w in works { pool.run(w) } }
        for w in works {
            #expect(w.foreign.load(ordering: .relaxed) == 0, "chunks of another op run on the \(w.n)-chunk op")
            for c in 0..<w.n { #expect(w.counts[c] == rounds, "chunk \(c) of \(w.n)") }
        }
    }

    /// Both partitions cover 0..<count in order; the tapered one's parts shrink towards the middle
    /// (8, 4, 2, 1, ..., 1, 2, 4, 8), within one element of rounding.
    @Test func partRangesCover() {
        for count in [0, 1, 5, 64, 1000, 3136] {
            for parts in 1...17 {
                for tapered in [false, true] {
                    var next = 0, sizes: [Int] = []
                    for p in 0..<parts {
                        let r = tapered ? taperedRange(count, p, parts) : partRange(count, p, parts)
                        #expect(r.lowerBound == next, "count \(count) parts \(parts) tapered \(tapered)")
                        next = r.upperBound; sizes.append(r.count)
                    }
                    #expect(next == count)
                    if tapered && parts > 2 && count >= 1000 {
                        let middle = sizes[parts / 2], end = sizes[0]
                        #expect(end + 2 >= (parts >= 5 ? 4 : 2) * middle && middle > 0, "count \(count) parts \(parts): sizes \(sizes)")
                    }
                }
            }
        }
    }
}
