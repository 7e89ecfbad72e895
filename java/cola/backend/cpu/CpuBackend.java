package cola.backend.cpu;

import static cola.backend.cpu.CpuKernels.*;

import cola.backend.AdamWConfig;
import cola.backend.Backend;
import cola.backend.GeluApproximation;
import cola.backend.NonFiniteException;
import cola.backend.OpCheck;
import cola.backend.OpChecks;
import cola.backend.Rounding;
import cola.tensor.DType;
import cola.tensor.Device;
import cola.tensor.Tensor;
import java.util.List;

/**
 * The CPU backend: validates every call in Java ({@link OpChecks}: the checks every backend shares, with host tensors
 * as this backend's {@link OpChecks.Placement}), then calls libcola_cpu (native/src) through {@link CpuKernels}.
 * It is the correctness reference of the engine: every other backend is tested against it.
 */
public final class CpuBackend implements Backend {
    private static final CpuBackend INSTANCE = new CpuBackend();

    private CpuBackend() {
        CpuKernels.load();
    }

    public static CpuBackend get() {
        return INSTANCE;
    }

    @Override
    public String name() {
        return "cpu";
    }

    @Override
    public Device device() {
        return Device.CPU;
    }

    @Override
    public Tensor upload(Tensor host) {
        return copyOf("upload", host);
    }

    @Override
    public Tensor download(Tensor onDevice) {
        return copyOf("download", onDevice);
    }

    private static Tensor copyOf(String op, Tensor t) {
        HOST.check(new OpCheck(op).in("tensor", t), "tensor", t);
        Tensor copy = Tensor.zeros(t.dtype(), t.shape());
        copy.copyFrom(t);
        return copy;
    }

    public static String isa() {
        CpuKernels.load();
        return cola_cpu_isa();
    }

    /** The CPU's bf16 GEMM units as oneDNN sees them: "amx", "avx512_bf16", or "" (none). */
    public static String bf16Units() {
        CpuKernels.load();
        return cola_cpu_bf16_units();
    }

    @Override
    public String bf16Support() {
        return bf16Units();
    }

    public static String gemmLibrary() {
        CpuKernels.load();
        return cola_cpu_gemm_library();
    }

    public static int maxThreads() {
        CpuKernels.load();
        return cola_cpu_max_threads();
    }

    public static void setNumThreads(int n) {
        if (n < 1) throw new IllegalArgumentException("thread count must be >= 1, got " + n);
        CpuKernels.load();
        cola_cpu_set_num_threads(n);
    }

    // ---------------------------------------------------------------- helpers

    /** Native status → exception. Validation should make anything but OK impossible; this is the safety net. */
    static void status(String op, int code) {
        if (code == 0) return;
        String what = cola_error_string(code);
        if (code == 2) throw new NonFiniteException(op + ": " + what);
        throw new IllegalArgumentException(op + ": native kernel reported " + what + " (code " + code + ")");
    }

    /** A frozen weight kept in bf16 (the checkpoint's dtype): the op runs its bf16-weight kernel. */
    private static boolean bf16(Tensor weight) {
        return weight.dtype() == DType.BF16;
    }

    private static long addr(Tensor t) {
        return t == null ? 0L : t.address();
    }

    /** Where this backend's tensors live, for {@link OpChecks}: on the host. */
    private static final OpChecks.Placement HOST = (c, name, t) -> {
        if (t != null && t.device() != Device.CPU) throw c.fail("'" + name + "' is on " + t.device() + ", not the cpu");
    };

    // Each op: its checks (OpChecks, the same for every backend), then the native call.

    // ---------------------------------------------------------------- GEMM

    @Override
    public void gemm(boolean transA, boolean transB, float alpha, Tensor a, Tensor b, float beta, Tensor c) {
        OpChecks.Gemm g = OpChecks.gemm(HOST, transA, transB, a, b, c);
        status("gemm", cola_gemm_f32(transA ? 1 : 0, transB ? 1 : 0, g.m(), g.n(), g.k(), alpha, a.address(),
                a.dim(1), b.address(), b.dim(1), beta, c.address(), g.n()));
    }

    @Override
    public void gemmBf16(boolean transA, boolean transB, Tensor a, Tensor b, float beta, Tensor c) {
        OpChecks.Gemm g = OpChecks.gemmBf16(HOST, transA, transB, a, b, beta, c);
        status("gemm_bf16", cola_gemm_bf16(transA ? 1 : 0, transB ? 1 : 0, g.m(), g.n(), g.k(), a.address(), a.dim(1),
                b.address(), b.dim(1), beta, c.address(), g.n()));
    }

    /** How many bf16 matmul primitives the native cache holds (one per distinct GEMM shape, bounded). */
    public static long cachedBf16Primitives() {
        CpuKernels.load();
        return cola_gemm_bf16_cached_primitives();
    }

    @Override
    public void gemmBatched(boolean transA, boolean transB, float alpha, Tensor a, Tensor b, float beta, Tensor c) {
        OpChecks.Gemm g = OpChecks.gemmBatched(HOST, transA, transB, a, b, c);
        status("gemm_batched", cola_gemm_batched_f32(g.batch(), transA ? 1 : 0, transB ? 1 : 0, g.m(), g.n(), g.k(),
                alpha, a.address(), a.dim(2), a.dim(1) * a.dim(2), b.address(), b.dim(2), b.dim(1) * b.dim(2), beta,
                c.address(), g.n(), g.m() * g.n()));
    }

    // ---------------------------------------------------------------- linear

    @Override
    public void matmulForward(Tensor out, Tensor inp, Tensor weight, Tensor bias) {
        OpChecks.Linear l = OpChecks.matmulForward(HOST, out, inp, weight, bias);
        status("matmul_forward", bf16(weight)
                ? cola_matmul_bf16w_forward(out.address(), inp.address(), weight.address(), addr(bias), l.m(), l.k(),
                        l.n())
                : cola_matmul_forward(out.address(), inp.address(), weight.address(), addr(bias), l.m(), l.k(), l.n()));
    }

    @Override
    public void matmulBackward(Tensor dinp, Tensor dweight, Tensor dbias, Tensor dout, Tensor inp, Tensor weight) {
        OpChecks.Linear l = OpChecks.matmulBackward(HOST, dinp, dweight, dbias, dout, inp, weight);
        status("matmul_backward", bf16(weight)
                ? cola_matmul_bf16w_backward(addr(dinp), addr(dweight), addr(dbias), dout.address(), addr(inp),
                        weight.address(), l.m(), l.k(), l.n())
                : cola_matmul_backward(addr(dinp), addr(dweight), addr(dbias), dout.address(), addr(inp),
                        weight.address(), l.m(), l.k(), l.n()));
    }

    // ---------------------------------------------------------------- LoRA

    @Override
    public void loraLinearForward(Tensor y, Tensor u, Tensor x, Tensor w, Tensor b, Tensor a, Tensor bMat, float s,
            float p, long seed) {
        OpChecks.Lora l = OpChecks.loraLinearForward(HOST, y, u, x, w, b, a, bMat, s, p);
        status("lora_linear_forward", bf16(w)
                ? cola_lora_linear_forward_bf16w(y.address(), addr(u), x.address(), w.address(), addr(b), a.address(),
                        bMat.address(), s, p, seed, l.m(), l.k(), l.n(), l.r())
                : cola_lora_linear_forward(y.address(), addr(u), x.address(), w.address(), addr(b), a.address(),
                        bMat.address(), s, p, seed, l.m(), l.k(), l.n(), l.r()));
    }

    @Override
    public void loraLinearBackward(Tensor dx, Tensor dW, Tensor db, Tensor dA, Tensor dB, Tensor v, Tensor dy,
            Tensor x, Tensor u, Tensor w, Tensor a, Tensor bMat, float s, float p, long seed) {
        OpChecks.Lora l = OpChecks.loraLinearBackward(HOST, dx, dW, db, dA, dB, v, dy, x, u, w, a, bMat, s, p);
        status("lora_linear_backward", bf16(w)
                ? cola_lora_linear_backward_bf16w(addr(dx), addr(dW), addr(db), dA.address(), dB.address(),
                        v.address(), dy.address(), x.address(), addr(u), w.address(), a.address(), bMat.address(), s,
                        p, seed, l.m(), l.k(), l.n(), l.r())
                : cola_lora_linear_backward(addr(dx), addr(dW), addr(db), dA.address(), dB.address(), v.address(),
                        dy.address(), x.address(), addr(u), w.address(), a.address(), bMat.address(), s, p, seed,
                        l.m(), l.k(), l.n(), l.r()));
    }

    // ---------------------------------------------------------------- merge

    @Override
    public long mergeLora(Tensor w, Tensor a, Tensor bMat, float s, Rounding rounding, long seed) {
        OpChecks.Merge g = OpChecks.mergeLora(HOST, w, a, bMat, s);
        int code;
        long[] unchanged = {0};
        if (w.dtype() == DType.F32) {
            code = cola_merge_f32(w.address(), a.address(), bMat.address(), s, g.n(), g.k(), g.r());
        } else {
            code = cola_merge_bf16(w.address(), a.address(), bMat.address(), s, g.n(), g.k(), g.r(),
                    rounding == Rounding.STOCHASTIC ? 1 : 0, seed, unchanged);
        }
        if (code == 2) {
            throw new NonFiniteException("merge: the delta s·B·A for W " + w.describe()
                    + " is not finite (NaN/Inf in A or B, or overflow); W was not modified");
        }
        status("merge", code);
        return unchanged[0];
    }

    @Override
    public cola.backend.MergeStats mergeLoraBf16(Tensor w, Tensor residual, Tensor a, Tensor bMat, float s,
            Rounding rounding, long seed) {
        OpChecks.Merge g = OpChecks.mergeLoraBf16(HOST, w, residual, a, bMat, s);
        double[] stats = new double[3];
        long[] unchanged = {0};
        int code = cola_merge_bf16_ex(w.address(), addr(residual), a.address(), bMat.address(), s, g.n(), g.k(),
                g.r(), rounding == Rounding.STOCHASTIC ? 1 : 0, seed, stats, unchanged);
        if (code == 2) {
            throw new NonFiniteException("merge: the delta s·B·A for W " + w.describe()
                    + " is not finite (NaN/Inf in A or B, or overflow); W was not modified");
        }
        status("merge_bf16", code);
        return new cola.backend.MergeStats(unchanged[0], stats[0], stats[1], stats[2]);
    }

    // ---------------------------------------------------------------- norms

    @Override
    public void layerNormForward(Tensor out, Tensor mean, Tensor rstd, Tensor inp, Tensor weight, Tensor bias,
            float eps) {
        OpChecks.Rows r = OpChecks.layerNormForward(HOST, out, mean, rstd, inp, weight, bias, eps);
        status("layernorm_forward", cola_layernorm_forward(out.address(), mean.address(), rstd.address(),
                inp.address(), addr(weight), addr(bias), r.n(), r.c(), eps));
    }

    @Override
    public void layerNormBackward(Tensor dinp, Tensor dweight, Tensor dbias, Tensor dout, Tensor inp, Tensor weight,
            Tensor mean, Tensor rstd) {
        OpChecks.Rows r = OpChecks.layerNormBackward(HOST, dinp, dweight, dbias, dout, inp, weight, mean, rstd);
        status("layernorm_backward", cola_layernorm_backward(dinp.address(), addr(dweight), addr(dbias),
                dout.address(), inp.address(), addr(weight), mean.address(), rstd.address(), r.n(), r.c()));
    }

    @Override
    public void rmsNormForward(Tensor out, Tensor rstd, Tensor inp, Tensor weight, float eps) {
        OpChecks.Rows r = OpChecks.rmsNormForward(HOST, out, rstd, inp, weight, eps);
        status("rmsnorm_forward", cola_rmsnorm_forward(out.address(), rstd.address(), inp.address(),
                weight.address(), r.n(), r.c(), eps));
    }

    @Override
    public void rmsNormBackward(Tensor dinp, Tensor dweight, Tensor dout, Tensor inp, Tensor weight, Tensor rstd) {
        OpChecks.Rows r = OpChecks.rmsNormBackward(HOST, dinp, dweight, dout, inp, weight, rstd);
        status("rmsnorm_backward", cola_rmsnorm_backward(dinp.address(), addr(dweight), dout.address(),
                inp.address(), weight.address(), rstd.address(), r.n(), r.c()));
    }

    // ---------------------------------------------------------------- activations

    @Override
    public void geluForward(Tensor out, Tensor inp, GeluApproximation approximation) {
        OpChecks.geluForward(HOST, out, inp);
        status("gelu_forward", cola_gelu_forward(out.address(), inp.address(), inp.numel(), approximation.ordinal()));
    }

    @Override
    public void geluBackward(Tensor dinp, Tensor dout, Tensor inp, GeluApproximation approximation) {
        OpChecks.geluBackward(HOST, dinp, dout, inp);
        status("gelu_backward", cola_gelu_backward(dinp.address(), dout.address(), inp.address(), inp.numel(),
                approximation.ordinal()));
    }

    @Override
    public void reluForward(Tensor out, Tensor inp) {
        OpChecks.reluForward(HOST, out, inp);
        status("relu_forward", cola_relu_forward(out.address(), inp.address(), inp.numel()));
    }

    @Override
    public void reluBackward(Tensor dinp, Tensor dout, Tensor inp) {
        OpChecks.reluBackward(HOST, dinp, dout, inp);
        status("relu_backward", cola_relu_backward(dinp.address(), dout.address(), inp.address(), inp.numel()));
    }

    @Override
    public void siluForward(Tensor out, Tensor inp) {
        OpChecks.siluForward(HOST, out, inp);
        status("silu_forward", cola_silu_forward(out.address(), inp.address(), inp.numel()));
    }

    @Override
    public void siluBackward(Tensor dinp, Tensor dout, Tensor inp) {
        OpChecks.siluBackward(HOST, dinp, dout, inp);
        status("silu_backward", cola_silu_backward(dinp.address(), dout.address(), inp.address(), inp.numel()));
    }

    @Override
    public void swigluForward(Tensor out, Tensor gate, Tensor up) {
        OpChecks.swigluForward(HOST, out, gate, up);
        status("swiglu_forward", cola_swiglu_forward(out.address(), gate.address(), up.address(), gate.numel()));
    }

    @Override
    public void swigluBackward(Tensor dgate, Tensor dup, Tensor dout, Tensor gate, Tensor up) {
        OpChecks.swigluBackward(HOST, dgate, dup, dout, gate, up);
        status("swiglu_backward", cola_swiglu_backward(dgate.address(), dup.address(), dout.address(),
                gate.address(), up.address(), gate.numel()));
    }

    @Override
    public void add(Tensor out, Tensor a, Tensor b) {
        OpChecks.add(HOST, out, a, b);
        status("add", cola_add_forward(out.address(), a.address(), b.address(), a.numel()));
    }

    // ---------------------------------------------------------------- embedding

    @Override
    public void embeddingForward(Tensor out, Tensor ids, Tensor table) {
        OpChecks.Embedding e = OpChecks.embeddingForward(HOST, out, ids, table);
        status("embedding_forward", bf16(table)
                ? cola_embedding_bf16_forward(out.address(), ids.address(), table.address(), e.n(), e.v(), e.c())
                : cola_embedding_forward(out.address(), ids.address(), table.address(), e.n(), e.v(), e.c()));
    }

    @Override
    public void embeddingBackward(Tensor dtable, Tensor dout, Tensor ids) {
        OpChecks.Embedding e = OpChecks.embeddingBackward(HOST, dtable, dout, ids);
        status("embedding_backward", cola_embedding_backward(dtable.address(), dout.address(), ids.address(), e.n(),
                e.v(), e.c()));
    }

    // ---------------------------------------------------------------- RoPE

    @Override
    public void ropeForward(Tensor out, Tensor inp, Tensor pos, float theta) {
        OpChecks.Rope r = OpChecks.ropeForward(HOST, out, inp, pos, theta);
        status("rope_forward", cola_rope_forward(out.address(), inp.address(), pos.address(), r.n(), r.h(), r.d(),
                theta));
    }

    @Override
    public void ropeBackward(Tensor dinp, Tensor dout, Tensor pos, float theta) {
        OpChecks.Rope r = OpChecks.ropeBackward(HOST, dinp, dout, pos, theta);
        status("rope_backward", cola_rope_backward(dinp.address(), dout.address(), pos.address(), r.n(), r.h(), r.d(),
                theta));
    }

    @Override
    public void ropeForward(Tensor out, Tensor inp, Tensor pos, Tensor invFreq, float scale) {
        OpChecks.Rope r = OpChecks.ropeForward(HOST, out, inp, pos, invFreq, scale);
        status("rope_forward", cola_rope_forward_freqs(out.address(), inp.address(), pos.address(), r.n(), r.h(),
                r.d(), invFreq.address(), scale));
    }

    @Override
    public void ropeBackward(Tensor dinp, Tensor dout, Tensor pos, Tensor invFreq, float scale) {
        OpChecks.Rope r = OpChecks.ropeBackward(HOST, dinp, dout, pos, invFreq, scale);
        status("rope_backward", cola_rope_backward_freqs(dinp.address(), dout.address(), pos.address(), r.n(), r.h(),
                r.d(), invFreq.address(), scale));
    }

    // ---------------------------------------------------------------- attention

    @Override
    public void attentionForward(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor keyMask, boolean causal,
            int window, float scale) {
        OpChecks.Attention s = OpChecks.attentionForward(HOST, out, lse, q, k, v, keyMask, scale);
        OpChecks.attentionWindow(s.check(), causal, window);
        status("attention_forward", cola_attention_forward_window(out.address(), lse.address(), q.address(),
                k.address(), v.address(), addr(keyMask), s.b(), s.t(), s.hq(), s.hkv(), s.d(), causal ? 1 : 0, window,
                scale));
    }

    @Override
    public void attentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor q, Tensor k, Tensor v,
            Tensor out, Tensor lse, Tensor keyMask, boolean causal, int window, float scale) {
        OpChecks.Attention s = OpChecks.attentionBackward(HOST, dq, dk, dv, dout, q, k, v, out, lse, keyMask, scale);
        OpChecks.attentionWindow(s.check(), causal, window);
        status("attention_backward", cola_attention_backward_window(dq.address(), dk.address(), dv.address(),
                dout.address(), q.address(), k.address(), v.address(), out.address(), lse.address(), addr(keyMask),
                s.b(), s.t(), s.hq(), s.hkv(), s.d(), causal ? 1 : 0, window, scale));
    }

    // ---------------------------------------------------------------- loss

    @Override
    public void softmaxXentForward(Tensor losses, Tensor lse, Tensor logits, Tensor targets, int ignoreIndex) {
        OpChecks.Xent x = OpChecks.softmaxXentForward(HOST, losses, lse, logits, targets, ignoreIndex);
        status("softmax_xent_forward", cola_softmax_xent_forward(losses.address(), lse.address(), logits.address(),
                targets.address(), x.n(), x.v(), ignoreIndex));
    }

    @Override
    public void softmaxXentBackward(Tensor dlogits, Tensor dlosses, Tensor logits, Tensor lse, Tensor targets,
            int ignoreIndex) {
        OpChecks.Xent x = OpChecks.softmaxXentBackward(HOST, dlogits, dlosses, logits, lse, targets, ignoreIndex);
        status("softmax_xent_backward", cola_softmax_xent_backward(dlogits.address(), dlosses.address(),
                logits.address(), lse.address(), targets.address(), x.n(), x.v(), ignoreIndex));
    }

    // ---------------------------------------------------------------- optimiser

    private static long[] addresses(List<Tensor> ts) {
        long[] a = new long[ts.size()];
        for (int i = 0; i < a.length; i++) a[i] = ts.get(i).address();
        return a;
    }

    private static long[] sizes(List<Tensor> ts) {
        long[] s = new long[ts.size()];
        for (int i = 0; i < s.length; i++) s[i] = ts.get(i).numel();
        return s;
    }

    @Override
    public void adamwStep(List<Tensor> params, List<Tensor> grads, List<Tensor> m, List<Tensor> v,
            AdamWConfig config, long step, float gradScale) {
        OpChecks.adamwStep(HOST, params, grads, m, v, step, gradScale);
        status("adamw_step", cola_adamw_step(addresses(params), addresses(grads), addresses(m), addresses(v),
                sizes(params), params.size(), config.lr(), config.beta1(), config.beta2(), config.eps(),
                config.weightDecay(), step, gradScale));
    }

    @Override
    public double sumSquares(List<Tensor> tensors) {
        OpChecks.sumSquares(HOST, tensors);
        double[] out = {0};
        status("sum_squares", cola_sum_squares(out, addresses(tensors), sizes(tensors), tensors.size()));
        return out[0];
    }

    @Override
    public void scale(List<Tensor> tensors, float scale) {
        OpChecks.scale(HOST, tensors);
        status("scale", cola_scale(addresses(tensors), sizes(tensors), tensors.size(), scale));
    }

    // ---------------------------------------------------------------- dropout

    @Override
    public void dropoutForward(Tensor out, Tensor inp, float p, long seed) {
        OpChecks.dropoutForward(HOST, out, inp, p);
        status("dropout_forward", cola_dropout_forward(out.address(), inp.address(), inp.numel(), p, seed));
    }

    @Override
    public void dropoutBackward(Tensor dinp, Tensor dout, float p, long seed) {
        OpChecks.dropoutBackward(HOST, dinp, dout, p);
        status("dropout_backward", cola_dropout_backward(dinp.address(), dout.address(), dout.numel(), p, seed));
    }

    // ---------------------------------------------------------------- layout

    @Override
    public void copyColumns(Tensor small, Tensor wide, long colOffset, boolean intoWide, boolean accumulate) {
        OpChecks.Columns c = OpChecks.copyColumns(HOST, small, wide, colOffset);
        long cols = c.cols(), ws = c.wideCols(), rows = c.rows();
        long wideAddr = wide.address() + colOffset * 4;
        int code = intoWide ? cola_copy_cols(wideAddr, ws, small.address(), cols, rows, cols, accumulate ? 1 : 0)
                : cola_copy_cols(small.address(), cols, wideAddr, ws, rows, cols, accumulate ? 1 : 0);
        status("copy_columns", code);
    }

    // ---------------------------------------------------------------- conversions

    @Override
    public void convert(Tensor dst, Tensor src) {
        OpChecks.convert(HOST, dst, src);
        long n = src.numel();
        DType from = src.dtype(), to = dst.dtype();
        int code;
        if (from == DType.F32 && to == DType.BF16) code = cola_f32_to_bf16(dst.address(), src.address(), n);
        else if (from == DType.BF16 && to == DType.F32) code = cola_bf16_to_f32(dst.address(), src.address(), n);
        else if (from == DType.F32 && to == DType.F16) code = cola_f32_to_f16(dst.address(), src.address(), n);
        else if (from == DType.F16 && to == DType.F32) code = cola_f16_to_f32(dst.address(), src.address(), n);
        else {  // from == to (OpChecks.convert allows nothing else)
            dst.copyFrom(src);
            code = 0;
        }
        status("convert", code);
    }
}
