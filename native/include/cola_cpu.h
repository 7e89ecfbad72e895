/*
 * cola_cpu.h — the C ABI of libcola_cpu, cola's CPU kernel library and the correctness reference of the engine.
 *
 * Conventions (every function):
 *  - Row-major, contiguous buffers; shapes in brackets name the dimensions, e.g. inp[N,C].
 *  - Return 0 (COLA_OK) or a COLA_ERR_* code. Kernels never abort the process; callers (the Java CpuBackend) validate
 *    shapes, dtypes and bounds before calling, and the kernels re-check what is cheap (ids, finiteness).
 *  - Backward functions ACCUMULATE (+=) into every gradient buffer, inputs' and parameters' alike (llm.c's rule), so
 *    residual branches and shared weights need no extra adds. Callers zero gradients. The one exception is
 *    cola_softmax_xent_backward, the head of the backward chain, which overwrites dlogits (and may do so in place).
 *  - Optional buffers are NULL. f32 buffers are float*, bf16/f16 buffers uint16_t*, ids int32_t*.
 *  - Parallelism is OpenMP over the outer loop; results do not depend on the thread count except where a reduction
 *    over rows is split across threads (parameter gradients of norms): those differ in the last bits only.
 *
 * Where to find an op: native/src/<family>.cpp holds the kernel (e.g. layernorm in norm.cpp), the Java entry point is
 * cola.backend.cpu.CpuBackend#<op>, the CUDA kernel cuda/src/<family>.cu, the test tests/java/cola/ops/<Family>OpTest.
 */
#ifndef COLA_CPU_H
#define COLA_CPU_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    COLA_OK = 0,
    COLA_ERR_ARG = 1,        /* a size or flag out of range */
    COLA_ERR_NONFINITE = 2,  /* a NaN/Inf that must not be written (merge) */
    COLA_ERR_INDEX = 3,      /* an id outside [0, V) */
    COLA_ERR_ALLOC = 4,      /* out of memory */
    COLA_ERR_GEMM = 5        /* the GEMM library reported an error */
};

/* ------------------------------------------------------------------ runtime (runtime.cpp) */
const char* cola_cpu_version(void);
const char* cola_cpu_isa(void);           /* "avx512" | "avx2" | "scalar": what the dispatched kernels run */
const char* cola_cpu_gemm_library(void);  /* e.g. "oneDNN 3.11.0" */
const char* cola_cpu_bf16_units(void);    /* "amx" | "avx512_bf16" | "" (none: bf16 GEMMs would be emulated, slowly) */
int cola_cpu_max_threads(void);
void cola_cpu_set_num_threads(int n);
const char* cola_error_string(int code);
void* cola_alloc(size_t bytes);           /* 64-byte aligned, zero-filled; NULL when out of memory */
void cola_free(void* p);
void cola_zero(void* p, size_t bytes);
void cola_copy(void* dst, const void* src, size_t bytes);

/* ------------------------------------------------------------------ GEMM (gemm.cpp, oneDNN) */
/* C[M,N] = alpha·op(A)·op(B) + beta·C, op(A)[M,K], op(B)[K,N]; trans_a: A is stored [K,M]; trans_b: B stored [N,K]. */
int cola_gemm_f32(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                  const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
/* The same for `batch` independent problems at element strides sA, sB, sC (attention's per-head products). */
int cola_gemm_batched_f32(int64_t batch, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                          const float* A, int64_t lda, int64_t sA, const float* B, int64_t ldb, int64_t sB,
                          float beta, float* C, int64_t ldc, int64_t sC);

/* bf16 A, B and f32 C: C[M,N] = op(A)·op(B) + beta·C with fp32 accumulation (oneDNN matmul primitive: AMX or
 * AVX512_BF16), beta 0 or 1. Primitives are created once per shape and cached (at most 512 shapes; others run uncached). */
int cola_gemm_bf16(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, const uint16_t* A, int64_t lda,
                   const uint16_t* B, int64_t ldb, float beta, float* C, int64_t ldc);
/* How many bf16 matmul primitives are cached (for tests and benchmarks). */
int64_t cola_gemm_bf16_cached_primitives(void);

/* ------------------------------------------------------------------ linear (linear.cpp) */
/* out[M,N] = inp[M,K]·weight[N,K]ᵀ + bias[N] (bias may be NULL). */
int cola_matmul_forward(float* out, const float* inp, const float* weight, const float* bias,
                        int64_t M, int64_t K, int64_t N);
/* dinp[M,K] += dout·weight; dweight[N,K] += doutᵀ·inp; dbias[N] += Σ_m dout (each may be NULL). */
int cola_matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                         const float* weight, int64_t M, int64_t K, int64_t N);

/* The same with a bf16 weight[N,K] (frozen, as stored): inp (and dout) are rounded to bf16 for the GEMMs, which
 * accumulate in fp32; out, dinp, dweight, dbias and bias are f32. */
int cola_matmul_bf16w_forward(float* out, const float* inp, const uint16_t* weight, const float* bias,
                              int64_t M, int64_t K, int64_t N);
int cola_matmul_bf16w_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                               const uint16_t* weight, int64_t M, int64_t K, int64_t N);

/* ------------------------------------------------------------------ LoRA (lora.cpp) */
/* Fused LoRA linear:  u[M,r] = drop(x)[M,K]·A[r,K]ᵀ ;  y[M,N] = x·W[N,K]ᵀ + b[N] + s·u·B[N,r]ᵀ.
 * drop() is inverted dropout with keep-probability 1-p drawn from (seed, m·K+k) (p = 0: identity). b may be NULL.
 * u is written when non-NULL; it is required when p > 0 (backward needs it), optional when p = 0 (backward then
 * recomputes it, which keeps forward at one GEMM). */
int cola_lora_linear_forward(float* y, float* u, const float* x, const float* W, const float* b, const float* A,
                             const float* B, float s, float p, uint64_t seed, int64_t M, int64_t K, int64_t N,
                             int64_t r);
/* With v[M,r] = dy·B (scratch, written):  dx[M,K] += dy·W + s·drop'(v·A);  dA[r,K] += s·vᵀ·drop(x);
 * dB[N,r] += s·dyᵀ·u;  dW[N,K] += dyᵀ·x and db[N] += Σ_m dy only when non-NULL (full fine-tuning). dx may be NULL;
 * u may be NULL when p = 0 (recomputed). */
int cola_lora_linear_backward(float* dx, float* dW, float* db, float* dA, float* dB, float* v, const float* dy,
                              const float* x, const float* u, const float* W, const float* A, const float* B, float s,
                              float p, uint64_t seed, int64_t M, int64_t K, int64_t N, int64_t r);

/* The same two with a bf16 W (frozen, as stored): the base product is a bf16 GEMM (fp32 accumulation) and the
 * low-rank path stays fp32 and unfused — W + s·B·A cannot be rounded to bf16 without losing the adapter. */
int cola_lora_linear_forward_bf16w(float* y, float* u, const float* x, const uint16_t* W, const float* b,
                                   const float* A, const float* B, float s, float p, uint64_t seed, int64_t M,
                                   int64_t K, int64_t N, int64_t r);
int cola_lora_linear_backward_bf16w(float* dx, float* dW, float* db, float* dA, float* dB, float* v,
                                    const float* dy, const float* x, const float* u, const uint16_t* W,
                                    const float* A, const float* B, float s, float p, uint64_t seed, int64_t M,
                                    int64_t K, int64_t N, int64_t r);

/* ------------------------------------------------------------------ merge (merge.cpp) */
/* Tie a knot: W[N,K] += s·B[N,r]·A[r,K], accumulated in fp32. Before writing anything it checks that s, A and B are
 * finite and that no element of the delta can overflow; otherwise returns COLA_ERR_NONFINITE with W untouched. */
int cola_merge_f32(float* W, const float* A, const float* B, float s, int64_t N, int64_t K, int64_t r);
/* The same for bf16 W: w ← round_bf16(f32(w) + delta). rounding 0 = nearest-even, 1 = stochastic from (seed, index).
 * *unchanged (may be NULL) receives how many elements with a non-zero delta kept their bf16 value (lost updates). */
int cola_merge_bf16(uint16_t* W, const float* A, const float* B, float s, int64_t N, int64_t K, int64_t r,
                    int rounding, uint64_t seed, int64_t* unchanged);
/* The general bf16 knot. R[N,K] (f32, may be NULL) is an error-compensation residual: x = f32(w) + R + delta,
 * w ← round(x), R ← x − f32(w), so what rounding dropped is folded into the next knot (and the export: W + R is the
 * exact merged weight). stats (may be NULL) receives, over the elements, {Σ d², Σ (ΔW − d)², Σ (ΔW + ΔR − d)²} for
 * this knot's delta d: √(stats[1]/stats[0]) is the fraction of ‖ΔW‖ the bf16 weights alone missed, √(stats[2]/stats[0])
 * what was lost for good. The same refusal rules as cola_merge_f32. */
int cola_merge_bf16_ex(uint16_t* W, float* R, const float* A, const float* B, float s, int64_t N, int64_t K,
                       int64_t r, int rounding, uint64_t seed, double* stats, int64_t* unchanged);

/* ------------------------------------------------------------------ norms (norm.cpp) */
/* out[N,C] = (inp - mean)·rstd·weight[C] + bias[C]; saves mean[N], rstd[N]. weight/bias may be NULL (no affine). */
int cola_layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                           const float* bias, int64_t N, int64_t C, float eps);
int cola_layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                            const float* weight, const float* mean, const float* rstd, int64_t N, int64_t C);
/* out[N,C] = inp·rstd·weight[C], rstd[N] = 1/sqrt(mean(inp²) + eps). */
int cola_rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int64_t N, int64_t C,
                         float eps);
int cola_rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight,
                          const float* rstd, int64_t N, int64_t C);

/* ------------------------------------------------------------------ activations (activation.cpp), n elements */
/* approximate 0: x·Φ(x) with erf (BERT "gelu"); 1: tanh form (GPT-2 "gelu_new"). */
int cola_gelu_forward(float* out, const float* inp, int64_t n, int approximate);
int cola_gelu_backward(float* dinp, const float* dout, const float* inp, int64_t n, int approximate);
int cola_relu_forward(float* out, const float* inp, int64_t n);
int cola_relu_backward(float* dinp, const float* dout, const float* inp, int64_t n);
int cola_silu_forward(float* out, const float* inp, int64_t n);
int cola_silu_backward(float* dinp, const float* dout, const float* inp, int64_t n);
/* out = silu(gate)·up (Llama MLP). */
int cola_swiglu_forward(float* out, const float* gate, const float* up, int64_t n);
int cola_swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up, int64_t n);
/* out = a + b (residual). Its backward is two accumulations, done by the callers' own backward rule. */
int cola_add_forward(float* out, const float* a, const float* b, int64_t n);

/* ------------------------------------------------------------------ embedding (embedding.cpp) */
/* out[N,C] = table[ids[n], :]; returns COLA_ERR_INDEX (writing nothing) if an id is outside [0, V). */
int cola_embedding_forward(float* out, const int32_t* ids, const float* table, int64_t N, int64_t V, int64_t C);
/* The same from a bf16 table (frozen, as stored), widened to f32. */
int cola_embedding_bf16_forward(float* out, const int32_t* ids, const uint16_t* table, int64_t N, int64_t V,
                                int64_t C);
/* dtable[ids[n], :] += dout[n, :]; deterministic (rows are owned by one thread each). */
int cola_embedding_backward(float* dtable, const float* dout, const int32_t* ids, int64_t N, int64_t V, int64_t C);

/* ------------------------------------------------------------------ RoPE (rope.cpp) */
/* rotate_half layout: for each head, element i < D/2 pairs with i + D/2, angle pos·theta^(-2i/D).
 * out[N,H,D] = rope(inp[N,H,D], pos[N]) (N = B·T; out may alias inp). */
int cola_rope_forward(float* out, const float* inp, const int32_t* pos, int64_t N, int64_t H, int64_t D, float theta);
/* dinp += rope⁻¹(dout) (the transpose rotation). */
int cola_rope_backward(float* dinp, const float* dout, const int32_t* pos, int64_t N, int64_t H, int64_t D,
                       float theta);

/* The same with a caller-given table inv_freq[D/2] (f32; the scaled RoPE variants — Llama 3, linear, dynamic NTK,
 * YaRN — differ only in it) and an output scale (YaRN's attention factor: cos and sin are multiplied by it, so
 * out = scale·R·x and dinp += scale·Rᵀ·dout). A non-finite inv_freq entry → COLA_ERR_NONFINITE, nothing written. */
int cola_rope_forward_freqs(float* out, const float* inp, const int32_t* pos, int64_t N, int64_t H, int64_t D,
                            const float* inv_freq, float scale);
int cola_rope_backward_freqs(float* dinp, const float* dout, const int32_t* pos, int64_t N, int64_t H, int64_t D,
                             const float* inv_freq, float scale);

/* ------------------------------------------------------------------ attention (attention.cpp) */
/* Scaled dot-product attention. q[B,T,Hq,D], k,v[B,T,Hkv,D] (GQA: Hq % Hkv == 0, query head h reads kv head
 * h/(Hq/Hkv)), out[B,T,Hq,D], lse[B,Hq,T] = log Σ exp(scores) saved for backward. key_mask[B,T] (1 keep, 0 pad) may
 * be NULL; causal masks keys after the query. A query row with no visible key gets out = 0 and lse = -inf.
 * At most one T×T score block per (batch, head) is alive at a time, per thread. */
int cola_attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                           const int32_t* key_mask, int64_t B, int64_t T, int64_t Hq, int64_t Hkv, int64_t D,
                           int causal, float scale);
/* dq, dk, dv += gradients; recomputes the probabilities from lse (nothing T×T is saved between passes). */
int cola_attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                            const float* v, const float* out, const float* lse, const int32_t* key_mask, int64_t B,
                            int64_t T, int64_t Hq, int64_t Hkv, int64_t D, int causal, float scale);

/* The same two with a sliding window (Mistral, Gemma's local layers): with window > 0 (causal only) query i also
 * skips the keys j <= i - window. window = 0: no window. */
int cola_attention_forward_window(float* out, float* lse, const float* q, const float* k, const float* v,
                                  const int32_t* key_mask, int64_t B, int64_t T, int64_t Hq, int64_t Hkv, int64_t D,
                                  int causal, int64_t window, float scale);
int cola_attention_backward_window(float* dq, float* dk, float* dv, const float* dout, const float* q,
                                   const float* k, const float* v, const float* out, const float* lse,
                                   const int32_t* key_mask, int64_t B, int64_t T, int64_t Hq, int64_t Hkv, int64_t D,
                                   int causal, int64_t window, float scale);

/* ------------------------------------------------------------------ loss (xent.cpp) */
/* losses[N] = lse[N] - logits[n, targets[n]] with lse = log Σ_v exp(logits[n, v]); rows whose target is ignore_index
 * get loss 0 (lse still written). A target outside [0, V) that is not ignore_index → COLA_ERR_INDEX. */
int cola_softmax_xent_forward(float* losses, float* lse, const float* logits, const int32_t* targets, int64_t N,
                              int64_t V, int32_t ignore_index);
/* dlogits[N,V] = dlosses[n]·(softmax(logits[n]) - onehot(targets[n])); ignored rows get 0. OVERWRITES dlogits;
 * dlogits may equal logits (in place). */
int cola_softmax_xent_backward(float* dlogits, const float* dlosses, const float* logits, const float* lse,
                               const int32_t* targets, int64_t N, int64_t V, int32_t ignore_index);

/* ------------------------------------------------------------------ optimiser (optim.cpp) */
/* AdamW over n tensors in one call (PyTorch semantics, decoupled decay, bias correction at 1-based `step`):
 *   g ← grad_scale·g;  m ← β1·m + (1-β1)·g;  v ← β2·v + (1-β2)·g²;
 *   p ← p - lr·wd·p - lr·(m/(1-β1^step)) / (sqrt(v/(1-β2^step)) + eps).
 * grad_scale folds gradient clipping in without another pass. */
int cola_adamw_step(float* const* params, const float* const* grads, float* const* m, float* const* v,
                    const int64_t* sizes, int64_t n_tensors, float lr, float beta1, float beta2, float eps,
                    float weight_decay, int64_t step, float grad_scale);
/* *out = Σ_i Σ_j t_i[j]² accumulated in double (global gradient norm = sqrt). */
int cola_sum_squares(double* out, const float* const* tensors, const int64_t* sizes, int64_t n_tensors);
/* t_i *= scale for every tensor (gradient clipping). */
int cola_scale(float* const* tensors, const int64_t* sizes, int64_t n_tensors, float scale);

/* ------------------------------------------------------------------ dropout (dropout.cpp) */
/* Inverted dropout: out[i] = keep(seed, i) ? inp[i]/(1-p) : 0, keep drawn from a counter-based hash of (seed, i), so
 * the mask is the same whatever the thread count and backward regenerates it instead of storing it. 0 <= p < 1. */
int cola_dropout_forward(float* out, const float* inp, int64_t n, float p, uint64_t seed);
int cola_dropout_backward(float* dinp, const float* dout, int64_t n, float p, uint64_t seed);

/* ------------------------------------------------------------------ layout (layout.cpp) */
/* dst[r, 0:cols] (=|+=) src[r, 0:cols] for r < rows, with row strides ldd and lds (elements): splits a fused
 * projection's output into column blocks (GPT-2's c_attn → q, k, v) and, with accumulate = 1, joins their gradients. */
int cola_copy_cols(float* dst, int64_t ldd, const float* src, int64_t lds, int64_t rows, int64_t cols, int accumulate);

/* ------------------------------------------------------------------ conversions (convert.cpp) */
/* Round-to-nearest-even; NaN stays NaN (quiet); f16 overflow → ±inf. */
int cola_f32_to_bf16(uint16_t* out, const float* inp, int64_t n);
int cola_bf16_to_f32(float* out, const uint16_t* inp, int64_t n);
int cola_f32_to_f16(uint16_t* out, const float* inp, int64_t n);
int cola_f16_to_f32(float* out, const uint16_t* inp, int64_t n);

#ifdef __cplusplus
}
#endif
#endif /* COLA_CPU_H */
