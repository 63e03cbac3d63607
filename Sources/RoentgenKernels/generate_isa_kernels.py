#!/usr/bin/env python3
"""Writes Sources/RoentgenKernels{VNNI,AVX2,AVXVNNI}/Kernels.swift and
Sources/RoentgenKernels/PortableKernels.swift.

The three ISA modules hold the same Swift code (tiles, loops, epilogue, input fill), instantiated for
one accumulator width and inner-product instruction each, and are compiled with their own
`-target-cpu` (Package.swift) so that the single-instruction shims in CRoentgenISA inline into the
loops. The VNNI, AVX2 and portable files also hold the same SIMD section (depthwise CONV2D, ADD, MUL,
MEAN sums: 16 or 32 channels per step), so each of those variants runs it with its own
instructions; the portable copy is compiled with RoentgenKernels for any CPU (avxvnni runs avx2's). Swift has no way to keep a
variable number of SIMD accumulators in registers, so the MR x NR micro-tiles are unrolled here.
Run `python3 Sources/RoentgenKernels/generate_isa_kernels.py` after editing; commit the output.
"""
import os

# MR x NR tiles: MR output pixels x NR vectors of output channels, MR * NR accumulators kept in
# registers (VNNI: 24 of 32 zmm; AVX2: at most 10 of 16 ymm, leaving room for NR weight vectors,
# the broadcast input and the vpmaddwd product - more spills, as objdump showed for 3 x 4).

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

ISAS = {
    "VNNI": dict(
        acc="SIMD16<Int32>", half="SIMD8<Int32>", wide="SIMD8<Int64>", bytes_="SIMD16<Int8>", half_bytes="SIMD8<Int8>",
        lanes=16, vec_bytes=64,
        dot="rtg_dpbusd(c, x, w)", permute="rtg_permd16(x, idx)", group_mr=12, fma="rtg_fmadd16(c, x, w)", facc="SIMD16<Float>",
        doc="AVX-512 VNNI: one `vpdpbusd` multiplies 4 u8 inputs (x + 128) by 4 s8 weights for 16 output channels.",
        tile_shapes=[(6, 4), (12, 2), (16, 1), (1, 4), (1, 2), (1, 1)],
        narrow="rtg_narrow_sat(y)", narrow_c="rtg_narrow32to8(c)",
        fill_elem="UInt8", fill_expr="UInt8(bitPattern: src[i]) ^ 0x80", mulhi="rtg_mulhi16", clamp="rtg_clamp16", srav="rtg_srav16",
        narrow_saturates="true", grouped_stores="",   # vpmovsdb narrows 16 lanes in one instruction
        clip_float="y.replace(with: e.clipMin, where: y .< e.clipMin); y.replace(with: e.clipMax, where: y .> e.clipMax)"),
    "AVX2": dict(
        acc="SIMD8<Int32>", half="SIMD4<Int32>", wide="SIMD4<Int64>", bytes_="SIMD8<Int8>", half_bytes="SIMD4<Int8>",
        lanes=8, vec_bytes=32,
        dot="c &+ rtg_madd16(x, w)", permute="rtg_permd8(x, idx)", group_mr=6, fma="rtg_fmadd8(c, x, w)", facc="SIMD8<Float>",
        doc="AVX2: one `vpmaddwd` multiplies 2 s16 inputs (x - z) by 2 s16 weights for 8 output channels.",
        tile_shapes=[(2, 4), (5, 2), (10, 1), (1, 4), (1, 2), (1, 1)],
        narrow="rtg_narrow_sat8(y)", narrow_c="rtg_narrow32to8x8(c)",
        fill_elem="Int16", fill_expr="Int16(src[i]) &- z", winograd=True, gemv=True, mulhi="rtg_mulhi8", clamp="rtg_clamp8", srav="rtg_srav8",
        narrow_saturates="true", clip_float="y = rtg_clip8f(y, e.clipMin, e.clipMax)",
        grouped_stores='''    /// A pixel's 2 / 4 tile columns narrowed together with saturation, clamped as bytes
    /// (`rtg_clamp_i8x32`) and stored as one 16 / 32-byte write: 3-4 shuffles and 2 clamps for all
    /// of them instead of 3 and 2 per 8 outputs.
    @inline(__always) static func storeBytes2<B: Bound>(_ y0: Acc, _ y1: Acc, _: B.Type, _ e: Epilogue, _ out: UnsafeMutablePointer<Int8>) {
        var b = rtg_narrow_sat8x2(y0, y1)
        if B.clamps { b = rtg_clamp_i8x16(b, Int8(truncatingIfNeeded: e.lo), Int8(truncatingIfNeeded: e.hi)) }
        UnsafeMutableRawPointer(out).storeBytes(of: b, as: SIMD16<Int8>.self)
    }
    @inline(__always) static func storeBytes4<B: Bound>(_ y0: Acc, _ y1: Acc, _ y2: Acc, _ y3: Acc, _: B.Type, _ e: Epilogue,
                                                        _ out: UnsafeMutablePointer<Int8>) {
        var b = rtg_narrow_sat8x4(y0, y1, y2, y3)
        if B.clamps { b = rtg_clamp_i8x32(b, Int8(truncatingIfNeeded: e.lo), Int8(truncatingIfNeeded: e.hi)) }
        UnsafeMutableRawPointer(out).storeBytes(of: b, as: SIMD32<Int8>.self)
    }
'''),
    # The SIMD section alone, compiled with RoentgenKernels for any CPU (the portable variant).
    "Portable": dict(portable=True),
}
# AVX-VNNI (ymm, no AVX-512: Alder Lake and later, Alder Lake-N, Arrow Lake, Zen 5): the vnni
# variant's u8 x s8 quads on avx2's 8 lanes and epilogue. Only its CONV2D / DENSE tiles are used
# (KernelVariant.avxvnni), so it has no SIMD section; its f32 and other ops are avx2's.
# (`vpdpwssd`, the fused form of avx2's pairs, gains nothing: LLVM splits it back into vpmaddwd +
# vpaddd in every tile, where the accumulator is a loop-carried chain, and forced fused it ran
# 1.7-2x slower; docs/SPEED.md "Stop 31".)
ISAS["AVXVNNI"] = dict(ISAS["AVX2"], dot="rtg_dpbusd8(c, x, w)", winograd=False, gemv=False, simd_section=False,
                       fill_elem="UInt8", fill_expr="UInt8(bitPattern: src[i]) ^ 0x80",
                       doc="AVX-VNNI: one `vpdpbusd` ymm multiplies 4 u8 inputs (x + 128) by 4 s8 weights for 8 output channels.")

PORTABLE_TEMPLATE = '''// GENERATED by Sources/RoentgenKernels/generate_isa_kernels.py - do not edit by hand.
// The SIMD section of the portable variant (any CPU, including aarch64): the same code as in
// RoentgenKernelsVNNI / RoentgenKernelsAVX2 / RoentgenKernelsAVXVNNI, compiled for the baseline target.
import CRoentgenISA

public enum PortableKernels {}
'''

SIMD_SECTION = r'''
// MARK: SIMD section: depthwise CONV2D, ADD, MUL, MEAN sums. The same code for every variant
// (portable, avx2, vnni), 16 channels per step (int8 depthwise 32); each module's -target-cpu picks the
// instructions, and the lane operations below (`dotPairs`, ...) are the variant's own.
extension @NAME@Kernels {
    public typealias V32 = SIMD16<Int32>
    public typealias V16 = SIMD16<Int16>
    public typealias V8 = SIMD16<Int8>
    public typealias VF = SIMD16<Float>
    public typealias W64 = SIMD8<Int64>

    /// 16 bytes at `p`, or when only `n` < 16 may be read, those and zeros (never reads past p + n).
    /// Kernels pass the bytes left in the whole buffer, so a vector may run into the next pixel's
    /// channels (lanes no output uses) but never out of the buffer.
    @inline(__always) static func load8(_ p: UnsafePointer<Int8>, _ n: Int) -> V8 {
        if n >= 16 { return UnsafeRawPointer(p).loadUnaligned(as: V8.self) }
        return loadPartial8(p, n)
    }
    @inline(never) static func loadPartial8(_ p: UnsafePointer<Int8>, _ n: Int) -> V8 {
        var v = V8(); for i in 0..<n { v[i] = p[i] }; return v
    }
    @inline(__always) static func store8(_ v: V8, _ p: UnsafeMutablePointer<Int8>, _ n: Int) {
        if n >= 16 { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V8.self) } else { storePartial8(v, p, n) }
    }
    @inline(never) static func storePartial8(_ v: V8, _ p: UnsafeMutablePointer<Int8>, _ n: Int) {
        for i in 0..<n { p[i] = v[i] }
    }
    @inline(__always) static func loadF(_ p: UnsafePointer<Float>, _ n: Int) -> VF {
        if n >= 16 { return UnsafeRawPointer(p).loadUnaligned(as: VF.self) }
        return loadPartialF(p, n)
    }
    @inline(never) static func loadPartialF(_ p: UnsafePointer<Float>, _ n: Int) -> VF {
        var v = VF(); for i in 0..<n { v[i] = p[i] }; return v
    }
    @inline(__always) static func storeF(_ v: VF, _ p: UnsafeMutablePointer<Float>, _ n: Int) {
        if n >= 16 { UnsafeMutableRawPointer(p).storeBytes(of: v, as: VF.self) } else { storePartialF(v, p, n) }
    }
    @inline(never) static func storePartialF(_ v: VF, _ p: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n { p[i] = v[i] }
    }
    @inline(__always) static func lanes32(_ p: UnsafePointer<Int32>, _ i: Int) -> V32 {
        UnsafeRawPointer(p + i).loadUnaligned(as: V32.self)
    }

    // 16 int32 lanes as 8 + 8 int64 lanes by reinterpreting the bits (sign-extending shifts).
    @inline(__always) static func evens(_ x: V32) -> W64 { (unsafeBitCast(x, to: W64.self) &<< 32) &>> 32 }
    @inline(__always) static func odds(_ x: V32) -> W64 { unsafeBitCast(x, to: W64.self) &>> 32 }
    @inline(__always) static func join(_ e: W64, _ o: W64) -> V32 {
        unsafeBitCast((e & W64(repeating: 0xFFFF_FFFF)) | (o &<< 32), to: V32.self)
    }
    /// hi32 of the 64-bit products x * m of every lane.
    @inline(__always) static func mulHigh(_ x: V32, _ m: V32) -> V32 {
        let pe = evens(x) &* evens(m), po = odds(x) &* odds(m)
        return unsafeBitCast(((pe &>> 32) & W64(repeating: 0xFFFF_FFFF)) | (po & W64(repeating: -0x1_0000_0000)), to: V32.self)
    }

    /// clamp(y, lo, hi) by sign masks, for |y - lo|, |hi - y| < 2^31.
    @inline(__always) static func clamp32(_ y: V32, _ l: Int32, _ h: Int32) -> V32 {
        let lo = V32(repeating: l), hi = V32(repeating: h)
        let below = (y &- lo) &>> 31
        let r = (y & ~below) | (lo & below)
        let above = (hi &- r) &>> 31
        return (r & ~above) | (hi & above)
    }
    @inline(__always) static func clamp64(_ y: W64, _ l: Int64, _ h: Int64) -> W64 {
        let lo = W64(repeating: l), hi = W64(repeating: h)
        let below = (y &- lo) &>> 63
        let r = (y & ~below) | (lo & below)
        let above = (hi &- r) &>> 63
        return (r & ~above) | (hi & above)
    }

    /// `(sum + 2^(s-1)) >> s` on 64-bit lanes: Quantization.swift `Requantize.rounded`, lane by lane.
    @inline(__always) static func rounded(_ sum: W64, _ s: W64) -> W64 {
        let one = W64(repeating: 1)
        return (sum &+ (one &<< (s &- one))) &>> s
    }

    /// clamp(z + requantize(acc, m, s), lo, hi) on 16 lanes with exact 64-bit products.
    @inline(__always) static func requantize(_ acc: V32, _ m: V32, _ s: V32, _ z: Int64, _ lo: Int64, _ hi: Int64) -> V32 { @REQUANT64@ }
    /// The same in Swift (avx2, portable).
    @inline(__always) static func requantize64(_ acc: V32, _ m: V32, _ s: V32, _ z: Int64, _ lo: Int64, _ hi: Int64) -> V32 {
        let zz = W64(repeating: z)
        let e = clamp64(rounded(evens(acc) &* evens(m), evens(s)) &+ zz, lo, hi)
        let o = clamp64(rounded(odds(acc) &* odds(m), odds(s)) &+ zz, lo, hi)
        return join(e, o)
    }

    /// The same for shifts >= 33: (P + 2^(s-1)) >> s == (hi32(P) + 2^(s-33)) >> (s-32) because
    /// 2^(s-1) has no low 32 bits and floor divisions by powers of two nest; |hi32(P)| <= 2^30.
    @inline(__always) static func requantizeHigh(_ acc: V32, _ m: V32, _ t: V32, _ r: V32, _ z: Int32, _ lo: Int32, _ hi: Int32) -> V32 {
        clampLanes(shiftLanes(mulHighLanes(acc, m) &+ r, t) &+ V32(repeating: z), lo, hi)
    }

    // The variant's instructions for the lane operations (vpdpwssd / vpmaddwd, vpmuldq + blend,
    // vpmaxsd + vpminsd, vpsravd, vfmadd on x86; the Swift forms above for portable). Same results
    // everywhere, except `mulAdd`.
    /// acc + lo16(x) * lo16(w) + hi16(x) * hi16(w) per int32 lane, the halves as s16, exact.
    @inline(__always) static func dotPairs(_ acc: V32, _ x: V32, _ w: V32) -> V32 { @DOT_PAIRS@ }
    /// hi32 of the signed 64-bit products, lane by lane (`mulHigh`).
    @inline(__always) static func mulHighLanes(_ a: V32, _ b: V32) -> V32 { @MUL_HIGH@ }
    /// clamp(y, lo, hi), lane by lane.
    @inline(__always) static func clampLanes(_ y: V32, _ lo: Int32, _ hi: Int32) -> V32 { @CLAMP@ }
    /// a >> t, lane by lane, for shifts t in 0...31.
    @inline(__always) static func shiftLanes(_ a: V32, _ t: V32) -> V32 { @SHIFT@ }
    /// int32 lanes to int8: with signed saturation where `saturatingNarrow` (so a clamp to
    /// [-128, 127] can be left to it), else by truncation (after a clamp).
    @inline(__always) static func narrowLanes(_ y: V32) -> V8 { @NARROW@ }
    static let saturatingNarrow = @SATURATES@
    /// Neighbouring inside pixels the int8 depthwise conv runs together: 4 where 32 vector
    /// registers hold their 16 accumulators (vnni), else 2 (on 16 ymm the 4-pixel loop spilled
    /// half its accumulators at every tap).
    static let depthwisePixels = @DW_PIXELS@
    /// a + x * w on f32 lanes: one fused multiply-add (one rounding) where the variant has FMA, so
    /// avx2 and vnni give the same bits; portable (any CPU, FMA or not) rounds the product and the
    /// sum. The f32 depthwise convs' summation, which SPEC leaves to the runtime.
    @inline(__always) static func mulAdd(_ a: VF, _ x: VF, _ w: VF) -> VF { @MUL_ADD@ }

    /// 32 s8 at `p` as 32 s16 lanes (16 pairs), or when only `n` < 32 may be read, those and zeros.
    @inline(__always) static func load16x32(_ p: UnsafePointer<Int8>, _ n: Int) -> V32 {
        let b = n >= 32 ? UnsafeRawPointer(p).loadUnaligned(as: SIMD32<Int8>.self) : loadPartial32(p, n)
        return unsafeBitCast(rtg_widen8to16x32(b), to: V32.self)
    }
    @inline(never) static func loadPartial32(_ p: UnsafePointer<Int8>, _ n: Int) -> SIMD32<Int8> {
        var v = SIMD32<Int8>(); for i in 0..<max(0, n) { v[i] = p[i] }; return v
    }

    /// Depthwise CONV2D int8, output rows [rowBegin, rowEnd): for each pixel and 32 channels,
    /// acc = b + sum over the taps inside the input of (x - z_x) * w in int32, then the CONV2D
    /// epilogue. Taps outside the input are skipped (the window is clipped per pixel), so no
    /// bordered copy is needed. The 32 channels are widened to s16 in place (channel pairs) and
    /// multiplied by two weight vectors, one holding the even channels' weights with zeros between
    /// them and one the odd channels', so one pair-multiply-add (`dotPairs`) gives 16 exact int32
    /// products with no shuffle; the even and odd accumulators are merged at the store. A window
    /// with every tap inside uses `biasFull` = b - z_x * sum w, so its taps skip the subtraction
    /// (the int32 sums wrap the same way, so the result is the same).
    public static func depthwise(_ a: UnsafePointer<rtg_depthwise_args>, rowBegin: Int, rowEnd: Int) {
        let d = a.pointee
        let h = Int(d.height), w = Int(d.width), c = Int(d.channels), ow = Int(d.outWidth)
        let kh = Int(d.kernelHeight), kw = Int(d.kernelWidth)
        let sh = Int(d.strideHeight), sw = Int(d.strideWidth), dh = Int(d.dilationHeight), dw = Int(d.dilationWidth)
        let pt = Int(d.padTop), pl = Int(d.padLeft)
        let cPad = (c &+ 31) / 32 &* 32, total = h &* w &* c
        // This call's channels (a run with one epilogue kind): stores past cEnd are cut at c only.
        let cBegin = Int(d.channelBegin), cEnd = Int(d.channelEnd)
        let zx16 = Int32(truncatingIfNeeded: d.inputZeroPoint) & 0xFFFF
        let zx = V32(repeating: zx16 | (zx16 &<< 16))
        let q = DepthwiseEpilogue(mPos: d.mPos!, mNeg: d.mNeg!, sPos: d.sPos!, sNeg: d.sNeg!, tPos: d.tPos!, tNeg: d.tNeg!,
                                  rPos: d.rPos!, rNeg: d.rNeg!, rFolded: d.rFolded!, kindEven: d.kindEven, kindOdd: d.kindOdd, zy: Int32(truncatingIfNeeded: d.outputZeroPoint),
                                  lo: Int32(truncatingIfNeeded: d.outputMin), hi: Int32(truncatingIfNeeded: d.outputMax))
        let input = d.input!, weights = UnsafeRawPointer(d.weights!), output = d.output!, bias = d.bias!, biasFull = d.biasFull!
        let folded = q.kindEven == 3 && q.kindOdd == 3, clamps = q.clamps
        let tapStride = dw &* c, rowStride = dh &* w &* c
        @inline(__always) func bias4(_ b: UnsafePointer<Int32>, _ c0: Int) -> (V32, V32, V32, V32) {
            (lanes32(b, c0), lanes32(b, c0 &+ 16), lanes32(b, c0 &+ 32), lanes32(b, c0 &+ 48))
        }
        // Output columns whose window is inside the input horizontally: [oxInLo, oxInHi).
        let oxInLo = (pl &+ sw &- 1) / sw
        let oxInHi = min(ow, w &- 1 &- (kw &- 1) &* dw &+ pl >= 0 ? (w &- 1 &- (kw &- 1) &* dw &+ pl) / sw &+ 1 : 0)
        let quad = DepthwiseQuad(input: input, weights: weights, kh: kh, kw: kw, tapStride: tapStride, rowStride: rowStride,
                                 pixelStride: sw &* c, weightTapBytes: cPad &* 4)
        let lastTap = (kh &- 1) &* rowStride &+ (kw &- 1) &* tapStride
        // stride_w == dilation_w: neighbours' windows overlap tap by tap (KW 3 and 5 get unrolled code)
        let slidingWidth = quad.pixelStride == tapStride ? kw : 0
        for oy in rowBegin..<rowEnd {
            let iy0 = oy &* sh &- pt
            var khLo = 0; while khLo < kh && iy0 &+ khLo &* dh < 0 { khLo &+= 1 }
            var khHi = kh; while khHi > khLo && iy0 &+ (khHi &- 1) &* dh >= h { khHi &-= 1 }
            var ox = 0
            while ox < ow {
                // `depthwisePixels` neighbouring pixels whose windows are inside (the common case): their taps
                // share each weight load and keep 4 (2 pixels) or 8 accumulator chains in flight. When 3
                // inside pixels are left in the row, a last step of 4 starts at the inside's end - 4 and
                // computes one pixel again (the same values): cheaper than 3 one-pixel steps, while 1 or
                // 2 are not (measured).
                let n = depthwisePixels
                if khLo == 0 && khHi == kh && ox >= oxInLo && (ox &+ n <= oxInHi || (oxInHi &- ox >= 3 && oxInHi &- oxInLo >= n)) {
                    let qx = min(ox, oxInHi &- n)
                    let first = (iy0 &* w &+ qx &* sw &- pl) &* c
                    if first &+ (n &- 1) &* sw &* c &+ lastTap &+ cPad <= total {
                        let out = output + (oy &* ow &+ qx) &* c
                        var c0 = cBegin
                        while c0 < cEnd {
                            let s = (lanes32(biasFull, c0), lanes32(biasFull, c0 &+ 16))
                            if n == 4 {
                                let r = slidingWidth == 3 ? quad.sumSliding(s, first &+ c0, c0 &* 4, 3)
                                    : slidingWidth == 5 ? quad.sumSliding(s, first &+ c0, c0 &* 4, 5) : quad.sum(s, first &+ c0, c0 &* 4)
                                if folded && c &- c0 >= 32 {
                                    if clamps { q.storeFolded4(r, out, c0, c, ClampedLanes.self) } else { q.storeFolded4(r, out, c0, c, SaturatedLanes.self) }
                                } else {
                                    q.store(r.0, r.1, out, c0, c); q.store(r.2, r.3, out + c, c0, c)
                                    q.store(r.4, r.5, out + 2 &* c, c0, c); q.store(r.6, r.7, out + 3 &* c, c0, c)
                                }
                            } else {
                                let r = quad.sum2(s, first &+ c0, c0 &* 4)
                                if folded && c &- c0 >= 32 {
                                    if clamps { q.storeFolded2(r, out, c0, c, ClampedLanes.self) } else { q.storeFolded2(r, out, c0, c, SaturatedLanes.self) }
                                } else {
                                    q.store(r.0, r.1, out, c0, c); q.store(r.2, r.3, out + c, c0, c)
                                }
                            }
                            c0 &+= 32
                        }
                        ox = qx &+ n
                        continue
                    }
                }
                defer { ox &+= 1 }
                let ix0 = ox &* sw &- pl
                var kwLo = 0; while kwLo < kw && ix0 &+ kwLo &* dw < 0 { kwLo &+= 1 }
                var kwHi = kw; while kwHi > kwLo && ix0 &+ (kwHi &- 1) &* dw >= w { kwHi &-= 1 }
                let out = output + (oy &* ow &+ ox) &* c
                // Offset of the first tap inside the input, and of its weights.
                let first = ((iy0 &+ khLo &* dh) &* w &+ ix0 &+ kwLo &* dw) &* c
                let firstWeights = (khLo &* kw &+ kwLo) &* cPad &* 4
                let taps = DepthwiseTaps(input: input, weights: weights, total: total, rows: khHi &- khLo, columns: kwHi &- kwLo,
                                         tapStride: tapStride, rowStride: rowStride, weightRowBytes: kw &* cPad &* 4, weightTapBytes: cPad &* 4)
                let inside = khHi &- khLo == kh && kwHi &- kwLo == kw
                // Bytes from the last tap's first channel to the end of the input: a block of
                // channels below that is loaded whole at every tap (no partial loads, no calls
                // that would spill the accumulators).
                let room = total &- (first &+ (khHi &- khLo &- 1) &* rowStride &+ (kwHi &- kwLo &- 1) &* tapStride)
                var c0 = cBegin
                // 64 channels at a time (four accumulator chains), then 32.
                while cEnd &- c0 > 32 {
                    let x = first &+ c0, wo = firstWeights &+ c0 &* 4
                    let r: (V32, V32, V32, V32)
                    if c0 &+ 64 > room {
                        r = taps.sum2(bias4(bias, c0), x, wo, subtract: zx, partial: true)
                    } else if inside {
                        r = taps.sum2(bias4(biasFull, c0), x, wo, subtract: nil, partial: false)
                    } else {
                        r = taps.sum2(bias4(bias, c0), x, wo, subtract: zx, partial: false)
                    }
                    q.store(r.0, r.1, out, c0, c); q.store(r.2, r.3, out, c0 &+ 32, c)
                    c0 &+= 64
                }
                if c0 < cEnd {
                    let x = first &+ c0, wo = firstWeights &+ c0 &* 4
                    let r: (V32, V32)
                    if c0 &+ 32 > room {
                        r = taps.sum1((lanes32(bias, c0), lanes32(bias, c0 &+ 16)), x, wo, subtract: zx, partial: true)
                    } else if inside {
                        r = taps.sum1((lanes32(biasFull, c0), lanes32(biasFull, c0 &+ 16)), x, wo, subtract: nil, partial: false)
                    } else {
                        r = taps.sum1((lanes32(bias, c0), lanes32(bias, c0 &+ 16)), x, wo, subtract: zx, partial: false)
                    }
                    q.store(r.0, r.1, out, c0, c)
                }
            }
        }
    }

    /// The taps of one output pixel's clipped window: sums over 32 or 64 channels, as (even, odd)
    /// accumulators per 32. `subtract` is z_x in every s16 lane, or nil for x * w alone; `partial`
    /// loads check the end of the input (`load16x32`).
    struct DepthwiseTaps {
        let input: UnsafePointer<Int8>, weights: UnsafeRawPointer
        let total: Int
        let rows: Int, columns: Int, tapStride: Int, rowStride: Int, weightRowBytes: Int, weightTapBytes: Int

        @inline(__always) func load(_ off: Int, _ partial: Bool) -> V32 {
            if partial { return load16x32(input + off, total &- off) }
            return unsafeBitCast(rtg_widen8to16x32(UnsafeRawPointer(input + off).loadUnaligned(as: SIMD32<Int8>.self)), to: V32.self)
        }

        @inline(__always) func sum1(_ s: (V32, V32), _ offset: Int, _ weightOffset: Int, subtract: V32?, partial: Bool) -> (V32, V32) {
            var e = s.0, o = s.1
            var rowOff = offset, wRow = weightOffset
            for _ in 0..<rows {
                var off = rowOff, wo = wRow
                for _ in 0..<columns {
                    var x = load(off, partial)
                    if let z = subtract { x = unsafeBitCast(unsafeBitCast(x, to: SIMD32<Int16>.self) &- unsafeBitCast(z, to: SIMD32<Int16>.self), to: V32.self) }
                    let wr = weights + wo
                    e = dotPairs(e, x, wr.loadUnaligned(as: V32.self))
                    o = dotPairs(o, x, wr.loadUnaligned(fromByteOffset: 64, as: V32.self))
                    off &+= tapStride; wo &+= weightTapBytes
                }
                rowOff &+= rowStride; wRow &+= weightRowBytes
            }
            return (e, o)
        }

        @inline(__always) func sum2(_ s: (V32, V32, V32, V32), _ offset: Int, _ weightOffset: Int, subtract: V32?, partial: Bool) -> (V32, V32, V32, V32) {
            var e0 = s.0, o0 = s.1, e1 = s.2, o1 = s.3
            var rowOff = offset, wRow = weightOffset
            for _ in 0..<rows {
                var off = rowOff, wo = wRow
                for _ in 0..<columns {
                    var x0 = load(off, partial), x1 = load(off &+ 32, partial)
                    if let z = subtract {
                        let zs = unsafeBitCast(z, to: SIMD32<Int16>.self)
                        x0 = unsafeBitCast(unsafeBitCast(x0, to: SIMD32<Int16>.self) &- zs, to: V32.self)
                        x1 = unsafeBitCast(unsafeBitCast(x1, to: SIMD32<Int16>.self) &- zs, to: V32.self)
                    }
                    let wr = weights + wo
                    e0 = dotPairs(e0, x0, wr.loadUnaligned(as: V32.self))
                    o0 = dotPairs(o0, x0, wr.loadUnaligned(fromByteOffset: 64, as: V32.self))
                    e1 = dotPairs(e1, x1, wr.loadUnaligned(fromByteOffset: 128, as: V32.self))
                    o1 = dotPairs(o1, x1, wr.loadUnaligned(fromByteOffset: 192, as: V32.self))
                    off &+= tapStride; wo &+= weightTapBytes
                }
                rowOff &+= rowStride; wRow &+= weightRowBytes
            }
            return (e0, o0, e1, o1)
        }
    }

    /// The taps of four (`sum`) or two (`sum2`) neighbouring output pixels whose windows are inside the input, over 32
    /// channels: x * w (z_x is in `biasFull`), (even, odd) accumulators per pixel.
    struct DepthwiseQuad {
        let input: UnsafePointer<Int8>, weights: UnsafeRawPointer
        let kh: Int, kw: Int, tapStride: Int, rowStride: Int, pixelStride: Int, weightTapBytes: Int

        @inline(__always) func sum(_ s: (V32, V32), _ offset: Int, _ weightOffset: Int) -> (V32, V32, V32, V32, V32, V32, V32, V32) {
            var e0 = s.0, o0 = s.1, e1 = s.0, o1 = s.1, e2 = s.0, o2 = s.1, e3 = s.0, o3 = s.1
            var rowOff = offset, wo = weightOffset
            for _ in 0..<kh {
                var off = rowOff
                for _ in 0..<kw {
                    let we = weights.loadUnaligned(fromByteOffset: wo, as: V32.self)
                    let wd = weights.loadUnaligned(fromByteOffset: wo &+ 64, as: V32.self)
                    let x0 = wide(off), x1 = wide(off &+ pixelStride)
                    let x2 = wide(off &+ 2 &* pixelStride), x3 = wide(off &+ 3 &* pixelStride)
                    e0 = dotPairs(e0, x0, we); o0 = dotPairs(o0, x0, wd)
                    e1 = dotPairs(e1, x1, we); o1 = dotPairs(o1, x1, wd)
                    e2 = dotPairs(e2, x2, we); o2 = dotPairs(o2, x2, wd)
                    e3 = dotPairs(e3, x3, we); o3 = dotPairs(o3, x3, wd)
                    off &+= tapStride; wo &+= weightTapBytes
                }
                rowOff &+= rowStride
            }
            return (e0, o0, e1, o1, e2, o2, e3, o3)
        }
        /// `sum` when the 4 pixels' windows are one tap apart (pixelStride == tapStride): each input
        /// column of a kernel row is widened once and used by every pixel whose window holds it, kw + 3
        /// widenings per row instead of 4 kw (EfficientNet-Lite0: 3x3 stride-1 depthwise 22 % faster,
        /// 5x5 5 %). `kw` is a literal at the call (3 or 5), so the column loop unrolls and its range
        /// checks fold away; with the run-time KW it was slower than `sum`. The same int32 sums in
        /// another order (they wrap, so the order cannot change them).
        @inline(__always) func sumSliding(_ s: (V32, V32), _ offset: Int, _ weightOffset: Int, _ kw: Int) -> (V32, V32, V32, V32, V32, V32, V32, V32) {
            var e0 = s.0, o0 = s.1, e1 = s.0, o1 = s.1, e2 = s.0, o2 = s.1, e3 = s.0, o3 = s.1
            var rowOff = offset, wo = weightOffset
            for _ in 0..<kh {
                for j in 0..<(kw &+ 3) {
                    let x = wide(rowOff &+ j &* tapStride)
                    // pixel p takes column j as its tap j - p
                    if j < kw {
                        let t = wo &+ j &* weightTapBytes
                        e0 = dotPairs(e0, x, weights.loadUnaligned(fromByteOffset: t, as: V32.self))
                        o0 = dotPairs(o0, x, weights.loadUnaligned(fromByteOffset: t &+ 64, as: V32.self))
                    }
                    if j >= 1 && j &- 1 < kw {
                        let t = wo &+ (j &- 1) &* weightTapBytes
                        e1 = dotPairs(e1, x, weights.loadUnaligned(fromByteOffset: t, as: V32.self))
                        o1 = dotPairs(o1, x, weights.loadUnaligned(fromByteOffset: t &+ 64, as: V32.self))
                    }
                    if j >= 2 && j &- 2 < kw {
                        let t = wo &+ (j &- 2) &* weightTapBytes
                        e2 = dotPairs(e2, x, weights.loadUnaligned(fromByteOffset: t, as: V32.self))
                        o2 = dotPairs(o2, x, weights.loadUnaligned(fromByteOffset: t &+ 64, as: V32.self))
                    }
                    if j >= 3 && j &- 3 < kw {
                        let t = wo &+ (j &- 3) &* weightTapBytes
                        e3 = dotPairs(e3, x, weights.loadUnaligned(fromByteOffset: t, as: V32.self))
                        o3 = dotPairs(o3, x, weights.loadUnaligned(fromByteOffset: t &+ 64, as: V32.self))
                    }
                }
                rowOff &+= rowStride; wo &+= kw &* weightTapBytes
            }
            return (e0, o0, e1, o1, e2, o2, e3, o3)
        }
        /// The same for two pixels (`depthwisePixels` 2).
        @inline(__always) func sum2(_ s: (V32, V32), _ offset: Int, _ weightOffset: Int) -> (V32, V32, V32, V32) {
            var e0 = s.0, o0 = s.1, e1 = s.0, o1 = s.1
            var rowOff = offset, wo = weightOffset
            for _ in 0..<kh {
                var off = rowOff
                for _ in 0..<kw {
                    let we = weights.loadUnaligned(fromByteOffset: wo, as: V32.self)
                    let wd = weights.loadUnaligned(fromByteOffset: wo &+ 64, as: V32.self)
                    let x0 = wide(off), x1 = wide(off &+ pixelStride)
                    e0 = dotPairs(e0, x0, we); o0 = dotPairs(o0, x0, wd)
                    e1 = dotPairs(e1, x1, we); o1 = dotPairs(o1, x1, wd)
                    off &+= tapStride; wo &+= weightTapBytes
                }
                rowOff &+= rowStride
            }
            return (e0, o0, e1, o1)
        }
        @inline(__always) func wide(_ off: Int) -> V32 {
            unsafeBitCast(rtg_widen8to16x32(UnsafeRawPointer(input + off).loadUnaligned(as: SIMD32<Int8>.self)), to: V32.self)
        }
    }

    /// The CONV2D epilogue of 32 depthwise channels from their even and odd accumulators: (m, shift)
    /// by the sign of acc, requantize, clamp, then the bytes merged back into channel order.
    struct DepthwiseEpilogue {
        let mPos, mNeg, sPos, sNeg, tPos, tNeg, rPos, rNeg, rFolded: UnsafePointer<Int32>
        // Of this call's even and odd channels (EpilogueColumns.kinds): 0 64-bit, 1 32-bit, 2 no sign select, 3 z_y in r.
        let kindEven, kindOdd: Int32
        let zy, lo, hi: Int32
        var clamps: Bool { !(saturatingNarrow && lo == -128 && hi == 127) }
        @inline(__always) func store(_ even: V32, _ odd: V32, _ out: UnsafeMutablePointer<Int8>, _ c0: Int, _ c: Int) {
            let bytes = rtg_interleave8(narrowLanes(requantize(even, c0, kindEven)), narrowLanes(requantize(odd, c0 &+ 16, kindOdd)))
            let n = c &- c0
            if n >= 32 {
                UnsafeMutableRawPointer(out + c0).storeBytes(of: bytes, as: SIMD32<Int8>.self)
            } else if n == 16 {    // C = 144, 240, ...: the last 32 holds 16 channels
                UnsafeMutableRawPointer(out + c0).storeBytes(of: bytes.lowHalf, as: V8.self)
            } else {
                storePartial32(bytes, out + c0, n)
            }
        }
        /// The inside path's stores of 2 pixels when both halves are kind 3 and all 32 channels
        /// are whole: the columns loaded once for both, no kind, clamp or length branch per store.
        @inline(__always) func storeFolded2<B: LaneBound>(_ r: (V32, V32, V32, V32), _ out: UnsafeMutablePointer<Int8>,
                                                        _ c0: Int, _ c: Int, _: B.Type) {
            let me = lanes32(mPos, c0), mo = lanes32(mPos, c0 &+ 16), te = lanes32(tPos, c0), to = lanes32(tPos, c0 &+ 16)
            let re = lanes32(rFolded, c0), ro = lanes32(rFolded, c0 &+ 16), lo = lo, hi = hi
            @inline(__always) func one(_ e: V32, _ o: V32, _ p: UnsafeMutablePointer<Int8>) {
                let ye = shiftLanes(mulHighLanes(e, me) &+ re, te), yo = shiftLanes(mulHighLanes(o, mo) &+ ro, to)
                let bytes: SIMD32<Int8>
                if saturatingNarrow {   // the clamp on the 32 merged bytes (rtg_clamp_i8x32)
                    bytes = B.applyBytes(rtg_interleave8(narrowLanes(ye), narrowLanes(yo)), lo, hi)
                } else {
                    bytes = rtg_interleave8(narrowLanes(B.apply(ye, lo, hi)), narrowLanes(B.apply(yo, lo, hi)))
                }
                UnsafeMutableRawPointer(p).storeBytes(of: bytes, as: SIMD32<Int8>.self)
            }
            one(r.0, r.1, out + c0); one(r.2, r.3, out + (c &+ c0))
        }
        /// The same for 4 pixels, as two pairs.
        @inline(__always) func storeFolded4<B: LaneBound>(_ r: (V32, V32, V32, V32, V32, V32, V32, V32), _ out: UnsafeMutablePointer<Int8>,
                                                        _ c0: Int, _ c: Int, _ b: B.Type) {
            storeFolded2((r.0, r.1, r.2, r.3), out, c0, c, b)
            storeFolded2((r.4, r.5, r.6, r.7), out + 2 &* c, c0, c, b)
        }
        @inline(__always) func requantize(_ acc: V32, _ i: Int, _ kind: Int32) -> V32 {
            if kind == 3 {      // z_y is in the rounding term
                let z = shiftLanes(mulHighLanes(acc, lanes32(mPos, i)) &+ lanes32(rFolded, i), lanes32(tPos, i))
                return clamps ? clampLanes(z, lo, hi) : z
            }
            if kind == 2 {
                let z = shiftLanes(mulHighLanes(acc, lanes32(mPos, i)) &+ lanes32(rPos, i), lanes32(tPos, i)) &+ V32(repeating: zy)
                return clamps ? clampLanes(z, lo, hi) : z
            }
            let neg = acc &>> 31
            let m = (lanes32(mPos, i) & ~neg) | (lanes32(mNeg, i) & neg)
            if kind != 0 {
                let t = (lanes32(tPos, i) & ~neg) | (lanes32(tNeg, i) & neg)
                let r = (lanes32(rPos, i) & ~neg) | (lanes32(rNeg, i) & neg)
                return requantizeHigh(acc, m, t, r, zy, lo, hi)
            }
            let s = (lanes32(sPos, i) & ~neg) | (lanes32(sNeg, i) & neg)
            return @NAME@Kernels.requantize(acc, m, s, Int64(zy), Int64(lo), Int64(hi))
        }
    }
    /// The clamp of `DepthwiseEpilogue.storeFolded4`, fixed per call: clampLanes, or none where the
    /// narrowing's saturation is the clamp.
    protocol LaneBound {
        static func apply(_ y: V32, _ lo: Int32, _ hi: Int32) -> V32
        static func applyBytes(_ b: SIMD32<Int8>, _ lo: Int32, _ hi: Int32) -> SIMD32<Int8>
    }
    enum ClampedLanes: LaneBound {
        @inline(__always) static func apply(_ y: V32, _ lo: Int32, _ hi: Int32) -> V32 { clampLanes(y, lo, hi) }
        @inline(__always) static func applyBytes(_ b: SIMD32<Int8>, _ lo: Int32, _ hi: Int32) -> SIMD32<Int8> {
            rtg_clamp_i8x32(b, Int8(truncatingIfNeeded: lo), Int8(truncatingIfNeeded: hi))
        }
    }
    enum SaturatedLanes: LaneBound {
        @inline(__always) static func apply(_ y: V32, _ lo: Int32, _ hi: Int32) -> V32 { y }
        @inline(__always) static func applyBytes(_ b: SIMD32<Int8>, _ lo: Int32, _ hi: Int32) -> SIMD32<Int8> { b }
    }
    @inline(never) static func storePartial32(_ v: SIMD32<Int8>, _ p: UnsafeMutablePointer<Int8>, _ n: Int) {
        for i in 0..<n { p[i] = v[i] }
    }
    /// Depthwise CONV2D f32, output rows [rowBegin, rowEnd): y = b + sum x * w over the taps inside
    /// the input (in the order kh, kw), then y < 0 ? y * alpha : y, then the clip.
    public static func depthwiseFloat(_ a: UnsafePointer<rtg_depthwise_args>, rowBegin: Int, rowEnd: Int) {
        let d = a.pointee
        let h = Int(d.height), w = Int(d.width), c = Int(d.channels), ow = Int(d.outWidth)
        let kh = Int(d.kernelHeight), kw = Int(d.kernelWidth)
        let sh = Int(d.strideHeight), sw = Int(d.strideWidth), dh = Int(d.dilationHeight), dw = Int(d.dilationWidth)
        let pt = Int(d.padTop), pl = Int(d.padLeft)
        let cPad = (c &+ 15) / 16 &* 16, total = h &* w &* c
        let input = d.inputF32!, weights = UnsafeRawPointer(d.weightsF32!), bias = UnsafeRawPointer(d.biasF32!), output = d.outputF32!
        let e = FloatLanesEpilogue(alpha: d.alpha, leaky: d.leaky != 0, clipMin: d.clipMin, clipMax: d.clipMax, clip: d.clip != 0)
        let tapStride = dw &* c, rowStride = dh &* w &* c
        let oxInLo = (pl &+ sw &- 1) / sw
        let oxInHi = min(ow, w &- 1 &- (kw &- 1) &* dw &+ pl >= 0 ? (w &- 1 &- (kw &- 1) &* dw &+ pl) / sw &+ 1 : 0)
        let lastTap = (kh &- 1) &* rowStride &+ (kw &- 1) &* tapStride, pixelStride = sw &* c
        /// Four neighbouring pixels' sums over `kh` x `kw` taps (constants for 3x3 and 5x5, so the
        /// taps unroll fully), from the 16 channels at `offset`.
        @inline(__always) func quadSum(_ b: VF, _ offset: Int, _ weightOffset: Int, _ kh: Int, _ kw: Int) -> (VF, VF, VF, VF) {
            var a0 = b, a1 = b, a2 = b, a3 = b
            var rowOff = offset, wo = weightOffset
            for _ in 0..<kh {
                var off = rowOff
                for _ in 0..<kw {
                    let wv = weights.loadUnaligned(fromByteOffset: wo, as: VF.self)
                    let xr = UnsafeRawPointer(input + off)
                    a0 = mulAdd(a0, xr.loadUnaligned(as: VF.self), wv)
                    a1 = mulAdd(a1, xr.loadUnaligned(fromByteOffset: pixelStride &* 4, as: VF.self), wv)
                    a2 = mulAdd(a2, xr.loadUnaligned(fromByteOffset: pixelStride &* 8, as: VF.self), wv)
                    a3 = mulAdd(a3, xr.loadUnaligned(fromByteOffset: pixelStride &* 12, as: VF.self), wv)
                    off &+= tapStride; wo &+= cPad &* 4
                }
                rowOff &+= rowStride
            }
            return (a0, a1, a2, a3)
        }
        /// The same sums when the taps of a row are the next pixels (stride 1, dilation 1): pixel
        /// i + 1's tap k is pixel i's tap k + 1, so a row takes kw + 3 input loads instead of 4 kw.
        @inline(__always) func quadSumUnit(_ b: VF, _ offset: Int, _ weightOffset: Int, _ kh: Int, _ kw: Int) -> (VF, VF, VF, VF) {
            var a0 = b, a1 = b, a2 = b, a3 = b
            var rowOff = offset, wo = weightOffset
            for _ in 0..<kh {
                let xr = UnsafeRawPointer(input + rowOff)
                var x0 = xr.loadUnaligned(as: VF.self), x1 = xr.loadUnaligned(fromByteOffset: c &* 4, as: VF.self)
                var x2 = xr.loadUnaligned(fromByteOffset: c &* 8, as: VF.self), x3 = xr.loadUnaligned(fromByteOffset: c &* 12, as: VF.self)
                for k in 0..<kw {
                    let wv = weights.loadUnaligned(fromByteOffset: wo, as: VF.self)
                    a0 = mulAdd(a0, x0, wv); a1 = mulAdd(a1, x1, wv); a2 = mulAdd(a2, x2, wv); a3 = mulAdd(a3, x3, wv)
                    wo &+= cPad &* 4
                    if k &+ 1 < kw { x0 = x1; x1 = x2; x2 = x3; x3 = xr.loadUnaligned(fromByteOffset: (k &+ 4) &* c &* 4, as: VF.self) }
                }
                rowOff &+= rowStride
            }
            return (a0, a1, a2, a3)
        }
        let unit = sw == 1 && dw == 1
        for oy in rowBegin..<rowEnd {
            let iy0 = oy &* sh &- pt
            var khLo = 0; while khLo < kh && iy0 &+ khLo &* dh < 0 { khLo &+= 1 }
            var khHi = kh; while khHi > khLo && iy0 &+ (khHi &- 1) &* dh >= h { khHi &-= 1 }
            var ox = 0
            while ox < ow {
                // Four neighbouring pixels whose windows are inside: four FMA chains per 16
                // channels instead of one, each weight loaded once; the same sums in the same order.
                // With 3 inside pixels left, the row's last four start at the inside's end - 4.
                if khLo == 0 && khHi == kh && ox >= oxInLo && (ox &+ 4 <= oxInHi || (oxInHi &- ox >= 3 && oxInHi &- oxInLo >= 4)) {
                    let qx = min(ox, oxInHi &- 4)
                    let first = (iy0 &* w &+ qx &* sw &- pl) &* c
                    if first &+ 3 &* pixelStride &+ lastTap &+ cPad <= total {
                        let out = output + (oy &* ow &+ qx) &* c
                        var c0 = 0
                        while c0 < c {
                            let b = bias.loadUnaligned(fromByteOffset: c0 &* 4, as: VF.self)
                            let (a0, a1, a2, a3) = unit && kh == 3 && kw == 3 ? quadSumUnit(b, first &+ c0, c0 &* 4, 3, 3)
                                : unit && kh == 5 && kw == 5 ? quadSumUnit(b, first &+ c0, c0 &* 4, 5, 5)
                                : kh == 3 && kw == 3 ? quadSum(b, first &+ c0, c0 &* 4, 3, 3)
                                : kh == 5 && kw == 5 ? quadSum(b, first &+ c0, c0 &* 4, 5, 5) : quadSum(b, first &+ c0, c0 &* 4, kh, kw)
                            let n = c &- c0
                            storeF(e.apply(a0), out + c0, n); storeF(e.apply(a1), out + (c &+ c0), n)
                            storeF(e.apply(a2), out + (2 &* c &+ c0), n); storeF(e.apply(a3), out + (3 &* c &+ c0), n)
                            c0 &+= 16
                        }
                        ox = qx &+ 4
                        continue
                    }
                }
                defer { ox &+= 1 }
                let ix0 = ox &* sw &- pl
                var kwLo = 0; while kwLo < kw && ix0 &+ kwLo &* dw < 0 { kwLo &+= 1 }
                var kwHi = kw; while kwHi > kwLo && ix0 &+ (kwHi &- 1) &* dw >= w { kwHi &-= 1 }
                let out = output + (oy &* ow &+ ox) &* c
                let first = ((iy0 &+ khLo &* dh) &* w &+ ix0 &+ kwLo &* dw) &* c
                let firstTap = khLo &* kw &+ kwLo
                let rows = khHi &- khLo, columns = kwHi &- kwLo
                var c0 = 0
                // 64 channels at a time (4 independent FMA chains), then 16.
                while c0 < c {
                    let blocks = c &- c0 >= 64 ? 4 : 1
                    var a0 = bias.loadUnaligned(fromByteOffset: c0 &* 4, as: VF.self), a1 = VF(), a2 = VF(), a3 = VF()
                    if blocks == 4 {
                        a1 = bias.loadUnaligned(fromByteOffset: (c0 &+ 16) &* 4, as: VF.self)
                        a2 = bias.loadUnaligned(fromByteOffset: (c0 &+ 32) &* 4, as: VF.self)
                        a3 = bias.loadUnaligned(fromByteOffset: (c0 &+ 48) &* 4, as: VF.self)
                    }
                    var rowOff = first &+ c0, wRow = (firstTap &* cPad &+ c0) &* 4
                    for _ in 0..<rows {
                        var off = rowOff, wo = wRow
                        for _ in 0..<columns {
                            let wr = weights + wo
                            if blocks == 4 && total &- off >= 64 {
                                let xr = UnsafeRawPointer(input + off)
                                a0 = mulAdd(a0, xr.loadUnaligned(as: VF.self), wr.loadUnaligned(as: VF.self))
                                a1 = mulAdd(a1, xr.loadUnaligned(fromByteOffset: 64, as: VF.self), wr.loadUnaligned(fromByteOffset: 64, as: VF.self))
                                a2 = mulAdd(a2, xr.loadUnaligned(fromByteOffset: 128, as: VF.self), wr.loadUnaligned(fromByteOffset: 128, as: VF.self))
                                a3 = mulAdd(a3, xr.loadUnaligned(fromByteOffset: 192, as: VF.self), wr.loadUnaligned(fromByteOffset: 192, as: VF.self))
                            } else {
                                a0 = mulAdd(a0, loadF(input + off, total &- off), wr.loadUnaligned(as: VF.self))
                                if blocks == 4 {
                                    var o = off &+ 16
                                    a1 = mulAdd(a1, loadF(input + o, total &- o), wr.loadUnaligned(fromByteOffset: 64, as: VF.self))
                                    o &+= 16
                                    a2 = mulAdd(a2, loadF(input + o, total &- o), wr.loadUnaligned(fromByteOffset: 128, as: VF.self))
                                    o &+= 16
                                    a3 = mulAdd(a3, loadF(input + o, total &- o), wr.loadUnaligned(fromByteOffset: 192, as: VF.self))
                                }
                            }
                            off &+= tapStride; wo &+= cPad &* 4
                        }
                        rowOff &+= rowStride; wRow &+= kw &* cPad &* 4
                    }
                    storeF(e.apply(a0), out + c0, c &- c0)
                    if blocks == 4 {
                        storeF(e.apply(a1), out + (c0 &+ 16), c &- c0 &- 16)
                        storeF(e.apply(a2), out + (c0 &+ 32), c &- c0 &- 32)
                        storeF(e.apply(a3), out + (c0 &+ 48), c &- c0 &- 48)
                    }
                    c0 &+= 16 &* blocks
                }
            }
        }
    }

    /// The f32 epilogue on 16 lanes: y < 0 ? y * alpha : y, then clamp(y, clipMin, clipMax).
    struct FloatLanesEpilogue {
        let alpha: Float, leaky: Bool, clipMin: Float, clipMax: Float, clip: Bool
        @inline(__always) func apply(_ v: VF) -> VF {
            var y = v
            if leaky { y.replace(with: y * VF(repeating: alpha), where: y .< VF(repeating: 0)) }
            if clip {
                y.replace(with: VF(repeating: clipMin), where: y .< VF(repeating: clipMin))
                y.replace(with: VF(repeating: clipMax), where: y .> VF(repeating: clipMax))
            }
            return y
        }
    }

    /// Runs `op` (a - z_a, b - z_b as int32 lanes -> the int8 result in int32 lanes) over `count`
    /// elements; with `channels` > 0, `b` is [channels], broadcast over every pixel. Pixels go in
    /// order, so a full-width store that runs into the next pixel's channels is overwritten when
    /// that pixel is computed; only the very last vector is stored (and loaded) partially.
    @inline(__always) static func binary(_ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>, _ y: UnsafeMutablePointer<Int8>,
                                         count: Int, channels: Int, za: V32, zb: V32, _ op: (V32, V32) -> V32) {
        if channels == 0 {
            var i = 0
            while i < count {
                let n = count - i
                store8(rtg_narrow32to8(op(rtg_widen8to32(load8(a + i, n)) &- za, rtg_widen8to32(load8(b + i, n)) &- zb)), y + i, n)
                i += 16
            }
            return
        }
        let full = channels / 16 * 16
        let bTail = rtg_widen8to32(load8(b + full, channels - full)) &- zb
        var base = 0
        while base < count {
            var c0 = 0
            while c0 < full {
                let v = op(rtg_widen8to32(load8(a + base + c0, 16)) &- za, rtg_widen8to32(load8(b + c0, 16)) &- zb)
                store8(rtg_narrow32to8(v), y + base + c0, 16)
                c0 += 16
            }
            if full < channels {
                let at = base + full, left = count - at
                store8(rtg_narrow32to8(op(rtg_widen8to32(load8(a + at, left)) &- za, bTail)), y + at, left)
            }
            base += channels
        }
    }

    /// ADD int8: y = clamp(z_y + ((a - z_a) * m_a + (b - z_b) * m_b + 2^(s-1)) >> s, lo, hi), over
    /// `count` elements, `b` broadcast when `channels` > 0 (see `binary`).
    /// Fast form (17 <= s): with m = hi * 2^16 + lo (lo in [0, 2^16)), the exact sum is
    /// S = H * 2^16 + L, H = da * ma_hi + db * mb_hi (|H| < 2^24), L = da * ma_lo + db * mb_lo (|L| < 2^25),
    /// and (S + 2^(s-1)) >> s == (H + (L >> 16) + 2^(s-17)) >> (s - 16) (floor divisions nest). For
    /// s >= 42 the result is 0 for every input (|S| < 2^41 <= 2^(s-1)), as it is with s = 42, so
    /// s' = min(s, 42) keeps every intermediate inside int32.
    public static func addInt8(_ p: UnsafePointer<rtg_eltwise_args>, _ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>,
                               _ y: UnsafeMutablePointer<Int8>, count: Int, channels: Int) {
        let q = p.pointee
        let za = V32(repeating: q.za), zb = V32(repeating: q.zb)
        if q.fast != 0 {
            let mah = V32(repeating: q.maHi), mal = V32(repeating: q.maLo), mbh = V32(repeating: q.mbHi), mbl = V32(repeating: q.mbLo)
            let rnd = V32(repeating: q.roundTerm), t = V32(repeating: q.shiftRight), zy = V32(repeating: q.zy)
            binary(a, b, y, count: count, channels: channels, za: za, zb: zb) { da, db in
                let hs = da &* mah &+ db &* mbh
                let ls = da &* mal &+ db &* mbl
                return clamp32(((hs &+ (ls &>> 16) &+ rnd) &>> t) &+ zy, q.lo, q.hi)
            }
            return
        }
        let ma = W64(repeating: Int64(q.ma)), mb = W64(repeating: Int64(q.mb)), s = W64(repeating: Int64(q.shift))
        let zy = W64(repeating: Int64(q.zy))
        binary(a, b, y, count: count, channels: channels, za: za, zb: zb) { da, db in
            let e = clamp64(rounded(evens(da) &* ma &+ evens(db) &* mb, s) &+ zy, Int64(q.lo), Int64(q.hi))
            let o = clamp64(rounded(odds(da) &* ma &+ odds(db) &* mb, s) &+ zy, Int64(q.lo), Int64(q.hi))
            return join(e, o)
        }
    }

    /// MUL int8: y = clamp(z_y + requantize((a - z_a) * (b - z_b), m, s), lo, hi) (|acc| <= 65025;
    /// shift >= 33: the hi32 form of `requantizeHigh`, else 64-bit lanes); broadcast as `binary`.
    public static func mulInt8(_ p: UnsafePointer<rtg_eltwise_args>, _ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>,
                               _ y: UnsafeMutablePointer<Int8>, count: Int, channels: Int) {
        let q = p.pointee
        let za = V32(repeating: q.za), zb = V32(repeating: q.zb), m = V32(repeating: q.ma)
        let s = V32(repeating: q.shift), t = V32(repeating: q.shiftRight), r = V32(repeating: q.roundTerm)
        if q.fast != 0 {
            binary(a, b, y, count: count, channels: channels, za: za, zb: zb) { da, db in requantizeHigh(da &* db, m, t, r, q.zy, q.lo, q.hi) }
        } else {
            binary(a, b, y, count: count, channels: channels, za: za, zb: zb) { da, db in
                requantize(da &* db, m, s, Int64(q.zy), Int64(q.lo), Int64(q.hi))
            }
        }
    }

    /// MEAN int8: y[c] = clamp(z_y + requantize(sum_p x[p][c] - pixels * z_x, m, s), -128, 127); the sums
    /// are exact in int32 (|sum| <= pixels * 255 < 2^31, bounded by the reader).
    public static func meanInt8(_ x: UnsafePointer<Int8>, pixels: Int, channels: Int, multiplier: Int32, shift: Int32,
                                inputZeroPoint: Int32, outputZeroPoint: Int32, _ y: UnsafeMutablePointer<Int8>) {
        let m = V32(repeating: multiplier), s = V32(repeating: shift)
        let offset = V32(repeating: Int32(truncatingIfNeeded: pixels) &* inputZeroPoint)
        let total = pixels * channels
        var c0 = 0
        while c0 < channels {
            let n = channels - c0
            var acc0 = V32(), acc1 = V32()
            var p = 0
            while p + 2 <= pixels {
                let o0 = p * channels + c0, o1 = o0 + channels
                acc0 &+= rtg_widen8to32(load8(x + o0, total - o0))
                acc1 &+= rtg_widen8to32(load8(x + o1, total - o1))
                p += 2
            }
            if p < pixels { let o = p * channels + c0; acc0 &+= rtg_widen8to32(load8(x + o, total - o)) }
            let acc = acc0 &+ acc1 &- offset
            store8(rtg_narrow32to8(requantize(acc, m, s, Int64(outputZeroPoint), -128, 127)), y + c0, n)
            c0 += 16
        }
    }

    /// QUANTIZE: y = clamp(rint(x / scale) + z, -128, 127), NaN -> z, 16 lanes at a time: one IEEE
    /// division per lane (as the scalar twin `Quantize.one`), then rint of the value clamped to
    /// +-1024 by adding 1.5 * 2^23 (the FPU rounds half to even; no libm call on a baseline x86-64).
    public static func quantize(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Int8>, count: Int, scale: Float, zeroPoint: Int32) {
        let s = VF(repeating: scale), magic = VF(repeating: 12_582_912)
        let lo = VF(repeating: -1024), hi = VF(repeating: 1024)
        let z = V32(repeating: zeroPoint)
        let zClamped = V32(repeating: min(max(zeroPoint, -128), 127))
        var i = 0
        while i < count {
            let q = loadF(x + i, count - i) / s
            var c = q
            c.replace(with: lo, where: c .< lo)
            c.replace(with: hi, where: c .> hi)
            // c + 1.5 * 2^23 lies in [2^23, 2^24), where the ulp is 1: its bits are 0x4B400000 + rint(c)
            let n = unsafeBitCast(c + magic, to: V32.self) &- V32(repeating: 0x4B40_0000)
            var v = clamp32(n &+ z, -128, 127)
            v.replace(with: zClamped, where: q .!= q)
            store8(rtg_narrow32to8(v), y + i, count - i)
            i += 16
        }
    }

    /// sums[c] = sum over `pixels` of x[p][c] in f32, in pixel order.
    public static func channelSumsFloat(_ x: UnsafePointer<Float>, pixels: Int, channels: Int, _ sums: UnsafeMutablePointer<Float>) {
        var c0 = 0
        while c0 < channels {
            let n = channels - c0
            var acc = VF()
            for p in 0..<pixels { let o = p * channels + c0; acc = acc + loadF(x + o, pixels * channels - o) }
            storeF(acc, sums + c0, n)
            c0 += 16
        }
    }
}
'''

TEMPLATE = '''// GENERATED by Sources/RoentgenKernels/generate_isa_kernels.py - do not edit by hand.
// {doc}
// Activations are NHWC; the input is a zero-bordered copy (see SPEC "Kernel layouts"), so a
// kernel row is one contiguous segment (KW * IC elements) or KW segments of IC / groups elements
// (grouped or dilated convs), with no border cases. Weights are packed per vector of {lanes}
// output channels: [vector][kh][segment][quad][{lanes} lanes][4 bytes].
#if arch(x86_64)
import CRoentgenISA

public enum {name}Kernels {{
    public typealias Acc = {acc}
    public static let lanes = {lanes}

    @inline(__always) static func dot(_ c: Acc, _ x: Acc, _ w: Acc) -> Acc {{ {dot} }}
    /// f32 tiles keep their accumulators as bits in the same vector type: c + x * w, fused.
    @inline(__always) static func fma(_ c: Acc, _ x: Acc, _ w: Acc) -> Acc {{ {fma} }}

    /// Computes output pixels [pixelBegin, pixelEnd) x channel vectors [vectorBegin, vectorEnd).
    public static func conv(_ a: UnsafePointer<rtg_conv_args>, pixelBegin: Int, pixelEnd: Int, vectorBegin: Int, vectorEnd: Int) {{
        let four = fourVectors(a)
        var v = vectorBegin
        while v < vectorEnd {{
            let left = vectorEnd - v
            if left >= 4 && four {{ run4(a, pixelBegin, pixelEnd, v); v += 4 }}
            else if left >= 2 {{ run2(a, pixelBegin, pixelEnd, v); v += 2 }}
            else {{ run1(a, pixelBegin, pixelEnd, v); v += 1 }}
        }}
    }}
{runners}
    /// A 1x1 stride-1 conv's copy: one segment, and pixel p + 1 right after pixel p (rows included).
    @inline(__always) static func pointwise(_ a: UnsafePointer<rtg_conv_args>) -> Bool {{
        a.pointee.kernelHeight == 1 && a.pointee.segments == 1 && a.pointee.rowStepBytes == a.pointee.outWidth &* a.pointee.pixelStepBytes
    }}

    /// Whether the 4-vector tiles run: when 4 vectors' weights fit the 32 KiB of L1. Beyond that they
    /// stream from L2 at every tile, and a tile that uses each weight for 2 pixels is bound by L2
    /// bandwidth; the 2-vector tiles use each for 5-6 (f32 K = 576: 45 -> 49 G MAC/s, Zen 3).
    @inline(__always) static func fourVectors(_ a: UnsafePointer<rtg_conv_args>) -> Bool {{
        4 * Int(a.pointee.vectorBytes) <= 32768
    }}

    /// Grouped CONV2D whose groups have few output channels (OC / groups divides {lanes}): one vector
    /// holds {lanes} / (OC / groups) groups side by side, and each lane takes its own group's input
    /// quad from one vector load by a permute (vpermd) instead of a broadcast.
    public static func convGrouped(_ a: UnsafePointer<rtg_conv_args>, pixelBegin: Int, pixelEnd: Int, vectorBegin: Int, vectorEnd: Int) {{
        for v in vectorBegin..<vectorEnd {{
            var p = pixelBegin
            while p + {group_mr} <= pixelEnd {{ gtile{group_mr}(a, p, v); p += {group_mr} }}
            if p < pixelEnd {{
                if pixelEnd - pixelBegin >= {group_mr} {{ gtile{group_mr}(a, pixelEnd - {group_mr}, v) }}   // overlap: recompute, same values
                else {{ while p < pixelEnd {{ gtile1(a, p, v); p += 1 }} }}
            }}
        }}
    }}

    @inline(__always) static func permute(_ x: Acc, _ idx: Acc) -> Acc {{ {permute} }}
{gtiles}
    /// f32 CONV2D with the same tiles (weights [vector][kh][KW*IC][lanes] f32, input copy f32
    /// with a zero border): y = b + sum x * w in a fixed order (kh, then the kernel row), then
    /// leaky ReLU. Each output is computed by one tile, so the result is the same at any thread count.
    public static func convFloat(_ a: UnsafePointer<rtg_conv_args>, pixelBegin: Int, pixelEnd: Int, vectorBegin: Int, vectorEnd: Int) {{
        let four = fourVectors(a)
        var v = vectorBegin
        while v < vectorEnd {{
            let left = vectorEnd - v
            if left >= 4 && four {{ runF4(a, pixelBegin, pixelEnd, v); v += 4 }}
            else if left >= 2 {{ runF2(a, pixelBegin, pixelEnd, v); v += 2 }}
            else {{ runF1(a, pixelBegin, pixelEnd, v); v += 1 }}
        }}
    }}
{runnersF}
    /// The f32 epilogue's arguments, read from `rtg_conv_args` once per tile: the tile's f32 output
    /// stores may alias any memory as far as the compiler knows, so fields read through the pointer
    /// would be loaded (and tested) again at every store.
    struct FloatEpilogue {{
        let leaky, clip: Bool
        let alpha, clipMin, clipMax: {facc}
        let output: UnsafeMutablePointer<Float>
        let oc, outputStride: Int
        @inline(__always) init(_ a: UnsafePointer<rtg_conv_args>) {{
            let d = a.pointee
            leaky = d.leaky != 0; clip = d.clip != 0
            alpha = {facc}(repeating: d.alpha); clipMin = {facc}(repeating: d.clipMin); clipMax = {facc}(repeating: d.clipMax)
            output = d.outputF32!; oc = Int(d.oc); outputStride = Int(d.outputStride)
        }}
    }}

    /// One f32 output vector: `activated`, then a whole or partial store.
    @_transparent static func storeFloat(_ c: Acc, _ e: FloatEpilogue, _ p: Int, _ v: Int) {{
        let y = activated(c, e)
        let oc0 = v &* lanes
        let out = e.output + (p &* e.outputStride &+ oc0)
        if e.oc &- oc0 >= lanes {{
            UnsafeMutableRawPointer(out).storeBytes(of: y, as: {facc}.self)
        }} else {{
            storePartialFloat(y, out, e.oc &- oc0)
        }}
    }}
    /// f32 epilogue: y < 0 ? y * alpha : y (by the sign bit: -0.0 and NaN keep their bits only
    /// through `<`, so the mask is from a compare), then clamp(y, clipMin, clipMax).
    @_transparent static func activated(_ c: Acc, _ e: FloatEpilogue) -> {facc} {{
        var y = unsafeBitCast(c, to: {facc}.self)
        if e.leaky {{ y = leaky(y, e) }}
        if e.clip {{ y = clipped(y, e) }}
        return y
    }}
    @_transparent static func leaky(_ y: {facc}, _ e: FloatEpilogue) -> {facc} {{
        var y = y
        y.replace(with: y * e.alpha, where: y .< {facc}(repeating: 0))
        return y
    }}
    @_transparent static func clipped(_ y: {facc}, _ e: FloatEpilogue) -> {facc} {{
        var y = y
        {clip_float}
        return y
    }}
    /// The f32 epilogue's activation fixed per tile (`finish_float` in the generator).
    typealias FloatLanes = {facc}
    protocol FloatActivation {{ static func apply(_ c: Acc, _ e: FloatEpilogue) -> {facc} }}
    enum Linear: FloatActivation {{ @_transparent static func apply(_ c: Acc, _ e: FloatEpilogue) -> {facc} {{ unsafeBitCast(c, to: {facc}.self) }} }}
    enum Clipped: FloatActivation {{ @_transparent static func apply(_ c: Acc, _ e: FloatEpilogue) -> {facc} {{ clipped(unsafeBitCast(c, to: {facc}.self), e) }} }}
    enum Leaky: FloatActivation {{ @_transparent static func apply(_ c: Acc, _ e: FloatEpilogue) -> {facc} {{ leaky(unsafeBitCast(c, to: {facc}.self), e) }} }}
    enum LeakyClipped: FloatActivation {{
        @_transparent static func apply(_ c: Acc, _ e: FloatEpilogue) -> {facc} {{ clipped(leaky(unsafeBitCast(c, to: {facc}.self), e), e) }}
    }}
    /// The last vector's first n lanes, out of line: a loop here kept `storeFloat` from inlining
    /// into the tiles, and every call spilled the tile's accumulators (all ymm / zmm are caller-saved).
    @inline(never) static func storePartialFloat(_ y: {facc}, _ out: UnsafeMutablePointer<Float>, _ n: Int) {{
        for i in 0..<n {{ out[i] = y[i] }}
    }}

    /// The input copy: `dst[r * dstStride + i] = f(src[r * srcStride + i])` for i < count.
    public static func fill(_ src: UnsafePointer<Int8>, _ dst: UnsafeMutableRawPointer, rows: Int, count: Int,
                            srcStride: Int, dstStride: Int, zeroPoint: Int32) {{
        let z = Int16(truncatingIfNeeded: zeroPoint)
        _ = z
        for r in 0..<rows {{
            let s = src + r * srcStride
            let d = (dst + r * dstStride).assumingMemoryBound(to: {fill_elem}.self)
            fillRow(s, d, count, z)
        }}
    }}

    @inline(__always) static func fillRow(_ src: UnsafePointer<Int8>, _ d: UnsafeMutablePointer<{fill_elem}>, _ count: Int, _ z: Int16) {{
        for i in 0..<count {{ d[i] = {fill_expr} }}
    }}

    /// Where output pixel (oh, ow)'s window starts in the bordered copy.
    @inline(__always) static func origin(_ a: UnsafePointer<rtg_conv_args>, _ oh: Int, _ ow: Int) -> UnsafeRawPointer {{
        a.pointee.padded! + (oh - Int(a.pointee.firstRow)) * Int(a.pointee.rowStepBytes) + ow * Int(a.pointee.pixelStepBytes)
    }}

    /// The next output pixel's (oh, ow): a tile's pixels take one division, not one each (with
    /// 16 input channels a division costs about what the pixel's multiply-adds do).
    @inline(__always) static func step(_ a: UnsafePointer<rtg_conv_args>, _ oh: inout Int, _ ow: inout Int) {{
        ow += 1
        if ow == Int(a.pointee.outWidth) {{ ow = 0; oh += 1 }}
    }}

    @inline(__always) static func load(_ p: UnsafePointer<Int32>, _ i: Int) -> Acc {{
        UnsafeRawPointer(p + i).loadUnaligned(as: Acc.self)
    }}

    /// The int8 epilogue's arguments, read from `rtg_conv_args` once per tile: the tile's int8
    /// output stores may alias any memory as far as the compiler knows, so fields read through the
    /// pointer would be loaded (and nil-checked) again at every store.
    struct Epilogue {{
        let mPos, sPos, mNeg, sNeg, tPos, tNeg, rPos, rNeg: UnsafePointer<Int32>   // every int8 conv has its columns
        let rFolded: UnsafePointer<Int32>
        var kind: UInt8       // the lowest of the tile's vectors' kinds (EpilogueColumns.kinds)
        let output: UnsafeMutablePointer<Int8>?, raw: UnsafeMutablePointer<Int32>?
        let oc, ocVectors, outputStride: Int
        let zy, lo, hi: Int64
        let zyLanes, loLanes, hiLanes: Acc
        let clamps: Bool      // false when the narrowing's saturation is the clamp (lo -128, hi 127, vnni)
        /// For the vectors [v, v + 2^widthLog2) of a tile (EpilogueColumns.tileKinds).
        @inline(__always) init(_ a: UnsafePointer<rtg_conv_args>, _ v: Int, widthLog2: Int) {{
            let d = a.pointee
            mPos = d.mPos!; sPos = d.sPos!; mNeg = d.mNeg!; sNeg = d.sNeg!; tPos = d.tPos!; tNeg = d.tNeg!; rPos = d.rPos!; rNeg = d.rNeg!
            rFolded = d.rFolded!; output = d.output; raw = d.raw
            kind = d.requantKinds![widthLog2 &* Int(d.ocVectors) &+ v]
            oc = Int(d.oc); ocVectors = Int(d.ocVectors); outputStride = Int(d.outputStride)
            zy = d.outputZeroPoint; lo = d.outputMin; hi = d.outputMax
            zyLanes = Acc(repeating: Int32(truncatingIfNeeded: zy))
            loLanes = Acc(repeating: Int32(truncatingIfNeeded: lo)); hiLanes = Acc(repeating: Int32(truncatingIfNeeded: hi))
            clamps = !({narrow_saturates} && lo == -128 && hi == 127)
        }}
    }}

    /// SPEC epilogue on {lanes} lanes: pick (m, shift) by the sign of acc, 64-bit multiply, round half
    /// up, arithmetic shift, add z_y, clamp to int8. Even and odd lanes are done as {wide} by
    /// reinterpreting the bits (sign-extending shifts), which LLVM lowers to vpmuldq / vpsravq
    /// without any per-lane extraction.
    @inline(__always) static func requantize(_ acc: Acc, _ e: Epilogue, _ oc0: Int) -> {bytes_} {{
        let neg = acc &>> 31
        let m = (load(e.mPos, oc0) & ~neg) | (load(e.mNeg, oc0) & neg)
        let s = (load(e.sPos, oc0) & ~neg) | (load(e.sNeg, oc0) & neg)
        let zy = {wide}(repeating: e.zy)
        let lo = {wide}(repeating: e.lo), hi = {wide}(repeating: e.hi)
        let ev = rounded(even(acc), even(m), even(s), zy, lo, hi)
        let od = rounded(odd(acc), odd(m), odd(s), zy, lo, hi)
        let c = unsafeBitCast((ev & {wide}(repeating: 0xFFFF_FFFF)) | (od &<< 32), to: Acc.self)
        return {narrow_c}
    }}

    /// The same result with 32-bit lanes after one 32 x 32 -> 64 multiply per lane, exact when
    /// shift = 32 + t with t >= 1: (P + 2^(s-1)) >> s == (hi32(P) + 2^(t-1)) >> t, since 2^(s-1)
    /// has no low 32 bits and floor division nests; |hi32(P)| < 2^30, so nothing overflows.
    /// Kind 2: one (m, t, r) for both signs (no leaky ReLU), no select; 3: moreover z_y is in r
    /// (EpilogueColumns.kinds), no add.
    @inline(__always) static func requantizeFast(_ acc: Acc, _ e: Epilogue, _ oc0: Int) -> {bytes_} {{
        if e.kind == 3 {{
            let z = {srav}({mulhi}(acc, load(e.mPos, oc0)) &+ load(e.rFolded, oc0), load(e.tPos, oc0))
            let y = e.clamps ? {clamp}(z, e.loLanes, e.hiLanes) : z
            return {narrow}
        }}
        let m, t, rnd: Acc
        if e.kind == 2 {{
            m = load(e.mPos, oc0); t = load(e.tPos, oc0); rnd = load(e.rPos, oc0)
        }} else {{
            let neg = acc &>> 31
            m = (load(e.mPos, oc0) & ~neg) | (load(e.mNeg, oc0) & neg)
            t = (load(e.tPos, oc0) & ~neg) | (load(e.tNeg, oc0) & neg)
            rnd = (load(e.rPos, oc0) & ~neg) | (load(e.rNeg, oc0) & neg)
        }}
        let z = {srav}({mulhi}(acc, m) &+ rnd, t) &+ e.zyLanes
        let y = e.clamps ? {clamp}(z, e.loLanes, e.hiLanes) : z
        return {narrow}
    }}

    @inline(__always) static func even(_ x: Acc) -> {wide} {{ (unsafeBitCast(x, to: {wide}.self) &<< 32) &>> 32 }}
    @inline(__always) static func odd(_ x: Acc) -> {wide} {{ unsafeBitCast(x, to: {wide}.self) &>> 32 }}

    /// clamp(z_y + requantize(x, m, s), lo, hi) on 64-bit lanes (Quantization.swift `Requantize`).
    @inline(__always) static func rounded(_ x: {wide}, _ m: {wide}, _ s: {wide}, _ zy: {wide}, _ lo: {wide}, _ hi: {wide}) -> {wide} {{
        let one = {wide}(repeating: 1)
        let r = (x &* m &+ (one &<< (s &- one))) &>> s
        return pointwiseMin(pointwiseMax(r &+ zy, lo), hi)
    }}

    /// One-pixel tiles also serve DENSE: int32 accumulators to `raw` when it is set.
    @inline(__always) static func store(_ c: Acc, _ e: Epilogue, _ p: Int, _ v: Int) {{
        if let raw = e.raw {{
            let at: Int = (p &* e.ocVectors &+ v) &* lanes
            UnsafeMutableRawPointer(raw + at).storeBytes(of: c, as: Acc.self)
            return
        }}
        storeRequantized(c, e, p, v)
    }}

    /// One tile column's requantization (kinds 1-3 of `requantizeFast`) with its per-channel
    /// columns loaded once for the tile's pixels; `finish` in the tiles fixes the kind and the
    /// clamp once per tile, so each store is the arithmetic alone.
    protocol ColumnEpilogue {{ init(_ e: Epilogue, _ oc0: Int); func callAsFunction(_ acc: Acc) -> Acc }}
    struct BySign: ColumnEpilogue {{      // kind 1: (m, t, r) by the sign of acc
        let mPos, mNeg, tPos, tNeg, rPos, rNeg, zy: Acc
        @inline(__always) init(_ e: Epilogue, _ oc0: Int) {{
            mPos = load(e.mPos, oc0); mNeg = load(e.mNeg, oc0); tPos = load(e.tPos, oc0); tNeg = load(e.tNeg, oc0)
            rPos = load(e.rPos, oc0); rNeg = load(e.rNeg, oc0); zy = e.zyLanes
        }}
        @inline(__always) func callAsFunction(_ acc: Acc) -> Acc {{
            let neg = acc &>> 31
            let m = (mPos & ~neg) | (mNeg & neg), t = (tPos & ~neg) | (tNeg & neg), r = (rPos & ~neg) | (rNeg & neg)
            return {srav}({mulhi}(acc, m) &+ r, t) &+ zy
        }}
    }}
    struct OneSign: ColumnEpilogue {{     // kind 2
        let m, t, r, zy: Acc
        @inline(__always) init(_ e: Epilogue, _ oc0: Int) {{ m = load(e.mPos, oc0); t = load(e.tPos, oc0); r = load(e.rPos, oc0); zy = e.zyLanes }}
        @inline(__always) func callAsFunction(_ acc: Acc) -> Acc {{ {srav}({mulhi}(acc, m) &+ r, t) &+ zy }}
    }}
    struct Folded: ColumnEpilogue {{      // kind 3: z_y in the rounding term
        let m, t, r: Acc
        @inline(__always) init(_ e: Epilogue, _ oc0: Int) {{ m = load(e.mPos, oc0); t = load(e.tPos, oc0); r = load(e.rFolded, oc0) }}
        @inline(__always) func callAsFunction(_ acc: Acc) -> Acc {{ {srav}({mulhi}(acc, m) &+ r, t) }}
    }}
    protocol Bound {{ static var clamps: Bool {{ get }}; static func apply(_ z: Acc, _ e: Epilogue) -> Acc }}
    enum Clamped: Bound {{ static var clamps: Bool {{ true }}; @inline(__always) static func apply(_ z: Acc, _ e: Epilogue) -> Acc {{ {clamp}(z, e.loLanes, e.hiLanes) }} }}
    enum Saturated: Bound {{ static var clamps: Bool {{ false }}; @inline(__always) static func apply(_ z: Acc, _ e: Epilogue) -> Acc {{ z }} }}   // the narrowing clamps
    @inline(__always) static func storeBytes<B: Bound>(_ z: Acc, _: B.Type, _ e: Epilogue, _ out: UnsafeMutablePointer<Int8>) {{
        let y = B.apply(z, e)
        UnsafeMutableRawPointer(out).storeBytes(of: {narrow}, as: {bytes_}.self)
    }}
{grouped_stores}
    @inline(__always) static func storeRequantized(_ c: Acc, _ e: Epilogue, _ p: Int, _ v: Int) {{
        let oc0 = v &* lanes
        let y = e.kind != 0 ? requantizeFast(c, e, oc0) : requantize(c, e, oc0)
        let oc = e.oc
        let out = e.output! + (p &* e.outputStride &+ oc0)
        if oc &- oc0 >= lanes {{
            UnsafeMutableRawPointer(out).storeBytes(of: y, as: {bytes_}.self)
        }} else {{
            for i in 0..<(oc - oc0) {{ out[i] = y[i] }}
        }}
    }}
{tiles}}}
{simd}#endif
'''

# The pixels past the last whole tile: one more tile that overlaps the one before (it computes
# MR - r pixels again, the same values) or r one-pixel tiles, whichever costs less. A one-pixel
# tile loads every weight for one pixel and costs about 1.5 pixels of a whole tile, so the r
# one-pixel tiles win when 3 r < 2 MR (a 7 x 7 map, 49 pixels, on 12-pixel tiles: 4 tiles and one
# pixel instead of 5 tiles).
RUNNER_INT8 = '''
    static func run{nr}(_ a: UnsafePointer<rtg_conv_args>, _ pb: Int, _ pe: Int, _ v: Int) {{
        let n = pe - pb, tiled = n < {mr} ? pb : 3 * (n % {mr}) < 2 * {mr} ? pe - n % {mr} : pe
        if tiled > pb {{
            if pointwise(a) {{ tileP{mr}x{nr}(a, pb, tiled, v) }} else {{ tile{mr}x{nr}(a, pb, tiled, v) }}
        }}
        for p in tiled..<pe {{ tile1x{nr}(a, p, v) }}
    }}
'''

RUNNER = '''
    static func run{f}{nr}(_ a: UnsafePointer<rtg_conv_args>, _ pb: Int, _ pe: Int, _ v: Int) {{
        let n = pe - pb, tiled = n < {mr} ? pb : 3 * (n % {mr}) < 2 * {mr} ? pe - n % {mr} : pe
        if tiled > pb {{ tile{f}{mr}x{nr}(a, pb, tiled, v) }}
        for p in tiled..<pe {{ tile{f}1x{nr}(a, p, v) }}
    }}
'''

# Winograd F(2x2, 3x3) for int8 3x3 stride-1 convs where the inner product is s16 x s16 (avx2):
# 16 products per 2 x 2 outputs instead of 36. Everything is an integer: the input transform
# (B^T d B, entries 0 and +-1) keeps |V| <= 4 * 255 in s16; the weights are transformed at load with
# 2G (entries 0, +-1, 2) so that U = 2G g (2G)^T = 4 G g G^T is an integer, |U| <= 9 * 128; the
# products and sums wrap in int32, and the output transform (A^T, entries 0 and +-1) gives 4 * the
# exact sum mod 2^32, which is the exact sum * 4 as long as it fits (WinogradInt8.applies), so >> 2
# gives every accumulator bit for bit.
RUNNER_W = '''
    static func run{f}{nr}(_ a: UnsafePointer<rtg_conv_args>, _ tiles: Int, _ v: Int) {{
        var p = 0
        while p + {mr} <= tiles {{ tile{f}{mr}x{nr}(a, p, v); p += {mr} }}
        while p < tiles {{ tile{f}1x{nr}(a, p, v); p += 1 }}
    }}
'''

# The same F(2x2, 3x3) for the f32 convs of avx2 and vnni: the weights' transform is done in double
# and rounded once, the products are fused multiply-adds, the output is Y / 4 + bias (a power of
# two: exact) - not bit-identical to the direct sum, but within its rounding (SPEC "Float arithmetic").
WINOGRAD_FLOAT = '''
// MARK: Winograd F(2x2, 3x3), f32 (WinogradFloat drives it)
extension {name}Kernels {{
    /// One position's f32 products for `tiles` tiles of a block, vectors [vectorBegin, vectorEnd):
    /// `a.padded` is the transformed input [tile][ICp] f32, `a.raw` the products [tile][ocVectors * lanes].
    public static func winogradProductsFloat(_ a: UnsafePointer<rtg_conv_args>, tiles: Int, vectorBegin: Int, vectorEnd: Int) {{
        var v = vectorBegin
        while v < vectorEnd {{
            let left = vectorEnd - v
            if left >= 4 {{ runWF4(a, tiles, v); v += 4 }}
            else if left >= 2 {{ runWF2(a, tiles, v); v += 2 }}
            else {{ runWF1(a, tiles, v); v += 1 }}
        }}
    }}
{runners}
    /// One position's products of tile p, vector v: raw + (p * ocVectors + v) * lanes.
    @inline(__always) static func storeProduct(_ c: Acc, _ a: UnsafePointer<rtg_conv_args>, _ p: Int, _ v: Int) {{
        UnsafeMutableRawPointer(a.pointee.raw! + (p &* Int(a.pointee.ocVectors) &+ v) &* lanes).storeBytes(of: c, as: Acc.self)
    }}
{tiles}
    /// V = B^T d B of tiles [tileBegin, tileBegin + tiles), as winogradInput, on f32 (0 outside the input).
    public static func winogradInputFloat(_ x: UnsafePointer<Float>, height: Int, width: Int, channels: Int,
                                          padTop: Int, padLeft: Int, tilesWide: Int, tileBegin: Int, tiles: Int,
                                          _ v: UnsafeMutablePointer<Float>, positionStride: Int, icPadded: Int) {{
        typealias F = {facc}
        for t in 0..<tiles {{
            let (th, tw) = (tileBegin + t).quotientAndRemainder(dividingBy: tilesWide)
            let ih0 = 2 * th - padTop, iw0 = 2 * tw - padLeft
            let interior = ih0 >= 0 && ih0 + 4 <= height && iw0 >= 0 && iw0 + 4 <= width && channels % lanes == 0
            for c0 in stride(from: 0, to: icPadded, by: lanes) {{
                let n = min(channels - c0, lanes)
                @inline(__always) func value(_ ih: Int, _ iw: Int) -> F {{
                    if !interior && (ih < 0 || ih >= height || iw < 0 || iw >= width || n <= 0) {{ return F() }}
                    let o = (ih * width + iw) * channels + c0
                    if n == lanes {{ return UnsafeRawPointer(x + o).loadUnaligned(as: F.self) }}
                    var f = F(); for i in 0..<n {{ f[i] = x[o + i] }}; return f
                }}
                @inline(__always) func row(_ i: Int) -> (F, F, F, F) {{
                    let d0 = value(ih0 + i, iw0), d1 = value(ih0 + i, iw0 + 1)
                    let d2 = value(ih0 + i, iw0 + 2), d3 = value(ih0 + i, iw0 + 3)
                    return (d0 - d2, d1 + d2, d2 - d1, d1 - d3)
                }}
                let r0 = row(0), r1 = row(1), r2 = row(2), r3 = row(3)
                let out = v + t * icPadded + c0
                @inline(__always) func put(_ r: Int, _ q: (F, F, F, F)) {{
                    let base = UnsafeMutableRawPointer(out + r * 4 * positionStride), s = positionStride * 4
                    base.storeBytes(of: q.0, as: F.self)
                    base.storeBytes(of: q.1, toByteOffset: s, as: F.self)
                    base.storeBytes(of: q.2, toByteOffset: 2 * s, as: F.self)
                    base.storeBytes(of: q.3, toByteOffset: 3 * s, as: F.self)
                }}
                put(0, (r0.0 - r2.0, r0.1 - r2.1, r0.2 - r2.2, r0.3 - r2.3))
                put(1, (r1.0 + r2.0, r1.1 + r2.1, r1.2 + r2.2, r1.3 + r2.3))
                put(2, (r2.0 - r1.0, r2.1 - r1.1, r2.2 - r1.2, r2.3 - r1.3))
                put(3, (r1.0 - r3.0, r1.1 - r3.1, r1.2 - r3.2, r1.3 - r3.3))
            }}
        }}
    }}

    /// y = A^T M A / 4 + bias of tiles [tileBegin, tileBegin + tiles), then the f32 epilogue of `a`.
    public static func winogradOutputFloat(_ a: UnsafePointer<rtg_conv_args>, _ m: UnsafePointer<Float>, positionStride: Int,
                                           outHeight: Int, tilesWide: Int, tileBegin: Int, tiles: Int) {{
        typealias F = {facc}
        let outWidth = Int(a.pointee.outWidth), vectors = Int(a.pointee.ocVectors), stride = vectors * lanes
        let bias = UnsafeRawPointer(a.pointee.bias!)
        let quarter = F(repeating: 0.25), e = FloatEpilogue(a)
        for t in 0..<tiles {{
            let (th, tw) = (tileBegin + t).quotientAndRemainder(dividingBy: tilesWide)
            let oh = 2 * th, ow = 2 * tw
            for v in 0..<vectors {{
                let base = UnsafeRawPointer(m + t * stride + v * lanes), s = positionStride * 4
                @inline(__always) func fold(_ r: Int) -> (F, F) {{
                    let row = base + r * 4 * s
                    let m0 = row.loadUnaligned(as: F.self), m1 = row.loadUnaligned(fromByteOffset: s, as: F.self)
                    let m2 = row.loadUnaligned(fromByteOffset: 2 * s, as: F.self), m3 = row.loadUnaligned(fromByteOffset: 3 * s, as: F.self)
                    return (m0 + m1 + m2, m1 - m2 - m3)
                }}
                let r0 = fold(0), r1 = fold(1), r2 = fold(2), r3 = fold(3)
                let b = bias.loadUnaligned(fromByteOffset: v * lanes * 4, as: F.self)
                // storeFloat directly: a nested `put` was left out of line, a call per output vector
                storeFloat(unsafeBitCast((r0.0 + r1.0 + r2.0) * quarter + b, to: Acc.self), e, oh * outWidth + ow, v)
                if ow + 1 < outWidth {{ storeFloat(unsafeBitCast((r0.1 + r1.1 + r2.1) * quarter + b, to: Acc.self), e, oh * outWidth + ow + 1, v) }}
                if oh + 1 < outHeight {{
                    storeFloat(unsafeBitCast((r1.0 - r2.0 - r3.0) * quarter + b, to: Acc.self), e, (oh + 1) * outWidth + ow, v)
                    if ow + 1 < outWidth {{ storeFloat(unsafeBitCast((r1.1 - r2.1 - r3.1) * quarter + b, to: Acc.self), e, (oh + 1) * outWidth + ow + 1, v) }}
                }}
            }}
        }}
    }}
}}
'''

WINOGRAD = '''
// MARK: Winograd F(2x2, 3x3) (generate_isa_kernels.py explains the arithmetic; WinogradInt8 drives it)
extension {name}Kernels {{
    /// The products of one of the 16 transform positions for `tiles` tiles of a block, channel
    /// vectors [vectorBegin, vectorEnd): `a.padded` is the position's transformed input [tile][ICp] s16,
    /// `a.weights` its transformed weights, `a.raw` its products [tile][ocVectors * lanes] int32.
    public static func winogradProducts(_ a: UnsafePointer<rtg_conv_args>, tiles: Int, vectorBegin: Int, vectorEnd: Int) {{
        var v = vectorBegin
        while v < vectorEnd {{
            let left = vectorEnd - v
            if left >= 4 {{ runW4(a, tiles, v); v += 4 }}
            else if left >= 2 {{ runW2(a, tiles, v); v += 2 }}
            else {{ runW1(a, tiles, v); v += 1 }}
        }}
    }}
{runners}
{tiles}
    /// V = B^T d B for tiles [tileBegin, tileBegin + tiles) (tile t covers output rows 2 * (t / tilesWide)
    /// + 0..1 and columns 2 * (t % tilesWide) + 0..1), d = x - z with the real 0 outside the input;
    /// position (r, c) of tile t goes to v + (r * 4 + c) * positionStride + t * icPadded (s16).
    public static func winogradInput(_ x: UnsafePointer<Int8>, height: Int, width: Int, channels: Int, zeroPoint: Int32,
                                     padTop: Int, padLeft: Int, tilesWide: Int, tileBegin: Int, tiles: Int,
                                     _ v: UnsafeMutablePointer<Int16>, positionStride: Int, icPadded: Int) {{
        let z = V16(repeating: Int16(truncatingIfNeeded: zeroPoint))
        let total = height * width * channels
        for t in 0..<tiles {{
            let (th, tw) = (tileBegin + t).quotientAndRemainder(dividingBy: tilesWide)
            let ih0 = 2 * th - padTop, iw0 = 2 * tw - padLeft
            let interior = ih0 >= 0 && ih0 + 4 <= height && iw0 >= 0 && iw0 + 4 <= width && channels % 16 == 0
            for c0 in stride(from: 0, to: icPadded, by: 16) {{
                // d[i][j] for the 4 x 4 patch, a row at a time, then the column transform of that row
                let n = min(channels - c0, 16)
                @inline(__always) func value(_ ih: Int, _ iw: Int) -> V16 {{
                    if !interior && (ih < 0 || ih >= height || iw < 0 || iw >= width || n <= 0) {{ return V16() }}
                    let o = (ih * width + iw) * channels + c0
                    if n == 16 {{ return rtg_widen8to16(UnsafeRawPointer(x + o).loadUnaligned(as: V8.self)) &- z }}
                    return rtg_widen8to16(load8(x + o, min(n, total - o))) &- z
                }}
                @inline(__always) func row(_ i: Int) -> (V16, V16, V16, V16) {{
                    let d0 = value(ih0 + i, iw0), d1 = value(ih0 + i, iw0 + 1)
                    let d2 = value(ih0 + i, iw0 + 2), d3 = value(ih0 + i, iw0 + 3)
                    return (d0 &- d2, d1 &+ d2, d2 &- d1, d1 &- d3)
                }}
                let r0 = row(0), r1 = row(1), r2 = row(2), r3 = row(3)
                let out = v + t * icPadded + c0
                @inline(__always) func put(_ r: Int, _ q: (V16, V16, V16, V16)) {{
                    let base = UnsafeMutableRawPointer(out + r * 4 * positionStride), s = positionStride * 2
                    base.storeBytes(of: q.0, as: V16.self)
                    base.storeBytes(of: q.1, toByteOffset: s, as: V16.self)
                    base.storeBytes(of: q.2, toByteOffset: 2 * s, as: V16.self)
                    base.storeBytes(of: q.3, toByteOffset: 3 * s, as: V16.self)
                }}
                put(0, (r0.0 &- r2.0, r0.1 &- r2.1, r0.2 &- r2.2, r0.3 &- r2.3))
                put(1, (r1.0 &+ r2.0, r1.1 &+ r2.1, r1.2 &+ r2.2, r1.3 &+ r2.3))
                put(2, (r2.0 &- r1.0, r2.1 &- r1.1, r2.2 &- r1.2, r2.3 &- r1.3))
                put(3, (r1.0 &- r3.0, r1.1 &- r3.1, r1.2 &- r3.2, r1.3 &- r3.3))
            }}
        }}
    }}

    /// The outputs of tiles [tileBegin, tileBegin + tiles): Y = A^T M A of the 16 positions' products
    /// (`m`: [position][tile][ocVectors * lanes], `positionStride` int32 apart), accumulator = Y >> 2
    /// (exact: Y is 4 times it) + bias, then the conv epilogue of `a` into the output pixel; pixels
    /// past the output edge (odd sizes) are dropped.
    public static func winogradOutput(_ a: UnsafePointer<rtg_conv_args>, _ m: UnsafePointer<Int32>, positionStride: Int,
                                      outHeight: Int, tilesWide: Int, tileBegin: Int, tiles: Int) {{
        let outWidth = Int(a.pointee.outWidth), vectors = Int(a.pointee.ocVectors), stride = vectors * lanes
        var e = Epilogue(a, 0, widthLog2: 0)
        for t in 0..<tiles {{
            let (th, tw) = (tileBegin + t).quotientAndRemainder(dividingBy: tilesWide)
            let oh = 2 * th, ow = 2 * tw
            for v in 0..<vectors {{
                e.kind = a.pointee.requantKinds![v]
                let base = m + t * stride + v * lanes
                // A^T per row of the 4 x 4 products, then per column: s0 = m0 + m1 + m2, s1 = m1 - m2 - m3
                @inline(__always) func fold(_ r: Int) -> (Acc, Acc) {{
                    let row = base + r * 4 * positionStride
                    let m0 = load(row, 0), m1 = load(row, positionStride), m2 = load(row, 2 * positionStride), m3 = load(row, 3 * positionStride)
                    return (m0 &+ m1 &+ m2, m1 &- m2 &- m3)
                }}
                let r0 = fold(0), r1 = fold(1), r2 = fold(2), r3 = fold(3)
                let bias = load(a.pointee.bias!, v * lanes)
                let y00 = r0.0 &+ r1.0 &+ r2.0, y01 = r0.1 &+ r1.1 &+ r2.1
                let y10 = r1.0 &- r2.0 &- r3.0, y11 = r1.1 &- r2.1 &- r3.1
                storeRequantized((y00 &>> 2) &+ bias, e, oh * outWidth + ow, v)
                if ow + 1 < outWidth {{ storeRequantized((y01 &>> 2) &+ bias, e, oh * outWidth + ow + 1, v) }}
                if oh + 1 < outHeight {{
                    storeRequantized((y10 &>> 2) &+ bias, e, (oh + 1) * outWidth + ow, v)
                    if ow + 1 < outWidth {{ storeRequantized((y11 &>> 2) &+ bias, e, (oh + 1) * outWidth + ow + 1, v) }}
                }}
            }}
        }}
    }}
}}
'''


def origins(indent, mr, suffix=""):
    """A tile's input pointers x0..x{mr-1}: one division for the first pixel, then steps."""
    return [f"{indent}{'var' if mr > 1 else 'let'} (oh, ow) = p.quotientAndRemainder(dividingBy: Int(a.pointee.outWidth))"] + \
        [(f"{indent}step(a, &oh, &ow); " if i else indent) + f"var x{i} = origin(a, oh, ow){suffix}" for i in range(mr)]


def tile(mr, nr, lanes, vec_bytes, f="", grouped=False, pointwise=False, flips=False):
    """One tile of mr pixels x nr vectors. The int8 and f32 conv tiles of mr > 1 pixels loop over
    a run of pixels [pb, pe) (pe - pb >= mr) themselves: their set-up (the arguments, the
    epilogue's, one division) is paid once per run instead of once per tile, which is most of a
    tile's time when K is 16-32. pointwise (int8, `tileP`): a 1x1 stride-1 conv's tiles, whose
    input pixels follow each other in the copy (`pointwise(a)`), so a tile's pointers are one
    multiply-add each and its products one loop, without the row and segment loops (their
    bookkeeping was ~1/4 of a K = 16 conv's time: 0.508 -> 0.445 ms, Zen 3). flips (u8-quad ISAs):
    the pointwise and one-pixel int8 tiles XOR each input quad with `inputFlip`, so that a pointwise
    conv reads its int8 input in place (`PackedInt8.readsInPlace`)."""
    flips = flips and f == "" and (pointwise or mr == 1)
    xor = "rtg_xor16" if lanes == 16 else "rtg_xor8"
    looped = mr > 1 and f in ("", "F")
    L = []
    L.append(f"\n    @inline(never) static func tile{f}{'P' if pointwise else ''}{mr}x{nr}(_ a: UnsafePointer<rtg_conv_args>, "
             + ("_ pb: Int, _ pe: Int, _ v: Int) {" if looped else "_ p: Int, _ v: Int) {"))
    if pointwise:
        L.append("        let quads = Int(a.pointee.quads), vb = Int(a.pointee.vectorBytes)")
    else:
        L.append("        let kh = Int(a.pointee.kernelHeight), quads = Int(a.pointee.quads), segments = Int(a.pointee.segments)")
        L.append("        let segmentStep = Int(a.pointee.segmentStepBytes), rowAdvance = Int(a.pointee.rowAdvanceBytes)")
        L.append("        let vb = Int(a.pointee.vectorBytes)")
    if f == "":
        L.append(f"        let e = Epilogue(a, v, widthLog2: {nr.bit_length() - 1})")
    elif f == "F":
        L.append("        let e = FloatEpilogue(a)")
    if f not in ("W", "WF"):
        L.append("        let bias = a.pointee.bias!")
    if flips:
        L.append("        let flip = Acc(repeating: a.pointee.inputFlip)")
    B = []      # one tile's body at pixel p
    if looped:
        L.append("        let padded = a.pointee.padded!, firstRow = Int(a.pointee.firstRow), outWidth = Int(a.pointee.outWidth)")
        L.append(("        let" if pointwise else "        let rowStep = Int(a.pointee.rowStepBytes),") + " pixelStep = Int(a.pointee.pixelStepBytes)")
        L.append("        let weights = a.pointee.weights! + v * vb")
        L.append("        var p = pb")
        if pointwise:   # the copy's pixels follow each other (`pointwise`): pixel p at (p - firstRow * outWidth) * pixelStep
            L.append("        let origin = padded - firstRow &* outWidth &* pixelStep")
            L.append("        while p < pe {")
            L.append(f"            if p &+ {mr} > pe {{ p = pe &- {mr} }}   // overlap: recompute, same values")
            for i in range(mr):
                B.append(f"let x{i} = origin + (p &+ {i}) &* pixelStep")
        else:
            L.append("        var (oh, ow) = p.quotientAndRemainder(dividingBy: outWidth)")
            L.append("        while p < pe {")
            L.append(f"            if p &+ {mr} > pe {{ p = pe &- {mr}; (oh, ow) = p.quotientAndRemainder(dividingBy: outWidth) }}   // overlap: recompute, same values")
            for i in range(mr):
                B.append(f"var x{i} = padded + ((oh &- firstRow) &* rowStep &+ ow &* pixelStep)")
                B.append("ow &+= 1; if ow == outWidth { ow = 0; oh &+= 1 }")
        B.append(("let" if pointwise else "var") + " w = weights")
    else:
        B.extend(l.strip() for l in origins("", mr))
        B.append("var w = a.pointee.weights! + v * vb")
    if f in ("W", "WF"):    # Winograd products: the bias comes after the output transform
        for i in range(mr):
            B.append("; ".join(f"var c{i}_{j} = Acc()" for j in range(nr)))
    else:
        for j in range(nr):
            B.append(f"let bias{j} = load(bias, (v &+ {j}) &* lanes)")
        for i in range(mr):
            B.append("; ".join(f"var c{i}_{j} = bias{j}" for j in range(nr)))
    op = "fma" if f in ("F", "WF") else "dot"
    def quads_loop(indent):
        Q = [indent + "for g in 0..<quads {"]
        for j in range(nr):
            Q.append(f"{indent}    let w{j} = (w + {j} * vb).loadUnaligned(fromByteOffset: g * {vec_bytes}, as: Acc.self)")
        for i in range(mr):
            Q.append(f"{indent}    let a{i} = Acc(repeating: x{i}.loadUnaligned(fromByteOffset: g * 4, as: Int32.self))" if not flips else
                     f"{indent}    let a{i} = {xor}(Acc(repeating: x{i}.loadUnaligned(fromByteOffset: g * 4, as: Int32.self)), flip)")
            Q.append(f"{indent}    " + "; ".join(f"c{i}_{j} = {op}(c{i}_{j}, a{i}, w{j})" for j in range(nr)))
        Q.append(indent + "}")
        return Q
    flat = looped and f == "F"      # (not int8: its tiles ran 3-9 % slower on large K with it, Zen 3)
    if pointwise:
        B.extend(quads_loop(""))
    elif flat:        # a 1x1 conv's window is one segment of one row: no row / segment loop per tile
        B.append("if kh == 1 && segments == 1 {")
        B.extend(quads_loop("    "))
        B.append("} else {")
        ind = "    "
    else:
        ind = ""
    if not pointwise:
        B.append(ind + "for _ in 0..<kh {")
        B.append(ind + "    for _ in 0..<segments {")
        B.extend(quads_loop(ind + "        "))
        B.append(ind + "        " + "; ".join(f"x{i} += segmentStep" for i in range(mr)))
        B.append(ind + f"        w += quads * {vec_bytes}")
        B.append(ind + "    }")
        B.append(ind + "    " + "; ".join(f"x{i} += rowAdvance" for i in range(mr)))
        B.append(ind + "}")
    if flat:
        B.append("}")
    fn = {"F": "storeFloat", "W": "storeProduct", "WF": "storeProduct"}.get(f, "store" if mr == 1 else "storeRequantized")
    arg = "e" if f in ("", "F") else "a"
    stores = ["; ".join(f"{fn}(c{i}_{j}, {arg}, p + {i}, v + {j})" for j in range(nr)) for i in range(mr)]
    if f == "" and mr > 1:
        B.extend(finish(mr, nr, grouped, stores))
    elif f == "F":
        B.extend(finish_float(mr, nr, stores))
    else:
        B.extend(stores)
    if looped:
        B.append(f"p &+= {mr}")
        L.extend("            " + l for l in B)
        L.append("        }")
    else:
        L.extend("        " + l for l in B)
    L.append("    }")
    return "\n".join(L) + "\n"


def finish_float(mr, nr, stores):
    """The f32 tile's epilogue when its vectors are all whole: one branch on (leaky, clip) per
    tile, then per vector the activation's instructions and a store, with no call (around which
    every live accumulator would be spilled) and no test per store; else `stores`."""
    L = [f"if e.oc &- v &* lanes >= {nr} &* lanes {{",
         "    let out = e.output + (p &* e.outputStride &+ v &* lanes), rowStep = e.outputStride"]
    for i in range(mr):
        L.append("    " + "; ".join(f"let k{i}_{j} = c{i}_{j}" for j in range(nr)))
    L.append("    @inline(__always) func finish<A: FloatActivation>(_: A.Type) {")
    for i in range(mr):
        for j in range(nr):
            L.append(f"        UnsafeMutableRawPointer(out + ({i} &* rowStep &+ {j} &* lanes)).storeBytes(of: A.apply(k{i}_{j}, e), as: FloatLanes.self)")
    L += ["    }",
          "    switch (e.leaky, e.clip) {",
          "    case (false, false): finish(Linear.self)",
          "    case (false, true): finish(Clipped.self)",
          "    case (true, false): finish(Leaky.self)",
          "    default: finish(LeakyClipped.self)",
          "    }",
          "} else {"]
    L += ["    " + l for l in stores]
    L.append("}")
    return L


def finish(mr, nr, grouped, stores):
    """The int8 tile's epilogue when its vectors are all whole and their kind is 1-3: one branch on
    (kind, clamp) per tile, each column's epilogue constants loaded once (`ColumnEpilogue`); else
    `stores` (the general form, vector by vector). grouped (avx2): a pixel's 2 or 4 columns are
    narrowed together and stored as one write."""
    L = [f"if e.kind != 0 && e.oc &- v &* lanes >= {nr} &* lanes {{",
         "    let out = e.output! + (p &* e.outputStride &+ v &* lanes), rowStep = e.outputStride"]
    # let copies: a nested function that captured the `var` accumulators would keep them in memory
    for i in range(mr):
        L.append("    " + "; ".join(f"let k{i}_{j} = c{i}_{j}" for j in range(nr)))
    L.append("    @inline(__always) func finish<Q: ColumnEpilogue, B: Bound>(_: Q.Type, _ b: B.Type) {")
    if grouped and nr in (2, 4):
        for j in range(nr):
            L.append(f"        let q{j} = Q(e, (v &+ {j}) &* lanes)")
            L.append("        " + "; ".join(f"let y{i}_{j} = q{j}(k{i}_{j})" for i in range(mr)))
        for i in range(mr):
            L.append(f"        storeBytes{nr}(" + ", ".join(f"y{i}_{j}" for j in range(nr)) + f", b, e, out + {i} &* rowStep)")
    else:
        for j in range(nr):
            L.append(f"        let q{j} = Q(e, (v &+ {j}) &* lanes)")
            for i in range(mr):
                L.append(f"        storeBytes(q{j}(k{i}_{j}), b, e, out + ({i} &* rowStep &+ {j} &* lanes))")
    L += ["    }",
          "    switch (e.kind, e.clamps) {",
          "    case (3, false): finish(Folded.self, Saturated.self)",
          "    case (3, true): finish(Folded.self, Clamped.self)",
          "    case (2, false): finish(OneSign.self, Saturated.self)",
          "    case (2, true): finish(OneSign.self, Clamped.self)",
          "    case (_, false): finish(BySign.self, Saturated.self)",
          "    default: finish(BySign.self, Clamped.self)",
          "    }",
          "} else {"]
    L += ["    " + l for l in stores]
    L.append("}")
    return L


def gtile(mr, lanes, vec_bytes):
    L = []
    L.append(f"\n    @inline(never) static func gtile{mr}(_ a: UnsafePointer<rtg_conv_args>, _ p: Int, _ v: Int) {{")
    L.append("        let kh = Int(a.pointee.kernelHeight), quads = Int(a.pointee.quads), segments = Int(a.pointee.segments)")
    L.append("        let segmentStep = Int(a.pointee.segmentStepBytes), rowAdvance = Int(a.pointee.rowAdvanceBytes)")
    L.append("        let vb = Int(a.pointee.vectorBytes), inOffset = v * Int(a.pointee.vectorInputBytes)")
    L.append("        let perm = a.pointee.permute!")
    L.extend(origins("        ", mr, " + inOffset"))
    L.append("        var w = a.pointee.weights! + v * vb")
    L.append("        let bias = load(a.pointee.bias!, v * lanes)")
    L.append("        " + "; ".join(f"var c{i} = bias" for i in range(mr)))
    L.append("        for _ in 0..<kh {")
    L.append("            for _ in 0..<segments {")
    for i in range(mr):
        L.append(f"                let v{i} = x{i}.loadUnaligned(as: Acc.self)")
    L.append("                for g in 0..<quads {")
    L.append(f"                    let w0 = w.loadUnaligned(fromByteOffset: g * {vec_bytes}, as: Acc.self)")
    L.append("                    let idx = load(perm, g * lanes)")
    for i in range(mr):
        L.append(f"                    c{i} = dot(c{i}, permute(v{i}, idx), w0)")
    L.append("                }")
    L.append("                " + "; ".join(f"x{i} += segmentStep" for i in range(mr)))
    L.append(f"                w += quads * {vec_bytes}")
    L.append("            }")
    L.append("            " + "; ".join(f"x{i} += rowAdvance" for i in range(mr)))
    L.append("        }")
    fn = "store" if mr == 1 else "storeRequantized"
    L.append("        let e = Epilogue(a, v, widthLog2: 0)")
    L.append("        " + "; ".join(f"{fn}(c{i}, e, p + {i}, v)" for i in range(mr)))
    L.append("    }")
    return "\n".join(L) + "\n"


GEMV = '''
    /// DENSE with s8 weights (`PackedInt8.narrowWeights`: [vector][quad][{lanes} lanes][2 s8], half
    /// the bytes of the s16 packing), widened to s16 at the load (vpmovsxbw). A GEMV reads every
    /// weight once, from L2 or L3, so its bytes are its time. Writes the int32 accumulators of channel
    /// vectors [vectorBegin, vectorEnd) to `raw`; `padded` is the s16 input (x - z), one pair per quad.
    public static func gemv(_ a: UnsafePointer<rtg_conv_args>, vectorBegin: Int, vectorEnd: Int) {{
        var v = vectorBegin
        while v < vectorEnd {{
            let left = vectorEnd - v
            if left >= 4 {{ gemv4(a, v); v += 4 }}
            else if left >= 2 {{ gemv2(a, v); v += 2 }}
            else {{ gemv1(a, v); v += 1 }}
        }}
    }}
{gemvs}'''


def gemv(nr, lanes):
    """One GEMV tile: nr vectors of output channels, each one accumulator over all quads."""
    L = [f"\n    @inline(never) static func gemv{nr}(_ a: UnsafePointer<rtg_conv_args>, _ v: Int) {{",
         "        let quads = Int(a.pointee.quads), vb = Int(a.pointee.vectorBytes)",
         "        let x = a.pointee.padded!, w = a.pointee.weights! + v &* vb, bias = a.pointee.bias!, raw = a.pointee.raw!"]
    L.append("        " + "; ".join(f"var c{j} = load(bias, (v &+ {j}) &* lanes)" for j in range(nr)))
    L.append("        for g in 0..<quads {")
    L.append("            let xg = Acc(repeating: x.loadUnaligned(fromByteOffset: g &* 4, as: Int32.self))")
    for j in range(nr):
        L.append(f"            let w{j} = (w + {j} &* vb).loadUnaligned(fromByteOffset: g &* {2 * lanes}, as: SIMD{2 * lanes}<Int8>.self)")
    L.append("            " + "; ".join(f"c{j} = dot(c{j}, xg, unsafeBitCast(rtg_widen8to16(w{j}), to: Acc.self))" for j in range(nr)))
    L.append("        }")
    L.append("        " + "; ".join(f"UnsafeMutableRawPointer(raw + (v &+ {j}) &* lanes).storeBytes(of: c{j}, as: Acc.self)" for j in range(nr)))
    L.append("    }")
    return "\n".join(L) + "\n"


def render_isa(name: str, d: dict) -> str:
    mr_of = {nr: mr for mr, nr in d["tile_shapes"] if mr > 1}
    runners = "".join(RUNNER_INT8.format(nr=nr, mr=mr_of[nr]) for nr in (4, 2, 1))
    runnersF = "".join(RUNNER.format(nr=nr, mr=mr_of[nr], f="F") for nr in (4, 2, 1))
    flips = d["fill_elem"] == "UInt8"
    tiles = "".join(tile(mr, nr, d["lanes"], d["vec_bytes"], grouped=bool(d.get("grouped_stores")), flips=flips)
                    for mr, nr in d["tile_shapes"])
    tiles += "".join(tile(mr, nr, d["lanes"], d["vec_bytes"], grouped=bool(d.get("grouped_stores")), pointwise=True, flips=flips)
                     for mr, nr in d["tile_shapes"] if mr > 1)
    tiles += "".join(tile(mr, nr, d["lanes"], d["vec_bytes"], "F") for mr, nr in d["tile_shapes"])
    gtiles = "".join(gtile(mr, d["lanes"], d["vec_bytes"]) for mr in (d["group_mr"], 1))
    def winograd_parts(f):
        return dict(runners="".join(RUNNER_W.format(nr=nr, mr=mr_of[nr], f=f) for nr in (4, 2, 1)),
                    tiles="".join(tile(mr, nr, d["lanes"], d["vec_bytes"], f) for mr, nr in d["tile_shapes"]))
    winograd = WINOGRAD_FLOAT.format(name=name, facc=d["facc"], **winograd_parts("WF"))
    if d.get("winograd"):
        winograd += WINOGRAD.format(name=name, **winograd_parts("W"))
    gemvs = "".join(gemv(nr, d["lanes"]) for nr in (4, 2, 1))
    dense = f"extension {name}Kernels {{" + GEMV.format(lanes=d["lanes"], gemvs=gemvs) + "}\n" if d.get("gemv") else ""
    simd = winograd + dense + simd_section(name) if d.get("simd_section", True) else dense
    return TEMPLATE.format(name=name, runners=runners, runnersF=runnersF, tiles=tiles, gtiles=gtiles, simd=simd, **d)


# The SIMD section's variant-specific lane operations (see dotPairs, mulHighLanes, clampLanes, shiftLanes,
# requantize).
SIMD_LANE_OPS = {
    "VNNI": dict(DOT_PAIRS="rtg_dpwssd(acc, x, w)", MUL_HIGH="rtg_mulhi16(a, b)",
                 CLAMP="rtg_clamp16(y, V32(repeating: lo), V32(repeating: hi))", SHIFT="rtg_srav16(a, t)",
                 NARROW="rtg_narrow_sat(y)", SATURATES="true", DW_PIXELS="4",
                 REQUANT64="rtg_requant64_16(acc, m, s, Int32(truncatingIfNeeded: z), Int32(truncatingIfNeeded: lo), Int32(truncatingIfNeeded: hi))",
                 MUL_ADD="unsafeBitCast(rtg_fmadd16(unsafeBitCast(a, to: V32.self), unsafeBitCast(x, to: V32.self), "
                         "unsafeBitCast(w, to: V32.self)), to: VF.self)"),
    "AVX2": dict(
        DOT_PAIRS="acc &+ V32(lowHalf: rtg_madd16(x.lowHalf, w.lowHalf), highHalf: rtg_madd16(x.highHalf, w.highHalf))",
        MUL_HIGH="V32(lowHalf: rtg_mulhi8(a.lowHalf, b.lowHalf), highHalf: rtg_mulhi8(a.highHalf, b.highHalf))",
        CLAMP="V32(lowHalf: rtg_clamp8(y.lowHalf, .init(repeating: lo), .init(repeating: hi)), "
              "highHalf: rtg_clamp8(y.highHalf, .init(repeating: lo), .init(repeating: hi)))",
        SHIFT="V32(lowHalf: rtg_srav8(a.lowHalf, t.lowHalf), highHalf: rtg_srav8(a.highHalf, t.highHalf))",
        NARROW="rtg_narrow_sat8x16(y)", SATURATES="true", DW_PIXELS="2", REQUANT64="requantize64(acc, m, s, z, lo, hi)",
        MUL_ADD="let i = SIMD8<Int32>.self, f = SIMD8<Float>.self; "
                "return VF(lowHalf: unsafeBitCast(rtg_fmadd8(unsafeBitCast(a.lowHalf, to: i), unsafeBitCast(x.lowHalf, to: i), unsafeBitCast(w.lowHalf, to: i)), to: f), "
                "highHalf: unsafeBitCast(rtg_fmadd8(unsafeBitCast(a.highHalf, to: i), unsafeBitCast(x.highHalf, to: i), unsafeBitCast(w.highHalf, to: i)), to: f))"),
    "Portable": dict(
        DOT_PAIRS="acc &+ ((x &<< 16) &>> 16) &* ((w &<< 16) &>> 16) &+ (x &>> 16) &* (w &>> 16)",
        MUL_HIGH="mulHigh(a, b)", CLAMP="clamp32(y, lo, hi)", SHIFT="a &>> t", NARROW="rtg_narrow32to8(y)", SATURATES="false", DW_PIXELS="2",
        REQUANT64="requantize64(acc, m, s, z, lo, hi)", MUL_ADD="a + x * w"),
}


def simd_section(name: str) -> str:
    s = SIMD_SECTION.replace("@NAME@", name)
    for key, code in SIMD_LANE_OPS[name].items():
        s = s.replace(f"@{key}@", code)
    return s


def render(name: str, d: dict) -> str:
    if d.get("portable"):
        return PORTABLE_TEMPLATE + simd_section(name)
    return render_isa(name, d)


def output_path(name: str) -> str:
    if ISAS[name].get("portable"):
        return os.path.join(ROOT, "RoentgenKernels", "PortableKernels.swift")
    return os.path.join(ROOT, f"RoentgenKernels{name}", "Kernels.swift")


if __name__ == "__main__":
    for name, d in ISAS.items():
        with open(output_path(name), "w") as f:
            f.write(render(name, d))
        print("wrote", output_path(name))
