// Rotary position embedding, HF Llama rotate_half layout (== native/src/rope.cpp). inp/out[N,H,D], pos[N], D even.
// For i < D/2: angle = pos·theta^(-2i/D), (x_i, x_{i+D/2}) rotated by [[c,-s],[s,c]]; backward accumulates the
// transpose rotation. Angles, inv_freq and sin/cos are computed in DOUBLE (device sincos/pow in double are accurate to
// ~1 ulp and untouched by --use_fast_math) and rounded to float: equal to the CPU's c, s within 1 float ulp.
// Parallel scheme: one block per row n; its threads first fill sin/cos of the row's D/2 angles into shared memory,
// then rotate all H heads (pairs strided over the block). out may alias inp (each pair read before written).
#include "common.cuh"

namespace colacu {
namespace {

// inv_freq (device, f32[D/2]) replaces theta^(-2i/D) when non-null (scaled RoPE); scale multiplies cos and sin.
__global__ void rope_kernel(float* out, const float* inp, const int32_t* pos, int64_t H, int64_t D, float theta,
                            const float* inv_freq, float scale, bool backward) {
    extern __shared__ float sh[];
    const int64_t n = blockIdx.x, half = D / 2;
    float* cs = sh;
    float* sn = sh + half;
    const double p = (double)pos[n];
    for (int64_t i = threadIdx.x; i < half; i += blockDim.x) {
        const double f = inv_freq ? (double)inv_freq[i] : pow((double)theta, -2.0 * (double)i / (double)D);
        double s, c;
        sincos(p * f, &s, &c);
        cs[i] = (float)c * scale;
        sn[i] = (float)s * scale;
    }
    __syncthreads();
    const int64_t pairs = H * half;
    for (int64_t t = threadIdx.x; t < pairs; t += blockDim.x) {
        const int64_t h = t / half, i = t - h * half;
        const int64_t base = (n * H + h) * D + i;
        const float a = inp[base], b = inp[base + half], c = cs[i], s = sn[i];
        if (backward) {
            out[base] += a * c + b * s;
            out[base + half] += b * c - a * s;
        } else {
            out[base] = a * c - b * s;
            out[base + half] = b * c + a * s;
        }
    }
}

int rope(float* out, const float* inp, const int32_t* pos, int64_t N, int64_t H, int64_t D, float theta,
         const float* inv_freq, float scale, bool backward, void* stream) {
    if (N < 0 || H < 0 || D < 0 || (D & 1) || !(inv_freq || theta > 0) || N > 0x7fffffff || D > 16384) return kErrArg;
    if (N == 0 || H == 0 || D == 0) return 0;
    rope_kernel<<<(unsigned)N, 128, sizeof(float) * (size_t)D, as_stream(stream)>>>(out, inp, pos, H, D, theta,
                                                                                   inv_freq, scale, backward);
    return launch_status();
}

}  // namespace
}  // namespace colacu

extern "C" {
int cola_cuda_rope_forward(float* out, const float* inp, const int32_t* pos, int64_t N, int64_t H, int64_t D,
                           float theta, void* stream) {
    return colacu::rope(out, inp, pos, N, H, D, theta, nullptr, 1.0f, false, stream);
}
int cola_cuda_rope_backward(float* dinp, const float* dout, const int32_t* pos, int64_t N, int64_t H, int64_t D,
                            float theta, void* stream) {
    return colacu::rope(dinp, dout, pos, N, H, D, theta, nullptr, 1.0f, true, stream);
}
int cola_cuda_rope_forward_freqs(float* out, const float* inp, const int32_t* pos, int64_t N, int64_t H, int64_t D,
                                 const float* inv_freq, float scale, void* stream) {
    if (!inv_freq) return colacu::kErrArg;
    return colacu::rope(out, inp, pos, N, H, D, 0.0f, inv_freq, scale, false, stream);
}
int cola_cuda_rope_backward_freqs(float* dinp, const float* dout, const int32_t* pos, int64_t N, int64_t H,
                                  int64_t D, const float* inv_freq, float scale, void* stream) {
    if (!inv_freq) return colacu::kErrArg;
    return colacu::rope(dinp, dout, pos, N, H, D, 0.0f, inv_freq, scale, true, stream);
}
}
