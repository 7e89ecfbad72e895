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
// rounding: the bf16 merge problem, PEFT issues #1388 / #2502). cola_merge_bf16_ex (which cola_merge_bf16 calls) adds
// the error compensation — an fp32 residual R: x = f32(w) + (R + delta), w ← round(x), R ← x − f32(w) — and the
// per-knot accounting Σd², Σ(ΔW−d)², Σ(ΔW+ΔR−d)² in double.
//
// Refusal before any write: s, A and B must be finite and no delta element may exceed kDeltaLimit = 1e30 in
// magnitude, by the bound |delta[n,k]| ≤ |s| · P with P = max_n (Σ_j |B[n,j]|) · max|A|; P, which bounds every f32
// partial sum of B·A, must also stay ≤ 1e37 (a tiny s must not hide an overflowing B·A). Otherwise COLA_ERR_NONFINITE and W is bit-identical. (W itself is not scanned: a W already within
// |delta| of FLT_MAX could still round to inf; checking it would cost a third pass over W.)
//
// Work: one read and one write of W (the bandwidth term), 2·N·K·r flops. A is first packed tile-major (one
// allocation of r·K floats per call, the only one) so each row block streams it contiguously from L2; B is read once.
// A block of kRows = 4 rows × kCols = 32 columns keeps its accumulators in registers (8 zmm with AVX-512): per rank
// step 2 loads of A, 4 broadcasts of B, 8 FMAs. Measured on one core of the dev VM (AVX-512 clone): r = 8 merges
// W at ≈ memcpy speed (768×768 f32: 150 µs vs memcpy 170 µs), r = 64 runs at ~100 GFLOP/s (compute-bound; oneDNN
// sgemm on the same product: ~155). Rows are split across threads in whole blocks; every element's arithmetic is
// independent of the split, so the result does not depend on the thread count.
#include <omp.h>
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdlib>
#include "common.h"

namespace {

constexpr int64_t kRows = 4;          // rows of W per register block
constexpr int64_t kCols = 32;         // columns per register tile
constexpr double kDeltaLimit = 1e30;  // refuse a merge whose delta could exceed this (f32 max is 3.4e38)
constexpr int64_t kParallelMin = 1 << 14;  // elements of W below which the merge runs on the calling thread

// A packed tile-major: Ap[t][j][c] = A[j, t·kCols + c] (zero past K), so the r×kCols tile that a row block
// multiplies is one contiguous, prefetchable run instead of r rows at stride K (which alias to the same few L1 sets
// when K·4 bytes is a multiple of 4 KiB, e.g. K = 3072).
COLA_DISPATCH void pack_tiles(float* __restrict Ap, const float* __restrict A, int64_t K, int64_t r, int64_t t0,
                              int64_t t1) {
    for (int64_t t = t0; t < t1; t++) {
        const int64_t k0 = t * kCols, kc = K - k0 < kCols ? K - k0 : kCols;
        for (int64_t j = 0; j < r; j++) {
            float* dst = Ap + (t * r + j) * kCols;
            const float* src = A + j * K + k0;
            for (int64_t c = 0; c < kc; c++) dst[c] = src[c];
            for (int64_t c = kc; c < kCols; c++) dst[c] = 0.0f;
        }
    }
}

// acc[rr][c] = Σ_j B[rr, j]·Ap[j, c] for rr < R rows of B (row stride r) and the kCols columns of one packed tile.
// The loop bounds are constants, so the R·kCols accumulators live in registers (8 zmm with AVX-512).
template <int64_t R>
inline __attribute__((always_inline)) void tile(float (&acc)[kRows][kCols], const float* __restrict Ap,
                                                const float* __restrict B, int64_t r) {
    for (int64_t rr = 0; rr < R; rr++) {  // j = 0 initialises (r ≥ 1): no zero-fill of the array
        const float b = B[rr * r];
        for (int64_t c = 0; c < kCols; c++) acc[rr][c] = b * Ap[c];
    }
    for (int64_t j = 1; j < r; j++) {
        const float* a = Ap + j * kCols;
        for (int64_t rr = 0; rr < R; rr++) {
            const float b = B[rr * r + j];
            for (int64_t c = 0; c < kCols; c++) acc[rr][c] += b * a[c];
        }
    }
}

// Visits every (row block, column tile) of rows [n0, n1): f(acc, rows_in_block, first_row, first_col, cols).
template <class F>
inline __attribute__((always_inline)) void for_tiles(const float* Ap, const float* B, int64_t n0, int64_t n1, int64_t K,
                                                     int64_t r, F&& f) {
    alignas(64) float acc[kRows][kCols];
    int64_t n = n0;
    for (; n + kRows <= n1; n += kRows) {
        for (int64_t k = 0, t = 0; k < K; k += kCols, t++) {
            tile<kRows>(acc, Ap + t * r * kCols, B + n * r, r);
            f(acc, kRows, n, k, (K - k < kCols ? K - k : kCols));
        }
    }
    for (; n < n1; n++) {
        for (int64_t k = 0, t = 0; k < K; k += kCols, t++) {
            tile<1>(acc, Ap + t * r * kCols, B + n * r, r);
            f(acc, 1, n, k, (K - k < kCols ? K - k : kCols));
        }
    }
}

COLA_DISPATCH void merge_rows_f32(float* __restrict W, const float* __restrict Ap, const float* __restrict B, float s,
                                  int64_t n0, int64_t n1, int64_t K, int64_t r) {
    for_tiles(Ap, B, n0, n1, K, r, [&](const float (&acc)[kRows][kCols], int64_t rows, int64_t n, int64_t k,
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

// The general bf16 merge (cola_merge_bf16_ex): optional fp32 residual R (error compensation), either rounding, and
// the per-knot accounting stats[0..2] += Σd², Σ(ΔW−d)², Σ(ΔW+ΔR−d)² (see cola_cpu.h).
COLA_DISPATCH void merge_rows_bf16_ex(uint16_t* __restrict W, float* __restrict R, const float* __restrict Ap,
                                      const float* __restrict B, float s, int64_t n0, int64_t n1, int64_t K,
                                      int64_t r, int stochastic, uint64_t seed, double* stats, int64_t* lost_out) {
    double s0 = 0.0, s1 = 0.0, s2 = 0.0;
    int64_t lost = 0;
    for_tiles(Ap, B, n0, n1, K, r, [&](const float (&acc)[kRows][kCols], int64_t rows, int64_t n, int64_t k,
                                      int64_t kc) __attribute__((always_inline)) {
        for (int64_t rr = 0; rr < rows; rr++) {
            uint16_t* __restrict w = W + (n + rr) * K + k;
            float* __restrict res = R ? R + (n + rr) * K + k : nullptr;
            const uint64_t base = (uint64_t)((n + rr) * K + k);
            for (int64_t c = 0; c < kc; c++) {
                const float d = s * acc[rr][c];
                const uint16_t old = w[c];
                const float wold = cola::bf16_to_f32(old);
                const float rold = res ? res[c] : 0.0f;
                const float x = wold + (rold + d);
                const uint16_t nw =
                    stochastic ? cola::f32_to_bf16_stochastic(x, (uint32_t)(cola::rng_bits(seed, base + (uint64_t)c) >> 48))
                               : cola::f32_to_bf16_rne(x);
                const float wnew = cola::bf16_to_f32(nw);
                w[c] = nw;
                float rnew = 0.0f;
                if (res) {
                    rnew = x - wnew;  // exact in f32 when |x - wnew| ≤ ulp_bf16(x)/2 (Sterbenz-like: same binade)
                    res[c] = rnew;
                }
                lost += (d != 0.0f) & (nw == old);
                const double dd = d, dw = (double)wnew - wold, dr = (double)rnew - rold;
                s0 += dd * dd;
                s1 += (dw - dd) * (dw - dd);
                s2 += (dw + dr - dd) * (dw + dr - dd);
            }
        }
    });
    stats[0] = s0;
    stats[1] = s1;
    stats[2] = s2;
    *lost_out = lost;
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

// A packed tile-major (see pack_tiles), or NULL when out of memory. One allocation of r·⌈K/kCols⌉·kCols floats per
// call (the size of A), packed in parallel; freed with std::free.
float* pack_a(const float* A, int64_t K, int64_t r) {
    const int64_t tiles = (K + kCols - 1) / kCols;
    const size_t bytes = (size_t)(tiles * r * kCols) * sizeof(float);  // a multiple of 128
    float* Ap = (float*)std::aligned_alloc(64, bytes);
    if (!Ap) return nullptr;
#pragma omp parallel if (r * K >= kParallelMin)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        pack_tiles(Ap, A, K, r, tiles * t / nt, tiles * (t + 1) / nt);
    }
    return Ap;
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
    float* Ap = pack_a(A, K, r);
    if (!Ap) return COLA_ERR_ALLOC;
#pragma omp parallel if (N * K >= kParallelMin)
    {
        int64_t n0, n1;
        row_range(N, omp_get_thread_num(), omp_get_num_threads(), &n0, &n1);
        if (n0 < n1) merge_rows_f32(W, Ap, B, s, n0, n1, K, r);
    }
    std::free(Ap);
    return COLA_OK;
}

int cola_merge_bf16(uint16_t* W, const float* A, const float* B, float s, int64_t N, int64_t K, int64_t r,
                    int rounding, uint64_t seed, int64_t* unchanged) {
    return cola_merge_bf16_ex(W, nullptr, A, B, s, N, K, r, rounding, seed, nullptr, unchanged);
}

int cola_merge_bf16_ex(uint16_t* W, float* R, const float* A, const float* B, float s, int64_t N, int64_t K, int64_t r,
                       int rounding, uint64_t seed, double* stats, int64_t* unchanged) {
    if (N < 0 || K < 0 || r < 0 || (rounding != 0 && rounding != 1)) return COLA_ERR_ARG;
    if (unchanged) *unchanged = 0;
    if (stats) stats[0] = stats[1] = stats[2] = 0.0;
    if (N * K == 0 || r == 0) return std::isfinite(s) ? COLA_OK : COLA_ERR_NONFINITE;  // delta = 0
    if (!W || !A || !B) return COLA_ERR_ARG;
    int st = check_delta(A, B, s, N, K, r);
    if (st != COLA_OK) return st;
    float* Ap = pack_a(A, K, r);
    if (!Ap) return COLA_ERR_ALLOC;
    int64_t lost = 0;
    double s0 = 0.0, s1 = 0.0, s2 = 0.0;
#pragma omp parallel if (N * K >= kParallelMin) reduction(+ : lost, s0, s1, s2)
    {
        int64_t n0, n1;
        row_range(N, omp_get_thread_num(), omp_get_num_threads(), &n0, &n1);
        if (n0 < n1) {
            double part[3];
            int64_t l = 0;
            merge_rows_bf16_ex(W, R, Ap, B, s, n0, n1, K, r, rounding, seed, part, &l);
            lost += l;
            s0 += part[0];
            s1 += part[1];
            s2 += part[2];
        }
    }
    std::free(Ap);
    if (unchanged) *unchanged = lost;
    if (stats) {
        stats[0] = s0;
        stats[1] = s1;
        stats[2] = s2;
    }
    return COLA_OK;
}

}  // extern "C"
