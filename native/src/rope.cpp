// Rotary position embedding, Hugging Face Llama "rotate_half" layout.
//
// Shapes: inp/out/dout/dinp[N,H,D] (N = B·T rows, H heads, D even head dim), pos[N] (int32 positions).
// For a head vector x[D], half = D/2, i < half:
//   inv_freq[i] = theta^(-2i/D),  angle = pos·inv_freq[i],  c = cos(angle), s = sin(angle)
//   out[i]      = x[i]·c - x[i+half]·s
//   out[i+half] = x[i+half]·c + x[i]·s
// i.e. each pair (x[i], x[i+half]) is rotated by R = [[c, -s], [s, c]]. Forward may run in place (out == inp).
// Backward: R is orthogonal, so the adjoint is the inverse rotation Rᵀ = [[c, s], [-s, c]]:
//   dinp[i]      += dout[i]·c + dout[i+half]·s
//   dinp[i+half] += dout[i+half]·c - dout[i]·s
//
// Angle accuracy: the angles are formed in double (inv_freq = pow(theta, -2i/D) in double, pos·inv_freq in double),
// reduced modulo π/2 with a three-part Cody-Waite constant (exact for |angle| < 2^20·π/2), and sin/cos are
// evaluated by double polynomials on [-π/4, π/4], then rounded to float: c and s are the correctly rounded values
// to within ~1 ulp at any position (4096, 32768, ... with theta 10000 or 500000). (HF forms the angle in float32,
// whose error at position 4096 is already ~2.4e-4 rad; cola is more accurate, not bitwise equal.)
// The sin/cos of a row are computed once (vectorised, no libm) and reused for its H heads.
// OpenMP over rows; every output element has one owner, so the result does not depend on the thread count.
#include <omp.h>
#include <vector>
#include "common.h"

// GCC 12 does not vectorise, in the AVX clones of a target_clones worker, loops whose body comes from a plain inline
// helper ("no vectype" for the helper's loads); flatten inlines the helpers first and fixes it.
#ifndef COLA_WORKER
#define COLA_WORKER COLA_DISPATCH __attribute__((flatten))
#endif

namespace {

constexpr int64_t kChunk = 256;  // pair indices whose sin/cos live on the stack at a time

// cos/sin of a[i] for i < n (double in, float out); vectorisable: branch-free, bit tricks instead of libm.
static inline void sincos_row(float* __restrict cs, float* __restrict sn, const double* __restrict inv_freq,
                              double p, int64_t n) {
    const double two_over_pi = 0.636619772367581343076;
    const double pio2_1 = 1.57079632673412561417e+00;   // first 33 bits of π/2
    const double pio2_2 = 6.07710050630396597660e-11;   // next 33 bits
    const double pio2_2t = 2.02226624879595063154e-21;  // π/2 - pio2_1 - pio2_2
    const double magic = 6755399441055744.0;            // 1.5·2^52: adding it rounds to an integer
    for (int64_t i = 0; i < n; i++) {
        double a = p * inv_freq[i];
        double t = a * two_over_pi + magic;
        double q = t - magic;
        uint64_t tb;
        std::memcpy(&tb, &t, 8);
        uint64_t k = tb & 3;  // q mod 4 (the integer sits in t's low mantissa bits)
        double r = ((a - q * pio2_1) - q * pio2_2) - q * pio2_2t;
        double r2 = r * r;
        double sr = r * (1.0 + r2 * (-1.0 / 6 + r2 * (1.0 / 120 + r2 * (-1.0 / 5040 + r2 * (1.0 / 362880 +
                                                                                               r2 * (-1.0 / 39916800))))));
        double cr = 1.0 + r2 * (-0.5 + r2 * (1.0 / 24 + r2 * (-1.0 / 720 + r2 * (1.0 / 40320 + r2 * (-1.0 / 3628800 +
                                                                                                     r2 / 479001600.0)))));
        // quadrant k: angle = r + k·π/2
        double s = (k & 1) ? cr : sr;
        double c = (k & 1) ? sr : cr;
        s = (k & 2) ? -s : s;
        c = ((k + 1) & 2) ? -c : c;
        cs[i] = (float)c;
        sn[i] = (float)s;
    }
}

// Forward rotation of one half-pair block. o1 may equal x1 and o2 x2 (in place): each index is read before it is
// written and no other index is touched, so `ivdep` is exact.
static inline void rotate(float* o1, float* o2, const float* x1, const float* x2, const float* cs, const float* sn,
                          int64_t n) {
#pragma GCC ivdep
    for (int64_t i = 0; i < n; i++) {
        float a = x1[i], b = x2[i];
        o1[i] = a * cs[i] - b * sn[i];
        o2[i] = b * cs[i] + a * sn[i];
    }
}

static inline void rotate_back_acc(float* __restrict d1, float* __restrict d2, const float* __restrict g1,
                                   const float* __restrict g2, const float* cs, const float* sn, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float a = g1[i], b = g2[i];
        d1[i] += a * cs[i] + b * sn[i];
        d2[i] += b * cs[i] - a * sn[i];
    }
}

COLA_WORKER void rope_rows(float* out, const float* inp, const int32_t* pos, const double* inv_freq, float scale,
                             int64_t n0, int64_t n1, int64_t H, int64_t D, bool backward) {
    const int64_t half = D / 2;
    alignas(64) float cs[kChunk], sn[kChunk];
    for (int64_t n = n0; n < n1; n++) {
        for (int64_t i0 = 0; i0 < half; i0 += kChunk) {
            int64_t len = half - i0 < kChunk ? half - i0 : kChunk;
            sincos_row(cs, sn, inv_freq + i0, (double)pos[n], len);
            if (scale != 1.0f) {  // YaRN's attention factor: HF scales cos and sin
                for (int64_t i = 0; i < len; i++) {
                    cs[i] *= scale;
                    sn[i] *= scale;
                }
            }
            for (int64_t h = 0; h < H; h++) {
                int64_t base = (n * H + h) * D + i0;
                if (backward) {
                    rotate_back_acc(out + base, out + base + half, inp + base, inp + base + half, cs, sn, len);
                } else {
                    rotate(out + base, out + base + half, inp + base, inp + base + half, cs, sn, len);
                }
            }
        }
    }
}

// The driver for a table of D/2 inverse frequencies (double) and an output scale.
static int rope_table(float* out, const float* inp, const int32_t* pos, int64_t N, int64_t H, int64_t D,
                      const double* f, float scale, bool backward) {
#pragma omp parallel
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        rope_rows(out, inp, pos, f, scale, N * t / nt, N * (t + 1) / nt, H, D, backward);
    }
    return COLA_OK;
}

static int rope(float* out, const float* inp, const int32_t* pos, int64_t N, int64_t H, int64_t D, float theta,
                bool backward) {
    if (N < 0 || H < 0 || D < 0 || (D & 1) || !(theta > 0)) return COLA_ERR_ARG;
    const int64_t half = D / 2;
    std::vector<double> inv_freq;
    try {
        inv_freq.resize((size_t)half);
    } catch (const std::bad_alloc&) {
        return COLA_ERR_ALLOC;
    }
    for (int64_t i = 0; i < half; i++) inv_freq[i] = std::pow((double)theta, -2.0 * (double)i / (double)D);
    return rope_table(out, inp, pos, N, H, D, inv_freq.data(), 1.0f, backward);
}

// A caller-given f32 table (scaled RoPE: Llama 3, linear, dynamic NTK, YaRN), widened to double for the angles.
static int rope_freqs(float* out, const float* inp, const int32_t* pos, int64_t N, int64_t H, int64_t D,
                      const float* inv_freq, float scale, bool backward) {
    if (N < 0 || H < 0 || D < 0 || (D & 1) || !inv_freq || !std::isfinite(scale)) return COLA_ERR_ARG;
    const int64_t half = D / 2;
    std::vector<double> f;
    try {
        f.resize((size_t)half);
    } catch (const std::bad_alloc&) {
        return COLA_ERR_ALLOC;
    }
    for (int64_t i = 0; i < half; i++) {
        if (!std::isfinite(inv_freq[i])) return COLA_ERR_NONFINITE;
        f[i] = (double)inv_freq[i];
    }
    return rope_table(out, inp, pos, N, H, D, f.data(), scale, backward);
}

}  // namespace

extern "C" {

int cola_rope_forward(float* out, const float* inp, const int32_t* pos, int64_t N, int64_t H, int64_t D, float theta) {
    return rope(out, inp, pos, N, H, D, theta, false);
}

int cola_rope_backward(float* dinp, const float* dout, const int32_t* pos, int64_t N, int64_t H, int64_t D,
                       float theta) {
    return rope(dinp, dout, pos, N, H, D, theta, true);
}

int cola_rope_forward_freqs(float* out, const float* inp, const int32_t* pos, int64_t N, int64_t H, int64_t D,
                            const float* inv_freq, float scale) {
    return rope_freqs(out, inp, pos, N, H, D, inv_freq, scale, false);
}

int cola_rope_backward_freqs(float* dinp, const float* dout, const int32_t* pos, int64_t N, int64_t H, int64_t D,
                             const float* inv_freq, float scale) {
    return rope_freqs(dinp, dout, pos, N, H, D, inv_freq, scale, true);
}

}  // extern "C"
