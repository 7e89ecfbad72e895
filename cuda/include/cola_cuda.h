/*
 * cola_cuda.h — the C ABI of libcola_cuda. Built by nvcc (sm_80, sm_90, static CUDA runtime) when a CUDA compiler is
 * present, else as a stub with the same functions (cuda/stub/cola_cuda_stub.cpp) that return COLA_CUDA_ERR_STUB.
 *
 * Conventions (every function):
 *  - Ops mirror cola_cpu.h: cola_cuda_<op> takes the same arguments in the same order, all buffers DEVICE pointers,
 *    plus a trailing `void* stream` (a cudaStream_t; NULL = the legacy default stream). Work is enqueued on that
 *    stream and the call returns without waiting, except the two merges (see below). Same semantics as the CPU:
 *    backward ops ACCUMULATE into gradients, softmax_xent_backward overwrites dlogits (may be in place).
 *  - Return value: 0 on success; 1..999 a cudaError_t (launch/configuration errors from cudaGetLastError, or an
 *    allocator error); COLA_CUDA_ERR_BASE + COLA_ERR_* (1001 bad argument, 1002 non-finite merge) for cola's own
 *    checks; 100 (COLA_CUDA_ERR_STUB = cudaErrorNoDevice) from the stub. Asynchronous faults surface on the next
 *    synchronising call, as usual in CUDA.
 *  - Data-dependent checks that the CPU reports as COLA_ERR_INDEX cannot be returned without a host sync. Instead the
 *    device POISONS: an embedding id outside [0, V) yields a NaN output row (and is skipped in backward); a target
 *    outside [0, V) that is not ignore_index yields loss = NaN and a NaN dlogits row. The Java layer validates ids
 *    before upload; the poison makes a missed check loud instead of a memory fault.
 *  - Scratch: ops that need a temporary (sum_squares, merge, norm/LoRA parameter gradients) take it from the
 *    stream-ordered allocator (cudaMallocAsync/cudaFreeAsync on the caller's stream): no host sync, safe for
 *    concurrent streams. Nothing is global mutable state, every entry point is re-entrant.
 *  - Determinism: every op is bitwise deterministic run to run (no float atomics anywhere; parameter-gradient
 *    reductions are fixed-shape two-stage reductions). Results differ from the CPU in the last bits (reduction
 *    order, exp/sin implementations), except conversions, dropout masks and the RNG: bit-exact (same SplitMix64
 *    counter hash as native/src/common.h).
 *  - GEMMs are NOT in this library: the Java side calls cuBLAS. Hence the LoRA entry points take y ALREADY holding the
 *    base output x·Wᵀ(+b) and compute only the adapter terms (see below), and there is no matmul/gemm here.
 */
#ifndef COLA_CUDA_H
#define COLA_CUDA_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

enum {
    COLA_CUDA_ERR_STUB = 100,           /* same number as cudaErrorNoDevice: the stub has no device by construction */
    COLA_CUDA_ERR_BASE = 1000,          /* cola's own codes: COLA_CUDA_ERR_BASE + COLA_ERR_* of cola_cpu.h */
    COLA_CUDA_ERR_ARG = 1001,           /* a size, flag or pointer out of range (checked on the host, nothing run) */
    COLA_CUDA_ERR_NONFINITE = 1002      /* merge refused: non-finite or overflowing delta, W untouched */
};

/* ------------------------------------------------------------------ runtime (runtime.cu) */
int cola_cuda_is_stub(void);                          /* 1 for the stub build */
int cola_cuda_runtime_version(int* version);          /* CUDA runtime linked in, e.g. 13000 */
int cola_cuda_device_count(int* count);
int cola_cuda_device_name(int device, char* buf, int len);
const char* cola_cuda_error_string(int code);         /* also knows the COLA_CUDA_ERR_* codes */
/* Returns and clears the calling thread's last runtime error (cudaGetLastError). A failed cola_cuda_malloc leaves its
 * error there, where the next op's launch check would pick it up; the Java side clears it after an out-of-memory. */
int cola_cuda_get_last_error(void);
int cola_cuda_set_device(int device);
int cola_cuda_device_synchronize(void);
/* Memory. malloc/free are cudaMalloc/cudaFree (synchronous, as CUDA's are); host_alloc is pinned host memory, needed
 * for truly asynchronous copies. The copies and memset are async on `stream`. */
int cola_cuda_malloc(void** ptr, size_t bytes);
int cola_cuda_free(void* ptr);
int cola_cuda_host_alloc(void** ptr, size_t bytes);
int cola_cuda_host_free(void* ptr);
int cola_cuda_memcpy_h2d(void* dst, const void* src, size_t bytes, void* stream);
int cola_cuda_memcpy_d2h(void* dst, const void* src, size_t bytes, void* stream);
int cola_cuda_memcpy_d2d(void* dst, const void* src, size_t bytes, void* stream);
int cola_cuda_memset(void* ptr, int value, size_t bytes, void* stream);
int cola_cuda_stream_create(void** stream);           /* non-blocking stream */
int cola_cuda_stream_destroy(void* stream);
int cola_cuda_stream_synchronize(void* stream);

/* ------------------------------------------------------------------ LoRA (lora.cu) */
/* Adapter part of the fused LoRA linear. y[M,N] must already hold x·Wᵀ + b (cuBLAS); this computes
 *   u[M,r] = drop(x)[M,K]·A[r,K]ᵀ   (shrink; written)  and   y += s·u·B[N,r]ᵀ   (expand)
 * drop() = inverted dropout, keep drawn from (seed, m·K+k) exactly as the CPU (p = 0: identity). 0 <= p < 1. */
int cola_cuda_lora_linear_forward(float* y, float* u, const float* x, const float* A, const float* B, float s, float p,
                                  uint64_t seed, int64_t M, int64_t K, int64_t N, int64_t r, void* stream);
/* Adapter part of the backward (the base terms dx += dy·W, dW, db are cuBLAS GEMMs on the Java side):
 *   v[M,r] = dy·B (written);  dA[r,K] += s·vᵀ·drop(x);  dB[N,r] += s·dyᵀ·u;  dx[M,K] += s·drop'(v·A) (dx may be NULL).
 * drop'(z)[m,k] = keep(seed, m·K+k) ? z/(1-p) : 0. dA/dB sums over M are deterministic two-stage reductions. */
int cola_cuda_lora_linear_backward(float* dx, float* dA, float* dB, float* v, const float* dy, const float* x,
                                   const float* u, const float* A, const float* B, float s, float p, uint64_t seed,
                                   int64_t M, int64_t K, int64_t N, int64_t r, void* stream);
/* Segmented (multi-adapter, SGMV) forward: rows [seg_starts[i], seg_starts[i+1]) use adapter i (A_ptrs[i] [r,K],
 * B_ptrs[i] [N,r], scales[i]); rows outside every segment are left alone (u rows untouched). seg_starts[S+1] (int64),
 * A_ptrs, B_ptrs, scales are DEVICE arrays; segments must be sorted and disjoint. Same rank r for all adapters. */
int cola_cuda_lora_sgmv_forward(float* y, float* u, const float* x, const float* const* A_ptrs,
                                const float* const* B_ptrs, const float* scales, const int64_t* seg_starts,
                                int64_t S, float p, uint64_t seed, int64_t M, int64_t K, int64_t N, int64_t r,
                                void* stream);

/* ------------------------------------------------------------------ merge (merge.cu) */
/* As cola_merge_f32 / cola_merge_bf16 (same refusal rule: s, A, B finite, |s|·max_n Σ_j|B[n,j]|·max|A| ≤ 1e30 and the
 * unscaled bound ≤ 1e37, decided ON THE DEVICE by a check kernel before the write kernel, which reads the verdict
 * itself, so W is untouched when refused even before the host knows). These two are the only ops that SYNCHRONISE
 * `stream` before returning: merging is rare (once per knot) and the caller needs the verdict; they return
 * COLA_CUDA_ERR_NONFINITE when refused. `unchanged` is a HOST pointer (may be NULL): elements whose delta was
 * non-zero but whose bf16 value did not change. Stochastic rounding uses rng_bits(seed, n·K+k) >> 48, as the CPU. */
int cola_cuda_merge_f32(float* W, const float* A, const float* B, float s, int64_t N, int64_t K, int64_t r,
                        void* stream);
int cola_cuda_merge_bf16(uint16_t* W, const float* A, const float* B, float s, int64_t N, int64_t K, int64_t r,
                         int rounding, uint64_t seed, int64_t* unchanged, void* stream);

/* ------------------------------------------------------------------ norms (norm.cu) */
int cola_cuda_layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                                const float* bias, int64_t N, int64_t C, float eps, void* stream);
int cola_cuda_layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                                 const float* weight, const float* mean, const float* rstd, int64_t N, int64_t C,
                                 void* stream);
int cola_cuda_rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int64_t N, int64_t C,
                              float eps, void* stream);
int cola_cuda_rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight,
                               const float* rstd, int64_t N, int64_t C, void* stream);

/* ------------------------------------------------------------------ activations (activation.cu), n elements */
int cola_cuda_gelu_forward(float* out, const float* inp, int64_t n, int approximate, void* stream);
int cola_cuda_gelu_backward(float* dinp, const float* dout, const float* inp, int64_t n, int approximate,
                            void* stream);
int cola_cuda_relu_forward(float* out, const float* inp, int64_t n, void* stream);
int cola_cuda_relu_backward(float* dinp, const float* dout, const float* inp, int64_t n, void* stream);
int cola_cuda_silu_forward(float* out, const float* inp, int64_t n, void* stream);
int cola_cuda_silu_backward(float* dinp, const float* dout, const float* inp, int64_t n, void* stream);
int cola_cuda_swiglu_forward(float* out, const float* gate, const float* up, int64_t n, void* stream);
int cola_cuda_swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up,
                              int64_t n, void* stream);
int cola_cuda_add_forward(float* out, const float* a, const float* b, int64_t n, void* stream);

/* ------------------------------------------------------------------ embedding (embedding.cu) */
int cola_cuda_embedding_forward(float* out, const int32_t* ids, const float* table, int64_t N, int64_t V, int64_t C,
                                void* stream);
/* Deterministic: each thread owns one column and adds the rows n = 0..N-1 in order (no atomics). */
/* The same from a frozen bf16 table, widened to f32. */
int cola_cuda_embedding_bf16_forward(float* out, const int32_t* ids, const uint16_t* table, int64_t N, int64_t V,
                                     int64_t C, void* stream);
int cola_cuda_embedding_backward(float* dtable, const float* dout, const int32_t* ids, int64_t N, int64_t V,
                                 int64_t C, void* stream);

/* ------------------------------------------------------------------ RoPE (rope.cu) */
int cola_cuda_rope_forward(float* out, const float* inp, const int32_t* pos, int64_t N, int64_t H, int64_t D,
                           float theta, void* stream);
int cola_cuda_rope_backward(float* dinp, const float* dout, const int32_t* pos, int64_t N, int64_t H, int64_t D,
                            float theta, void* stream);
/* With a device table inv_freq[D/2] and an output scale (== cola_rope_*_freqs). */
int cola_cuda_rope_forward_freqs(float* out, const float* inp, const int32_t* pos, int64_t N, int64_t H, int64_t D,
                                 const float* inv_freq, float scale, void* stream);
int cola_cuda_rope_backward_freqs(float* dinp, const float* dout, const int32_t* pos, int64_t N, int64_t H,
                                  int64_t D, const float* inv_freq, float scale, void* stream);

/* ------------------------------------------------------------------ attention (attention.cu) */
/* Same layouts and rules as cola_attention_*; head dim D ≤ 128 (else COLA_CUDA_ERR_ARG). fp32 throughout. */
int cola_cuda_attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                                const int32_t* key_mask, int64_t B, int64_t T, int64_t Hq, int64_t Hkv, int64_t D,
                                int causal, float scale, void* stream);
int cola_cuda_attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                                 const float* v, const float* out, const float* lse, const int32_t* key_mask,
                                 int64_t B, int64_t T, int64_t Hq, int64_t Hkv, int64_t D, int causal, float scale,
                                 void* stream);

/* The same two with a sliding window (== cola_attention_*_window; window > 0 causal only, 0 = none). */
int cola_cuda_attention_forward_window(float* out, float* lse, const float* q, const float* k, const float* v,
                                       const int32_t* key_mask, int64_t B, int64_t T, int64_t Hq, int64_t Hkv,
                                       int64_t D, int causal, int64_t window, float scale, void* stream);
int cola_cuda_attention_backward_window(float* dq, float* dk, float* dv, const float* dout, const float* q,
                                        const float* k, const float* v, const float* out, const float* lse,
                                        const int32_t* key_mask, int64_t B, int64_t T, int64_t Hq, int64_t Hkv,
                                        int64_t D, int causal, int64_t window, float scale, void* stream);

/* ------------------------------------------------------------------ loss (xent.cu) */
int cola_cuda_softmax_xent_forward(float* losses, float* lse, const float* logits, const int32_t* targets, int64_t N,
                                   int64_t V, int32_t ignore_index, void* stream);
int cola_cuda_softmax_xent_backward(float* dlogits, const float* dlosses, const float* logits, const float* lse,
                                    const int32_t* targets, int64_t N, int64_t V, int32_t ignore_index, void* stream);

/* ------------------------------------------------------------------ optimiser (optim.cu) */
/* The pointer arrays (params, grads, m, v, tensors) and sizes are HOST arrays holding DEVICE pointers, as in PyTorch's
 * multi_tensor_apply: the launcher packs up to 48 tensors / 320 chunks into each kernel's parameter block, so no
 * device pointer table and no host sync are needed. *out of sum_squares is a DEVICE double (read it back with
 * cola_cuda_memcpy_d2h when the norm is needed); it is a fixed-shape two-stage double reduction: deterministic. */
int cola_cuda_adamw_step(float* const* params, const float* const* grads, float* const* m, float* const* v,
                         const int64_t* sizes, int64_t n_tensors, float lr, float beta1, float beta2, float eps,
                         float weight_decay, int64_t step, float grad_scale, void* stream);
int cola_cuda_sum_squares(double* out, const float* const* tensors, const int64_t* sizes, int64_t n_tensors,
                          void* stream);
int cola_cuda_scale(float* const* tensors, const int64_t* sizes, int64_t n_tensors, float scale, void* stream);

/* ------------------------------------------------------------------ dropout (dropout.cu) */
int cola_cuda_dropout_forward(float* out, const float* inp, int64_t n, float p, uint64_t seed, void* stream);
int cola_cuda_dropout_backward(float* dinp, const float* dout, int64_t n, float p, uint64_t seed, void* stream);

/* ------------------------------------------------------------------ layout (layout.cu) */
/* As cola_copy_cols: dst[i, 0:cols] (=|+=) src[i, 0:cols] for i < rows, row strides ldd, lds (elements); dst and src
 * are DEVICE pointers. Bit-exact with the CPU (one add per element, no reduction). */
int cola_cuda_copy_cols(float* dst, int64_t ldd, const float* src, int64_t lds, int64_t rows, int64_t cols,
                        int accumulate, void* stream);

/* ------------------------------------------------------------------ conversions (convert.cu), bit-exact with CPU */
int cola_cuda_f32_to_bf16(uint16_t* out, const float* inp, int64_t n, void* stream);
int cola_cuda_bf16_to_f32(float* out, const uint16_t* inp, int64_t n, void* stream);
int cola_cuda_f32_to_f16(uint16_t* out, const float* inp, int64_t n, void* stream);
int cola_cuda_f16_to_f32(float* out, const uint16_t* inp, int64_t n, void* stream);

#ifdef __cplusplus
}
#endif
#endif
