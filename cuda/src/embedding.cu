// Embedding lookup (== native/src/embedding.cpp). ids[N] int32, table[V,C], out/dout[N,C], dtable[V,C].
// Forward:  out[n,:] = table[ids[n],:]. One block per row; float4 copies when C % 4 == 0 and aligned. An id outside
//           [0, V) cannot be reported without a host sync: its row is filled with NaN (poison, see cola_cuda.h).
// Backward: dtable[ids[n],:] += dout[n,:], DETERMINISTIC without atomics or sorting: each thread owns one column c
//           (consecutive threads = consecutive columns: coalesced) and adds rows n = 0..N-1 in order — the CPU's
//           column-ownership scheme, so the bits equal the CPU's. Ids outside [0, V) are skipped.
//           Cost: N dependent read-modify-writes per thread, C/128 blocks; fine for C ≥ 768 and N ≤ a few thousand
//           tokens per step; a sort-by-id segmented variant would scale better for tiny C.
#include "common.cuh"

namespace colacu {
namespace {

__device__ inline float widen(float x) { return x; }
__device__ inline float widen(uint16_t h) { return __int_as_float((int)((uint32_t)h << 16)); }  // bf16: top half

// T = float (f32 table; float4 copies when vec) or uint16_t (a frozen bf16 table, widened to f32).
template <typename T>
__global__ void embedding_fwd(float* out, const int32_t* ids, const T* table, int64_t N, int64_t V, int64_t C,
                              bool vec) {
    const int64_t n = blockIdx.x;
    const int32_t id = ids[n];
    float* o = out + n * C;
    if (id < 0 || (int64_t)id >= V) {
        for (int64_t c = threadIdx.x; c < C; c += blockDim.x) o[c] = __int_as_float(0x7fc00000);
        return;
    }
    const T* t = table + (int64_t)id * C;
    if constexpr (sizeof(T) == 4) {
        if (vec) {
            for (int64_t c = threadIdx.x; c < C / 4; c += blockDim.x)
                reinterpret_cast<float4*>(o)[c] = reinterpret_cast<const float4*>(t)[c];
            return;
        }
    }
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) o[c] = widen(t[c]);
}

__global__ void embedding_bwd(float* dtable, const float* dout, const int32_t* ids, int64_t N, int64_t V, int64_t C) {
    const int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    for (int64_t n = 0; n < N; n++) {
        const int32_t id = ids[n];
        if (id < 0 || (int64_t)id >= V) continue;
        dtable[(int64_t)id * C + c] += dout[n * C + c];
    }
}

}  // namespace
}  // namespace colacu

using namespace colacu;

extern "C" {
int cola_cuda_embedding_forward(float* out, const int32_t* ids, const float* table, int64_t N, int64_t V, int64_t C,
                                void* stream) {
    if (N < 0 || V < 0 || C < 0 || N > 0x7fffffff) return kErrArg;
    if (N == 0 || C == 0) return 0;
    const bool vec = C % 4 == 0 && aligned16(out) && aligned16(table);
    embedding_fwd<float><<<(unsigned)N, 128, 0, as_stream(stream)>>>(out, ids, table, N, V, C, vec);
    return launch_status();
}
int cola_cuda_embedding_bf16_forward(float* out, const int32_t* ids, const uint16_t* table, int64_t N, int64_t V,
                                     int64_t C, void* stream) {
    if (N < 0 || V < 0 || C < 0 || N > 0x7fffffff) return kErrArg;
    if (N == 0 || C == 0) return 0;
    embedding_fwd<uint16_t><<<(unsigned)N, 128, 0, as_stream(stream)>>>(out, ids, table, N, V, C, false);
    return launch_status();
}
int cola_cuda_embedding_backward(float* dtable, const float* dout, const int32_t* ids, int64_t N, int64_t V,
                                 int64_t C, void* stream) {
    if (N < 0 || V < 0 || C < 0) return kErrArg;
    if (N == 0 || C == 0) return 0;
    embedding_bwd<<<(unsigned)((C + 31) / 32), 32, 0, as_stream(stream)>>>(dtable, dout, ids, N, V, C);
    return launch_status();
}
}
