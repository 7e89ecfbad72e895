package cola.optim;

import cola.backend.AdamWConfig;
import cola.backend.Backend;
import cola.tensor.DType;
import cola.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * AdamW over a fixed list of parameters (PyTorch semantics, one multi-tensor kernel call per step), owning its moment
 * tensors m and v. At a COLA knot the state is reset (the paper), kept, or magnitude-pruned (ReLoRA).
 */
public final class AdamW implements AutoCloseable {
    private final Backend be;
    private final List<Tensor> params, grads, m = new ArrayList<>(), v = new ArrayList<>();
    private final AdamWConfig config;
    private long step;

    /**
     * params[i] and grads[i] are borrowed (not closed here); their shapes must match. The moments live on {@code be}'s
     * device, with the parameters.
     */
    public AdamW(Backend be, List<Tensor> params, List<Tensor> grads, AdamWConfig config) {
        if (params.size() != grads.size()) {
            throw new IllegalArgumentException("adamw: " + params.size() + " params but " + grads.size() + " grads");
        }
        this.be = be;
        this.params = List.copyOf(params);
        this.grads = List.copyOf(grads);
        this.config = config;
        for (Tensor p : params) {
            m.add(be.zeros(DType.F32, p.shape()));
            v.add(be.zeros(DType.F32, p.shape()));
        }
    }

    /** One update with learning rate {@code lr}; gradients are multiplied by {@code gradScale} (clipping) first. */
    public void step(double lr, float gradScale) {
        step++;
        be.adamwStep(params, grads, m, v, new AdamWConfig((float) lr, config.beta1(), config.beta2(), config.eps(),
                config.weightDecay()), step, gradScale);
    }

    /** Steps taken since construction or the last reset (AdamW's bias correction counts from here). */
    public long steps() {
        return step;
    }

    /** Restores the step count (checkpoint resume). */
    public void setSteps(long steps) {
        if (steps < 0) throw new IllegalArgumentException("steps must be >= 0");
        this.step = steps;
    }

    /** The paper's knot: moments to zero, bias correction restarts. */
    public void reset() {
        for (Tensor t : m) t.zero();
        for (Tensor t : v) t.zero();
        step = 0;
    }

    /**
     * ReLoRA's knot: per tensor, zero the {@code fraction} of m and v entries with the smallest magnitude (0.99 keeps
     * the largest 1%). The step count (bias correction) is kept.
     */
    public void prune(double fraction) {
        if (!(fraction >= 0 && fraction <= 1)) throw new IllegalArgumentException("prune fraction must be in [0, 1], got " + fraction);
        for (List<Tensor> moments : List.of(m, v)) {
            for (Tensor t : moments) {
                float[] a = t.toFloatArray();
                int drop = (int) Math.floor(fraction * a.length);
                if (drop == 0) continue;
                float[] mags = new float[a.length];
                for (int i = 0; i < a.length; i++) mags[i] = Math.abs(a[i]);
                Arrays.sort(mags);
                float threshold = mags[drop - 1];
                int dropped = 0;
                for (int i = 0; i < a.length && dropped < drop; i++) {
                    if (Math.abs(a[i]) <= threshold) {
                        a[i] = 0f;
                        dropped++;
                    }
                }
                t.copyFrom(a);
            }
        }
    }

    public List<Tensor> firstMoments() {
        return m;
    }

    public List<Tensor> secondMoments() {
        return v;
    }

    @Override
    public void close() {
        for (Tensor t : m) t.close();
        for (Tensor t : v) t.close();
    }
}
