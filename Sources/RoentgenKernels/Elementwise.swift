// ADD and MUL (SPEC "ADD", "MUL"), int8 and f32: `b` of `a`'s shape, or [1, 1, 1, C] broadcast over
// every pixel. int8 runs the variant's SIMD section (addInt8 / mulInt8, exact: see there), chosen
// at init; `reference` is the scalar twin over the shared Requantize.
import CRoentgenISA
#if arch(x86_64)
import RoentgenKernelsVNNI
import RoentgenKernelsAVX2
#endif

typealias EltwiseEntry = (UnsafePointer<rtg_eltwise_args>, UnsafePointer<Int8>, UnsafePointer<Int8>, UnsafeMutablePointer<Int8>, Int, Int) -> Void

func eltwiseEntries(_ variant: KernelVariant) -> (add: EltwiseEntry, mul: EltwiseEntry) {
    switch variant {
    #if arch(x86_64)
    case .vnni: return ({ VNNIKernels.addInt8($0, $1, $2, $3, count: $4, channels: $5) }, { VNNIKernels.mulInt8($0, $1, $2, $3, count: $4, channels: $5) })
    case .avx2, .avxvnni: return ({ AVX2Kernels.addInt8($0, $1, $2, $3, count: $4, channels: $5) }, { AVX2Kernels.mulInt8($0, $1, $2, $3, count: $4, channels: $5) })
    #endif
    default: return ({ PortableKernels.addInt8($0, $1, $2, $3, count: $4, channels: $5) }, { PortableKernels.mulInt8($0, $1, $2, $3, count: $4, channels: $5) })
    }
}

func checkShape(_ name: String, elements: Int, channels: Int, broadcast: Bool) {
    precondition(elements >= 1 && channels >= 1 && (!broadcast || elements % channels == 0),
                 "\(name): \(elements) elements do not split into pixels of \(channels) channels")
}

func checkRequant(_ name: String, _ m: Int32, _ shift: Int32) {
    precondition(m != Int32.min && (1...62).contains(shift), "\(name): requant (\(m), \(shift)) out of range")
}

/// ADD / MUL on the worker pool: `a` and `y` have `elements` values, `b` as many or `channels`
/// broadcast over the pixels. Runs of >= 8 Ki elements that start at a pixel (so a broadcast `b`
/// starts at channel 0) and a 64-element boundary.
open class BinaryElementwise<T>: ElementRuns, @unchecked Sendable {
    public let elements: Int, channels: Int, broadcast: Bool
    private var a: UnsafePointer<T>? = nil, b: UnsafePointer<T>? = nil, y: UnsafeMutablePointer<T>? = nil

    init(_ name: String, elements: Int, channels: Int, broadcast: Bool) {
        checkShape(name, elements: elements, channels: channels, broadcast: broadcast)
        self.elements = elements; self.channels = channels; self.broadcast = broadcast
        var g = 64, c = channels
        while c != 0 { (g, c) = (c, g % c) }
        super.init(count: elements, align: broadcast ? channels / g * 64 : 64, minimum: 8192)
    }

    /// y = a op b over every element, on `pool` when it has more than one thread. No allocation.
    public func run(a: UnsafePointer<T>, b: UnsafePointer<T>, output: UnsafeMutablePointer<T>, pool: WorkerPool? = nil) {
        self.a = a; self.b = b; y = output
        run(pool: pool)
    }

    public override func runRange(_ r: Range<Int>) {
        compute(a! + r.lowerBound, broadcast ? b! : b! + r.lowerBound, y! + r.lowerBound, count: r.count)
    }

    /// `count` elements from the start of a pixel (subclasses).
    open func compute(_ a: UnsafePointer<T>, _ b: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, count: Int) {}
}

public final class AddInt8: BinaryElementwise<Int8>, @unchecked Sendable {
    let args: UnsafeMutablePointer<rtg_eltwise_args>
    let kernel: EltwiseEntry

    public init(elements: Int, channels: Int, broadcast: Bool, multiplierA: Int32, multiplierB: Int32, shift: Int32,
                zeroPointA: Int32, zeroPointB: Int32, outputZeroPoint: Int32, outputMin: Int32 = -128, outputMax: Int32 = 127,
                variant: KernelVariant = .selected) {
        checkRequant("AddInt8", multiplierA, shift); checkRequant("AddInt8", multiplierB, shift)
        precondition(-128 <= outputMin && outputMin <= outputMax && outputMax <= 127, "AddInt8: bad clamp")
        kernel = eltwiseEntries(variant).add
        var a = rtg_eltwise_args()
        a.ma = multiplierA; a.mb = multiplierB; a.shift = shift
        a.za = zeroPointA; a.zb = zeroPointB; a.zy = outputZeroPoint; a.lo = outputMin; a.hi = outputMax
        if shift >= 17 {
            let s = min(shift, 42)
            a.fast = 1
            a.maHi = multiplierA >> 16; a.maLo = multiplierA & 0xFFFF
            a.mbHi = multiplierB >> 16; a.mbLo = multiplierB & 0xFFFF
            a.roundTerm = Int32(1) << (s - 17); a.shiftRight = s - 16
        }
        args = .allocate(capacity: 1)
        args.initialize(to: a)
        super.init("AddInt8", elements: elements, channels: channels, broadcast: broadcast)
    }

    deinit { args.deallocate() }

    /// a + b, requantized.
    public override func compute(_ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>, _ y: UnsafeMutablePointer<Int8>, count: Int) {
        kernel(args, a, b, y, count, broadcast ? channels : 0)
    }

    /// The scalar twin: `clamp(z_y + ((i64(a - z_a) * m_a + i64(b - z_b) * m_b + 2^(s-1)) >> s), lo, hi)`.
    public static func reference(elements: Int, channels: Int, broadcast: Bool, multiplierA: Int32, multiplierB: Int32, shift: Int32,
                                 zeroPointA: Int32, zeroPointB: Int32, outputZeroPoint: Int32, outputMin: Int32 = -128, outputMax: Int32 = 127,
                                 a: UnsafePointer<Int8>, b: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>) {
        for i in 0..<elements {
            let da = Int64(Int32(a[i]) - zeroPointA)
            let db = Int64(Int32(b[broadcast ? i % channels : i]) - zeroPointB)
            let sum = da * Int64(multiplierA) + db * Int64(multiplierB)
            output[i] = Requantize.clamp(Requantize.rounded(sum, shift: shift), zeroPoint: outputZeroPoint, min: outputMin, max: outputMax)
        }
    }
}

public final class MulInt8: BinaryElementwise<Int8>, @unchecked Sendable {
    let args: UnsafeMutablePointer<rtg_eltwise_args>
    let kernel: EltwiseEntry

    public init(elements: Int, channels: Int, broadcast: Bool, multiplier: Int32, shift: Int32,
                zeroPointA: Int32, zeroPointB: Int32, outputZeroPoint: Int32, outputMin: Int32 = -128, outputMax: Int32 = 127,
                variant: KernelVariant = .selected) {
        checkRequant("MulInt8", multiplier, shift)
        precondition(-128 <= outputMin && outputMin <= outputMax && outputMax <= 127, "MulInt8: bad clamp")
        kernel = eltwiseEntries(variant).mul
        var a = rtg_eltwise_args()
        a.ma = multiplier; a.shift = shift
        a.za = zeroPointA; a.zb = zeroPointB; a.zy = outputZeroPoint; a.lo = outputMin; a.hi = outputMax
        if shift >= 33 { a.fast = 1; a.roundTerm = Int32(1) << (shift - 33); a.shiftRight = shift - 32 }
        args = .allocate(capacity: 1)
        args.initialize(to: a)
        super.init("MulInt8", elements: elements, channels: channels, broadcast: broadcast)
    }

    deinit { args.deallocate() }

    /// a * b, requantized.
    public override func compute(_ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>, _ y: UnsafeMutablePointer<Int8>, count: Int) {
        kernel(args, a, b, y, count, broadcast ? channels : 0)
    }

    /// The scalar twin: `clamp(z_y + requantize((a - z_a) * (b - z_b), m, shift), lo, hi)`.
    public static func reference(elements: Int, channels: Int, broadcast: Bool, multiplier: Int32, shift: Int32,
                                 zeroPointA: Int32, zeroPointB: Int32, outputZeroPoint: Int32, outputMin: Int32 = -128, outputMax: Int32 = 127,
                                 a: UnsafePointer<Int8>, b: UnsafePointer<Int8>, output: UnsafeMutablePointer<Int8>) {
        for i in 0..<elements {
            let acc = (Int32(a[i]) - zeroPointA) * (Int32(b[broadcast ? i % channels : i]) - zeroPointB)
            output[i] = Requantize.clamp(Requantize.apply(acc, multiplier: multiplier, shift: shift),
                                         zeroPoint: outputZeroPoint, min: outputMin, max: outputMax)
        }
    }
}

/// f32 ADD / MUL: y = clamp(a op b, clipMin, clipMax), one binary32 operation (exact given its inputs).
public final class AddFloat: BinaryElementwise<Float>, @unchecked Sendable {
    public let clipMin: Float, clipMax: Float
    public init(elements: Int, channels: Int, broadcast: Bool, clipMin: Float = -.infinity, clipMax: Float = .infinity) {
        self.clipMin = clipMin; self.clipMax = clipMax
        super.init("AddFloat", elements: elements, channels: channels, broadcast: broadcast)
    }
    public override func compute(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        floatBinary(count, channels, broadcast, clipMin, clipMax, a, b, y) { $0 + $1 }
    }
    public static func reference(elements: Int, channels: Int, broadcast: Bool, clipMin: Float = -.infinity, clipMax: Float = .infinity,
                                 a: UnsafePointer<Float>, b: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        let e = FloatEpilogue(alpha: 1, clipMin: clipMin, clipMax: clipMax)
        for i in 0..<elements { output[i] = e.apply(a[i] + b[broadcast ? i % channels : i]) }
    }
}

public final class MulFloat: BinaryElementwise<Float>, @unchecked Sendable {
    public let clipMin: Float, clipMax: Float
    public init(elements: Int, channels: Int, broadcast: Bool, clipMin: Float = -.infinity, clipMax: Float = .infinity) {
        self.clipMin = clipMin; self.clipMax = clipMax
        super.init("MulFloat", elements: elements, channels: channels, broadcast: broadcast)
    }
    public override func compute(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        floatBinary(count, channels, broadcast, clipMin, clipMax, a, b, y) { $0 * $1 }
    }
    public static func reference(elements: Int, channels: Int, broadcast: Bool, clipMin: Float = -.infinity, clipMax: Float = .infinity,
                                 a: UnsafePointer<Float>, b: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        let e = FloatEpilogue(alpha: 1, clipMin: clipMin, clipMax: clipMax)
        for i in 0..<elements { output[i] = e.apply(a[i] * b[broadcast ? i % channels : i]) }
    }
}

@inline(__always)
func floatBinary(_ elements: Int, _ channels: Int, _ broadcast: Bool, _ lo: Float, _ hi: Float,
                 _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                 _ op: (Float, Float) -> Float) {
    let clip = lo != -.infinity || hi != .infinity
    let e = FloatEpilogue(alpha: 1, clipMin: lo, clipMax: hi)
    if !broadcast {
        if clip { for i in 0..<elements { y[i] = e.apply(op(a[i], b[i])) } }
        else { for i in 0..<elements { y[i] = op(a[i], b[i]) } }
        return
    }
    var p = 0
    while p < elements {
        let ap = a + p, yp = y + p
        if clip { for c in 0..<channels { yp[c] = e.apply(op(ap[c], b[c])) } }
        else { for c in 0..<channels { yp[c] = op(ap[c], b[c]) } }
        p += channels
    }
}
