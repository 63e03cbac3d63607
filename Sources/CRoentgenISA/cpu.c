#include "roentgen_isa.h"

int rtg_cpu_features(void) {
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
    __builtin_cpu_init();
    int f = 0;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) f |= 1;
    if ((f & 1) && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")
        && __builtin_cpu_supports("avx512vnni")) f |= 2;
    if ((f & 1) && __builtin_cpu_supports("avxvnni")) f |= 4;
    return f;
#else
    return 0;
#endif
}

uint64_t rtg_dependent_adds(uint64_t n) {
    uint64_t x = 0;
    for (uint64_t i = 0; i < n; i++) {
#if defined(__x86_64__) || defined(__aarch64__)
        __asm__ volatile("" : "+r"(x));   // keeps the chain: one add per iteration, not folded
#endif
        x += 1;
    }
    return x;
}
