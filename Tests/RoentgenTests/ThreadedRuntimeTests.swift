// Inference on a 2-thread interpreter (persistent worker): no heap allocation per image, and the
// int8 logits equal the 1-thread logits bit for bit.
import MallocCounter
import Testing
import Roentgen
import RoentgenImage
import RoentgenFormat
import RoentgenKernels

@Suite struct ThreadedRuntimeTests {
    @Test(arguments: [Fixtures.int8Model, Fixtures.f32Model])
    func twoThreadInferenceAllocatesNothing(modelPath: String) throws {
        let classifier = Classifier(model: try Model(path: modelPath), threads: 2)
        let image = try PNGDecoder.decode(contentsOf: try Fixtures.images()[0])
        Preprocess.tensor(from: image, spec: classifier.model.preprocessSpec, into: classifier.interpreter.input)
        classifier.interpreter.invoke()
        for _ in 0..<3 {
            malloc_counter_start()
            classifier.interpreter.invoke()
            let allocations = malloc_counter_stop()
            #expect(allocations == 0, "\(modelPath): \(allocations) heap allocations in one 2-thread invoke")
        }
    }

    /// A graph of every op kind: no op allocates per image, on any kernel variant, 1 or 2 threads.
    @Test(arguments: ["int8", "f32"])
    func everyOpRunsWithoutAllocating(precision: String) throws {
        let (graph, model) = OpGraph.everyOp(precision: precision)
        let kinds = Set(model.ops.map(\.kind))
        #expect(kinds == Set(OpKind.allCases).subtracting(precision == "int8" ? [] : [.quantize, .dequantize]), "every op kind is in the graph")
        for variant in KernelVariant.allCases where variant.isSupported {
            for threads in [1, 2] {
                let interpreter = Interpreter(model: model, threads: threads, kernelVariant: variant)
                interpreter.input.update(from: graph.image, count: graph.image.count)
                interpreter.invoke()
                for _ in 0..<3 {
                    malloc_counter_start()
                    interpreter.invoke()
                    let allocations = malloc_counter_stop()
                    #expect(allocations == 0, "\(precision) \(variant) \(threads) threads: \(allocations) heap allocations in one invoke")
                }
                #expect(interpreter.logits.allSatisfy { $0.isFinite })
            }
        }
    }

    @Test func twoThreadLogitsEqualOneThread() throws {
        let model = try Model(path: Fixtures.int8Model)
        let one = Classifier(model: model), two = Classifier(model: model, threads: 2)
        for path in try Fixtures.images() {
            let a = try one.classify(path: path), b = try two.classify(path: path)
            #expect(a.scores.map(\.bitPattern) == b.scores.map(\.bitPattern), "\(path)")
        }
    }
}
