// Inverted dropout with a regenerable mask.
//
// Shapes: inp/out/dout/dinp[n] (any tensor, flattened).
// Forward:  out[i] = keep(i) ? inp[i]·scale : 0,  scale = 1/(1-p),  keep(i) = cola::dropout_keep(seed, i, p)
//           (a counter-based hash of (seed, i): P(keep) = 1-p, the same mask for any thread count, and the same
//           function the fused LoRA kernel uses, so both draw identical masks for identical (seed, index)).
// Backward: dinp[i] += keep(i) ? dout[i]·scale : 0 — the mask is regenerated, never stored.
// p = 0 is the identity: an exact copy (forward) / exact accumulation (backward), no hashing.
// OpenMP over contiguous element ranges; out may alias inp (element-wise, read before write).
#include <omp.h>
#include "common.h"

// GCC 12 does not vectorise, in the AVX clones of a target_clones worker, loops whose body comes from a plain inline
// helper ("no vectype" for the helper's loads); flatten inlines the helpers first and fixes it.
#ifndef COLA_WORKER
#define COLA_WORKER COLA_DISPATCH __attribute__((flatten))
#endif

namespace {

COLA_WORKER void dropout_range(float* out, const float* inp, int64_t i0, int64_t i1, float p, float scale,
                                 uint64_t seed) {
#pragma GCC ivdep
    for (int64_t i = i0; i < i1; i++) out[i] = cola::dropout_keep(seed, (uint64_t)i, p) ? inp[i] * scale : 0.0f;
}

COLA_WORKER void dropout_acc_range(float* dinp, const float* dout, int64_t i0, int64_t i1, float p, float scale,
                                     uint64_t seed) {
#pragma GCC ivdep
    for (int64_t i = i0; i < i1; i++) dinp[i] += cola::dropout_keep(seed, (uint64_t)i, p) ? dout[i] * scale : 0.0f;
}

COLA_WORKER void copy_range(float* out, const float* inp, int64_t i0, int64_t i1) {
    if (out != inp) std::memcpy(out + i0, inp + i0, sizeof(float) * (i1 - i0));
}

COLA_WORKER void acc_range(float* dinp, const float* dout, int64_t i0, int64_t i1) {
#pragma GCC ivdep
    for (int64_t i = i0; i < i1; i++) dinp[i] += dout[i];
}

}  // namespace

extern "C" {

int cola_dropout_forward(float* out, const float* inp, int64_t n, float p, uint64_t seed) {
    if (n < 0 || !(p >= 0.0f && p < 1.0f)) return COLA_ERR_ARG;
    const float scale = 1.0f / (1.0f - p);
#pragma omp parallel
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int64_t i0 = n * t / nt, i1 = n * (t + 1) / nt;
        if (p == 0.0f) copy_range(out, inp, i0, i1);
        else dropout_range(out, inp, i0, i1, p, scale, seed);
    }
    return COLA_OK;
}

int cola_dropout_backward(float* dinp, const float* dout, int64_t n, float p, uint64_t seed) {
    if (n < 0 || !(p >= 0.0f && p < 1.0f)) return COLA_ERR_ARG;
    const float scale = 1.0f / (1.0f - p);
#pragma omp parallel
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int64_t i0 = n * t / nt, i1 = n * (t + 1) / nt;
        if (p == 0.0f) acc_range(dinp, dout, i0, i1);
        else dropout_acc_range(dinp, dout, i0, i1, p, scale, seed);
    }
    return COLA_OK;
}

}  // extern "C"
