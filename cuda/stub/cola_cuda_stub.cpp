// libcola_cuda without a CUDA compiler: the same C ABI (cola_cuda.h), every call answers "no device".
// Compiles with any C++ compiler, no CUDA headers needed.
#include "cola_cuda.h"

extern "C" {
int cola_cuda_is_stub(void) { return 1; }
int cola_cuda_runtime_version(int* version) { if (version) *version = 0; return COLA_CUDA_ERR_STUB; }
int cola_cuda_device_count(int* count) { if (count) *count = 0; return COLA_CUDA_ERR_STUB; }
int cola_cuda_device_name(int, char* buf, int len) { if (buf && len > 0) buf[0] = 0; return COLA_CUDA_ERR_STUB; }
const char* cola_cuda_error_string(int code) {
    return code == 0 ? "no error" : "libcola_cuda was built without a CUDA compiler (stub)";
}
int cola_cuda_get_last_error(void) { return 0; }
int cola_cuda_set_device(int) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_device_synchronize(void) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_malloc(void**, size_t) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_free(void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_host_alloc(void**, size_t) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_host_free(void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_memcpy_h2d(void*, const void*, size_t, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_memcpy_d2h(void*, const void*, size_t, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_memcpy_d2d(void*, const void*, size_t, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_memset(void*, int, size_t, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_stream_create(void**) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_stream_destroy(void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_stream_synchronize(void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_lora_linear_forward(float*, float*, const float*, const float*, const float*, float, float, uint64_t, int64_t, int64_t, int64_t, int64_t, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_lora_linear_backward(float*, float*, float*, float*, const float*, const float*, const float*, const float*, const float*, float, float, uint64_t, int64_t, int64_t, int64_t, int64_t, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_lora_sgmv_forward(float*, float*, const float*, const float* const*, const float* const*, const float*, const int64_t*, int64_t, float, uint64_t, int64_t, int64_t, int64_t, int64_t, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_merge_f32(float*, const float*, const float*, float, int64_t, int64_t, int64_t, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_merge_bf16(uint16_t*, const float*, const float*, float, int64_t, int64_t, int64_t, int, uint64_t, int64_t*, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_layernorm_forward(float*, float*, float*, const float*, const float*, const float*, int64_t, int64_t, float, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_layernorm_backward(float*, float*, float*, const float*, const float*, const float*, const float*, const float*, int64_t, int64_t, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_rmsnorm_forward(float*, float*, const float*, const float*, int64_t, int64_t, float, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_rmsnorm_backward(float*, float*, const float*, const float*, const float*, const float*, int64_t, int64_t, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_gelu_forward(float*, const float*, int64_t, int, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_gelu_backward(float*, const float*, const float*, int64_t, int, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_relu_forward(float*, const float*, int64_t, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_relu_backward(float*, const float*, const float*, int64_t, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_silu_forward(float*, const float*, int64_t, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_silu_backward(float*, const float*, const float*, int64_t, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_swiglu_forward(float*, const float*, const float*, int64_t, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_swiglu_backward(float*, float*, const float*, const float*, const float*, int64_t, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_add_forward(float*, const float*, const float*, int64_t, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_embedding_forward(float*, const int32_t*, const float*, int64_t, int64_t, int64_t, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_embedding_bf16_forward(float*, const int32_t*, const uint16_t*, int64_t, int64_t, int64_t, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_embedding_backward(float*, const float*, const int32_t*, int64_t, int64_t, int64_t, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_rope_forward(float*, const float*, const int32_t*, int64_t, int64_t, int64_t, float, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_rope_backward(float*, const float*, const int32_t*, int64_t, int64_t, int64_t, float, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_rope_forward_freqs(float*, const float*, const int32_t*, int64_t, int64_t, int64_t, const float*, float, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_rope_backward_freqs(float*, const float*, const int32_t*, int64_t, int64_t, int64_t, const float*, float, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_attention_forward(float*, float*, const float*, const float*, const float*, const int32_t*, int64_t, int64_t, int64_t, int64_t, int64_t, int, float, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_attention_backward(float*, float*, float*, const float*, const float*, const float*, const float*, const float*, const float*, const int32_t*, int64_t, int64_t, int64_t, int64_t, int64_t, int, float, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_attention_forward_window(float*, float*, const float*, const float*, const float*, const int32_t*, int64_t, int64_t, int64_t, int64_t, int64_t, int, int64_t, float, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_attention_backward_window(float*, float*, float*, const float*, const float*, const float*, const float*, const float*, const float*, const int32_t*, int64_t, int64_t, int64_t, int64_t, int64_t, int, int64_t, float, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_softmax_xent_forward(float*, float*, const float*, const int32_t*, int64_t, int64_t, int32_t, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_softmax_xent_backward(float*, const float*, const float*, const float*, const int32_t*, int64_t, int64_t, int32_t, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_adamw_step(float* const*, const float* const*, float* const*, float* const*, const int64_t*, int64_t, float, float, float, float, float, int64_t, float, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_sum_squares(double*, const float* const*, const int64_t*, int64_t, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_scale(float* const*, const int64_t*, int64_t, float, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_dropout_forward(float*, const float*, int64_t, float, uint64_t, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_dropout_backward(float*, const float*, int64_t, float, uint64_t, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_copy_cols(float*, int64_t, const float*, int64_t, int64_t, int64_t, int, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_f32_to_bf16(uint16_t*, const float*, int64_t, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_bf16_to_f32(float*, const uint16_t*, int64_t, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_f32_to_f16(uint16_t*, const float*, int64_t, void*) { return COLA_CUDA_ERR_STUB; }
int cola_cuda_f16_to_f32(float*, const uint16_t*, int64_t, void*) { return COLA_CUDA_ERR_STUB; }
}
