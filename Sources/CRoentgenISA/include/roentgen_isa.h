// Single-instruction shims for the int8 kernels (in the spirit of swift-numerics' _NumericsShims).
// Each function exposes ONE instruction Swift cannot name, plus the CPU-feature query used to pick
// the kernel variant at load. Loops, tiling, packing and epilogues are Swift (RoentgenKernels*).
#ifndef ROENTGEN_ISA_H
#define ROENTGEN_ISA_H
#include <stdint.h>

typedef int32_t rtg_i32x16 __attribute__((ext_vector_type(16)));
typedef int32_t rtg_i32x8 __attribute__((ext_vector_type(8)));
typedef int8_t rtg_i8x16 __attribute__((ext_vector_type(16)));

/// What an int8 convolution kernel of RoentgenKernelsVNNI / RoentgenKernelsAVX2 reads and writes
/// (filled by RoentgenKernels at load; plain data so that every Swift module sees one type).
typedef struct {
    const void *padded;       // zero-bordered input copy (u8 x+128, or s16 x-z), see SPEC "Kernel layouts"
    const void *weights;      // packed weights, 64-byte aligned
    const int32_t *bias;      // [ocVectors * lanes], zero-point correction folded in
    const int32_t *mPos, *sPos, *mNeg, *sNeg;   // requant columns, [ocVectors * lanes]
    const int32_t *tPos, *tNeg, *rPos, *rNeg;   // when fastRequant: t = shift - 32, r = 2^(t-1)
    int64_t fastRequant;      // 1 when every shift is >= 33 (the 32-bit epilogue is then exact)
    int8_t *output;           // [pixels][oc] int8 (requantized), or NULL when raw is set
    int32_t *raw;             // [pixels][ocVectors * lanes] int32 accumulators, or NULL
    int64_t outWidth, oc, ocVectors, kernelHeight, groups;
    int64_t rowBytes;         // bytes of one padded input row
    int64_t pixelStepBytes;   // stride_w * IC * element size
    int64_t rowStepBytes;     // stride_h * rowBytes
    int64_t vectorBytes;      // packed weight bytes of one output-channel vector
    int64_t outputZeroPoint;
    float *outputF32;         // f32 convolution: [pixels][oc]; weights, bias and input are f32
    float alpha;              // f32 convolution: leaky ReLU slope when leaky != 0
    int32_t leaky;
} rtg_conv_args;

/// Bit 0: AVX2 + FMA usable (CPU and OS). Bit 1: AVX-512 F/BW/DQ/VL + VNNI usable. 0 off x86-64.
int rtg_cpu_features(void);

/// One spin-wait hint (x86 `pause`, aarch64 `yield`) for the worker pool's spin loop.
static inline __attribute__((always_inline)) void rtg_pause(void) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#if defined(__x86_64__)
#include <immintrin.h>

/// vpdpbusd zmm: acc[i] += sum_{j<4} u8(a[i].byte j) * s8(b[i].byte j), no saturation.
static inline __attribute__((always_inline, target("avx512f,avx512vnni")))
rtg_i32x16 rtg_dpbusd(rtg_i32x16 acc, rtg_i32x16 a, rtg_i32x16 b) {
    return (rtg_i32x16)_mm512_dpbusd_epi32((__m512i)acc, (__m512i)a, (__m512i)b);
}

/// vpmovsdb zmm -> xmm: 16 int32 to int8 with signed saturation (= clamp to [-128, 127]).
static inline __attribute__((always_inline, target("avx512f")))
rtg_i8x16 rtg_narrow_sat(rtg_i32x16 a) {
    return (rtg_i8x16)_mm512_cvtsepi32_epi8((__m512i)a);
}

/// vpmaddwd ymm: r[i] = s16(a[i].lo) * s16(b[i].lo) + s16(a[i].hi) * s16(b[i].hi) (exact here:
/// |x - z| <= 255, |w| <= 128, so each pair sum is < 2^17).
static inline __attribute__((always_inline, target("avx2")))
rtg_i32x8 rtg_madd16(rtg_i32x8 a, rtg_i32x8 b) {
    return (rtg_i32x8)_mm256_madd_epi16((__m256i)a, (__m256i)b);
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
