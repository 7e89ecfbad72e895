// Elementwise activations and the residual add, over n contiguous f32 elements.
//
//   gelu (approximate 0, BERT "gelu"):      y = x·Φ(x),   Φ(x) = ½(1 + erf(x/√2)),  dy/dx = Φ(x) + x·φ(x), φ = Φ'
//   gelu (approximate 1, GPT-2 "gelu_new"): y = ½x(1 + tanh(u)), u = √(2/π)(x + 0.044715x³)
//                                            = x·σ(2u)   (1 + tanh(u) = 2σ(2u): no cancellation for x ≪ 0)
//                                      dy/dx = σ(2u) + x·σ(2u)·(1-σ(2u))·2u',  u' = √(2/π)(1 + 3·0.044715x²)
//   relu:   y = max(x, 0),               dy/dx = [x > 0]
//   silu:   y = x·σ(x),                  dy/dx = σ(x)·(1 + x·(1-σ(x)))
//   swiglu: y = silu(g)·up,              dg += dy·up·silu'(g),  dup += dy·silu(g)
//   add:    y = a + b (out may alias a or b)
// Backward functions accumulate into dinp/dgate/dup (cola_cpu.h).
//
// Accuracy: no libm calls in the loops, so they vectorise on every clone. exp is Cephes' expf (Cody-Waite reduction,
// degree-6 polynomial, relative error ≤ 2e-7, flushes to 0 below e^-87.3). σ(y) and 1-σ(y) are both formed from
// e = exp(-|y|) ∈ (0, 1] (never overflows), each without cancellation. Φ uses erfc(z) = t·exp(-z² + P(t)),
// t = 1/(1 + z/2) (Numerical Recipes' erfcc, relative error ≤ 1.1e-7 on all of z ≥ 0), so Φ keeps its relative
// accuracy in the negative tail where ½(1 + erf) would cancel: gelu/its derivative stay within ~1e-6 relative of the
// exact value for |x| ≤ 5 (the error grows like x²·3e-8 from rounding x²/2; values there are < 1e-6 anyway).
// NaN inputs give NaN outputs (relu's backward passes 0).
//
// Parallelism: OpenMP over 16-element (64-byte) aligned blocks, one contiguous range per thread; results do not
// depend on the thread count. Bandwidth: forward reads n and writes n floats, backward reads 3n (dout, inp, dinp)
// and writes n.
#include <omp.h>
#include <algorithm>
#include "common.h"

namespace {

// Helpers called from the dispatched workers must be always_inline: GCC will not inline a default-target function
// into an arch= clone (tune mismatch), and a call inside the loop stops vectorisation.
#define COLA_INLINE static inline __attribute__((always_inline))

// (The same holds for std::fabs and for cola::f32_bits/bits_f32: use builtins and local always_inline copies.)
COLA_INLINE uint32_t f32_bits(float f) { return __builtin_bit_cast(uint32_t, f); }
COLA_INLINE float bits_f32(uint32_t u) { return __builtin_bit_cast(float, u); }

constexpr int64_t kParallelMin = 1 << 14;  // below this one thread is faster than waking the team

// e^x: the shared Cephes polynomial (common.h).
COLA_INLINE float exp_f(float x) { return cola::exp_approx(x); }

// s = σ(y) and oms = 1 - σ(y), both to full relative precision, from e = exp(-|y|).
COLA_INLINE void sigmoid2(float y, float& s, float& oms) {
    const float e = exp_f(-__builtin_fabsf(y));
    const float r = 1.0f / (1.0f + e);
    const float er = e * r;
    const bool pos = y >= 0.0f;
    s = pos ? r : er;
    oms = pos ? er : r;
}

// Φ(x) and φ(x) = e^{-x²/2}/√(2π) for the exact GELU.
COLA_INLINE void normal_cdf_pdf(float x, float& cdf, float& pdf) {
    const float z = __builtin_fabsf(x) * 0.70710678118654752f;
    const float t = 1.0f / (1.0f + 0.5f * z);
    float p = 0.17087277f;
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t - 1.26551223f;                  // P(t) ∈ [-1.15, 0]
    const float g = exp_f(-(0.5f * x) * x);  // e^{-x²/2} = e^{-z²}
    const float half_erfc = 0.5f * t * g * exp_f(p);
    cdf = x < 0.0f ? half_erfc : 1.0f - half_erfc;
    pdf = g * 0.39894228040143268f;
}

constexpr float kSqrt2OverPi = 0.79788456080286536f;
constexpr float kGeluC = 0.044715f;

// tanh-GELU evaluates through the clamp: beyond |x| = 20, exp(-|2u|) is 0 in f32, so σ(2u) is exactly 0 or 1 and
// clamping changes nothing but keeps x³ and u' finite.
COLA_INLINE float clamp20(float x) {
    x = x < -20.0f ? -20.0f : x;
    return x > 20.0f ? 20.0f : x;  // NaN passes through
}

COLA_DISPATCH void gelu_fwd_chunk(float* out, const float* inp, int64_t n, int approximate) {
    if (approximate) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            const float x = inp[i], xc = clamp20(x);
            float s, oms;
            sigmoid2(2.0f * kSqrt2OverPi * (xc + kGeluC * xc * xc * xc), s, oms);
            out[i] = x * s;
        }
    } else {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            const float x = inp[i];
            float cdf, pdf;
            normal_cdf_pdf(x, cdf, pdf);
            out[i] = x * cdf;
        }
    }
}

COLA_DISPATCH void gelu_bwd_chunk(float* dinp, const float* dout, const float* inp, int64_t n, int approximate) {
    if (approximate) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            const float x = clamp20(inp[i]);
            const float x2 = x * x;
            float s, oms;
            sigmoid2(2.0f * kSqrt2OverPi * (x + kGeluC * x2 * x), s, oms);
            const float du2 = 2.0f * kSqrt2OverPi * (1.0f + 3.0f * kGeluC * x2);  // d(2u)/dx
            dinp[i] += dout[i] * (s + x * s * oms * du2);
        }
    } else {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            const float x = inp[i];
            float cdf, pdf;
            normal_cdf_pdf(x, cdf, pdf);
            dinp[i] += dout[i] * (cdf + x * pdf);
        }
    }
}

COLA_DISPATCH void relu_fwd_chunk(float* out, const float* inp, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        const float x = inp[i];
        out[i] = x < 0.0f ? 0.0f : x;  // NaN passes through
    }
}

COLA_DISPATCH void relu_bwd_chunk(float* dinp, const float* dout, const float* inp, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) dinp[i] += inp[i] > 0.0f ? dout[i] : 0.0f;
}

COLA_DISPATCH void silu_fwd_chunk(float* out, const float* inp, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        const float x = inp[i];
        float s, oms;
        sigmoid2(x, s, oms);
        out[i] = x * s;
    }
}

COLA_DISPATCH void silu_bwd_chunk(float* dinp, const float* dout, const float* inp, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        const float x = inp[i];
        float s, oms;
        sigmoid2(x, s, oms);
        dinp[i] += dout[i] * s * (1.0f + x * oms);
    }
}

COLA_DISPATCH void swiglu_fwd_chunk(float* out, const float* gate, const float* up, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        const float g = gate[i];
        float s, oms;
        sigmoid2(g, s, oms);
        out[i] = g * s * up[i];
    }
}

COLA_DISPATCH void swiglu_bwd_chunk(float* dgate, float* dup, const float* dout, const float* gate, const float* up,
                                    int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        const float g = gate[i], dy = dout[i];
        float s, oms;
        sigmoid2(g, s, oms);
        const float silu = g * s;
        dgate[i] += dy * up[i] * s * (1.0f + g * oms);
        dup[i] += dy * silu;
    }
}

COLA_DISPATCH void add_chunk(float* out, const float* a, const float* b, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

// Runs f(i0, i1) on one contiguous, 16-element-aligned range per thread (no false sharing between threads' outputs).
template <class F>
int parallel_ranges(int64_t n, F f) {
    if (n < 0) return COLA_ERR_ARG;
    if (n == 0) return COLA_OK;
#pragma omp parallel if (n >= kParallelMin)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        const int64_t blocks = (n + 15) / 16;
        const int64_t i0 = blocks * t / nt * 16, i1 = std::min(n, blocks * (t + 1) / nt * 16);
        if (i1 > i0) f(i0, i1);
    }
    return COLA_OK;
}

}  // namespace

extern "C" {

int cola_gelu_forward(float* out, const float* inp, int64_t n, int approximate) {
    if (approximate != 0 && approximate != 1) return COLA_ERR_ARG;
    return parallel_ranges(n, [&](int64_t i0, int64_t i1) { gelu_fwd_chunk(out + i0, inp + i0, i1 - i0, approximate); });
}

int cola_gelu_backward(float* dinp, const float* dout, const float* inp, int64_t n, int approximate) {
    if (approximate != 0 && approximate != 1) return COLA_ERR_ARG;
    return parallel_ranges(n, [&](int64_t i0, int64_t i1) {
        gelu_bwd_chunk(dinp + i0, dout + i0, inp + i0, i1 - i0, approximate);
    });
}

int cola_relu_forward(float* out, const float* inp, int64_t n) {
    return parallel_ranges(n, [&](int64_t i0, int64_t i1) { relu_fwd_chunk(out + i0, inp + i0, i1 - i0); });
}

int cola_relu_backward(float* dinp, const float* dout, const float* inp, int64_t n) {
    return parallel_ranges(n, [&](int64_t i0, int64_t i1) { relu_bwd_chunk(dinp + i0, dout + i0, inp + i0, i1 - i0); });
}

int cola_silu_forward(float* out, const float* inp, int64_t n) {
    return parallel_ranges(n, [&](int64_t i0, int64_t i1) { silu_fwd_chunk(out + i0, inp + i0, i1 - i0); });
}

int cola_silu_backward(float* dinp, const float* dout, const float* inp, int64_t n) {
    return parallel_ranges(n, [&](int64_t i0, int64_t i1) { silu_bwd_chunk(dinp + i0, dout + i0, inp + i0, i1 - i0); });
}

int cola_swiglu_forward(float* out, const float* gate, const float* up, int64_t n) {
    return parallel_ranges(n, [&](int64_t i0, int64_t i1) { swiglu_fwd_chunk(out + i0, gate + i0, up + i0, i1 - i0); });
}

int cola_swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up, int64_t n) {
    return parallel_ranges(n, [&](int64_t i0, int64_t i1) {
        swiglu_bwd_chunk(dgate + i0, dup + i0, dout + i0, gate + i0, up + i0, i1 - i0);
    });
}

int cola_add_forward(float* out, const float* a, const float* b, int64_t n) {
    return parallel_ranges(n, [&](int64_t i0, int64_t i1) { add_chunk(out + i0, a + i0, b + i0, i1 - i0); });
}

}  // extern "C"
