// Scaled dot-product attention, flash-style, fp32 (== native/src/attention.cpp semantics).
// Layouts: q[B,T,Hq,D], k/v[B,T,Hkv,D], out/dout/dq[B,T,Hq,D], dk/dv[B,T,Hkv,D], lse[B,Hq,T], key_mask[B,T] (1 keep,
// 0 pad, or NULL). GQA: query head h reads kv head h/(Hq/Hkv). Causal: key j visible to query i iff j ≤ i.
// A query row with no visible key: out = 0, lse = -inf, no gradient (exp is never taken of s - (-inf)).
// Nothing T×T is ever materialised: scores live in registers, K/V/Q/dO tiles in shared memory.
//
// Parallel scheme (D ≤ 128; lane l owns feature dims l, l+32, l+64, l+96 of a row; DC = ceil(D/32) per lane):
//  * forward: grid (T/16 query tiles, B·Hq), 4 warps × 4 query rows. Keys are walked in tiles of 32 staged in
//    shared memory (K padded to D+1 floats per row: conflict-free column reads). Per row and tile, lane j computes
//    the score of key j (dot over D from shared memory), the warp takes the tile max / sum by shuffles and applies
//    the online-softmax rescale (m, l, o); o += p_j·v_j with p_j broadcast by shuffle. Causal tiles beyond the last
//    query row of the block are skipped (half the work).
//  * backward (FlashAttention-2 split, DETERMINISTIC: every output element has exactly one owner, no atomics):
//      1. Dvec[b,h,i] = Σ_d dO·O (one warp per row; scratch from cudaMallocAsync);
//      2. dK/dV: grid (T/16 key tiles, B·Hkv), each warp owns 4 keys and accumulates their dk, dv over ALL query
//         rows of all G query heads of its kv group (query tiles of 32 rows in shared memory; lane = query row for
//         the recomputed s = scale·q·k, p = exp(s - lse), dp = dO·v, ds = p·(dp - Dvec)); dv += Σ_i p·dO_i,
//         dk += scale·Σ_i ds·q_i;
//      3. dQ: grid (T/16 query tiles, B·Hq), same walk as the forward; dq += scale·Σ_j ds·k_j.
//    P is recomputed twice (steps 2 and 3) instead of atomically adding dq: deterministic bits for the price of one
//    extra QKᵀ.
// CUDA cores only (no mma/wmma yet): correctness first; the Java side may prefer cuDNN's SDPA where present.
#include "common.cuh"

namespace colacu {
namespace {

constexpr int kWarps = 4, kRPW = 4, kBQ = kWarps * kRPW;  // 16 query rows per block
constexpr int kBK = 32;                                    // keys per tile (= lanes)
constexpr int kBKB = 16;                                   // keys per dK/dV block (4 per warp)
constexpr int kBQB = 32;                                   // query rows per dK/dV tile (= lanes)

struct Dims {
    int64_t B, T, Hq, Hkv, D, G;
    int causal;
    float scale;
    int64_t window;  // sliding window (causal only): key j visible to query i iff j > i - window; 0 = none
};

// Query i may see key j (before the padding mask): causal, and within the sliding window when there is one.
__device__ __forceinline__ bool in_view(const Dims& d, int64_t i, int64_t j) {
    return (!d.causal || j <= i) && (d.window <= 0 || j > i - d.window);
}

__device__ __forceinline__ bool key_ok(const int32_t* mask, int64_t b, int64_t T, int64_t j) {
    return !mask || mask[b * T + j] != 0;
}

// ------------------------------------------------------------------ forward
template <int DC>
__global__ void __launch_bounds__(128) attn_fwd(float* out, float* lse, const float* q, const float* k, const float* v,
                                                const int32_t* mask, Dims d) {
    extern __shared__ float sm[];
    const int64_t D = d.D, Dp = D + 1;
    float* Ks = sm;                 // [kBK][D+1]
    float* Vs = Ks + kBK * Dp;      // [kBK][D]
    float* Qs = Vs + kBK * D;       // [kBQ][D]
    int* Ms = (int*)(Qs + kBQ * D);  // [kBK]
    const int64_t bh = blockIdx.y, b = bh / d.Hq, h = bh % d.Hq, hk = h / d.G;
    const int64_t q0 = (int64_t)blockIdx.x * kBQ;
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    for (int64_t idx = threadIdx.x; idx < kBQ * D; idx += blockDim.x) {
        const int64_t rr = idx / D, dd = idx % D, i = q0 + rr;
        Qs[idx] = i < d.T ? q[((b * d.T + i) * d.Hq + h) * D + dd] : 0.0f;
    }
    float m[kRPW], l[kRPW], o[kRPW][DC];
#pragma unroll
    for (int rr = 0; rr < kRPW; rr++) {
        m[rr] = -INFINITY;
        l[rr] = 0.0f;
#pragma unroll
        for (int c = 0; c < DC; c++) o[rr][c] = 0.0f;
    }
    const int64_t kend = d.causal ? min(d.T, q0 + kBQ) : d.T;
    for (int64_t k0 = 0; k0 < kend; k0 += kBK) {
        __syncthreads();
        for (int64_t idx = threadIdx.x; idx < kBK * D; idx += blockDim.x) {
            const int64_t jj = idx / D, dd = idx % D, j = k0 + jj;
            const int64_t off = ((b * d.T + j) * d.Hkv + hk) * D + dd;
            Ks[jj * Dp + dd] = j < d.T ? k[off] : 0.0f;
            Vs[jj * D + dd] = j < d.T ? v[off] : 0.0f;
        }
        if (threadIdx.x < kBK) {
            const int64_t j = k0 + threadIdx.x;
            Ms[threadIdx.x] = j < d.T && key_ok(mask, b, d.T, j);
        }
        __syncthreads();
#pragma unroll
        for (int rr = 0; rr < kRPW; rr++) {
            const int64_t row = w * kRPW + rr, i = q0 + row;
            if (i >= d.T) continue;
            const int64_t j = k0 + lane;
            float s = -INFINITY;
            if (Ms[lane] && in_view(d, i, j)) {
                float acc = 0.0f;
                const float* qr = Qs + row * D;
                const float* kr = Ks + lane * Dp;
                for (int64_t dd = 0; dd < D; dd++) acc = fmaf(qr[dd], kr[dd], acc);
                s = acc * d.scale;
            }
            if (__any_sync(0xffffffffu, isnan(s)) || isnan(l[rr])) {  // NaN in, NaN out (== the CPU)
                m[rr] = l[rr] = __int_as_float(0x7fc00000);
                continue;
            }
            const float mt = warp_max(s);
            const float mn = fmaxf(m[rr], mt);
            if (mn == -INFINITY) continue;  // nothing visible yet (warp-uniform)
            const float corr = m[rr] == -INFINITY ? 0.0f : expf(m[rr] - mn);
            const float pj = s == -INFINITY ? 0.0f : expf(s - mn);
            l[rr] = l[rr] * corr + warp_sum(pj);
            m[rr] = mn;
#pragma unroll
            for (int c = 0; c < DC; c++) o[rr][c] *= corr;
            for (int jj = 0; jj < kBK; jj++) {
                const float pb = __shfl_sync(0xffffffffu, pj, jj);
                if (pb == 0.0f) continue;  // warp-uniform
#pragma unroll
                for (int c = 0; c < DC; c++) {
                    const int64_t dd = lane + 32 * c;
                    if (dd < D) o[rr][c] = fmaf(pb, Vs[jj * D + dd], o[rr][c]);
                }
            }
        }
    }
#pragma unroll
    for (int rr = 0; rr < kRPW; rr++) {
        const int64_t i = q0 + w * kRPW + rr;
        if (i >= d.T) continue;
        const bool nanrow = isnan(l[rr]), any = l[rr] > 0.0f;  // NaN row: NaN out and lse, never "no key"
        const float inv = any ? 1.0f / l[rr] : 0.0f, qnan = __int_as_float(0x7fc00000);
#pragma unroll
        for (int c = 0; c < DC; c++) {
            const int64_t dd = lane + 32 * c;
            if (dd < D) out[((b * d.T + i) * d.Hq + h) * D + dd] = nanrow ? qnan : any ? o[rr][c] * inv : 0.0f;
        }
        if (lane == 0) {
            lse[(b * d.Hq + h) * d.T + i] = nanrow ? qnan : any ? (float)((double)m[rr] + log((double)l[rr])) : -INFINITY;
        }
    }
}

// ------------------------------------------------------------------ backward 1: Dvec = rowsum(dO ∘ O)
__global__ void attn_bwd_dvec(float* dvec, const float* dout, const float* out, Dims d) {
    const int64_t rows = d.B * d.T * d.Hq;
    const int lane = threadIdx.x & 31;
    for (int64_t r = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5; r < rows;
         r += ((int64_t)gridDim.x * blockDim.x) >> 5) {
        // r enumerates (b, i, h) in memory order; Dvec is stored [B, Hq, T] like lse
        float acc = 0.0f;
        for (int64_t dd = lane; dd < d.D; dd += 32) acc = fmaf(dout[r * d.D + dd], out[r * d.D + dd], acc);
        acc = warp_sum(acc);
        if (lane == 0) {
            const int64_t h = r % d.Hq, bi = r / d.Hq, i = bi % d.T, b = bi / d.T;
            dvec[(b * d.Hq + h) * d.T + i] = acc;
        }
    }
}

// ------------------------------------------------------------------ backward 2: dK, dV
template <int DC>
__global__ void __launch_bounds__(128) attn_bwd_dkdv(float* dk, float* dv, const float* q, const float* k,
                                                     const float* v, const float* dout, const float* lse,
                                                     const float* dvec, const int32_t* mask, Dims d) {
    extern __shared__ float sm[];
    const int64_t D = d.D, Dp = D + 1;
    float* Qs = sm;                   // [kBQB][D+1]
    float* Os = Qs + kBQB * Dp;       // dO tile [kBQB][D+1]
    float* Kb = Os + kBQB * Dp;       // the block's keys [kBKB][D]
    float* Vb = Kb + kBKB * D;        // [kBKB][D]
    const int64_t bh = blockIdx.y, b = bh / d.Hkv, hk = bh % d.Hkv;
    const int64_t k0 = (int64_t)blockIdx.x * kBKB;
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    for (int64_t idx = threadIdx.x; idx < kBKB * D; idx += blockDim.x) {
        const int64_t jj = idx / D, dd = idx % D, j = k0 + jj;
        const int64_t off = ((b * d.T + j) * d.Hkv + hk) * D + dd;
        Kb[idx] = j < d.T ? k[off] : 0.0f;
        Vb[idx] = j < d.T ? v[off] : 0.0f;
    }
    bool kvis[kRPW];
#pragma unroll
    for (int kk = 0; kk < kRPW; kk++) {
        const int64_t j = k0 + w * kRPW + kk;
        kvis[kk] = j < d.T && key_ok(mask, b, d.T, j);
    }
    float adk[kRPW][DC], adv[kRPW][DC];
#pragma unroll
    for (int kk = 0; kk < kRPW; kk++)
#pragma unroll
        for (int c = 0; c < DC; c++) adk[kk][c] = adv[kk][c] = 0.0f;
    const int64_t qstart = d.causal ? (k0 / kBQB) * kBQB : 0;
    for (int64_t g = 0; g < d.G; g++) {
        const int64_t h = hk * d.G + g;
        for (int64_t i0 = qstart; i0 < d.T; i0 += kBQB) {
            __syncthreads();
            for (int64_t idx = threadIdx.x; idx < kBQB * D; idx += blockDim.x) {
                const int64_t rr = idx / D, dd = idx % D, i = i0 + rr;
                const int64_t off = ((b * d.T + i) * d.Hq + h) * D + dd;
                Qs[rr * Dp + dd] = i < d.T ? q[off] : 0.0f;
                Os[rr * Dp + dd] = i < d.T ? dout[off] : 0.0f;
            }
            __syncthreads();
            const int64_t i = i0 + lane;  // this lane's query row
            const float li = i < d.T ? lse[(b * d.Hq + h) * d.T + i] : -INFINITY;
            const float Di = i < d.T ? dvec[(b * d.Hq + h) * d.T + i] : 0.0f;
#pragma unroll
            for (int kk = 0; kk < kRPW; kk++) {
                const int64_t jl = w * kRPW + kk, j = k0 + jl;
                if (!kvis[kk]) continue;  // warp-uniform
                float p = 0.0f, ds = 0.0f;
                if (i < d.T && li != -INFINITY && in_view(d, i, j)) {
                    float s = 0.0f, dp = 0.0f;
                    const float* qr = Qs + lane * Dp;
                    const float* orr = Os + lane * Dp;
                    const float* kr = Kb + jl * D;
                    const float* vr = Vb + jl * D;
                    for (int64_t dd = 0; dd < D; dd++) {
                        s = fmaf(qr[dd], kr[dd], s);
                        dp = fmaf(orr[dd], vr[dd], dp);
                    }
                    p = expf(s * d.scale - li);
                    ds = p * (dp - Di);
                }
                for (int rr = 0; rr < kBQB; rr++) {
                    const float pb = __shfl_sync(0xffffffffu, p, rr);
                    const float db = __shfl_sync(0xffffffffu, ds, rr);
                    if (pb == 0.0f && db == 0.0f) continue;  // warp-uniform
#pragma unroll
                    for (int c = 0; c < DC; c++) {
                        const int64_t dd = lane + 32 * c;
                        if (dd < D) {
                            adv[kk][c] = fmaf(pb, Os[rr * Dp + dd], adv[kk][c]);
                            adk[kk][c] = fmaf(db, Qs[rr * Dp + dd], adk[kk][c]);
                        }
                    }
                }
            }
        }
    }
#pragma unroll
    for (int kk = 0; kk < kRPW; kk++) {
        const int64_t j = k0 + w * kRPW + kk;
        if (j >= d.T) continue;
#pragma unroll
        for (int c = 0; c < DC; c++) {
            const int64_t dd = lane + 32 * c;
            if (dd < D) {
                const int64_t off = ((b * d.T + j) * d.Hkv + hk) * D + dd;
                dk[off] += d.scale * adk[kk][c];
                dv[off] += adv[kk][c];
            }
        }
    }
}

// ------------------------------------------------------------------ backward 3: dQ
template <int DC>
__global__ void __launch_bounds__(128) attn_bwd_dq(float* dq, const float* q, const float* k, const float* v,
                                                   const float* dout, const float* lse, const float* dvec,
                                                   const int32_t* mask, Dims d) {
    extern __shared__ float sm[];
    const int64_t D = d.D, Dp = D + 1;
    float* Ks = sm;                  // [kBK][D+1]
    float* Vs = Ks + kBK * Dp;       // [kBK][D+1]
    float* Qs = Vs + kBK * Dp;       // [kBQ][D]
    float* Os = Qs + kBQ * D;        // [kBQ][D]
    int* Ms = (int*)(Os + kBQ * D);  // [kBK]
    const int64_t bh = blockIdx.y, b = bh / d.Hq, h = bh % d.Hq, hk = h / d.G;
    const int64_t q0 = (int64_t)blockIdx.x * kBQ;
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    for (int64_t idx = threadIdx.x; idx < kBQ * D; idx += blockDim.x) {
        const int64_t rr = idx / D, dd = idx % D, i = q0 + rr;
        const int64_t off = ((b * d.T + i) * d.Hq + h) * D + dd;
        Qs[idx] = i < d.T ? q[off] : 0.0f;
        Os[idx] = i < d.T ? dout[off] : 0.0f;
    }
    float li[kRPW], Di[kRPW], acc[kRPW][DC];
#pragma unroll
    for (int rr = 0; rr < kRPW; rr++) {
        const int64_t i = q0 + w * kRPW + rr;
        li[rr] = i < d.T ? lse[(b * d.Hq + h) * d.T + i] : -INFINITY;
        Di[rr] = i < d.T ? dvec[(b * d.Hq + h) * d.T + i] : 0.0f;
#pragma unroll
        for (int c = 0; c < DC; c++) acc[rr][c] = 0.0f;
    }
    const int64_t kend = d.causal ? min(d.T, q0 + kBQ) : d.T;
    for (int64_t k0 = 0; k0 < kend; k0 += kBK) {
        __syncthreads();
        for (int64_t idx = threadIdx.x; idx < kBK * D; idx += blockDim.x) {
            const int64_t jj = idx / D, dd = idx % D, j = k0 + jj;
            const int64_t off = ((b * d.T + j) * d.Hkv + hk) * D + dd;
            Ks[jj * Dp + dd] = j < d.T ? k[off] : 0.0f;
            Vs[jj * Dp + dd] = j < d.T ? v[off] : 0.0f;
        }
        if (threadIdx.x < kBK) {
            const int64_t j = k0 + threadIdx.x;
            Ms[threadIdx.x] = j < d.T && key_ok(mask, b, d.T, j);
        }
        __syncthreads();
#pragma unroll
        for (int rr = 0; rr < kRPW; rr++) {
            const int64_t row = w * kRPW + rr, i = q0 + row;
            if (i >= d.T || li[rr] == -INFINITY) continue;  // warp-uniform
            const int64_t j = k0 + lane;
            float ds = 0.0f;
            if (Ms[lane] && in_view(d, i, j)) {
                float s = 0.0f, dp = 0.0f;
                const float* qr = Qs + row * D;
                const float* orr = Os + row * D;
                const float* kr = Ks + lane * Dp;
                const float* vr = Vs + lane * Dp;
                for (int64_t dd = 0; dd < D; dd++) {
                    s = fmaf(qr[dd], kr[dd], s);
                    dp = fmaf(orr[dd], vr[dd], dp);
                }
                const float p = expf(s * d.scale - li[rr]);
                ds = p * (dp - Di[rr]);
            }
            for (int jj = 0; jj < kBK; jj++) {
                const float db = __shfl_sync(0xffffffffu, ds, jj);
                if (db == 0.0f) continue;
#pragma unroll
                for (int c = 0; c < DC; c++) {
                    const int64_t dd = lane + 32 * c;
                    if (dd < D) acc[rr][c] = fmaf(db, Ks[jj * Dp + dd], acc[rr][c]);
                }
            }
        }
    }
#pragma unroll
    for (int rr = 0; rr < kRPW; rr++) {
        const int64_t i = q0 + w * kRPW + rr;
        if (i >= d.T) continue;
#pragma unroll
        for (int c = 0; c < DC; c++) {
            const int64_t dd = lane + 32 * c;
            if (dd < D) dq[((b * d.T + i) * d.Hq + h) * D + dd] += d.scale * acc[rr][c];
        }
    }
}

// ------------------------------------------------------------------ launchers
template <class K>
int launch(K kernel, dim3 grid, size_t smem, cudaStream_t st, void** args) {
    if (smem > 48 * 1024) {
        cudaError_t e = cudaFuncSetAttribute((const void*)kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
        if (e != cudaSuccess) return (int)e;
    }
    return (int)cudaLaunchKernel((const void*)kernel, grid, dim3(128), args, smem, st);
}

int check(const Dims& d) {
    if (d.B < 0 || d.T < 0 || d.Hq <= 0 || d.Hkv <= 0 || d.D <= 0 || d.D > 128 || d.Hq % d.Hkv != 0) return kErrArg;
    if (d.B * d.Hq > 65535 || (d.T + kBKB - 1) / kBKB > 0x7fffffff) return kErrArg;
    return 0;
}

}  // namespace
}  // namespace colacu

using namespace colacu;

extern "C" {
int cola_cuda_attention_forward_window(float* out, float* lse, const float* q, const float* k, const float* v,
                                       const int32_t* key_mask, int64_t B, int64_t T, int64_t Hq, int64_t Hkv,
                                       int64_t D, int causal, int64_t window, float scale, void* stream) {
    if (window < 0 || (window > 0 && !causal)) return kErrArg;
    Dims d{B, T, Hq, Hkv, D, Hkv > 0 ? Hq / Hkv : 0, causal, scale, window};
    if (int e = check(d)) return B == 0 || T == 0 ? 0 : e;
    if (B == 0 || T == 0) return 0;
    cudaStream_t st = as_stream(stream);
    const size_t smem = sizeof(float) * (size_t)(kBK * (D + 1) + kBK * D + kBQ * D) + sizeof(int) * kBK;
    dim3 grid((unsigned)((T + kBQ - 1) / kBQ), (unsigned)(B * Hq));
    void* args[] = {&out, &lse, &q, &k, &v, &key_mask, &d};
    if (D <= 32) return launch(attn_fwd<1>, grid, smem, st, args);
    if (D <= 64) return launch(attn_fwd<2>, grid, smem, st, args);
    return launch(attn_fwd<4>, grid, smem, st, args);
}

int cola_cuda_attention_backward_window(float* dq, float* dk, float* dv, const float* dout, const float* q,
                                        const float* k, const float* v, const float* out, const float* lse,
                                        const int32_t* key_mask, int64_t B, int64_t T, int64_t Hq, int64_t Hkv,
                                        int64_t D, int causal, int64_t window, float scale, void* stream) {
    if (window < 0 || (window > 0 && !causal)) return kErrArg;
    Dims d{B, T, Hq, Hkv, D, Hkv > 0 ? Hq / Hkv : 0, causal, scale, window};
    if (int e = check(d)) return B == 0 || T == 0 ? 0 : e;
    if (B == 0 || T == 0) return 0;
    cudaStream_t st = as_stream(stream);
    Scratch sc(st);
    int e = sc.alloc(sizeof(float) * (size_t)(B * Hq * T));
    if (e) return e;
    float* dvec = sc.as<float>();
    attn_bwd_dvec<<<grid_for(B * T * Hq * 32, 256), 256, 0, st>>>(dvec, dout, out, d);
    if ((e = launch_status())) return e;
    if (dk || dv) {
        if (!dk || !dv) return kErrArg;
        const size_t smem = sizeof(float) * (size_t)(2 * kBQB * (D + 1) + 2 * kBKB * D);
        dim3 grid((unsigned)((T + kBKB - 1) / kBKB), (unsigned)(B * Hkv));
        void* args[] = {&dk, &dv, &q, &k, &v, &dout, &lse, &dvec, &key_mask, &d};
        if (D <= 32) e = launch(attn_bwd_dkdv<1>, grid, smem, st, args);
        else if (D <= 64) e = launch(attn_bwd_dkdv<2>, grid, smem, st, args);
        else e = launch(attn_bwd_dkdv<4>, grid, smem, st, args);
        if (e) return e;
    }
    if (dq) {
        const size_t smem = sizeof(float) * (size_t)(2 * kBK * (D + 1) + 2 * kBQ * D) + sizeof(int) * kBK;
        dim3 grid((unsigned)((T + kBQ - 1) / kBQ), (unsigned)(B * Hq));
        void* args[] = {&dq, &q, &k, &v, &dout, &lse, &dvec, &key_mask, &d};
        if (D <= 32) e = launch(attn_bwd_dq<1>, grid, smem, st, args);
        else if (D <= 64) e = launch(attn_bwd_dq<2>, grid, smem, st, args);
        else e = launch(attn_bwd_dq<4>, grid, smem, st, args);
    }
    return e;
}

int cola_cuda_attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                                const int32_t* key_mask, int64_t B, int64_t T, int64_t Hq, int64_t Hkv, int64_t D,
                                int causal, float scale, void* stream) {
    return cola_cuda_attention_forward_window(out, lse, q, k, v, key_mask, B, T, Hq, Hkv, D, causal, 0, scale, stream);
}
int cola_cuda_attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                                 const float* v, const float* out, const float* lse, const int32_t* key_mask,
                                 int64_t B, int64_t T, int64_t Hq, int64_t Hkv, int64_t D, int causal, float scale,
                                 void* stream) {
    return cola_cuda_attention_backward_window(dq, dk, dv, dout, q, k, v, out, lse, key_mask, B, T, Hq, Hkv, D, causal,
                                               0, scale, stream);
}
}
