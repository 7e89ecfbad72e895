// LoRA adapter kernels (the adapter half of native/src/lora.cpp; the base GEMMs x·Wᵀ, dy·W, dyᵀ·x are cuBLAS on the
// Java side). Shapes: x[M,K], A[r,K], B[N,r], u[M,r], y/dy[M,N], v[M,r]; s = α/r; dropout keep(seed, m·K+k) as CPU.
//
//  forward : u = drop(x)·Aᵀ (SHRINK), y += s·u·Bᵀ (EXPAND)
//  backward: v = dy·B (SHRINK of dy with B read transposed), dx += s·drop'(v·A) (EXPAND with A read transposed and
//            the dropout mask on the output), dA += s·vᵀ·drop(x) and dB += s·dyᵀ·u (OUTER reductions over M).
//
// Kernels (all fp32, CUDA cores: r ≤ 64 makes these bandwidth-bound on x / y, tensor cores would not help):
//  * shrink<RMAX, RPW>: out[m, j] = Σ_k X'[m,k]·A(j,k), A(j,k) = A[j·saj + k·sak] (any layout). 256 threads = 8 warps,
//    each warp owns RPW rows (8·RPW rows per block); K is walked in chunks of 128 staged in shared memory as
//    As[j][128] (≤ 32 KiB, conflict-free); lane l handles k = l, l+32, l+64, l+96 of the chunk and keeps RPW·RMAX
//    partial dots in registers (RPW·RMAX = 64), reduced by warp shuffles at the end. X is read exactly once,
//    coalesced; dropout (keep, 1/(1-p)) is applied on the fly. r > 64 runs in chunks of 64 outputs.
//  * expand<TM>: Y[m, n] += s·mask(m,n)·Σ_j U[m,j]·B(n,j), B(n,j) = B[n·sbn + j·sbj]. Block = 128 columns × TM = 16
//    rows; B's [64 j, 128 n] chunk (padded against bank conflicts) and U's [16, 64] tile in shared memory; each thread
//    holds 16 row accumulators. Y is read and written once (coalesced): bandwidth-bound, as the op must be.
//  * outer<RMAX>: out(j, c) += s·Σ_m P[m,j]·X'[m,c], out(j,c) = out[j·soj + c·soc] (dA: [r,K]; dB: [N,r] i.e.
//    transposed). DETERMINISTIC two-stage: stage 1, block (128 columns, chunk of 64 rows) keeps RMAX accumulators per
//    thread with P's rows staged in shared memory, writes partial[chunk][j][c]; stage 2 adds the chunks in order
//    (scratch from cudaMallocAsync). No atomics.
//  * SGMV (multi-adapter): shrink/expand take seg_starts[S+1] and device pointer arrays; grid dimension z (y for
//    shrink) is the segment; a block only touches the rows of its tile inside its segment (empty blocks exit at once).
#include "common.cuh"

namespace colacu {
namespace {

constexpr int kShrinkChunk = 128;
constexpr int kJChunk = 64;

struct Seg {  // single adapter (seg == nullptr) or segmented
    const int64_t* seg;
    const float* const* ptrs;
    const float* scales;
};

template <int RMAX, int RPW>
__global__ void __launch_bounds__(256) shrink_kernel(float* out, int64_t ldo, const float* X, const float* A0,
                                                     int64_t aoff, int64_t saj, int64_t sak, Seg sg, int64_t M,
                                                     int64_t K, int r, float p, float pscale, uint64_t seed) {
    __shared__ float As[RMAX][kShrinkChunk];
    constexpr int ROWS = 8 * RPW;
    const int64_t mb = (int64_t)blockIdx.x * ROWS;
    int64_t lo = 0, hi = M;
    const float* A = A0;
    if (sg.seg) {
        lo = sg.seg[blockIdx.y];
        hi = sg.seg[blockIdx.y + 1];
        A = sg.ptrs[blockIdx.y];
    }
    if (mb + ROWS <= lo || mb >= hi) return;
    A += aoff;
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    float acc[RPW][RMAX];
#pragma unroll
    for (int i = 0; i < RPW; i++)
#pragma unroll
        for (int j = 0; j < RMAX; j++) acc[i][j] = 0.0f;
    for (int64_t k0 = 0; k0 < K; k0 += kShrinkChunk) {
        for (int idx = threadIdx.x; idx < r * kShrinkChunk; idx += blockDim.x) {
            const int j = idx / kShrinkChunk, kk = idx % kShrinkChunk;
            const int64_t k = k0 + kk;
            As[j][kk] = k < K ? A[j * saj + k * sak] : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int i = 0; i < RPW; i++) {
            const int64_t m = mb + w * RPW + i;
            if (m < lo || m >= hi) continue;
#pragma unroll
            for (int t = 0; t < kShrinkChunk / 32; t++) {
                const int kk = lane + 32 * t;
                const int64_t k = k0 + kk;
                float xv = k < K ? X[m * K + k] : 0.0f;
                if (p > 0.0f) xv = dropout_keep(seed, (uint64_t)(m * K + k), p) ? xv * pscale : 0.0f;
#pragma unroll
                for (int j = 0; j < RMAX; j++)
                    if (j < r) acc[i][j] = fmaf(xv, As[j][kk], acc[i][j]);
            }
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < RPW; i++) {
        const int64_t m = mb + w * RPW + i;
        const bool valid = m >= lo && m < hi;
#pragma unroll
        for (int j = 0; j < RMAX; j++) {
            if (j >= r) break;
            const float v = warp_sum(acc[i][j]);
            if (valid && lane == 0) out[m * ldo + j] = v;
        }
    }
}

constexpr int kExpandCols = 128, kExpandRows = 16;

__global__ void __launch_bounds__(kExpandCols) expand_kernel(float* Y, const float* U, const float* B0, int64_t sbn,
                                                             int64_t sbj, Seg sg, float s0, int64_t M, int64_t Ncols,
                                                             int64_t r, float p, float pscale, uint64_t seed) {
    __shared__ float Bs[kJChunk][kExpandCols + 1];
    __shared__ float Us[kExpandRows][kJChunk];
    const int64_t mb = (int64_t)blockIdx.y * kExpandRows;
    int64_t lo = 0, hi = M;
    const float* B = B0;
    float s = s0;
    if (sg.seg) {
        lo = sg.seg[blockIdx.z];
        hi = sg.seg[blockIdx.z + 1];
        B = sg.ptrs[blockIdx.z];
        s = sg.scales[blockIdx.z];
    }
    if (mb + kExpandRows <= lo || mb >= hi) return;
    const int64_t nb = (int64_t)blockIdx.x * kExpandCols, n = nb + threadIdx.x;
    float acc[kExpandRows];
#pragma unroll
    for (int rr = 0; rr < kExpandRows; rr++) acc[rr] = 0.0f;
    for (int64_t j0 = 0; j0 < r; j0 += kJChunk) {
        const int jn = (int)min((int64_t)kJChunk, r - j0);
        for (int idx = threadIdx.x; idx < kJChunk * kExpandCols; idx += blockDim.x) {
            int jj, c;
            if (sbj == 1) { jj = idx % kJChunk; c = idx / kJChunk; }  // contiguous along j: read along j
            else { c = idx % kExpandCols; jj = idx / kExpandCols; }
            const int64_t nn = nb + c;
            Bs[jj][c] = (jj < jn && nn < Ncols) ? B[nn * sbn + (j0 + jj) * sbj] : 0.0f;
        }
        for (int idx = threadIdx.x; idx < kExpandRows * kJChunk; idx += blockDim.x) {
            const int rr = idx / kJChunk, jj = idx % kJChunk;
            const int64_t m = mb + rr;
            Us[rr][jj] = (jj < jn && m >= lo && m < hi) ? U[m * r + j0 + jj] : 0.0f;
        }
        __syncthreads();
        for (int jj = 0; jj < jn; jj++) {
            const float b = Bs[jj][threadIdx.x];
#pragma unroll
            for (int rr = 0; rr < kExpandRows; rr++) acc[rr] = fmaf(Us[rr][jj], b, acc[rr]);
        }
        __syncthreads();
    }
    if (n >= Ncols) return;
#pragma unroll
    for (int rr = 0; rr < kExpandRows; rr++) {
        const int64_t m = mb + rr;
        if (m < lo || m >= hi) continue;
        float val = s * acc[rr];
        if (p > 0.0f) val = dropout_keep(seed, (uint64_t)(m * Ncols + n), p) ? val * pscale : 0.0f;
        Y[m * Ncols + n] += val;
    }
}

constexpr int kOuterCols = 128, kOuterRows = 64;

// Stage 1: partial[chunk][j][c] = Σ_{m in chunk} P[m, j0+j]·X'[m, c] for j < rn (P row stride ldp).
template <int RMAX>
__global__ void __launch_bounds__(kOuterCols) outer_partial(float* partial, const float* P, int64_t ldp,
                                                            const float* X, int64_t M, int64_t C, int rn, float p,
                                                            float pscale, uint64_t seed) {
    __shared__ float Ps[kOuterRows][RMAX];
    const int64_t c = (int64_t)blockIdx.x * kOuterCols + threadIdx.x;
    const int64_t m0 = (int64_t)blockIdx.y * kOuterRows, m1 = min(M, m0 + kOuterRows);
    for (int idx = threadIdx.x; idx < kOuterRows * RMAX; idx += blockDim.x) {
        const int rr = idx / RMAX, j = idx % RMAX;
        Ps[rr][j] = (m0 + rr < m1 && j < rn) ? P[(m0 + rr) * ldp + j] : 0.0f;
    }
    __syncthreads();
    float acc[RMAX];
#pragma unroll
    for (int j = 0; j < RMAX; j++) acc[j] = 0.0f;
    if (c < C) {
        for (int64_t m = m0; m < m1; m++) {
            float xv = X[m * C + c];
            if (p > 0.0f) xv = dropout_keep(seed, (uint64_t)(m * C + c), p) ? xv * pscale : 0.0f;
            const int rr = (int)(m - m0);
#pragma unroll
            for (int j = 0; j < RMAX; j++) acc[j] = fmaf(Ps[rr][j], xv, acc[j]);
        }
        float* dst = partial + (int64_t)blockIdx.y * rn * C;
#pragma unroll
        for (int j = 0; j < RMAX; j++)
            if (j < rn) dst[(int64_t)j * C + c] = acc[j];
    }
}

// Stage 2: out[(j0+j)·soj + c·soc] += s·Σ_chunk partial[chunk][j][c], chunks in order.
__global__ void outer_final(float* out, int64_t soj, int64_t soc, const float* partial, int64_t chunks, int rn,
                            int64_t C, float s) {
    const int64_t total = (int64_t)rn * C;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t j = i / C, c = i - j * C;
        float acc = 0.0f;
        for (int64_t q = 0; q < chunks; q++) acc += partial[q * total + i];
        out[j * soj + c * soc] += s * acc;
    }
}

// ------------------------------------------------------------------ launchers
int launch_shrink(float* out, int64_t ldo, const float* X, const float* A, int64_t aoff, int64_t saj, int64_t sak,
                  Seg sg, int64_t S, int64_t M, int64_t K, int rn, float p, float pscale, uint64_t seed,
                  cudaStream_t st) {
    // rn ≤ 64 here (callers chunk r).
    if (rn <= 16) {
        dim3 g((unsigned)((M + 31) / 32), (unsigned)S);
        shrink_kernel<16, 4><<<g, 256, 0, st>>>(out, ldo, X, A, aoff, saj, sak, sg, M, K, rn, p, pscale, seed);
    } else if (rn <= 32) {
        dim3 g((unsigned)((M + 15) / 16), (unsigned)S);
        shrink_kernel<32, 2><<<g, 256, 0, st>>>(out, ldo, X, A, aoff, saj, sak, sg, M, K, rn, p, pscale, seed);
    } else {
        dim3 g((unsigned)((M + 7) / 8), (unsigned)S);
        shrink_kernel<64, 1><<<g, 256, 0, st>>>(out, ldo, X, A, aoff, saj, sak, sg, M, K, rn, p, pscale, seed);
    }
    return launch_status();
}

// out[M, r] (row stride r) = X'·A(j,k)ᵀ for all r, in chunks of 64 output columns.
int shrink_all(float* out, const float* X, const float* A, int64_t saj, int64_t sak, Seg sg, int64_t S, int64_t M,
               int64_t K, int64_t r, float p, float pscale, uint64_t seed, cudaStream_t st) {
    for (int64_t j0 = 0; j0 < r; j0 += kJChunk) {
        const int rn = (int)min((int64_t)kJChunk, r - j0);
        int e = launch_shrink(out + j0, r, X, A, j0 * saj, saj, sak, sg, S, M, K, rn, p, pscale, seed, st);
        if (e) return e;
    }
    return 0;
}

int expand_all(float* Y, const float* U, const float* B, int64_t sbn, int64_t sbj, Seg sg, int64_t S, float s,
               int64_t M, int64_t Ncols, int64_t r, float p, float pscale, uint64_t seed, cudaStream_t st) {
    dim3 g((unsigned)((Ncols + kExpandCols - 1) / kExpandCols), (unsigned)((M + kExpandRows - 1) / kExpandRows),
           (unsigned)S);
    expand_kernel<<<g, kExpandCols, 0, st>>>(Y, U, B, sbn, sbj, sg, s, M, Ncols, r, p, pscale, seed);
    return launch_status();
}

int outer_all(float* out, int64_t soj, int64_t soc, const float* P, const float* X, int64_t M, int64_t C, int64_t r,
              float s, float p, float pscale, uint64_t seed, cudaStream_t st) {
    const int64_t chunks = (M + kOuterRows - 1) / kOuterRows;
    Scratch sc(st);
    int e = sc.alloc(sizeof(float) * (size_t)(chunks * min(r, (int64_t)kJChunk) * C));
    if (e) return e;
    float* partial = sc.as<float>();
    for (int64_t j0 = 0; j0 < r; j0 += kJChunk) {
        const int rn = (int)min((int64_t)kJChunk, r - j0);
        dim3 g((unsigned)((C + kOuterCols - 1) / kOuterCols), (unsigned)chunks);
        if (rn <= 16) outer_partial<16><<<g, kOuterCols, 0, st>>>(partial, P + j0, r, X, M, C, rn, p, pscale, seed);
        else if (rn <= 32) outer_partial<32><<<g, kOuterCols, 0, st>>>(partial, P + j0, r, X, M, C, rn, p, pscale, seed);
        else outer_partial<64><<<g, kOuterCols, 0, st>>>(partial, P + j0, r, X, M, C, rn, p, pscale, seed);
        outer_final<<<grid_for((int64_t)rn * C, 256), 256, 0, st>>>(out + j0 * soj, soj, soc, partial, chunks, rn, C, s);
        e = launch_status();
        if (e) return e;
    }
    return 0;
}

bool bad_sizes(int64_t M, int64_t K, int64_t N, int64_t r, float p) {
    return M < 0 || K < 0 || N < 0 || r < 0 || !(p >= 0.0f && p < 1.0f) || (M + 7) / 8 > 0x7fffffff ||
           (M + kExpandRows - 1) / kExpandRows > 65535 || (M + kOuterRows - 1) / kOuterRows > 65535;
}

}  // namespace
}  // namespace colacu

using namespace colacu;

extern "C" {
int cola_cuda_lora_linear_forward(float* y, float* u, const float* x, const float* A, const float* B, float s, float p,
                                  uint64_t seed, int64_t M, int64_t K, int64_t N, int64_t r, void* stream) {
    if (bad_sizes(M, K, N, r, p)) return kErrArg;
    if (M == 0 || r == 0) return 0;
    cudaStream_t st = as_stream(stream);
    const float pscale = 1.0f / (1.0f - p);
    Seg none{nullptr, nullptr, nullptr};
    int e = shrink_all(u, x, A, K, 1, none, 1, M, K, r, p, pscale, seed, st);
    if (e || N == 0) return e;
    return expand_all(y, u, B, r, 1, none, 1, s, M, N, r, 0.0f, 1.0f, 0, st);
}

int cola_cuda_lora_linear_backward(float* dx, float* dA, float* dB, float* v, const float* dy, const float* x,
                                   const float* u, const float* A, const float* B, float s, float p, uint64_t seed,
                                   int64_t M, int64_t K, int64_t N, int64_t r, void* stream) {
    if (bad_sizes(M, K, N, r, p)) return kErrArg;
    if (M == 0 || r == 0) return 0;
    cudaStream_t st = as_stream(stream);
    const float pscale = 1.0f / (1.0f - p);
    Seg none{nullptr, nullptr, nullptr};
    // v[M,r] = dy[M,N]·B[N,r]: B(j, n) = B[n·r + j] → saj = 1, sak = r.
    int e = shrink_all(v, dy, B, 1, r, none, 1, M, N, r, 0.0f, 1.0f, 0, st);
    if (e) return e;
    // dA[r,K] += s·vᵀ·drop(x);  dB[N,r] += s·dyᵀ·u (out(j, n) = dB[n·r + j]).
    if (dA && K > 0) e = outer_all(dA, K, 1, v, x, M, K, r, s, p, pscale, seed, st);
    if (e) return e;
    if (dB && N > 0) e = outer_all(dB, 1, r, u, dy, M, N, r, s, 0.0f, 1.0f, 0, st);
    if (e) return e;
    // dx[M,K] += s·drop'(v·A): A(k, j) = A[j·K + k] → sbn = 1, sbj = K; the mask is the forward's (index m·K+k).
    if (dx && K > 0) e = expand_all(dx, v, A, 1, K, none, 1, s, M, K, r, p, pscale, seed, st);
    return e;
}

int cola_cuda_lora_sgmv_forward(float* y, float* u, const float* x, const float* const* A_ptrs,
                                const float* const* B_ptrs, const float* scales, const int64_t* seg_starts,
                                int64_t S, float p, uint64_t seed, int64_t M, int64_t K, int64_t N, int64_t r,
                                void* stream) {
    if (bad_sizes(M, K, N, r, p) || S < 0 || S > 65535 || (S > 0 && (!A_ptrs || !B_ptrs || !scales || !seg_starts)))
        return kErrArg;
    if (M == 0 || r == 0 || S == 0) return 0;
    cudaStream_t st = as_stream(stream);
    const float pscale = 1.0f / (1.0f - p);
    int e = shrink_all(u, x, nullptr, K, 1, Seg{seg_starts, A_ptrs, scales}, S, M, K, r, p, pscale, seed, st);
    if (e || N == 0) return e;
    return expand_all(y, u, nullptr, r, 1, Seg{seg_starts, B_ptrs, scales}, S, 0.0f, M, N, r, 0.0f, 1.0f, 0, st);
}
}
