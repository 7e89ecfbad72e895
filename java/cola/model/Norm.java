package cola.model;

import cola.tensor.Tensor;

/** LayerNorm (weight, bias) or RMSNorm (weight) over the last dimension; frozen unless full fine-tuning. */
final class Norm implements AutoCloseable {
    enum Kind { LAYER, RMS }

    final Kind kind;
    final Tensor weight, bias;
    final float eps;
    private Tensor savedX, mean, rstd;
    Tensor gradWeight, gradBias;

    /** Full fine-tuning: the affine parameters get gradients. */
    void enableGradients(cola.backend.Backend be) {
        if (weight != null && gradWeight == null) gradWeight = be.zeros(cola.tensor.DType.F32, weight.shape());
        if (bias != null && gradBias == null) gradBias = be.zeros(cola.tensor.DType.F32, bias.shape());
    }

    Norm(Kind kind, Tensor weight, Tensor bias, float eps) {
        this.kind = kind;
        this.weight = weight;
        this.bias = bias;
        this.eps = eps;
    }

    Tensor forward(StepContext ctx, Tensor x) {
        return forward(ctx, x, true);
    }

    /** @param keepOut whether the output is saved for backward (else it is block scratch: see StepContext). */
    Tensor forward(StepContext ctx, Tensor x, boolean keepOut) {
        long c = x.dim(-1), n = x.numel() / c;
        Tensor out = ctx.alloc(keepOut, x.shape());
        savedX = x;
        rstd = ctx.alloc(n);
        if (kind == Kind.LAYER) {
            mean = ctx.alloc(n);
            ctx.be.layerNormForward(out, mean, rstd, x, weight, bias, eps);
        } else {
            ctx.be.rmsNormForward(out, rstd, x, weight, eps);
        }
        return out;
    }

    /** dx += d(norm)/dx · dout. */
    void backward(StepContext ctx, Tensor dx, Tensor dout) {
        if (kind == Kind.LAYER) ctx.be.layerNormBackward(dx, gradWeight, gradBias, dout, savedX, weight, mean, rstd);
        else ctx.be.rmsNormBackward(dx, gradWeight, dout, savedX, weight, rstd);
    }

    @Override
    public void close() {
        for (Tensor t : new Tensor[] {weight, bias, gradWeight, gradBias}) if (t != null) t.close();
    }
}
