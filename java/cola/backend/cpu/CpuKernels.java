package cola.backend.cpu;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * JavaCPP binding of native/include/cola_cpu.h, one native method per C function, same names.
 *
 * <p>Buffers cross as raw addresses ({@code long}, cast to the C pointer type) so a call allocates nothing on the
 * Java heap. Nothing here validates: only {@link CpuBackend} calls these, after checking shapes, dtypes, liveness and
 * bounds. libdnnl and libgomp are preloaded from the same resource folder (the jar carries them).
 */
@Platform(value = "linux-x86_64", include = "cola_cpu.h", preload = {"gomp@.1", "dnnl@.3"}, link = "cola_cpu")
public final class CpuKernels {
    static {
        Loader.load();
    }

    private CpuKernels() {}

    /** Loads the native libraries (idempotent). */
    public static void load() {}

    // ---------------------------------------------------------------- runtime
    public static native String cola_cpu_version();
    public static native String cola_cpu_isa();
    public static native String cola_cpu_gemm_library();
    public static native String cola_cpu_bf16_units();
    public static native int cola_cpu_max_threads();
    public static native void cola_cpu_set_num_threads(int n);
    public static native String cola_error_string(int code);
    public static native @Cast("intptr_t") long cola_alloc(@Cast("size_t") long bytes);
    public static native void cola_free(@Cast("void*") long p);
    public static native void cola_zero(@Cast("void*") long p, @Cast("size_t") long bytes);
    public static native void cola_copy(@Cast("void*") long dst, @Cast("const void*") long src, @Cast("size_t") long bytes);

    // ---------------------------------------------------------------- GEMM
    public static native int cola_gemm_f32(int transA, int transB, long M, long N, long K, float alpha,
            @Cast("const float*") long A, long lda, @Cast("const float*") long B, long ldb, float beta,
            @Cast("float*") long C, long ldc);
    public static native int cola_gemm_batched_f32(long batch, int transA, int transB, long M, long N, long K,
            float alpha, @Cast("const float*") long A, long lda, long sA, @Cast("const float*") long B, long ldb,
            long sB, float beta, @Cast("float*") long C, long ldc, long sC);

    public static native int cola_gemm_bf16(int transA, int transB, long M, long N, long K,
            @Cast("const uint16_t*") long A, long lda, @Cast("const uint16_t*") long B, long ldb, float beta,
            @Cast("float*") long C, long ldc);
    public static native @Cast("int64_t") long cola_gemm_bf16_cached_primitives();

    // ---------------------------------------------------------------- linear
    public static native int cola_matmul_forward(@Cast("float*") long out, @Cast("const float*") long inp,
            @Cast("const float*") long weight, @Cast("const float*") long bias, long M, long K, long N);
    public static native int cola_matmul_backward(@Cast("float*") long dinp, @Cast("float*") long dweight,
            @Cast("float*") long dbias, @Cast("const float*") long dout, @Cast("const float*") long inp,
            @Cast("const float*") long weight, long M, long K, long N);

    public static native int cola_matmul_bf16w_forward(@Cast("float*") long out, @Cast("const float*") long inp,
            @Cast("const uint16_t*") long weight, @Cast("const float*") long bias, long M, long K, long N);
    public static native int cola_matmul_bf16w_backward(@Cast("float*") long dinp, @Cast("float*") long dweight,
            @Cast("float*") long dbias, @Cast("const float*") long dout, @Cast("const float*") long inp,
            @Cast("const uint16_t*") long weight, long M, long K, long N);

    // ---------------------------------------------------------------- LoRA
    public static native int cola_lora_linear_forward(@Cast("float*") long y, @Cast("float*") long u,
            @Cast("const float*") long x, @Cast("const float*") long W, @Cast("const float*") long b,
            @Cast("const float*") long A, @Cast("const float*") long B, float s, float p, @Cast("uint64_t") long seed,
            long M, long K, long N, long r);
    public static native int cola_lora_linear_backward(@Cast("float*") long dx, @Cast("float*") long dW,
            @Cast("float*") long db, @Cast("float*") long dA, @Cast("float*") long dB, @Cast("float*") long v,
            @Cast("const float*") long dy, @Cast("const float*") long x, @Cast("const float*") long u,
            @Cast("const float*") long W, @Cast("const float*") long A, @Cast("const float*") long B, float s,
            float p, @Cast("uint64_t") long seed, long M, long K, long N, long r);

    public static native int cola_lora_linear_forward_bf16w(@Cast("float*") long y, @Cast("float*") long u,
            @Cast("const float*") long x, @Cast("const uint16_t*") long W, @Cast("const float*") long b,
            @Cast("const float*") long A, @Cast("const float*") long B, float s, float p, @Cast("uint64_t") long seed,
            long M, long K, long N, long r);
    public static native int cola_lora_linear_backward_bf16w(@Cast("float*") long dx, @Cast("float*") long dW,
            @Cast("float*") long db, @Cast("float*") long dA, @Cast("float*") long dB, @Cast("float*") long v,
            @Cast("const float*") long dy, @Cast("const float*") long x, @Cast("const float*") long u,
            @Cast("const uint16_t*") long W, @Cast("const float*") long A, @Cast("const float*") long B, float s,
            float p, @Cast("uint64_t") long seed, long M, long K, long N, long r);

    // ---------------------------------------------------------------- merge
    public static native int cola_merge_f32(@Cast("float*") long W, @Cast("const float*") long A,
            @Cast("const float*") long B, float s, long N, long K, long r);
    public static native int cola_merge_bf16(@Cast("uint16_t*") long W, @Cast("const float*") long A,
            @Cast("const float*") long B, float s, long N, long K, long r, int rounding, @Cast("uint64_t") long seed,
            @Cast("int64_t*") long[] unchanged);
    public static native int cola_merge_bf16_ex(@Cast("uint16_t*") long W, @Cast("float*") long R,
            @Cast("const float*") long A, @Cast("const float*") long B, float s, long N, long K, long r, int rounding,
            @Cast("uint64_t") long seed, double[] stats, @Cast("int64_t*") long[] unchanged);

    // ---------------------------------------------------------------- norms
    public static native int cola_layernorm_forward(@Cast("float*") long out, @Cast("float*") long mean,
            @Cast("float*") long rstd, @Cast("const float*") long inp, @Cast("const float*") long weight,
            @Cast("const float*") long bias, long N, long C, float eps);
    public static native int cola_layernorm_backward(@Cast("float*") long dinp, @Cast("float*") long dweight,
            @Cast("float*") long dbias, @Cast("const float*") long dout, @Cast("const float*") long inp,
            @Cast("const float*") long weight, @Cast("const float*") long mean, @Cast("const float*") long rstd,
            long N, long C);
    public static native int cola_rmsnorm_forward(@Cast("float*") long out, @Cast("float*") long rstd,
            @Cast("const float*") long inp, @Cast("const float*") long weight, long N, long C, float eps);
    public static native int cola_rmsnorm_backward(@Cast("float*") long dinp, @Cast("float*") long dweight,
            @Cast("const float*") long dout, @Cast("const float*") long inp, @Cast("const float*") long weight,
            @Cast("const float*") long rstd, long N, long C);

    // ---------------------------------------------------------------- activations
    public static native int cola_gelu_forward(@Cast("float*") long out, @Cast("const float*") long inp, long n,
            int approximate);
    public static native int cola_gelu_backward(@Cast("float*") long dinp, @Cast("const float*") long dout,
            @Cast("const float*") long inp, long n, int approximate);
    public static native int cola_relu_forward(@Cast("float*") long out, @Cast("const float*") long inp, long n);
    public static native int cola_relu_backward(@Cast("float*") long dinp, @Cast("const float*") long dout,
            @Cast("const float*") long inp, long n);
    public static native int cola_silu_forward(@Cast("float*") long out, @Cast("const float*") long inp, long n);
    public static native int cola_silu_backward(@Cast("float*") long dinp, @Cast("const float*") long dout,
            @Cast("const float*") long inp, long n);
    public static native int cola_swiglu_forward(@Cast("float*") long out, @Cast("const float*") long gate,
            @Cast("const float*") long up, long n);
    public static native int cola_swiglu_backward(@Cast("float*") long dgate, @Cast("float*") long dup,
            @Cast("const float*") long dout, @Cast("const float*") long gate, @Cast("const float*") long up, long n);
    public static native int cola_add_forward(@Cast("float*") long out, @Cast("const float*") long a,
            @Cast("const float*") long b, long n);

    // ---------------------------------------------------------------- embedding
    public static native int cola_embedding_forward(@Cast("float*") long out, @Cast("const int32_t*") long ids,
            @Cast("const float*") long table, long N, long V, long C);
    public static native int cola_embedding_bf16_forward(@Cast("float*") long out, @Cast("const int32_t*") long ids,
            @Cast("const uint16_t*") long table, long N, long V, long C);
    public static native int cola_embedding_backward(@Cast("float*") long dtable, @Cast("const float*") long dout,
            @Cast("const int32_t*") long ids, long N, long V, long C);

    // ---------------------------------------------------------------- RoPE
    public static native int cola_rope_forward(@Cast("float*") long out, @Cast("const float*") long inp,
            @Cast("const int32_t*") long pos, long N, long H, long D, float theta);
    public static native int cola_rope_backward(@Cast("float*") long dinp, @Cast("const float*") long dout,
            @Cast("const int32_t*") long pos, long N, long H, long D, float theta);
    public static native int cola_rope_forward_freqs(@Cast("float*") long out, @Cast("const float*") long inp,
            @Cast("const int32_t*") long pos, long N, long H, long D, @Cast("const float*") long invFreq, float scale);
    public static native int cola_rope_backward_freqs(@Cast("float*") long dinp, @Cast("const float*") long dout,
            @Cast("const int32_t*") long pos, long N, long H, long D, @Cast("const float*") long invFreq, float scale);

    // ---------------------------------------------------------------- attention
    public static native int cola_attention_forward_window(@Cast("float*") long out, @Cast("float*") long lse,
            @Cast("const float*") long q, @Cast("const float*") long k, @Cast("const float*") long v,
            @Cast("const int32_t*") long keyMask, long B, long T, long Hq, long Hkv, long D, int causal, long window,
            float scale);
    public static native int cola_attention_backward_window(@Cast("float*") long dq, @Cast("float*") long dk,
            @Cast("float*") long dv, @Cast("const float*") long dout, @Cast("const float*") long q,
            @Cast("const float*") long k, @Cast("const float*") long v, @Cast("const float*") long out,
            @Cast("const float*") long lse, @Cast("const int32_t*") long keyMask, long B, long T, long Hq, long Hkv,
            long D, int causal, long window, float scale);

    // ---------------------------------------------------------------- loss
    public static native int cola_softmax_xent_forward(@Cast("float*") long losses, @Cast("float*") long lse,
            @Cast("const float*") long logits, @Cast("const int32_t*") long targets, long N, long V, int ignoreIndex);
    public static native int cola_softmax_xent_backward(@Cast("float*") long dlogits,
            @Cast("const float*") long dlosses, @Cast("const float*") long logits, @Cast("const float*") long lse,
            @Cast("const int32_t*") long targets, long N, long V, int ignoreIndex);

    // ---------------------------------------------------------------- optimiser
    public static native int cola_adamw_step(@Cast("float* const*") long[] params,
            @Cast("const float* const*") long[] grads, @Cast("float* const*") long[] m,
            @Cast("float* const*") long[] v, @Cast("const int64_t*") long[] sizes, long nTensors, float lr,
            float beta1, float beta2, float eps, float weightDecay, long step, float gradScale);
    public static native int cola_sum_squares(double[] out, @Cast("const float* const*") long[] tensors,
            @Cast("const int64_t*") long[] sizes, long nTensors);
    public static native int cola_scale(@Cast("float* const*") long[] tensors, @Cast("const int64_t*") long[] sizes,
            long nTensors, float scale);

    // ---------------------------------------------------------------- dropout
    public static native int cola_dropout_forward(@Cast("float*") long out, @Cast("const float*") long inp, long n,
            float p, @Cast("uint64_t") long seed);
    public static native int cola_dropout_backward(@Cast("float*") long dinp, @Cast("const float*") long dout,
            long n, float p, @Cast("uint64_t") long seed);

    // ---------------------------------------------------------------- layout
    public static native int cola_copy_cols(@Cast("float*") long dst, long ldd, @Cast("const float*") long src,
            long lds, long rows, long cols, int accumulate);

    // ---------------------------------------------------------------- conversions
    public static native int cola_f32_to_bf16(@Cast("uint16_t*") long out, @Cast("const float*") long inp, long n);
    public static native int cola_bf16_to_f32(@Cast("float*") long out, @Cast("const uint16_t*") long inp, long n);
    public static native int cola_f32_to_f16(@Cast("uint16_t*") long out, @Cast("const float*") long inp, long n);
    public static native int cola_f16_to_f32(@Cast("float*") long out, @Cast("const uint16_t*") long inp, long n);
}
