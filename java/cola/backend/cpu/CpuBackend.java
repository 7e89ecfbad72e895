package cola.backend.cpu;

import static cola.backend.cpu.CpuKernels.*;

import cola.backend.AdamWConfig;
import cola.backend.Backend;
import cola.backend.GeluApproximation;
import cola.backend.NonFiniteException;
import cola.backend.OpCheck;
import cola.backend.Rounding;
import cola.tensor.DType;
import cola.tensor.Device;
import cola.tensor.Tensor;
import java.util.List;

/**
 * The CPU backend: validates every call in Java ({@link OpCheck}), then calls libcola_cpu (native/src) through
 * {@link CpuKernels}. It is the correctness reference of the engine: every other backend is tested against it.
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
        check(op, "tensor", t);
        Tensor copy = Tensor.zeros(t.dtype(), t.shape());
        copy.copyFrom(t);
        return copy;
    }

    public static String isa() {
        CpuKernels.load();
        return cola_cpu_isa();
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

    private static long addr(Tensor t) {
        return t == null ? 0L : t.address();
    }

    /** Rows of a [.., C] tensor. */
    private static long rows(Tensor t, long c) {
        return c == 0 ? 0 : t.numel() / c;
    }

    private static void checkHost(OpCheck c, String name, Tensor t) {
        if (t != null && t.device() != Device.CPU) throw c.fail("'" + name + "' is on " + t.device() + ", not the cpu");
    }

    private static OpCheck check(String op, Object... namesAndTensors) {
        OpCheck c = new OpCheck(op);
        for (int i = 0; i < namesAndTensors.length; i += 2) {
            String name = (String) namesAndTensors[i];
            Tensor t = (Tensor) namesAndTensors[i + 1];
            boolean optional = name.endsWith("?");
            String n = optional ? name.substring(0, name.length() - 1) : name;
            if (optional) c.opt(n, t);
            else c.in(n, t);
            checkHost(c, n, t);
        }
        return c;
    }

    // ---------------------------------------------------------------- GEMM

    @Override
    public void gemm(boolean transA, boolean transB, float alpha, Tensor a, Tensor b, float beta, Tensor c) {
        OpCheck k = check("gemm", "a", a, "b", b, "c", c).allDType(DType.F32).rank("a", 2).rank("b", 2).rank("c", 2);
        long m = c.dim(0), n = c.dim(1);
        long kk = transA ? a.dim(0) : a.dim(1);
        k.shape("a", transA ? new long[] {kk, m} : new long[] {m, kk});
        k.shape("b", transB ? new long[] {n, kk} : new long[] {kk, n});
        status("gemm", cola_gemm_f32(transA ? 1 : 0, transB ? 1 : 0, m, n, kk, alpha, a.address(), a.dim(1),
                b.address(), b.dim(1), beta, c.address(), n));
    }

    @Override
    public void gemmBatched(boolean transA, boolean transB, float alpha, Tensor a, Tensor b, float beta, Tensor c) {
        OpCheck k = check("gemm_batched", "a", a, "b", b, "c", c).allDType(DType.F32).rank("a", 3).rank("b", 3)
                .rank("c", 3);
        long batch = c.dim(0), m = c.dim(1), n = c.dim(2);
        long kk = transA ? a.dim(1) : a.dim(2);
        k.shape("a", transA ? new long[] {batch, kk, m} : new long[] {batch, m, kk});
        k.shape("b", transB ? new long[] {batch, n, kk} : new long[] {batch, kk, n});
        status("gemm_batched", cola_gemm_batched_f32(batch, transA ? 1 : 0, transB ? 1 : 0, m, n, kk, alpha,
                a.address(), a.dim(2), a.dim(1) * a.dim(2), b.address(), b.dim(2), b.dim(1) * b.dim(2), beta,
                c.address(), n, m * n));
    }

    // ---------------------------------------------------------------- linear

    @Override
    public void matmulForward(Tensor out, Tensor inp, Tensor weight, Tensor bias) {
        OpCheck c = check("matmul_forward", "out", out, "inp", inp, "weight", weight, "bias?", bias)
                .allDType(DType.F32).rank("weight", 2);
        long n = weight.dim(0), kk = weight.dim(1);
        c.require(inp.rank() >= 1 && inp.dim(-1) == kk, "inp's last dim must be weight's in-features " + kk);
        long m = rows(inp, kk);
        c.require(out.rank() >= 1 && out.dim(-1) == n && out.numel() == m * n, "out must be [" + m + ", " + n + "]");
        c.shape("bias", n).distinct("out", "inp");
        status("matmul_forward", cola_matmul_forward(out.address(), inp.address(), weight.address(), addr(bias), m, kk, n));
    }

    @Override
    public void matmulBackward(Tensor dinp, Tensor dweight, Tensor dbias, Tensor dout, Tensor inp, Tensor weight) {
        OpCheck c = check("matmul_backward", "dinp?", dinp, "dweight?", dweight, "dbias?", dbias, "dout", dout,
                "inp", inp, "weight", weight).allDType(DType.F32).rank("weight", 2);
        long n = weight.dim(0), kk = weight.dim(1);
        c.require(inp.dim(-1) == kk, "inp's last dim must be " + kk);
        long m = rows(inp, kk);
        c.require(dout.dim(-1) == n && dout.numel() == m * n, "dout must be [" + m + ", " + n + "]");
        c.sameShape("dinp", "inp").sameShape("dweight", "weight").shape("dbias", n);
        status("matmul_backward", cola_matmul_backward(addr(dinp), addr(dweight), addr(dbias), dout.address(),
                inp.address(), weight.address(), m, kk, n));
    }

    // ---------------------------------------------------------------- LoRA

    private static void checkDropout(OpCheck c, float p) {
        c.require(p >= 0 && p < 1, "dropout p must be in [0, 1), got " + p);
    }

    @Override
    public void loraLinearForward(Tensor y, Tensor u, Tensor x, Tensor w, Tensor b, Tensor a, Tensor bMat, float s,
            float p, long seed) {
        OpCheck c = check("lora_linear_forward", "y", y, p > 0 ? "u" : "u?", u, "x", x, "W", w, "b?", b, "A", a, "B", bMat)
                .allDType(DType.F32).rank("W", 2).rank("A", 2).rank("B", 2);
        long n = w.dim(0), kk = w.dim(1), r = a.dim(0);
        c.shape("A", r, kk).shape("B", n, r).shape("b", n);
        c.require(x.dim(-1) == kk, "x's last dim must be W's in-features " + kk);
        long m = rows(x, kk);
        c.require(y.dim(-1) == n && y.numel() == m * n, "y must be [" + m + ", " + n + "]");
        c.require(u == null || u.dim(-1) == r && u.numel() == m * r, "u must be [" + m + ", " + r + "]");
        c.require(Float.isFinite(s), "scale s must be finite, got " + s).distinct("y", "x");
        checkDropout(c, p);
        status("lora_linear_forward", cola_lora_linear_forward(y.address(), addr(u), x.address(), w.address(),
                addr(b), a.address(), bMat.address(), s, p, seed, m, kk, n, r));
    }

    @Override
    public void loraLinearBackward(Tensor dx, Tensor dW, Tensor db, Tensor dA, Tensor dB, Tensor v, Tensor dy,
            Tensor x, Tensor u, Tensor w, Tensor a, Tensor bMat, float s, float p, long seed) {
        OpCheck c = check("lora_linear_backward", "dx?", dx, "dW?", dW, "db?", db, "dA", dA, "dB", dB, "v", v,
                "dy", dy, "x", x, p > 0 ? "u" : "u?", u, "W", w, "A", a, "B", bMat).allDType(DType.F32).rank("W", 2).rank("A", 2);
        long n = w.dim(0), kk = w.dim(1), r = a.dim(0);
        c.shape("A", r, kk).shape("B", n, r).sameShape("dA", "A").sameShape("dB", "B").sameShape("dW", "W")
                .shape("db", n);
        c.require(x.dim(-1) == kk, "x's last dim must be " + kk);
        long m = rows(x, kk);
        c.require(dy.dim(-1) == n && dy.numel() == m * n, "dy must be [" + m + ", " + n + "]");
        c.require((u == null || u.numel() == m * r) && v.numel() == m * r, "u and v must be [" + m + ", " + r + "]");
        c.sameShape("dx", "x").require(Float.isFinite(s), "scale s must be finite, got " + s);
        checkDropout(c, p);
        status("lora_linear_backward", cola_lora_linear_backward(addr(dx), addr(dW), addr(db), dA.address(),
                dB.address(), v.address(), dy.address(), x.address(), addr(u), w.address(), a.address(),
                bMat.address(), s, p, seed, m, kk, n, r));
    }

    // ---------------------------------------------------------------- merge

    @Override
    public long mergeLora(Tensor w, Tensor a, Tensor bMat, float s, Rounding rounding, long seed) {
        OpCheck c = check("merge", "W", w, "A", a, "B", bMat).dtype("A", DType.F32).dtype("B", DType.F32)
                .rank("W", 2).rank("A", 2);
        long n = w.dim(0), kk = w.dim(1), r = a.dim(0);
        c.shape("A", r, kk).shape("B", n, r);
        c.require(w.dtype() == DType.F32 || w.dtype() == DType.BF16, "W must be f32 or bf16, got " + w.dtype());
        if (!Float.isFinite(s)) throw new NonFiniteException("merge: scale s is " + s + "; W was not modified");
        int code;
        long[] unchanged = {0};
        if (w.dtype() == DType.F32) {
            code = cola_merge_f32(w.address(), a.address(), bMat.address(), s, n, kk, r);
        } else {
            code = cola_merge_bf16(w.address(), a.address(), bMat.address(), s, n, kk, r,
                    rounding == Rounding.STOCHASTIC ? 1 : 0, seed, unchanged);
        }
        if (code == 2) {
            throw new NonFiniteException("merge: the delta s·B·A for W " + w.describe()
                    + " is not finite (NaN/Inf in A or B, or overflow); W was not modified");
        }
        status("merge", code);
        return unchanged[0];
    }

    // ---------------------------------------------------------------- norms

    @Override
    public void layerNormForward(Tensor out, Tensor mean, Tensor rstd, Tensor inp, Tensor weight, Tensor bias,
            float eps) {
        OpCheck c = check("layernorm_forward", "out", out, "mean", mean, "rstd", rstd, "inp", inp, "weight?", weight,
                "bias?", bias).allDType(DType.F32).sameShape("out", "inp");
        long cc = inp.dim(-1), n = rows(inp, cc);
        c.numel("mean", n).numel("rstd", n).shape("weight", cc).shape("bias", cc)
                .require(eps > 0, "eps must be > 0, got " + eps);
        status("layernorm_forward", cola_layernorm_forward(out.address(), mean.address(), rstd.address(),
                inp.address(), addr(weight), addr(bias), n, cc, eps));
    }

    @Override
    public void layerNormBackward(Tensor dinp, Tensor dweight, Tensor dbias, Tensor dout, Tensor inp, Tensor weight,
            Tensor mean, Tensor rstd) {
        OpCheck c = check("layernorm_backward", "dinp", dinp, "dweight?", dweight, "dbias?", dbias, "dout", dout,
                "inp", inp, "weight?", weight, "mean", mean, "rstd", rstd).allDType(DType.F32)
                .sameShape("dinp", "inp").sameShape("dout", "inp");
        long cc = inp.dim(-1), n = rows(inp, cc);
        c.numel("mean", n).numel("rstd", n).shape("weight", cc).shape("dweight", cc).shape("dbias", cc)
                .require(dweight == null || weight != null, "dweight given without weight");
        status("layernorm_backward", cola_layernorm_backward(dinp.address(), addr(dweight), addr(dbias),
                dout.address(), inp.address(), addr(weight), mean.address(), rstd.address(), n, cc));
    }

    @Override
    public void rmsNormForward(Tensor out, Tensor rstd, Tensor inp, Tensor weight, float eps) {
        OpCheck c = check("rmsnorm_forward", "out", out, "rstd", rstd, "inp", inp, "weight", weight)
                .allDType(DType.F32).sameShape("out", "inp");
        long cc = inp.dim(-1), n = rows(inp, cc);
        c.numel("rstd", n).shape("weight", cc).require(eps > 0, "eps must be > 0, got " + eps);
        status("rmsnorm_forward", cola_rmsnorm_forward(out.address(), rstd.address(), inp.address(),
                weight.address(), n, cc, eps));
    }

    @Override
    public void rmsNormBackward(Tensor dinp, Tensor dweight, Tensor dout, Tensor inp, Tensor weight, Tensor rstd) {
        OpCheck c = check("rmsnorm_backward", "dinp", dinp, "dweight?", dweight, "dout", dout, "inp", inp,
                "weight", weight, "rstd", rstd).allDType(DType.F32).sameShape("dinp", "inp").sameShape("dout", "inp");
        long cc = inp.dim(-1), n = rows(inp, cc);
        c.numel("rstd", n).shape("weight", cc).shape("dweight", cc);
        status("rmsnorm_backward", cola_rmsnorm_backward(dinp.address(), addr(dweight), dout.address(),
                inp.address(), weight.address(), rstd.address(), n, cc));
    }

    // ---------------------------------------------------------------- activations

    private static long elementwise(String op, Tensor out, Tensor inp) {
        check(op, "out", out, "inp", inp).allDType(DType.F32).sameShape("out", "inp");
        return inp.numel();
    }

    private static long elementwiseBackward(String op, Tensor dinp, Tensor dout, Tensor inp) {
        check(op, "dinp", dinp, "dout", dout, "inp", inp).allDType(DType.F32).sameShape("dinp", "inp")
                .sameShape("dout", "inp");
        return inp.numel();
    }

    @Override
    public void geluForward(Tensor out, Tensor inp, GeluApproximation approximation) {
        long n = elementwise("gelu_forward", out, inp);
        status("gelu_forward", cola_gelu_forward(out.address(), inp.address(), n, approximation.ordinal()));
    }

    @Override
    public void geluBackward(Tensor dinp, Tensor dout, Tensor inp, GeluApproximation approximation) {
        long n = elementwiseBackward("gelu_backward", dinp, dout, inp);
        status("gelu_backward", cola_gelu_backward(dinp.address(), dout.address(), inp.address(), n,
                approximation.ordinal()));
    }

    @Override
    public void reluForward(Tensor out, Tensor inp) {
        long n = elementwise("relu_forward", out, inp);
        status("relu_forward", cola_relu_forward(out.address(), inp.address(), n));
    }

    @Override
    public void reluBackward(Tensor dinp, Tensor dout, Tensor inp) {
        long n = elementwiseBackward("relu_backward", dinp, dout, inp);
        status("relu_backward", cola_relu_backward(dinp.address(), dout.address(), inp.address(), n));
    }

    @Override
    public void siluForward(Tensor out, Tensor inp) {
        long n = elementwise("silu_forward", out, inp);
        status("silu_forward", cola_silu_forward(out.address(), inp.address(), n));
    }

    @Override
    public void siluBackward(Tensor dinp, Tensor dout, Tensor inp) {
        long n = elementwiseBackward("silu_backward", dinp, dout, inp);
        status("silu_backward", cola_silu_backward(dinp.address(), dout.address(), inp.address(), n));
    }

    @Override
    public void swigluForward(Tensor out, Tensor gate, Tensor up) {
        check("swiglu_forward", "out", out, "gate", gate, "up", up).allDType(DType.F32).sameShape("out", "gate")
                .sameShape("up", "gate");
        status("swiglu_forward", cola_swiglu_forward(out.address(), gate.address(), up.address(), gate.numel()));
    }

    @Override
    public void swigluBackward(Tensor dgate, Tensor dup, Tensor dout, Tensor gate, Tensor up) {
        check("swiglu_backward", "dgate", dgate, "dup", dup, "dout", dout, "gate", gate, "up", up)
                .allDType(DType.F32).sameShape("dgate", "gate").sameShape("dup", "gate").sameShape("dout", "gate")
                .sameShape("up", "gate").distinct("dgate", "dup");
        status("swiglu_backward", cola_swiglu_backward(dgate.address(), dup.address(), dout.address(),
                gate.address(), up.address(), gate.numel()));
    }

    @Override
    public void add(Tensor out, Tensor a, Tensor b) {
        check("add", "out", out, "a", a, "b", b).allDType(DType.F32).sameShape("out", "a").sameShape("b", "a");
        status("add", cola_add_forward(out.address(), a.address(), b.address(), a.numel()));
    }

    // ---------------------------------------------------------------- embedding

    /** Ids are read and range-checked in Java so a bad id is an exception naming it, not a wild native read. */
    private static void checkIds(OpCheck c, String name, Tensor ids, long bound) {
        int[] v = ids.toIntArray();
        for (int i = 0; i < v.length; i++) {
            if (v[i] < 0 || v[i] >= bound) {
                throw c.fail("'" + name + "'[" + i + "] = " + v[i] + " is outside [0, " + bound + ")");
            }
        }
    }

    @Override
    public void embeddingForward(Tensor out, Tensor ids, Tensor table) {
        OpCheck c = check("embedding_forward", "out", out, "ids", ids, "table", table).dtype("ids", DType.I32)
                .dtype("out", DType.F32).dtype("table", DType.F32).rank("table", 2);
        long vv = table.dim(0), cc = table.dim(1), n = ids.numel();
        c.require(out.dim(-1) == cc && out.numel() == n * cc, "out must be [" + n + ", " + cc + "]");
        checkIds(c, "ids", ids, vv);
        status("embedding_forward", cola_embedding_forward(out.address(), ids.address(), table.address(), n, vv, cc));
    }

    @Override
    public void embeddingBackward(Tensor dtable, Tensor dout, Tensor ids) {
        OpCheck c = check("embedding_backward", "dtable", dtable, "dout", dout, "ids", ids).dtype("ids", DType.I32)
                .dtype("dout", DType.F32).dtype("dtable", DType.F32).rank("dtable", 2);
        long vv = dtable.dim(0), cc = dtable.dim(1), n = ids.numel();
        c.require(dout.dim(-1) == cc && dout.numel() == n * cc, "dout must be [" + n + ", " + cc + "]");
        checkIds(c, "ids", ids, vv);
        status("embedding_backward", cola_embedding_backward(dtable.address(), dout.address(), ids.address(), n, vv, cc));
    }

    // ---------------------------------------------------------------- RoPE

    private static long[] ropeDims(OpCheck c, Tensor x, Tensor pos) {
        c.require(x.rank() >= 3, "expected [.., H, D], got rank " + x.rank());
        long h = x.dim(-2), d = x.dim(-1);
        c.require(d % 2 == 0, "head dim D must be even, got " + d);
        long n = rows(x, h * d);
        c.numel("pos", n);
        return new long[] {n, h, d};
    }

    @Override
    public void ropeForward(Tensor out, Tensor inp, Tensor pos, float theta) {
        OpCheck c = check("rope_forward", "out", out, "inp", inp, "pos", pos).dtype("pos", DType.I32)
                .dtype("out", DType.F32).dtype("inp", DType.F32).sameShape("out", "inp")
                .require(theta > 0, "theta must be > 0, got " + theta);
        long[] nhd = ropeDims(c, inp, pos);
        status("rope_forward", cola_rope_forward(out.address(), inp.address(), pos.address(), nhd[0], nhd[1], nhd[2],
                theta));
    }

    @Override
    public void ropeBackward(Tensor dinp, Tensor dout, Tensor pos, float theta) {
        OpCheck c = check("rope_backward", "dinp", dinp, "dout", dout, "pos", pos).dtype("pos", DType.I32)
                .dtype("dinp", DType.F32).dtype("dout", DType.F32).sameShape("dinp", "dout").distinct("dinp", "dout")
                .require(theta > 0, "theta must be > 0, got " + theta);
        long[] nhd = ropeDims(c, dout, pos);
        status("rope_backward", cola_rope_backward(dinp.address(), dout.address(), pos.address(), nhd[0], nhd[1],
                nhd[2], theta));
    }

    // ---------------------------------------------------------------- attention

    private static long[] attentionDims(OpCheck c, Tensor q, Tensor k) {
        c.rank("q", 4).rank("k", 4);
        long b = q.dim(0), t = q.dim(1), hq = q.dim(2), d = q.dim(3), hkv = k.dim(2);
        c.shape("k", b, t, hkv, d).shape("v", b, t, hkv, d).shape("lse", b, hq, t).shape("keyMask", b, t)
                .require(hkv > 0 && hq % hkv == 0, "query heads " + hq + " must be a multiple of kv heads " + hkv);
        return new long[] {b, t, hq, hkv, d};
    }

    @Override
    public void attentionForward(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor keyMask, boolean causal,
            float scale) {
        OpCheck c = check("attention_forward", "out", out, "lse", lse, "q", q, "k", k, "v", v, "keyMask?", keyMask)
                .dtype("out", DType.F32).dtype("lse", DType.F32).dtype("q", DType.F32).dtype("k", DType.F32)
                .dtype("v", DType.F32).dtype("keyMask", DType.I32).sameShape("out", "q").distinct("out", "q")
                .require(Float.isFinite(scale), "scale must be finite, got " + scale);
        long[] s = attentionDims(c, q, k);
        status("attention_forward", cola_attention_forward(out.address(), lse.address(), q.address(), k.address(),
                v.address(), addr(keyMask), s[0], s[1], s[2], s[3], s[4], causal ? 1 : 0, scale));
    }

    @Override
    public void attentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor q, Tensor k, Tensor v,
            Tensor out, Tensor lse, Tensor keyMask, boolean causal, float scale) {
        OpCheck c = check("attention_backward", "dq", dq, "dk", dk, "dv", dv, "dout", dout, "q", q, "k", k, "v", v,
                "out", out, "lse", lse, "keyMask?", keyMask).dtype("keyMask", DType.I32).dtype("dq", DType.F32)
                .dtype("dk", DType.F32).dtype("dv", DType.F32).dtype("dout", DType.F32).dtype("q", DType.F32)
                .dtype("k", DType.F32).dtype("v", DType.F32).dtype("out", DType.F32).dtype("lse", DType.F32)
                .sameShape("dq", "q").sameShape("dk", "k").sameShape("dv", "v").sameShape("dout", "q")
                .sameShape("out", "q").require(Float.isFinite(scale), "scale must be finite, got " + scale);
        long[] s = attentionDims(c, q, k);
        status("attention_backward", cola_attention_backward(dq.address(), dk.address(), dv.address(),
                dout.address(), q.address(), k.address(), v.address(), out.address(), lse.address(), addr(keyMask),
                s[0], s[1], s[2], s[3], s[4], causal ? 1 : 0, scale));
    }

    // ---------------------------------------------------------------- loss

    private static void checkTargets(OpCheck c, Tensor targets, long vocab, int ignoreIndex) {
        int[] t = targets.toIntArray();
        for (int i = 0; i < t.length; i++) {
            if (t[i] != ignoreIndex && (t[i] < 0 || t[i] >= vocab)) {
                throw c.fail("'targets'[" + i + "] = " + t[i] + " is outside [0, " + vocab + ") and is not the ignore"
                        + " index " + ignoreIndex);
            }
        }
    }

    @Override
    public void softmaxXentForward(Tensor losses, Tensor lse, Tensor logits, Tensor targets, int ignoreIndex) {
        OpCheck c = check("softmax_xent_forward", "losses", losses, "lse", lse, "logits", logits, "targets", targets)
                .dtype("targets", DType.I32).dtype("losses", DType.F32).dtype("lse", DType.F32)
                .dtype("logits", DType.F32);
        long vv = logits.dim(-1), n = rows(logits, vv);
        c.numel("losses", n).numel("lse", n).numel("targets", n);
        checkTargets(c, targets, vv, ignoreIndex);
        status("softmax_xent_forward", cola_softmax_xent_forward(losses.address(), lse.address(), logits.address(),
                targets.address(), n, vv, ignoreIndex));
    }

    @Override
    public void softmaxXentBackward(Tensor dlogits, Tensor dlosses, Tensor logits, Tensor lse, Tensor targets,
            int ignoreIndex) {
        OpCheck c = check("softmax_xent_backward", "dlogits", dlogits, "dlosses", dlosses, "logits", logits, "lse",
                lse, "targets", targets).dtype("targets", DType.I32).dtype("dlogits", DType.F32)
                .dtype("dlosses", DType.F32).dtype("logits", DType.F32).dtype("lse", DType.F32)
                .sameShape("dlogits", "logits");
        long vv = logits.dim(-1), n = rows(logits, vv);
        c.numel("dlosses", n).numel("lse", n).numel("targets", n);
        checkTargets(c, targets, vv, ignoreIndex);
        status("softmax_xent_backward", cola_softmax_xent_backward(dlogits.address(), dlosses.address(),
                logits.address(), lse.address(), targets.address(), n, vv, ignoreIndex));
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

    private static void checkList(String op, String what, List<Tensor> ts, int expectedSize) {
        if (ts == null) throw new IllegalArgumentException(op + ": '" + what + "' list is null");
        if (expectedSize >= 0 && ts.size() != expectedSize) {
            throw new IllegalArgumentException(op + ": '" + what + "' has " + ts.size() + " tensors, expected "
                    + expectedSize);
        }
        for (int i = 0; i < ts.size(); i++) {
            check(op, what + "[" + i + "]", ts.get(i)).dtype(what + "[" + i + "]", DType.F32);
        }
    }

    @Override
    public void adamwStep(List<Tensor> params, List<Tensor> grads, List<Tensor> m, List<Tensor> v,
            AdamWConfig config, long step, float gradScale) {
        String op = "adamw_step";
        checkList(op, "params", params, -1);
        int n = params.size();
        checkList(op, "grads", grads, n);
        checkList(op, "m", m, n);
        checkList(op, "v", v, n);
        for (int i = 0; i < n; i++) {
            check(op, "param", params.get(i), "grad", grads.get(i), "m", m.get(i), "v", v.get(i))
                    .sameShape("grad", "param").sameShape("m", "param").sameShape("v", "param")
                    .distinct("param", "grad");
        }
        if (step < 1) throw new IllegalArgumentException(op + ": step is 1-based, got " + step);
        if (!Float.isFinite(gradScale)) throw new NonFiniteException(op + ": gradScale is " + gradScale);
        status(op, cola_adamw_step(addresses(params), addresses(grads), addresses(m), addresses(v), sizes(params), n,
                config.lr(), config.beta1(), config.beta2(), config.eps(), config.weightDecay(), step, gradScale));
    }

    @Override
    public double sumSquares(List<Tensor> tensors) {
        checkList("sum_squares", "tensors", tensors, -1);
        double[] out = {0};
        status("sum_squares", cola_sum_squares(out, addresses(tensors), sizes(tensors), tensors.size()));
        return out[0];
    }

    @Override
    public void scale(List<Tensor> tensors, float scale) {
        checkList("scale", "tensors", tensors, -1);
        status("scale", cola_scale(addresses(tensors), sizes(tensors), tensors.size(), scale));
    }

    // ---------------------------------------------------------------- dropout

    @Override
    public void dropoutForward(Tensor out, Tensor inp, float p, long seed) {
        long n = elementwise("dropout_forward", out, inp);
        if (!(p >= 0 && p < 1)) throw new IllegalArgumentException("dropout_forward: p must be in [0, 1), got " + p);
        status("dropout_forward", cola_dropout_forward(out.address(), inp.address(), n, p, seed));
    }

    @Override
    public void dropoutBackward(Tensor dinp, Tensor dout, float p, long seed) {
        check("dropout_backward", "dinp", dinp, "dout", dout).allDType(DType.F32).sameShape("dinp", "dout")
                .require(p >= 0 && p < 1, "p must be in [0, 1), got " + p);
        status("dropout_backward", cola_dropout_backward(dinp.address(), dout.address(), dout.numel(), p, seed));
    }

    // ---------------------------------------------------------------- layout

    @Override
    public void copyColumns(Tensor small, Tensor wide, long colOffset, boolean intoWide, boolean accumulate) {
        OpCheck c = check("copy_columns", "small", small, "wide", wide).allDType(DType.F32);
        long cols = small.dim(-1), ws = wide.dim(-1), rows = rows(small, cols);
        c.require(rows(wide, ws) == rows, "small and wide must have the same rows")
                .require(colOffset >= 0 && colOffset + cols <= ws, "columns [" + colOffset + ", " + (colOffset + cols)
                        + ") are outside wide's " + ws);
        long wideAddr = wide.address() + colOffset * 4;
        int code = intoWide ? cola_copy_cols(wideAddr, ws, small.address(), cols, rows, cols, accumulate ? 1 : 0)
                : cola_copy_cols(small.address(), cols, wideAddr, ws, rows, cols, accumulate ? 1 : 0);
        status("copy_columns", code);
    }

    // ---------------------------------------------------------------- conversions

    @Override
    public void convert(Tensor dst, Tensor src) {
        OpCheck c = check("convert", "dst", dst, "src", src).numel("dst", src.numel());
        long n = src.numel();
        DType from = src.dtype(), to = dst.dtype();
        int code;
        if (from == DType.F32 && to == DType.BF16) code = cola_f32_to_bf16(dst.address(), src.address(), n);
        else if (from == DType.BF16 && to == DType.F32) code = cola_bf16_to_f32(dst.address(), src.address(), n);
        else if (from == DType.F32 && to == DType.F16) code = cola_f32_to_f16(dst.address(), src.address(), n);
        else if (from == DType.F16 && to == DType.F32) code = cola_f16_to_f32(dst.address(), src.address(), n);
        else if (from == to) {
            dst.copyFrom(src);
            code = 0;
        } else throw c.fail("no conversion from " + from + " to " + to);
        status("convert", code);
    }
}
