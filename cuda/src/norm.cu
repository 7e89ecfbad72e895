// LayerNorm / RMSNorm over the last dimension C of row-major [N, C] tensors (== native/src/norm.cpp).
//   LayerNorm fwd: μ = mean(x), σ² = mean((x-μ)²) (biased), r = 1/sqrt(σ²+ε), out = (x-μ)·r·w + b; saves mean, rstd.
//   LayerNorm bwd: g = dout·w;  dinp += r·(g - mean(g) - x̂·mean(g·x̂));  dweight += Σ_rows dout·x̂;  dbias += Σ_rows dout.
//   RMSNorm fwd:   r = 1/sqrt(mean(x²)+ε), out = x·r·w;  bwd: dinp += r·dout·w - x·r³·mean(dout·w·x);
//                  dweight += Σ_rows dout·x·r.
// Numerics as the CPU: row statistics are two-pass, accumulated in DOUBLE, μ split into f32 hi (saved as mean) + lo
// (ml = (1/C)Σ(x - mean), recovered in backward), 1/sqrt in double (not affected by --use_fast_math).
// Parallel scheme:
//  * row kernels: one warp per row (8 rows per 256-thread block); lanes stride the row with float4 loads when the row
//    start is 16-byte aligned and C % 4 == 0 (the row is re-read from L1/L2 for the second pass and the output pass).
//  * parameter gradients (dweight/dbias): a deterministic two-stage column reduction, no atomics: stage 1, block
//    (column tile of 32, row chunk) sums its rows in order into a partial [chunks, C] (scratch from cudaMallocAsync);
//    stage 2 adds the chunk partials in chunk order and accumulates into dweight/dbias. The row kernel of the
//    backward saves each row's ml so stage 1 forms x̂ exactly as the CPU.
#include "common.cuh"

namespace colacu {
namespace {

constexpr int kRowsPerBlock = 8;  // warps per block, one row each
constexpr int kColTile = 32;
constexpr int kRowChunk = 64;     // rows per stage-1 block

// Visit a row's elements: f(c, x) with float4 loads when possible.
template <class F>
__device__ __forceinline__ void row_visit(const float* x, int64_t C, bool vec, int lane, F&& f) {
    if (vec) {
        const float4* x4 = reinterpret_cast<const float4*>(x);
        for (int64_t c4 = lane; c4 < C / 4; c4 += 32) {
            float4 v = x4[c4];
            f(c4 * 4 + 0, v.x); f(c4 * 4 + 1, v.y); f(c4 * 4 + 2, v.z); f(c4 * 4 + 3, v.w);
        }
    } else {
        for (int64_t c = lane; c < C; c += 32) f(c, x[c]);
    }
}

__global__ void __launch_bounds__(256) layernorm_fwd(float* out, float* mean, float* rstd, const float* inp,
                                                     const float* w, const float* b, int64_t N, int64_t C, float eps,
                                                     bool vec) {
    const int lane = threadIdx.x & 31;
    const int64_t row = (int64_t)blockIdx.x * kRowsPerBlock + (threadIdx.x >> 5);
    if (row >= N) return;
    const float* x = inp + row * C;
    float* y = out + row * C;
    double s = 0.0;
    row_visit(x, C, vec, lane, [&](int64_t, float v) { s += (double)v; });
    s = warp_sum(s);
    const double md = s / (double)C;
    const float mh = (float)md, ml = (float)(md - (double)mh);
    double var = 0.0;
    row_visit(x, C, vec, lane, [&](int64_t, float v) {
        const double d = (double)((v - mh) - ml);
        var += d * d;
    });
    var = warp_sum(var);
    const float rs = (float)(1.0 / sqrt(var / (double)C + (double)eps));
    if (lane == 0) { mean[row] = mh; rstd[row] = rs; }
    row_visit(x, C, vec, lane, [&](int64_t c, float v) {
        float o = ((v - mh) - ml) * rs;
        if (w) o *= w[c];
        if (b) o += b[c];
        y[c] = o;
    });
}

__global__ void __launch_bounds__(256) layernorm_bwd_rows(float* dinp, float* mlo, const float* dout, const float* inp,
                                                          const float* w, const float* mean, const float* rstd,
                                                          int64_t N, int64_t C, bool vec) {
    const int lane = threadIdx.x & 31;
    const int64_t row = (int64_t)blockIdx.x * kRowsPerBlock + (threadIdx.x >> 5);
    if (row >= N) return;
    const float* x = inp + row * C;
    const float* g = dout + row * C;
    const float m = mean[row], rs = rstd[row];
    double sg = 0.0, sgu = 0.0, su = 0.0;
    row_visit(x, C, vec, lane, [&](int64_t c, float v) {
        const float gw = w ? g[c] * w[c] : g[c];
        const float u = v - m;
        sg += gw;
        sgu += (double)(gw * u);
        su += u;
    });
    sg = warp_sum(sg); sgu = warp_sum(sgu); su = warp_sum(su);
    const double mld = su / (double)C;
    const float ml = (float)mld;
    if (mlo && lane == 0) mlo[row] = ml;
    if (!dinp) return;
    const float a = (float)(sg / (double)C), bb = (float)((double)rs * (sgu - mld * sg) / (double)C);
    float* dx = dinp + row * C;
    row_visit(x, C, vec, lane, [&](int64_t c, float v) {
        const float xh = ((v - m) - ml) * rs;
        const float gw = w ? g[c] * w[c] : g[c];
        dx[c] += rs * (gw - a - xh * bb);
    });
}

// Stage 1 of the parameter gradients. MODE 0: layernorm (pw += dout·x̂, pb += dout); MODE 1: rmsnorm (pw += dout·x·r).
// grid (ceil(C/32), chunks), block (32, 8): thread (tx, ty) owns column c and rows ty, ty+8, ... of the chunk; the 8
// partial sums are then added in ty order. Deterministic.
template <int MODE>
__global__ void __launch_bounds__(256) param_grad_partial(float* pw, float* pb, const float* dout, const float* inp,
                                                          const float* mean, const float* mlo, const float* rstd,
                                                          int64_t N, int64_t C) {
    __shared__ float shw[8][kColTile], shb[8][kColTile];
    const int64_t c = (int64_t)blockIdx.x * kColTile + threadIdx.x;
    const int64_t r0 = (int64_t)blockIdx.y * kRowChunk, r1 = min(N, r0 + kRowChunk);
    float aw = 0.0f, ab = 0.0f;
    if (c < C) {
        for (int64_t r = r0 + threadIdx.y; r < r1; r += 8) {
            const float g = dout[r * C + c], x = inp[r * C + c], rs = rstd[r];
            if (MODE == 0) {
                aw += g * (((x - mean[r]) - mlo[r]) * rs);
                ab += g;
            } else {
                aw += g * (x * rs);
            }
        }
    }
    shw[threadIdx.y][threadIdx.x] = aw;
    shb[threadIdx.y][threadIdx.x] = ab;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        float sw = 0.0f, sb = 0.0f;
        for (int t = 0; t < 8; t++) { sw += shw[t][threadIdx.x]; sb += shb[t][threadIdx.x]; }
        pw[(int64_t)blockIdx.y * C + c] = sw;
        if (pb) pb[(int64_t)blockIdx.y * C + c] = sb;
    }
}

// Stage 2: dw[c] += Σ_chunk pw[chunk, c] in chunk order (double accumulator).
__global__ void param_grad_final(float* dw, float* db, const float* pw, const float* pb, int64_t chunks, int64_t C) {
    for (int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; c < C; c += (int64_t)gridDim.x * blockDim.x) {
        double sw = 0.0, sb = 0.0;
        for (int64_t k = 0; k < chunks; k++) {
            sw += pw[k * C + c];
            if (db) sb += pb[k * C + c];
        }
        if (dw) dw[c] += (float)sw;
        if (db) db[c] += (float)sb;
    }
}

__global__ void __launch_bounds__(256) rmsnorm_fwd(float* out, float* rstd, const float* inp, const float* w, int64_t N,
                                                   int64_t C, float eps, bool vec) {
    const int lane = threadIdx.x & 31;
    const int64_t row = (int64_t)blockIdx.x * kRowsPerBlock + (threadIdx.x >> 5);
    if (row >= N) return;
    const float* x = inp + row * C;
    double ss = 0.0;
    row_visit(x, C, vec, lane, [&](int64_t, float v) { ss += (double)v * (double)v; });
    ss = warp_sum(ss);
    const float rs = (float)(1.0 / sqrt(ss / (double)C + (double)eps));
    if (lane == 0) rstd[row] = rs;
    float* y = out + row * C;
    row_visit(x, C, vec, lane, [&](int64_t c, float v) { y[c] = w ? (v * rs) * w[c] : v * rs; });
}

__global__ void __launch_bounds__(256) rmsnorm_bwd_rows(float* dinp, const float* dout, const float* inp,
                                                        const float* w, const float* rstd, int64_t N, int64_t C,
                                                        bool vec) {
    const int lane = threadIdx.x & 31;
    const int64_t row = (int64_t)blockIdx.x * kRowsPerBlock + (threadIdx.x >> 5);
    if (row >= N) return;
    const float* x = inp + row * C;
    const float* g = dout + row * C;
    const float rs = rstd[row];
    double sgx = 0.0;
    row_visit(x, C, vec, lane, [&](int64_t c, float v) { sgx += (double)((w ? g[c] * w[c] : g[c]) * v); });
    sgx = warp_sum(sgx);
    const float k = (float)((double)rs * rs * rs * sgx / (double)C);
    float* dx = dinp + row * C;
    row_visit(x, C, vec, lane, [&](int64_t c, float v) {
        const float gw = w ? g[c] * w[c] : g[c];
        dx[c] += rs * gw - v * k;
    });
}

inline unsigned row_blocks(int64_t N) { return (unsigned)((N + kRowsPerBlock - 1) / kRowsPerBlock); }

// Stage 1 + 2 for the parameter gradients; scratch partials [chunks, C] (×2 with bias).
template <int MODE>
int param_grads(float* dw, float* db, const float* dout, const float* inp, const float* mean, const float* mlo,
                const float* rstd, int64_t N, int64_t C, cudaStream_t st) {
    const int64_t chunks = (N + kRowChunk - 1) / kRowChunk;
    if (chunks > 65535) return kErrArg;
    Scratch sc(st);
    int e = sc.alloc(sizeof(float) * (size_t)(chunks * C * 2));
    if (e) return e;
    float* pw = sc.as<float>();
    float* pb = db ? pw + chunks * C : nullptr;
    dim3 grid((unsigned)((C + kColTile - 1) / kColTile), (unsigned)chunks), block(kColTile, 8);
    param_grad_partial<MODE><<<grid, block, 0, st>>>(pw, pb, dout, inp, mean, mlo, rstd, N, C);
    param_grad_final<<<grid_for(C, 256), 256, 0, st>>>(dw, db, pw, pb, chunks, C);
    return launch_status();
}

}  // namespace
}  // namespace colacu

using namespace colacu;

extern "C" {
int cola_cuda_layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                                const float* bias, int64_t N, int64_t C, float eps, void* stream) {
    if (N < 0 || C <= 0) return N == 0 ? 0 : kErrArg;
    if (N == 0) return 0;
    const bool vec = C % 4 == 0 && aligned16(inp) && aligned16(out);
    layernorm_fwd<<<row_blocks(N), 256, 0, as_stream(stream)>>>(out, mean, rstd, inp, weight, bias, N, C, eps, vec);
    return launch_status();
}
int cola_cuda_layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                                 const float* weight, const float* mean, const float* rstd, int64_t N, int64_t C,
                                 void* stream) {
    if (N < 0 || C <= 0) return N == 0 ? 0 : kErrArg;
    if (N == 0) return 0;
    cudaStream_t st = as_stream(stream);
    const bool vec = C % 4 == 0 && aligned16(inp);
    Scratch ml(st);
    float* mlo = nullptr;
    if (dweight || dbias) {
        int e = ml.alloc(sizeof(float) * (size_t)N);
        if (e) return e;
        mlo = ml.as<float>();
    }
    if (dinp || mlo) layernorm_bwd_rows<<<row_blocks(N), 256, 0, st>>>(dinp, mlo, dout, inp, weight, mean, rstd, N, C, vec);
    int e = launch_status();
    if (e) return e;
    if (dweight || dbias) return param_grads<0>(dweight, dbias, dout, inp, mean, mlo, rstd, N, C, st);
    return 0;
}
int cola_cuda_rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int64_t N, int64_t C,
                              float eps, void* stream) {
    if (N < 0 || C <= 0) return N == 0 ? 0 : kErrArg;
    if (N == 0) return 0;
    const bool vec = C % 4 == 0 && aligned16(inp);
    rmsnorm_fwd<<<row_blocks(N), 256, 0, as_stream(stream)>>>(out, rstd, inp, weight, N, C, eps, vec);
    return launch_status();
}
int cola_cuda_rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight,
                               const float* rstd, int64_t N, int64_t C, void* stream) {
    if (N < 0 || C <= 0) return N == 0 ? 0 : kErrArg;
    if (N == 0) return 0;
    cudaStream_t st = as_stream(stream);
    const bool vec = C % 4 == 0 && aligned16(inp);
    if (dinp) rmsnorm_bwd_rows<<<row_blocks(N), 256, 0, st>>>(dinp, dout, inp, weight, rstd, N, C, vec);
    int e = launch_status();
    if (e) return e;
    if (dweight) return param_grads<1>(dweight, nullptr, dout, inp, nullptr, nullptr, rstd, N, C, st);
    return 0;
}
}
