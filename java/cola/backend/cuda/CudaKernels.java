package cola.backend.cuda;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * JavaCPP binding of cuda/include/cola_cuda.h, one native method per C function, in the raw-address style of
 * {@link cola.backend.cpu.CpuKernels}: buffers are {@code @Cast("float*") long} addresses (DEVICE addresses for the
 * ops), so a call allocates nothing on the Java heap. Every op takes the trailing {@code stream} (a cudaStream_t as a
 * raw address; 0 = the legacy default stream) and returns 0, a cudaError_t (1..999), or 1000 + COLA_ERR_*.
 *
 * <p>libcola_cuda links the CUDA runtime statically, so it loads on any machine; without a GPU or driver every call
 * returns a CUDA error code (35 no driver, 100 no device / stub) instead of failing to load. Nothing here validates:
 * only {@link CudaBackend} and {@link CudaDevice} call the ops, after checking shapes, dtypes, devices and liveness.
 *
 * <p>Out-parameters that the C side writes through a HOST pointer ({@code void**}, {@code int*}, {@code int64_t*},
 * the pointer tables of the optimiser) are Java arrays: JavaCPP copies them in and back around the call, and the C
 * side finishes with them before it returns (the optimiser launchers pack the tables into kernel parameters; the merge
 * synchronises before writing {@code unchanged}).
 */
@Platform(value = "linux-x86_64", include = "cola_cuda.h", link = "cola_cuda")
public final class CudaKernels {
    static {
        Loader.load();
    }

    private CudaKernels() {}

    /** Loads the native library (idempotent). */
    public static void load() {}

    // ---------------------------------------------------------------- runtime
    public static native int cola_cuda_is_stub();
    public static native int cola_cuda_runtime_version(int[] version);
    public static native int cola_cuda_device_count(int[] count);
    public static native int cola_cuda_device_name(int device, @Cast("char*") byte[] buf, int len);
    public static native String cola_cuda_error_string(int code);
    public static native int cola_cuda_get_last_error();
    public static native int cola_cuda_set_device(int device);
    public static native int cola_cuda_device_synchronize();

    // ---------------------------------------------------------------- memory and streams
    /** ptr[0] receives the device address (void** written through a one-element array). */
    public static native int cola_cuda_malloc(@Cast("void**") long[] ptr, @Cast("size_t") long bytes);
    public static native int cola_cuda_free(@Cast("void*") long ptr);
    public static native int cola_cuda_host_alloc(@Cast("void**") long[] ptr, @Cast("size_t") long bytes);
    public static native int cola_cuda_host_free(@Cast("void*") long ptr);
    public static native int cola_cuda_memcpy_h2d(@Cast("void*") long dst, @Cast("const void*") long src,
            @Cast("size_t") long bytes, @Cast("void*") long stream);
    public static native int cola_cuda_memcpy_d2h(@Cast("void*") long dst, @Cast("const void*") long src,
            @Cast("size_t") long bytes, @Cast("void*") long stream);
    public static native int cola_cuda_memcpy_d2d(@Cast("void*") long dst, @Cast("const void*") long src,
            @Cast("size_t") long bytes, @Cast("void*") long stream);
    public static native int cola_cuda_memset(@Cast("void*") long ptr, int value, @Cast("size_t") long bytes,
            @Cast("void*") long stream);
    public static native int cola_cuda_stream_create(@Cast("void**") long[] stream);
    public static native int cola_cuda_stream_destroy(@Cast("void*") long stream);
    public static native int cola_cuda_stream_synchronize(@Cast("void*") long stream);

    // ---------------------------------------------------------------- LoRA (adapter terms; the base GEMM is cuBLAS)
    public static native int cola_cuda_lora_linear_forward(@Cast("float*") long y, @Cast("float*") long u,
            @Cast("const float*") long x, @Cast("const float*") long A, @Cast("const float*") long B, float s,
            float p, @Cast("uint64_t") long seed, long M, long K, long N, long r, @Cast("void*") long stream);
    public static native int cola_cuda_lora_linear_backward(@Cast("float*") long dx, @Cast("float*") long dA,
            @Cast("float*") long dB, @Cast("float*") long v, @Cast("const float*") long dy,
            @Cast("const float*") long x, @Cast("const float*") long u, @Cast("const float*") long A,
            @Cast("const float*") long B, float s, float p, @Cast("uint64_t") long seed, long M, long K, long N,
            long r, @Cast("void*") long stream);
    /** A_ptrs, B_ptrs, scales and seg_starts are DEVICE arrays here (unlike the optimiser's host tables). */
    public static native int cola_cuda_lora_sgmv_forward(@Cast("float*") long y, @Cast("float*") long u,
            @Cast("const float*") long x, @Cast("const float* const*") long aPtrs,
            @Cast("const float* const*") long bPtrs, @Cast("const float*") long scales,
            @Cast("const int64_t*") long segStarts, long S, float p, @Cast("uint64_t") long seed, long M, long K,
            long N, long r, @Cast("void*") long stream);

    // ---------------------------------------------------------------- merge (synchronise the stream; unchanged: HOST)
    public static native int cola_cuda_merge_f32(@Cast("float*") long W, @Cast("const float*") long A,
            @Cast("const float*") long B, float s, long N, long K, long r, @Cast("void*") long stream);
    public static native int cola_cuda_merge_bf16(@Cast("uint16_t*") long W, @Cast("const float*") long A,
            @Cast("const float*") long B, float s, long N, long K, long r, int rounding, @Cast("uint64_t") long seed,
            @Cast("int64_t*") long[] unchanged, @Cast("void*") long stream);

    // ---------------------------------------------------------------- norms
    public static native int cola_cuda_layernorm_forward(@Cast("float*") long out, @Cast("float*") long mean,
            @Cast("float*") long rstd, @Cast("const float*") long inp, @Cast("const float*") long weight,
            @Cast("const float*") long bias, long N, long C, float eps, @Cast("void*") long stream);
    public static native int cola_cuda_layernorm_backward(@Cast("float*") long dinp, @Cast("float*") long dweight,
            @Cast("float*") long dbias, @Cast("const float*") long dout, @Cast("const float*") long inp,
            @Cast("const float*") long weight, @Cast("const float*") long mean, @Cast("const float*") long rstd,
            long N, long C, @Cast("void*") long stream);
    public static native int cola_cuda_rmsnorm_forward(@Cast("float*") long out, @Cast("float*") long rstd,
            @Cast("const float*") long inp, @Cast("const float*") long weight, long N, long C, float eps,
            @Cast("void*") long stream);
    public static native int cola_cuda_rmsnorm_backward(@Cast("float*") long dinp, @Cast("float*") long dweight,
            @Cast("const float*") long dout, @Cast("const float*") long inp, @Cast("const float*") long weight,
            @Cast("const float*") long rstd, long N, long C, @Cast("void*") long stream);

    // ---------------------------------------------------------------- activations (n elements)
    public static native int cola_cuda_gelu_forward(@Cast("float*") long out, @Cast("const float*") long inp, long n,
            int approximate, @Cast("void*") long stream);
    public static native int cola_cuda_gelu_backward(@Cast("float*") long dinp, @Cast("const float*") long dout,
            @Cast("const float*") long inp, long n, int approximate, @Cast("void*") long stream);
    public static native int cola_cuda_relu_forward(@Cast("float*") long out, @Cast("const float*") long inp, long n,
            @Cast("void*") long stream);
    public static native int cola_cuda_relu_backward(@Cast("float*") long dinp, @Cast("const float*") long dout,
            @Cast("const float*") long inp, long n, @Cast("void*") long stream);
    public static native int cola_cuda_silu_forward(@Cast("float*") long out, @Cast("const float*") long inp, long n,
            @Cast("void*") long stream);
    public static native int cola_cuda_silu_backward(@Cast("float*") long dinp, @Cast("const float*") long dout,
            @Cast("const float*") long inp, long n, @Cast("void*") long stream);
    public static native int cola_cuda_swiglu_forward(@Cast("float*") long out, @Cast("const float*") long gate,
            @Cast("const float*") long up, long n, @Cast("void*") long stream);
    public static native int cola_cuda_swiglu_backward(@Cast("float*") long dgate, @Cast("float*") long dup,
            @Cast("const float*") long dout, @Cast("const float*") long gate, @Cast("const float*") long up, long n,
            @Cast("void*") long stream);
    public static native int cola_cuda_add_forward(@Cast("float*") long out, @Cast("const float*") long a,
            @Cast("const float*") long b, long n, @Cast("void*") long stream);

    // ---------------------------------------------------------------- embedding
    public static native int cola_cuda_embedding_forward(@Cast("float*") long out, @Cast("const int32_t*") long ids,
            @Cast("const float*") long table, long N, long V, long C, @Cast("void*") long stream);
    public static native int cola_cuda_embedding_bf16_forward(@Cast("float*") long out,
            @Cast("const int32_t*") long ids, @Cast("const uint16_t*") long table, long N, long V, long C,
            @Cast("void*") long stream);
    public static native int cola_cuda_embedding_backward(@Cast("float*") long dtable,
            @Cast("const float*") long dout, @Cast("const int32_t*") long ids, long N, long V, long C,
            @Cast("void*") long stream);

    // ---------------------------------------------------------------- RoPE
    public static native int cola_cuda_rope_forward(@Cast("float*") long out, @Cast("const float*") long inp,
            @Cast("const int32_t*") long pos, long N, long H, long D, float theta, @Cast("void*") long stream);
    public static native int cola_cuda_rope_backward(@Cast("float*") long dinp, @Cast("const float*") long dout,
            @Cast("const int32_t*") long pos, long N, long H, long D, float theta, @Cast("void*") long stream);
    public static native int cola_cuda_rope_forward_freqs(@Cast("float*") long out, @Cast("const float*") long inp,
            @Cast("const int32_t*") long pos, long N, long H, long D, @Cast("const float*") long invFreq, float scale,
            @Cast("void*") long stream);
    public static native int cola_cuda_rope_backward_freqs(@Cast("float*") long dinp, @Cast("const float*") long dout,
            @Cast("const int32_t*") long pos, long N, long H, long D, @Cast("const float*") long invFreq, float scale,
            @Cast("void*") long stream);

    // ---------------------------------------------------------------- attention (head dim D <= 128)
    public static native int cola_cuda_attention_forward_window(@Cast("float*") long out, @Cast("float*") long lse,
            @Cast("const float*") long q, @Cast("const float*") long k, @Cast("const float*") long v,
            @Cast("const int32_t*") long keyMask, long B, long T, long Hq, long Hkv, long D, int causal, long window,
            float scale, @Cast("void*") long stream);
    public static native int cola_cuda_attention_backward_window(@Cast("float*") long dq, @Cast("float*") long dk,
            @Cast("float*") long dv, @Cast("const float*") long dout, @Cast("const float*") long q,
            @Cast("const float*") long k, @Cast("const float*") long v, @Cast("const float*") long out,
            @Cast("const float*") long lse, @Cast("const int32_t*") long keyMask, long B, long T, long Hq, long Hkv,
            long D, int causal, long window, float scale, @Cast("void*") long stream);

    // ---------------------------------------------------------------- loss
    public static native int cola_cuda_softmax_xent_forward(@Cast("float*") long losses, @Cast("float*") long lse,
            @Cast("const float*") long logits, @Cast("const int32_t*") long targets, long N, long V, int ignoreIndex,
            @Cast("void*") long stream);
    public static native int cola_cuda_softmax_xent_backward(@Cast("float*") long dlogits,
            @Cast("const float*") long dlosses, @Cast("const float*") long logits, @Cast("const float*") long lse,
            @Cast("const int32_t*") long targets, long N, long V, int ignoreIndex, @Cast("void*") long stream);

    // ---------------------------------------------------------------- optimiser (HOST tables of DEVICE pointers)
    public static native int cola_cuda_adamw_step(@Cast("float* const*") long[] params,
            @Cast("const float* const*") long[] grads, @Cast("float* const*") long[] m,
            @Cast("float* const*") long[] v, @Cast("const int64_t*") long[] sizes, long nTensors, float lr,
            float beta1, float beta2, float eps, float weightDecay, long step, float gradScale,
            @Cast("void*") long stream);
    /** out is a DEVICE double (8 bytes); read it back with a d2h copy. */
    public static native int cola_cuda_sum_squares(@Cast("double*") long out,
            @Cast("const float* const*") long[] tensors, @Cast("const int64_t*") long[] sizes, long nTensors,
            @Cast("void*") long stream);
    public static native int cola_cuda_scale(@Cast("float* const*") long[] tensors,
            @Cast("const int64_t*") long[] sizes, long nTensors, float scale, @Cast("void*") long stream);

    // ---------------------------------------------------------------- dropout
    public static native int cola_cuda_dropout_forward(@Cast("float*") long out, @Cast("const float*") long inp,
            long n, float p, @Cast("uint64_t") long seed, @Cast("void*") long stream);
    public static native int cola_cuda_dropout_backward(@Cast("float*") long dinp, @Cast("const float*") long dout,
            long n, float p, @Cast("uint64_t") long seed, @Cast("void*") long stream);

    // ---------------------------------------------------------------- layout
    public static native int cola_cuda_copy_cols(@Cast("float*") long dst, long ldd, @Cast("const float*") long src,
            long lds, long rows, long cols, int accumulate, @Cast("void*") long stream);

    // ---------------------------------------------------------------- conversions
    public static native int cola_cuda_f32_to_bf16(@Cast("uint16_t*") long out, @Cast("const float*") long inp,
            long n, @Cast("void*") long stream);
    public static native int cola_cuda_bf16_to_f32(@Cast("float*") long out, @Cast("const uint16_t*") long inp,
            long n, @Cast("void*") long stream);
    public static native int cola_cuda_f32_to_f16(@Cast("uint16_t*") long out, @Cast("const float*") long inp,
            long n, @Cast("void*") long stream);
    public static native int cola_cuda_f16_to_f32(@Cast("float*") long out, @Cast("const uint16_t*") long inp,
            long n, @Cast("void*") long stream);
}
