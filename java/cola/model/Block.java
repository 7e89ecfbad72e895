package cola.model;

import cola.backend.GeluApproximation;
import cola.tensor.Arena;
import cola.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * One transformer block of any supported family, forward and hand-written backward (llm.c style: forward keeps what
 * backward needs, in the step's arena).
 *
 * <pre>
 * pre-norm  (OPT, GPT-2, Llama):  h = x + O(attn(Q,K,V of norm1(x)));   out = h + MLP(norm2(h))
 * post-norm (BERT, OPT-350m):     h = norm1(x + O(attn(Q,K,V of x)));   out = norm2(h + MLP(h))
 * MLP: fc2(act(fc1(·))) with act ∈ {relu, gelu, gelu_tanh}, or Llama's down(silu(gate(·))·up(·))
 * </pre>
 * Shapes: x, h, out [N, C] with N = B·T; q [N, H·D], k, v [N, Hkv·D].
 */
final class Block implements AutoCloseable {
    enum Act { RELU, GELU, GELU_TANH, SWIGLU }

    /** window: Mistral's sliding window (query i sees keys j > i − window; 0 = none). */
    record Spec(boolean preNorm, Act act, int heads, int kvHeads, int headDim, boolean causal, float ropeTheta,
            boolean fusedQkv, int window) {
        Spec(boolean preNorm, Act act, int heads, int kvHeads, int headDim, boolean causal, float ropeTheta,
                boolean fusedQkv) {
            this(preNorm, act, heads, kvHeads, headDim, causal, ropeTheta, fusedQkv, 0);
        }

        boolean rope() {
            return ropeTheta > 0;
        }
    }

    final Spec spec;
    final Norm norm1, norm2;
    /** Separate projections (null when fused). */
    final Linear q, k, v;
    /** GPT-2's fused c_attn [3C, C] (null otherwise). */
    final Linear qkv;
    final Linear o;
    /** fc1/fc2 (gate/up null), or gate/up/down (down stored in fc2, fc1 null). */
    final Linear fc1, fc2, gate, up;
    /** Qwen3: RMSNorm over each head's D features of q and k, before RoPE (weight [D]); null elsewhere. */
    Norm qNorm, kNorm;
    /** Phi-3: gate and up as one fused projection [2F, C] (gate the first F outputs, up the last); gate/up null. */
    Linear gateUp;

    // saved activations
    private Tensor x, qr, kr, vv, att, lse, h, mIn, f1, a1, g, u;

    Block(Spec spec, Norm norm1, Norm norm2, Linear q, Linear k, Linear v, Linear qkv, Linear o, Linear fc1, Linear fc2,
            Linear gate, Linear up) {
        this.spec = spec;
        this.norm1 = norm1;
        this.norm2 = norm2;
        this.q = q;
        this.k = k;
        this.v = v;
        this.qkv = qkv;
        this.o = o;
        this.fc1 = fc1;
        this.fc2 = fc2;
        this.gate = gate;
        this.up = up;
    }

    List<Linear> linears() {
        List<Linear> l = new ArrayList<>();
        for (Linear x : new Linear[] {q, k, v, qkv, o, fc1, gate, up, gateUp, fc2}) if (x != null) l.add(x);
        return l;
    }

    private int c() {
        return o.out;
    }

    // ---------------------------------------------------------------- forward

    /**
     * Saved for backward: the block input, the norms' inputs, q/k/v after RoPE, the attention output and its
     * log-sum-exp, the MLP's pre-activations, and a layer's input only when its backward reads it (an adapter or full
     * fine-tuning: {@link Linear#backwardNeedsInput}). Everything else — a projection's output before its residual
     * add, q/k before RoPE, a norm's output that no adapter reads — is block scratch ({@link StepContext#scratch}),
     * released when this forward returns: for LoRA on q/v of a Llama block that is ~40 % of the activations.
     */
    Tensor forward(StepContext ctx, Tensor xIn) {
        Arena.Mark scratch = ctx.scratch != null ? ctx.scratch.mark() : null;
        try {
            x = xIn;
            Tensor attnIn = spec.preNorm ? norm1.forward(ctx, x, attentionInputNeeded()) : x;
            Tensor z = attention(ctx, attnIn);
            Tensor s1 = ctx.alloc(x.shape());
            ctx.be.add(s1, x, z);
            h = spec.preNorm ? s1 : norm1.forward(ctx, s1);
            mIn = spec.preNorm ? norm2.forward(ctx, h, mlpInputNeeded()) : h;
            Tensor m = mlp(ctx, mIn);
            Tensor s2 = ctx.alloc(x.shape());
            ctx.be.add(s2, h, m);
            return spec.preNorm ? s2 : norm2.forward(ctx, s2);
        } finally {
            if (scratch != null) ctx.scratch.release(scratch);
        }
    }

    private boolean attentionInputNeeded() {
        for (Linear l : new Linear[] {q, k, v, qkv}) if (l != null && l.backwardNeedsInput()) return true;
        return false;
    }

    /** The MLP's width F (gate's outputs, half of the fused gate_up's, or fc1's). */
    int mlpWidth() {
        return gateUp != null ? gateUp.out / 2 : gate != null ? gate.out : fc1.out;
    }

    private boolean mlpInputNeeded() {
        for (Linear l : new Linear[] {fc1, gate, up, gateUp}) if (l != null && l.backwardNeedsInput()) return true;
        return false;
    }

    private Tensor attention(StepContext ctx, Tensor a) {
        int n = ctx.rows(), hq = spec.heads, hkv = spec.kvHeads, d = spec.headDim;
        boolean rope = spec.rope();  // with RoPE, backward reads the rotated q/k: the projections' outputs are scratch
        boolean keepProj = !rope || qNorm != null;  // ... unless a q/k norm reads them in backward
        Tensor qp = ctx.alloc(keepProj, n, (long) hq * d), kp = ctx.alloc(keepProj, n, (long) hkv * d);
        vv = ctx.alloc(n, (long) hkv * d);
        if (qkv != null) {
            Tensor fused = ctx.transientAlloc(n, qkv.out);
            qkv.forward(ctx, fused, a);
            ctx.be.copyColumns(qp, fused, 0, false, false);
            ctx.be.copyColumns(kp, fused, (long) hq * d, false, false);
            ctx.be.copyColumns(vv, fused, (long) (hq + hkv) * d, false, false);
        } else {
            q.forward(ctx, qp, a);
            k.forward(ctx, kp, a);
            v.forward(ctx, vv, a);
        }
        if (qNorm != null) {  // per-head RMSNorm: rows of D features; its outputs feed RoPE (scratch when rotated)
            qp = qNorm.forward(ctx, qp.view((long) n * hq, d), !rope).view(n, (long) hq * d);
            kp = kNorm.forward(ctx, kp.view((long) n * hkv, d), !rope).view(n, (long) hkv * d);
        }
        if (spec.rope()) {
            qr = ctx.alloc(qp.shape());
            kr = ctx.alloc(kp.shape());
            if (ctx.ropeFreqs != null) {  // rope_scaling: the step's frequency table
                ctx.be.ropeForward(qr.view(n, hq, d), qp.view(n, hq, d), ctx.positions, ctx.ropeFreqs, ctx.ropeScale);
                ctx.be.ropeForward(kr.view(n, hkv, d), kp.view(n, hkv, d), ctx.positions, ctx.ropeFreqs, ctx.ropeScale);
            } else {
                ctx.be.ropeForward(qr.view(n, hq, d), qp.view(n, hq, d), ctx.positions, spec.ropeTheta);
                ctx.be.ropeForward(kr.view(n, hkv, d), kp.view(n, hkv, d), ctx.positions, spec.ropeTheta);
            }
        } else {
            qr = qp;
            kr = kp;
        }
        att = ctx.alloc(n, (long) hq * d);
        lse = ctx.alloc(ctx.batch, hq, ctx.seqLen);
        ctx.be.attentionForward(att.view(ctx.batch, ctx.seqLen, hq, d), lse, qr.view(ctx.batch, ctx.seqLen, hq, d),
                kr.view(ctx.batch, ctx.seqLen, hkv, d), vv.view(ctx.batch, ctx.seqLen, hkv, d), ctx.keyMask, spec.causal,
                spec.window, (float) (1.0 / Math.sqrt(d)));
        Tensor z = ctx.transientAlloc(n, c());  // consumed by the residual add
        o.forward(ctx, z, att);
        return z;
    }

    private Tensor mlp(StepContext ctx, Tensor a) {
        int n = ctx.rows();
        Tensor m = ctx.transientAlloc(n, c());  // consumed by the residual add
        boolean half = ctx.bf16Activations;  // pre-activations saved in bf16 (widened in backward)
        if (spec.act == Act.SWIGLU) {
            int f = mlpWidth();
            g = ctx.alloc(!half, n, f);
            u = ctx.alloc(!half, n, f);
            if (gateUp != null) {  // one GEMM for both, then the column halves
                Tensor fused = ctx.transientAlloc(n, 2L * f);
                gateUp.forward(ctx, fused, a);
                ctx.be.copyColumns(g, fused, 0, false, false);
                ctx.be.copyColumns(u, fused, f, false, false);
            } else {
                gate.forward(ctx, g, a);
                up.forward(ctx, u, a);
            }
            a1 = ctx.alloc(fc2.backwardNeedsInput(), n, f);  // down_proj's input: saved only if it trains
            ctx.be.swigluForward(a1, g, u);
            if (half) {
                g = ctx.saveBf16(g);
                u = ctx.saveBf16(u);
            }
        } else {
            f1 = ctx.alloc(!half, n, fc1.out);
            fc1.forward(ctx, f1, a);
            a1 = ctx.alloc(fc2.backwardNeedsInput(), n, fc1.out);
            switch (spec.act) {
                case RELU -> ctx.be.reluForward(a1, f1);
                case GELU -> ctx.be.geluForward(a1, f1, GeluApproximation.NONE);
                default -> ctx.be.geluForward(a1, f1, GeluApproximation.TANH);
            }
            if (half) f1 = ctx.saveBf16(f1);
        }
        fc2.forward(ctx, m, a1);
        return m;
    }

    // ---------------------------------------------------------------- backward

    /** Returns d loss / d x. {@code dOut} is consumed (reused as a gradient buffer). */
    Tensor backward(StepContext ctx, Tensor dOut) {
        if (spec.preNorm) {
            // out = h + m: dh = dOut + d(MLP(norm2(h)))/dh; accumulate into dOut in place.
            Tensor dMIn = mlpBackward(ctx, dOut);
            norm2.backward(ctx, dOut, dMIn);
            Tensor dh = dOut;
            // h = x + z: dx = dh + d(attn(norm1(x)))/dx
            Tensor dA = attentionBackward(ctx, dh);
            norm1.backward(ctx, dh, dA);
            return dh;
        }
        Tensor ds2 = ctx.zeros(dOut.shape());
        norm2.backward(ctx, ds2, dOut);
        // s2 = h + MLP(h): the MLP's input gradient accumulates into ds2, which then is dh
        Tensor dMIn = mlpBackward(ctx, ds2);
        ctx.be.add(ds2, ds2, dMIn);
        Tensor ds1 = ctx.zeros(dOut.shape());
        norm1.backward(ctx, ds1, ds2);
        Tensor dA = attentionBackward(ctx, ds1);
        ctx.be.add(ds1, ds1, dA);
        return ds1;
    }

    /** Backward of the MLP given d(output); returns d(input) (fresh buffer). */
    private Tensor mlpBackward(StepContext ctx, Tensor dm) {
        int n = ctx.rows();
        Tensor da1 = ctx.zeros(n, fc2.in);
        fc2.backward(ctx, da1, dm);
        Tensor dIn = ctx.zeros(n, c());
        if (spec.act == Act.SWIGLU) {
            int f = mlpWidth();
            Tensor dg = ctx.zeros(n, f), du = ctx.zeros(n, f);
            ctx.be.swigluBackward(dg, du, da1, ctx.widen(g), ctx.widen(u));
            if (gateUp != null) {
                Tensor dfused = ctx.alloc(n, 2L * f);
                ctx.be.copyColumns(dg, dfused, 0, true, false);
                ctx.be.copyColumns(du, dfused, f, true, false);
                gateUp.backward(ctx, dIn, dfused);
            } else {
                gate.backward(ctx, dIn, dg);
                up.backward(ctx, dIn, du);
            }
        } else {
            Tensor df = ctx.zeros(n, fc1.out), pre = ctx.widen(f1);
            switch (spec.act) {
                case RELU -> ctx.be.reluBackward(df, da1, pre);
                case GELU -> ctx.be.geluBackward(df, da1, pre, GeluApproximation.NONE);
                default -> ctx.be.geluBackward(df, da1, pre, GeluApproximation.TANH);
            }
            fc1.backward(ctx, dIn, df);
        }
        return dIn;
    }

    /** Backward of O(attn(QKV(a))) given d(output); returns d(a) (fresh buffer). */
    private Tensor attentionBackward(StepContext ctx, Tensor dz) {
        int n = ctx.rows(), hq = spec.heads, hkv = spec.kvHeads, d = spec.headDim, b = ctx.batch, t = ctx.seqLen;
        Tensor datt = ctx.zeros(n, (long) hq * d);
        o.backward(ctx, datt, dz);
        Tensor dqr = ctx.zeros(n, (long) hq * d), dkr = ctx.zeros(n, (long) hkv * d), dv = ctx.zeros(n, (long) hkv * d);
        ctx.be.attentionBackward(dqr.view(b, t, hq, d), dkr.view(b, t, hkv, d), dv.view(b, t, hkv, d),
                datt.view(b, t, hq, d), qr.view(b, t, hq, d), kr.view(b, t, hkv, d), vv.view(b, t, hkv, d),
                att.view(b, t, hq, d), lse, ctx.keyMask, spec.causal, spec.window, (float) (1.0 / Math.sqrt(d)));
        Tensor dq = dqr, dk = dkr;
        if (spec.rope()) {
            dq = ctx.zeros(dqr.shape());
            dk = ctx.zeros(dkr.shape());
            if (ctx.ropeFreqs != null) {
                ctx.be.ropeBackward(dq.view(n, hq, d), dqr.view(n, hq, d), ctx.positions, ctx.ropeFreqs, ctx.ropeScale);
                ctx.be.ropeBackward(dk.view(n, hkv, d), dkr.view(n, hkv, d), ctx.positions, ctx.ropeFreqs, ctx.ropeScale);
            } else {
                ctx.be.ropeBackward(dq.view(n, hq, d), dqr.view(n, hq, d), ctx.positions, spec.ropeTheta);
                ctx.be.ropeBackward(dk.view(n, hkv, d), dkr.view(n, hkv, d), ctx.positions, spec.ropeTheta);
            }
        }
        if (qNorm != null) {
            Tensor dqn = ctx.zeros(dq.shape()), dkn = ctx.zeros(dk.shape());
            qNorm.backward(ctx, dqn.view((long) n * hq, d), dq.view((long) n * hq, d));
            kNorm.backward(ctx, dkn.view((long) n * hkv, d), dk.view((long) n * hkv, d));
            dq = dqn;
            dk = dkn;
        }
        Tensor da = ctx.zeros(n, x.dim(-1));
        if (qkv != null) {
            Tensor dfused = ctx.alloc(n, qkv.out);
            ctx.be.copyColumns(dq, dfused, 0, true, false);
            ctx.be.copyColumns(dk, dfused, (long) hq * d, true, false);
            ctx.be.copyColumns(dv, dfused, (long) (hq + hkv) * d, true, false);
            qkv.backward(ctx, da, dfused);
        } else {
            q.backward(ctx, da, dq);
            k.backward(ctx, da, dk);
            v.backward(ctx, da, dv);
        }
        return da;
    }

    @Override
    public void close() {
        for (Linear l : linears()) l.close();
        norm1.close();
        norm2.close();
        if (qNorm != null) qNorm.close();
        if (kNorm != null) kNorm.close();
    }
}
