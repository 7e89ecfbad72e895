// Scaled-dot-product attention (forward and backward), flash-attention style on the CPU: the probabilities are never
// saved, backward recomputes them from the per-row log-sum-exp.
//
// Shapes (row-major): q[B,T,Hq,D], k,v[B,T,Hkv,D], out[B,T,Hq,D], lse[B,Hq,T], key_mask[B,T] (1 keep, 0 pad, or NULL).
// GQA: query head h reads kv head h/G, G = Hq/Hkv. The rows of one (b, h) are strided by Hq·D (resp. Hkv·D), which
// the GEMMs take as their leading dimension, so nothing is transposed or copied.
//
// Forward, for each (b, h) and query row i, over the visible keys V(i) = { j : key_mask[b,j] ≠ 0, and j ≤ i if causal,
// and j > i - window if a sliding window (Mistral; window > 0, causal only) }:
//   s_ij = scale·q_i·k_j;  m_i = max_j s_ij;  lse_i = m_i + log Σ_j exp(s_ij - m_i);  p_ij = exp(s_ij - lse_i);
//   out_i = Σ_j p_ij·v_j.
//   V(i) empty (fully padded sequence, or causal row whose only keys are padding): out_i = 0, lse_i = -inf, and the
//   row contributes no gradient. No NaN is produced for such rows (exp is never taken of s - (-inf)). A NaN among a
//   row's visible scores makes the row's probabilities, out_i and lse_i NaN (propagated, never masked as "no key").
//
// Backward (dq, dk, dv ACCUMULATE), with P recomputed as exp(S - lse):
//   dV += Pᵀ·dO;  dP = dO·Vᵀ;  D_i = Σ_d dO_id·O_id (= Σ_j p_ij·dp_ij);  dS = P ⊙ (dP - D);
//   dQ += scale·dS·K;  dK += scale·dSᵀ·Q.
//
// Blocking and memory: the query rows of one (b, h) are processed in blocks of BR rows; a block's scores cover only the
// keys it can see: [0, min(i1, kend)) under causal (half the FLOPs of a full T×T product), [0, kend) otherwise, where
// kend = 1 + the last unmasked key of the sequence (trailing padding costs nothing). Per thread the scratch is one
// BR×T block in forward and two in backward (P and dP/dS): at most one T×T block for T ≥ 2·BR. It is a thread_local
// vector grown on demand, so the hot loops never allocate.
//
// Parallelism and determinism: forward runs OpenMP over (b, h); backward over (b, kv head), looping over the G query
// heads of the group inside, so every dk/dv slice (shared by the group) and every dq slice has exactly one owner: no
// atomics, and the result does not depend on the thread count or the schedule. The per-block products go to
// cola_gemm_f32 (oneDNN) from inside the parallel region, where oneDNN runs single-threaded on the calling thread.
// Caveat: with B·Hkv (backward) or B·Hq (forward) smaller than the thread count, some threads idle.
//
// exp is a Cephes-style polynomial (|rel err| < 2 ulp on the range used here, exactly 0 below -87.3) that vectorises
// in the dispatched row kernels; libm's expf would not (no -ffast-math) and would cost more than the GEMMs at D = 64.
#include <omp.h>
#include <algorithm>
#include <limits>
#include <new>
#include <vector>
#include "common.h"

namespace {

constexpr int64_t BR = 64;  // query rows per block

// exp(x) for x ≤ 0 (s - max, s - lse): the shared polynomial, exactly 0 below -87.3 (common.h).
static inline float exp_neg(float x) { return cola::exp_approx(x); }

// Number of keys worth scoring: 1 + the last unmasked key (0 if all are padding); T without a mask.
int64_t key_end(const int32_t* mask, int64_t T) {
    if (!mask) return T;
    int64_t e = T;
    while (e > 0 && mask[e - 1] == 0) e--;
    return e;
}

// Forward softmax of a block: S[rows, n] (ld n) holds scale·q·k for query rows i0.. and keys 0..n-1. Overwrites it
// with the probabilities (0 for invisible keys) and writes lse for each row (stride 1).
COLA_DISPATCH void softmax_block(float* S, float* lse, int64_t rows, int64_t n, int64_t i0, int causal,
                                 int64_t window, const int32_t* mask) {
    const float ninf = -std::numeric_limits<float>::infinity();
    for (int64_t r = 0; r < rows; r++) {
        float* s = S + r * n;
        int64_t i = i0 + r;
        int64_t jend = causal ? std::min(n, i + 1) : n;
        // sliding window (Mistral): keys j ≤ i - window are invisible; their scores become -inf, so exp gives 0
        const int64_t jstart = window > 0 ? std::min(jend, std::max<int64_t>(0, i - window + 1)) : 0;
        for (int64_t j = 0; j < jstart; j++) s[j] = ninf;
        float m = ninf;
        int nan = 0;  // a NaN score must poison the row: the max below never selects one, so it is tracked apart
        if (mask) {
#pragma omp simd reduction(max : m) reduction(| : nan)
            for (int64_t j = 0; j < jend; j++) {
                float x = mask[j] ? s[j] : ninf;
                nan |= x != x;
                m = m > x ? m : x;  // not std::max: GCC does not vectorise that reduction
            }
        } else {
#pragma omp simd reduction(max : m) reduction(| : nan)
            for (int64_t j = 0; j < jend; j++) {
                nan |= s[j] != s[j];
                m = m > s[j] ? m : s[j];
            }
        }
        if (nan) {  // NaN in, NaN out (probabilities and lse): never a silently zeroed or finite-looking row
            std::fill(s, s + n, std::numeric_limits<float>::quiet_NaN());
            lse[r] = std::numeric_limits<float>::quiet_NaN();
            continue;
        }
        if (m == ninf) {  // no visible key
            std::fill(s, s + n, 0.0f);
            lse[r] = ninf;
            continue;
        }
        float sum = 0.0f;
        if (mask) {
#pragma omp simd reduction(+ : sum)
            for (int64_t j = 0; j < jend; j++) {
                float p = mask[j] ? exp_neg(s[j] - m) : 0.0f;
                s[j] = p;
                sum += p;
            }
        } else {
#pragma omp simd reduction(+ : sum)
            for (int64_t j = 0; j < jend; j++) {
                float p = exp_neg(s[j] - m);
                s[j] = p;
                sum += p;
            }
        }
        float inv = 1.0f / sum;  // sum ≥ 1 (the max term)
#pragma omp simd
        for (int64_t j = 0; j < jend; j++) s[j] *= inv;
        for (int64_t j = jend; j < n; j++) s[j] = 0.0f;
        lse[r] = m + std::log(sum);
    }
}

// Backward of a block. On entry S[rows, n] holds scale·q·k; lse for the rows at stride 1. Overwrites S with
// P = exp(S - lse) (0 for invisible keys and for rows with lse = -inf).
COLA_DISPATCH void probs_block(float* S, const float* lse, int64_t rows, int64_t n, int64_t i0, int causal,
                               int64_t window, const int32_t* mask) {
    const float ninf = -std::numeric_limits<float>::infinity();
    for (int64_t r = 0; r < rows; r++) {
        float* s = S + r * n;
        float l = lse[r];
        int64_t i = i0 + r;
        int64_t jend = l == ninf ? 0 : causal ? std::min(n, i + 1) : n;
        if (mask) {
#pragma omp simd
            for (int64_t j = 0; j < jend; j++) s[j] = mask[j] ? exp_neg(s[j] - l) : 0.0f;
        } else {
#pragma omp simd
            for (int64_t j = 0; j < jend; j++) s[j] = exp_neg(s[j] - l);
        }
        if (window > 0) {  // keys outside the sliding window
            const int64_t jstart = std::min(jend, std::max<int64_t>(0, i - window + 1));
            for (int64_t j = 0; j < jstart; j++) s[j] = 0.0f;
        }
        for (int64_t j = jend; j < n; j++) s[j] = 0.0f;
    }
}

// dS = P ⊙ (dP - D_i) in place in dP[rows, n], D_i = dO_i·O_i (rows of dO and O at stride ld).
COLA_DISPATCH void dscores_block(float* dP, const float* P, const float* dO, const float* O, int64_t ld, int64_t rows,
                                 int64_t n, int64_t D) {
    for (int64_t r = 0; r < rows; r++) {
        const float* a = dO + r * ld;
        const float* o = O + r * ld;
        float di = 0.0f;
#pragma omp simd reduction(+ : di)
        for (int64_t d = 0; d < D; d++) di += a[d] * o[d];
        float* dp = dP + r * n;
        const float* p = P + r * n;
#pragma omp simd
        for (int64_t j = 0; j < n; j++) dp[j] = p[j] * (dp[j] - di);
    }
}

// Per-thread scratch, grown on demand outside the hot loops. Returns nullptr when out of memory.
float* scratch(size_t floats) {
    thread_local std::vector<float> buf;
    if (buf.size() < floats) {
        try {
            buf.resize(floats);
        } catch (const std::bad_alloc&) {
            return nullptr;
        }
    }
    return buf.data();
}

// One (b, h) of the forward.
int forward_head(float* out, float* lse, const float* q, const float* k, const float* v, const int32_t* mask,
                 int64_t T, int64_t Hq, int64_t Hkv, int64_t D, int causal, int64_t window, float scale, float* S) {
    const int64_t ldq = Hq * D, ldk = Hkv * D;
    const int64_t kend = key_end(mask, T);
    for (int64_t i0 = 0; i0 < T; i0 += BR) {
        int64_t rows = std::min(BR, T - i0);
        int64_t n = causal ? std::min(i0 + rows, kend) : kend;
        float* o = out + i0 * ldq;
        if (n == 0) {  // every row of the block sees nothing
            for (int64_t r = 0; r < rows; r++) {
                std::fill(o + r * ldq, o + r * ldq + D, 0.0f);
                lse[i0 + r] = -std::numeric_limits<float>::infinity();
            }
            continue;
        }
        int st = cola_gemm_f32(0, 1, rows, n, D, scale, q + i0 * ldq, ldq, k, ldk, 0.0f, S, n);
        if (st != COLA_OK) return st;
        softmax_block(S, lse + i0, rows, n, i0, causal, window, mask);
        st = cola_gemm_f32(0, 0, rows, D, n, 1.0f, S, n, v, ldk, 0.0f, o, ldq);
        if (st != COLA_OK) return st;
    }
    return COLA_OK;
}

// One (b, kv head) of the backward: the G query heads h0 .. h0+G-1 of the group, accumulated into dk/dv in order.
int backward_group(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k, const float* v,
                   const float* out, const float* lse, const int32_t* mask, int64_t T, int64_t Hq, int64_t Hkv,
                   int64_t D, int64_t G, int causal, int64_t window, float scale, float* P, float* dP) {
    const int64_t ldq = Hq * D, ldk = Hkv * D;
    const int64_t kend = key_end(mask, T);
    for (int64_t g = 0; g < G; g++) {
        // pointers already offset to (b, h0) / (b, hk) by the caller; head g of the group is g·D further on
        const float* qh = q + g * D;
        const float* oh = out + g * D;
        const float* doh = dout + g * D;
        float* dqh = dq + g * D;
        const float* lh = lse + g * T;
        for (int64_t i0 = 0; i0 < T; i0 += BR) {
            int64_t rows = std::min(BR, T - i0);
            int64_t n = causal ? std::min(i0 + rows, kend) : kend;
            if (n == 0) continue;
            const float* qb = qh + i0 * ldq;
            const float* dob = doh + i0 * ldq;
            int st = cola_gemm_f32(0, 1, rows, n, D, scale, qb, ldq, k, ldk, 0.0f, P, n);  // S
            if (st != COLA_OK) return st;
            probs_block(P, lh + i0, rows, n, i0, causal, window, mask);
            st = cola_gemm_f32(1, 0, n, D, rows, 1.0f, P, n, dob, ldq, 1.0f, dv, ldk);  // dV += Pᵀ·dO
            if (st != COLA_OK) return st;
            st = cola_gemm_f32(0, 1, rows, n, D, 1.0f, dob, ldq, v, ldk, 0.0f, dP, n);  // dP = dO·Vᵀ
            if (st != COLA_OK) return st;
            dscores_block(dP, P, dob, oh + i0 * ldq, ldq, rows, n, D);
            st = cola_gemm_f32(0, 0, rows, D, n, scale, dP, n, k, ldk, 1.0f, dqh + i0 * ldq, ldq);  // dQ += s·dS·K
            if (st != COLA_OK) return st;
            st = cola_gemm_f32(1, 0, n, D, rows, scale, dP, n, qb, ldq, 1.0f, dk, ldk);  // dK += s·dSᵀ·Q
            if (st != COLA_OK) return st;
        }
    }
    return COLA_OK;
}

bool bad_dims(int64_t B, int64_t T, int64_t Hq, int64_t Hkv, int64_t D) {
    return B < 0 || T < 0 || Hq < 0 || Hkv <= 0 || D < 0 || Hq % Hkv != 0;
}

}  // namespace

extern "C" {

int cola_attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                           const int32_t* key_mask, int64_t B, int64_t T, int64_t Hq, int64_t Hkv, int64_t D,
                           int causal, float scale) {
    return cola_attention_forward_window(out, lse, q, k, v, key_mask, B, T, Hq, Hkv, D, causal, 0, scale);
}

int cola_attention_forward_window(float* out, float* lse, const float* q, const float* k, const float* v,
                                  const int32_t* key_mask, int64_t B, int64_t T, int64_t Hq, int64_t Hkv, int64_t D,
                                  int causal, int64_t window, float scale) {
    if (bad_dims(B, T, Hq, Hkv, D) || window < 0 || (window > 0 && !causal)) return COLA_ERR_ARG;
    const int64_t G = Hq / Hkv, items = B * Hq;
    int status = COLA_OK;
#pragma omp parallel
    {
        float* S = items > 0 ? scratch((size_t)std::min(BR, T) * T) : nullptr;
        if (items > 0 && !S && T > 0) {
#pragma omp atomic write
            status = COLA_ERR_ALLOC;
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t it = 0; it < items; it++) {
            if (!S && T > 0) continue;
            int64_t b = it / Hq, h = it % Hq, hk = h / G;
            int st = forward_head(out + (b * T * Hq + h) * D, lse + (b * Hq + h) * T, q + (b * T * Hq + h) * D,
                                  k + (b * T * Hkv + hk) * D, v + (b * T * Hkv + hk) * D,
                                  key_mask ? key_mask + b * T : nullptr, T, Hq, Hkv, D, causal, window, scale, S);
            if (st != COLA_OK) {
#pragma omp atomic write
                status = st;
            }
        }
    }
    return status;
}

int cola_attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                            const float* v, const float* out, const float* lse, const int32_t* key_mask, int64_t B,
                            int64_t T, int64_t Hq, int64_t Hkv, int64_t D, int causal, float scale) {
    return cola_attention_backward_window(dq, dk, dv, dout, q, k, v, out, lse, key_mask, B, T, Hq, Hkv, D, causal, 0,
                                          scale);
}

int cola_attention_backward_window(float* dq, float* dk, float* dv, const float* dout, const float* q,
                                   const float* k, const float* v, const float* out, const float* lse,
                                   const int32_t* key_mask, int64_t B, int64_t T, int64_t Hq, int64_t Hkv, int64_t D,
                                   int causal, int64_t window, float scale) {
    if (bad_dims(B, T, Hq, Hkv, D) || window < 0 || (window > 0 && !causal)) return COLA_ERR_ARG;
    const int64_t G = Hq / Hkv, items = B * Hkv;
    int status = COLA_OK;
#pragma omp parallel
    {
        size_t blk = (size_t)std::min(BR, T) * T;
        float* P = items > 0 ? scratch(2 * blk) : nullptr;
        if (items > 0 && !P && T > 0) {
#pragma omp atomic write
            status = COLA_ERR_ALLOC;
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t it = 0; it < items; it++) {
            if (!P && T > 0) continue;
            int64_t b = it / Hkv, hk = it % Hkv, h0 = hk * G;
            int64_t qo = (b * T * Hq + h0) * D, ko = (b * T * Hkv + hk) * D;
            int st = backward_group(dq + qo, dk + ko, dv + ko, dout + qo, q + qo, k + ko, v + ko, out + qo,
                                    lse + (b * Hq + h0) * T, key_mask ? key_mask + b * T : nullptr, T, Hq, Hkv, D,
                                    G, causal, window, scale, P, P + blk);
            if (st != COLA_OK) {
#pragma omp atomic write
                status = st;
            }
        }
    }
    return status;
}

}  // extern "C"
