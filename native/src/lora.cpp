// Fused LoRA linear:  y[M,N] = x[M,K]·W[N,K]ᵀ + b[N] + s·drop(x)·Aᵀ·Bᵀ,   A[r,K], B[N,r], u[M,r] = drop(x)·Aᵀ.
//
// Why it is fast (issue 2: ≤ 1.05× the base GEMM, no extra passes over x and y):
//  * Without dropout the low-rank term folds into the weight: y = x·(W + s·B·A)ᵀ + b. Building W_eff = W + s·B·A costs
//    one pass over W (N·K, independent of the batch) and 2·N·K·r FLOPs, then ONE GEMM writes y — no second pass over
//    y as in PEFT's `base(x) + B(A(x))·s`. u = x·Aᵀ (for backward's dB) is the only extra pass over x.
//  * u = x·Aᵀ is needed only by backward (dB = s·dyᵀ·u), so without dropout forward skips it (u = NULL) and backward
//    recomputes it: forward is W_eff + one GEMM. (A per-row fused pass over x and dy measured slower than skinny
//    oneDNN GEMMs: r = 8 dot products per row cannot keep the FMA units busy.)
//  * Backward uses the same identity: dx = dy·W_eff, one GEMM accumulating into dx; v = dy·B, dA += s·vᵀ·x and
//    dB += s·dyᵀ·u are skinny GEMMs.
//  * With dropout (p > 0) the LoRA branch sees drop(x) ≠ x, so W_eff does not apply: y = x·Wᵀ + b by GEMM, then a
//    per-row pass adds s·B·u_m (u saved); backward runs one fused pass over the rows of x and dy: v_m = Bᵀ·dy_m,
//    dA += s·v_m ⊗ drop(x_m), dB += s·dy_m ⊗ u_m, dx_m += s·mask⊙(Aᵀ·v_m)/(1-p), with per-thread partial sums
//    reduced in thread order (deterministic for a fixed thread count).
// Scratch (W_eff, per-thread partials) is thread_local and grows to the largest layer seen: no per-call malloc in
// steady state.
// Reference: tests/java/cola/ops/LoraOpTest.java (double-precision, finite differences).
#include <omp.h>
#include <vector>
#include "common.h"

namespace {

thread_local std::vector<float> tl_weff;      // [N,K] effective weight of the calling thread
thread_local std::vector<float> tl_partials;  // [nthreads, r·K + N·r] adapter-gradient partial sums

float* grow(std::vector<float>& v, size_t n) {
    if (v.size() < n) v.resize(n);
    return v.data();
}

// out[n, :] = w[n, :] + Σ_j (s·B[n,j])·A[j, :] for rows [n0, n1).
COLA_DISPATCH void weff_rows(float* out, const float* W, const float* A, const float* B, float s, int64_t n0,
                             int64_t n1, int64_t K, int64_t r) {
    for (int64_t n = n0; n < n1; n++) {
        float* o = out + n * K;
        const float* w = W + n * K;
        for (int64_t k = 0; k < K; k++) o[k] = w[k];
        for (int64_t j = 0; j < r; j++) {
            float c = s * B[n * r + j];
            const float* a = A + j * K;
#pragma omp simd
            for (int64_t k = 0; k < K; k++) o[k] += c * a[k];
        }
    }
}

void build_weff(float* weff, const float* W, const float* A, const float* B, float s, int64_t N, int64_t K,
                int64_t r) {
#pragma omp parallel
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        weff_rows(weff, W, A, B, s, N * t / nt, N * (t + 1) / nt, K, r);
    }
}

// Dropout row: xd[k] = keep(seed, m·K+k) ? x[k]/(1-p) : 0.
inline void dropout_row(float* xd, const float* x, int64_t m, int64_t K, float p, uint64_t seed) {
    float scale = 1.0f / (1.0f - p);
    for (int64_t k = 0; k < K; k++) xd[k] = cola::dropout_keep(seed, (uint64_t)(m * K + k), p) ? x[k] * scale : 0.0f;
}

COLA_DISPATCH float dot(const float* a, const float* b, int64_t n) {
    float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
    for (int64_t i = 0; i < n; i++) acc += a[i] * b[i];
    return acc;
}

COLA_DISPATCH void axpy(float* y, float a, const float* x, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

// Dropout forward rows [m0, m1): u_m = A·drop(x_m); y_m += s·B·u_m (Bt = Bᵀ [r,N] so the update is contiguous).
void dropout_forward_rows(float* y, float* u, const float* x, const float* A, const float* Bt, float s, float p,
                          uint64_t seed, int64_t m0, int64_t m1, int64_t K, int64_t N, int64_t r, float* xd) {
    for (int64_t m = m0; m < m1; m++) {
        dropout_row(xd, x + m * K, m, K, p, seed);
        for (int64_t j = 0; j < r; j++) {
            float uj = dot(xd, A + j * K, K);
            u[m * r + j] = uj;
            axpy(y + m * N, s * uj, Bt + j * N, N);
        }
    }
}

// Backward rows [m0, m1) into this thread's partials dA_t[r,K], dB_t[N,r] (dB kept as dBt[r,N] for contiguity):
//   v_m = Bᵀ·dy_m;  dA_t += v_m ⊗ drop(x_m);  dBt_t += u_m ⊗ dy_m;  dx_m += s·mask⊙(Aᵀ·v_m)/(1-p) when dropout.
void backward_rows(float* dAt, float* dBt, float* v, float* dx, const float* dy, const float* x, const float* u,
                   const float* A, const float* Bt, float s, float p, uint64_t seed, int64_t m0, int64_t m1,
                   int64_t K, int64_t N, int64_t r, float* xd, float* tmp) {
    for (int64_t m = m0; m < m1; m++) {
        const float* dym = dy + m * N;
        const float* xm = x + m * K;
        if (p > 0.0f) {
            dropout_row(xd, xm, m, K, p, seed);
            xm = xd;
        }
        for (int64_t j = 0; j < r; j++) {
            float vj = dot(Bt + j * N, dym, N);
            v[m * r + j] = vj;
            axpy(dAt + j * K, vj, xm, K);
            axpy(dBt + j * N, u[m * r + j], dym, N);
        }
        if (p > 0.0f && dx) {
            // d drop(x)/dx = mask/(1-p): recompute the mask (xd holds drop(x); tmp = Aᵀ·v_m).
            for (int64_t k = 0; k < K; k++) tmp[k] = 0.0f;
            for (int64_t j = 0; j < r; j++) axpy(tmp, v[m * r + j], A + j * K, K);
            float scale = s / (1.0f - p);
            float* dxm = dx + m * K;
            for (int64_t k = 0; k < K; k++)
                if (cola::dropout_keep(seed, (uint64_t)(m * K + k), p)) dxm[k] += scale * tmp[k];
        }
    }
}

thread_local std::vector<float> tl_u;  // [M,r] u recomputed in backward when forward did not keep it

// The frozen base weight of a LoRA layer: f32, or bf16 (the checkpoint's dtype, kept as stored). With bf16 the W_eff
// fusion does not apply: s·B·A is typically far below half an ulp of W in bf16, so W + s·B·A rounded to bf16 would
// drop the adapter. The bf16 path is PEFT's unfused form instead: y = x·Wᵀ (bf16 GEMM, fp32 accumulation) + s·u·Bᵀ
// with the low-rank product in fp32 (two skinny GEMMs; r·(K+N) FLOPs per row against the base's K·N).
struct BaseW {
    const float* f32;
    const uint16_t* bf16;
};

int base_forward(float* y, const float* x, BaseW W, const float* b, int64_t M, int64_t K, int64_t N) {
    return W.bf16 ? cola_matmul_bf16w_forward(y, x, W.bf16, b, M, K, N) : cola_matmul_forward(y, x, W.f32, b, M, K, N);
}

// dx += dy·W.
int base_dx(float* dx, const float* dy, BaseW W, int64_t M, int64_t K, int64_t N) {
    return W.bf16 ? cola_matmul_bf16w_backward(dx, nullptr, nullptr, dy, nullptr, W.bf16, M, K, N)
                  : cola_gemm_f32(0, 0, M, K, N, 1.0f, dy, N, W.f32, K, 1.0f, dx, K);
}

// Full fine-tuning: dW += dyᵀ·x, db += Σ dy.
int base_dwdb(float* dW, float* db, const float* dy, const float* x, BaseW W, int64_t M, int64_t K, int64_t N) {
    return W.bf16 ? cola_matmul_bf16w_backward(nullptr, dW, db, dy, x, W.bf16, M, K, N)
                  : cola_matmul_backward(nullptr, dW, db, dy, x, W.f32, M, K, N);
}

// Backward without dropout, as GEMMs (skinny ones run near bandwidth in oneDNN):
//   v = dy·B;  u = x·Aᵀ (if not saved);  dB += s·dyᵀ·u;  dA += s·vᵀ·x;
//   f32 W: dx += dy·W_eff (one GEMM for both paths);  bf16 W: dx += dy·W (bf16 GEMM) + s·v·A.
int lora_backward_gemms(float* dx, float* dW, float* db, float* dA, float* dB, float* v, const float* dy,
                        const float* x, const float* u, BaseW W, const float* A, const float* B, float s,
                        int64_t M, int64_t K, int64_t N, int64_t r) {
    int st = cola_gemm_f32(0, 0, M, r, N, 1.0f, dy, N, B, r, 0.0f, v, r);
    if (st == COLA_OK && !u) {
        float* uu = grow(tl_u, (size_t)(M * r));
        st = cola_gemm_f32(0, 1, M, r, K, 1.0f, x, K, A, K, 0.0f, uu, r);
        u = uu;
    }
    if (st == COLA_OK) st = cola_gemm_f32(1, 0, N, r, M, s, dy, N, u, r, 1.0f, dB, r);
    if (st == COLA_OK) st = cola_gemm_f32(1, 0, r, K, M, s, v, r, x, K, 1.0f, dA, K);
    if (st == COLA_OK && dx) {
        if (W.bf16) {
            st = base_dx(dx, dy, W, M, K, N);
            if (st == COLA_OK) st = cola_gemm_f32(0, 0, M, K, r, s, v, r, A, K, 1.0f, dx, K);
        } else {
            float* weff = grow(tl_weff, (size_t)(N * K));
            build_weff(weff, W.f32, A, B, s, N, K, r);
            st = cola_gemm_f32(0, 0, M, K, N, 1.0f, dy, N, weff, K, 1.0f, dx, K);
        }
    }
    if (st == COLA_OK && (dW || db)) st = base_dwdb(dW, db, dy, x, W, M, K, N);
    return st;
}

int lora_forward(float* y, float* u, const float* x, BaseW W, const float* b, const float* A, const float* B, float s,
                 float p, uint64_t seed, int64_t M, int64_t K, int64_t N, int64_t r) {
    if (M < 0 || K < 0 || N < 0 || r < 0 || !(p >= 0.0f && p < 1.0f)) return COLA_ERR_ARG;
    if (p == 0.0f && !W.bf16) {
        float* weff = grow(tl_weff, (size_t)(N * K));
        build_weff(weff, W.f32, A, B, s, N, K, r);
        int st = cola_matmul_forward(y, x, weff, b, M, K, N);
        if (st != COLA_OK || !u) return st;
        return cola_gemm_f32(0, 1, M, r, K, 1.0f, x, K, A, K, 0.0f, u, r);  // only if the caller wants u
    }
    if (p == 0.0f) {  // bf16 W: y = x·Wᵀ + b, then y += s·(x·Aᵀ)·Bᵀ in fp32
        int st = base_forward(y, x, W, b, M, K, N);
        float* uu = u ? u : grow(tl_u, (size_t)(M * r));
        if (st == COLA_OK) st = cola_gemm_f32(0, 1, M, r, K, 1.0f, x, K, A, K, 0.0f, uu, r);
        if (st == COLA_OK) st = cola_gemm_f32(0, 1, M, N, r, s, uu, r, B, r, 1.0f, y, N);
        return st;
    }
    if (!u) return COLA_ERR_ARG;  // with dropout, u = drop(x)·Aᵀ must be saved: backward cannot redraw x's mask cheaply
    int st = base_forward(y, x, W, b, M, K, N);
    if (st != COLA_OK) return st;
    std::vector<float> Bt((size_t)(r * N));
    for (int64_t n = 0; n < N; n++)
        for (int64_t j = 0; j < r; j++) Bt[j * N + n] = B[n * r + j];
#pragma omp parallel
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        std::vector<float> xd((size_t)K);
        dropout_forward_rows(y, u, x, A, Bt.data(), s, p, seed, M * t / nt, M * (t + 1) / nt, K, N, r, xd.data());
    }
    return COLA_OK;
}

int lora_backward(float* dx, float* dW, float* db, float* dA, float* dB, float* v, const float* dy, const float* x,
                  const float* u, BaseW W, const float* A, const float* B, float s, float p, uint64_t seed, int64_t M,
                  int64_t K, int64_t N, int64_t r) {
    if (M < 0 || K < 0 || N < 0 || r < 0 || !(p >= 0.0f && p < 1.0f)) return COLA_ERR_ARG;
    int st = COLA_OK;
    if (p == 0.0f) return lora_backward_gemms(dx, dW, db, dA, dB, v, dy, x, u, W, A, B, s, M, K, N, r);
    if (!u) return COLA_ERR_ARG;
    // Dropout: dx += dy·W here, the LoRA part of dx is added per row below with the regenerated mask.
    if (dx) {
        st = base_dx(dx, dy, W, M, K, N);
        if (st != COLA_OK) return st;
    }
    if (dW || db) {
        st = base_dwdb(dW, db, dy, x, W, M, K, N);
        if (st != COLA_OK) return st;
    }
    // Adapter gradients: one pass over the rows of x and dy with per-thread partial sums.
    int nthreads = omp_get_max_threads();
    size_t per = (size_t)(r * K + r * N);
    float* partials = grow(tl_partials, per * (size_t)nthreads);
    std::vector<float> Bt((size_t)(r * N));
    for (int64_t n = 0; n < N; n++)
        for (int64_t j = 0; j < r; j++) Bt[j * N + n] = B[n * r + j];
    int used = 1;
#pragma omp parallel
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
#pragma omp single
        used = nt;
        float* mine = partials + per * (size_t)t;
        for (size_t i = 0; i < per; i++) mine[i] = 0.0f;
        std::vector<float> xd(p > 0.0f ? (size_t)K : 0), tmp(p > 0.0f ? (size_t)K : 0);
        backward_rows(mine, mine + r * K, v, dx, dy, x, u, A, Bt.data(), s, p, seed, M * t / nt, M * (t + 1) / nt, K,
                      N, r, xd.data(), tmp.data());
    }
    // Reduce in thread order: dA[j,k] += s·Σ_t dAt[j,k];  dB[n,j] += s·Σ_t dBt[j,n].
#pragma omp parallel for
    for (int64_t j = 0; j < r; j++) {
        for (int t = 0; t < used; t++) axpy(dA + j * K, s, partials + per * (size_t)t + j * K, K);
    }
#pragma omp parallel for
    for (int64_t n = 0; n < N; n++) {
        for (int64_t j = 0; j < r; j++) {
            float acc = 0.0f;
            for (int t = 0; t < used; t++) acc += partials[per * (size_t)t + (size_t)(r * K) + j * N + n];
            dB[n * r + j] += s * acc;
        }
    }
    return COLA_OK;
}

}  // namespace

extern "C" {

int cola_lora_linear_forward(float* y, float* u, const float* x, const float* W, const float* b, const float* A,
                             const float* B, float s, float p, uint64_t seed, int64_t M, int64_t K, int64_t N,
                             int64_t r) {
    return lora_forward(y, u, x, BaseW{W, nullptr}, b, A, B, s, p, seed, M, K, N, r);
}

int cola_lora_linear_forward_bf16w(float* y, float* u, const float* x, const uint16_t* W, const float* b,
                                   const float* A, const float* B, float s, float p, uint64_t seed, int64_t M,
                                   int64_t K, int64_t N, int64_t r) {
    return lora_forward(y, u, x, BaseW{nullptr, W}, b, A, B, s, p, seed, M, K, N, r);
}

int cola_lora_linear_backward(float* dx, float* dW, float* db, float* dA, float* dB, float* v, const float* dy,
                              const float* x, const float* u, const float* W, const float* A, const float* B, float s,
                              float p, uint64_t seed, int64_t M, int64_t K, int64_t N, int64_t r) {
    return lora_backward(dx, dW, db, dA, dB, v, dy, x, u, BaseW{W, nullptr}, A, B, s, p, seed, M, K, N, r);
}

int cola_lora_linear_backward_bf16w(float* dx, float* dW, float* db, float* dA, float* dB, float* v,
                                    const float* dy, const float* x, const float* u, const uint16_t* W,
                                    const float* A, const float* B, float s, float p, uint64_t seed, int64_t M,
                                    int64_t K, int64_t N, int64_t r) {
    return lora_backward(dx, dW, db, dA, dB, v, dy, x, u, BaseW{nullptr, W}, A, B, s, p, seed, M, K, N, r);
}

}  // extern "C"
