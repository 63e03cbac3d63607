// f32 CONV2D on the avx2 / vnni tiles (SPEC "Kernel layouts"): weights repacked once at load to
// [vector][kh][KW*IC][lanes] f32, input copied into a kernel-owned zero-bordered f32 buffer, then
// the same MR x NR register tiles as the int8 kernels with fused multiply-adds, bias and leaky ReLU
// fused in the epilogue. (The portable variant keeps im2col + OpenBLAS sgemm, RoentgenFloat.)
import CRoentgenISA
#if arch(x86_64)
import RoentgenKernelsVNNI
import RoentgenKernelsAVX2
#endif

public final class PackedConvFloat: @unchecked Sendable {
    public let variant: KernelVariant
    public let geometry: Conv2DGeometry
    let lanes: Int, ocVectors: Int
    let args: UnsafeMutablePointer<rtg_conv_args>
    let padded: UnsafeMutablePointer<Float>
    let weights: UnsafeMutableRawPointer
    let bias: UnsafeMutablePointer<Float>
    let rowFloats: Int

    /// nil when this variant has no f32 tiles (portable).
    public static func make(variant: KernelVariant, geometry: Conv2DGeometry, weights: UnsafePointer<Float>,
                            bias: UnsafePointer<Float>, leakyAlpha: Float?) -> PackedConvFloat? {
        guard variant != .portable, variant.isSupported else { return nil }
        return PackedConvFloat(variant: variant, geometry: geometry, weights: weights, bias: bias, leakyAlpha: leakyAlpha)
    }

    init(variant: KernelVariant, geometry g: Conv2DGeometry, weights w: UnsafePointer<Float>, bias b: UnsafePointer<Float>,
         leakyAlpha: Float?) {
        self.variant = variant
        geometry = g
        lanes = variant == .vnni ? 16 : 8
        let oc = g.outputChannels, kh = g.kernelHeight, ic = g.inputChannels
        let rowLength = g.kernelWidth * ic
        ocVectors = (oc + lanes - 1) / lanes
        let hp = (g.outputHeight - 1) * g.strideHeight + g.kernelHeight
        let wp = (g.outputWidth - 1) * g.strideWidth + g.kernelWidth
        rowFloats = wp * ic
        let count = hp * rowFloats + 16
        padded = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64).bindMemory(to: Float.self, capacity: count)
        padded.initialize(repeating: 0, count: count)
        let vectorBytes = kh * rowLength * lanes * 4
        weights = .allocate(byteCount: ocVectors * vectorBytes, alignment: 64)
        weights.initializeMemory(as: UInt8.self, repeating: 0, count: ocVectors * vectorBytes)
        let k = g.reductionCount
        for o in 0..<oc {
            let (v, lane) = o.quotientAndRemainder(dividingBy: lanes)
            for r in 0..<kh {
                for j in 0..<rowLength {
                    weights.storeBytes(of: w[o * k + r * rowLength + j],
                                       toByteOffset: v * vectorBytes + ((r * rowLength + j) * lanes + lane) * 4, as: Float.self)
                }
            }
        }
        bias = UnsafeMutableRawPointer.allocate(byteCount: ocVectors * lanes * 4, alignment: 64)
            .bindMemory(to: Float.self, capacity: ocVectors * lanes)
        bias.initialize(repeating: 0, count: ocVectors * lanes)
        bias.update(from: b, count: oc)
        args = .allocate(capacity: 1)
        let bits = UnsafeRawPointer(bias).assumingMemoryBound(to: Int32.self)
        var c = rtg_conv_args()
        c.padded = UnsafeRawPointer(padded); c.weights = UnsafeRawPointer(weights); c.bias = bits
        c.outWidth = Int64(g.outputWidth); c.oc = Int64(oc); c.ocVectors = Int64(ocVectors)
        c.kernelHeight = Int64(kh); c.groups = Int64(rowLength); c.rowBytes = Int64(rowFloats * 4)
        c.pixelStepBytes = Int64(g.strideWidth * ic * 4); c.rowStepBytes = Int64(g.strideHeight * rowFloats * 4)
        c.vectorBytes = Int64(vectorBytes); c.alpha = leakyAlpha ?? 0; c.leaky = leakyAlpha == nil ? 0 : 1
        args.initialize(to: c)
    }

    deinit { args.deallocate(); padded.deallocate(); weights.deallocate(); bias.deallocate() }

    /// Copies the input into the bordered buffer and binds the output. Call before `compute`.
    public func prepare(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        let g = geometry, ic = g.inputChannels
        let hp = (g.outputHeight - 1) * g.strideHeight + g.kernelHeight
        let wp = rowFloats / ic
        let rows = max(0, min(g.inputHeight, hp - g.padTop))
        let cols = max(0, min(g.padLeft + g.inputWidth, wp) - g.padLeft)
        for r in 0..<rows {
            (padded + (r + g.padTop) * rowFloats + g.padLeft * ic).update(from: input + r * g.inputWidth * ic, count: cols * ic)
        }
        args.pointee.outputF32 = output
    }

    var pixels: Int { geometry.outputHeight * geometry.outputWidth }

    public func chunkCount(threads: Int) -> Int {
        threads <= 1 ? 1 : max(1, min(8 * threads, pixels / 64))
    }

    public func compute(part: Int, of parts: Int) {
        let pr = partRange(pixels, part, parts)
        guard !pr.isEmpty else { return }
        #if arch(x86_64)
        if variant == .vnni {
            VNNIKernels.convFloat(args, pixelBegin: pr.lowerBound, pixelEnd: pr.upperBound, vectorBegin: 0, vectorEnd: ocVectors)
        } else {
            AVX2Kernels.convFloat(args, pixelBegin: pr.lowerBound, pixelEnd: pr.upperBound, vectorBegin: 0, vectorEnd: ocVectors)
        }
        #endif
    }
}
