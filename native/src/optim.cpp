// PLACEHOLDER: replaced by the real kernels of this family.
#include "common.h"
extern "C" {
int cola_adamw_step(float* const* params, const float* const* grads, float* const* m, float* const* v,
                    const int64_t* sizes, int64_t n_tensors, float lr, float beta1, float beta2, float eps,
                    float weight_decay, int64_t step, float grad_scale) { return COLA_ERR_ARG; }
int cola_sum_squares(double* out, const float* const* tensors, const int64_t* sizes, int64_t n_tensors) { return COLA_ERR_ARG; }
int cola_scale(float* const* tensors, const int64_t* sizes, int64_t n_tensors, float scale) { return COLA_ERR_ARG; }
}
