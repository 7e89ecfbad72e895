// Optimiser kernels: multi-tensor AdamW, the global squared norm and in-place scaling (gradient clipping).
//
// cola_adamw_step — torch.optim.AdamW (foreach=False, amsgrad=False, maximize=False), one step at 1-based t, for
// every element of every tensor i (params[i], grads[i], m[i], v[i] all have sizes[i] elements):
//     g  = grad_scale·grad
//     m  = m + (1-β1)·(g - m)                      (torch: exp_avg.lerp_(grad, 1-β1))
//     v  = β2·v + (1-β2)·g·g                       (torch: exp_avg_sq.mul_(β2).addcmul_(grad, grad, value=1-β2))
//     p  = p·(1 - lr·wd)                           (decoupled weight decay, applied first as torch does)
//     p  = p - (lr/(1-β1^t)) · m / (sqrt(v)/sqrt(1-β2^t) + eps)
// The bias corrections and step size are computed once in double (as torch does in Python) and rounded to f32; the
// element math is f32. Every element is independent, so the result does not depend on the thread count.
// Balance: the tensors are seen as one flat index space of Σ sizes elements, cut into equal contiguous ranges, one
// per thread (boundaries on multiples of 16 elements = one cache line), so 48 small LoRA tensors and one 2.4M-element
// matrix are split equally well. One pass: reads p, g, m, v; writes p, m, v (28 bytes per element).
//
// cola_sum_squares — *out = Σ_i Σ_j t_i[j]², in double. The flat index space is cut into a FIXED number of blocks
// (kBlocks, independent of the thread count); each block is summed with 8 independent double lanes in a fixed order,
// and the block partials are added in block order. x² of a float is exact in double, so the result is bit-identical
// for any thread count and any ISA clone (stronger than the header promises).
//
// cola_scale — t_i *= scale, same flat partition as AdamW.
#include <omp.h>
#include <algorithm>
#include <cmath>
#include "common.h"

namespace {

// Below this many elements in total the kernels run on the calling thread (an OpenMP fork costs ~µs).
constexpr int64_t kParallelMin = 1 << 15;
// Fixed block count of cola_sum_squares (its result must not depend on the thread count).
constexpr int kBlocks = 256;

struct AdamW {
    float one_minus_b1, b2, one_minus_b2, eps, decay, step_size, bc2_sqrt, grad_scale;
};

COLA_DISPATCH void adamw_segment(float* __restrict p, const float* __restrict g, float* __restrict m,
                                 float* __restrict v, int64_t n, const AdamW h) {
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i] * h.grad_scale;
        float mi = m[i] + h.one_minus_b1 * (gi - m[i]);
        float vi = h.b2 * v[i] + h.one_minus_b2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        float denom = std::sqrt(vi) / h.bc2_sqrt + h.eps;
        float pi = p[i] * h.decay;
        p[i] = pi - h.step_size * (mi / denom);
    }
}

COLA_DISPATCH void scale_segment(float* __restrict x, int64_t n, float s) {
    for (int64_t i = 0; i < n; i++) x[i] *= s;
}

// Σ x² in double with 8 independent lanes combined in a fixed order: vectorises without -ffast-math (no
// reassociation needed) and gives the same bits in every ISA clone.
COLA_DISPATCH double sum_squares_segment(const float* __restrict x, int64_t n) {
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        for (int j = 0; j < 8; j++) acc[j] += (double)x[i + j] * (double)x[i + j];
    }
    for (int j = 0; i < n; i++, j++) acc[j] += (double)x[i] * (double)x[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// Calls f(tensor, offset, count) for each piece of the flat range [lo, hi) of the concatenated tensors, in order.
template <class F>
inline void for_segments(const int64_t* sizes, int64_t n_tensors, int64_t lo, int64_t hi, F&& f) {
    int64_t off = 0;
    for (int64_t i = 0; i < n_tensors && off < hi; i++) {
        int64_t a = std::max(lo, off), b = std::min(hi, off + sizes[i]);
        if (a < b) f(i, a - off, b - a);
        off += sizes[i];
    }
}

// Thread t's share of [0, total): equal parts, cut on multiples of 16 elements (64 bytes) so that no two threads
// write the same cache line of a tensor that starts on a line.
inline void thread_range(int64_t total, int t, int nt, int64_t* lo, int64_t* hi) {
    *lo = t == 0 ? 0 : std::min(total, (total * t / nt) & ~(int64_t)15);
    *hi = t == nt - 1 ? total : std::min(total, (total * (t + 1) / nt) & ~(int64_t)15);
}

// Total element count, or -1 if a size is negative or a non-empty tensor has a NULL pointer in any list.
inline int64_t total_size(const int64_t* sizes, int64_t n_tensors, const void* const* a, const void* const* b,
                          const void* const* c, const void* const* d) {
    if (n_tensors < 0 || (n_tensors > 0 && !sizes)) return -1;
    int64_t total = 0;
    for (int64_t i = 0; i < n_tensors; i++) {
        if (sizes[i] < 0) return -1;
        if (sizes[i] > 0 && ((a && !a[i]) || (b && !b[i]) || (c && !c[i]) || (d && !d[i]))) return -1;
        total += sizes[i];
    }
    return total;
}

}  // namespace

extern "C" {

int cola_adamw_step(float* const* params, const float* const* grads, float* const* m, float* const* v,
                    const int64_t* sizes, int64_t n_tensors, float lr, float beta1, float beta2, float eps,
                    float weight_decay, int64_t step, float grad_scale) {
    if (n_tensors > 0 && (!params || !grads || !m || !v)) return COLA_ERR_ARG;
    int64_t total = total_size(sizes, n_tensors, (const void* const*)params, (const void* const*)grads,
                               (const void* const*)m, (const void* const*)v);
    if (total < 0 || step < 1) return COLA_ERR_ARG;
    if (!(beta1 >= 0.0f && beta1 < 1.0f && beta2 >= 0.0f && beta2 < 1.0f && eps > 0.0f && lr >= 0.0f &&
          weight_decay >= 0.0f && std::isfinite(grad_scale))) {
        return COLA_ERR_ARG;
    }
    if (total == 0) return COLA_OK;
    // Scalars as torch computes them: Python doubles, rounded to f32 where they meet the f32 tensors.
    double bc1 = 1.0 - std::pow((double)beta1, (double)step);
    double bc2 = 1.0 - std::pow((double)beta2, (double)step);
    AdamW h;
    h.one_minus_b1 = (float)(1.0 - (double)beta1);
    h.b2 = beta2;
    h.one_minus_b2 = (float)(1.0 - (double)beta2);
    h.eps = eps;
    h.decay = (float)(1.0 - (double)lr * (double)weight_decay);
    h.step_size = (float)((double)lr / bc1);
    h.bc2_sqrt = (float)std::sqrt(bc2);
    h.grad_scale = grad_scale;
#pragma omp parallel if (total >= kParallelMin)
    {
        int64_t lo, hi;
        thread_range(total, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        for_segments(sizes, n_tensors, lo, hi, [&](int64_t i, int64_t off, int64_t n) {
            adamw_segment(params[i] + off, grads[i] + off, m[i] + off, v[i] + off, n, h);
        });
    }
    return COLA_OK;
}

int cola_sum_squares(double* out, const float* const* tensors, const int64_t* sizes, int64_t n_tensors) {
    if (!out || (n_tensors > 0 && !tensors)) return COLA_ERR_ARG;
    int64_t total = total_size(sizes, n_tensors, (const void* const*)tensors, nullptr, nullptr, nullptr);
    if (total < 0) return COLA_ERR_ARG;
    double partial[kBlocks];
#pragma omp parallel for schedule(static) if (total >= kParallelMin)
    for (int b = 0; b < kBlocks; b++) {
        double s = 0.0;
        for_segments(sizes, n_tensors, total * b / kBlocks, total * (b + 1) / kBlocks,
                     [&](int64_t i, int64_t off, int64_t n) { s += sum_squares_segment(tensors[i] + off, n); });
        partial[b] = s;
    }
    double sum = 0.0;
    for (int b = 0; b < kBlocks; b++) sum += partial[b];
    *out = sum;
    return COLA_OK;
}

int cola_scale(float* const* tensors, const int64_t* sizes, int64_t n_tensors, float scale) {
    if (n_tensors > 0 && !tensors) return COLA_ERR_ARG;
    int64_t total = total_size(sizes, n_tensors, (const void* const*)tensors, nullptr, nullptr, nullptr);
    if (total < 0) return COLA_ERR_ARG;
    if (total == 0 || scale == 1.0f) return COLA_OK;
#pragma omp parallel if (total >= kParallelMin)
    {
        int64_t lo, hi;
        thread_range(total, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        for_segments(sizes, n_tensors, lo, hi,
                     [&](int64_t i, int64_t off, int64_t n) { scale_segment(tensors[i] + off, n, scale); });
    }
    return COLA_OK;
}

}  // extern "C"
