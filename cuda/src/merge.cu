// Tie a COLA knot on the GPU (== native/src/merge.cpp):  W[N,K] += delta,  delta[n,k] = s·Σ_j B[n,j]·A[j,k]
// (A[r,K], B[N,r]), the inner sum in f32 in ascending j (fma), then ·s, then added to W (f32) or to f32(W) and
// rounded to bf16 (rounding 0: RNE; 1: stochastic with the top 16 bits of rng_bits(seed, n·K+k), as the CPU).
// The product s·acc and the add are explicit __fmul_rn/__fadd_rn (never contracted to an fma).
//
// Refusal (same rule as the CPU): s finite (host), A and B finite, P = max_n Σ_j|B[n,j]| · max|A| ≤ 1e37 and |s|·P ≤
// 1e30. Decided ON THE DEVICE, so W is untouched whatever the host does:
//   1. check kernel: grid-stride over A (max|a|, finiteness) and over the rows of B (row L1 in double) → scratch
//      {max|A| as float bits, max L1 as double bits (atomicMax on the bit patterns of non-negative values: exact and
//      order-independent), non-finite flag};
//   2. write kernel: every block evaluates the verdict from the scratch first and exits if refused.
// Then the host syncs the stream once to return the verdict and the bf16 lost-update count (the only syncing ops).
//
// Write kernel tiling: block = 128 threads = 128 consecutive columns × 32 rows of W; A[j-chunk of 64, 128 cols] and
// B[32 rows, 64] are staged in shared memory (40 KiB); each thread keeps its 32 row accumulators in registers, so W is
// read and written exactly once (coalesced 512-byte rows per warp) and A is re-read from L2 once per 32 rows of W:
// bandwidth-bound on W for small r, like the CPU's register-tiled kernel. Lost-update counts: block sum → one
// integer atomicAdd per block (integer: deterministic).
#include <cstring>
#include "common.cuh"

namespace colacu {
namespace {

constexpr int kCols = 128, kRows = 32, kJ = 64;

struct MergeScratch {
    unsigned int max_a_bits;
    int bad;
    unsigned long long max_b_bits;
    unsigned long long lost;
};

__host__ __device__ inline bool verdict_ok(const MergeScratch& m, float s) {
    if (m.bad) return false;
    float ma;
    double mb;
#ifdef __CUDA_ARCH__
    ma = __uint_as_float(m.max_a_bits);
    mb = __longlong_as_double((long long)m.max_b_bits);
#else
    memcpy(&ma, &m.max_a_bits, 4);
    memcpy(&mb, &m.max_b_bits, 8);
#endif
    const double unscaled = mb * (double)ma;
    return unscaled <= 1e37 && fabs((double)s) * unscaled <= 1e30;
}

__global__ void merge_check(MergeScratch* sc, const float* A, const float* B, int64_t N, int64_t K, int64_t r) {
    const int64_t tid = (int64_t)blockIdx.x * blockDim.x + threadIdx.x, stride = (int64_t)gridDim.x * blockDim.x;
    float ma = 0.0f;
    int bad = 0;
    for (int64_t i = tid; i < r * K; i += stride) {
        const float a = A[i];
        bad |= !isfinite(a);
        ma = fmaxf(ma, fabsf(a));
    }
    double mb = 0.0;
    for (int64_t n = tid; n < N; n += stride) {
        double l1 = 0.0;
        for (int64_t j = 0; j < r; j++) {
            const float b = B[n * r + j];
            bad |= !isfinite(b);
            l1 += fabs((double)b);
        }
        mb = fmax(mb, l1);
    }
    ma = warp_max(ma);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) mb = fmax(mb, __shfl_xor_sync(0xffffffffu, mb, o));
    bad = __any_sync(0xffffffffu, bad);
    if ((threadIdx.x & 31) == 0) {
        atomicMax(&sc->max_a_bits, __float_as_uint(ma));
        atomicMax(&sc->max_b_bits, (unsigned long long)__double_as_longlong(mb));
        if (bad) atomicOr(&sc->bad, 1);
    }
}

template <bool BF16>
__global__ void __launch_bounds__(kCols) merge_write(void* Wv, const float* A, const float* B, float s, int64_t N,
                                                     int64_t K, int64_t r, int rounding, uint64_t seed,
                                                     MergeScratch* sc) {
    __shared__ float As[kJ][kCols];
    __shared__ float Bs[kRows][kJ];
    __shared__ int ok;
    if (threadIdx.x == 0) ok = verdict_ok(*sc, s);
    __syncthreads();
    if (!ok) return;
    const int64_t n0 = (int64_t)blockIdx.y * kRows;
    const int64_t k = (int64_t)blockIdx.x * kCols + threadIdx.x;
    float acc[kRows];
#pragma unroll
    for (int rr = 0; rr < kRows; rr++) acc[rr] = 0.0f;
    for (int64_t j0 = 0; j0 < r; j0 += kJ) {
        const int jn = (int)min((int64_t)kJ, r - j0);
        for (int jj = 0; jj < jn; jj++) As[jj][threadIdx.x] = k < K ? A[(j0 + jj) * K + k] : 0.0f;
        for (int idx = threadIdx.x; idx < kRows * kJ; idx += kCols) {
            const int rr = idx / kJ, jj = idx % kJ;
            const int64_t n = n0 + rr;
            Bs[rr][jj] = (n < N && jj < jn) ? B[n * r + j0 + jj] : 0.0f;
        }
        __syncthreads();
        for (int jj = 0; jj < jn; jj++) {
            const float a = As[jj][threadIdx.x];
#pragma unroll
            for (int rr = 0; rr < kRows; rr++) acc[rr] = fmaf(Bs[rr][jj], a, acc[rr]);
        }
        __syncthreads();
    }
    unsigned long long lost = 0;
    if (k < K) {
#pragma unroll
        for (int rr = 0; rr < kRows; rr++) {
            const int64_t n = n0 + rr;
            if (n >= N) break;
            const float d = __fmul_rn(s, acc[rr]);
            if (BF16) {
                uint16_t* w = (uint16_t*)Wv + n * K + k;
                const uint16_t old = *w;
                const float x = __fadd_rn(bf16_to_f32(old), d);
                const uint16_t nw = rounding ? f32_to_bf16_stochastic(x, (uint32_t)(rng_bits(seed, (uint64_t)(n * K + k)) >> 48))
                                             : f32_to_bf16_rne(x);
                *w = nw;
                lost += (d != 0.0f) & (nw == old);
            } else {
                float* w = (float*)Wv + n * K + k;
                *w = __fadd_rn(*w, d);
            }
        }
    }
    if (BF16) {
        lost = block_sum(lost);
        if (threadIdx.x == 0 && lost) atomicAdd(&sc->lost, lost);
    }
}

int merge(void* W, bool bf16, const float* A, const float* B, float s, int64_t N, int64_t K, int64_t r, int rounding,
          uint64_t seed, int64_t* unchanged, void* stream) {
    if (N < 0 || K < 0 || r < 0 || (rounding != 0 && rounding != 1)) return kErrArg;
    if (unchanged) *unchanged = 0;
    if (N * K == 0 || r == 0) return std::isfinite(s) ? 0 : kErrNonFinite;
    if (!W || !A || !B || (N + kRows - 1) / kRows > 65535) return kErrArg;
    if (!std::isfinite(s)) return kErrNonFinite;
    cudaStream_t st = as_stream(stream);
    Scratch sc(st);
    int e = sc.alloc(sizeof(MergeScratch));
    if (e) return e;
    MergeScratch* d = sc.as<MergeScratch>();
    cudaMemsetAsync(d, 0, sizeof(MergeScratch), st);
    merge_check<<<grid_for(r * K > N ? r * K : N, 256, 264), 256, 0, st>>>(d, A, B, N, K, r);
    dim3 grid((unsigned)((K + kCols - 1) / kCols), (unsigned)((N + kRows - 1) / kRows));
    if (bf16) merge_write<true><<<grid, kCols, 0, st>>>(W, A, B, s, N, K, r, rounding, seed, d);
    else merge_write<false><<<grid, kCols, 0, st>>>(W, A, B, s, N, K, r, rounding, seed, d);
    e = launch_status();
    if (e) return e;
    MergeScratch h;
    e = (int)cudaMemcpyAsync(&h, d, sizeof h, cudaMemcpyDeviceToHost, st);
    if (!e) e = (int)cudaStreamSynchronize(st);
    if (e) return e;
    if (!verdict_ok(h, s)) return kErrNonFinite;
    if (unchanged) *unchanged = (int64_t)h.lost;
    return 0;
}

}  // namespace
}  // namespace colacu

extern "C" {
int cola_cuda_merge_f32(float* W, const float* A, const float* B, float s, int64_t N, int64_t K, int64_t r,
                        void* stream) {
    return colacu::merge(W, false, A, B, s, N, K, r, 0, 0, nullptr, stream);
}
int cola_cuda_merge_bf16(uint16_t* W, const float* A, const float* B, float s, int64_t N, int64_t K, int64_t r,
                         int rounding, uint64_t seed, int64_t* unchanged, void* stream) {
    return colacu::merge(W, true, A, B, s, N, K, r, rounding, seed, unchanged, stream);
}
}
