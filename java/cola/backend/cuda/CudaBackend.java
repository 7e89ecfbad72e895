package cola.backend.cuda;

import static cola.backend.cuda.CudaKernels.*;

import cola.backend.AdamWConfig;
import cola.backend.Backend;
import cola.backend.GeluApproximation;
import cola.backend.NonFiniteException;
import cola.backend.OpCheck;
import cola.backend.Rounding;
import cola.tensor.Arena;
import cola.tensor.DType;
import cola.tensor.Device;
import cola.tensor.Tensor;
import java.util.List;

/**
 * The CUDA backend: the same ops as {@link cola.backend.cpu.CpuBackend}, on device tensors of one GPU.
 *
 * <p>Every method first validates in Java with {@link OpCheck} — the same checks and the same
 * IllegalArgumentException messages as the CPU, plus "is on cpu, not cuda:N" and the CUDA kernels' own limits (head
 * dim ≤ 128, cuBLAS's 32-bit sizes) — then queues the work on the device's single stream ({@link CudaDevice}) and
 * returns without waiting. A non-zero return code becomes a {@link CudaException} naming the op, the CUDA error and
 * the shapes. GEMMs (gemm, gemmBatched, matmul and the base GEMM of the LoRA linear) go to cuBLAS ({@link Cublas});
 * everything around them is libcola_cuda.
 *
 * <p>Ops that wait for the device: mergeLora (the kernel synchronises for its verdict), sumSquares/clipGradNorm (the
 * norm comes back to the host), and the embedding/loss ops, which read the ids/targets back to range-check them in
 * Java exactly as the CPU does (a few KB per step; the kernels would only poison the output with NaN otherwise).
 *
 * <p>Not thread-safe (it owns reusable scratch buffers), like {@link Arena}: one training loop per backend.
 */
public final class CudaBackend implements Backend {
    private static final long HEAD_DIM_MAX = 128;  // attention.cu keeps a head row in registers
    private static final CudaBackend[] INSTANCES = new CudaBackend[64];

    private final CudaDevice dev;
    private final Device device;
    private final long stream;
    private final Cublas cublas;
    private Tensor ones;     // f32[capacity] of 1.0: the vector that turns bias broadcast/reduction into GEMMs
    private Tensor scratch;  // f32[capacity]: u[M, r] when the caller passes none
    private Tensor normOut;  // i64[1]: the device double written by cola_cuda_sum_squares (raw bits)

    private CudaBackend(CudaDevice dev) {
        this.dev = dev;
        this.device = dev.device();
        this.stream = dev.stream();
        dev.select();
        Cublas c;
        try {
            c = new Cublas(stream);
        } catch (LinkageError e) {
            // UnsatisfiedLinkError on the first try, NoClassDefFoundError afterwards (the preset stays poisoned).
            throw new IllegalStateException("CUDA device " + device + " is usable but cuBLAS could not be loaded ("
                    + e + "). Provide libcublas.so.13 / libcublasLt.so.13: put the CUDA 13 toolkit's lib64 on"
                    + " LD_LIBRARY_PATH, or add org.bytedeco:cuda:13.1-9.19-1.5.13:linux-x86_64-redist to the"
                    + " classpath (see README, CUDA)", e);
        }
        this.cublas = c;
    }

    /**
     * The backend of device {@code ordinal}, created on first use. Throws {@link IllegalStateException} naming
     * {@link CudaRuntime#describe()} when that device is not usable, or when cuBLAS cannot be loaded.
     */
    public static synchronized CudaBackend get(int ordinal) {
        CudaDevice d = CudaDevice.get(ordinal);  // checks CudaRuntime.usable() before any preset class is touched
        if (INSTANCES[ordinal] == null) INSTANCES[ordinal] = new CudaBackend(d);
        return INSTANCES[ordinal];
    }

    @Override
    public String name() {
        return device.toString();
    }

    @Override
    public Device device() {
        return device;
    }

    /** The device's memory and stream (a {@link cola.tensor.DeviceAllocator}). */
    public CudaDevice cudaDevice() {
        return dev;
    }

    @Override
    public Tensor zeros(DType dtype, long... shape) {
        return Tensor.zeros(dev, dtype, shape);
    }

    @Override
    public Arena newArena(long initialBytes) {
        return new Arena(dev, initialBytes);
    }

    @Override
    public void synchronize() {
        dev.synchronize();
    }

    @Override
    public Tensor upload(Tensor host) {
        new OpCheck("upload").in("tensor", host);
        Tensor t = Tensor.zeros(dev, host.dtype(), host.shape());
        try {
            t.copyFrom(host);
        } catch (RuntimeException e) {
            t.close();
            throw e;
        }
        return t;
    }

    @Override
    public Tensor download(Tensor onDevice) {
        new OpCheck("download").in("tensor", onDevice);
        Tensor h = Tensor.zeros(onDevice.dtype(), onDevice.shape());
        try {
            h.copyFrom(onDevice);
        } catch (RuntimeException e) {
            h.close();
            throw e;
        }
        return h;
    }

    // ---------------------------------------------------------------- helpers

    private static long addr(Tensor t) {
        return t == null ? 0L : t.address();
    }

    private static long rows(Tensor t, long c) {
        return c == 0 ? 0 : t.numel() / c;
    }

    /** As CpuBackend.check, plus: every tensor must live on this backend's device. */
    private OpCheck check(String op, Object... namesAndTensors) {
        OpCheck c = new OpCheck(op);
        for (int i = 0; i < namesAndTensors.length; i += 2) {
            String name = (String) namesAndTensors[i];
            Tensor t = (Tensor) namesAndTensors[i + 1];
            boolean optional = name.endsWith("?");
            String n = optional ? name.substring(0, name.length() - 1) : name;
            if (optional) c.opt(n, t);
            else c.in(n, t);
            if (t != null && (t.isHost() || !t.device().equals(device))) {
                throw c.fail("'" + n + "' is on " + t.device() + ", not " + device);
            }
        }
        return c;
    }

    /** Makes the device current for this thread; called after validation, before the first native call. */
    private void enter() {
        dev.select();
    }

    private void status(OpCheck c, int code) {
        if (code != 0) {
            throw new CudaException(c.op() + " on " + device, code, cola_cuda_error_string(code), c.describeArgs());
        }
    }

    private static int int32(OpCheck c, String what, long v) {
        c.require(v <= Integer.MAX_VALUE, what + " = " + v + " exceeds cuBLAS's 32-bit limit");
        return (int) v;
    }

    /** Row-major c[m,n] = alpha·op(a)·op(b) + beta·c on cuBLAS; row strides in elements. */
    private void sgemm(OpCheck c, boolean tA, boolean tB, long m, long n, long k, float alpha, long a, long lda, long b,
            long ldb, float beta, long cc, long ldc) {
        if (m == 0 || n == 0) return;
        int st = cublas.sgemm(tA, tB, int32(c, "M", m), int32(c, "N", n), int32(c, "K", k), alpha, a,
                int32(c, "lda", Math.max(1, lda)), b, int32(c, "ldb", Math.max(1, ldb)), beta, cc,
                int32(c, "ldc", Math.max(1, ldc)));
        if (st != 0) {
            throw CudaException.ofCublas(c.op() + " (cuBLAS sgemm " + m + "x" + n + "x" + k + ") on " + device, st,
                    CudaException.cublasStatusName(st), c.describeArgs());
        }
    }

    /** A device f32 vector of at least n ones (grown by doubling, kept). */
    private long ones(long n) {
        if (ones == null || ones.numel() < n) {
            long cap = Math.max(n, ones == null ? 1024 : 2 * ones.numel());
            if (ones != null) ones.close();
            ones = null;
            if (cap > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("ones vector of " + cap + " floats");
            float[] h = new float[(int) cap];
            java.util.Arrays.fill(h, 1f);
            Tensor t = Tensor.zeros(dev, DType.F32, cap);
            t.copyFrom(h);
            ones = t;
        }
        return ones.address();
    }

    /** Device scratch of at least n floats (grown by doubling, kept; later ops on the stream reuse it in order). */
    private long scratch(long n) {
        if (scratch == null || scratch.numel() < n) {
            long cap = Math.max(n, scratch == null ? 4096 : 2 * scratch.numel());
            if (scratch != null) scratch.close();
            scratch = null;
            scratch = Tensor.zeros(dev, DType.F32, cap);
        }
        return scratch.address();
    }

    /** out[m,n] = inp[m,k]·w[n,k]ᵀ (+ bias[n] as ones[m,1]·bias[1,n]). */
    private void linearForward(OpCheck c, long out, long inp, long w, long bias, long m, long k, long n) {
        sgemm(c, false, true, m, n, k, 1f, inp, k, w, k, 0f, out, n);
        if (bias != 0 && m > 0) sgemm(c, false, false, m, n, 1, 1f, ones(m), 1, bias, n, 1f, out, n);
    }

    /** dinp[m,k] += dout·w; dw[n,k] += doutᵀ·inp; db[1,n] += ones[1,m]·dout (each when its address is non-zero). */
    private void linearBackward(OpCheck c, long dinp, long dw, long db, long dout, long inp, long w, long m, long k,
            long n) {
        if (dinp != 0) sgemm(c, false, false, m, k, n, 1f, dout, n, w, k, 1f, dinp, k);
        if (dw != 0) sgemm(c, true, false, n, k, m, 1f, dout, n, inp, k, 1f, dw, k);
        if (db != 0 && m > 0) sgemm(c, false, false, 1, n, m, 1f, ones(m), m, dout, n, 1f, db, n);
    }

    // ---------------------------------------------------------------- GEMM

    @Override
    public void gemm(boolean transA, boolean transB, float alpha, Tensor a, Tensor b, float beta, Tensor c) {
        OpCheck k = check("gemm", "a", a, "b", b, "c", c).allDType(DType.F32).rank("a", 2).rank("b", 2).rank("c", 2);
        long m = c.dim(0), n = c.dim(1);
        long kk = transA ? a.dim(0) : a.dim(1);
        k.shape("a", transA ? new long[] {kk, m} : new long[] {m, kk});
        k.shape("b", transB ? new long[] {n, kk} : new long[] {kk, n});
        enter();
        sgemm(k, transA, transB, m, n, kk, alpha, a.address(), a.dim(1), b.address(), b.dim(1), beta, c.address(), n);
    }

    @Override
    public void gemmBatched(boolean transA, boolean transB, float alpha, Tensor a, Tensor b, float beta, Tensor c) {
        OpCheck k = check("gemm_batched", "a", a, "b", b, "c", c).allDType(DType.F32).rank("a", 3).rank("b", 3)
                .rank("c", 3);
        long batch = c.dim(0), m = c.dim(1), n = c.dim(2);
        long kk = transA ? a.dim(1) : a.dim(2);
        k.shape("a", transA ? new long[] {batch, kk, m} : new long[] {batch, m, kk});
        k.shape("b", transB ? new long[] {batch, n, kk} : new long[] {batch, kk, n});
        if (batch == 0 || m == 0 || n == 0) return;
        enter();
        int lda = int32(k, "lda", Math.max(1, a.dim(2))), ldb = int32(k, "ldb", Math.max(1, b.dim(2)));
        int ldc = int32(k, "ldc", Math.max(1, n));
        int st = cublas.sgemmStridedBatched(transA, transB, int32(k, "M", m), int32(k, "N", n), int32(k, "K", kk),
                alpha, a.address(), lda, a.dim(1) * a.dim(2), b.address(), ldb, b.dim(1) * b.dim(2), beta,
                c.address(), ldc, m * n, int32(k, "batch", batch));
        if (st != 0) {
            throw CudaException.ofCublas("gemm_batched (cuBLAS sgemmStridedBatched) on " + device, st,
                    CudaException.cublasStatusName(st), k.describeArgs());
        }
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
        enter();
        linearForward(c, out.address(), inp.address(), weight.address(), addr(bias), m, kk, n);
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
        enter();
        linearBackward(c, addr(dinp), addr(dweight), addr(dbias), dout.address(), inp.address(), weight.address(), m,
                kk, n);
    }

    // ---------------------------------------------------------------- LoRA

    private static void checkDropout(OpCheck c, float p) {
        c.require(p >= 0 && p < 1, "dropout p must be in [0, 1), got " + p);
    }

    @Override
    public void loraLinearForward(Tensor y, Tensor u, Tensor x, Tensor w, Tensor b, Tensor a, Tensor bMat, float s,
            float p, long seed) {
        OpCheck c = check("lora_linear_forward", "y", y, p > 0 ? "u" : "u?", u, "x", x, "W", w, "b?", b, "A", a, "B",
                bMat).allDType(DType.F32).rank("W", 2).rank("A", 2).rank("B", 2);
        long n = w.dim(0), kk = w.dim(1), r = a.dim(0);
        c.shape("A", r, kk).shape("B", n, r).shape("b", n);
        c.require(x.dim(-1) == kk, "x's last dim must be W's in-features " + kk);
        long m = rows(x, kk);
        c.require(y.dim(-1) == n && y.numel() == m * n, "y must be [" + m + ", " + n + "]");
        c.require(u == null || u.dim(-1) == r && u.numel() == m * r, "u must be [" + m + ", " + r + "]");
        c.require(Float.isFinite(s), "scale s must be finite, got " + s).distinct("y", "x");
        checkDropout(c, p);
        enter();
        // y = x·Wᵀ + b on cuBLAS; then the kernel writes u[M, r] (scratch when the caller keeps none) and adds s·u·Bᵀ.
        linearForward(c, y.address(), x.address(), w.address(), addr(b), m, kk, n);
        long uAddr = u != null ? u.address() : scratch(m * r);
        status(c, cola_cuda_lora_linear_forward(y.address(), uAddr, x.address(), a.address(), bMat.address(), s, p,
                seed, m, kk, n, r, stream));
    }

    @Override
    public void loraLinearBackward(Tensor dx, Tensor dW, Tensor db, Tensor dA, Tensor dB, Tensor v, Tensor dy,
            Tensor x, Tensor u, Tensor w, Tensor a, Tensor bMat, float s, float p, long seed) {
        OpCheck c = check("lora_linear_backward", "dx?", dx, "dW?", dW, "db?", db, "dA", dA, "dB", dB, "v", v,
                "dy", dy, "x", x, p > 0 ? "u" : "u?", u, "W", w, "A", a, "B", bMat).allDType(DType.F32).rank("W", 2)
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
        enter();
        // Base terms on cuBLAS: dx += dy·W, dW += dyᵀ·x, db += Σ dy.
        linearBackward(c, addr(dx), addr(dW), addr(db), dy.address(), x.address(), w.address(), m, kk, n);
        long uAddr;
        if (u != null) {
            uAddr = u.address();
        } else {  // p = 0 (validated): u = x·Aᵀ, recomputed into scratch [M, r]
            uAddr = scratch(m * r);
            sgemm(c, false, true, m, r, kk, 1f, x.address(), kk, a.address(), kk, 0f, uAddr, r);
        }
        status(c, cola_cuda_lora_linear_backward(addr(dx), dA.address(), dB.address(), v.address(), dy.address(),
                x.address(), uAddr, a.address(), bMat.address(), s, p, seed, m, kk, n, r, stream));
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
        enter();
        int code;
        long[] unchanged = {0};
        if (w.dtype() == DType.F32) {
            code = cola_cuda_merge_f32(w.address(), a.address(), bMat.address(), s, n, kk, r, stream);
        } else {
            code = cola_cuda_merge_bf16(w.address(), a.address(), bMat.address(), s, n, kk, r,
                    rounding == Rounding.STOCHASTIC ? 1 : 0, seed, unchanged, stream);
        }
        if (code == 1002) {  // COLA_CUDA_ERR_NONFINITE: decided on the device, W untouched
            throw new NonFiniteException("merge: the delta s·B·A for W " + w.describe()
                    + " is not finite (NaN/Inf in A or B, or overflow); W was not modified");
        }
        status(c, code);
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
        enter();
        status(c, cola_cuda_layernorm_forward(out.address(), mean.address(), rstd.address(), inp.address(),
                addr(weight), addr(bias), n, cc, eps, stream));
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
        enter();
        status(c, cola_cuda_layernorm_backward(dinp.address(), addr(dweight), addr(dbias), dout.address(),
                inp.address(), addr(weight), mean.address(), rstd.address(), n, cc, stream));
    }

    @Override
    public void rmsNormForward(Tensor out, Tensor rstd, Tensor inp, Tensor weight, float eps) {
        OpCheck c = check("rmsnorm_forward", "out", out, "rstd", rstd, "inp", inp, "weight", weight)
                .allDType(DType.F32).sameShape("out", "inp");
        long cc = inp.dim(-1), n = rows(inp, cc);
        c.numel("rstd", n).shape("weight", cc).require(eps > 0, "eps must be > 0, got " + eps);
        enter();
        status(c, cola_cuda_rmsnorm_forward(out.address(), rstd.address(), inp.address(), weight.address(), n, cc,
                eps, stream));
    }

    @Override
    public void rmsNormBackward(Tensor dinp, Tensor dweight, Tensor dout, Tensor inp, Tensor weight, Tensor rstd) {
        OpCheck c = check("rmsnorm_backward", "dinp", dinp, "dweight?", dweight, "dout", dout, "inp", inp,
                "weight", weight, "rstd", rstd).allDType(DType.F32).sameShape("dinp", "inp").sameShape("dout", "inp");
        long cc = inp.dim(-1), n = rows(inp, cc);
        c.numel("rstd", n).shape("weight", cc).shape("dweight", cc);
        enter();
        status(c, cola_cuda_rmsnorm_backward(dinp.address(), addr(dweight), dout.address(), inp.address(),
                weight.address(), rstd.address(), n, cc, stream));
    }

    // ---------------------------------------------------------------- activations

    private OpCheck elementwise(String op, Tensor out, Tensor inp) {
        OpCheck c = check(op, "out", out, "inp", inp).allDType(DType.F32).sameShape("out", "inp");
        enter();
        return c;
    }

    private OpCheck elementwiseBackward(String op, Tensor dinp, Tensor dout, Tensor inp) {
        OpCheck c = check(op, "dinp", dinp, "dout", dout, "inp", inp).allDType(DType.F32).sameShape("dinp", "inp")
                .sameShape("dout", "inp");
        enter();
        return c;
    }

    @Override
    public void geluForward(Tensor out, Tensor inp, GeluApproximation approximation) {
        OpCheck c = elementwise("gelu_forward", out, inp);
        status(c, cola_cuda_gelu_forward(out.address(), inp.address(), inp.numel(), approximation.ordinal(), stream));
    }

    @Override
    public void geluBackward(Tensor dinp, Tensor dout, Tensor inp, GeluApproximation approximation) {
        OpCheck c = elementwiseBackward("gelu_backward", dinp, dout, inp);
        status(c, cola_cuda_gelu_backward(dinp.address(), dout.address(), inp.address(), inp.numel(),
                approximation.ordinal(), stream));
    }

    @Override
    public void reluForward(Tensor out, Tensor inp) {
        OpCheck c = elementwise("relu_forward", out, inp);
        status(c, cola_cuda_relu_forward(out.address(), inp.address(), inp.numel(), stream));
    }

    @Override
    public void reluBackward(Tensor dinp, Tensor dout, Tensor inp) {
        OpCheck c = elementwiseBackward("relu_backward", dinp, dout, inp);
        status(c, cola_cuda_relu_backward(dinp.address(), dout.address(), inp.address(), inp.numel(), stream));
    }

    @Override
    public void siluForward(Tensor out, Tensor inp) {
        OpCheck c = elementwise("silu_forward", out, inp);
        status(c, cola_cuda_silu_forward(out.address(), inp.address(), inp.numel(), stream));
    }

    @Override
    public void siluBackward(Tensor dinp, Tensor dout, Tensor inp) {
        OpCheck c = elementwiseBackward("silu_backward", dinp, dout, inp);
        status(c, cola_cuda_silu_backward(dinp.address(), dout.address(), inp.address(), inp.numel(), stream));
    }

    @Override
    public void swigluForward(Tensor out, Tensor gate, Tensor up) {
        OpCheck c = check("swiglu_forward", "out", out, "gate", gate, "up", up).allDType(DType.F32)
                .sameShape("out", "gate").sameShape("up", "gate");
        enter();
        status(c, cola_cuda_swiglu_forward(out.address(), gate.address(), up.address(), gate.numel(), stream));
    }

    @Override
    public void swigluBackward(Tensor dgate, Tensor dup, Tensor dout, Tensor gate, Tensor up) {
        OpCheck c = check("swiglu_backward", "dgate", dgate, "dup", dup, "dout", dout, "gate", gate, "up", up)
                .allDType(DType.F32).sameShape("dgate", "gate").sameShape("dup", "gate").sameShape("dout", "gate")
                .sameShape("up", "gate").distinct("dgate", "dup");
        enter();
        status(c, cola_cuda_swiglu_backward(dgate.address(), dup.address(), dout.address(), gate.address(),
                up.address(), gate.numel(), stream));
    }

    @Override
    public void add(Tensor out, Tensor a, Tensor b) {
        OpCheck c = check("add", "out", out, "a", a, "b", b).allDType(DType.F32).sameShape("out", "a")
                .sameShape("b", "a");
        enter();
        status(c, cola_cuda_add_forward(out.address(), a.address(), b.address(), a.numel(), stream));
    }

    // ---------------------------------------------------------------- embedding

    /** Same check and message as the CPU; the ids come back to the host for it (one small synchronous copy). */
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
        enter();
        status(c, cola_cuda_embedding_forward(out.address(), ids.address(), table.address(), n, vv, cc, stream));
    }

    @Override
    public void embeddingBackward(Tensor dtable, Tensor dout, Tensor ids) {
        OpCheck c = check("embedding_backward", "dtable", dtable, "dout", dout, "ids", ids).dtype("ids", DType.I32)
                .dtype("dout", DType.F32).dtype("dtable", DType.F32).rank("dtable", 2);
        long vv = dtable.dim(0), cc = dtable.dim(1), n = ids.numel();
        c.require(dout.dim(-1) == cc && dout.numel() == n * cc, "dout must be [" + n + ", " + cc + "]");
        checkIds(c, "ids", ids, vv);
        enter();
        status(c, cola_cuda_embedding_backward(dtable.address(), dout.address(), ids.address(), n, vv, cc, stream));
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
        enter();
        status(c, cola_cuda_rope_forward(out.address(), inp.address(), pos.address(), nhd[0], nhd[1], nhd[2], theta,
                stream));
    }

    @Override
    public void ropeBackward(Tensor dinp, Tensor dout, Tensor pos, float theta) {
        OpCheck c = check("rope_backward", "dinp", dinp, "dout", dout, "pos", pos).dtype("pos", DType.I32)
                .dtype("dinp", DType.F32).dtype("dout", DType.F32).sameShape("dinp", "dout").distinct("dinp", "dout")
                .require(theta > 0, "theta must be > 0, got " + theta);
        long[] nhd = ropeDims(c, dout, pos);
        enter();
        status(c, cola_cuda_rope_backward(dinp.address(), dout.address(), pos.address(), nhd[0], nhd[1], nhd[2],
                theta, stream));
    }

    // ---------------------------------------------------------------- attention

    private static long[] attentionDims(OpCheck c, Tensor q, Tensor k) {
        c.rank("q", 4).rank("k", 4);
        long b = q.dim(0), t = q.dim(1), hq = q.dim(2), d = q.dim(3), hkv = k.dim(2);
        c.shape("k", b, t, hkv, d).shape("v", b, t, hkv, d).shape("lse", b, hq, t).shape("keyMask", b, t)
                .require(hkv > 0 && hq % hkv == 0, "query heads " + hq + " must be a multiple of kv heads " + hkv);
        // The CUDA kernel's limits (attention.cu), checked here so they are an exception naming them, not code 1001.
        c.require(d >= 1 && d <= HEAD_DIM_MAX, "head dim D must be in [1, " + HEAD_DIM_MAX + "] on CUDA, got " + d)
                .require(b * hq <= 65535, "B·Hq = " + (b * hq) + " exceeds the CUDA grid limit 65535");
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
        enter();
        status(c, cola_cuda_attention_forward(out.address(), lse.address(), q.address(), k.address(), v.address(),
                addr(keyMask), s[0], s[1], s[2], s[3], s[4], causal ? 1 : 0, scale, stream));
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
        enter();
        status(c, cola_cuda_attention_backward(dq.address(), dk.address(), dv.address(), dout.address(), q.address(),
                k.address(), v.address(), out.address(), lse.address(), addr(keyMask), s[0], s[1], s[2], s[3], s[4],
                causal ? 1 : 0, scale, stream));
    }

    // ---------------------------------------------------------------- loss

    private static void checkTargets(OpCheck c, Tensor targets, long vocab, int ignoreIndex) {
        int[] t = targets.toIntArray();  // a synchronous copy of N ints, as checkIds
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
        enter();
        status(c, cola_cuda_softmax_xent_forward(losses.address(), lse.address(), logits.address(), targets.address(),
                n, vv, ignoreIndex, stream));
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
        enter();
        status(c, cola_cuda_softmax_xent_backward(dlogits.address(), dlosses.address(), logits.address(),
                lse.address(), targets.address(), n, vv, ignoreIndex, stream));
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

    private void checkList(String op, String what, List<Tensor> ts, int expectedSize) {
        if (ts == null) throw new IllegalArgumentException(op + ": '" + what + "' list is null");
        if (expectedSize >= 0 && ts.size() != expectedSize) {
            throw new IllegalArgumentException(op + ": '" + what + "' has " + ts.size() + " tensors, expected "
                    + expectedSize);
        }
        for (int i = 0; i < ts.size(); i++) {
            check(op, what + "[" + i + "]", ts.get(i)).dtype(what + "[" + i + "]", DType.F32);
        }
    }

    /** For the status of the list ops: the op and its tensor count (listing every shape would be unreadable). */
    private static OpCheck listOp(String op) {
        return new OpCheck(op);
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
        if (n == 0) return;
        enter();
        status(listOp(op + " (" + n + " tensors)"), cola_cuda_adamw_step(addresses(params), addresses(grads),
                addresses(m), addresses(v), sizes(params), n, config.lr(), config.beta1(), config.beta2(),
                config.eps(), config.weightDecay(), step, gradScale, stream));
    }

    @Override
    public double sumSquares(List<Tensor> tensors) {
        checkList("sum_squares", "tensors", tensors, -1);
        if (tensors.isEmpty()) return 0.0;
        enter();
        if (normOut == null) normOut = Tensor.zeros(dev, DType.I64, 1);
        status(listOp("sum_squares (" + tensors.size() + " tensors)"), cola_cuda_sum_squares(normOut.address(),
                addresses(tensors), sizes(tensors), tensors.size(), stream));
        return Double.longBitsToDouble(normOut.toLongArray()[0]);  // synchronous: the norm is needed on the host
    }

    @Override
    public void scale(List<Tensor> tensors, float scale) {
        checkList("scale", "tensors", tensors, -1);
        if (tensors.isEmpty()) return;
        enter();
        status(listOp("scale (" + tensors.size() + " tensors)"), cola_cuda_scale(addresses(tensors), sizes(tensors),
                tensors.size(), scale, stream));
    }

    // ---------------------------------------------------------------- dropout

    @Override
    public void dropoutForward(Tensor out, Tensor inp, float p, long seed) {
        OpCheck c = elementwise("dropout_forward", out, inp);
        if (!(p >= 0 && p < 1)) throw new IllegalArgumentException("dropout_forward: p must be in [0, 1), got " + p);
        status(c, cola_cuda_dropout_forward(out.address(), inp.address(), inp.numel(), p, seed, stream));
    }

    @Override
    public void dropoutBackward(Tensor dinp, Tensor dout, float p, long seed) {
        OpCheck c = check("dropout_backward", "dinp", dinp, "dout", dout).allDType(DType.F32)
                .sameShape("dinp", "dout").require(p >= 0 && p < 1, "p must be in [0, 1), got " + p);
        enter();
        status(c, cola_cuda_dropout_backward(dinp.address(), dout.address(), dout.numel(), p, seed, stream));
    }

    // ---------------------------------------------------------------- layout

    @Override
    public void copyColumns(Tensor small, Tensor wide, long colOffset, boolean intoWide, boolean accumulate) {
        OpCheck c = check("copy_columns", "small", small, "wide", wide).allDType(DType.F32);
        long cols = small.dim(-1), ws = wide.dim(-1), rows = rows(small, cols);
        c.require(rows(wide, ws) == rows, "small and wide must have the same rows")
                .require(colOffset >= 0 && colOffset + cols <= ws, "columns [" + colOffset + ", " + (colOffset + cols)
                        + ") are outside wide's " + ws);
        enter();
        long wideAddr = wide.address() + colOffset * 4;
        int code = intoWide
                ? cola_cuda_copy_cols(wideAddr, ws, small.address(), cols, rows, cols, accumulate ? 1 : 0, stream)
                : cola_cuda_copy_cols(small.address(), cols, wideAddr, ws, rows, cols, accumulate ? 1 : 0, stream);
        status(c, code);
    }

    // ---------------------------------------------------------------- conversions

    @Override
    public void convert(Tensor dst, Tensor src) {
        OpCheck c = check("convert", "dst", dst, "src", src).numel("dst", src.numel());
        long n = src.numel();
        DType from = src.dtype(), to = dst.dtype();
        enter();
        int code;
        if (from == DType.F32 && to == DType.BF16) code = cola_cuda_f32_to_bf16(dst.address(), src.address(), n, stream);
        else if (from == DType.BF16 && to == DType.F32) code = cola_cuda_bf16_to_f32(dst.address(), src.address(), n, stream);
        else if (from == DType.F32 && to == DType.F16) code = cola_cuda_f32_to_f16(dst.address(), src.address(), n, stream);
        else if (from == DType.F16 && to == DType.F32) code = cola_cuda_f16_to_f32(dst.address(), src.address(), n, stream);
        else if (from == to) {
            dst.copyFrom(src);  // device→device, queued on the stream
            code = 0;
        } else throw c.fail("no conversion from " + from + " to " + to);
        status(c, code);
    }
}
