// PLACEHOLDER: replaced by the real kernels of this family.
#include "common.h"
extern "C" {
int cola_rope_forward(float* out, const float* inp, const int32_t* pos, int64_t N, int64_t H, int64_t D, float theta) { return COLA_ERR_ARG; }
int cola_rope_backward(float* dinp, const float* dout, const int32_t* pos, int64_t N, int64_t H, int64_t D,
                       float theta) { return COLA_ERR_ARG; }
}
