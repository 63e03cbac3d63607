import Foundation
import Testing
import RoentgenFormat

@Suite struct SHA256Tests {
    @Test func knownVectors() {
        func hex(_ s: String) -> String { SHA256.hex(Array(s.utf8).withUnsafeBytes { SHA256.hash($0) }) }
        #expect(hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(hex(String(repeating: "a", count: 1_000_000)) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func incrementalEqualsOneShot() {
        let data = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7919) }
        let whole = data.withUnsafeBytes { SHA256.hash($0) }
        for split in [0, 1, 55, 56, 63, 64, 65, 500, 999, 1000] {
            var hasher = SHA256.Hasher()
            data.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<split])); hasher.update(UnsafeRawBufferPointer(rebasing: $0[split...])) }
            #expect(hasher.finish() == whole, "split at \(split)")
        }
    }
}

@Suite struct ModelReaderTests {
    static let int8Path = "fixtures/models/cnn-int8.rtg"
    static let f32Path = "fixtures/models/cnn-f32.rtg"

    func fixture(_ path: String = int8Path) throws -> ModelBytes { ModelBytes(bytes: try Fixtures.bytes(path)) }

    @Test func readsTheShippedCNN() throws {
        for (path, precision) in [(Self.int8Path, "int8"), (Self.f32Path, "f32")] {
            let model = try ModelReader.load(path: Fixtures.path(path))
            #expect(model.versionMajor == 1 && model.versionMinor == 0)
            #expect(model.precision == precision)
            #expect(model.input == model.input)
            #expect(model.input.channels == 1 && model.input.height == 128 && model.input.width == 128)
            #expect(model.labels.count == 11)
            #expect(model.ops.filter { $0.kind == .conv2d }.count == 10, "Table 2 has 10 conv layers")
            #expect(model.ops.filter { $0.kind == .maxPool2d }.count == 4)
            #expect(model.ops.filter { $0.kind == .dense }.count == 3)
            for t in model.tensors where t.isConstant { #expect(t.dataOffset % 64 == 0, "\(t.name) aligned") }
            if precision == "int8" {
                #expect(model.ops.first?.kind == .quantize)
                #expect(model.plan.arenaSize <= 1 << 20, "int8 arena within 1 MiB")
                let weights = model.tensors.filter { $0.isConstant && $0.dtype == .int8 }
                #expect(weights.allSatisfy { $0.quantization?.axis == 0 && $0.quantization?.scales.count == $0.shape[0] })
            }
        }
    }

    @Test func readsTheSVMHead() throws {
        let model = try ModelReader.load(path: Fixtures.path("fixtures/models/svm-int8.rtg"))
        #expect(model.input.outputKind == .svmDecisionValues)
        let head = try #require(model.ops.last)
        #expect(head.kind == .dense)
        #expect(model.tensors[head.output].dtype == .float32, "int32 decision values, dequantized")
        #expect(model.tensors[head.inputs[1]!].dtype == .int8, "int8 SVM weights")
        #expect(model.labels.count == 11)
    }

    @Test func rejectsTruncatedFiles() throws {
        let model = try fixture()
        for length in [0, 7, 64, 127, 128, 1000, model.bytes.count / 2, model.bytes.count - 1] {
            let cut = ModelBytes(bytes: Array(model.bytes[0..<length]))
            let error = try #require(cut.error(), "truncated to \(length)")
            #expect(["header", "magic", "file_size"].contains(error.field), "\(length): \(error)")
        }
    }

    @Test func rejectsWrongMagic() throws {
        var model = try fixture()
        model.bytes[0] = UInt8(ascii: "X")
        #expect(model.error()?.field == "magic")
        let png = ModelBytes(bytes: [0x89, 0x50, 0x4E, 0x47] + [UInt8](repeating: 0, count: 200))
        #expect(png.error()?.description.contains("not a Roentgen model") == true)
    }

    @Test func rejectsNewerMajorVersion() throws {
        var model = try fixture()
        model.set(UInt16(2), at: 8)
        model.reseal()
        let error = try #require(model.error())
        #expect(error.field == "version_major")
        #expect(error.description.contains("newer"))
    }

    @Test func acceptsNewerMinorVersion() throws {
        var model = try fixture()
        model.set(UInt16(7), at: 10)
        model.reseal()
        #expect(model.error() == nil)
    }

    @Test func everyFlippedBitIsCaught() throws {
        let model = try fixture()
        var rng = SplitMix(seed: 0x5eed)
        for _ in 0..<200 {
            var copy = model
            let at = Int(rng.next() % UInt64(copy.bytes.count))
            copy.bytes[at] ^= UInt8(1 << (rng.next() % 8))
            #expect(copy.error() != nil, "bit flip at byte \(at) went unnoticed")
        }
    }

    @Test func namesTheBadFieldAfterResealing() throws {
        let model = try fixture()
        func broken(_ change: (inout ModelBytes) -> Void) -> FormatError? {
            var copy = model
            change(&copy)
            copy.reseal()
            return copy.error()
        }
        let weight = (0..<model.section(4).count).first { model.bytes[model.tensorRecord($0) + 9] == 1 }!
        let record = model.tensorRecord(weight)
        #expect(broken { $0.set(UInt64($0.bytes.count + 64), at: record + 32) }?.field.hasSuffix("data_offset") == true)
        #expect(broken { $0.set($0.u64(record + 32) + 1, at: record + 32) }?.reason.contains("aligned") == true)
        #expect(broken { $0.set(UInt32(0), at: record + 16) }?.field.contains("dims[0]") == true)
        #expect(broken { $0.set(UInt32.max, at: record + 16); $0.set(UInt32.max, at: record + 20) }?.field.hasSuffix("dims") == true)
        #expect(broken { $0.bytes[record + 8] = 9 }?.field.hasSuffix("dtype") == true)
        #expect(broken { $0.set(UInt32(1), at: 28) }?.field == "flags")
        #expect(broken { $0.set(UInt64(130), at: 128 + 8) }?.field == "section[0].offset")
        #expect(broken { $0.set(UInt32(5), at: $0.section(2).offset) }?.field == "input.channels")
        #expect(broken { $0.set(UInt32(9999), at: $0.opRecord(1) + 12) }?.field == "op[1].inputs[0]")
        #expect(broken { $0.set(UInt32(77), at: $0.opRecord(1)) }?.field == "op[1].kind")
    }

    @Test func rejectsRequantizationOutOfRange() throws {
        var model = try fixture()
        let parsed = try model.parse()
        let conv = try #require(parsed.ops.first { $0.kind == .conv2d })
        let table = parsed.tensors[conv.inputs[3]!]
        model.set(Int32(63), at: table.dataOffset + 4)   // shift_pos of row 0
        model.reseal()
        let error = try #require(model.error())
        #expect(error.reason.contains("shift 63"), "\(error)")
    }

    @Test func rejectsAnActivationPlannedOutsideTheArena() throws {
        var model = try fixture()
        let plan = model.section(6)
        model.set(model.u64(plan.offset) + 64, at: plan.offset + 16 + 8)  // first entry past the arena end
        model.reseal()
        #expect(model.error()?.field.hasPrefix("plan[0]") == true)
    }

    @Test func rejectsAPlanWhereLiveTensorsOverlap() throws {
        var model = try fixture()
        let parsed = try model.parse()
        let first = parsed.ops[0]
        let plan = model.section(6)
        func entry(_ tensor: Int) -> Int {
            (0..<plan.count).map { plan.offset + 16 + 16 * $0 }.first { Int(model.u32($0)) == tensor }!
        }
        // The first op's output placed on its own input: both are live during op 0.
        model.set(model.u64(entry(first.inputs[0]!) + 8), at: entry(first.output) + 8)
        model.reseal()
        let error = try #require(model.error())
        #expect(error.field == "plan" && error.reason.contains("overlap"), "\(error)")
    }

    @Test func lifetimesFollowTheOpList() throws {
        let model = try ModelReader.load(path: Fixtures.path(Self.int8Path))
        let lifetimes = MemoryPlan.lifetimes(of: model)
        #expect(lifetimes[model.input.inputTensor] == 0...0, "the image is consumed by the first op")
        #expect(lifetimes[model.input.outputTensor]?.upperBound == model.ops.count - 1)
        for op in model.ops { #expect(lifetimes[op.output]?.lowerBound == op.index) }
    }

    /// Random single-byte changes, re-sealed: the reader must accept or name a field, never crash.
    @Test func survivesResealedMutations() throws {
        let model = try fixture()
        var rng = SplitMix(seed: 42)
        let metadataEnd = model.section(8).offset   // mutate everything before the weight data
        for _ in 0..<400 {
            var copy = model
            for _ in 0..<(1 + Int(rng.next() % 3)) {
                copy.bytes[Int(rng.next() % UInt64(metadataEnd))] = UInt8(truncatingIfNeeded: rng.next())
            }
            copy.reseal()
            _ = copy.error()
        }
    }
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
}
