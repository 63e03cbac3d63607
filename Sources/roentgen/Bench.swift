// `roentgen bench MODEL`: latency of the inference step on a fixed input (min, median, p90, p99),
// end to end (PNG decode + preprocess + inference) on a fixture image, images per second, arena
// bytes, peak RSS, and which kernel variant ran. `--serve` stays loaded and times one batch per stdin
// line, for a benchmark that keeps Roentgen warm as it keeps its in-process peers (roentgen-peers).

import ArgumentParser
import Foundation
import Roentgen
import RoentgenKernels
import CRoentgenISA
#if canImport(Glibc)
import Glibc
#endif

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Measure inference latency (and end-to-end latency on a PNG).")

    @Argument(help: "The model file (.rtg).") var model: String
    @Option(help: "Threads for inference (a persistent worker per extra thread).") var threads: Int = 1
    @Option(help: "Timed runs.") var runs: Int = 200
    @Option(help: "Untimed warm-up runs.") var warmup: Int = 20
    @Option(help: "PNG for the end-to-end timing (default: the first of fixtures/images, if present).") var image: String?
    @Flag(help: "One JSON object.") var json = false
    @Flag(name: .customLong("per-op"), help: "Also print each op's median time (measured with invoke(afterEach:)).") var perOp = false
    @Flag(help: ArgumentHelp("Stay loaded and time one batch per stdin line 'RUNS WARMUP', one JSON line each, until EOF.",
                             discussion: "How roentgen-peers times Roentgen in one warm process, as it times the in-process peers."))
    var serve = false

    func validate() throws {
        guard (1...64).contains(threads) else { throw ValidationError("--threads must be in 1...64") }
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
        guard warmup >= 0 else { throw ValidationError("--warmup must be >= 0") }
    }

    func run() throws {
        let loaded = try loadModel(model)
        let classifier = Classifier(model: loaded, threads: threads)
        let interpreter = classifier.interpreter
        let input = loaded.file.input
        let count = input.height * input.width * input.channels
        // Fixed input: a smooth deterministic pattern in the normalised range, written again before
        // every run (untimed), as preprocessing does: the arena plan reuses the input's bytes for
        // later activations, so without it every run after the first would quantize those.
        let pattern = (0..<count).map { Float(($0 * 7919) % 1000) / 1000 * 2 - 1 }
        func setInput() { pattern.withUnsafeBufferPointer { interpreter.input.update(from: $0.baseAddress!, count: count) } }
        let variant = interpreter.kernelVariant
        let kernel = loaded.file.precision == "int8" ? variant.rawValue
            : (variant == .portable ? "openblas-sgemm" : "\(variant.rawValue)-f32")
        if serve {
            while let line = readLine() {
                let words = line.split(separator: " ").compactMap { Int($0) }
                guard words.count == 2, words[0] >= 1, words[1] >= 0 else { throw fail("bench --serve: '\(line)' is not 'RUNS WARMUP'") }
                let m = Bench.time(runs: words[0], warmup: words[1], setInput: setInput, interpreter: interpreter)
                print(JSON.line([("kernel", .string(kernel)), ("threads", .int(threads))] + m.fields))
                fflush(nil)   // every stream: the reader waits for this line
            }
            return
        }
        let m = Bench.time(runs: runs, warmup: warmup, setInput: setInput, interpreter: interpreter)
        let times = m.times, median = m.percentile(0.5)

        var perOpLines: [String] = []
        if perOp && !json {
            var opTimes = [[Double]](repeating: [], count: loaded.file.ops.count)
            for _ in 0..<max(5, runs / 4) {
                setInput()
                var last = Clock.now()
                interpreter.invoke { op in
                    let now = Clock.now()
                    opTimes[op.index].append((now - last) * 1e3)
                    last = now
                }
            }
            // Ops are named by the tensor they write (the converter's layer names).
            let width = loaded.file.ops.map { loaded.file.tensors[$0.output].name.count }.max() ?? 0
            for (i, op) in loaded.file.ops.enumerated() {
                let t = opTimes[i].sorted()
                let y = loaded.file.tensors[op.output]
                perOpLines.append("  op \(String(i).leftPadded(3)) \(y.name.padding(toLength: width, withPad: " ", startingAt: 0)) "
                      + "\(op.kind.name.padding(toLength: 10, withPad: " ", startingAt: 0)) "
                      + String(format: "%8.3f ms  ", t[t.count / 2]) + y.shape.map(String.init).joined(separator: "x") + " \(y.dtype.name)")
            }
        }

        var e2e: Double? = nil
        if let png = image ?? defaultImage() {
            let n = max(3, min(runs, 50))
            var t = [Double]()
            for i in 0..<(n + 2) {
                do {
                    let r = try classifier.classify(path: png)
                    if i >= 2 { t.append(r.latencyMs) }
                } catch { throw fail(error.message) }
            }
            t.sort()
            e2e = t[t.count / 2]
        }
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let peakRSS = Int(usage.ru_maxrss) * 1024

        if json {
            var fields: [(String, JSON)] = [("model", .string(model)), ("precision", .string(loaded.file.precision)),
                                            ("kernel", .string(kernel)), ("threads", .int(threads))] + m.fields
            if let e2e { fields += [("e2e_median_ms", .double(e2e)), ("e2e_images_per_second", .double(1000 / e2e))] }
            fields += [("arena_bytes", .int(interpreter.arenaPlan.totalBytes)), ("activation_bytes", .int(interpreter.arenaPlan.activationBytes)),
                       ("peak_rss_bytes", .int(peakRSS))]
            print(JSON.line(fields))
            return
        }
        let kernelText = loaded.file.precision == "int8" ? variant.description
            : (variant == .portable ? "f32 (im2col + OpenBLAS sgemm, 1 BLAS thread per chunk)" : "\(variant.rawValue)-f32 (packed FMA tiles)")
        print("\(model): \(loaded.file.precision), kernel \(kernelText), \(threads) thread\(threads == 1 ? "" : "s")")
        print(String(format: "inference: min %.3f  median %.3f  p90 %.3f  p99 %.3f ms  (%d runs, %d warm-up)  %.1f images/s",
                     times[0], median, m.percentile(0.9), m.percentile(0.99), runs, warmup, 1000 / median))
        print(String(format: "timed runs: off-CPU median %.3f ms; %d of %d runs undisturbed (< 0.05 ms off-CPU), their median %.3f ms; "
                     + "%d page faults, %d involuntary context switches; clock %.2f GHz before, %.2f after%@",
                     m.offCPUMedian, m.undisturbed.count, runs, m.undisturbedMedian, m.faults, m.preempted, m.clockBefore,
                     m.clockAfter, threads > 1 ? "; \(m.soloOps) ops run without the worker (it lagged)" : ""))
        if let e2e { print(String(format: "end to end (decode + preprocess + inference): median %.3f ms  %.1f images/s", e2e, 1000 / e2e)) }
        print("arena_bytes: \(interpreter.arenaPlan.totalBytes) (activations \(interpreter.arenaPlan.activationBytes), kernel scratch beyond them \(interpreter.arenaPlan.scratchBeyondActivations))")
        print("peak_rss: \(peakRSS / 1024) KiB")
        if !perOpLines.isEmpty {
            print("per op (median of \(max(5, runs / 4)) runs, named by the tensor each writes):")
            perOpLines.forEach { print($0) }
        }
    }

    /// One batch: `warmup` untimed runs, then `runs` timed ones. Why a run is slow, measured rather
    /// than guessed: the calling thread's CPU time next to the wall time (the difference is time the
    /// core ran something else), page faults and context switches over the timed runs, and the clock
    /// before and after them.
    struct Batch {
        var times: [Double], offCPU: [Double]       // ms, by increasing time; offCPU[i] is run i's
        var faults: Int, preempted: Int, soloOps: Int, warmup: Int
        var clockBefore: Double, clockAfter: Double
        var undisturbed: [Double] { zip(times, offCPU).filter { $0.1 < 0.05 }.map(\.0) }
        var undisturbedMedian: Double { let u = undisturbed; return u.isEmpty ? .nan : u[u.count / 2] }
        var offCPUMedian: Double { offCPU.sorted()[offCPU.count / 2] }
        func percentile(_ p: Double) -> Double { times[min(times.count - 1, Int((Double(times.count - 1) * p).rounded()))] }
        var fields: [(String, JSON)] {
            [("runs", .int(times.count)), ("warmup", .int(warmup)),
             ("min_ms", .double(times[0])), ("median_ms", .double(percentile(0.5))), ("p90_ms", .double(percentile(0.9))),
             ("p99_ms", .double(percentile(0.99))), ("images_per_second", .double(1000 / percentile(0.5))),
             ("off_cpu_median_ms", .double(offCPUMedian)), ("undisturbed_runs", .int(undisturbed.count)),
             ("undisturbed_median_ms", .double(undisturbedMedian)), ("page_faults", .int(faults)),
             ("involuntary_switches", .int(preempted)), ("solo_ops", .int(soloOps)),
             ("clock_ghz_before", .double(clockBefore)), ("clock_ghz_after", .double(clockAfter))]
        }
    }

    static func time(runs: Int, warmup: Int, setInput: () -> Void, interpreter: Interpreter) -> Batch {
        for _ in 0..<warmup { setInput(); interpreter.invoke() }
        let clockBefore = clockGHz()
        var times = [Double](repeating: 0, count: runs), offCPU = [Double](repeating: 0, count: runs)
        let usageBefore = usage(), soloBefore = interpreter.soloOps
        for r in 0..<runs {
            setInput()
            let t0 = Clock.now(), c0 = threadCPU()
            interpreter.invoke()
            times[r] = (Clock.now() - t0) * 1e3
            offCPU[r] = times[r] - (threadCPU() - c0) * 1e3
        }
        let usageAfter = usage(), soloOps = interpreter.soloOps - soloBefore
        let clockAfter = clockGHz()
        // sorted together by time, so that the undisturbed filter still pairs each run with its own off-CPU time
        let order = times.indices.sorted { times[$0] < times[$1] }
        return Batch(times: order.map { times[$0] }, offCPU: order.map { offCPU[$0] },
                     faults: Int(usageAfter.ru_minflt - usageBefore.ru_minflt + usageAfter.ru_majflt - usageBefore.ru_majflt),
                     preempted: Int(usageAfter.ru_nivcsw - usageBefore.ru_nivcsw), soloOps: soloOps, warmup: warmup,
                     clockBefore: clockBefore, clockAfter: clockAfter)
    }

    static func threadCPU() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    static func usage() -> rusage {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return u
    }

    /// GHz of a 20 M dependent-add chain (the best of 3, so that a preemption does not count).
    static func clockGHz() -> Double {
        var best = Double.infinity
        for _ in 0..<3 {
            let t0 = Clock.now()
            _ = rtg_dependent_adds(20_000_000)
            best = min(best, Clock.now() - t0)
        }
        return 20_000_000 / best / 1e9
    }

    private func defaultImage() -> String? {
        let dir = "fixtures/images"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return nil }
        return names.filter { $0.hasSuffix(".png") }.sorted().first.map { dir + "/" + $0 }
    }
}
