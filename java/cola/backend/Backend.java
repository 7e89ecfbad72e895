package cola.backend;

import cola.tensor.Device;
import cola.tensor.Tensor;
import java.util.List;

/**
 * The ops the model layer calls, forward and backward, one method per op. Shapes follow llm.c: the last dimension is
 * the feature dimension and everything before it is flattened into rows (N = B·T). Each implementation validates in
 * Java first, with the checks all backends share ({@link OpChecks}, one method per op, in this file's order), and
 * throws {@link IllegalArgumentException} naming the op and shapes.
 *
 * <p>Backward methods ACCUMULATE into every gradient tensor (callers zero them), except
 * {@link #softmaxXentBackward}, which overwrites dlogits (see native/include/cola_cpu.h).
 *
 * <p>Implementations: {@link cola.backend.cpu.CpuBackend} (the reference) and {@link cola.backend.cuda.CudaBackend};
 * {@link Backends#select} picks one from a device string. Tensors carry their device; an op rejects tensors that are
 * not on its backend's device. A device backend queues work and returns: see {@link #synchronize()}.
 */
public interface Backend {
    String name();

    Device device();

    /** A zero-filled tensor on this backend's device, owning its memory (close frees it). */
    default Tensor zeros(cola.tensor.DType dtype, long... shape) {
        return Tensor.zeros(dtype, shape);
    }

    /** A per-step activation arena in this backend's device memory. */
    default cola.tensor.Arena newArena(long initialBytes) {
        return new cola.tensor.Arena(initialBytes);
    }

    /**
     * Waits until every op queued so far has finished (a no-op on the CPU, whose ops finish before they return). Host
     * reads of device tensors (toFloatArray, download) already wait by themselves; this is for timing and hand-offs.
     */
    default void synchronize() {}

    /**
     * The units that run this backend's bf16 GEMMs ("amx", "avx512_bf16", "tensor cores"), or "" when it has none
     * (bf16 would then be emulated, slower than f32): what {@code --dtype auto} asks.
     */
    default String bf16Support() {
        return "";
    }

    /** A copy of a host tensor on this backend's device (for the CPU backend: a host copy). Caller owns it. */
    Tensor upload(Tensor host);

    /**
     * Takes ownership of a freshly made host tensor (loaded weights, an initialisation) and returns it on this
     * backend's device: the same tensor when it already lives there (the CPU backend: no copy, no extra memory),
     * otherwise an upload, after which the host tensor is closed. Caller owns the result.
     */
    default Tensor adopt(Tensor host) {
        if (host.device().equals(device())) return host;
        if (!host.isHost()) {
            throw new IllegalArgumentException("adopt: tensor " + host + " is on " + host.device() + ", not the host or "
                    + device());
        }
        try (host) {
            return upload(host);
        }
    }

    /** A host copy of a tensor of this backend (for the CPU backend: a copy). Caller owns it. */
    Tensor download(Tensor onDevice);

    // ---------------------------------------------------------------- GEMM
    /** c[M,N] = alpha·op(a)·op(b) + beta·c; a is [M,K] (or [K,M] when transA), b is [K,N] (or [N,K] when transB). */
    void gemm(boolean transA, boolean transB, float alpha, Tensor a, Tensor b, float beta, Tensor c);

    /** The same over a leading batch dimension: a[batch,·,·], b[batch,·,·], c[batch,M,N]. */
    void gemmBatched(boolean transA, boolean transB, float alpha, Tensor a, Tensor b, float beta, Tensor c);

    /**
     * c[M,N] (f32) = op(a)·op(b) + beta·c with bf16 a and b and fp32 accumulation (CPU: oneDNN matmul, AMX /
     * AVX512_BF16; CUDA: cuBLAS GemmEx on tensor cores); beta is 0 or 1. The GEMM of the bf16 engine.
     */
    void gemmBf16(boolean transA, boolean transB, Tensor a, Tensor b, float beta, Tensor c);

    // ---------------------------------------------------------------- linear
    /** out[..,N] = inp[..,K]·weight[N,K]ᵀ + bias[N] (bias may be null). */
    void matmulForward(Tensor out, Tensor inp, Tensor weight, Tensor bias);

    /** dinp += dout·weight; dweight += doutᵀ·inp; dbias += Σ dout (any of the three may be null). */
    void matmulBackward(Tensor dinp, Tensor dweight, Tensor dbias, Tensor dout, Tensor inp, Tensor weight);

    // ---------------------------------------------------------------- LoRA
    /**
     * Fused LoRA linear: u[..,r] = drop(x)·Aᵀ; y[..,N] = x·Wᵀ + b + s·u·Bᵀ. A is [r,K], B is [N,r]; b may be null;
     * p is the LoRA dropout probability (0: none), seed its mask's seed. u may be null when p = 0 (backward then
     * recomputes it; forward stays one GEMM).
     */
    void loraLinearForward(Tensor y, Tensor u, Tensor x, Tensor w, Tensor b, Tensor a, Tensor bMat, float s, float p,
            long seed);

    /**
     * With scratch v[..,r] = dy·B: dx += dy·W + s·drop'(v·A); dA += s·vᵀ·drop(x); dB += s·dyᵀ·u; dW, db (full
     * fine-tuning only) += dyᵀ·x, Σ dy. dx, dW, db may be null; u may be null when p = 0.
     */
    void loraLinearBackward(Tensor dx, Tensor dW, Tensor db, Tensor dA, Tensor dB, Tensor v, Tensor dy, Tensor x,
            Tensor u, Tensor w, Tensor a, Tensor bMat, float s, float p, long seed);

    // ---------------------------------------------------------------- merge
    /**
     * Ties a knot: w[N,K] (f32 or bf16) += s·B[N,r]·A[r,K] with fp32 accumulation. Throws {@link NonFiniteException}
     * (w untouched) if s, A or B is non-finite or the delta could overflow. Returns, for bf16 w, how many elements with
     * a non-zero delta kept their value (updates lost to rounding); 0 for f32.
     */
    long mergeLora(Tensor w, Tensor a, Tensor bMat, float s, Rounding rounding, long seed);

    /**
     * A knot into a bf16 w[N,K] with the accounting of {@link MergeStats}: x = f32(w) + R + s·B·A, w ← round(x)
     * (nearest even, or stochastic), and when {@code residual} R[N,K] (f32) is given, R ← x − f32(w): the error
     * compensation that folds what rounding dropped into the next knot and the export. Non-finite deltas are refused
     * as in {@link #mergeLora} (w and R untouched).
     */
    MergeStats mergeLoraBf16(Tensor w, Tensor residual, Tensor a, Tensor bMat, float s, Rounding rounding, long seed);

    // ---------------------------------------------------------------- norms
    /** out = (inp - mean)·rstd·weight + bias over the last dim C; saves mean[N], rstd[N]. weight/bias may be null. */
    void layerNormForward(Tensor out, Tensor mean, Tensor rstd, Tensor inp, Tensor weight, Tensor bias, float eps);

    void layerNormBackward(Tensor dinp, Tensor dweight, Tensor dbias, Tensor dout, Tensor inp, Tensor weight,
            Tensor mean, Tensor rstd);

    /** out = inp·rstd·weight, rstd[N] = 1/sqrt(mean(inp²) + eps). */
    void rmsNormForward(Tensor out, Tensor rstd, Tensor inp, Tensor weight, float eps);

    void rmsNormBackward(Tensor dinp, Tensor dweight, Tensor dout, Tensor inp, Tensor weight, Tensor rstd);

    // ---------------------------------------------------------------- activations (elementwise, any shape)
    void geluForward(Tensor out, Tensor inp, GeluApproximation approximation);

    void geluBackward(Tensor dinp, Tensor dout, Tensor inp, GeluApproximation approximation);

    void reluForward(Tensor out, Tensor inp);

    void reluBackward(Tensor dinp, Tensor dout, Tensor inp);

    void siluForward(Tensor out, Tensor inp);

    void siluBackward(Tensor dinp, Tensor dout, Tensor inp);

    /** out = silu(gate)·up. */
    void swigluForward(Tensor out, Tensor gate, Tensor up);

    void swigluBackward(Tensor dgate, Tensor dup, Tensor dout, Tensor gate, Tensor up);

    /** out = a + b. */
    void add(Tensor out, Tensor a, Tensor b);

    // ---------------------------------------------------------------- embedding
    /** out[..,C] = table[ids[..], :]; ids (i32) must be in [0, V). */
    void embeddingForward(Tensor out, Tensor ids, Tensor table);

    /** dtable[ids[n], :] += dout[n, :]. */
    void embeddingBackward(Tensor dtable, Tensor dout, Tensor ids);

    // ---------------------------------------------------------------- RoPE
    /** inp/out [..,H,D] (rows N = numel/(H·D)), pos[N] i32; rotate_half layout with base theta. out may be inp. */
    void ropeForward(Tensor out, Tensor inp, Tensor pos, float theta);

    void ropeBackward(Tensor dinp, Tensor dout, Tensor pos, float theta);

    /**
     * The same with a table invFreq[D/2] (f32, on this backend: the scaled RoPE variants — Llama 3, linear, dynamic
     * NTK, YaRN — differ only in it) and an output scale (YaRN's attention factor multiplies cos and sin).
     */
    void ropeForward(Tensor out, Tensor inp, Tensor pos, Tensor invFreq, float scale);

    void ropeBackward(Tensor dinp, Tensor dout, Tensor pos, Tensor invFreq, float scale);

    // ---------------------------------------------------------------- attention
    /**
     * q[B,T,Hq,D], k,v[B,T,Hkv,D], out[B,T,Hq,D], lse[B,Hq,T]; keyMask[B,T] i32 (1 keep, 0 pad) may be null.
     */
    default void attentionForward(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor keyMask, boolean causal,
            float scale) {
        attentionForward(out, lse, q, k, v, keyMask, causal, 0, scale);
    }

    default void attentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor q, Tensor k, Tensor v,
            Tensor out, Tensor lse, Tensor keyMask, boolean causal, float scale) {
        attentionBackward(dq, dk, dv, dout, q, k, v, out, lse, keyMask, causal, 0, scale);
    }

    /**
     * With a sliding window (Mistral): window > 0 (causal only) hides from query i the keys j ≤ i − window;
     * 0 = no window.
     */
    void attentionForward(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor keyMask, boolean causal,
            int window, float scale);

    void attentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor q, Tensor k, Tensor v, Tensor out,
            Tensor lse, Tensor keyMask, boolean causal, int window, float scale);

    // ---------------------------------------------------------------- loss
    /** losses[N], lse[N] from logits[N,V] and targets[N] (i32; ignoreIndex rows get loss 0). */
    void softmaxXentForward(Tensor losses, Tensor lse, Tensor logits, Tensor targets, int ignoreIndex);

    /** dlogits[N,V] = dlosses[n]·(softmax - onehot); OVERWRITES dlogits, which may be logits itself. */
    void softmaxXentBackward(Tensor dlogits, Tensor dlosses, Tensor logits, Tensor lse, Tensor targets, int ignoreIndex);

    // ---------------------------------------------------------------- optimiser
    /** One AdamW step (1-based {@code step}) over all tensors; grads are multiplied by gradScale first. */
    void adamwStep(List<Tensor> params, List<Tensor> grads, List<Tensor> m, List<Tensor> v, AdamWConfig config,
            long step, float gradScale);

    /** Σ over tensors of Σ x², in double. */
    double sumSquares(List<Tensor> tensors);

    /** x *= scale for every tensor. */
    void scale(List<Tensor> tensors, float scale);

    /**
     * Global-norm gradient clipping as PyTorch's clip_grad_norm_: returns the norm before clipping; scales by
     * maxNorm/(norm + 1e-6) when the norm exceeds maxNorm.
     */
    default double clipGradNorm(List<Tensor> grads, double maxNorm) {
        double norm = Math.sqrt(sumSquares(grads));
        if (norm > maxNorm) scale(grads, (float) (maxNorm / (norm + 1e-6)));
        return norm;
    }

    // ---------------------------------------------------------------- dropout
    void dropoutForward(Tensor out, Tensor inp, float p, long seed);

    void dropoutBackward(Tensor dinp, Tensor dout, float p, long seed);

    // ---------------------------------------------------------------- layout
    /**
     * Column-block copy between small[.., c] and the block wide[.., colOffset : colOffset + c]: small ← block (split a
     * fused projection such as GPT-2's c_attn into q, k, v), or block ← small when {@code intoWide} (join gradients in
     * backward); {@code accumulate} adds instead of overwriting.
     */
    void copyColumns(Tensor small, Tensor wide, long colOffset, boolean intoWide, boolean accumulate);

    // ---------------------------------------------------------------- conversions
    /** dst = src converted between f32 and bf16/f16 (round to nearest even), same element count. */
    void convert(Tensor dst, Tensor src);

    /** A new tensor on this backend holding {@code src} converted to {@code to} (see {@link #convert}); src untouched. */
    default Tensor converted(Tensor src, cola.tensor.DType to) {
        Tensor out = zeros(to, src.shape());
        try {
            convert(out, src);
        } catch (RuntimeException e) {
            out.close();
            throw e;
        }
        return out;
    }
}
