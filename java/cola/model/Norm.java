package cola.model;

import cola.tensor.Tensor;

/** LayerNorm (weight, bias) or RMSNorm (weight) over the last dimension; frozen parameters. */
final class Norm implements AutoCloseable {
    enum Kind { LAYER, RMS }

    final Kind kind;
    final Tensor weight, bias;
    final float eps;
    private Tensor savedX, mean, rstd;

    Norm(Kind kind, Tensor weight, Tensor bias, float eps) {
        this.kind = kind;
        this.weight = weight;
        this.bias = bias;
        this.eps = eps;
    }

    Tensor forward(StepContext ctx, Tensor x) {
        long c = x.dim(-1), n = x.numel() / c;
        Tensor out = ctx.alloc(x.shape());
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
        if (kind == Kind.LAYER) ctx.be.layerNormBackward(dx, null, null, dout, savedX, weight, mean, rstd);
        else ctx.be.rmsNormBackward(dx, null, dout, savedX, weight, rstd);
    }

    @Override
    public void close() {
        if (weight != null) weight.close();
        if (bias != null) bias.close();
    }
}
