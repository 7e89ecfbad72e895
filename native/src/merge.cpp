// Tie a COLA knot: merge a LoRA adapter into its frozen weight.
//
//   W[N,K] += delta,   delta[n,k] = s · Σ_j B[n,j]·A[j,k]      (A[r,K], B[N,r], s = α/r; PEFT: W += (B@A)·scaling)
//
// The inner sum is accumulated in f32 in ascending j, then multiplied by s (PEFT's order). cola_merge_f32 adds delta
// to W; cola_merge_bf16 computes w ← round_bf16(f32(w) + delta) with
//   rounding 0: round to nearest, ties to even (f32_to_bf16_rne);
//   rounding 1: stochastic rounding with 16 random bits = the top 16 bits of rng_bits(seed, n·K + k), so
//               E[result] = f32(w) + delta and the result is a pure function of (W, A, B, s, seed): the same for
//               any thread count.
// and counts in *unchanged the elements whose delta is non-zero but whose bf16 value did not change (updates lost to
// rounding: the bf16 merge problem, PEFT issues #1388 / #2502).
//
// Refusal before any write: s, A and B must be finite and no delta element may exceed kDeltaLimit = 1e30 in
// magnitude, by the bound |delta[n,k]| ≤ |s| · P with P = max_n (Σ_j |B[n,j]|) · max|A|; P, which bounds every f32
// partial sum of B·A, must also stay ≤ 1e37 (a tiny s must not hide an overflowing B·A). Otherwise COLA_ERR_NONFINITE and W is bit-identical. (W itself is not scanned: a W already within
// |delta| of FLT_MAX could still round to inf; checking it would cost a third pass over W.)
//
// Work: one read and one write of W (the bandwidth term), 2·N·K·r flops. A (r·K floats) stays in L2 and is read
// once per block of kRows rows, B once. The row-block × 32-column tile keeps its kRows·32 accumulators in
// registers (8 zmm with AVX-512), so for small r the kernel runs at W's streaming bandwidth. Rows are split across
// threads in whole blocks; every element's arithmetic is independent of the split, so the result does not depend on
// the thread count.
#include <omp.h>
#include <algorithm>
#include <cfloat>
#include <cmath>
#include "common.h"

namespace {

constexpr int64_t kRows = 4;          // rows of W per register block
constexpr int64_t kCols = 32;         // columns per register tile
constexpr double kDeltaLimit = 1e30;  // refuse a merge whose delta could exceed this (f32 max is 3.4e38)
constexpr int64_t kParallelMin = 1 << 14;  // elements of W below which the merge runs on the calling thread

// acc[rr][c] = Σ_j B[rr, j]·A[j, c] for rr < R rows of B (row stride r) and c < kc ≤ kCols columns of A (stride K).
// With kc == kCols the loop bounds are constants and the accumulators live in registers.
template <int64_t R, bool FULL>
inline __attribute__((always_inline)) void tile(float (&acc)[kRows][kCols], const float* __restrict A,
                                                const float* __restrict B, int64_t K, int64_t r, int64_t kc) {
    const int64_t n = FULL ? kCols : kc;
    for (int64_t rr = 0; rr < R; rr++)
        for (int64_t c = 0; c < n; c++) acc[rr][c] = 0.0f;
    for (int64_t j = 0; j < r; j++) {
        const float* a = A + j * K;
        for (int64_t rr = 0; rr < R; rr++) {
            const float b = B[rr * r + j];
            for (int64_t c = 0; c < n; c++) acc[rr][c] += b * a[c];
        }
    }
}

// Visits every (row block, column tile) of rows [n0, n1): f(acc, rows_in_block, first_row, first_col, cols).
template <class F>
inline __attribute__((always_inline)) void for_tiles(const float* A, const float* B, int64_t n0, int64_t n1, int64_t K,
                                                     int64_t r, F&& f) {
    alignas(64) float acc[kRows][kCols];
    int64_t n = n0;
    for (; n + kRows <= n1; n += kRows) {
        int64_t k = 0;
        for (; k + kCols <= K; k += kCols) {
            tile<kRows, true>(acc, A + k, B + n * r, K, r, kCols);
            f(acc, kRows, n, k, kCols);
        }
        if (k < K) {
            tile<kRows, false>(acc, A + k, B + n * r, K, r, K - k);
            f(acc, kRows, n, k, K - k);
        }
    }
    for (; n < n1; n++) {
        int64_t k = 0;
        for (; k + kCols <= K; k += kCols) {
            tile<1, true>(acc, A + k, B + n * r, K, r, kCols);
            f(acc, 1, n, k, kCols);
        }
        if (k < K) {
            tile<1, false>(acc, A + k, B + n * r, K, r, K - k);
            f(acc, 1, n, k, K - k);
        }
    }
}

COLA_DISPATCH void merge_rows_f32(float* __restrict W, const float* __restrict A, const float* __restrict B, float s,
                                  int64_t n0, int64_t n1, int64_t K, int64_t r) {
    for_tiles(A, B, n0, n1, K, r, [&](const float (&acc)[kRows][kCols], int64_t rows, int64_t n, int64_t k,
                                      int64_t kc) __attribute__((always_inline)) {
        for (int64_t rr = 0; rr < rows; rr++) {
            float* w = W + (n + rr) * K + k;
            for (int64_t c = 0; c < kc; c++) {
                const float d = s * acc[rr][c];
                w[c] += d;
            }
        }
    });
}

COLA_DISPATCH int64_t merge_rows_bf16(uint16_t* __restrict W, const float* __restrict A, const float* __restrict B,
                                      float s, int64_t n0, int64_t n1, int64_t K, int64_t r, int rounding,
                                      uint64_t seed) {
    int64_t lost = 0;
    for_tiles(A, B, n0, n1, K, r, [&](const float (&acc)[kRows][kCols], int64_t rows, int64_t n, int64_t k,
                                      int64_t kc) __attribute__((always_inline)) {
        for (int64_t rr = 0; rr < rows; rr++) {
            uint16_t* w = W + (n + rr) * K + k;
            const uint64_t base = (uint64_t)((n + rr) * K + k);
            for (int64_t c = 0; c < kc; c++) {
                const float d = s * acc[rr][c];
                const uint16_t old = w[c];
                const float x = cola::bf16_to_f32(old) + d;
                const uint16_t nw = rounding ? cola::f32_to_bf16_stochastic(
                                                   x, (uint32_t)(cola::rng_bits(seed, base + (uint64_t)c) >> 48))
                                             : cola::f32_to_bf16_rne(x);
                w[c] = nw;
                lost += (d != 0.0f) & (nw == old);
            }
        }
    });
    return lost;
}

// max|x| over n floats and whether all are finite (NaN is caught by the finiteness sum, not by the max).
COLA_DISPATCH bool scan_abs_max(const float* __restrict x, int64_t n, float* max_abs) {
    float mx = 0.0f, nan_probe = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        const float a = std::fabs(x[i]);
        mx = a > mx ? a : mx;
        nan_probe += x[i] * 0.0f;
    }
    *max_abs = mx;
    return nan_probe == 0.0f;
}

// max over rows of Σ_j |B[n,j]| (in double) for rows [n0, n1), and whether those rows are finite.
COLA_DISPATCH bool scan_row_l1(const float* __restrict B, int64_t n0, int64_t n1, int64_t r, double* max_l1) {
    double mx = 0.0;
    float nan_probe = 0.0f;
    for (int64_t n = n0; n < n1; n++) {
        double l1 = 0.0;
        for (int64_t j = 0; j < r; j++) {
            l1 += std::fabs((double)B[n * r + j]);
            nan_probe += B[n * r + j] * 0.0f;
        }
        mx = l1 > mx ? l1 : mx;
    }
    *max_l1 = mx;
    return nan_probe == 0.0f;
}

// COLA_OK if s, A, B are finite and |s|·max_n Σ_j|B[n,j]|·max|A| ≤ kDeltaLimit; COLA_ERR_NONFINITE otherwise.
int check_delta(const float* A, const float* B, float s, int64_t N, int64_t K, int64_t r) {
    if (!std::isfinite(s)) return COLA_ERR_NONFINITE;
    float max_a = 0.0f;
    double max_b = 0.0;
    int bad = 0;
    const int64_t na = r * K;
#pragma omp parallel if (na + N * r >= kParallelMin) reduction(max : max_a, max_b) reduction(| : bad)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        float ma;
        double mb;
        int64_t a0 = na * t / nt, a1 = na * (t + 1) / nt;
        int64_t b0 = N * t / nt, b1 = N * (t + 1) / nt;
        bad |= !scan_abs_max(A + a0, a1 - a0, &ma);
        bad |= !scan_row_l1(B, b0, b1, r, &mb);
        max_a = std::max(max_a, ma);
        max_b = std::max(max_b, mb);
    }
    if (bad) return COLA_ERR_NONFINITE;
    // Both the f32 partial sums of B·A (before s is applied) and the delta itself must stay far from FLT_MAX.
    const double unscaled = max_b * (double)max_a;
    return unscaled <= kDeltaLimit * 1e7 && std::fabs((double)s) * unscaled <= kDeltaLimit ? COLA_OK
                                                                                          : COLA_ERR_NONFINITE;
}

// Rows per thread in whole register blocks (tail rows go to the last thread).
inline void row_range(int64_t N, int t, int nt, int64_t* n0, int64_t* n1) {
    const int64_t blocks = (N + kRows - 1) / kRows;
    *n0 = std::min(N, blocks * t / nt * kRows);
    *n1 = std::min(N, blocks * (t + 1) / nt * kRows);
}

}  // namespace

extern "C" {

int cola_merge_f32(float* W, const float* A, const float* B, float s, int64_t N, int64_t K, int64_t r) {
    if (N < 0 || K < 0 || r < 0) return COLA_ERR_ARG;
    if (N * K == 0) return std::isfinite(s) ? COLA_OK : COLA_ERR_NONFINITE;
    if (r == 0) return std::isfinite(s) ? COLA_OK : COLA_ERR_NONFINITE;  // delta = 0
    if (!W || !A || !B) return COLA_ERR_ARG;
    int st = check_delta(A, B, s, N, K, r);
    if (st != COLA_OK) return st;
#pragma omp parallel if (N * K >= kParallelMin)
    {
        int64_t n0, n1;
        row_range(N, omp_get_thread_num(), omp_get_num_threads(), &n0, &n1);
        if (n0 < n1) merge_rows_f32(W, A, B, s, n0, n1, K, r);
    }
    return COLA_OK;
}

int cola_merge_bf16(uint16_t* W, const float* A, const float* B, float s, int64_t N, int64_t K, int64_t r,
                    int rounding, uint64_t seed, int64_t* unchanged) {
    if (N < 0 || K < 0 || r < 0 || (rounding != 0 && rounding != 1)) return COLA_ERR_ARG;
    if (unchanged) *unchanged = 0;
    if (N * K == 0) return std::isfinite(s) ? COLA_OK : COLA_ERR_NONFINITE;
    if (r == 0) return std::isfinite(s) ? COLA_OK : COLA_ERR_NONFINITE;  // delta = 0
    if (!W || !A || !B) return COLA_ERR_ARG;
    int st = check_delta(A, B, s, N, K, r);
    if (st != COLA_OK) return st;
    int64_t lost = 0;
#pragma omp parallel if (N * K >= kParallelMin) reduction(+ : lost)
    {
        int64_t n0, n1;
        row_range(N, omp_get_thread_num(), omp_get_num_threads(), &n0, &n1);
        if (n0 < n1) lost += merge_rows_bf16(W, A, B, s, n0, n1, K, r, rounding, seed);
    }
    if (unchanged) *unchanged = lost;
    return COLA_OK;
}

}  // extern "C"
