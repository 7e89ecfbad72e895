package cola.backend;

import cola.tensor.DType;
import cola.tensor.Tensor;
import java.util.List;

/**
 * The argument checks of every op, in ONE place that every backend calls before any pointer crosses JNI: one static
 * method per op, named after the {@link Backend} method and in the same order, so an op's checks are found by its name.
 * Each validates (null, closed, on the backend's device, dtypes, shapes, ranges; failures are {@link OpCheck}'s
 * {@link IllegalArgumentException}s, or {@link NonFiniteException} where the op says so) and returns what the caller
 * needs: the {@link OpCheck} (its op name and arguments, for status messages) and the op's sizes, as a small record
 * whose fields name them (M rows, K in-features, N out-features, ...).
 *
 * <p>Checks that only one backend needs stay in that backend: the device is the backend's {@link Placement} (cpu: host
 * tensors; cuda: tensors of its device), checked per tensor as it is named, and CUDA adds its kernels' limits (head dim
 * ≤ 128, cuBLAS's 32-bit sizes) after these.
 *
 * <p>Ids and targets are range-checked here by reading them to the host ({@code toIntArray}: one small synchronous copy
 * on a device) so a bad id is an exception naming it, not a wild native read or a NaN.
 */
public final class OpChecks {
    private OpChecks() {}

    /** Where a backend's tensors must live: throws {@code c.fail(..)} when tensor {@code name} (if non-null) is not. */
    @FunctionalInterface
    public interface Placement {
        void check(OpCheck c, String name, Tensor t);
    }

    /**
     * A check of tensor arguments given as name, tensor pairs; a name ending in "?" is optional (may be null). Each is
     * checked in order: present, open, then placed.
     */
    private static OpCheck check(Placement where, String op, Object... namesAndTensors) {
        OpCheck c = new OpCheck(op);
        for (int i = 0; i < namesAndTensors.length; i += 2) {
            String name = (String) namesAndTensors[i];
            Tensor t = (Tensor) namesAndTensors[i + 1];
            boolean optional = name.endsWith("?");
            String n = optional ? name.substring(0, name.length() - 1) : name;
            if (optional) c.opt(n, t);
            else c.in(n, t);
            where.check(c, n, t);
        }
        return c;
    }

    /** Rows of a [.., C] tensor. */
    private static long rows(Tensor t, long c) {
        return c == 0 ? 0 : t.numel() / c;
    }

    // ---------------------------------------------------------------- GEMM

    /** c[batch, M, N] = op(a)[batch, M, K]·op(b)[batch, K, N]; batch is 1 for {@link #gemm}. */
    public record Gemm(OpCheck check, long batch, long m, long n, long k) {}

    public static Gemm gemm(Placement where, boolean transA, boolean transB, Tensor a, Tensor b, Tensor c) {
        OpCheck k = check(where, "gemm", "a", a, "b", b, "c", c).allDType(DType.F32).rank("a", 2).rank("b", 2)
                .rank("c", 2);
        long m = c.dim(0), n = c.dim(1);
        long kk = transA ? a.dim(0) : a.dim(1);
        k.shape("a", transA ? new long[] {kk, m} : new long[] {m, kk});
        k.shape("b", transB ? new long[] {n, kk} : new long[] {kk, n});
        return new Gemm(k, 1, m, n, kk);
    }

    public static Gemm gemmBf16(Placement where, boolean transA, boolean transB, Tensor a, Tensor b, float beta,
            Tensor c) {
        OpCheck k = check(where, "gemm_bf16", "a", a, "b", b, "c", c).dtype("a", DType.BF16).dtype("b", DType.BF16)
                .dtype("c", DType.F32).rank("a", 2).rank("b", 2).rank("c", 2);
        k.require(beta == 0f || beta == 1f, "beta must be 0 or 1, got " + beta);
        long m = c.dim(0), n = c.dim(1);
        long kk = transA ? a.dim(0) : a.dim(1);
        k.shape("a", transA ? new long[] {kk, m} : new long[] {m, kk});
        k.shape("b", transB ? new long[] {n, kk} : new long[] {kk, n});
        return new Gemm(k, 1, m, n, kk);
    }

    public static Gemm gemmBatched(Placement where, boolean transA, boolean transB, Tensor a, Tensor b, Tensor c) {
        OpCheck k = check(where, "gemm_batched", "a", a, "b", b, "c", c).allDType(DType.F32).rank("a", 3).rank("b", 3)
                .rank("c", 3);
        long batch = c.dim(0), m = c.dim(1), n = c.dim(2);
        long kk = transA ? a.dim(1) : a.dim(2);
        k.shape("a", transA ? new long[] {batch, kk, m} : new long[] {batch, m, kk});
        k.shape("b", transB ? new long[] {batch, n, kk} : new long[] {batch, kk, n});
        return new Gemm(k, batch, m, n, kk);
    }

    // ---------------------------------------------------------------- linear

    /** out[M, N] = inp[M, K]·weight[N, K]ᵀ: M rows, K in-features, N out-features. */
    public record Linear(OpCheck check, long m, long k, long n) {}

    public static Linear matmulForward(Placement where, Tensor out, Tensor inp, Tensor weight, Tensor bias) {
        OpCheck c = check(where, "matmul_forward", "out", out, "inp", inp, "weight", weight, "bias?", bias)
                .f32WithWeight("weight").rank("weight", 2);
        long n = weight.dim(0), kk = weight.dim(1);
        c.require(inp.rank() >= 1 && inp.dim(-1) == kk, "inp's last dim must be weight's in-features " + kk);
        long m = rows(inp, kk);
        c.require(out.rank() >= 1 && out.dim(-1) == n && out.numel() == m * n, "out must be [" + m + ", " + n + "]");
        c.shape("bias", n).distinct("out", "inp");
        return new Linear(c, m, kk, n);
    }

    public static Linear matmulBackward(Placement where, Tensor dinp, Tensor dweight, Tensor dbias, Tensor dout,
            Tensor inp, Tensor weight) {
        OpCheck c = check(where, "matmul_backward", "dinp?", dinp, "dweight?", dweight, "dbias?", dbias, "dout", dout,
                "inp?", inp, "weight", weight).f32WithWeight("weight").rank("weight", 2);
        long n = weight.dim(0), kk = weight.dim(1);
        // inp is read only for dweight: a frozen layer's backward may pass null (its input was block scratch)
        c.require(dweight == null || inp != null, "dweight needs inp");
        c.require(inp == null || inp.dim(-1) == kk, "inp's last dim must be " + kk);
        c.require(dout.dim(-1) == n, "dout's last dim must be weight's out-features " + n);
        long m = rows(dout, n);
        c.require(inp == null || inp.numel() == m * kk, "inp must be [" + m + ", " + kk + "]");
        c.require(dout.numel() == m * n, "dout must be [" + m + ", " + n + "]");
        c.sameShape("dinp", "inp").sameShape("dweight", "weight").shape("dbias", n);
        return new Linear(c, m, kk, n);
    }

    // ---------------------------------------------------------------- LoRA

    /** y[M, N] = x[M, K]·W[N, K]ᵀ + s·(x·A[r, K]ᵀ)·B[N, r]ᵀ: M rows, K in-features, N out-features, rank r. */
    public record Lora(OpCheck check, long m, long k, long n, long r) {}

    private static void checkDropout(OpCheck c, float p) {
        c.require(p >= 0 && p < 1, "dropout p must be in [0, 1), got " + p);
    }

    public static Lora loraLinearForward(Placement where, Tensor y, Tensor u, Tensor x, Tensor w, Tensor b, Tensor a,
            Tensor bMat, float s, float p) {
        OpCheck c = check(where, "lora_linear_forward", "y", y, p > 0 ? "u" : "u?", u, "x", x, "W", w, "b?", b, "A", a,
                "B", bMat).f32WithWeight("W").rank("W", 2).rank("A", 2).rank("B", 2);
        long n = w.dim(0), kk = w.dim(1), r = a.dim(0);
        c.shape("A", r, kk).shape("B", n, r).shape("b", n);
        c.require(x.dim(-1) == kk, "x's last dim must be W's in-features " + kk);
        long m = rows(x, kk);
        c.require(y.dim(-1) == n && y.numel() == m * n, "y must be [" + m + ", " + n + "]");
        c.require(u == null || u.dim(-1) == r && u.numel() == m * r, "u must be [" + m + ", " + r + "]");
        c.require(Float.isFinite(s), "scale s must be finite, got " + s).distinct("y", "x");
        checkDropout(c, p);
        return new Lora(c, m, kk, n, r);
    }

    public static Lora loraLinearBackward(Placement where, Tensor dx, Tensor dW, Tensor db, Tensor dA, Tensor dB,
            Tensor v, Tensor dy, Tensor x, Tensor u, Tensor w, Tensor a, Tensor bMat, float s, float p) {
        OpCheck c = check(where, "lora_linear_backward", "dx?", dx, "dW?", dW, "db?", db, "dA", dA, "dB", dB, "v", v,
                "dy", dy, "x", x, p > 0 ? "u" : "u?", u, "W", w, "A", a, "B", bMat).f32WithWeight("W").rank("W", 2)
                .rank("A", 2);
        long n = w.dim(0), kk = w.dim(1), r = a.dim(0);
        c.shape("A", r, kk).shape("B", n, r).sameShape("dA", "A").sameShape("dB", "B").sameShape("dW", "W")
                .shape("db", n);
        c.require(x.dim(-1) == kk, "x's last dim must be " + kk);
        long m = rows(x, kk);
        c.require(dy.dim(-1) == n && dy.numel() == m * n, "dy must be [" + m + ", " + n + "]");
        c.require((u == null || u.numel() == m * r) && v.numel() == m * r, "u and v must be [" + m + ", " + r + "]");
        c.sameShape("dx", "x").require(Float.isFinite(s), "scale s must be finite, got " + s);
        checkDropout(c, p);
        return new Lora(c, m, kk, n, r);
    }

    // ---------------------------------------------------------------- merge

    /** W[N, K] += s·B[N, r]·A[r, K]. */
    public record Merge(OpCheck check, long n, long k, long r) {}

    /** Also throws {@link NonFiniteException} for a non-finite s (W untouched). */
    public static Merge mergeLora(Placement where, Tensor w, Tensor a, Tensor bMat, float s) {
        OpCheck c = check(where, "merge", "W", w, "A", a, "B", bMat).dtype("A", DType.F32).dtype("B", DType.F32)
                .rank("W", 2).rank("A", 2);
        long n = w.dim(0), kk = w.dim(1), r = a.dim(0);
        c.shape("A", r, kk).shape("B", n, r);
        c.require(w.dtype() == DType.F32 || w.dtype() == DType.BF16, "W must be f32 or bf16, got " + w.dtype());
        if (!Float.isFinite(s)) throw new NonFiniteException("merge: scale s is " + s + "; W was not modified");
        return new Merge(c, n, kk, r);
    }

    /** W[N, K] bf16 (+ residual R[N, K] f32) += s·B[N, r]·A[r, K]. */
    public static Merge mergeLoraBf16(Placement where, Tensor w, Tensor residual, Tensor a, Tensor bMat, float s) {
        OpCheck c = check(where, "merge_bf16", "W", w, "R?", residual, "A", a, "B", bMat).dtype("W", DType.BF16)
                .dtype("R", DType.F32).dtype("A", DType.F32).dtype("B", DType.F32).rank("W", 2).rank("A", 2);
        long n = w.dim(0), kk = w.dim(1), r = a.dim(0);
        c.shape("A", r, kk).shape("B", n, r).sameShape("R", "W").distinct("R", "A").distinct("R", "B");
        if (!Float.isFinite(s)) throw new NonFiniteException("merge: scale s is " + s + "; W was not modified");
        return new Merge(c, n, kk, r);
    }

    // ---------------------------------------------------------------- norms

    /** N rows of C features (the last dim). */
    public record Rows(OpCheck check, long n, long c) {}

    public static Rows layerNormForward(Placement where, Tensor out, Tensor mean, Tensor rstd, Tensor inp,
            Tensor weight, Tensor bias, float eps) {
        OpCheck c = check(where, "layernorm_forward", "out", out, "mean", mean, "rstd", rstd, "inp", inp,
                "weight?", weight, "bias?", bias).allDType(DType.F32).sameShape("out", "inp");
        long cc = inp.dim(-1), n = rows(inp, cc);
        c.numel("mean", n).numel("rstd", n).shape("weight", cc).shape("bias", cc)
                .require(eps > 0, "eps must be > 0, got " + eps);
        return new Rows(c, n, cc);
    }

    public static Rows layerNormBackward(Placement where, Tensor dinp, Tensor dweight, Tensor dbias, Tensor dout,
            Tensor inp, Tensor weight, Tensor mean, Tensor rstd) {
        OpCheck c = check(where, "layernorm_backward", "dinp", dinp, "dweight?", dweight, "dbias?", dbias,
                "dout", dout, "inp", inp, "weight?", weight, "mean", mean, "rstd", rstd).allDType(DType.F32)
                .sameShape("dinp", "inp").sameShape("dout", "inp");
        long cc = inp.dim(-1), n = rows(inp, cc);
        c.numel("mean", n).numel("rstd", n).shape("weight", cc).shape("dweight", cc).shape("dbias", cc)
                .require(dweight == null || weight != null, "dweight given without weight");
        return new Rows(c, n, cc);
    }

    public static Rows rmsNormForward(Placement where, Tensor out, Tensor rstd, Tensor inp, Tensor weight, float eps) {
        OpCheck c = check(where, "rmsnorm_forward", "out", out, "rstd", rstd, "inp", inp, "weight", weight)
                .allDType(DType.F32).sameShape("out", "inp");
        long cc = inp.dim(-1), n = rows(inp, cc);
        c.numel("rstd", n).shape("weight", cc).require(eps > 0, "eps must be > 0, got " + eps);
        return new Rows(c, n, cc);
    }

    public static Rows rmsNormBackward(Placement where, Tensor dinp, Tensor dweight, Tensor dout, Tensor inp,
            Tensor weight, Tensor rstd) {
        OpCheck c = check(where, "rmsnorm_backward", "dinp", dinp, "dweight?", dweight, "dout", dout, "inp", inp,
                "weight", weight, "rstd", rstd).allDType(DType.F32).sameShape("dinp", "inp").sameShape("dout", "inp");
        long cc = inp.dim(-1), n = rows(inp, cc);
        c.numel("rstd", n).shape("weight", cc).shape("dweight", cc);
        return new Rows(c, n, cc);
    }

    // ---------------------------------------------------------------- activations (the caller takes numel() of inp)

    private static OpCheck elementwise(Placement where, String op, Tensor out, Tensor inp) {
        return check(where, op, "out", out, "inp", inp).allDType(DType.F32).sameShape("out", "inp");
    }

    private static OpCheck elementwiseBackward(Placement where, String op, Tensor dinp, Tensor dout, Tensor inp) {
        return check(where, op, "dinp", dinp, "dout", dout, "inp", inp).allDType(DType.F32).sameShape("dinp", "inp")
                .sameShape("dout", "inp");
    }

    public static OpCheck geluForward(Placement where, Tensor out, Tensor inp) {
        return elementwise(where, "gelu_forward", out, inp);
    }

    public static OpCheck geluBackward(Placement where, Tensor dinp, Tensor dout, Tensor inp) {
        return elementwiseBackward(where, "gelu_backward", dinp, dout, inp);
    }

    public static OpCheck reluForward(Placement where, Tensor out, Tensor inp) {
        return elementwise(where, "relu_forward", out, inp);
    }

    public static OpCheck reluBackward(Placement where, Tensor dinp, Tensor dout, Tensor inp) {
        return elementwiseBackward(where, "relu_backward", dinp, dout, inp);
    }

    public static OpCheck siluForward(Placement where, Tensor out, Tensor inp) {
        return elementwise(where, "silu_forward", out, inp);
    }

    public static OpCheck siluBackward(Placement where, Tensor dinp, Tensor dout, Tensor inp) {
        return elementwiseBackward(where, "silu_backward", dinp, dout, inp);
    }

    public static OpCheck swigluForward(Placement where, Tensor out, Tensor gate, Tensor up) {
        return check(where, "swiglu_forward", "out", out, "gate", gate, "up", up).allDType(DType.F32)
                .sameShape("out", "gate").sameShape("up", "gate");
    }

    public static OpCheck swigluBackward(Placement where, Tensor dgate, Tensor dup, Tensor dout, Tensor gate,
            Tensor up) {
        return check(where, "swiglu_backward", "dgate", dgate, "dup", dup, "dout", dout, "gate", gate, "up", up)
                .allDType(DType.F32).sameShape("dgate", "gate").sameShape("dup", "gate").sameShape("dout", "gate")
                .sameShape("up", "gate").distinct("dgate", "dup");
    }

    public static OpCheck add(Placement where, Tensor out, Tensor a, Tensor b) {
        return check(where, "add", "out", out, "a", a, "b", b).allDType(DType.F32).sameShape("out", "a")
                .sameShape("b", "a");
    }

    // ---------------------------------------------------------------- embedding

    /** N ids into a table of V rows of C. */
    public record Embedding(OpCheck check, long n, long v, long c) {}

    /** Reads the ids to the host (a synchronous copy on a device) and checks each is in [0, bound). */
    private static void checkIds(OpCheck c, String name, Tensor ids, long bound) {
        int[] v = ids.toIntArray();
        for (int i = 0; i < v.length; i++) {
            if (v[i] < 0 || v[i] >= bound) {
                throw c.fail("'" + name + "'[" + i + "] = " + v[i] + " is outside [0, " + bound + ")");
            }
        }
    }

    public static Embedding embeddingForward(Placement where, Tensor out, Tensor ids, Tensor table) {
        OpCheck c = check(where, "embedding_forward", "out", out, "ids", ids, "table", table).dtype("ids", DType.I32)
                .dtype("out", DType.F32).rank("table", 2);
        c.require(table.dtype() == DType.F32 || table.dtype() == DType.BF16, "table must be f32 or bf16, got "
                + table.dtype());
        long vv = table.dim(0), cc = table.dim(1), n = ids.numel();
        c.require(out.dim(-1) == cc && out.numel() == n * cc, "out must be [" + n + ", " + cc + "]");
        checkIds(c, "ids", ids, vv);
        return new Embedding(c, n, vv, cc);
    }

    public static Embedding embeddingBackward(Placement where, Tensor dtable, Tensor dout, Tensor ids) {
        OpCheck c = check(where, "embedding_backward", "dtable", dtable, "dout", dout, "ids", ids)
                .dtype("ids", DType.I32).dtype("dout", DType.F32).dtype("dtable", DType.F32).rank("dtable", 2);
        long vv = dtable.dim(0), cc = dtable.dim(1), n = ids.numel();
        c.require(dout.dim(-1) == cc && dout.numel() == n * cc, "dout must be [" + n + ", " + cc + "]");
        checkIds(c, "ids", ids, vv);
        return new Embedding(c, n, vv, cc);
    }

    // ---------------------------------------------------------------- RoPE

    /** N rows of H heads of D (even) dims. */
    public record Rope(OpCheck check, long n, long h, long d) {}

    private static Rope ropeDims(OpCheck c, Tensor x) {
        c.require(x.rank() >= 3, "expected [.., H, D], got rank " + x.rank());
        long h = x.dim(-2), d = x.dim(-1);
        c.require(d % 2 == 0, "head dim D must be even, got " + d);
        long n = rows(x, h * d);
        c.numel("pos", n);
        return new Rope(c, n, h, d);
    }

    public static Rope ropeForward(Placement where, Tensor out, Tensor inp, Tensor pos, float theta) {
        OpCheck c = check(where, "rope_forward", "out", out, "inp", inp, "pos", pos).dtype("pos", DType.I32)
                .dtype("out", DType.F32).dtype("inp", DType.F32).sameShape("out", "inp")
                .require(theta > 0, "theta must be > 0, got " + theta);
        return ropeDims(c, inp);
    }

    /** With a frequency table: invFreq f32 [D/2], scale finite (its entries are checked by the kernel). */
    public static Rope ropeForward(Placement where, Tensor out, Tensor inp, Tensor pos, Tensor invFreq, float scale) {
        OpCheck c = check(where, "rope_forward", "out", out, "inp", inp, "pos", pos, "inv_freq", invFreq)
                .dtype("pos", DType.I32).dtype("out", DType.F32).dtype("inp", DType.F32).dtype("inv_freq", DType.F32)
                .sameShape("out", "inp").require(Float.isFinite(scale), "scale must be finite, got " + scale);
        Rope r = ropeDims(c, inp);
        c.numel("inv_freq", r.d() / 2);
        return r;
    }

    public static Rope ropeBackward(Placement where, Tensor dinp, Tensor dout, Tensor pos, Tensor invFreq, float scale) {
        OpCheck c = check(where, "rope_backward", "dinp", dinp, "dout", dout, "pos", pos, "inv_freq", invFreq)
                .dtype("pos", DType.I32).dtype("dinp", DType.F32).dtype("dout", DType.F32).dtype("inv_freq", DType.F32)
                .sameShape("dinp", "dout").distinct("dinp", "dout")
                .require(Float.isFinite(scale), "scale must be finite, got " + scale);
        Rope r = ropeDims(c, dout);
        c.numel("inv_freq", r.d() / 2);
        return r;
    }

    public static Rope ropeBackward(Placement where, Tensor dinp, Tensor dout, Tensor pos, float theta) {
        OpCheck c = check(where, "rope_backward", "dinp", dinp, "dout", dout, "pos", pos).dtype("pos", DType.I32)
                .dtype("dinp", DType.F32).dtype("dout", DType.F32).sameShape("dinp", "dout").distinct("dinp", "dout")
                .require(theta > 0, "theta must be > 0, got " + theta);
        return ropeDims(c, dout);
    }

    // ---------------------------------------------------------------- attention

    /** q[B, T, Hq, D], k and v [B, T, Hkv, D]. */
    public record Attention(OpCheck check, long b, long t, long hq, long hkv, long d) {}

    private static Attention attentionDims(OpCheck c, Tensor q, Tensor k) {
        c.rank("q", 4).rank("k", 4);
        long b = q.dim(0), t = q.dim(1), hq = q.dim(2), d = q.dim(3), hkv = k.dim(2);
        c.shape("k", b, t, hkv, d).shape("v", b, t, hkv, d).shape("lse", b, hq, t).shape("keyMask", b, t)
                .require(hkv > 0 && hq % hkv == 0, "query heads " + hq + " must be a multiple of kv heads " + hkv);
        return new Attention(c, b, t, hq, hkv, d);
    }

    public static Attention attentionForward(Placement where, Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v,
            Tensor keyMask, float scale) {
        OpCheck c = check(where, "attention_forward", "out", out, "lse", lse, "q", q, "k", k, "v", v,
                "keyMask?", keyMask).dtype("out", DType.F32).dtype("lse", DType.F32).dtype("q", DType.F32)
                .dtype("k", DType.F32).dtype("v", DType.F32).dtype("keyMask", DType.I32).sameShape("out", "q")
                .distinct("out", "q").require(Float.isFinite(scale), "scale must be finite, got " + scale);
        return attentionDims(c, q, k);
    }

    /** A sliding window is ≥ 0 and only for causal attention. */
    public static void attentionWindow(OpCheck c, boolean causal, int window) {
        c.require(window >= 0, "window must be >= 0, got " + window)
                .require(window == 0 || causal, "a sliding window (" + window + ") needs causal attention");
    }

    public static Attention attentionBackward(Placement where, Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor q,
            Tensor k, Tensor v, Tensor out, Tensor lse, Tensor keyMask, float scale) {
        OpCheck c = check(where, "attention_backward", "dq", dq, "dk", dk, "dv", dv, "dout", dout, "q", q, "k", k,
                "v", v, "out", out, "lse", lse, "keyMask?", keyMask).dtype("keyMask", DType.I32)
                .dtype("dq", DType.F32).dtype("dk", DType.F32).dtype("dv", DType.F32).dtype("dout", DType.F32)
                .dtype("q", DType.F32).dtype("k", DType.F32).dtype("v", DType.F32).dtype("out", DType.F32)
                .dtype("lse", DType.F32).sameShape("dq", "q").sameShape("dk", "k").sameShape("dv", "v")
                .sameShape("dout", "q").sameShape("out", "q")
                .require(Float.isFinite(scale), "scale must be finite, got " + scale);
        return attentionDims(c, q, k);
    }

    // ---------------------------------------------------------------- loss

    /** N rows of V logits. */
    public record Xent(OpCheck check, long n, long v) {}

    /** Reads the targets to the host (a synchronous copy on a device), as {@link #checkIds}. */
    private static void checkTargets(OpCheck c, Tensor targets, long vocab, int ignoreIndex) {
        int[] t = targets.toIntArray();
        for (int i = 0; i < t.length; i++) {
            if (t[i] != ignoreIndex && (t[i] < 0 || t[i] >= vocab)) {
                throw c.fail("'targets'[" + i + "] = " + t[i] + " is outside [0, " + vocab + ") and is not the ignore"
                        + " index " + ignoreIndex);
            }
        }
    }

    public static Xent softmaxXentForward(Placement where, Tensor losses, Tensor lse, Tensor logits, Tensor targets,
            int ignoreIndex) {
        OpCheck c = check(where, "softmax_xent_forward", "losses", losses, "lse", lse, "logits", logits,
                "targets", targets).dtype("targets", DType.I32).dtype("losses", DType.F32).dtype("lse", DType.F32)
                .dtype("logits", DType.F32);
        long vv = logits.dim(-1), n = rows(logits, vv);
        c.numel("losses", n).numel("lse", n).numel("targets", n);
        checkTargets(c, targets, vv, ignoreIndex);
        return new Xent(c, n, vv);
    }

    public static Xent softmaxXentBackward(Placement where, Tensor dlogits, Tensor dlosses, Tensor logits, Tensor lse,
            Tensor targets, int ignoreIndex) {
        OpCheck c = check(where, "softmax_xent_backward", "dlogits", dlogits, "dlosses", dlosses, "logits", logits,
                "lse", lse, "targets", targets).dtype("targets", DType.I32).dtype("dlogits", DType.F32)
                .dtype("dlosses", DType.F32).dtype("logits", DType.F32).dtype("lse", DType.F32)
                .sameShape("dlogits", "logits");
        long vv = logits.dim(-1), n = rows(logits, vv);
        c.numel("dlosses", n).numel("lse", n).numel("targets", n);
        checkTargets(c, targets, vv, ignoreIndex);
        return new Xent(c, n, vv);
    }

    // ---------------------------------------------------------------- optimiser

    /** A non-null list (of {@code expectedSize} tensors unless that is negative) of f32 tensors. */
    private static void checkList(Placement where, String op, String what, List<Tensor> ts, int expectedSize) {
        if (ts == null) throw new IllegalArgumentException(op + ": '" + what + "' list is null");
        if (expectedSize >= 0 && ts.size() != expectedSize) {
            throw new IllegalArgumentException(op + ": '" + what + "' has " + ts.size() + " tensors, expected "
                    + expectedSize);
        }
        for (int i = 0; i < ts.size(); i++) {
            check(where, op, what + "[" + i + "]", ts.get(i)).dtype(what + "[" + i + "]", DType.F32);
        }
    }

    /** Also throws {@link NonFiniteException} for a non-finite gradScale. */
    public static void adamwStep(Placement where, List<Tensor> params, List<Tensor> grads, List<Tensor> m,
            List<Tensor> v, long step, float gradScale) {
        String op = "adamw_step";
        checkList(where, op, "params", params, -1);
        int n = params.size();
        checkList(where, op, "grads", grads, n);
        checkList(where, op, "m", m, n);
        checkList(where, op, "v", v, n);
        for (int i = 0; i < n; i++) {
            check(where, op, "param", params.get(i), "grad", grads.get(i), "m", m.get(i), "v", v.get(i))
                    .sameShape("grad", "param").sameShape("m", "param").sameShape("v", "param")
                    .distinct("param", "grad");
        }
        if (step < 1) throw new IllegalArgumentException(op + ": step is 1-based, got " + step);
        if (!Float.isFinite(gradScale)) throw new NonFiniteException(op + ": gradScale is " + gradScale);
    }

    public static void sumSquares(Placement where, List<Tensor> tensors) {
        checkList(where, "sum_squares", "tensors", tensors, -1);
    }

    public static void scale(Placement where, List<Tensor> tensors) {
        checkList(where, "scale", "tensors", tensors, -1);
    }

    // ---------------------------------------------------------------- dropout

    public static OpCheck dropoutForward(Placement where, Tensor out, Tensor inp, float p) {
        OpCheck c = elementwise(where, "dropout_forward", out, inp);
        if (!(p >= 0 && p < 1)) throw new IllegalArgumentException("dropout_forward: p must be in [0, 1), got " + p);
        return c;
    }

    public static OpCheck dropoutBackward(Placement where, Tensor dinp, Tensor dout, float p) {
        return check(where, "dropout_backward", "dinp", dinp, "dout", dout).allDType(DType.F32)
                .sameShape("dinp", "dout").require(p >= 0 && p < 1, "p must be in [0, 1), got " + p);
    }

    // ---------------------------------------------------------------- layout

    /** small[rows, cols] and the block of wide[rows, wideCols] it maps to. */
    public record Columns(OpCheck check, long rows, long cols, long wideCols) {}

    public static Columns copyColumns(Placement where, Tensor small, Tensor wide, long colOffset) {
        OpCheck c = check(where, "copy_columns", "small", small, "wide", wide).allDType(DType.F32);
        long cols = small.dim(-1), ws = wide.dim(-1), rows = rows(small, cols);
        c.require(rows(wide, ws) == rows, "small and wide must have the same rows")
                .require(colOffset >= 0 && colOffset + cols <= ws, "columns [" + colOffset + ", " + (colOffset + cols)
                        + ") are outside wide's " + ws);
        return new Columns(c, rows, cols, ws);
    }

    // ---------------------------------------------------------------- conversions

    /** Same element count, and one of f32↔bf16, f32↔f16 or the same dtype (a copy). */
    public static OpCheck convert(Placement where, Tensor dst, Tensor src) {
        OpCheck c = check(where, "convert", "dst", dst, "src", src).numel("dst", src.numel());
        DType from = src.dtype(), to = dst.dtype();
        boolean ok = from == to || from == DType.F32 && (to == DType.BF16 || to == DType.F16)
                || to == DType.F32 && (from == DType.BF16 || from == DType.F16);
        return c.require(ok, "no conversion from " + from + " to " + to);
    }
}
