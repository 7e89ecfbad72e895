package cola.model;

import cola.backend.Backend;
import cola.tensor.DType;
import cola.tensor.Tensor;

/**
 * A linear layer y = x·Wᵀ + b (W [out, in], as HF stores nn.Linear; GPT-2's Conv1D [in, out] is transposed at load),
 * optionally carrying a LoRA adapter (then the fused LoRA kernel runs) and, in full fine-tuning, weight gradients.
 * Saves its input (and the adapter's u) during forward for backward.
 */
public final class Linear implements AutoCloseable {
    /** HF module path, e.g. "model.decoder.layers.0.self_attn.q_proj": PEFT keys and target matching use it. */
    public final String path;
    public final int in, out;
    /** [out, in] f32, or bf16 as the checkpoint stores it (frozen: the bf16 engine); frozen unless full fine-tuning. */
    public final Tensor weight;
    /** [out] or null. */
    public final Tensor bias;
    private Tensor gradWeight, gradBias;
    /**
     * [out, in] f32 or null: the error-compensation residual of a bf16 weight that COLA knots merge into (what rounding
     * to bf16 dropped, folded into the next knot; weight + residual is the exact merged weight). Owned here.
     */
    private Tensor mergeResidual;
    private LoraAdapter lora;

    private Tensor savedX, savedU;

    public Linear(String path, Tensor weight, Tensor bias) {
        if (weight.rank() != 2 || weight.dtype() != DType.F32 && weight.dtype() != DType.BF16) {
            throw new IllegalArgumentException(path + ": weight must be f32 or bf16 [out, in], got " + weight.describe());
        }
        this.path = path;
        this.weight = weight;
        this.bias = bias;
        this.out = (int) weight.dim(0);
        this.in = (int) weight.dim(1);
    }

    /** The last path component ("q_proj"), what PEFT's target_modules match. */
    public String moduleName() {
        return path.substring(path.lastIndexOf('.') + 1);
    }

    public LoraAdapter lora() {
        return lora;
    }

    /** Attaches (or with null detaches) an adapter; the layer does not own it. */
    public void setLora(LoraAdapter adapter) {
        if (adapter != null && (adapter.a.dim(1) != in || adapter.b.dim(0) != out)) {
            throw new IllegalArgumentException(path + ": adapter A " + adapter.a.describe() + ", B " + adapter.b.describe()
                    + " does not fit a layer with in=" + in + ", out=" + out);
        }
        this.lora = adapter;
    }

    /**
     * Full fine-tuning: this layer's weight (and bias) get f32 gradients, on {@code be}'s device (the weight's). A bf16
     * weight's fp32 master is the model's ({@link Transformer#masterOf}).
     */
    public void enableWeightGradients(Backend be) {
        if (gradWeight == null) gradWeight = be.zeros(DType.F32, weight.shape());
        if (bias != null && gradBias == null) gradBias = be.zeros(DType.F32, bias.shape());
    }

    /** The merge residual, or null (f32 weight, or no compensated knot yet). */
    public Tensor mergeResidual() {
        return mergeResidual;
    }

    /** The merge residual, created as zeros on {@code be} at the first compensated knot into a bf16 weight. */
    public Tensor ensureMergeResidual(Backend be) {
        if (weight.dtype() != DType.BF16) throw new IllegalStateException(path + ": a merge residual is for bf16 weights");
        if (mergeResidual == null) mergeResidual = be.zeros(DType.F32, weight.shape());
        return mergeResidual;
    }

    public Tensor gradWeight() {
        return gradWeight;
    }

    public Tensor gradBias() {
        return gradBias;
    }

    /**
     * Whether backward reads this layer's input: for the adapter's gradients or the weight's (full fine-tuning). A
     * frozen layer without an adapter needs only dy·W, so its input can be block scratch.
     */
    public boolean backwardNeedsInput() {
        return lora != null || gradWeight != null || gradBias != null;
    }

    /** y[N, out] = x[N, in]·Wᵀ + b (+ LoRA). */
    public void forward(StepContext ctx, Tensor y, Tensor x) {
        savedX = x;
        if (lora != null) {
            // without dropout the kernel recomputes u in backward: forward stays one GEMM
            savedU = lora.dropout > 0 ? ctx.alloc(x.numel() / in, lora.rank) : null;
            ctx.be.loraLinearForward(y, savedU, x, weight, bias, lora.a, lora.b, lora.scale, lora.dropout, seed(ctx));
        } else {
            ctx.be.matmulForward(y, x, weight, bias);
        }
    }

    /** dx += dy·W (+ LoRA path); adapter and (full fine-tuning) weight gradients accumulate. dx may be null. */
    public void backward(StepContext ctx, Tensor dx, Tensor dy) {
        if (savedX == null) throw new IllegalStateException(path + ": backward without forward");
        if (lora != null) {
            Tensor v = ctx.alloc(savedX.numel() / in, lora.rank);
            ctx.be.loraLinearBackward(dx, gradWeight, gradBias, lora.gradA, lora.gradB, v, dy, savedX, savedU, weight,
                    lora.a, lora.b, lora.scale, lora.dropout, seed(ctx));
        } else if (dx != null || gradWeight != null || gradBias != null) {
            // a frozen layer reads only dy·W: its input may have been block scratch, so it is not passed
            ctx.be.matmulBackward(dx, gradWeight, gradBias, dy, backwardNeedsInput() ? savedX : null, weight);
        }
    }

    /** A different dropout mask per layer and step, reproducible from the step seed. */
    private long seed(StepContext ctx) {
        return ctx.dropoutSeed * 0x9E3779B97F4A7C15L + path.hashCode();
    }

    @Override
    public void close() {
        weight.close();
        if (bias != null) bias.close();
        if (gradWeight != null) gradWeight.close();
        if (gradBias != null) gradBias.close();
        if (mergeResidual != null) mergeResidual.close();
    }
}
