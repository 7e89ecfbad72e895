// Private helpers shared by the CUDA kernels: error/launch conventions, the counter-based RNG and bf16 rounding
// (bit-identical ports of native/src/common.h), grid sizing, warp/block reductions, stream-ordered scratch.
//
// Note on --use_fast_math (CMakeLists.txt compiles libcola_cuda with it): it makes float division, sqrtf and expf
// approximate and flushes float denormals. Everything that must match the CPU bit for bit is written so that it
// does not depend on it: the RNG and conversions are integer code, 1/(1-p) and other scalars are computed on the
// host, AdamW uses __fsqrt_rn/__fdiv_rn, row statistics of the norms and RoPE angles are in double (unaffected).
#pragma once
#include <cuda_runtime.h>
#include <cstdint>
#include <cmath>
#include "cola_cuda.h"

namespace colacu {

constexpr int kErrArg = COLA_CUDA_ERR_ARG;
constexpr int kErrNonFinite = COLA_CUDA_ERR_NONFINITE;

inline cudaStream_t as_stream(void* s) { return (cudaStream_t)s; }
// Status after a launch: configuration/launch errors, as cudaError_t.
inline int launch_status() { return (int)cudaGetLastError(); }

// Blocks for a grid-stride loop over n items: enough to fill an H100/H200 several times, never more than needed.
inline unsigned grid_for(int64_t n, int threads, int64_t cap = 132 * 16) {
    int64_t b = (n + threads - 1) / threads;
    if (b < 1) b = 1;
    if (b > cap) b = cap;
    return (unsigned)b;
}

// ------------------------------------------------------------------ RNG (== native/src/common.h)
__host__ __device__ __forceinline__ uint64_t mix64(uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
__host__ __device__ __forceinline__ uint64_t rng_bits(uint64_t seed, uint64_t index) {
    return mix64(seed ^ mix64(index));
}
// 24-bit integer → float is exact and the scale is a power of two: identical bits on host and device.
__host__ __device__ __forceinline__ float rng_uniform(uint64_t seed, uint64_t index) {
    return (float)(rng_bits(seed, index) >> 40) * (1.0f / 16777216.0f);
}
__host__ __device__ __forceinline__ bool dropout_keep(uint64_t seed, uint64_t index, float p) {
    return rng_uniform(seed, index) >= p;
}

// ------------------------------------------------------------------ bf16 / f16 bits (== native/src)
__device__ __forceinline__ float bf16_to_f32(uint16_t h) { return __uint_as_float((uint32_t)h << 16); }
__device__ __forceinline__ uint16_t f32_to_bf16_rne(float f) {
    uint32_t u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}
__device__ __forceinline__ uint16_t f32_to_bf16_stochastic(float f, uint32_t rand16) {
    uint32_t u = __float_as_uint(f);
    if ((u & 0x7fffffffu) >= 0x7f800000u) return f32_to_bf16_rne(f);
    u += (rand16 & 0xffffu);
    return (uint16_t)(u >> 16);
}

// ------------------------------------------------------------------ reductions
template <class T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
// Sum over the block (blockDim.x a multiple of 32, ≤ 1024); every thread gets the result. Fixed shape: deterministic.
template <class T>
__device__ T block_sum(T v) {
    __shared__ T sh[32];
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();  // sh may still be read by a previous call
    if (lane == 0) sh[w] = v;
    __syncthreads();
    T t = lane < nw ? sh[lane] : T(0);
    return warp_sum(t);
}

// ------------------------------------------------------------------ stream-ordered scratch
// cudaMallocAsync on the caller's stream: ordered with the kernels that use it, no device-wide sync, re-entrant.
struct Scratch {
    void* p = nullptr;
    cudaStream_t s;
    explicit Scratch(cudaStream_t st) : s(st) {}
    int alloc(size_t bytes) { return (int)cudaMallocAsync(&p, bytes ? bytes : 16, s); }
    ~Scratch() { if (p) cudaFreeAsync(p, s); }
    template <class T> T* as() const { return (T*)p; }
};

inline bool aligned16(const void* p) { return ((uintptr_t)p & 15u) == 0; }

}  // namespace colacu
