// PLACEHOLDER: replaced by the real kernels of this family.
#include "common.h"
extern "C" {
int cola_gelu_forward(float* out, const float* inp, int64_t n, int approximate) { return COLA_ERR_ARG; }
int cola_gelu_backward(float* dinp, const float* dout, const float* inp, int64_t n, int approximate) { return COLA_ERR_ARG; }
int cola_relu_forward(float* out, const float* inp, int64_t n) { return COLA_ERR_ARG; }
int cola_relu_backward(float* dinp, const float* dout, const float* inp, int64_t n) { return COLA_ERR_ARG; }
int cola_silu_forward(float* out, const float* inp, int64_t n) { return COLA_ERR_ARG; }
int cola_silu_backward(float* dinp, const float* dout, const float* inp, int64_t n) { return COLA_ERR_ARG; }
int cola_swiglu_forward(float* out, const float* gate, const float* up, int64_t n) { return COLA_ERR_ARG; }
int cola_swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up, int64_t n) { return COLA_ERR_ARG; }
int cola_add_forward(float* out, const float* a, const float* b, int64_t n) { return COLA_ERR_ARG; }
}
