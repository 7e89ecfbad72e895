// Element-wise activations and the residual add over n contiguous f32 elements (== native/src/activation.cpp):
//   gelu (approximate 0): y = x·Φ(x), Φ(x) = ½erfc(-x/√2) (no cancellation in the negative tail), y' = Φ + x·φ
//   gelu (approximate 1): y = x·σ(2u), u = √(2/π)(x + 0.044715x³) (= ½x(1+tanh u)), y' = σ + x·σ(1-σ)·2u'
//   relu y = max(x,0), y' = [x>0];  silu y = x·σ(x), y' = σ(1 + x(1-σ));  swiglu y = silu(g)·up;  add y = a + b.
// σ and 1-σ both come from e = exp(-|y|) ∈ (0,1]: no overflow, no cancellation. Backward ops accumulate.
// Parallel scheme: elementwise.cuh — grid-stride, float4 loads/stores when aligned, one thread per 4 elements.
// Numerics: expf is __expf under --use_fast_math (~2 ulp + |x|·2^-21 relative): within the parity tolerance (1e-5).
#include "elementwise.cuh"

namespace colacu {
namespace {

__device__ __forceinline__ void sigmoid2(float y, float& s, float& oms) {
    const float e = expf(-fabsf(y));
    const float r = 1.0f / (1.0f + e);
    const float er = e * r;
    s = y >= 0.0f ? r : er;
    oms = y >= 0.0f ? er : r;
}
constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kInvSqrt2 = 0.7071067811865476f;
constexpr float kInvSqrt2Pi = 0.3989422804014327f;

struct GeluFwd {
    static constexpr bool ACC = false;
    int approx;
    __device__ void apply(int64_t, const float* x, float* y) const {
        const float v = x[0];
        if (approx) {
            float s, oms;
            sigmoid2(2.0f * kSqrt2OverPi * (v + 0.044715f * v * v * v), s, oms);
            y[0] = v * s;
        } else {
            y[0] = v * 0.5f * erfcf(-v * kInvSqrt2);
        }
    }
};
struct GeluBwd {  // in: dout, inp; out: dinp (+=)
    static constexpr bool ACC = true;
    int approx;
    __device__ void apply(int64_t, const float* x, float* y) const {
        const float g = x[0], v = x[1];
        float d;
        if (approx) {
            float s, oms;
            const float u2 = 2.0f * kSqrt2OverPi * (v + 0.044715f * v * v * v);
            const float du2 = 2.0f * kSqrt2OverPi * (1.0f + 3.0f * 0.044715f * v * v);
            sigmoid2(u2, s, oms);
            d = s + v * s * oms * du2;
        } else {
            d = 0.5f * erfcf(-v * kInvSqrt2) + v * kInvSqrt2Pi * expf(-0.5f * v * v);
        }
        y[0] += g * d;
    }
};
struct ReluFwd {
    static constexpr bool ACC = false;
    __device__ void apply(int64_t, const float* x, float* y) const { y[0] = x[0] > 0.0f ? x[0] : (x[0] != x[0] ? x[0] : 0.0f); }
};
struct ReluBwd {
    static constexpr bool ACC = true;
    __device__ void apply(int64_t, const float* x, float* y) const { y[0] += x[1] > 0.0f ? x[0] : 0.0f; }
};
struct SiluFwd {
    static constexpr bool ACC = false;
    __device__ void apply(int64_t, const float* x, float* y) const {
        float s, oms;
        sigmoid2(x[0], s, oms);
        y[0] = x[0] * s;
    }
};
struct SiluBwd {
    static constexpr bool ACC = true;
    __device__ void apply(int64_t, const float* x, float* y) const {
        float s, oms;
        sigmoid2(x[1], s, oms);
        y[0] += x[0] * (s * (1.0f + x[1] * oms));
    }
};
struct SwigluFwd {  // in: gate, up
    static constexpr bool ACC = false;
    __device__ void apply(int64_t, const float* x, float* y) const {
        float s, oms;
        sigmoid2(x[0], s, oms);
        y[0] = x[0] * s * x[1];
    }
};
struct SwigluBwd {  // in: dout, gate, up; out: dgate, dup (+=)
    static constexpr bool ACC = true;
    __device__ void apply(int64_t, const float* x, float* y) const {
        float s, oms;
        const float g = x[0], gate = x[1], up = x[2];
        sigmoid2(gate, s, oms);
        y[0] += g * up * (s * (1.0f + gate * oms));
        y[1] += g * gate * s;
    }
};
struct AddFwd {
    static constexpr bool ACC = false;
    __device__ void apply(int64_t, const float* x, float* y) const { y[0] = x[0] + x[1]; }
};

}  // namespace
}  // namespace colacu

using namespace colacu;

extern "C" {
int cola_cuda_gelu_forward(float* out, const float* inp, int64_t n, int approximate, void* stream) {
    if (approximate != 0 && approximate != 1) return kErrArg;
    return launch_ew(GeluFwd{approximate}, EwPtrs<1, 1>{{inp}, {out}}, n, stream);
}
int cola_cuda_gelu_backward(float* dinp, const float* dout, const float* inp, int64_t n, int approximate,
                            void* stream) {
    if (approximate != 0 && approximate != 1) return kErrArg;
    return launch_ew(GeluBwd{approximate}, EwPtrs<2, 1>{{dout, inp}, {dinp}}, n, stream);
}
int cola_cuda_relu_forward(float* out, const float* inp, int64_t n, void* stream) {
    return launch_ew(ReluFwd{}, EwPtrs<1, 1>{{inp}, {out}}, n, stream);
}
int cola_cuda_relu_backward(float* dinp, const float* dout, const float* inp, int64_t n, void* stream) {
    return launch_ew(ReluBwd{}, EwPtrs<2, 1>{{dout, inp}, {dinp}}, n, stream);
}
int cola_cuda_silu_forward(float* out, const float* inp, int64_t n, void* stream) {
    return launch_ew(SiluFwd{}, EwPtrs<1, 1>{{inp}, {out}}, n, stream);
}
int cola_cuda_silu_backward(float* dinp, const float* dout, const float* inp, int64_t n, void* stream) {
    return launch_ew(SiluBwd{}, EwPtrs<2, 1>{{dout, inp}, {dinp}}, n, stream);
}
int cola_cuda_swiglu_forward(float* out, const float* gate, const float* up, int64_t n, void* stream) {
    return launch_ew(SwigluFwd{}, EwPtrs<2, 1>{{gate, up}, {out}}, n, stream);
}
int cola_cuda_swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up,
                              int64_t n, void* stream) {
    return launch_ew(SwigluBwd{}, EwPtrs<3, 2>{{dout, gate, up}, {dgate, dup}}, n, stream);
}
int cola_cuda_add_forward(float* out, const float* a, const float* b, int64_t n, void* stream) {
    return launch_ew(AddFwd{}, EwPtrs<2, 1>{{a, b}, {out}}, n, stream);
}
}
