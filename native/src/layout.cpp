// Strided column-block copies: the split of a fused projection (GPT-2 c_attn [.., 3C] → q, k, v [.., C]) and the
// gradient join in backward. One read and one write pass; rows split across threads.
#include <omp.h>
#include "common.h"

namespace {
COLA_DISPATCH void copy_rows(float* dst, int64_t ldd, const float* src, int64_t lds, int64_t r0, int64_t r1,
                             int64_t cols, int accumulate) {
    for (int64_t r = r0; r < r1; r++) {
        float* d = dst + r * ldd;
        const float* s = src + r * lds;
        if (accumulate) {
#pragma omp simd
            for (int64_t c = 0; c < cols; c++) d[c] += s[c];
        } else {
            for (int64_t c = 0; c < cols; c++) d[c] = s[c];
        }
    }
}
}  // namespace

extern "C" int cola_copy_cols(float* dst, int64_t ldd, const float* src, int64_t lds, int64_t rows, int64_t cols,
                              int accumulate) {
    if (rows < 0 || cols < 0 || ldd < cols || lds < cols) return COLA_ERR_ARG;
#pragma omp parallel
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        copy_rows(dst, ldd, src, lds, rows * t / nt, rows * (t + 1) / nt, cols, accumulate);
    }
    return COLA_OK;
}
