// Bulk conversions between f32 and the 16-bit float formats (bf16: 1-8-7, f16: 1-5-10), all round-to-nearest-even.
// Bit-exact with the Java scalar conversions in cola.tensor.Half (tested on every 16-bit pattern and on millions of
// f32 patterns, ties and boundaries included).
//
// f32 → bf16: cola::f32_to_bf16_rne (add 0x7fff + lsb, truncate; NaN → quiet NaN with its sign and top payload).
// bf16 → f32: a 16-bit shift (exact).
// f32 → f16 (branch-free, after F. Giesen's float_to_half_fast3_rtne):
//   |x| ≥ 65520 (the midpoint above 65504)   → ±inf;   NaN → ±0x7e00 (quiet NaN)
//   |x| < 2^-14 (f16 subnormal or zero)       → m = rne(|x|·2^24), obtained exactly by the FPU's own RNE addition
//                                                |x| + 0.5 (whose ulp is 2^-24) and an integer subtraction
//   otherwise                                  → rebias the exponent, add 0xfff + mantissa lsb, shift by 13 (a carry
//                                                into the exponent is the correct rounding up to the next binade)
// f16 → f32: shift into place and rebias; inf/NaN get the f32 max exponent; subnormals are renormalised exactly by
//   one float subtraction (magic 2^-14).
// Inputs and outputs are plain arrays; every element is independent: OpenMP over contiguous ranges, and the loops are
// branch-free selects that the compiler vectorises in every COLA_DISPATCH clone.
#include <omp.h>
#include "common.h"

// GCC 12 does not vectorise, in the AVX clones of a target_clones worker, loops whose body comes from a plain inline
// helper ("no vectype" for the helper's loads); flatten inlines the helpers first and fixes it.
#ifndef COLA_WORKER
#define COLA_WORKER COLA_DISPATCH __attribute__((flatten))
#endif

namespace {

static inline uint16_t f32_to_f16_bits(float f) {
    uint32_t u = cola::f32_bits(f);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t a = u & 0x7fffffffu;
    // normal range: exponent rebias (127 → 15) and RNE on the 13 dropped bits
    uint32_t normal = (a + ((uint32_t)(15 - 127) << 23) + 0xfffu + ((a >> 13) & 1u)) >> 13;
    // subnormal range: |x| + 0.5f rounds |x| to a multiple of 2^-24 (RNE), the low bits are the f16 mantissa
    const float half_f = 0.5f;
    uint32_t sub = cola::f32_bits(cola::bits_f32(a) + half_f) - cola::f32_bits(half_f);
    uint32_t h = a < 0x38800000u ? sub : normal;
    h = a >= 0x477ff000u ? 0x7c00u : h;
    h = a > 0x7f800000u ? 0x7e00u : h;
    return (uint16_t)(sign | h);
}

static inline float f16_bits_to_f32(uint16_t hb) {
    uint32_t h = hb;
    uint32_t o = (h & 0x7fffu) << 13;  // exponent/mantissa bits in f32 position
    uint32_t e = o & 0x0f800000u;      // the f16 exponent field, shifted
    uint32_t normal = o + ((uint32_t)(127 - 15) << 23);
    uint32_t infnan = normal + ((uint32_t)(128 - 16) << 23);
    // subnormal/zero: 2^-14·(1 + m/1024) - 2^-14 = m·2^-24, exact
    uint32_t sub = cola::f32_bits(cola::bits_f32(o + (113u << 23)) - cola::bits_f32(113u << 23));
    uint32_t r = e == 0x0f800000u ? infnan : (e == 0 ? sub : normal);
    return cola::bits_f32(r | ((h & 0x8000u) << 16));
}

COLA_WORKER void f32_to_bf16_range(uint16_t* __restrict out, const float* __restrict inp, int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) out[i] = cola::f32_to_bf16_rne(inp[i]);
}

COLA_WORKER void bf16_to_f32_range(float* __restrict out, const uint16_t* __restrict inp, int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) out[i] = cola::bf16_to_f32(inp[i]);
}

COLA_WORKER void f32_to_f16_range(uint16_t* __restrict out, const float* __restrict inp, int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) out[i] = f32_to_f16_bits(inp[i]);
}

COLA_WORKER void f16_to_f32_range(float* __restrict out, const uint16_t* __restrict inp, int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) out[i] = f16_bits_to_f32(inp[i]);
}

}  // namespace

// One parallel split for the four conversions: each thread converts a contiguous range.
#define COLA_CONVERT(worker)                                     \
    do {                                                         \
        if (n < 0) return COLA_ERR_ARG;                          \
        _Pragma("omp parallel") {                                \
            int t = omp_get_thread_num(), nt = omp_get_num_threads(); \
            worker(out, inp, n * t / nt, n * (t + 1) / nt);      \
        }                                                        \
        return COLA_OK;                                          \
    } while (0)

extern "C" {

int cola_f32_to_bf16(uint16_t* out, const float* inp, int64_t n) { COLA_CONVERT(f32_to_bf16_range); }
int cola_bf16_to_f32(float* out, const uint16_t* inp, int64_t n) { COLA_CONVERT(bf16_to_f32_range); }
int cola_f32_to_f16(uint16_t* out, const float* inp, int64_t n) { COLA_CONVERT(f32_to_f16_range); }
int cola_f16_to_f32(float* out, const uint16_t* inp, int64_t n) { COLA_CONVERT(f16_to_f32_range); }

}  // extern "C"
