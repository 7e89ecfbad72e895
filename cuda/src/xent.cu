// Fused softmax + cross-entropy, reduction 'none' (== native/src/xent.cpp). logits[N,V] (V up to 50k+), targets[N].
// Forward:  lse[n] = log Σ_v exp(x_v), losses[n] = lse - x[t] (0 for ignore_index rows; lse still written).
// Backward: dlogits[n,v] = dlosses[n]·(exp(x_v - lse) - [v == t]); ignored rows 0; OVERWRITES; may be in place.
// A target outside [0, V) that is not ignore_index poisons: loss = NaN, dlogits row = NaN (cola_cuda.h).
// Parallel scheme:
//  * forward: one 512-thread block per row, ONE pass over the row from memory with the online log-sum-exp recurrence
//    per thread ((m, s) ← (max, s·e^(m-max) + e^(x-max))), float4 loads when V % 4 == 0 and the row is aligned; the
//    (m, s) pairs are combined by warp shuffles then across warps in a fixed order (deterministic). The final
//    m + log(s) is taken in double. A NaN logit makes lse NaN, an all -inf row gives lse = -inf.
//  * backward: grid (row chunks of 4096 elements, N), element-wise, float4 when aligned; each element is read
//    before it is written by the same thread, so in-place is safe.
#include "common.cuh"

namespace colacu {
namespace {

constexpr int kFwdThreads = 512;
constexpr int kBwdChunk = 4096;

__device__ __forceinline__ void lse_push(float& m, float& s, float x) {
    if (x > m) {
        s = (m == -INFINITY ? 0.0f : s * expf(m - x)) + 1.0f;
        m = x;
    } else if (x == -INFINITY) {
        // contributes exp(-inf) = 0
    } else {
        s += expf(x - m);  // NaN x (x > m false) lands here and makes s NaN
    }
}
__device__ __forceinline__ void lse_merge(float& m, float& s, float mo, float so) {
    const float mm = fmaxf(m, mo);
    if (mm == -INFINITY) { s = s + so; return; }  // both empty (s, so are 0 or NaN)
    s = (m == -INFINITY ? 0.0f : s * expf(m - mm)) + (mo == -INFINITY ? 0.0f : so * expf(mo - mm));
    m = mm;
}

__global__ void __launch_bounds__(kFwdThreads) xent_fwd(float* losses, float* lse, const float* logits,
                                                        const int32_t* targets, int64_t V, int32_t ignore_index,
                                                        bool vec) {
    const int64_t n = blockIdx.x;
    const float* x = logits + n * V;
    float m = -INFINITY, s = 0.0f;
    if (vec) {
        const float4* x4 = reinterpret_cast<const float4*>(x);
        for (int64_t i = threadIdx.x; i < V / 4; i += blockDim.x) {
            const float4 v = x4[i];
            lse_push(m, s, v.x); lse_push(m, s, v.y); lse_push(m, s, v.z); lse_push(m, s, v.w);
        }
    } else {
        for (int64_t i = threadIdx.x; i < V; i += blockDim.x) lse_push(m, s, x[i]);
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float mo = __shfl_xor_sync(0xffffffffu, m, o), so = __shfl_xor_sync(0xffffffffu, s, o);
        lse_merge(m, s, mo, so);
    }
    __shared__ float shm[32], shs[32];
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    if (lane == 0) { shm[w] = m; shs[w] = s; }
    __syncthreads();
    if (threadIdx.x == 0) {
        float M = shm[0], S = shs[0];
        for (int k = 1; k < (int)(blockDim.x >> 5); k++) lse_merge(M, S, shm[k], shs[k]);
        const double l = (M == -INFINITY) ? (S != S ? (double)S : -INFINITY) : (double)M + log((double)S);
        lse[n] = (float)l;
        const int32_t t = targets[n];
        float loss;
        if (t == ignore_index) loss = 0.0f;
        else if (t < 0 || (int64_t)t >= V) loss = __int_as_float(0x7fc00000);
        else loss = (float)(l - (double)x[t]);
        losses[n] = loss;
    }
}

__global__ void xent_bwd(float* dlogits, const float* dlosses, const float* logits, const float* lse,
                         const int32_t* targets, int64_t V, int32_t ignore_index, bool vec) {
    const int64_t n = blockIdx.y;
    const int64_t v0 = (int64_t)blockIdx.x * kBwdChunk, v1 = min(V, v0 + kBwdChunk);
    const int32_t t = targets[n];
    float* d = dlogits + n * V;
    const float* x = logits + n * V;
    if (t == ignore_index || t < 0 || (int64_t)t >= V) {
        const float fill = t == ignore_index ? 0.0f : __int_as_float(0x7fc00000);
        for (int64_t i = v0 + threadIdx.x; i < v1; i += blockDim.x) d[i] = fill;
        return;
    }
    const float g = dlosses[n], l = lse[n];
    if (vec) {  // v0 is a multiple of 4096 and V % 4 == 0: whole float4s
        for (int64_t i = v0 / 4 + threadIdx.x; i < v1 / 4; i += blockDim.x) {
            float4 a = reinterpret_cast<const float4*>(x)[i];
            float4 o;
            o.x = g * (expf(a.x - l) - (i * 4 + 0 == t ? 1.0f : 0.0f));
            o.y = g * (expf(a.y - l) - (i * 4 + 1 == t ? 1.0f : 0.0f));
            o.z = g * (expf(a.z - l) - (i * 4 + 2 == t ? 1.0f : 0.0f));
            o.w = g * (expf(a.w - l) - (i * 4 + 3 == t ? 1.0f : 0.0f));
            reinterpret_cast<float4*>(d)[i] = o;
        }
    } else {
        for (int64_t i = v0 + threadIdx.x; i < v1; i += blockDim.x) d[i] = g * (expf(x[i] - l) - (i == t ? 1.0f : 0.0f));
    }
}

}  // namespace
}  // namespace colacu

using namespace colacu;

extern "C" {
int cola_cuda_softmax_xent_forward(float* losses, float* lse, const float* logits, const int32_t* targets, int64_t N,
                                   int64_t V, int32_t ignore_index, void* stream) {
    if (N < 0 || V <= 0) return N == 0 ? 0 : kErrArg;
    if (N == 0) return 0;
    if (N > 0x7fffffff) return kErrArg;
    const bool vec = V % 4 == 0 && aligned16(logits);
    xent_fwd<<<(unsigned)N, kFwdThreads, 0, as_stream(stream)>>>(losses, lse, logits, targets, V, ignore_index, vec);
    return launch_status();
}
int cola_cuda_softmax_xent_backward(float* dlogits, const float* dlosses, const float* logits, const float* lse,
                                    const int32_t* targets, int64_t N, int64_t V, int32_t ignore_index,
                                    void* stream) {
    if (N < 0 || V <= 0) return N == 0 ? 0 : kErrArg;
    if (N == 0) return 0;
    if (N > 65535) {  // grid.y limit: split the rows
        for (int64_t n0 = 0; n0 < N; n0 += 65535) {
            const int64_t nn = N - n0 < 65535 ? N - n0 : 65535;
            int e = cola_cuda_softmax_xent_backward(dlogits + n0 * V, dlosses + n0, logits + n0 * V, lse + n0,
                                                    targets + n0, nn, V, ignore_index, stream);
            if (e) return e;
        }
        return 0;
    }
    const bool vec = V % 4 == 0 && aligned16(logits) && aligned16(dlogits);
    dim3 grid((unsigned)((V + kBwdChunk - 1) / kBwdChunk), (unsigned)N);
    xent_bwd<<<grid, 256, 0, as_stream(stream)>>>(dlogits, dlosses, logits, lse, targets, V, ignore_index, vec);
    return launch_status();
}
}
