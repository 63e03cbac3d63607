// A persistent worker thread (or several) created at load and woken per op without allocation.
// The caller publishes the op (work object, chunk count) and a new generation in one atomic word
// `state` = generation << 32 | first unclaimed chunk << 16 | end of the unclaimed chunks. Every
// thread, the caller included, claims chunks by compare-and-swap on `state`, so a chunk is only
// ever claimed for the generation it belongs to; on a busy machine a descheduled worker costs at
// most the chunk it holds, never half the op. The caller claims from the front and the workers
// from the back: ops cut their maps into chunks in order, so each thread mostly reads what it
// wrote in the op before, from its own core's cache (2 threads: 5-10 % faster than claiming in
// one order, mobilenet_v2 and EfficientNet-Lite0). The op
// itself sits in one of two slots, by generation parity: a thread that read generation G's state
// reads G's slot, which stays untouched while the caller fills G+1's, so it can never pair G's
// chunk index with the next op's work or chunk count (its CAS would then succeed, since G's state
// is still current until G+1 is published, and run a chunk twice or out of range). Workers
// spin briefly between ops (the ops of one image follow each other within microseconds), then
// sleep on a condition variable.
// On a shared machine a worker can be descheduled while it holds a chunk, and the caller then waits
// for a whole time slice (milliseconds) of someone else's process. When the caller has waited more
// for the worker than half the time it worked itself, the pool runs the following ops on the caller
// alone for `soloPeriod` (backing off while the lag persists), then tries again: with a busy second core, T threads cost about what 1 thread does
// instead of several times more; with a free one, nothing changes.
import CRoentgenISA
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Work cut into chunks that may run concurrently, in any order, on any thread. A class (not a
/// protocol) so that the pool can pass it between threads as a plain pointer, without retains.
open class ParallelWork: @unchecked Sendable {
    public init() {}
    /// How many chunks to cut the work into for `threads` threads.
    open func chunkCount(threads: Int) -> Int { 1 }
    open func runChunk(_ chunk: Int, of chunks: Int) {}
}

public final class WorkerPool: @unchecked Sendable {
    /// Threads that work, the caller's included.
    public let threads: Int
    private let state = Atomic<UInt64>(0)          // generation << 32 | next chunk
    private let done = Atomic<Int>(0)              // chunks of the current generation finished
    // The op of an even / odd generation: Unmanaged<ParallelWork> and its chunk count.
    private let evenWork = Atomic<UInt>(0), evenChunks = Atomic<Int>(0)
    private let oddWork = Atomic<UInt>(0), oddChunks = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private var sleepers = 0                       // guarded by mutex
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let cond: UnsafeMutablePointer<pthread_cond_t>
    private var handles: [pthread_t] = []
    /// Seconds an idle worker spins before it sleeps: long enough to bridge the gap between two
    /// ops (a serial op such as QUANTIZE or ADD of a large image takes ~100 us), short enough not to
    /// steal a busy machine's CPU from the caller for long. Timed, since `pause` takes from 10 to
    /// 150 cycles depending on the core.
    static let spinSeconds = 0.000_3
    /// A worker lags when the caller, done with its own chunks, waits more than half the time it
    /// worked plus this (chunks take ~10-50 us).
    static let lagSlack = 0.000_05
    /// ... and more than this in absolute terms (a short wait costs less than working alone).
    static let lagFloor = 0.000_3
    /// How long the caller then works alone before it asks the workers again; doubled while the
    /// workers keep lagging (up to 2 s), reset when an op finishes without lag.
    static let soloBase = 0.005
    private var soloPeriod = WorkerPool.soloBase
    private var soloUntil = 0.0
    /// Ops the caller ran alone because a worker lagged (diagnostics).
    public private(set) var soloOps = 0

    /// The thread's view of its pool: unretained (the pool joins its threads in deinit, so the
    /// memory outlives them; a retained or `unowned` reference would trap or leak during deinit).
    private final class Start {
        unowned(unsafe) let pool: WorkerPool
        init(_ pool: WorkerPool) { self.pool = pool }
    }

    public init(threads: Int) {
        precondition(threads >= 1, "WorkerPool: threads must be >= 1")
        self.threads = threads
        mutex = .allocate(capacity: 1); pthread_mutex_init(mutex, nil)
        cond = .allocate(capacity: 1); pthread_cond_init(cond, nil)
        for _ in 1..<threads {
            let start = Unmanaged.passRetained(Start(self)).toOpaque()
            var handle = pthread_t()
            let rc = pthread_create(&handle, nil, { raw in
                let s = Unmanaged<Start>.fromOpaque(raw!).takeRetainedValue()
                s.pool.workerLoop()
                return nil
            }, start)
            precondition(rc == 0, "WorkerPool: pthread_create failed (\(rc))")
            handles.append(handle)
        }
    }

    deinit {
        stopping.store(true, ordering: .sequentiallyConsistent)
        pthread_mutex_lock(mutex); pthread_cond_broadcast(cond); pthread_mutex_unlock(mutex)
        for h in handles { pthread_join(h, nil) }
        pthread_mutex_destroy(mutex); pthread_cond_destroy(cond)
        mutex.deallocate(); cond.deallocate()
    }

    /// Runs every chunk of `work` (the calling thread takes chunks too); returns when all are
    /// done. Does not allocate. Not reentrant: one caller at a time.
    public func run(_ work: ParallelWork) {
        let n = work.chunkCount(threads: threads)
        precondition(n <= 0xFFFF, "WorkerPool: \(n) chunks (at most 65535)")
        if threads == 1 || n <= 1 {
            for c in 0..<n { work.runChunk(c, of: n) }
            return
        }
        if soloUntil > 0 {
            if monotonicSeconds() < soloUntil {
                soloOps &+= 1
                for c in 0..<n { work.runChunk(c, of: n) }
                return
            }
            soloUntil = 0
        }
        // Every chunk of the previous generation has finished (we waited for it), so no thread
        // can claim anything until the new generation below is published.
        let generation = (state.load(ordering: .relaxed) >> 32) &+ 1
        let bits = UInt(bitPattern: Unmanaged.passUnretained(work).toOpaque())
        if generation & 1 == 0 {
            evenWork.store(bits, ordering: .relaxed); evenChunks.store(n, ordering: .relaxed)
        } else {
            oddWork.store(bits, ordering: .relaxed); oddChunks.store(n, ordering: .relaxed)
        }
        done.store(0, ordering: .relaxed)
        state.store(generation << 32 | UInt64(n), ordering: .sequentiallyConsistent)
        pthread_mutex_lock(mutex)
        let woken = sleepers > 0
        if woken { pthread_cond_broadcast(cond) }
        pthread_mutex_unlock(mutex)
        let begin = monotonicSeconds()
        claim(generation, fromBack: false)
        let mid = monotonicSeconds()
        while done.load(ordering: .acquiring) != n { rtg_pause() }
        let end = monotonicSeconds()
        // A worker that had to be woken is late by its wake-up, not descheduled: that is no lag.
        if !woken && end - mid > 0.5 * (mid - begin) + Self.lagSlack && end - mid > Self.lagFloor {
            soloUntil = end + soloPeriod
            soloPeriod = min(2 * soloPeriod, 2)
        } else {
            soloPeriod = Self.soloBase
        }
    }

    /// Claims and runs chunks of `generation` until none is left (or a newer op was published):
    /// the caller from the front, the workers from the back.
    private func claim(_ generation: UInt64, fromBack: Bool) {
        while true {
            let s = state.load(ordering: .acquiring)
            if s >> 32 != generation { return }
            let lo = Int(s >> 16 & 0xFFFF), hi = Int(s & 0xFFFF)
            if lo >= hi { return }
            // `generation`'s slot: written before its state was published (acquired above).
            let even = generation & 1 == 0
            let n = even ? evenChunks.load(ordering: .relaxed) : oddChunks.load(ordering: .relaxed)
            let bits = even ? evenWork.load(ordering: .relaxed) : oddWork.load(ordering: .relaxed)
            let c = fromBack ? hi - 1 : lo
            // Succeeds only while the state is still `generation`'s: then the caller has not begun
            // to publish generation + 2, the next user of this slot, so `n` and `bits` were its own.
            let claimed = fromBack ? s &- 1 : s &+ (1 << 16)
            guard state.compareExchange(expected: s, desired: claimed, ordering: .acquiringAndReleasing).exchanged else { continue }
            let work = Unmanaged<ParallelWork>.fromOpaque(UnsafeRawPointer(bitPattern: bits)!).takeUnretainedValue()
            work.runChunk(c, of: n)
            done.add(1, ordering: .releasing)
        }
    }

    private func workerLoop() {
        var seen: UInt64 = 0
        while true {
            var spins = 0, sleepAt = 0.0
            while state.load(ordering: .acquiring) >> 32 == seen {
                if stopping.load(ordering: .acquiring) { return }
                spins += 1
                if spins & 63 == 1 {
                    let now = monotonicSeconds()
                    if sleepAt == 0 { sleepAt = now + Self.spinSeconds }
                    if now < sleepAt { rtg_pause(); continue }
                } else { rtg_pause(); continue }
                pthread_mutex_lock(mutex)
                sleepers += 1
                while state.load(ordering: .sequentiallyConsistent) >> 32 == seen && !stopping.load(ordering: .acquiring) {
                    pthread_cond_wait(cond, mutex)
                }
                sleepers -= 1
                pthread_mutex_unlock(mutex)
                spins = 0; sleepAt = 0
            }
            seen = state.load(ordering: .acquiring) >> 32
            claim(seen, fromBack: true)
        }
    }
}

@inline(__always) func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Elementwise work on the pool: `count` elements cut into runs of at least `minimum` (at most 2
/// per thread) that start at multiples of `align` (a cache line; a broadcast operand's channel 0).
/// Each element depends on its own inputs alone, so the result is the same at any thread count.
/// The runs are contiguous and in order, so the caller (which claims from the front) works on
/// the part of the map that it wrote itself in the op before.
open class ElementRuns: ParallelWork, @unchecked Sendable {
    public let count: Int
    let align: Int, minimum: Int

    public init(count: Int, align: Int, minimum: Int) {
        precondition(count >= 0 && align >= 1 && minimum >= 1)
        self.count = count; self.align = align; self.minimum = minimum
    }

    /// Elements `range` (subclasses).
    open func runRange(_ range: Range<Int>) {}

    public override func chunkCount(threads: Int) -> Int { threads <= 1 ? 1 : max(1, min(2 * threads, count / minimum)) }

    public override func runChunk(_ chunk: Int, of chunks: Int) {
        let r = taperedRange((count + align - 1) / align, chunk, chunks)
        let begin = r.lowerBound * align, end = min(count, r.upperBound * align)
        if begin < end { runRange(begin..<end) }
    }

    /// Every element: on `pool` when it has more than one thread, else on the calling thread.
    public func run(pool: WorkerPool?) {
        if let pool, pool.threads > 1 { pool.run(self) } else if count > 0 { runRange(0..<count) }
    }
}

/// Part `part` of `parts` of `0..<count`, as even contiguous ranges.
@inlinable public func partRange(_ count: Int, _ part: Int, _ parts: Int) -> Range<Int> {
    (count * part / parts)..<(count * (part + 1) / parts)
}

/// Part `part` of `parts` of `0..<count` for chunks the pool hands out from both ends (the caller
/// from the front, the workers from the back): contiguous ranges that shrink towards the middle,
/// where the threads meet, weights 8, 4, 2, 1, ..., 1, 2, 4, 8. The thread that runs out of work
/// then waits for a small chunk, not an average one (even chunks: half a chunk per op, ~2.5 us of
/// 27 at 2 threads on mobilenet_v2 int8). Any partition gives the same values.
@inlinable public func taperedRange(_ count: Int, _ part: Int, _ parts: Int) -> Range<Int> {
    if parts <= 2 { return partRange(count, part, parts) }
    @inline(__always) func weight(_ k: Int) -> Int { 8 >> min(k, parts - 1 - k, 3) }
    var before = 0, total = 0
    for k in 0..<parts { if k < part { before += weight(k) }; total += weight(k) }
    return (count * before / total)..<(count * (before + weight(part)) / total)
}
