// Embedding lookup (token or position table).
//
// Shapes: ids[N] (N = B·T, int32), table[V,C], out[N,C], dout[N,C], dtable[V,C].
// Forward:  out[n, :] = table[ids[n], :]. Every id is checked first; one outside [0, V) returns COLA_ERR_INDEX with
//           nothing written. OpenMP over rows; each row is a memcpy.
// Backward: dtable[ids[n], :] += dout[n, :] (the adjoint of a gather is a scatter-add). Repeated ids accumulate.
//           Deterministic scatter: the COLUMNS are split among threads in 64-byte chunks, so every dtable element has
//           exactly one owner thread, which adds the rows n = 0..N-1 in order. The result is therefore bitwise the
//           same for any thread count, and a skewed id distribution (padding, frequent tokens) cannot unbalance the
//           threads (splitting by vocabulary row would). Traffic: dout read once, the touched rows of dtable
//           read+written once per occurrence (cached when repeated).
#include <omp.h>
#include "common.h"

// GCC 12 does not vectorise, in the AVX clones of a target_clones worker, loops whose body comes from a plain inline
// helper ("no vectype" for the helper's loads); flatten inlines the helpers first and fixes it.
#ifndef COLA_WORKER
#define COLA_WORKER COLA_DISPATCH __attribute__((flatten))
#endif

namespace {

COLA_WORKER void gather_rows(float* out, const int32_t* ids, const float* table, int64_t n0, int64_t n1, int64_t C) {
    for (int64_t n = n0; n < n1; n++) std::memcpy(out + n * C, table + (int64_t)ids[n] * C, sizeof(float) * C);
}

// dtable[ids[n], c0:c1] += dout[n, c0:c1] for n = 0..N-1 in order.
COLA_WORKER void scatter_add_columns(float* dtable, const float* dout, const int32_t* ids, int64_t N, int64_t C,
                                       int64_t c0, int64_t c1) {
    for (int64_t n = 0; n < N; n++) {
        float* __restrict d = dtable + (int64_t)ids[n] * C;
        const float* __restrict g = dout + n * C;
        for (int64_t c = c0; c < c1; c++) d[c] += g[c];
    }
}

static bool ids_in_range(const int32_t* ids, int64_t N, int64_t V) {
    bool ok = true;
    for (int64_t n = 0; n < N; n++) ok &= ids[n] >= 0 && (int64_t)ids[n] < V;
    return ok;
}

// bf16 table (a frozen embedding kept in the checkpoint's dtype): out rows are widened to f32 on the way.
COLA_WORKER void gather_rows_bf16(float* out, const int32_t* ids, const uint16_t* table, int64_t n0, int64_t n1,
                                  int64_t C) {
    for (int64_t n = n0; n < n1; n++) {
        const uint16_t* __restrict src = table + (int64_t)ids[n] * C;
        float* __restrict dst = out + n * C;
        for (int64_t c = 0; c < C; c++) dst[c] = cola::bf16_to_f32(src[c]);
    }
}

// The checks and the thread split shared by both table types; rows(out, ids, table, n0, n1, C) is the worker.
template <class T, class Rows>
int gather(float* out, const int32_t* ids, const T* table, int64_t N, int64_t V, int64_t C, Rows rows) {
    if (N < 0 || V < 0 || C < 0) return COLA_ERR_ARG;
    if (!ids_in_range(ids, N, V)) return COLA_ERR_INDEX;
    if (C == 0) return COLA_OK;
#pragma omp parallel
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        rows(out, ids, table, N * t / nt, N * (t + 1) / nt, C);
    }
    return COLA_OK;
}

}  // namespace

extern "C" {

int cola_embedding_bf16_forward(float* out, const int32_t* ids, const uint16_t* table, int64_t N, int64_t V,
                                int64_t C) {
    return gather(out, ids, table, N, V, C, gather_rows_bf16);
}

int cola_embedding_forward(float* out, const int32_t* ids, const float* table, int64_t N, int64_t V, int64_t C) {
    return gather(out, ids, table, N, V, C, gather_rows);
}

int cola_embedding_backward(float* dtable, const float* dout, const int32_t* ids, int64_t N, int64_t V, int64_t C) {
    if (N < 0 || V < 0 || C < 0) return COLA_ERR_ARG;
    if (!ids_in_range(ids, N, V)) return COLA_ERR_INDEX;
    const int64_t chunk = 16;  // floats per 64-byte line (C % 16 == 0: no two threads write the same cache line)
    const int64_t chunks = (C + chunk - 1) / chunk;
    if (chunks == 0 || N == 0) return COLA_OK;
#pragma omp parallel
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int64_t k0 = chunks * t / nt, k1 = chunks * (t + 1) / nt;
        int64_t c0 = k0 * chunk, c1 = k1 * chunk < C ? k1 * chunk : C;
        if (c0 < c1) scatter_add_columns(dtable, dout, ids, N, C, c0, c1);
    }
    return COLA_OK;
}

}  // extern "C"
