// Optimiser kernels (== native/src/optim.cpp): multi-tensor AdamW (torch.optim.AdamW semantics), the global squared
// norm Σ t², and in-place scaling — each over a LIST of tensors in as few launches as possible.
//
// Multi-tensor apply (PyTorch's scheme): the host walks the list, cuts every tensor into chunks of kChunk elements,
// and packs (tensor pointers, sizes, block → (tensor, chunk) table) into one kernel parameter struct (< 4 KiB, passed
// by value: no device pointer table, no host sync, no allocation). A launch covers up to kMaxTensors tensors /
// kMaxBlocks chunks; a tensor cut by a full launch continues in the next. One thread block per chunk, grid-stride
// over it (coalesced f32 accesses).
//
// AdamW per element (f32, scalars precomputed on the HOST in double exactly as the CPU/torch do):
//   g = grad_scale·grad; m += (1-β1)(g - m); v = β2 v + (1-β2) g²; p = p·(1 - lr·wd) - step_size·m/(sqrt(v)/bc2 + eps)
//   sqrt and the divisions are __fsqrt_rn/__fdiv_rn: IEEE, immune to --use_fast_math.
// sum_squares: DETERMINISTIC two-stage reduction: stage 1 each chunk-block sums x² (exact in double) in double with a
//   fixed-shape block reduction into partial[global chunk index] (scratch from cudaMallocAsync); stage 2 one block
//   adds the partials (strided per thread, then a fixed tree) and writes the device double *out. Same bits every run
//   for the same tensor list; differs from the CPU's blocking only in the last bits of a double.
#include <cmath>
#include "common.cuh"

namespace colacu {
namespace {

constexpr int kMaxTensors = 48;
constexpr int kMaxBlocks = 320;
constexpr int64_t kChunk = 65536;
constexpr int kThreads = 512;

template <int L>
struct TensorList {
    void* ptr[L][kMaxTensors];
    int64_t size[kMaxTensors];
    int block_chunk[kMaxBlocks];
    unsigned char block_tensor[kMaxBlocks];
};
static_assert(sizeof(TensorList<4>) <= 4096, "kernel parameter block");

// Calls launch(list, nblocks, first_global_block) for each packed launch. Returns the first launch error.
template <int L, class F>
int multi_tensor_apply(void* const* const* lists, const int64_t* sizes, int64_t n, F&& launch) {
    TensorList<L> tl;
    int nt = 0, nb = 0;
    int64_t global = 0;
    for (int64_t i = 0; i < n; i++) {
        if (sizes[i] <= 0) continue;
        for (int l = 0; l < L; l++) tl.ptr[l][nt] = lists[l][i];
        tl.size[nt] = sizes[i];
        nt++;
        const int64_t chunks = (sizes[i] + kChunk - 1) / kChunk;
        for (int64_t c = 0; c < chunks; c++) {
            tl.block_tensor[nb] = (unsigned char)(nt - 1);
            tl.block_chunk[nb] = (int)c;
            nb++;
            const bool last = c == chunks - 1;
            if (nb == kMaxBlocks || (nt == kMaxTensors && last)) {
                int e = launch(tl, nb, global);
                if (e) return e;
                global += nb;
                nb = 0;
                if (last) {
                    nt = 0;
                } else {  // the tensor continues in the next launch, in slot 0
                    for (int l = 0; l < L; l++) tl.ptr[l][0] = tl.ptr[l][nt - 1];
                    tl.size[0] = tl.size[nt - 1];
                    nt = 1;
                }
            }
        }
    }
    if (nb > 0) return launch(tl, nb, global);
    return 0;
}

struct AdamW {
    float one_minus_b1, b2, one_minus_b2, eps, decay, step_size, bc2_sqrt, grad_scale;
};

__global__ void __launch_bounds__(kThreads) adamw_kernel(TensorList<4> tl, AdamW h) {
    const int t = tl.block_tensor[blockIdx.x];
    const int64_t c0 = (int64_t)tl.block_chunk[blockIdx.x] * kChunk;
    const int64_t c1 = min(tl.size[t], c0 + kChunk);
    float* p = (float*)tl.ptr[0][t];
    const float* g = (const float*)tl.ptr[1][t];
    float* m = (float*)tl.ptr[2][t];
    float* v = (float*)tl.ptr[3][t];
    for (int64_t i = c0 + threadIdx.x; i < c1; i += blockDim.x) {
        const float gi = g[i] * h.grad_scale;
        const float mo = m[i];
        const float mi = mo + h.one_minus_b1 * (gi - mo);
        const float vi = h.b2 * v[i] + h.one_minus_b2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        const float denom = __fdiv_rn(__fsqrt_rn(vi), h.bc2_sqrt) + h.eps;
        p[i] = p[i] * h.decay - h.step_size * __fdiv_rn(mi, denom);
    }
}

__global__ void __launch_bounds__(kThreads) scale_kernel(TensorList<1> tl, float s) {
    const int t = tl.block_tensor[blockIdx.x];
    const int64_t c0 = (int64_t)tl.block_chunk[blockIdx.x] * kChunk;
    const int64_t c1 = min(tl.size[t], c0 + kChunk);
    float* x = (float*)tl.ptr[0][t];
    for (int64_t i = c0 + threadIdx.x; i < c1; i += blockDim.x) x[i] *= s;
}

__global__ void __launch_bounds__(kThreads) sumsq_partial(TensorList<1> tl, double* partial, int64_t first) {
    const int t = tl.block_tensor[blockIdx.x];
    const int64_t c0 = (int64_t)tl.block_chunk[blockIdx.x] * kChunk;
    const int64_t c1 = min(tl.size[t], c0 + kChunk);
    const float* x = (const float*)tl.ptr[0][t];
    double acc = 0.0;
    for (int64_t i = c0 + threadIdx.x; i < c1; i += blockDim.x) acc += (double)x[i] * (double)x[i];
    acc = block_sum(acc);
    if (threadIdx.x == 0) partial[first + blockIdx.x] = acc;
}

__global__ void __launch_bounds__(1024) sumsq_final(double* out, const double* partial, int64_t n) {
    double acc = 0.0;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) acc += partial[i];
    acc = block_sum(acc);
    if (threadIdx.x == 0) *out = acc;
}

bool valid_list(const void* const* a, const int64_t* sizes, int64_t n) {
    if (n < 0 || (n > 0 && (!a || !sizes))) return false;
    for (int64_t i = 0; i < n; i++)
        if (sizes[i] < 0 || (sizes[i] > 0 && !a[i])) return false;
    return true;
}

}  // namespace
}  // namespace colacu

using namespace colacu;

extern "C" {
int cola_cuda_adamw_step(float* const* params, const float* const* grads, float* const* m, float* const* v,
                         const int64_t* sizes, int64_t n_tensors, float lr, float beta1, float beta2, float eps,
                         float weight_decay, int64_t step, float grad_scale, void* stream) {
    if (!valid_list((const void* const*)params, sizes, n_tensors) ||
        !valid_list((const void* const*)grads, sizes, n_tensors) ||
        !valid_list((const void* const*)m, sizes, n_tensors) || !valid_list((const void* const*)v, sizes, n_tensors))
        return kErrArg;
    if (step < 1 || !(beta1 >= 0.0f && beta1 < 1.0f && beta2 >= 0.0f && beta2 < 1.0f && eps > 0.0f && lr >= 0.0f &&
                      weight_decay >= 0.0f && std::isfinite(grad_scale)))
        return kErrArg;
    const double bc1 = 1.0 - std::pow((double)beta1, (double)step);
    const double bc2 = 1.0 - std::pow((double)beta2, (double)step);
    AdamW h;
    h.one_minus_b1 = (float)(1.0 - (double)beta1);
    h.b2 = beta2;
    h.one_minus_b2 = (float)(1.0 - (double)beta2);
    h.eps = eps;
    h.decay = (float)(1.0 - (double)lr * (double)weight_decay);
    h.step_size = (float)((double)lr / bc1);
    h.bc2_sqrt = (float)std::sqrt(bc2);
    h.grad_scale = grad_scale;
    void* const* lists[4] = {(void* const*)params, (void* const*)grads, (void* const*)m, (void* const*)v};
    cudaStream_t st = as_stream(stream);
    return multi_tensor_apply<4>(lists, sizes, n_tensors, [&](const TensorList<4>& tl, int nb, int64_t) {
        adamw_kernel<<<nb, kThreads, 0, st>>>(tl, h);
        return launch_status();
    });
}

int cola_cuda_sum_squares(double* out, const float* const* tensors, const int64_t* sizes, int64_t n_tensors,
                          void* stream) {
    if (!out || !valid_list((const void* const*)tensors, sizes, n_tensors)) return kErrArg;
    cudaStream_t st = as_stream(stream);
    int64_t chunks = 0;
    for (int64_t i = 0; i < n_tensors; i++) chunks += (sizes[i] + kChunk - 1) / kChunk;
    if (chunks == 0) return (int)cudaMemsetAsync(out, 0, sizeof(double), st);
    Scratch sc(st);
    int e = sc.alloc(sizeof(double) * (size_t)chunks);
    if (e) return e;
    double* partial = sc.as<double>();
    void* const* lists[1] = {(void* const*)tensors};
    e = multi_tensor_apply<1>(lists, sizes, n_tensors, [&](const TensorList<1>& tl, int nb, int64_t first) {
        sumsq_partial<<<nb, kThreads, 0, st>>>(tl, partial, first);
        return launch_status();
    });
    if (e) return e;
    sumsq_final<<<1, 1024, 0, st>>>(out, partial, chunks);
    return launch_status();
}

int cola_cuda_scale(float* const* tensors, const int64_t* sizes, int64_t n_tensors, float scale, void* stream) {
    if (!valid_list((const void* const*)tensors, sizes, n_tensors)) return kErrArg;
    cudaStream_t st = as_stream(stream);
    void* const* lists[1] = {(void* const*)tensors};
    return multi_tensor_apply<1>(lists, sizes, n_tensors, [&](const TensorList<1>& tl, int nb, int64_t) {
        scale_kernel<<<nb, kThreads, 0, st>>>(tl, scale);
        return launch_status();
    });
}
}
