// Naive row-major sgemm standing in for libdnnl.so.3 (see include/oneapi/dnnl/dnnl.h). OpenMP over rows of C.
#include "oneapi/dnnl/dnnl.h"

extern "C" {
dnnl_status_t dnnl_sgemm(char ta, char tb, dnnl_dim_t M, dnnl_dim_t N, dnnl_dim_t K, float alpha, const float* A,
                         dnnl_dim_t lda, const float* B, dnnl_dim_t ldb, float beta, float* C, dnnl_dim_t ldc) {
    const bool tA = ta == 'T' || ta == 't', tB = tb == 'T' || tb == 't';
#pragma omp parallel for schedule(static)
    for (dnnl_dim_t i = 0; i < M; i++) {
        for (dnnl_dim_t j = 0; j < N; j++) {
            double acc = 0.0;
            for (dnnl_dim_t k = 0; k < K; k++) {
                const float a = tA ? A[k * lda + i] : A[i * lda + k];
                const float b = tB ? B[j * ldb + k] : B[k * ldb + j];
                acc += (double)a * (double)b;
            }
            float& c = C[i * ldc + j];
            c = (float)(alpha * acc + (beta == 0.0f ? 0.0 : (double)beta * c));
        }
    }
    return dnnl_success;
}
const dnnl_version_t* dnnl_version(void) {
    static const dnnl_version_t v = {0, 0, 0, "cola-shim", 0, 0};
    return &v;
}
}
