// Inverted dropout with a regenerable mask (== native/src/dropout.cpp), n elements:
//   forward  out[i]   = keep(seed, i) ? inp[i]·scale : 0
//   backward dinp[i] += keep(seed, i) ? dout[i]·scale : 0,     scale = 1/(1-p) computed on the HOST (IEEE division;
//   the device's is approximate under --use_fast_math), keep = SplitMix64 counter hash (common.cuh == common.h),
// so masks are bit-identical to the CPU and to the fused LoRA kernels. p = 0: exact copy / accumulation.
// Parallel scheme: elementwise.cuh (grid-stride, float4 when aligned); out may alias inp.
#include "elementwise.cuh"

namespace colacu {
namespace {
struct DropFwd {
    static constexpr bool ACC = false;
    float p, scale;
    uint64_t seed;
    __device__ void apply(int64_t i, const float* x, float* y) const {
        y[0] = p == 0.0f ? x[0] : (dropout_keep(seed, (uint64_t)i, p) ? x[0] * scale : 0.0f);
    }
};
struct DropBwd {
    static constexpr bool ACC = true;
    float p, scale;
    uint64_t seed;
    __device__ void apply(int64_t i, const float* x, float* y) const {
        y[0] += p == 0.0f ? x[0] : (dropout_keep(seed, (uint64_t)i, p) ? x[0] * scale : 0.0f);
    }
};
}  // namespace
}  // namespace colacu

using namespace colacu;

extern "C" {
int cola_cuda_dropout_forward(float* out, const float* inp, int64_t n, float p, uint64_t seed, void* stream) {
    if (!(p >= 0.0f && p < 1.0f)) return kErrArg;
    return launch_ew(DropFwd{p, 1.0f / (1.0f - p), seed}, EwPtrs<1, 1>{{inp}, {out}}, n, stream);
}
int cola_cuda_dropout_backward(float* dinp, const float* dout, int64_t n, float p, uint64_t seed, void* stream) {
    if (!(p >= 0.0f && p < 1.0f)) return kErrArg;
    return launch_ew(DropBwd{p, 1.0f / (1.0f - p), seed}, EwPtrs<1, 1>{{dout}, {dinp}}, n, stream);
}
}
