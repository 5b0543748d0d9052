/*
 * Elementwise inner loops that are limited by the CPU's vector width, built
 * for three x86-64 instruction sets and picked once, at import, by what the
 * CPU supports.
 *
 * Why: the package is compiled for the x86-64 baseline (SSE2) so that one
 * build runs on any x86-64 machine. Adam's update needs a square root and a
 * division per weight; with 4-wide SSE2 they took ~1 ns per weight, about a
 * tenth of the tutorial network's epoch. AVX2 (8 floats) and AVX-512 (16)
 * divide that.
 *
 * Same bits on every path: each loop is written once (a macro) and every
 * element goes through the same IEEE operations in the same order, each of
 * which is correctly rounded whatever the vector width (the build passes
 * -ffp-contract=off, so no path fuses a multiply and an add). The one
 * reduction, the sum of squares, keeps 8 partial sums in a fixed pattern
 * (element i goes to partial i % 8), added in a fixed order, so vectorising
 * it does not reorder it. tests/test_kernels.py checks every path the
 * machine has against the baseline, bit for bit.
 *
 * Other compilers and CPUs get the baseline loop only.
 */
#ifndef FASTMLP_SIMD_H
#define FASTMLP_SIMD_H

#include <float.h>
#include <math.h>
#include <stddef.h>

#if defined(_MSC_VER)
#define FASTMLP_RESTRICT __restrict
#else
#define FASTMLP_RESTRICT restrict
#endif

#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#define FASTMLP_X86_DISPATCH 1
#define FASTMLP_TARGET_AVX2 __attribute__((target("avx2")))
#define FASTMLP_TARGET_AVX512 \
    __attribute__((target("avx512f,avx512vl,prefer-vector-width=512")))
#else
#define FASTMLP_X86_DISPATCH 0
#endif

enum { FASTMLP_SIMD_BASELINE = 0, FASTMLP_SIMD_AVX2 = 1, FASTMLP_SIMD_AVX512 = 2 };

/* Set once by fastmlp_simd_init (module import), read by every call. */
static int fastmlp_simd_active = FASTMLP_SIMD_BASELINE;
static int fastmlp_simd_best = FASTMLP_SIMD_BASELINE;

static void fastmlp_simd_init(void) {
#if FASTMLP_X86_DISPATCH
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl"))
        fastmlp_simd_best = FASTMLP_SIMD_AVX512;
    else if (__builtin_cpu_supports("avx2"))
        fastmlp_simd_best = FASTMLP_SIMD_AVX2;
#endif
    fastmlp_simd_active = fastmlp_simd_best;
}

/* For tests: run a lower level than the best one. Returns the level set. */
static int fastmlp_simd_select(int level) {
    if (level < FASTMLP_SIMD_BASELINE) level = FASTMLP_SIMD_BASELINE;
    if (level > fastmlp_simd_best) level = fastmlp_simd_best;
    fastmlp_simd_active = level;
    return level;
}

/* ---- Adam: see optimizers.pyx for the update and the FLT_MIN flush. ---- */
#define FASTMLP_ADAM_LOOP(T, SQRT, FABS, FLUSH)                              \
    for (ptrdiff_t i = 0; i < n; i++) {                                      \
        T g = grads[i];                                                      \
        T m = beta_1 * first[i] + (1 - beta_1) * g;                          \
        T v = beta_2 * second[i] + (1 - beta_2) * g * g;                     \
        if (FLUSH) {                                                         \
            m = m * (T)(FABS(m) >= FLT_MIN);                                 \
            v = v * (T)(v >= FLT_MIN);                                       \
        }                                                                    \
        first[i] = m;                                                        \
        second[i] = v;                                                       \
        params[i] = params[i] - step * m / (SQRT(v) + epsilon);              \
    }

#define FASTMLP_ADAM_ARGS(T)                                                  \
    T *FASTMLP_RESTRICT params, const T *FASTMLP_RESTRICT grads, T *FASTMLP_RESTRICT first,          \
    T *FASTMLP_RESTRICT second, ptrdiff_t n, T step, T beta_1, T beta_2, T epsilon

#define FASTMLP_DEFINE_ADAM(SUFFIX, ATTR)                                     \
    ATTR static void fastmlp_adam_f32_##SUFFIX(FASTMLP_ADAM_ARGS(float)) {   \
        FASTMLP_ADAM_LOOP(float, sqrtf, fabsf, 1)                            \
    }                                                                        \
    ATTR static void fastmlp_adam_f64_##SUFFIX(FASTMLP_ADAM_ARGS(double)) {  \
        FASTMLP_ADAM_LOOP(double, sqrt, fabs, 0)                             \
    }

/* ---- L2 term: grads += scale * params; returns sum of params^2. ---- */
#define FASTMLP_L2_LOOP(T)                                                   \
    double partial[8] = {0, 0, 0, 0, 0, 0, 0, 0};                            \
    ptrdiff_t i, j, n8 = n - n % 8;                                          \
    for (i = 0; i < n8; i += 8)                                              \
        for (j = 0; j < 8; j++) {                                            \
            double p = (double)params[i + j];                                \
            partial[j] += p * p;                                             \
        }                                                                    \
    for (i = n8; i < n; i++) {                                               \
        double p = (double)params[i];                                        \
        partial[i - n8] += p * p;                                            \
    }                                                                        \
    for (i = 0; i < n; i++)                                                  \
        grads[i] = grads[i] + scale * params[i];                             \
    return ((partial[0] + partial[1]) + (partial[2] + partial[3]))           \
        + ((partial[4] + partial[5]) + (partial[6] + partial[7]));

#define FASTMLP_L2_ARGS(T) const T *FASTMLP_RESTRICT params, T *FASTMLP_RESTRICT grads, ptrdiff_t n, T scale

#define FASTMLP_DEFINE_L2(SUFFIX, ATTR)                                       \
    ATTR static double fastmlp_l2_f32_##SUFFIX(FASTMLP_L2_ARGS(float)) {     \
        FASTMLP_L2_LOOP(float)                                               \
    }                                                                        \
    ATTR static double fastmlp_l2_f64_##SUFFIX(FASTMLP_L2_ARGS(double)) {    \
        FASTMLP_L2_LOOP(double)                                              \
    }

FASTMLP_DEFINE_ADAM(baseline, )
FASTMLP_DEFINE_L2(baseline, )
#if FASTMLP_X86_DISPATCH
FASTMLP_DEFINE_ADAM(avx2, FASTMLP_TARGET_AVX2)
FASTMLP_DEFINE_ADAM(avx512, FASTMLP_TARGET_AVX512)
FASTMLP_DEFINE_L2(avx2, FASTMLP_TARGET_AVX2)
FASTMLP_DEFINE_L2(avx512, FASTMLP_TARGET_AVX512)
#define FASTMLP_DISPATCH(RESULT, NAME, ...)                                  \
    switch (fastmlp_simd_active) {                                           \
    case FASTMLP_SIMD_AVX512: RESULT NAME##_avx512(__VA_ARGS__); break;      \
    case FASTMLP_SIMD_AVX2: RESULT NAME##_avx2(__VA_ARGS__); break;          \
    default: RESULT NAME##_baseline(__VA_ARGS__);                            \
    }
#else
#define FASTMLP_DISPATCH(RESULT, NAME, ...) RESULT NAME##_baseline(__VA_ARGS__);
#endif

static void fastmlp_adam_f32(FASTMLP_ADAM_ARGS(float)) {
    FASTMLP_DISPATCH(, fastmlp_adam_f32, params, grads, first, second, n, step, beta_1,
                     beta_2, epsilon)
}
static void fastmlp_adam_f64(FASTMLP_ADAM_ARGS(double)) {
    FASTMLP_DISPATCH(, fastmlp_adam_f64, params, grads, first, second, n, step, beta_1,
                     beta_2, epsilon)
}
static double fastmlp_l2_f32(FASTMLP_L2_ARGS(float)) {
    double sum_sq;
    FASTMLP_DISPATCH(sum_sq =, fastmlp_l2_f32, params, grads, n, scale)
    return sum_sq;
}
static double fastmlp_l2_f64(FASTMLP_L2_ARGS(double)) {
    double sum_sq;
    FASTMLP_DISPATCH(sum_sq =, fastmlp_l2_f64, params, grads, n, scale)
    return sum_sq;
}

#endif
