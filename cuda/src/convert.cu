// f32 ↔ bf16/f16 conversions, bit-exact with native/src/convert.cpp (integer code, so --use_fast_math cannot change
// them): bf16 RNE with quiet NaN, f16 after Giesen's float_to_half_fast3_rtne (|x| ≥ 65520 → inf, NaN → 0x7e00|sign),
// f16 → f32 exact incl. subnormals (integer renormalisation here instead of the CPU's float subtraction: same bits,
// and immune to denormal flushing).
// Parallel scheme: grid-stride, one element per thread per step (2-byte side coalesced; memory bound).
#include "common.cuh"

namespace colacu {
namespace {

__device__ __forceinline__ uint16_t f32_to_f16_bits(float f) {
    uint32_t u = __float_as_uint(f);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t a = u & 0x7fffffffu;
    uint32_t h;
    if (a > 0x7f800000u) h = 0x7e00u;
    else if (a >= 0x477ff000u) h = 0x7c00u;
    else if (a < 0x38800000u) {
        // subnormal/zero: m = rne(|x|·2^24) done in integers (the CPU's |x| + 0.5f trick would be flushed to zero).
        if (a < 0x33000000u) h = 0;  // |x| < 2^-25: rounds to 0 (2^-25 exactly is a tie to even 0)
        else {
            uint32_t e = a >> 23;                       // 102..112
            uint32_t mant = (a & 0x7fffffu) | 0x800000u;
            uint32_t shift = 126u - e;                  // value = mant·2^(e-150); target units 2^-24 → shift = 126-e
            uint32_t q = mant >> shift, rem = mant & ((1u << shift) - 1u), halfway = 1u << (shift - 1);
            h = q + ((rem > halfway || (rem == halfway && (q & 1u))) ? 1u : 0u);
        }
    } else {
        h = (a + ((uint32_t)(15 - 127) << 23) + 0xfffu + ((a >> 13) & 1u)) >> 13;
    }
    return (uint16_t)(sign | h);
}

__device__ __forceinline__ float f16_bits_to_f32(uint16_t hb) {
    uint32_t h = hb, sign = (h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu, r;
    if (e == 0x1f) r = 0x7f800000u | (m << 13);
    else if (e) r = ((e + 112u) << 23) | (m << 13);
    else if (m == 0) r = 0;
    else {  // subnormal m·2^-24: top bit p, exponent p - 24
        uint32_t p = 31u - (uint32_t)__clz(m);
        r = ((p + 103u) << 23) | ((m << (23u - p)) & 0x7fffffu);
    }
    return __uint_as_float(r | sign);
}

__global__ void k_f32_to_bf16(uint16_t* out, const float* in, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        out[i] = f32_to_bf16_rne(in[i]);
}
__global__ void k_bf16_to_f32(float* out, const uint16_t* in, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        out[i] = bf16_to_f32(in[i]);
}
__global__ void k_f32_to_f16(uint16_t* out, const float* in, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        out[i] = f32_to_f16_bits(in[i]);
}
__global__ void k_f16_to_f32(float* out, const uint16_t* in, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        out[i] = f16_bits_to_f32(in[i]);
}

template <class O, class I>
int launch(void (*k)(O*, const I*, int64_t), O* out, const I* in, int64_t n, void* stream) {
    if (n < 0) return kErrArg;
    if (n == 0) return 0;
    k<<<grid_for(n, 256), 256, 0, as_stream(stream)>>>(out, in, n);
    return launch_status();
}

}  // namespace
}  // namespace colacu

using namespace colacu;
extern "C" {
int cola_cuda_f32_to_bf16(uint16_t* out, const float* inp, int64_t n, void* s) { return launch(k_f32_to_bf16, out, inp, n, s); }
int cola_cuda_bf16_to_f32(float* out, const uint16_t* inp, int64_t n, void* s) { return launch(k_bf16_to_f32, out, inp, n, s); }
int cola_cuda_f32_to_f16(uint16_t* out, const float* inp, int64_t n, void* s) { return launch(k_f32_to_f16, out, inp, n, s); }
int cola_cuda_f16_to_f32(float* out, const uint16_t* inp, int64_t n, void* s) { return launch(k_f16_to_f32, out, inp, n, s); }
}
