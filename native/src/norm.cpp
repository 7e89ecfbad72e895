// LayerNorm and RMSNorm over the last dimension C of row-major [N, C] tensors (PyTorch / Llama semantics).
//
// LayerNorm forward:   μ = (1/C)Σx,  σ² = (1/C)Σ(x-μ)² (biased),  r = 1/sqrt(σ² + ε),  x̂ = (x-μ)·r,
//                      out = x̂·w + b  (w, b each optional: NULL = 1 / 0);  saves mean[N] = μ, rstd[N] = r.
// LayerNorm backward:  with g = dout·w (dout when w is NULL), per row
//                      dinp    += r·(g - mean_c(g) - x̂·mean_c(g·x̂))
//                      dweight += Σ_rows dout·x̂,     dbias += Σ_rows dout
// RMSNorm forward:     r = 1/sqrt((1/C)Σx² + ε),  out = (x·r)·w;  saves rstd[N] = r.
// RMSNorm backward:    dinp    += r·dout·w - x·r³·(1/C)Σ_c(dout·w·x)
//                      dweight += Σ_rows dout·x·r
//
// Numerics: row statistics are two-pass over a row that sits in L1 (sum, then Σ(x-μ)²), accumulated in double, and
// rows are centred with μ split into f32 hi + lo parts, so neither a long row nor |mean| ≫ std costs precision.
// mean[N] holds the f32 hi part; backward recovers lo = (1/C)Σ(x - mean) from the row in its first pass. Bandwidth: forward reads inp once and writes out once; backward
// reads inp and dout once and read-modify-writes dinp once (the row's second pass hits L1).
//
// Parallelism: OpenMP over contiguous row ranges (one per thread), so dinp/out rows have one owner. dweight/dbias are
// reductions over rows: each thread accumulates its rows into a private double partial (a cache-line padded slice
// of a thread_local scratch array of the calling thread), then after a barrier every thread reduces a slice of the
// columns over the partials in thread order 0..nt-1. Results are deterministic for a given thread count and differ
// across thread counts in the last bits only (cola_cpu.h).
#include <omp.h>
#include <algorithm>
#include <new>
#include <vector>
#include "common.h"

namespace {

constexpr int64_t kParallelMin = 1 << 14;  // elements; below this one thread beats waking the team

inline int64_t padded(int64_t c) { return (c + 7) & ~int64_t(7); }  // doubles per partial row: 64-byte multiple

// Scratch for the per-thread parameter-gradient partials; owned by the calling thread, so concurrent calls from
// different Java threads never share it. Grown on demand, never in a hot loop.
double* partials(size_t n) {
    thread_local std::vector<double> buf;
    try {
        if (buf.size() < n) buf.resize(n);
    } catch (const std::bad_alloc&) {
        return nullptr;
    }
    return buf.data();
}

// ------------------------------------------------------------------ LayerNorm

COLA_DISPATCH void layernorm_fwd_rows(float* out, float* mean, float* rstd, const float* inp, const float* w,
                                      const float* b, int64_t r0, int64_t r1, int64_t C, float eps) {
    for (int64_t r = r0; r < r1; r++) {
        const float* x = inp + r * C;
        float* y = out + r * C;
        double s = 0.0;
#pragma omp simd reduction(+ : s)
        for (int64_t c = 0; c < C; c++) s += x[c];
        // μ = mh + ml exactly enough: x - mh is exact when x is near μ (Sterbenz), so centring as (x - mh) - ml keeps
        // the precision of rows whose |mean| ≫ std, where a float μ alone would be off by half an ulp of μ.
        const double md = s / (double)C;
        const float mh = (float)md, ml = (float)(md - (double)mh);
        double v = 0.0;
#pragma omp simd reduction(+ : v)
        for (int64_t c = 0; c < C; c++) {
            const double d = (double)((x[c] - mh) - ml);
            v += d * d;
        }
        const float rs = (float)(1.0 / std::sqrt(v / (double)C + (double)eps));
        mean[r] = mh;
        rstd[r] = rs;
        if (w && b) {
#pragma omp simd
            for (int64_t c = 0; c < C; c++) y[c] = ((x[c] - mh) - ml) * rs * w[c] + b[c];
        } else if (w) {
#pragma omp simd
            for (int64_t c = 0; c < C; c++) y[c] = ((x[c] - mh) - ml) * rs * w[c];
        } else if (b) {
#pragma omp simd
            for (int64_t c = 0; c < C; c++) y[c] = ((x[c] - mh) - ml) * rs + b[c];
        } else {
#pragma omp simd
            for (int64_t c = 0; c < C; c++) y[c] = ((x[c] - mh) - ml) * rs;
        }
    }
}

// One row of the backward. HW: weight present; DW/DB: accumulate the dweight/dbias partials pw/pb.
template <bool HW, bool DW, bool DB>
static inline __attribute__((always_inline)) void layernorm_bwd_row(float* dx, double* pw, double* pb,
                                                                     const float* g, const float* x, const float* w,
                                                                     float m, float rs, int64_t C) {
    // The saved mean is f32; its rounding residual ml = (1/C)Σ(x - m) is recovered in the same pass (see forward).
    double sg = 0.0, sgu = 0.0, su = 0.0;
#pragma omp simd reduction(+ : sg, sgu, su)
    for (int64_t c = 0; c < C; c++) {
        const float gw = HW ? g[c] * w[c] : g[c];
        const float u = x[c] - m;
        sg += gw;
        sgu += (double)(gw * u);
        su += u;
    }
    const double mld = su / (double)C;
    const float ml = (float)mld;
    // mean_c(g·x̂) = r·(Σ g·u - ml·Σ g)/C
    const float a = (float)(sg / (double)C), bb = (float)((double)rs * (sgu - mld * sg) / (double)C);
#pragma omp simd
    for (int64_t c = 0; c < C; c++) {
        const float xh = ((x[c] - m) - ml) * rs;
        const float gw = HW ? g[c] * w[c] : g[c];
        dx[c] += rs * (gw - a - xh * bb);
        if (DW) pw[c] += (double)(g[c] * xh);
        if (DB) pb[c] += (double)g[c];
    }
}

template <bool HW, bool DW, bool DB>
static inline __attribute__((always_inline)) void layernorm_bwd_range(float* dinp, double* pw, double* pb,
                                                                       const float* dout, const float* inp,
                                                                       const float* w, const float* mean,
                                                                       const float* rstd, int64_t r0, int64_t r1,
                                                                       int64_t C) {
    for (int64_t r = r0; r < r1; r++)
        layernorm_bwd_row<HW, DW, DB>(dinp + r * C, pw, pb, dout + r * C, inp + r * C, w, mean[r], rstd[r], C);
}

COLA_DISPATCH void layernorm_bwd_rows(float* dinp, double* pw, double* pb, const float* dout, const float* inp,
                                      const float* w, const float* mean, const float* rstd, int64_t r0, int64_t r1,
                                      int64_t C) {
    if (pw) std::fill(pw, pw + C, 0.0);
    if (pb) std::fill(pb, pb + C, 0.0);
    // dweight implies w (checked by the caller); the remaining combinations:
    if (w && pw && pb) layernorm_bwd_range<true, true, true>(dinp, pw, pb, dout, inp, w, mean, rstd, r0, r1, C);
    else if (w && pw) layernorm_bwd_range<true, true, false>(dinp, pw, pb, dout, inp, w, mean, rstd, r0, r1, C);
    else if (w && pb) layernorm_bwd_range<true, false, true>(dinp, pw, pb, dout, inp, w, mean, rstd, r0, r1, C);
    else if (w) layernorm_bwd_range<true, false, false>(dinp, pw, pb, dout, inp, w, mean, rstd, r0, r1, C);
    else if (pb) layernorm_bwd_range<false, false, true>(dinp, pw, pb, dout, inp, w, mean, rstd, r0, r1, C);
    else layernorm_bwd_range<false, false, false>(dinp, pw, pb, dout, inp, w, mean, rstd, r0, r1, C);
}

// ------------------------------------------------------------------ RMSNorm

COLA_DISPATCH void rmsnorm_fwd_rows(float* out, float* rstd, const float* inp, const float* w, int64_t r0,
                                    int64_t r1, int64_t C, float eps) {
    for (int64_t r = r0; r < r1; r++) {
        const float* x = inp + r * C;
        float* y = out + r * C;
        double ss = 0.0;
#pragma omp simd reduction(+ : ss)
        for (int64_t c = 0; c < C; c++) ss += (double)x[c] * (double)x[c];
        const float rs = (float)(1.0 / std::sqrt(ss / (double)C + (double)eps));
        rstd[r] = rs;
#pragma omp simd
        for (int64_t c = 0; c < C; c++) y[c] = (x[c] * rs) * w[c];
    }
}

template <bool DW>
static inline __attribute__((always_inline)) void rmsnorm_bwd_range(float* dinp, double* pw, const float* dout,
                                                                     const float* inp, const float* w,
                                                                     const float* rstd, int64_t r0, int64_t r1,
                                                                     int64_t C) {
    for (int64_t r = r0; r < r1; r++) {
        const float* x = inp + r * C;
        const float* g = dout + r * C;
        float* dx = dinp + r * C;
        const float rs = rstd[r];
        double sgx = 0.0;
#pragma omp simd reduction(+ : sgx)
        for (int64_t c = 0; c < C; c++) sgx += (double)(g[c] * w[c] * x[c]);
        const float k = (float)((double)rs * rs * rs * sgx / (double)C);
#pragma omp simd
        for (int64_t c = 0; c < C; c++) {
            dx[c] += rs * g[c] * w[c] - k * x[c];
            if (DW) pw[c] += (double)(g[c] * x[c] * rs);
        }
    }
}

COLA_DISPATCH void rmsnorm_bwd_rows(float* dinp, double* pw, const float* dout, const float* inp, const float* w,
                                    const float* rstd, int64_t r0, int64_t r1, int64_t C) {
    if (pw) {
        std::fill(pw, pw + C, 0.0);
        rmsnorm_bwd_range<true>(dinp, pw, dout, inp, w, rstd, r0, r1, C);
    } else {
        rmsnorm_bwd_range<false>(dinp, pw, dout, inp, w, rstd, r0, r1, C);
    }
}

// ------------------------------------------------------------------ partial reduction

// dst[c] += Σ_t part[t·stride + c] for c in [c0, c1), summed in thread order (deterministic).
COLA_DISPATCH void reduce_partials(float* dst, const double* part, int nt, int64_t stride, int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; c++) {
        double s = 0.0;
        for (int t = 0; t < nt; t++) s += part[t * stride + c];
        dst[c] += (float)s;
    }
}

inline void thread_range(int64_t n, int t, int nt, int64_t& i0, int64_t& i1) {
    i0 = n * t / nt;
    i1 = n * (t + 1) / nt;
}

}  // namespace

extern "C" {

int cola_layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                           const float* bias, int64_t N, int64_t C, float eps) {
    if (N < 0 || C < 0 || !(eps > 0.0f)) return COLA_ERR_ARG;
    if (C == 0) {  // an empty row: μ = 0, σ² = 0
        for (int64_t r = 0; r < N; r++) mean[r] = 0.0f, rstd[r] = 1.0f / std::sqrt(eps);
        return COLA_OK;
    }
#pragma omp parallel if (N * C >= kParallelMin)
    {
        int64_t r0, r1;
        thread_range(N, omp_get_thread_num(), omp_get_num_threads(), r0, r1);
        if (r1 > r0) layernorm_fwd_rows(out, mean, rstd, inp, weight, bias, r0, r1, C, eps);
    }
    return COLA_OK;
}

int cola_layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                            const float* weight, const float* mean, const float* rstd, int64_t N, int64_t C) {
    if (N < 0 || C < 0 || (dweight && !weight)) return COLA_ERR_ARG;
    if (N == 0 || C == 0) return COLA_OK;
    const int64_t stride = 2 * padded(C);  // per thread: [dweight partial | dbias partial]
    double* scratch = nullptr;
    if (dweight || dbias) {
        scratch = partials((size_t)omp_get_max_threads() * (size_t)stride);
        if (!scratch) return COLA_ERR_ALLOC;
    }
#pragma omp parallel if (N * C >= kParallelMin)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int64_t r0, r1;
        thread_range(N, t, nt, r0, r1);
        double* pw = dweight ? scratch + t * stride : nullptr;
        double* pb = dbias ? scratch + t * stride + padded(C) : nullptr;
        layernorm_bwd_rows(dinp, pw, pb, dout, inp, weight, mean, rstd, r0, r1, C);  // empty range: zeroes partials
        if (scratch) {
#pragma omp barrier
            int64_t c0, c1;
            thread_range(C, t, nt, c0, c1);
            if (dweight) reduce_partials(dweight, scratch, nt, stride, c0, c1);
            if (dbias) reduce_partials(dbias, scratch + padded(C), nt, stride, c0, c1);
        }
    }
    return COLA_OK;
}

int cola_rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int64_t N, int64_t C,
                         float eps) {
    if (N < 0 || C < 0 || !weight || !(eps > 0.0f)) return COLA_ERR_ARG;
    if (C == 0) {
        for (int64_t r = 0; r < N; r++) rstd[r] = 1.0f / std::sqrt(eps);
        return COLA_OK;
    }
#pragma omp parallel if (N * C >= kParallelMin)
    {
        int64_t r0, r1;
        thread_range(N, omp_get_thread_num(), omp_get_num_threads(), r0, r1);
        if (r1 > r0) rmsnorm_fwd_rows(out, rstd, inp, weight, r0, r1, C, eps);
    }
    return COLA_OK;
}

int cola_rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight,
                          const float* rstd, int64_t N, int64_t C) {
    if (N < 0 || C < 0 || !weight) return COLA_ERR_ARG;
    if (N == 0 || C == 0) return COLA_OK;
    const int64_t stride = padded(C);
    double* scratch = nullptr;
    if (dweight) {
        scratch = partials((size_t)omp_get_max_threads() * (size_t)stride);
        if (!scratch) return COLA_ERR_ALLOC;
    }
#pragma omp parallel if (N * C >= kParallelMin)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int64_t r0, r1;
        thread_range(N, t, nt, r0, r1);
        rmsnorm_bwd_rows(dinp, dweight ? scratch + t * stride : nullptr, dout, inp, weight, rstd, r0, r1, C);
        if (scratch) {
#pragma omp barrier
            int64_t c0, c1;
            thread_range(C, t, nt, c0, c1);
            reduce_partials(dweight, scratch, nt, stride, c0, c1);
        }
    }
    return COLA_OK;
}

}  // extern "C"
