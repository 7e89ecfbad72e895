// Linear layer y = x·Wᵀ + b on top of the GEMM library. CPU reference: tests/java/cola/ops/Reference#matmul.
#include <omp.h>
#include "common.h"

namespace {

// out[m, :] = bias for every row (so the GEMM can run with beta = 1 and the bias costs no extra pass after it).
COLA_DISPATCH void broadcast_rows(float* out, const float* bias, int64_t rows, int64_t N) {
    for (int64_t m = 0; m < rows; m++) std::memcpy(out + m * N, bias, sizeof(float) * N);
}

COLA_DISPATCH void add_column_sums(float* dbias, const float* dout, int64_t M, int64_t N, int64_t n0, int64_t n1) {
    for (int64_t m = 0; m < M; m++) {
        const float* row = dout + m * N;
        for (int64_t n = n0; n < n1; n++) dbias[n] += row[n];
    }
}

// out[m, :] = bias for every row, split across threads; returns the GEMM's beta (1 with a bias, 0 without), so the
// bias costs no extra pass after the GEMM.
float prefill_bias(float* out, const float* bias, int64_t M, int64_t N) {
    if (!bias) return 0.0f;
#pragma omp parallel
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int64_t m0 = M * t / nt, m1 = M * (t + 1) / nt;
        broadcast_rows(out + m0 * N, bias, m1 - m0, N);
    }
    return 1.0f;
}

// dbias[n] += Σ_m dout[m, n]. Columns split across threads: each dbias[n] has one owner, so the sum is deterministic.
void bias_gradient(float* dbias, const float* dout, int64_t M, int64_t N) {
#pragma omp parallel
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        add_column_sums(dbias, dout, M, N, N * t / nt, N * (t + 1) / nt);
    }
}

}  // namespace

extern "C" {

int cola_matmul_forward(float* out, const float* inp, const float* weight, const float* bias, int64_t M, int64_t K,
                        int64_t N) {
    if (M < 0 || K < 0 || N < 0) return COLA_ERR_ARG;
    return cola_gemm_f32(0, 1, M, N, K, 1.0f, inp, K, weight, K, prefill_bias(out, bias, M, N), out, N);
}

int cola_matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                         const float* weight, int64_t M, int64_t K, int64_t N) {
    if (M < 0 || K < 0 || N < 0) return COLA_ERR_ARG;
    int st = COLA_OK;
    if (dinp) st = cola_gemm_f32(0, 0, M, K, N, 1.0f, dout, N, weight, K, 1.0f, dinp, K);  // [M,N]·[N,K]
    if (st == COLA_OK && dweight) st = cola_gemm_f32(1, 0, N, K, M, 1.0f, dout, N, inp, K, 1.0f, dweight, K);
    if (st == COLA_OK && dbias) bias_gradient(dbias, dout, M, N);
    return st;
}

}  // extern "C"

// ------------------------------------------------------------------ bf16 weights
// The frozen weight stays in the checkpoint's bf16; the activation operand is rounded to bf16 (nearest even) into a
// per-thread scratch and the GEMM accumulates in fp32 (oneDNN matmul: AMX / AVX512_BF16). This is what PyTorch's
// CPU autocast does to a Linear; everything else around it (bias, LoRA path, norms, loss) stays fp32.
#include <vector>

namespace {

thread_local std::vector<uint16_t> tl_act16;   // [M,K] or [M,N] activations rounded to bf16
thread_local std::vector<uint16_t> tl_act16b;  // a second operand (dweight's input) when both are needed

const uint16_t* to_bf16(std::vector<uint16_t>& buf, const float* x, int64_t n, int* st) {
    if (buf.size() < (size_t)n) buf.resize((size_t)n);
    *st = cola_f32_to_bf16(buf.data(), x, n);
    return buf.data();
}

}  // namespace

extern "C" {

int cola_matmul_bf16w_forward(float* out, const float* inp, const uint16_t* weight, const float* bias, int64_t M,
                              int64_t K, int64_t N) {
    if (M < 0 || K < 0 || N < 0) return COLA_ERR_ARG;
    if (M == 0 || N == 0) return COLA_OK;
    int st = COLA_OK;
    const uint16_t* x16 = to_bf16(tl_act16, inp, M * K, &st);
    if (st != COLA_OK) return st;
    return cola_gemm_bf16(0, 1, M, N, K, x16, K, weight, K, prefill_bias(out, bias, M, N), out, N);
}

int cola_matmul_bf16w_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                               const uint16_t* weight, int64_t M, int64_t K, int64_t N) {
    if (M < 0 || K < 0 || N < 0) return COLA_ERR_ARG;
    if (M == 0 || N == 0) return COLA_OK;
    int st = COLA_OK;
    const uint16_t* dy16 = (dinp || dweight) ? to_bf16(tl_act16, dout, M * N, &st) : nullptr;
    if (st == COLA_OK && dinp) st = cola_gemm_bf16(0, 0, M, K, N, dy16, N, weight, K, 1.0f, dinp, K);  // [M,N]·[N,K]
    if (st == COLA_OK && dweight) {
        const uint16_t* x16 = to_bf16(tl_act16b, inp, M * K, &st);
        if (st == COLA_OK) st = cola_gemm_bf16(1, 0, N, K, M, dy16, N, x16, K, 1.0f, dweight, K);  // [N,M]·[M,K]
    }
    if (st == COLA_OK && dbias) bias_gradient(dbias, dout, M, N);
    return st;
}

}  // extern "C"
