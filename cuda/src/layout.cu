// Column-block copy (== cola_copy_cols, native/src/layout.cpp): dst[i, 0:cols] (=|+=) src[i, 0:cols] for i < rows,
// row strides ldd / lds in elements. It splits a fused projection's output (GPT-2's c_attn → q, k, v) and, with
// accumulate, joins their gradients. Memory-bound: one thread per element over a grid-stride loop on the flat index
// of the [rows, cols] block; every element has exactly one writer, so accumulate needs no atomics (deterministic,
// bit-identical to the CPU: one float add per element).
#include "common.cuh"

namespace colacu {
namespace {

__global__ void __launch_bounds__(256) copy_cols_kernel(float* __restrict__ dst, int64_t ldd,
                                                         const float* __restrict__ src, int64_t lds, int64_t rows,
                                                         int64_t cols, int accumulate) {
    const int64_t n = rows * cols;
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const int64_t r = i / cols, c = i - r * cols;
        const float v = src[r * lds + c];
        float* d = dst + r * ldd + c;
        *d = accumulate ? *d + v : v;
    }
}

}  // namespace
}  // namespace colacu

extern "C" int cola_cuda_copy_cols(float* dst, int64_t ldd, const float* src, int64_t lds, int64_t rows,
                                   int64_t cols, int accumulate, void* stream) {
    using namespace colacu;
    if (rows < 0 || cols < 0 || ldd < cols || lds < cols) return kErrArg;
    if (rows == 0 || cols == 0) return 0;
    if (!dst || !src) return kErrArg;
    copy_cols_kernel<<<grid_for(rows * cols, 256), 256, 0, as_stream(stream)>>>(dst, ldd, src, lds, rows, cols,
                                                                                accumulate);
    return launch_status();
}
