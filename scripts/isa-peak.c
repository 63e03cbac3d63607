// Throughput of the instructions the int8 and f32 kernels are built from, on one core: each loop
// keeps 12 independent accumulator chains (so latency does not bound it), and a dependent-add
// chain before and after reads the core's clock. docs/SPEED.md "Stop 23" has the results.
//
//   clang -O2 -mavx2 -mfma scripts/isa-peak.c -o /tmp/isa-peak && /tmp/isa-peak
// With -mavxvnni it also times AVX-VNNI (ymm), with -mavx512f -mavx512vnni AVX-512 VNNI (zmm): run
// those builds only on CPUs that have the instructions.
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

#define N 20000000L
// OP(acc) is one step of chain `acc`; `b` (s16 lanes) and `h` (f32 0.5) are loop-invariant
// operands the asm keeps opaque.
#define PEAK(name, OP) do { \
    __m256i acc[12]; for (int i = 0; i < 12; i++) acc[i] = _mm256_set1_epi32(i + 1); \
    __m256i b = _mm256_set1_epi16(3); __m256 h = _mm256_set1_ps(0.5f); \
    double t0 = now(); \
    for (long it = 0; it < N; it++) { for (int i = 0; i < 12; i++) acc[i] = OP(acc[i]); __asm__ volatile("" : "+x"(b), "+x"(h)); } \
    double t = now() - t0; \
    __m256i s = acc[0]; for (int i = 1; i < 12; i++) s = _mm256_xor_si256(s, acc[i]); \
    printf("%-34s %6.2f G/s  (%d)\n", name, 12.0 * N / t / 1e9, _mm256_extract_epi32(s, 0)); \
} while (0)

// The latency of OP: one dependent chain, in cycles at the clock measured just before.
#define LATENCY(name, OP, ghz) do { \
    __m256i a = _mm256_set1_epi32(1), b = _mm256_set1_epi16(3); \
    double t0 = now(); \
    for (long it = 0; it < N; it++) { a = OP(a); __asm__ volatile("" : "+x"(b)); } \
    double t = now() - t0; \
    printf("%-34s %6.2f cycles  (%d)\n", name, t * ghz * 1e9 / N, _mm256_extract_epi32(a, 0)); \
} while (0)

static double clock_ghz(void) {
    long x = 0; double t0 = now();
    for (long i = 0; i < 10 * N; i++) __asm__ volatile("add $1, %0" : "+r"(x));
    return 10.0 * N / (now() - t0) / 1e9;
}

#define MADD_ADD(a) _mm256_add_epi32(a, _mm256_madd_epi16(a, b))          // exact s16 dot product step
#define MADD(a) _mm256_madd_epi16(a, b)
#define MADDUBS_ADD(a) _mm256_add_epi16(a, _mm256_maddubs_epi16(a, b))    // u8 x s8, saturating
#ifdef __AVXVNNI__
#define DPWSSD(a) _mm256_dpwssd_avx_epi32(a, a, b)                        // exact s16 pairs, fused add
#define DPBUSD(a) _mm256_dpbusd_avx_epi32(a, a, b)                        // exact u8 x s8 quads
#endif
#ifdef __AVX512VNNI__
#define PEAK512(name, OP) do { \
    __m512i acc[12]; for (int i = 0; i < 12; i++) acc[i] = _mm512_set1_epi32(i + 1); \
    __m512i b = _mm512_set1_epi16(3); \
    double t0 = now(); \
    for (long it = 0; it < N; it++) { for (int i = 0; i < 12; i++) acc[i] = OP(acc[i]); __asm__ volatile("" : "+v"(b)); } \
    double t = now() - t0; \
    __m512i s = acc[0]; for (int i = 1; i < 12; i++) s = _mm512_xor_si512(s, acc[i]); \
    printf("%-34s %6.2f G/s  (%d)\n", name, 12.0 * N / t / 1e9, _mm_extract_epi32(_mm512_castsi512_si128(s), 0)); \
} while (0)
#define DPBUSD512(a) _mm512_dpbusd_epi32(a, a, b)
#define DPWSSD512(a) _mm512_dpwssd_epi32(a, a, b)
#endif
#define FMA(a) _mm256_castps_si256(_mm256_fmadd_ps(_mm256_castsi256_ps(a), h, h))      // a * 0.5 + 0.5: stays normal

int main(void) {
    printf("clock (dependent adds): %.2f GHz\n", clock_ghz());
    PEAK("vpmaddwd + vpaddd (pairs)", MADD_ADD);
    PEAK("vpmaddwd", MADD);
    PEAK("vpmaddubsw + vpaddw (pairs)", MADDUBS_ADD);
    PEAK("vfmadd231ps ymm", FMA);
#ifdef __AVXVNNI__
    PEAK("{vex} vpdpwssd ymm (pairs)", DPWSSD);
    PEAK("{vex} vpdpbusd ymm (quads)", DPBUSD);
    double ghz = clock_ghz();
    LATENCY("latency: {vex} vpdpwssd ymm", DPWSSD, ghz);   // on a tile's accumulator chain; vpmaddwd + vpaddd puts only the add (1 cycle) there
#endif
#ifdef __AVX512VNNI__
    PEAK512("vpdpwssd zmm (pairs)", DPWSSD512);
    PEAK512("vpdpbusd zmm (quads)", DPBUSD512);
#endif
    printf("clock (dependent adds): %.2f GHz\n", clock_ghz());
    return 0;
}
