// Single-instruction shims for the int8 kernels (in the spirit of swift-numerics' _NumericsShims).
// Each function exposes ONE instruction Swift cannot name, plus the CPU-feature query used to pick
// the kernel variant at load. Loops, tiling, packing and epilogues are Swift (RoentgenKernels*).
#ifndef ROENTGEN_ISA_H
#define ROENTGEN_ISA_H
#include <stddef.h>
#include <stdint.h>

typedef int32_t rtg_i32x16 __attribute__((ext_vector_type(16)));
typedef int32_t rtg_i32x8 __attribute__((ext_vector_type(8)));
typedef int8_t rtg_i8x16 __attribute__((ext_vector_type(16)));

/// What a convolution tile of RoentgenKernelsVNNI / RoentgenKernelsAVX2 reads and writes, for one
/// group of a (possibly grouped) CONV2D (filled by RoentgenKernels at load, pointers bound per run;
/// plain data so that every Swift module sees one type). See SPEC "Kernel layouts".
typedef struct {
    const void *padded;       // this group's first input channel in the bordered copy (u8 x+128, s16 x-z, or f32)
    int64_t firstRow;         // the output row whose receptive field starts at the copy's first row (row bands)
    const void *weights;      // this group's packed weights, 64-byte aligned
    const int32_t *bias;      // [ocVectors * lanes], zero-point correction folded in (f32: the bits of the bias)
    const int32_t *mPos, *sPos, *mNeg, *sNeg;   // requant columns, [ocVectors * lanes]
    const int32_t *tPos, *tNeg, *rPos, *rNeg;   // where shift >= 33: t = shift - 32, r = 2^(t-1)
    const int32_t *rFolded;   // r + z_y 2^t (positive side), the rounding term of kind 3
    const uint8_t *requantKinds;   // EpilogueColumns.kinds, per vector: 0 64-bit; 1 32-bit; 2 no sign select; 3 z_y in r
    int8_t *output;           // this group's first output channel of pixel 0, or NULL when raw is set
    int32_t *raw;             // [pixels][ocVectors * lanes] int32 accumulators, or NULL
    int64_t outWidth, oc, ocVectors, kernelHeight;
    int64_t quads;            // 4-byte quads (4 u8, 2 s16 or 1 f32) per segment
    int64_t segments;         // segments per kernel row: 1 (the row's KW * IC elements are contiguous) or KW
    int64_t segmentStepBytes; // from one segment's start to the next (dilation_w * IC * element size)
    int64_t rowAdvanceBytes;  // after a kernel row's segments, to the next row's start
    int64_t pixelStepBytes;   // stride_w * IC * element size
    int64_t rowStepBytes;     // stride_h * bytes of one padded input row
    int64_t vectorBytes;      // packed weight bytes of one output-channel vector
    int64_t outputStride;     // output elements per pixel (every group's channels)
    int64_t outputZeroPoint, outputMin, outputMax;
    float *outputF32;         // f32 convolution: this group's first output channel of pixel 0
    float alpha;              // f32: leaky ReLU slope when leaky != 0
    int32_t leaky;
    float clipMin, clipMax;   // f32: clamp when clip != 0
    int32_t clip;
    // u8-quad int8 tiles (vnni, avxvnni): XORed into every input quad the pointwise and one-pixel
    // tiles load. 0x80808080 when they read the int8 input in place (x ^ 0x80 is the u8 x + 128), else 0.
    int32_t inputFlip;
    // Grouped tiles (groups side by side in one vector): lane l takes input dword permute[q][l] of
    // the vector loaded at the pixel's origin + v * vectorInputBytes, for quad q of a segment.
    const int32_t *permute;   // [quads][lanes]
    int64_t vectorInputBytes;
} rtg_conv_args;

/// What a depthwise CONV2D (groups == IC) of the SIMD section reads and writes: channels are the
/// output channels (the input is the multiplier-expanded copy when OC > IC), 16 per step.
typedef struct {
    const int8_t *input;        // int8: [H][W][C]
    const float *inputF32;      // f32: [H][W][C]
    const int16_t *weights;     // int8: [KH * KW][channelsPadded / 32][even, odd][32] s16 (see Depthwise.swift)
    const float *weightsF32;    // f32: [KH * KW][channelsPadded]
    const int32_t *bias;        // int8: [channelsPadded], even/odd order like every int8 column
    const int32_t *biasFull;    // int8: bias - z_x * sum of the channel's weights (windows with every tap inside)
    const float *biasF32;       // f32: [channelsPadded]
    const int32_t *mPos, *sPos, *mNeg, *sNeg;   // [channelsPadded]
    const int32_t *tPos, *tNeg, *rPos, *rNeg, *rFolded;   // as in rtg_conv_args
    int32_t kindEven, kindOdd;  // the epilogue kinds of this call's even and odd channels (EpilogueColumns.kinds)
    int64_t channelBegin, channelEnd;   // the channels this call computes: a multiple of 32, and one or C
    int8_t *output;             // int8: [OH][OW][C]
    float *outputF32;           // f32: [OH][OW][C]
    int64_t height, width, channels, outHeight, outWidth;
    int64_t kernelHeight, kernelWidth, strideHeight, strideWidth, dilationHeight, dilationWidth, padTop, padLeft;
    int64_t inputZeroPoint, outputZeroPoint, outputMin, outputMax;
    float alpha, clipMin, clipMax;   // f32 epilogue
    int32_t leaky, clip;
} rtg_depthwise_args;

/// The constants of an elementwise int8 ADD or MUL (SPEC "ADD", "MUL"), prepared at load.
typedef struct {
    int32_t ma, mb, shift;      // ADD: m_a, m_b, shift. MUL: m (in ma), shift
    int32_t za, zb, zy, lo, hi; // zero points, output clamp
    int32_t fast;               // ADD: 17 <= shift, the 32-bit split form below. MUL: shift >= 33 (hi32 form)
    int32_t maHi, maLo, mbHi, mbLo;   // ADD fast: m = hi * 2^16 + lo, lo in [0, 2^16)
    int32_t roundTerm, shiftRight;    // ADD fast: 2^(s'-17), s' - 16 with s' = min(shift, 42); MUL fast: 2^(s-33), s - 32
} rtg_eltwise_args;

/// Bit 0: AVX2 + FMA usable (CPU and OS). Bit 1: AVX-512 F/BW/DQ/VL + VNNI usable. Bit 2: AVX2 + FMA +
/// AVX-VNNI (VEX-encoded vpdpbusd on ymm) usable. 0 off x86-64.
int rtg_cpu_features(void);

/// 1 when the x86 SHA extensions (and SSSE3, SSE4.1) are usable; then `rtg_sha256_blocks`
/// compresses `blocks` 64-byte blocks into `state` (FIPS 180-4 word order). 0 elsewhere.
int rtg_sha256_accelerated(void);
/// SHA-256's 64 round constants (FIPS 180-4), shared with the portable compression in Swift.
extern const uint32_t rtg_sha256_k[64];
void rtg_sha256_blocks(uint32_t state[8], const uint8_t *data, size_t blocks);

/// `n` dependent integer adds (one cycle each on every x86-64 and aarch64 core): `roentgen bench`
/// times it to report the clock the core actually ran at, which hardware counters do not show in a VM.
uint64_t rtg_dependent_adds(uint64_t n);

/// One spin-wait hint (x86 `pause`, aarch64 `yield`) for the worker pool's spin loop.
static inline __attribute__((always_inline)) void rtg_pause(void) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

typedef int8_t rtg_i8x8 __attribute__((ext_vector_type(8)));
typedef int16_t rtg_i16x16 __attribute__((ext_vector_type(16)));
typedef int64_t rtg_i64x8 __attribute__((ext_vector_type(8)));

// Lane-width conversions for the SIMD section. Swift's SIMD16<Int32>(truncatingIfNeeded:) is a
// call into the standard library's generic-x86-64 code; these inline into each kernel module and
// are compiled for its -target-cpu (vpmovsxbd, vpmovdb, ...). No target attribute: the portable
// module gets the baseline instructions.
static inline __attribute__((always_inline)) rtg_i32x16 rtg_widen8to32(rtg_i8x16 x) { return __builtin_convertvector(x, rtg_i32x16); }
static inline __attribute__((always_inline)) rtg_i16x16 rtg_widen8to16(rtg_i8x16 x) { return __builtin_convertvector(x, rtg_i16x16); }
static inline __attribute__((always_inline)) rtg_i32x16 rtg_widen16to32(rtg_i16x16 x) { return __builtin_convertvector(x, rtg_i32x16); }
static inline __attribute__((always_inline)) rtg_i8x16 rtg_narrow32to8(rtg_i32x16 x) { return __builtin_convertvector(x, rtg_i8x16); }
static inline __attribute__((always_inline)) rtg_i8x8 rtg_narrow32to8x8(rtg_i32x8 x) { return __builtin_convertvector(x, rtg_i8x8); }

typedef int8_t rtg_i8x32 __attribute__((ext_vector_type(32)));
typedef int16_t rtg_i16x32 __attribute__((ext_vector_type(32)));
/// 32 s8 to 32 s16 (vpmovsxbw zmm on the vnni module), and the bytes of a and b interleaved
/// (a0 b0 a1 b1 ...): the depthwise kernel's input widening and its even/odd channel merge.
static inline __attribute__((always_inline)) rtg_i16x32 rtg_widen8to16x32(rtg_i8x32 x) { return __builtin_convertvector(x, rtg_i16x32); }
/// clamp(x, lo, hi) on bytes (vpmaxsb + vpminsb): after a saturating narrowing, the same as clamping
/// the int32 lanes before it (lo, hi in [-128, 127]), with 16 or 32 outputs per instruction instead of 8.
static inline __attribute__((always_inline)) rtg_i8x16 rtg_clamp_i8x16(rtg_i8x16 x, int8_t lo, int8_t hi) {
    return __builtin_elementwise_min(__builtin_elementwise_max(x, (rtg_i8x16)lo), (rtg_i8x16)hi);
}
static inline __attribute__((always_inline)) rtg_i8x32 rtg_clamp_i8x32(rtg_i8x32 x, int8_t lo, int8_t hi) {
    return __builtin_elementwise_min(__builtin_elementwise_max(x, (rtg_i8x32)lo), (rtg_i8x32)hi);
}
static inline __attribute__((always_inline)) rtg_i8x32 rtg_interleave8(rtg_i8x16 a, rtg_i8x16 b) {
    return __builtin_shufflevector(a, b, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23,
                                   8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
}

#if defined(__x86_64__)
#include <immintrin.h>

/// vpdpbusd zmm: acc[i] += sum_{j<4} u8(a[i].byte j) * s8(b[i].byte j), no saturation.
static inline __attribute__((always_inline, target("avx512f,avx512vnni")))
rtg_i32x16 rtg_dpbusd(rtg_i32x16 acc, rtg_i32x16 a, rtg_i32x16 b) {
    return (rtg_i32x16)_mm512_dpbusd_epi32((__m512i)acc, (__m512i)a, (__m512i)b);
}

/// vpdpwssd zmm: acc[i] += s16(a[i].lo) * s16(b[i].lo) + s16(a[i].hi) * s16(b[i].hi), no saturation.
static inline __attribute__((always_inline, target("avx512f,avx512vnni")))
rtg_i32x16 rtg_dpwssd(rtg_i32x16 acc, rtg_i32x16 a, rtg_i32x16 b) {
    return (rtg_i32x16)_mm512_dpwssd_epi32((__m512i)acc, (__m512i)a, (__m512i)b);
}

/// vpmovsdb zmm -> xmm: 16 int32 to int8 with signed saturation (= clamp to [-128, 127]).
static inline __attribute__((always_inline, target("avx512f")))
rtg_i8x16 rtg_narrow_sat(rtg_i32x16 a) {
    return (rtg_i8x16)_mm512_cvtsepi32_epi8((__m512i)a);
}

/// vpermd zmm: r[i] = a[idx[i]] (dword lanes).
static inline __attribute__((always_inline, target("avx512f")))
rtg_i32x16 rtg_permd16(rtg_i32x16 a, rtg_i32x16 idx) {
    return (rtg_i32x16)_mm512_permutexvar_epi32((__m512i)idx, (__m512i)a);
}

/// clamp(z + ((acc * m + 2^(s-1)) >> s), lo, hi) per lane with exact 64-bit products (s in 1...62):
/// vpmuldq on the even and the odd lanes, the rounding shift, z and the clamp on 64-bit lanes
/// (vpmaxsq / vpminsq), one blend back. Quantization.swift `Requantize`, lane by lane.
static inline __attribute__((always_inline, target("avx512f")))
rtg_i32x16 rtg_requant64_16(rtg_i32x16 acc, rtg_i32x16 m, rtg_i32x16 s, int32_t z, int32_t lo, int32_t hi) {
    const __m512i one = _mm512_set1_epi64(1), zz = _mm512_set1_epi64(z);
    const __m512i l = _mm512_set1_epi64(lo), h = _mm512_set1_epi64(hi);
    __m512i se = _mm512_and_si512((__m512i)s, _mm512_set1_epi64(0xFFFFFFFF)), so = _mm512_srli_epi64((__m512i)s, 32);
    __m512i pe = _mm512_mul_epi32((__m512i)acc, (__m512i)m);
    __m512i po = _mm512_mul_epi32(_mm512_srli_epi64((__m512i)acc, 32), _mm512_srli_epi64((__m512i)m, 32));
    pe = _mm512_srav_epi64(_mm512_add_epi64(pe, _mm512_sllv_epi64(one, _mm512_sub_epi64(se, one))), se);
    po = _mm512_srav_epi64(_mm512_add_epi64(po, _mm512_sllv_epi64(one, _mm512_sub_epi64(so, one))), so);
    pe = _mm512_min_epi64(_mm512_max_epi64(_mm512_add_epi64(pe, zz), l), h);
    po = _mm512_min_epi64(_mm512_max_epi64(_mm512_add_epi64(po, zz), l), h);
    return (rtg_i32x16)_mm512_mask_blend_epi32(0xAAAA, pe, _mm512_slli_epi64(po, 32));
}
/// hi32 of the signed 64-bit products a[i] * b[i] (vpmuldq on the even and the odd lanes, one
/// blend), and clamp(y, lo, hi) (vpmaxsd, vpminsd): the tiles' 32-bit requantization.
static inline __attribute__((always_inline, target("avx512f")))
rtg_i32x16 rtg_mulhi16(rtg_i32x16 a, rtg_i32x16 b) {
    __m512i even = _mm512_mul_epi32((__m512i)a, (__m512i)b);
    __m512i odd = _mm512_mul_epi32(_mm512_srli_epi64((__m512i)a, 32), _mm512_srli_epi64((__m512i)b, 32));
    return (rtg_i32x16)_mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 32), odd);
}
static inline __attribute__((always_inline, target("avx512f")))
rtg_i32x16 rtg_clamp16(rtg_i32x16 y, rtg_i32x16 lo, rtg_i32x16 hi) {
    return (rtg_i32x16)_mm512_min_epi32(_mm512_max_epi32((__m512i)y, (__m512i)lo), (__m512i)hi);
}
/// vpsravd zmm: a[i] >> t[i] (arithmetic; the tiles' shifts are 1...31, so Swift's masking `&>>`
/// would only add an AND).
static inline __attribute__((always_inline, target("avx512f")))
rtg_i32x16 rtg_srav16(rtg_i32x16 a, rtg_i32x16 t) {
    return (rtg_i32x16)_mm512_srav_epi32((__m512i)a, (__m512i)t);
}
static inline __attribute__((always_inline, target("avx2")))
rtg_i32x8 rtg_mulhi8(rtg_i32x8 a, rtg_i32x8 b) {
    __m256i even = _mm256_mul_epi32((__m256i)a, (__m256i)b);
    __m256i odd = _mm256_mul_epi32(_mm256_srli_epi64((__m256i)a, 32), _mm256_srli_epi64((__m256i)b, 32));
    return (rtg_i32x8)_mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
}
static inline __attribute__((always_inline, target("avx2")))
rtg_i32x8 rtg_clamp8(rtg_i32x8 y, rtg_i32x8 lo, rtg_i32x8 hi) {
    return (rtg_i32x8)_mm256_min_epi32(_mm256_max_epi32((__m256i)y, (__m256i)lo), (__m256i)hi);
}
static inline __attribute__((always_inline, target("avx2")))
rtg_i32x8 rtg_srav8(rtg_i32x8 a, rtg_i32x8 t) {
    return (rtg_i32x8)_mm256_srav_epi32((__m256i)a, (__m256i)t);
}

/// int32 lanes to int8 with signed saturation (vpackssdw + vpacksswb), so that a clamp to
/// [-128, 127] is left to the narrowing as on vnni (vpmovsdb); in range it equals truncation.
static inline __attribute__((always_inline, target("avx2")))
rtg_i8x8 rtg_narrow_sat8(rtg_i32x8 a) {
    __m128i w = _mm_packs_epi32(_mm256_castsi256_si128((__m256i)a), _mm256_extracti128_si256((__m256i)a, 1));
    __m128i b = _mm_packs_epi16(w, w);
    rtg_i8x16 v = (rtg_i8x16)b;                           // vector to vector: a bit cast (scalar to vector would splat)
    return __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7);
}
/// The same on 16 lanes (two ymm): the in-lane packs put 32-bit groups out of order, a vpermq and
/// a pshufd put them back.
static inline __attribute__((always_inline, target("avx2")))
rtg_i8x16 rtg_narrow_sat8x16(rtg_i32x16 a) {
    __m256i lo = (__m256i)__builtin_shufflevector(a, a, 0, 1, 2, 3, 4, 5, 6, 7);
    __m256i hi = (__m256i)__builtin_shufflevector(a, a, 8, 9, 10, 11, 12, 13, 14, 15);
    __m256i w = _mm256_packs_epi32(lo, hi);               // lo0-3 hi0-3 | lo4-7 hi4-7 (s16)
    __m256i b = _mm256_packs_epi16(w, w);                 // lo0-3 hi0-3 x2 | lo4-7 hi4-7 x2 (s8)
    __m256i q = _mm256_permute4x64_epi64(b, 0xD8);        // 64-bit groups 0, 2, 1, 3
    __m128i r = _mm256_castsi256_si128(q);                // lo0-3 hi0-3 lo4-7 hi4-7
    return (rtg_i8x16)_mm_shuffle_epi32(r, 0xD8);         // lo0-3 lo4-7 hi0-3 hi4-7
}

/// Two / four 8-lane int32 vectors to 16 / 32 int8 with signed saturation, in order: one
/// vpackssdw per pair, one vpacksswb, then a shuffle that undoes the packs' 128-bit interleave.
static inline __attribute__((always_inline, target("avx2")))
rtg_i8x16 rtg_narrow_sat8x2(rtg_i32x8 a, rtg_i32x8 b) {
    __m256i ab = _mm256_packs_epi32((__m256i)a, (__m256i)b);                                 // a0-3 b0-3 | a4-7 b4-7
    __m128i x = _mm_packs_epi16(_mm256_castsi256_si128(ab), _mm256_extracti128_si256(ab, 1)); // a0-3 b0-3 a4-7 b4-7
    return (rtg_i8x16)_mm_shuffle_epi32(x, 0xD8);                                           // a0-7 b0-7
}
static inline __attribute__((always_inline, target("avx2")))
rtg_i8x32 rtg_narrow_sat8x4(rtg_i32x8 a, rtg_i32x8 b, rtg_i32x8 c, rtg_i32x8 d) {
    __m256i ab = _mm256_packs_epi32((__m256i)a, (__m256i)b);      // a0-3 b0-3 | a4-7 b4-7 (s16)
    __m256i cd = _mm256_packs_epi32((__m256i)c, (__m256i)d);      // c0-3 d0-3 | c4-7 d4-7
    __m256i x = _mm256_packs_epi16(ab, cd);                       // a0-3 b0-3 c0-3 d0-3 | a4-7 b4-7 c4-7 d4-7 (s8)
    return (rtg_i8x32)_mm256_permutevar8x32_epi32(x, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/// y < lo ? lo : (y > hi ? hi : y) on f32 lanes, as the f32 epilogue's compares and blends give it:
/// vmaxps / vminps return their second operand when the first does not win (y NaN, or equal
/// to the bound up to the sign of zero), so with the bound first, y is kept in exactly those cases.
typedef float rtg_f32x8 __attribute__((ext_vector_type(8)));
static inline __attribute__((always_inline, target("avx2")))
rtg_f32x8 rtg_clip8f(rtg_f32x8 y, rtg_f32x8 lo, rtg_f32x8 hi) {
    return (rtg_f32x8)_mm256_min_ps((__m256)hi, _mm256_max_ps((__m256)lo, (__m256)y));
}

/// vpermd ymm: r[i] = a[idx[i]] (dword lanes).
static inline __attribute__((always_inline, target("avx2")))
rtg_i32x8 rtg_permd8(rtg_i32x8 a, rtg_i32x8 idx) {
    return (rtg_i32x8)_mm256_permutevar8x32_epi32((__m256i)a, (__m256i)idx);
}

/// vpmaddwd ymm: r[i] = s16(a[i].lo) * s16(b[i].lo) + s16(a[i].hi) * s16(b[i].hi) (exact here:
/// |x - z| <= 255, |w| <= 128, so each pair sum is < 2^17).
static inline __attribute__((always_inline, target("avx2")))
rtg_i32x8 rtg_madd16(rtg_i32x8 a, rtg_i32x8 b) {
    return (rtg_i32x8)_mm256_madd_epi16((__m256i)a, (__m256i)b);
}
/// AVX-VNNI `{vex} vpdpbusd ymm`: acc[i] += sum_{j<4} u8(a[i].byte j) * s8(b[i].byte j), no
/// saturation: `rtg_dpbusd` on 8 lanes, for CPUs with AVX-VNNI and no AVX-512.
static inline __attribute__((always_inline, target("avx2,avxvnni")))
rtg_i32x8 rtg_dpbusd8(rtg_i32x8 acc, rtg_i32x8 a, rtg_i32x8 b) {
    return (rtg_i32x8)_mm256_dpbusd_avx_epi32((__m256i)acc, (__m256i)a, (__m256i)b);
}
/// x ^ y in one vector instruction (vpxord zmm / vpxor ymm). Written as C, LLVM turns the XOR of
/// two broadcasts into a scalar XOR before the broadcast (mov, xor, then a GPR -> vector
/// broadcast): two more operations per input quad in the pointwise tiles that read in place.
static inline __attribute__((always_inline, target("avx512f")))
rtg_i32x16 rtg_xor16(rtg_i32x16 x, rtg_i32x16 y) {
    __asm__("vpxord %2, %1, %0" : "=v"(x) : "v"(x), "v"(y));
    return x;
}
static inline __attribute__((always_inline, target("avx2")))
rtg_i32x8 rtg_xor8(rtg_i32x8 x, rtg_i32x8 y) {
    __asm__("vpxor %2, %1, %0" : "=x"(x) : "x"(x), "x"(y));
    return x;
}
/// vfmadd231ps zmm: c + a * b (f32 lanes; vectors passed as their bits).
static inline __attribute__((always_inline, target("avx512f")))
rtg_i32x16 rtg_fmadd16(rtg_i32x16 c, rtg_i32x16 a, rtg_i32x16 b) {
    return (rtg_i32x16)_mm512_fmadd_ps((__m512)a, (__m512)b, (__m512)c);
}

/// vfmadd231ps ymm: c + a * b (f32 lanes; vectors passed as their bits).
static inline __attribute__((always_inline, target("avx2,fma")))
rtg_i32x8 rtg_fmadd8(rtg_i32x8 c, rtg_i32x8 a, rtg_i32x8 b) {
    return (rtg_i32x8)_mm256_fmadd_ps((__m256)a, (__m256)b, (__m256)c);
}
#endif

#endif
