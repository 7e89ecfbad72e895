// Private helpers shared by the CPU kernels: ISA dispatch, the counter-based RNG, bf16/f16 bit conversions.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include "cola_cpu.h"

// Runtime ISA dispatch without -march: GCC emits one clone per target and an ifunc resolver that picks the best at
// load time. Put it on the per-row / per-block worker, NOT on a function that contains `#pragma omp parallel`
// (the outlined OpenMP body would not be cloned): the parallel loop calls the cloned worker.
// The clones are micro-architecture LEVELS, not CPU names: GCC resolves "arch=skylake-avx512" by CPU model, so a newer
// AVX-512 part (Sapphire Rapids here) silently ran the baseline SSE2 clone. x86-64-v4 = AVX-512 F/BW/CD/DQ/VL,
// x86-64-v3 = AVX2 + FMA; the resolver tests features, so every CPU gets the best level it supports.
// `flatten` inlines the small helpers below (RNG, bf16 rounding) into every clone: GCC 12 does not inline a plain
// inline function into a target-specific clone, which left those loops scalar.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define COLA_DISPATCH __attribute__((flatten, target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define COLA_DISPATCH
#endif

namespace cola {

// SplitMix64 finaliser: a strong 64-bit mix, used as a counter-based generator (value = mix(seed, index)), so a
// random stream is a pure function of (seed, index) — independent of threads, and regenerable in backward.
static inline uint64_t mix64(uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static inline uint64_t rng_bits(uint64_t seed, uint64_t index) { return mix64(seed ^ mix64(index)); }
// Uniform in [0, 1) with 24 random bits.
static inline float rng_uniform(uint64_t seed, uint64_t index) {
    return (float)(rng_bits(seed, index) >> 40) * (1.0f / 16777216.0f);
}
// Dropout keep decision shared by cola_dropout_* and the fused LoRA kernels: same (seed, index) → same mask.
static inline bool dropout_keep(uint64_t seed, uint64_t index, float p) { return rng_uniform(seed, index) >= p; }

static inline uint32_t f32_bits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
static inline float bits_f32(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }

static inline float bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }
// Round to nearest, ties to even; NaN stays a quiet NaN.
static inline uint16_t f32_to_bf16_rne(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}
// Stochastic rounding: add 16 random bits below the kept mantissa, then truncate. E[result] = f.
static inline uint16_t f32_to_bf16_stochastic(float f, uint32_t rand16) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) >= 0x7f800000u) return f32_to_bf16_rne(f);  // inf/NaN unchanged
    u += (rand16 & 0xffffu);
    return (uint16_t)(u >> 16);
}

// e^x without libm, vectorisable (Cephes expf): x = n·ln2 + r with |r| ≤ ln2/2 (ln2 split in two for an exact
// reduction), e^r by a degree-6 polynomial (≈1 ulp), 2^n assembled in the exponent field; rounding to an integer by
// the 1.5·2^23 trick leaves n in t's low mantissa bits, so no float→int conversion is needed. Returns exactly 0 below
// -87.3 (the result would be subnormal: denormals slow every later op), saturates at e^88, NaN → NaN.
// Shared by the softmaxes (attention, xent) and the activations (sigmoid, GELU).
static inline __attribute__((always_inline)) float exp_approx(float x) {
    const bool under = x < -87.3f;
    x = x < -87.3f ? -87.3f : x;  // NaN passes through both clamps
    x = x > 88.0f ? 88.0f : x;
    const float t = x * 1.44269504088896341f + 12582912.0f;
    const float n = t - 12582912.0f;
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    uint32_t tb;
    std::memcpy(&tb, &t, 4);
    const uint32_t e = (tb - 0x4B400000u + 127u) << 23;
    float pow2;
    std::memcpy(&pow2, &e, 4);
    return under ? 0.0f : p * pow2;
}

static inline bool all_finite(const float* x, int64_t n) {
    // Sum of x·0 is NaN iff some x is NaN or inf; cheap and vectorisable.
    float acc = 0.0f;
    for (int64_t i = 0; i < n; i++) acc += x[i] * 0.0f;
    return acc == 0.0f;
}

}  // namespace cola
