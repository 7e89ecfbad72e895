package cola.model;

import cola.backend.Backend;
import cola.tensor.DType;
import cola.tensor.Tensor;

/**
 * One LoRA adapter on one linear layer: A [r, in], B [out, r] and their gradients, scale s = α/r (or α/√r with
 * rsLoRA). The layer computes y = x·Wᵀ + b + s·drop(x)·Aᵀ·Bᵀ. Owns its four tensors.
 */
public final class LoraAdapter implements AutoCloseable {
    /** HF module path of the adapted layer, e.g. "model.decoder.layers.0.self_attn.q_proj". */
    public final String modulePath;
    public final int rank;
    public final float scale;
    public final float dropout;
    /** [r, in] */
    public final Tensor a;
    /** [out, r] */
    public final Tensor b;
    /** [r, in] */
    public final Tensor gradA;
    /** [out, r] */
    public final Tensor gradB;

    /**
     * Takes ownership of {@code a} and {@code b}, which must live on {@code be}'s device; the gradients are allocated
     * there too.
     */
    public LoraAdapter(Backend be, String modulePath, Tensor a, Tensor b, float scale, float dropout) {
        if (a.rank() != 2 || b.rank() != 2 || a.dim(0) != b.dim(1)) {
            throw new IllegalArgumentException(modulePath + ": LoRA A " + a.describe() + " and B " + b.describe()
                    + " do not form a rank-r pair (A [r, in], B [out, r])");
        }
        if (a.dtype() != DType.F32 || b.dtype() != DType.F32) {
            throw new IllegalArgumentException(modulePath + ": LoRA A and B must be f32");
        }
        if (!(dropout >= 0 && dropout < 1)) throw new IllegalArgumentException(modulePath + ": lora dropout " + dropout);
        if (!a.device().equals(be.device()) || !b.device().equals(be.device())) {
            throw new IllegalArgumentException(modulePath + ": LoRA A is on " + a.device() + ", B on " + b.device()
                    + ", the backend on " + be.device());
        }
        this.modulePath = modulePath;
        this.rank = (int) a.dim(0);
        this.scale = scale;
        this.dropout = dropout;
        this.a = a;
        this.b = b;
        this.gradA = be.zeros(DType.F32, a.shape());
        this.gradB = be.zeros(DType.F32, b.shape());
    }

    /** PEFT's scaling: α/r, or α/√r with rsLoRA. */
    public static float scale(double alpha, int rank, boolean rslora) {
        return (float) (rslora ? alpha / Math.sqrt(rank) : alpha / rank);
    }

    public void zeroGrad() {
        gradA.zero();
        gradB.zero();
    }

    @Override
    public void close() {
        a.close();
        b.close();
        gradA.close();
        gradB.close();
    }
}
