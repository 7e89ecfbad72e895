package cola.backend;

/** AdamW hyper-parameters (PyTorch defaults via {@link #defaults(float)}). */
public record AdamWConfig(float lr, float beta1, float beta2, float eps, float weightDecay) {
    public AdamWConfig {
        if (!(lr >= 0) || !(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1) || !(eps > 0) || !(weightDecay >= 0)) {
            throw new IllegalArgumentException("adamw: need lr >= 0, 0 <= beta1, beta2 < 1, eps > 0, weight_decay >= 0;"
                    + " got lr=" + lr + " beta1=" + beta1 + " beta2=" + beta2 + " eps=" + eps + " wd=" + weightDecay);
        }
    }

    public static AdamWConfig defaults(float lr) {
        return new AdamWConfig(lr, 0.9f, 0.999f, 1e-8f, 0.0f);
    }
}
