package cola.backend.cuda;

import static cola.backend.cuda.CudaKernels.*;

import cola.backend.AdamWConfig;
import cola.backend.Backend;
import cola.backend.GeluApproximation;
import cola.backend.NonFiniteException;
import cola.backend.OpCheck;
import cola.backend.OpChecks;
import cola.backend.Rounding;
import cola.tensor.Arena;
import cola.tensor.DType;
import cola.tensor.Device;
import cola.tensor.Tensor;
import java.util.List;

/**
 * The CUDA backend: the same ops as {@link cola.backend.cpu.CpuBackend}, on device tensors of one GPU.
 *
 * <p>Every method first validates in Java with {@link OpChecks} — the checks and IllegalArgumentException messages
 * every backend shares, with "is on cpu, not cuda:N" as this backend's placement — plus the CUDA kernels' own limits
 * (head dim ≤ 128, cuBLAS's 32-bit sizes) — then queues the work on the device's single stream ({@link CudaDevice}) and
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
    private final OpChecks.Placement here = this::checkHere;
    private Tensor ones;     // f32[capacity] of 1.0: the vector that turns bias broadcast/reduction into GEMMs
    private Tensor scratch;  // f32[capacity]: u[M, r] when the caller passes none
    private Tensor act16;    // bf16[capacity]: an activation rounded to bf16 for a bf16-weight GEMM
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

    /** Where this backend's tensors live, for {@link OpChecks}: on this device (not the host, not another GPU). */
    private void checkHere(OpCheck c, String name, Tensor t) {
        if (t != null && (t.isHost() || !t.device().equals(device))) {
            throw c.fail("'" + name + "' is on " + t.device() + ", not " + device);
        }
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

    /** bf16 c[m,n] (+)= op(a)·op(b) on cuBLAS with fp32 accumulation (beta 0 or 1). */
    private void gemmBf16(OpCheck c, boolean tA, boolean tB, long m, long n, long k, long a, long lda, long b, long ldb,
            float beta, long cc, long ldc) {
        if (m == 0 || n == 0) return;
        int st = cublas.gemmBf16(tA, tB, int32(c, "M", m), int32(c, "N", n), int32(c, "K", k), a,
                int32(c, "lda", Math.max(1, lda)), b, int32(c, "ldb", Math.max(1, ldb)), beta, cc,
                int32(c, "ldc", Math.max(1, ldc)));
        if (st != 0) {
            throw CudaException.ofCublas(c.op() + " (cuBLAS GemmEx bf16 " + m + "x" + n + "x" + k + ") on " + device, st,
                    CudaException.cublasStatusName(st), c.describeArgs());
        }
    }

    /** src (f32, n elements) rounded to bf16 into {@link #act16} (grown by doubling, kept); returns its address. */
    private long toBf16(OpCheck c, long src, long n) {
        if (act16 == null || act16.numel() < n) {
            long cap = Math.max(n, act16 == null ? 4096 : 2 * act16.numel());
            if (act16 != null) act16.close();
            act16 = null;
            act16 = Tensor.zeros(dev, DType.BF16, cap);
        }
        status(c, cola_cuda_f32_to_bf16(act16.address(), src, n, stream));
        return act16.address();
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

    /**
     * out[m,n] = inp[m,k]·w[n,k]ᵀ (+ bias[n] as ones[m,1]·bias[1,n]). A bf16 w (kept as stored) runs on the tensor
     * cores: inp is rounded to bf16 into {@link #act16} and cuBLAS accumulates in fp32 (the CPU's bf16 path).
     */
    private void linearForward(OpCheck c, Tensor w, long out, long inp, long bias, long m, long k, long n) {
        if (w.dtype() == DType.BF16) gemmBf16(c, false, true, m, n, k, toBf16(c, inp, m * k), k, w.address(), k, 0f, out, n);
        else sgemm(c, false, true, m, n, k, 1f, inp, k, w.address(), k, 0f, out, n);
        if (bias != 0 && m > 0) sgemm(c, false, false, m, n, 1, 1f, ones(m), 1, bias, n, 1f, out, n);
    }

    /** dinp[m,k] += dout·w; dw[n,k] += doutᵀ·inp; db[1,n] += ones[1,m]·dout (each when its address is non-zero). */
    private void linearBackward(OpCheck c, Tensor weight, long dinp, long dw, long db, long dout, long inp, long m,
            long k, long n) {
        long w = weight.address();
        if (dinp != 0 && weight.dtype() == DType.BF16) {
            gemmBf16(c, false, false, m, k, n, toBf16(c, dout, m * n), n, w, k, 1f, dinp, k);
        } else if (dinp != 0) {
            sgemm(c, false, false, m, k, n, 1f, dout, n, w, k, 1f, dinp, k);
        }
        if (dw != 0) sgemm(c, true, false, n, k, m, 1f, dout, n, inp, k, 1f, dw, k);
        if (db != 0 && m > 0) sgemm(c, false, false, 1, n, m, 1f, ones(m), m, dout, n, 1f, db, n);
    }

    // Each op: its checks (OpChecks, the same for every backend, then this backend's own limits), then the work.

    // ---------------------------------------------------------------- GEMM

    @Override
    public void gemm(boolean transA, boolean transB, float alpha, Tensor a, Tensor b, float beta, Tensor c) {
        OpChecks.Gemm g = OpChecks.gemm(here, transA, transB, a, b, c);
        enter();
        sgemm(g.check(), transA, transB, g.m(), g.n(), g.k(), alpha, a.address(), a.dim(1), b.address(), b.dim(1),
                beta, c.address(), g.n());
    }

    /** Every architecture the library is built for (sm_80, sm_90) has bf16 tensor cores. */
    @Override
    public String bf16Support() {
        return "tensor cores";
    }

    @Override
    public void gemmBf16(boolean transA, boolean transB, Tensor a, Tensor b, float beta, Tensor c) {
        OpChecks.Gemm g = OpChecks.gemmBf16(here, transA, transB, a, b, beta, c);
        enter();
        gemmBf16(g.check(), transA, transB, g.m(), g.n(), g.k(), a.address(), a.dim(1), b.address(), b.dim(1), beta,
                c.address(), g.n());
    }

    @Override
    public void gemmBatched(boolean transA, boolean transB, float alpha, Tensor a, Tensor b, float beta, Tensor c) {
        OpChecks.Gemm g = OpChecks.gemmBatched(here, transA, transB, a, b, c);
        OpCheck k = g.check();
        long batch = g.batch(), m = g.m(), n = g.n(), kk = g.k();
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
        OpChecks.Linear l = OpChecks.matmulForward(here, out, inp, weight, bias);
        enter();
        linearForward(l.check(), weight, out.address(), inp.address(), addr(bias), l.m(), l.k(), l.n());
    }

    @Override
    public void matmulBackward(Tensor dinp, Tensor dweight, Tensor dbias, Tensor dout, Tensor inp, Tensor weight) {
        OpChecks.Linear l = OpChecks.matmulBackward(here, dinp, dweight, dbias, dout, inp, weight);
        enter();
        linearBackward(l.check(), weight, addr(dinp), addr(dweight), addr(dbias), dout.address(), addr(inp),
                l.m(), l.k(), l.n());
    }

    // ---------------------------------------------------------------- LoRA

    @Override
    public void loraLinearForward(Tensor y, Tensor u, Tensor x, Tensor w, Tensor b, Tensor a, Tensor bMat, float s,
            float p, long seed) {
        OpChecks.Lora l = OpChecks.loraLinearForward(here, y, u, x, w, b, a, bMat, s, p);
        OpCheck c = l.check();
        long m = l.m(), kk = l.k(), n = l.n(), r = l.r();
        enter();
        // y = x·Wᵀ + b on cuBLAS; then the kernel writes u[M, r] (scratch when the caller keeps none) and adds s·u·Bᵀ.
        linearForward(c, w, y.address(), x.address(), addr(b), m, kk, n);
        long uAddr = u != null ? u.address() : scratch(m * r);
        status(c, cola_cuda_lora_linear_forward(y.address(), uAddr, x.address(), a.address(), bMat.address(), s, p,
                seed, m, kk, n, r, stream));
    }

    @Override
    public void loraLinearBackward(Tensor dx, Tensor dW, Tensor db, Tensor dA, Tensor dB, Tensor v, Tensor dy,
            Tensor x, Tensor u, Tensor w, Tensor a, Tensor bMat, float s, float p, long seed) {
        OpChecks.Lora l = OpChecks.loraLinearBackward(here, dx, dW, db, dA, dB, v, dy, x, u, w, a, bMat, s, p);
        OpCheck c = l.check();
        long m = l.m(), kk = l.k(), n = l.n(), r = l.r();
        enter();
        // Base terms on cuBLAS: dx += dy·W, dW += dyᵀ·x, db += Σ dy.
        linearBackward(c, w, addr(dx), addr(dW), addr(db), dy.address(), x.address(), m, kk, n);
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
        OpChecks.Merge g = OpChecks.mergeLora(here, w, a, bMat, s);
        enter();
        int code;
        long[] unchanged = {0};
        if (w.dtype() == DType.F32) {
            code = cola_cuda_merge_f32(w.address(), a.address(), bMat.address(), s, g.n(), g.k(), g.r(), stream);
        } else {
            code = cola_cuda_merge_bf16(w.address(), a.address(), bMat.address(), s, g.n(), g.k(), g.r(),
                    rounding == Rounding.STOCHASTIC ? 1 : 0, seed, unchanged, stream);
        }
        if (code == 1002) {  // COLA_CUDA_ERR_NONFINITE: decided on the device, W untouched
            throw new NonFiniteException("merge: the delta s·B·A for W " + w.describe()
                    + " is not finite (NaN/Inf in A or B, or overflow); W was not modified");
        }
        status(g.check(), code);
        return unchanged[0];
    }

    /**
     * On the host: a knot is rare (once per link) and the accounting is a reduction the CUDA merge kernel does not
     * have, so W, R, A and B are copied down, merged by the CPU kernel (the reference) and W and R copied back.
     */
    @Override
    public cola.backend.MergeStats mergeLoraBf16(Tensor w, Tensor residual, Tensor a, Tensor bMat, float s,
            Rounding rounding, long seed) {
        OpChecks.mergeLoraBf16(here, w, residual, a, bMat, s);
        enter();
        cola.backend.cpu.CpuBackend cpu = cola.backend.cpu.CpuBackend.get();
        try (Tensor hw = download(w); Tensor hr = residual == null ? null : download(residual);
             Tensor ha = download(a); Tensor hb = download(bMat)) {
            cola.backend.MergeStats st = cpu.mergeLoraBf16(hw, hr, ha, hb, s, rounding, seed);
            w.copyFrom(hw);
            if (residual != null) residual.copyFrom(hr);
            return st;
        }
    }

    // ---------------------------------------------------------------- norms

    @Override
    public void layerNormForward(Tensor out, Tensor mean, Tensor rstd, Tensor inp, Tensor weight, Tensor bias,
            float eps) {
        OpChecks.Rows r = OpChecks.layerNormForward(here, out, mean, rstd, inp, weight, bias, eps);
        enter();
        status(r.check(), cola_cuda_layernorm_forward(out.address(), mean.address(), rstd.address(), inp.address(),
                addr(weight), addr(bias), r.n(), r.c(), eps, stream));
    }

    @Override
    public void layerNormBackward(Tensor dinp, Tensor dweight, Tensor dbias, Tensor dout, Tensor inp, Tensor weight,
            Tensor mean, Tensor rstd) {
        OpChecks.Rows r = OpChecks.layerNormBackward(here, dinp, dweight, dbias, dout, inp, weight, mean, rstd);
        enter();
        status(r.check(), cola_cuda_layernorm_backward(dinp.address(), addr(dweight), addr(dbias), dout.address(),
                inp.address(), addr(weight), mean.address(), rstd.address(), r.n(), r.c(), stream));
    }

    @Override
    public void rmsNormForward(Tensor out, Tensor rstd, Tensor inp, Tensor weight, float eps) {
        OpChecks.Rows r = OpChecks.rmsNormForward(here, out, rstd, inp, weight, eps);
        enter();
        status(r.check(), cola_cuda_rmsnorm_forward(out.address(), rstd.address(), inp.address(), weight.address(),
                r.n(), r.c(), eps, stream));
    }

    @Override
    public void rmsNormBackward(Tensor dinp, Tensor dweight, Tensor dout, Tensor inp, Tensor weight, Tensor rstd) {
        OpChecks.Rows r = OpChecks.rmsNormBackward(here, dinp, dweight, dout, inp, weight, rstd);
        enter();
        status(r.check(), cola_cuda_rmsnorm_backward(dinp.address(), addr(dweight), dout.address(), inp.address(),
                weight.address(), rstd.address(), r.n(), r.c(), stream));
    }

    // ---------------------------------------------------------------- activations

    @Override
    public void geluForward(Tensor out, Tensor inp, GeluApproximation approximation) {
        OpCheck c = OpChecks.geluForward(here, out, inp);
        enter();
        status(c, cola_cuda_gelu_forward(out.address(), inp.address(), inp.numel(), approximation.ordinal(), stream));
    }

    @Override
    public void geluBackward(Tensor dinp, Tensor dout, Tensor inp, GeluApproximation approximation) {
        OpCheck c = OpChecks.geluBackward(here, dinp, dout, inp);
        enter();
        status(c, cola_cuda_gelu_backward(dinp.address(), dout.address(), inp.address(), inp.numel(),
                approximation.ordinal(), stream));
    }

    @Override
    public void reluForward(Tensor out, Tensor inp) {
        OpCheck c = OpChecks.reluForward(here, out, inp);
        enter();
        status(c, cola_cuda_relu_forward(out.address(), inp.address(), inp.numel(), stream));
    }

    @Override
    public void reluBackward(Tensor dinp, Tensor dout, Tensor inp) {
        OpCheck c = OpChecks.reluBackward(here, dinp, dout, inp);
        enter();
        status(c, cola_cuda_relu_backward(dinp.address(), dout.address(), inp.address(), inp.numel(), stream));
    }

    @Override
    public void siluForward(Tensor out, Tensor inp) {
        OpCheck c = OpChecks.siluForward(here, out, inp);
        enter();
        status(c, cola_cuda_silu_forward(out.address(), inp.address(), inp.numel(), stream));
    }

    @Override
    public void siluBackward(Tensor dinp, Tensor dout, Tensor inp) {
        OpCheck c = OpChecks.siluBackward(here, dinp, dout, inp);
        enter();
        status(c, cola_cuda_silu_backward(dinp.address(), dout.address(), inp.address(), inp.numel(), stream));
    }

    @Override
    public void swigluForward(Tensor out, Tensor gate, Tensor up) {
        OpCheck c = OpChecks.swigluForward(here, out, gate, up);
        enter();
        status(c, cola_cuda_swiglu_forward(out.address(), gate.address(), up.address(), gate.numel(), stream));
    }

    @Override
    public void swigluBackward(Tensor dgate, Tensor dup, Tensor dout, Tensor gate, Tensor up) {
        OpCheck c = OpChecks.swigluBackward(here, dgate, dup, dout, gate, up);
        enter();
        status(c, cola_cuda_swiglu_backward(dgate.address(), dup.address(), dout.address(), gate.address(),
                up.address(), gate.numel(), stream));
    }

    @Override
    public void add(Tensor out, Tensor a, Tensor b) {
        OpCheck c = OpChecks.add(here, out, a, b);
        enter();
        status(c, cola_cuda_add_forward(out.address(), a.address(), b.address(), a.numel(), stream));
    }

    // ---------------------------------------------------------------- embedding

    @Override
    public void embeddingForward(Tensor out, Tensor ids, Tensor table) {
        OpChecks.Embedding e = OpChecks.embeddingForward(here, out, ids, table);  // reads the ids back: synchronous
        enter();
        status(e.check(), table.dtype() == DType.BF16
                ? cola_cuda_embedding_bf16_forward(out.address(), ids.address(), table.address(), e.n(), e.v(), e.c(),
                        stream)
                : cola_cuda_embedding_forward(out.address(), ids.address(), table.address(), e.n(), e.v(), e.c(),
                        stream));
    }

    @Override
    public void embeddingBackward(Tensor dtable, Tensor dout, Tensor ids) {
        OpChecks.Embedding e = OpChecks.embeddingBackward(here, dtable, dout, ids);  // reads the ids back: synchronous
        enter();
        status(e.check(), cola_cuda_embedding_backward(dtable.address(), dout.address(), ids.address(), e.n(), e.v(),
                e.c(), stream));
    }

    // ---------------------------------------------------------------- RoPE

    @Override
    public void ropeForward(Tensor out, Tensor inp, Tensor pos, float theta) {
        OpChecks.Rope r = OpChecks.ropeForward(here, out, inp, pos, theta);
        enter();
        status(r.check(), cola_cuda_rope_forward(out.address(), inp.address(), pos.address(), r.n(), r.h(), r.d(),
                theta, stream));
    }

    @Override
    public void ropeBackward(Tensor dinp, Tensor dout, Tensor pos, float theta) {
        OpChecks.Rope r = OpChecks.ropeBackward(here, dinp, dout, pos, theta);
        enter();
        status(r.check(), cola_cuda_rope_backward(dinp.address(), dout.address(), pos.address(), r.n(), r.h(), r.d(),
                theta, stream));
    }

    @Override
    public void ropeForward(Tensor out, Tensor inp, Tensor pos, Tensor invFreq, float scale) {
        OpChecks.Rope r = OpChecks.ropeForward(here, out, inp, pos, invFreq, scale);
        enter();
        status(r.check(), cola_cuda_rope_forward_freqs(out.address(), inp.address(), pos.address(), r.n(), r.h(),
                r.d(), invFreq.address(), scale, stream));
    }

    @Override
    public void ropeBackward(Tensor dinp, Tensor dout, Tensor pos, Tensor invFreq, float scale) {
        OpChecks.Rope r = OpChecks.ropeBackward(here, dinp, dout, pos, invFreq, scale);
        enter();
        status(r.check(), cola_cuda_rope_backward_freqs(dinp.address(), dout.address(), pos.address(), r.n(), r.h(),
                r.d(), invFreq.address(), scale, stream));
    }

    // ---------------------------------------------------------------- attention

    /** The CUDA kernel's limits (attention.cu), checked here so they are an exception naming them, not code 1001. */
    private static OpChecks.Attention attentionLimits(OpChecks.Attention s) {
        long d = s.d(), bhq = s.b() * s.hq();
        s.check().require(d >= 1 && d <= HEAD_DIM_MAX, "head dim D must be in [1, " + HEAD_DIM_MAX + "] on CUDA, got "
                + d).require(bhq <= 65535, "B·Hq = " + bhq + " exceeds the CUDA grid limit 65535");
        return s;
    }

    @Override
    public void attentionForward(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor keyMask, boolean causal,
            int window, float scale) {
        OpChecks.Attention s = attentionLimits(OpChecks.attentionForward(here, out, lse, q, k, v, keyMask, scale));
        OpChecks.attentionWindow(s.check(), causal, window);
        enter();
        status(s.check(), cola_cuda_attention_forward_window(out.address(), lse.address(), q.address(), k.address(),
                v.address(), addr(keyMask), s.b(), s.t(), s.hq(), s.hkv(), s.d(), causal ? 1 : 0, window, scale,
                stream));
    }

    @Override
    public void attentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor q, Tensor k, Tensor v,
            Tensor out, Tensor lse, Tensor keyMask, boolean causal, int window, float scale) {
        OpChecks.Attention s = attentionLimits(OpChecks.attentionBackward(here, dq, dk, dv, dout, q, k, v, out, lse,
                keyMask, scale));
        OpChecks.attentionWindow(s.check(), causal, window);
        enter();
        status(s.check(), cola_cuda_attention_backward_window(dq.address(), dk.address(), dv.address(),
                dout.address(), q.address(), k.address(), v.address(), out.address(), lse.address(), addr(keyMask),
                s.b(), s.t(), s.hq(), s.hkv(), s.d(), causal ? 1 : 0, window, scale, stream));
    }

    // ---------------------------------------------------------------- loss

    @Override
    public void softmaxXentForward(Tensor losses, Tensor lse, Tensor logits, Tensor targets, int ignoreIndex) {
        // Reads the targets back (synchronous), as the embedding ops read their ids.
        OpChecks.Xent x = OpChecks.softmaxXentForward(here, losses, lse, logits, targets, ignoreIndex);
        enter();
        status(x.check(), cola_cuda_softmax_xent_forward(losses.address(), lse.address(), logits.address(),
                targets.address(), x.n(), x.v(), ignoreIndex, stream));
    }

    @Override
    public void softmaxXentBackward(Tensor dlogits, Tensor dlosses, Tensor logits, Tensor lse, Tensor targets,
            int ignoreIndex) {
        OpChecks.Xent x = OpChecks.softmaxXentBackward(here, dlogits, dlosses, logits, lse, targets, ignoreIndex);
        enter();
        status(x.check(), cola_cuda_softmax_xent_backward(dlogits.address(), dlosses.address(), logits.address(),
                lse.address(), targets.address(), x.n(), x.v(), ignoreIndex, stream));
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

    /** For the status of the list ops: the op and its tensor count (listing every shape would be unreadable). */
    private static OpCheck listOp(String op) {
        return new OpCheck(op);
    }

    @Override
    public void adamwStep(List<Tensor> params, List<Tensor> grads, List<Tensor> m, List<Tensor> v,
            AdamWConfig config, long step, float gradScale) {
        OpChecks.adamwStep(here, params, grads, m, v, step, gradScale);
        int n = params.size();
        if (n == 0) return;
        enter();
        status(listOp("adamw_step (" + n + " tensors)"), cola_cuda_adamw_step(addresses(params), addresses(grads),
                addresses(m), addresses(v), sizes(params), n, config.lr(), config.beta1(), config.beta2(),
                config.eps(), config.weightDecay(), step, gradScale, stream));
    }

    @Override
    public double sumSquares(List<Tensor> tensors) {
        OpChecks.sumSquares(here, tensors);
        if (tensors.isEmpty()) return 0.0;
        enter();
        if (normOut == null) normOut = Tensor.zeros(dev, DType.I64, 1);
        status(listOp("sum_squares (" + tensors.size() + " tensors)"), cola_cuda_sum_squares(normOut.address(),
                addresses(tensors), sizes(tensors), tensors.size(), stream));
        return Double.longBitsToDouble(normOut.toLongArray()[0]);  // synchronous: the norm is needed on the host
    }

    @Override
    public void scale(List<Tensor> tensors, float scale) {
        OpChecks.scale(here, tensors);
        if (tensors.isEmpty()) return;
        enter();
        status(listOp("scale (" + tensors.size() + " tensors)"), cola_cuda_scale(addresses(tensors), sizes(tensors),
                tensors.size(), scale, stream));
    }

    // ---------------------------------------------------------------- dropout

    @Override
    public void dropoutForward(Tensor out, Tensor inp, float p, long seed) {
        OpCheck c = OpChecks.dropoutForward(here, out, inp, p);
        enter();
        status(c, cola_cuda_dropout_forward(out.address(), inp.address(), inp.numel(), p, seed, stream));
    }

    @Override
    public void dropoutBackward(Tensor dinp, Tensor dout, float p, long seed) {
        OpCheck c = OpChecks.dropoutBackward(here, dinp, dout, p);
        enter();
        status(c, cola_cuda_dropout_backward(dinp.address(), dout.address(), dout.numel(), p, seed, stream));
    }

    // ---------------------------------------------------------------- layout

    @Override
    public void copyColumns(Tensor small, Tensor wide, long colOffset, boolean intoWide, boolean accumulate) {
        OpChecks.Columns c = OpChecks.copyColumns(here, small, wide, colOffset);
        long cols = c.cols(), ws = c.wideCols(), rows = c.rows();
        enter();
        long wideAddr = wide.address() + colOffset * 4;
        int code = intoWide
                ? cola_cuda_copy_cols(wideAddr, ws, small.address(), cols, rows, cols, accumulate ? 1 : 0, stream)
                : cola_cuda_copy_cols(small.address(), cols, wideAddr, ws, rows, cols, accumulate ? 1 : 0, stream);
        status(c.check(), code);
    }

    // ---------------------------------------------------------------- conversions

    @Override
    public void convert(Tensor dst, Tensor src) {
        OpCheck c = OpChecks.convert(here, dst, src);
        long n = src.numel();
        DType from = src.dtype(), to = dst.dtype();
        enter();
        int code;
        if (from == DType.F32 && to == DType.BF16) code = cola_cuda_f32_to_bf16(dst.address(), src.address(), n, stream);
        else if (from == DType.BF16 && to == DType.F32) code = cola_cuda_bf16_to_f32(dst.address(), src.address(), n, stream);
        else if (from == DType.F32 && to == DType.F16) code = cola_cuda_f32_to_f16(dst.address(), src.address(), n, stream);
        else if (from == DType.F16 && to == DType.F32) code = cola_cuda_f16_to_f32(dst.address(), src.address(), n, stream);
        else {  // from == to (OpChecks.convert allows nothing else): device→device, queued on the stream
            dst.copyFrom(src);
            code = 0;
        }
        status(c, code);
    }
}
