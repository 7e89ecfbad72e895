/* Minimal stand-in for oneDNN's C API, ONLY for cuda/run-gpu-checks.sh on a GPU machine without the real oneDNN: the
 * two entry points libcola_cpu uses (dnnl_sgemm, dnnl_version). Naive but correct; the parity runner only needs a
 * correct CPU reference, not a fast one. */
#ifndef COLA_DNNL_SHIM_H
#define COLA_DNNL_SHIM_H
#include <stdint.h>
#include "oneapi/dnnl/dnnl_version.h"
#ifdef __cplusplus
extern "C" {
#endif
typedef int64_t dnnl_dim_t;
typedef enum { dnnl_success = 0, dnnl_invalid_arguments = 2 } dnnl_status_t;
typedef struct { int major, minor, patch; const char* hash; unsigned cpu_runtime, gpu_runtime; } dnnl_version_t;
dnnl_status_t dnnl_sgemm(char transa, char transb, dnnl_dim_t M, dnnl_dim_t N, dnnl_dim_t K, float alpha,
                         const float* A, dnnl_dim_t lda, const float* B, dnnl_dim_t ldb, float beta, float* C,
                         dnnl_dim_t ldc);
const dnnl_version_t* dnnl_version(void);
#ifdef __cplusplus
}
#endif
#endif
