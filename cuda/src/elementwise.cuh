// Generic element-wise launcher for the activation and dropout families: an Op with NIN f32 inputs, NOUT f32 outputs
// (accumulated into when Op::ACC) is applied to n elements by a grid-stride loop; when every pointer is 16-byte
// aligned the loop moves float4s (128-bit loads/stores) and a scalar tail finishes n % 4. Op::apply(i, in, out) gets
// the flat element index i (for counter-based RNG).
#pragma once
#include "common.cuh"

namespace colacu {

template <int NIN, int NOUT>
struct EwPtrs {
    const float* in[NIN > 0 ? NIN : 1];
    float* out[NOUT];
};

template <class Op, int NIN, int NOUT>
__global__ void __launch_bounds__(256) ew_kernel(EwPtrs<NIN, NOUT> P, int64_t n, Op op, bool vec) {
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    const int64_t tid = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    int64_t start = 0;
    if (vec) {
        const int64_t n4 = n >> 2;
        for (int64_t i4 = tid; i4 < n4; i4 += stride) {
            float4 a[NIN > 0 ? NIN : 1], o[NOUT];
#pragma unroll
            for (int t = 0; t < NIN; t++) a[t] = reinterpret_cast<const float4*>(P.in[t])[i4];
#pragma unroll
            for (int t = 0; t < NOUT; t++)
                o[t] = Op::ACC ? reinterpret_cast<const float4*>(P.out[t])[i4] : make_float4(0.f, 0.f, 0.f, 0.f);
            const float* af = reinterpret_cast<const float*>(a);
            float* of = reinterpret_cast<float*>(o);
#pragma unroll
            for (int l = 0; l < 4; l++) {
                float x[NIN > 0 ? NIN : 1], y[NOUT];
#pragma unroll
                for (int t = 0; t < NIN; t++) x[t] = af[t * 4 + l];
#pragma unroll
                for (int t = 0; t < NOUT; t++) y[t] = of[t * 4 + l];
                op.apply(i4 * 4 + l, x, y);
#pragma unroll
                for (int t = 0; t < NOUT; t++) of[t * 4 + l] = y[t];
            }
#pragma unroll
            for (int t = 0; t < NOUT; t++) reinterpret_cast<float4*>(P.out[t])[i4] = o[t];
        }
        start = n4 << 2;
    }
    for (int64_t i = start + tid; i < n; i += stride) {
        float x[NIN > 0 ? NIN : 1], y[NOUT];
#pragma unroll
        for (int t = 0; t < NIN; t++) x[t] = P.in[t][i];
#pragma unroll
        for (int t = 0; t < NOUT; t++) y[t] = Op::ACC ? P.out[t][i] : 0.0f;
        op.apply(i, x, y);
#pragma unroll
        for (int t = 0; t < NOUT; t++) P.out[t][i] = y[t];
    }
}

template <class Op, int NIN, int NOUT>
int launch_ew(const Op& op, EwPtrs<NIN, NOUT> P, int64_t n, void* stream) {
    if (n < 0) return kErrArg;
    if (n == 0) return 0;
    bool vec = true;
    for (int t = 0; t < NIN; t++) vec &= aligned16(P.in[t]);
    for (int t = 0; t < NOUT; t++) vec &= aligned16(P.out[t]);
    const int threads = 256;
    ew_kernel<Op, NIN, NOUT><<<grid_for(vec ? (n + 3) / 4 : n, threads), threads, 0, as_stream(stream)>>>(P, n, op, vec);
    return launch_status();
}

}  // namespace colacu
