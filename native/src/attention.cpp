// PLACEHOLDER: replaced by the real kernels of this family.
#include "common.h"
extern "C" {
int cola_attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                           const int32_t* key_mask, int64_t B, int64_t T, int64_t Hq, int64_t Hkv, int64_t D,
                           int causal, float scale) { return COLA_ERR_ARG; }
int cola_attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                            const float* v, const float* out, const float* lse, const int32_t* key_mask, int64_t B,
                            int64_t T, int64_t Hq, int64_t Hkv, int64_t D, int causal, float scale) { return COLA_ERR_ARG; }
}
