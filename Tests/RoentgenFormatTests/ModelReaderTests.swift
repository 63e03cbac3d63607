import Foundation
import Testing
import RoentgenFormat
import RoentgenTestSupport

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

extension SHA256Tests {
    /// The SHA-extension compression equals the portable loop on every length class, and runs
    /// wherever the CPU has the extensions (so that this test compares two paths, not one).
    @Test func extensionsEqualPortable() throws {
        let flags = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        #if arch(x86_64)
        #expect(SHA256.accelerated == flags.contains(" sha_ni"), "SHA256.accelerated disagrees with /proc/cpuinfo")
        #endif
        var x: UInt64 = 0x5EED
        let data = (0..<300_000).map { _ -> UInt8 in x = x &* 6364136223846793005 &+ 1442695040888963407; return UInt8(truncatingIfNeeded: x >> 56) }
        for n in [0, 1, 55, 56, 63, 64, 65, 127, 128, 1000, 4096, 299_999, 300_000] {
            func digest(_ accelerated: Bool) -> [UInt8] {
                var h = SHA256.Hasher(accelerated: accelerated)
                data.withUnsafeBytes { h.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                return h.finish()
            }
            #expect(digest(true) == digest(false), "length \(n)")
        }
    }
}

@Suite struct ModelReaderTests {
    static let int8Path = Fixtures.model("cnn-int8.rtg")
    static let f32Path = Fixtures.model("cnn-f32.rtg")

    func fixture(_ path: String = int8Path) throws -> ModelBytes { try ModelBytes(path: path) }

    @Test func readsTheShippedCNN() throws {
        for (path, precision) in [(Self.int8Path, "int8"), (Self.f32Path, "f32")] {
            let model = try ModelReader.load(path: path)
            #expect(model.versionMajor == 2 && model.versionMinor == 2)
            #expect(model.precision == precision)
            let input = model.input
            #expect(input.channels == 1 && input.height == 128 && input.width == 128)
            #expect(input.mean == [0] && input.std == [1] && input.outputKind == .logits)
            #expect(model.tensors[model.input.inputTensor].shape == [1, 128, 128, 1])
            #expect(model.tensors[model.input.outputTensor].name == "logits")
            #expect(model.labels.count == 11)
            #expect(model.ops.filter { $0.kind == .conv2d }.count == 10, "Table 2 has 10 conv layers")
            #expect(model.ops.filter { $0.kind == .maxpool2d }.count == 4)
            #expect(model.ops.filter { $0.kind == .dense }.count == 3)
            for t in model.tensors where t.isConstant { #expect(t.dataOffset % 64 == 0, "\(t.name) aligned") }
            let conv1 = try #require(model.ops.first { $0.kind == .conv2d })
            #expect(conv1.window.kernelHeight == 3 && conv1.window.strideHeight == 1 && conv1.int(.groups) == 1)
            #expect(conv1.float(.alpha).isFinite)
            if precision == "int8" {
                #expect(model.ops.first?.kind == .quantize)
                #expect(model.tensors[model.ops[0].output].name == "input.q")
                #expect(model.plan.arenaSize <= 3 << 19, "int8 activations within 1.5 MiB")
                let weights = model.tensors.filter { $0.isConstant && $0.dtype == .int8 }
                #expect(weights.allSatisfy { $0.quantization?.axis == 0 && $0.quantization?.scales.count == $0.shape[0] })
                #expect(conv1.signature == 0 && conv1.inputs.count == 4, "int8 conv: x, w, b, requant")
            } else {
                #expect(conv1.signature == 1 && conv1.inputs.count == 3, "f32 conv: x, w, b")
            }
        }
    }

    @Test func readsTheSVMHead() throws {
        let model = try ModelReader.load(path: Fixtures.model("svm-int8.rtg"))
        #expect(model.input.outputKind == .svmDecisionValues)
        let head = try #require(model.ops.last)
        #expect(head.kind == .dense && head.signature == 1, "DENSE int8 -> f32")
        #expect(model.tensors[head.output].dtype == .float32, "int32 decision values, dequantized")
        #expect(model.tensors[head.inputs[1]].dtype == .int8, "int8 SVM weights")
        #expect(model.labels.count == 12, "11 anatomy classes and the reject class")
        let confidence = try #require(model.confidence, "the shipped models are calibrated")
        #expect(confidence.temperature > 0 && (0..<1).contains(confidence.minConfidence))
        #expect(confidence.rejectClass == model.labels.firstIndex(of: "other"))
        #expect(model.versionMajor == 2 && model.versionMinor == 2)
    }

    /// A small DAG written by the Swift writer reads back field for field.
    @Test func readsBackADraft() throws {
        let model = try ModelBytes(bytes: TestModels.residual().encode()).parse()
        #expect(model.ops.map(\.kind) == [.quantize, .conv2d, .conv2d, .add, .mean, .dequantize, .reshape])
        let add = model.ops[3]
        #expect(add.inputs == [model.ops[2].output, model.ops[1].output, add.inputs[2]])
        #expect(model.tensors[add.inputs[2]].shape == [3])
        #expect(add.float(.clipMin) == -.infinity && add.int(.outMin) == -20 && add.int(.outMax) == 127)
        let conv = model.ops[2]
        #expect(conv.window == Window(kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 1, dilationHeight: 2,
                                      dilationWidth: 2, padTop: 2, padLeft: 2, padBottom: 2, padRight: 2, ceilMode: false))
        #expect(conv.int(.groups) == 4)
        #expect(model.plan.lifetimes[model.ops[1].output] == 1...3, "the skip branch lives until the ADD")
        #expect(model.labels == ["a", "b", "c", "d"])
        #expect(model.provenance.first { $0.key == "precision" }?.value == "int8")
    }

    @Test func rejectsTruncatedFiles() throws {
        let model = try fixture()
        for length in [0, 7, 64, 127, 128, 1000, model.bytes.count / 2, model.bytes.count - 1] {
            let cut = ModelBytes(bytes: Array(model.bytes[0..<length]))
            let error = try #require(cut.error(), "truncated to \(length)")
            #expect(["header", "header.magic", "header.file_size"].contains(error.field), "\(length): \(error)")
        }
    }

    @Test func rejectsWrongMagic() throws {
        var model = try fixture()
        model.bytes[0] = UInt8(ascii: "X")
        #expect(model.error()?.field == "header.magic")
        let png = ModelBytes(bytes: [0x89, 0x50, 0x4E, 0x47] + [UInt8](repeating: 0, count: 200))
        #expect(png.error()?.description.contains("not a Roentgen model") == true)
    }

    @Test func versionOneAsksForReconversion() throws {
        var model = try fixture()
        model.set(UInt16(1), at: 8)
        model.reseal()
        let error = try #require(model.error())
        #expect(error.field == "header.version_major" && error.description.contains("re-convert"), "\(error)")
    }

    @Test func rejectsNewerMajorVersion() throws {
        var model = try fixture()
        model.set(UInt16(3), at: 8)
        model.reseal()
        let error = try #require(model.error())
        #expect(error.field == "header.version_major")
        #expect(error.description.contains("newer"))
    }

    @Test func acceptsNewerMinorVersion() throws {
        var model = try fixture()
        model.set(UInt16(7), at: 10)
        model.reseal()
        #expect(model.error() == nil)
    }

    /// A 2.x file may carry section kinds this reader does not know; it skips them.
    @Test func skipsUnknownSectionKinds() throws {
        var draft = TestModels.residual()
        draft.extraSections = [(99, [UInt8](repeating: 0xAB, count: 100))]
        var model = ModelBytes(bytes: draft.encode())
        #expect(model.u32(24) == 9)
        #expect(model.error() == nil, "\(model.error().map(\.description) ?? "")")
        // ...but an unknown section still obeys the alignment and overlap rules.
        let entry = 128 + 32 * 8
        let offset = model.u64(entry + 8)
        model.set(offset + 8, at: entry + 8)
        model.set(UInt64(56), at: entry + 16)
        model.reseal()
        #expect(model.error()?.reason.contains("aligned") == true)
        model.set(UInt64(model.section(8).offset), at: entry + 8)
        model.reseal()
        #expect(model.error()?.reason.contains("overlaps") == true)
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
        let parsed = try model.parse()
        let weight = try #require(parsed.tensors.first { $0.isConstant && $0.dtype == .int8 })
        let record = model.tensorRecord(weight.index)
        let tw = "tensor[\(weight.index)] '\(weight.name)'"
        let conv = try #require(parsed.ops.first { $0.kind == .conv2d })
        let cw = "op[\(conv.index)] CONV2D"
        #expect(broken { $0.set(UInt64($0.bytes.count + 64), at: record + 32) }?.field == "\(tw).data_offset")
        #expect(broken { $0.set($0.u64(record + 32) + 1, at: record + 32) }?.reason.contains("aligned") == true)
        #expect(broken { $0.set(UInt32(0), at: record + 16) }?.field == "\(tw).dims[0]")
        #expect(broken { $0.set(UInt32.max, at: record + 16); $0.set(UInt32.max, at: record + 20); $0.set(UInt32.max, at: record + 24) }?
            .field == "\(tw).dims")
        #expect(broken { $0.bytes[record + 8] = 9 }?.field == "\(tw).dtype")
        #expect(broken { $0.bytes[weight.dataOffset] = 0x80 }?.field == "\(tw).data")
        #expect(broken { $0.bytes[weight.dataOffset + weight.byteCount - 1] = 0x80 }?.reason.contains("at element \(weight.byteCount - 1) ") == true)
        #expect(broken { $0.set(UInt32(1), at: 28) }?.field == "header.flags")
        #expect(broken { $0.bytes[100] = 1 }?.field == "header.reserved")
        #expect(broken { $0.set(UInt32(7), at: 24) }?.field == "header.section_count")
        #expect(broken { $0.set(UInt64(130), at: 128 + 8) }?.field == "section[0].offset")
        #expect(broken { $0.set(UInt32(5), at: $0.section(2).offset) }?.field == "input.channels")
        #expect(broken { $0.set(Float(2), at: $0.section(2).offset + 20) }?.field == "input.mean[1]", "unused mean slots are 0")
        #expect(broken { $0.set(UInt32(1), at: $0.section(2).offset + 60) }?.field == "input.reserved")
        let op1 = model.opRecord(1)
        let w1 = "op[1] \(parsed.ops[1].kind.name)"
        #expect(broken { $0.set(UInt32(9999), at: op1 + 16) }?.field == "\(w1).inputs[0]")
        #expect(broken { $0.set(UInt32(77), at: op1) }?.field == "op[1].kind")
        #expect(broken { $0.set(UInt32(3), at: op1 + 12) }?.field == "\(w1).attr_count")
        #expect(broken { $0.set(UInt32(0), at: op1 + 8) }?.field == "\(w1).input_count")
        let attrs = op1 + 16 + 4 * Int(model.u32(op1 + 8))
        #expect(broken { $0.set(UInt32(2), at: attrs) }?.field == "\(w1).attrs[0].id")
        #expect(broken { $0.set(UInt32(0), at: $0.attribute(.strideH, ofOp: conv.index)) }?.field == "\(cw).attrs.stride_h")
        #expect(broken { $0.set(UInt32(0), at: $0.attribute(.dilationW, ofOp: conv.index)) }?.field == "\(cw).attrs.dilation_w")
        #expect(broken { $0.set(UInt32(1025), at: $0.attribute(.padTop, ofOp: conv.index)) }?.field == "\(cw).attrs.pad_top")
        #expect(broken { $0.set(Float.nan, at: $0.attribute(.alpha, ofOp: conv.index)) }?.field == "\(cw).attrs.alpha")
        // clip does not apply to an int8 CONV2D: it must hold its neutral -inf
        #expect(broken { $0.set(Float(0), at: $0.attribute(.clipMin, ofOp: conv.index)) }?.reason.contains("neutral") == true)
        #expect(broken { $0.set(Int32(10), at: $0.attribute(.outMin, ofOp: conv.index)); $0.set(Int32(5), at: $0.attribute(.outMax, ofOp: conv.index)) }?
            .field == "\(cw).attrs.out_min")
        #expect(broken { $0.set(UInt32(2), at: $0.attribute(.groups, ofOp: conv.index)) }?.field == "\(cw).attrs.groups", "2 does not divide 1 channel")
        // op 1 reading op 2's output: read before written
        #expect(broken { $0.set(UInt32(parsed.ops[2].output), at: op1 + 16) }?.reason.contains("before any op writes it") == true)
        #expect(broken { $0.set(UInt32(parsed.ops[0].output), at: $0.opRecord(2) + 4) }?.reason.contains("already written") == true)
    }

    @Test func rejectsRequantizationOutOfRange() throws {
        let model = try fixture()
        let parsed = try model.parse()
        let conv = try #require(parsed.ops.first { $0.kind == .conv2d })
        let table = parsed.tensors[conv.inputs[3]]
        for (at, value, says) in [(4, Int32(63), "shift = 63"), (4, Int32(0), "shift = 0"), (0, Int32.min, "m = -2147483648")] {
            var copy = model
            copy.set(value, at: table.dataOffset + at)
            copy.reseal()
            let error = try #require(copy.error())
            #expect(error.field.hasPrefix("op[\(conv.index)] CONV2D.requant.") && error.reason.contains(says), "\(error)")
        }
    }

    @Test func rejectsAnAccumulatorThatCanOverflow() throws {
        var model = try fixture()
        let parsed = try model.parse()
        let conv = try #require(parsed.ops.first { $0.kind == .conv2d })
        model.set(Int32.max - 1000, at: parsed.tensors[conv.inputs[2]].dataOffset)
        model.reseal()
        let error = try #require(model.error())
        #expect(error.field == "op[\(conv.index)] CONV2D.w" && error.reason.contains("overflow"), "\(error)")
    }

    @Test func rejectsAnActivationPlannedOutsideTheArena() throws {
        var model = try fixture()
        let plan = model.section(6)
        model.set(model.u64(plan.offset) + 64, at: plan.offset + 16 + 8)  // first entry past the arena end
        model.reseal()
        #expect(model.error()?.field == "plan[0].offset")
    }

    @Test func rejectsPlanEntriesOutOfOrder() throws {
        var model = try fixture()
        let plan = model.section(6)
        let a = model.u32(plan.offset + 16), b = model.u32(plan.offset + 32)
        model.set(b, at: plan.offset + 16)
        model.set(a, at: plan.offset + 32)
        model.reseal()
        #expect(model.error()?.field == "plan[1].tensor")
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
        model.set(model.u64(entry(first.inputs[0]) + 8), at: entry(first.output) + 8)
        model.reseal()
        let error = try #require(model.error())
        #expect(error.field.hasPrefix("plan[") && error.reason.contains("shares bytes"), "\(error)")
    }

    @Test func lifetimesFollowTheOps() throws {
        let model = try ModelReader.load(path: Self.int8Path)
        let lifetimes = model.plan.lifetimes
        #expect(lifetimes[model.input.inputTensor] == 0...0, "the image is consumed by the first op")
        #expect(lifetimes[model.input.outputTensor]?.upperBound == model.ops.count - 1)
        for op in model.ops { #expect(lifetimes[op.output]?.lowerBound == op.index) }
        for t in model.tensors { #expect((lifetimes[t.index] == nil) == t.isConstant) }
    }

    /// The plan check is a sweep, not all pairs: 4096 activations verify quickly, and an overlap
    /// among them is still found.
    @Test func planCheckOfTheLargestGraphIsFast() throws {
        var draft = TestModels.chain(activations: FormatLimits.activations)
        let start = Date()
        let model = try ModelBytes(bytes: draft.encode()).parse()
        #expect(model.activationCount == 4096)
        #expect(Date().timeIntervalSince(start) < 5, "reading a 4096-activation file took \(Date().timeIntervalSince(start)) s")
        // Activations 2000 and 2001 are live together (op 2000 reads one, writes the other).
        var (size, offsets) = draft.greedyPlan()
        offsets[2001] = offsets[2000]
        draft.planOffsets = offsets
        draft.arenaSize = size
        let error = try #require(ModelBytes(bytes: draft.encode()).error())
        #expect(error.field == "plan[2001].offset" && error.reason.contains("'t2000'"), "\(error)")
    }

    /// SPEC "Limits": counts beyond them are rejected from the section table, before anything they
    /// size is allocated (the sections below are real, zero-filled, and large enough).
    @Test func rejectsCountsBeyondTheLimits() throws {
        let base = ModelBytes(bytes: TestModels.residual().encode())
        for (kind, count, recordSize, prefix) in [(4, 16385, 64, 0), (5, 4097, 16, 0), (6, 4097, 16, 16), (3, 65537, 8, 0), (7, 1025, 16, 0)] {
            var model = base
            let at = model.bytes.count
            let size = prefix + count * recordSize
            model.bytes += [UInt8](repeating: 0, count: (size + 63) / 64 * 64)
            model.set(UInt64(model.bytes.count), at: 16)
            let entry = model.section(UInt32(kind)).entry
            model.set(UInt64(at), at: entry + 8)
            model.set(UInt64(size), at: entry + 16)
            model.set(UInt64(count), at: entry + 24)
            model.reseal()
            let error = try #require(model.error(), "kind \(kind)")
            #expect(error.field == "section[\(kind - 1)].count" && error.reason.contains("more than the limit"), "kind \(kind): \(error)")
        }
        var arena = base
        arena.set(UInt64((1 << 30) + 64), at: arena.section(6).offset)
        arena.reseal()
        #expect(arena.error()?.field == "plan.arena_size")
        var tall = base
        tall.set(UInt32(16385), at: tall.section(2).offset + 4)
        tall.reseal()
        #expect(tall.error()?.field == "input.height")
        var wide = base
        wide.set(UInt32(257), at: wide.opRecord(0) + 8)
        wide.reseal()
        #expect(wide.error()?.field == "op[0] QUANTIZE.input_count")
    }

    /// A pool's pads need only be smaller than its kernel, so a huge kernel can pass the window
    /// rule; AVGPOOL2D's KH * KW * 255 bound must then be checked without overflowing.
    @Test func rejectsAHugeAveragePoolWindowWithoutOverflow() throws {
        var d = ModelDraft(channels: 1, height: 2, width: 2)
        let x = d.activation("input", .float32, [1, 2, 2, 1])
        let q = d.activation("input.q", .int8, [1, 2, 2, 1], scale: 0.1, zeroPoint: 0)
        d.op(.quantize, [x], q)
        let k = 1 << 30
        let pooled = d.activation("pool", .int8, [1, 2, 2, 1], scale: 0.1, zeroPoint: 0)
        let requant = d.constant("requant", int32: [1 << 30, 30], [1, 2])
        d.op(.avgpool2d, [q, requant], pooled, [.kernelH: Double(k), .kernelW: Double(k), .strideH: Double(k), .strideW: Double(k),
                                                .padTop: Double(k - 1), .padLeft: Double(k - 1), .padBottom: Double(k - 1), .padRight: Double(k - 1)])
        let y = d.activation("y", .float32, [1, 2, 2, 1])
        d.op(.dequantize, [pooled], y)
        let logits = d.activation("logits", .float32, [1, 4])
        d.op(.reshape, [y], logits)
        d.inputTensor = x; d.outputTensor = logits; d.labels = ["a", "b", "c", "d"]
        let error = try #require(ModelBytes(bytes: d.encode()).error())
        #expect(error.field == "op[1] AVGPOOL2D.attrs.kernel_h" && error.reason.contains("overflow"), "\(error)")
    }

    /// Random changes to the metadata, re-sealed: the reader accepts the file or names a field,
    /// never crashes; and most such files are rejected (RoentgenTests runs the accepted ones).
    @Test func survivesResealedMutations() throws {
        let model = try fixture()
        var rng = SplitMix(seed: 42)
        let metadataEnd = model.section(8).offset   // mutate everything before the weight data
        var rejected = 0
        let trials = 200
        for _ in 0..<trials {
            var copy = model
            for _ in 0..<(1 + Int(rng.next() % 3)) {
                copy.bytes[Int(rng.next() % UInt64(metadataEnd))] = UInt8(truncatingIfNeeded: rng.next())
            }
            copy.reseal()
            if let error = copy.error() {
                rejected += 1
                #expect(!error.field.isEmpty && !error.description.contains("\n"), "\(error)")
            }
        }
        #expect(rejected >= trials / 2, "only \(rejected) of \(trials) mutated files were rejected")
    }
}
