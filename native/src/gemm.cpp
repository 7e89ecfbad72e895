// GEMMs go to oneDNN's dnnl_sgemm (row-major BLAS-like entry point; JIT kernels for AVX-512/AMX, OpenMP threading
// shared with our kernels, so no second thread pool competes for the two cores). Why oneDNN and not OpenBLAS:
// bench/RESULTS.md (GemmBench).
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include "common.h"

extern "C" {

int cola_gemm_f32(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                  const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
    if (M < 0 || N < 0 || K < 0) return COLA_ERR_ARG;
    if (M == 0 || N == 0) return COLA_OK;
    if (K == 0) {  // C = beta·C (oneDNN rejects K = 0)
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
        return COLA_OK;
    }
    dnnl_status_t st = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C,
                                  ldc);
    return st == dnnl_success ? COLA_OK : COLA_ERR_GEMM;
}

int cola_gemm_batched_f32(int64_t batch, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                          const float* A, int64_t lda, int64_t sA, const float* B, int64_t ldb, int64_t sB, float beta,
                          float* C, int64_t ldc, int64_t sC) {
    if (batch < 0) return COLA_ERR_ARG;
    // Small per-head problems: one problem per thread (oneDNN runs single-threaded inside a parallel region).
    int status = COLA_OK;
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t b = 0; b < batch; b++) {
        int st = cola_gemm_f32(trans_a, trans_b, M, N, K, alpha, A + b * sA, lda, B + b * sB, ldb, beta, C + b * sC,
                               ldc);
        if (st != COLA_OK) {
#pragma omp atomic write
            status = st;
        }
    }
    return status;
}

}  // extern "C"
