package cola.backend;

import cola.backend.cpu.CpuBackend;
import cola.tensor.Arena;
import cola.tensor.DType;
import cola.tensor.Device;
import cola.tensor.FakeDeviceMemory;
import cola.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Test support: a backend that behaves like a GPU backend to the model code (its device is cuda:7, its tensors and
 * arenas are device tensors of a {@link FakeDeviceMemory}, host access goes through the staged copies) but computes
 * with the CPU kernels, so results must equal {@link CpuBackend}'s bit for bit.
 *
 * <p>Every op first checks that EVERY tensor argument (optional ones when given, each element of the optimiser's
 * lists) is a live tensor of this device, and throws {@link IllegalArgumentException} naming the op and the argument
 * otherwise ("relu_forward: 'inp' is on cpu, not cuda:7", as CudaBackend says). Then it views each argument's memory as
 * a host tensor ({@link FakeDeviceMemory.Scope#hostAlias}: the fake device memory IS host memory) and calls the same
 * method of {@link CpuBackend} on the views: the CPU's validation and kernels, unchanged. A model path that hands an
 * op a host tensor (a weight loaded but not uploaded, a gradient from {@code Tensor.zeros}) fails here, as it would on
 * a GPU. It also counts calls per op, so a test can see which ops a run exercised.
 *
 * <p>Like the compiler, this class makes sure no op is forgotten: a new Backend method does not compile here until it
 * is forwarded with its checks.
 */
public final class FakeDeviceBackend implements Backend {
    private final FakeDeviceMemory memory;
    private final CpuBackend cpu = CpuBackend.get();
    private final Map<String, Integer> calls = new TreeMap<>();

    public FakeDeviceBackend() {
        this(new FakeDeviceMemory(Device.cuda(7)));
    }

    public FakeDeviceBackend(FakeDeviceMemory memory) {
        this.memory = memory;
    }

    public FakeDeviceMemory memory() {
        return memory;
    }

    /** Op name → how many times it ran. */
    public Map<String, Integer> calls() {
        return calls;
    }

    @Override
    public String name() {
        return "fake-" + memory.device();
    }

    @Override
    public Device device() {
        return memory.device();
    }

    @Override
    public Tensor zeros(DType dtype, long... shape) {
        return Tensor.zeros(memory, dtype, shape);
    }

    @Override
    public Arena newArena(long initialBytes) {
        return new Arena(memory, initialBytes);
    }

    @Override
    public Tensor upload(Tensor host) {
        count("upload");
        if (host == null || !host.isHost()) {
            throw new IllegalArgumentException("upload: 'tensor' is " + (host == null ? "null" : "on " + host.device())
                    + ", not the host");
        }
        Tensor t = Tensor.zeros(memory, host.dtype(), host.shape());
        t.copyFrom(host);
        return t;
    }

    @Override
    public Tensor download(Tensor onDevice) {
        count("download");
        new Call("download").t("tensor", onDevice);
        Tensor h = Tensor.zeros(onDevice.dtype(), onDevice.shape());
        h.copyFrom(onDevice);
        return h;
    }

    // ---------------------------------------------------------------- checks and host views

    private void count(String op) {
        calls.merge(op, 1, Integer::sum);
    }

    /** One op call: checks each argument's device and hands back its host view. */
    private final class Call {
        final String op;
        final FakeDeviceMemory.Scope scope = memory.scope();

        Call(String op) {
            this.op = op;
            count(op);
        }

        /** A required tensor argument. */
        Tensor t(String name, Tensor t) {
            if (t == null) throw new IllegalArgumentException(op + ": '" + name + "' is null");
            return opt(name, t);
        }

        /** An optional tensor argument (null passes through). */
        Tensor opt(String name, Tensor t) {
            if (t == null) return null;
            if (t.isHost() || !t.device().equals(device())) {
                throw new IllegalArgumentException(op + ": '" + name + "' is on " + t.device() + ", not " + device()
                        + " (" + t + ")");
            }
            return scope.hostAlias(t);
        }

        List<Tensor> list(String name, List<Tensor> ts) {
            if (ts == null) throw new IllegalArgumentException(op + ": '" + name + "' list is null");
            List<Tensor> out = new ArrayList<>(ts.size());
            for (int i = 0; i < ts.size(); i++) out.add(t(name + "[" + i + "]", ts.get(i)));
            return out;
        }
    }

    // ---------------------------------------------------------------- GEMM

    @Override
    public void gemm(boolean transA, boolean transB, float alpha, Tensor a, Tensor b, float beta, Tensor c) {
        Call k = new Call("gemm");
        cpu.gemm(transA, transB, alpha, k.t("a", a), k.t("b", b), beta, k.t("c", c));
    }

    @Override
    public void gemmBf16(boolean transA, boolean transB, Tensor a, Tensor b, float beta, Tensor c) {
        Call k = new Call("gemm_bf16");
        cpu.gemmBf16(transA, transB, k.t("a", a), k.t("b", b), beta, k.t("c", c));
    }

    @Override
    public void gemmBatched(boolean transA, boolean transB, float alpha, Tensor a, Tensor b, float beta, Tensor c) {
        Call k = new Call("gemm_batched");
        cpu.gemmBatched(transA, transB, alpha, k.t("a", a), k.t("b", b), beta, k.t("c", c));
    }

    // ---------------------------------------------------------------- linear

    @Override
    public void matmulForward(Tensor out, Tensor inp, Tensor weight, Tensor bias) {
        Call k = new Call("matmul_forward");
        cpu.matmulForward(k.t("out", out), k.t("inp", inp), k.t("weight", weight), k.opt("bias", bias));
    }

    @Override
    public void matmulBackward(Tensor dinp, Tensor dweight, Tensor dbias, Tensor dout, Tensor inp, Tensor weight) {
        Call k = new Call("matmul_backward");
        cpu.matmulBackward(k.opt("dinp", dinp), k.opt("dweight", dweight), k.opt("dbias", dbias), k.t("dout", dout),
                k.opt("inp", inp), k.t("weight", weight));
    }

    // ---------------------------------------------------------------- LoRA

    @Override
    public void loraLinearForward(Tensor y, Tensor u, Tensor x, Tensor w, Tensor b, Tensor a, Tensor bMat, float s,
            float p, long seed) {
        Call k = new Call("lora_linear_forward");
        cpu.loraLinearForward(k.t("y", y), k.opt("u", u), k.t("x", x), k.t("W", w), k.opt("b", b), k.t("A", a),
                k.t("B", bMat), s, p, seed);
    }

    @Override
    public void loraLinearBackward(Tensor dx, Tensor dW, Tensor db, Tensor dA, Tensor dB, Tensor v, Tensor dy,
            Tensor x, Tensor u, Tensor w, Tensor a, Tensor bMat, float s, float p, long seed) {
        Call k = new Call("lora_linear_backward");
        cpu.loraLinearBackward(k.opt("dx", dx), k.opt("dW", dW), k.opt("db", db), k.t("dA", dA), k.t("dB", dB),
                k.t("v", v), k.t("dy", dy), k.t("x", x), k.opt("u", u), k.t("W", w), k.t("A", a), k.t("B", bMat), s, p,
                seed);
    }

    // ---------------------------------------------------------------- merge

    @Override
    public long mergeLora(Tensor w, Tensor a, Tensor bMat, float s, Rounding rounding, long seed) {
        Call k = new Call("merge");
        return cpu.mergeLora(k.t("W", w), k.t("A", a), k.t("B", bMat), s, rounding, seed);
    }

    @Override
    public cola.backend.MergeStats mergeLoraBf16(Tensor w, Tensor residual, Tensor a, Tensor bMat, float s,
            Rounding rounding, long seed) {
        Call k = new Call("merge_bf16");
        return cpu.mergeLoraBf16(k.t("W", w), k.opt("R", residual), k.t("A", a),
                k.t("B", bMat), s, rounding, seed);
    }

    // ---------------------------------------------------------------- norms

    @Override
    public void layerNormForward(Tensor out, Tensor mean, Tensor rstd, Tensor inp, Tensor weight, Tensor bias,
            float eps) {
        Call k = new Call("layernorm_forward");
        cpu.layerNormForward(k.t("out", out), k.t("mean", mean), k.t("rstd", rstd), k.t("inp", inp),
                k.opt("weight", weight), k.opt("bias", bias), eps);
    }

    @Override
    public void layerNormBackward(Tensor dinp, Tensor dweight, Tensor dbias, Tensor dout, Tensor inp, Tensor weight,
            Tensor mean, Tensor rstd) {
        Call k = new Call("layernorm_backward");
        cpu.layerNormBackward(k.t("dinp", dinp), k.opt("dweight", dweight), k.opt("dbias", dbias), k.t("dout", dout),
                k.t("inp", inp), k.opt("weight", weight), k.t("mean", mean), k.t("rstd", rstd));
    }

    @Override
    public void rmsNormForward(Tensor out, Tensor rstd, Tensor inp, Tensor weight, float eps) {
        Call k = new Call("rmsnorm_forward");
        cpu.rmsNormForward(k.t("out", out), k.t("rstd", rstd), k.t("inp", inp), k.t("weight", weight), eps);
    }

    @Override
    public void rmsNormBackward(Tensor dinp, Tensor dweight, Tensor dout, Tensor inp, Tensor weight, Tensor rstd) {
        Call k = new Call("rmsnorm_backward");
        cpu.rmsNormBackward(k.t("dinp", dinp), k.opt("dweight", dweight), k.t("dout", dout), k.t("inp", inp),
                k.t("weight", weight), k.t("rstd", rstd));
    }

    // ---------------------------------------------------------------- activations

    @Override
    public void geluForward(Tensor out, Tensor inp, GeluApproximation approximation) {
        Call k = new Call("gelu_forward");
        cpu.geluForward(k.t("out", out), k.t("inp", inp), approximation);
    }

    @Override
    public void geluBackward(Tensor dinp, Tensor dout, Tensor inp, GeluApproximation approximation) {
        Call k = new Call("gelu_backward");
        cpu.geluBackward(k.t("dinp", dinp), k.t("dout", dout), k.t("inp", inp), approximation);
    }

    @Override
    public void reluForward(Tensor out, Tensor inp) {
        Call k = new Call("relu_forward");
        cpu.reluForward(k.t("out", out), k.t("inp", inp));
    }

    @Override
    public void reluBackward(Tensor dinp, Tensor dout, Tensor inp) {
        Call k = new Call("relu_backward");
        cpu.reluBackward(k.t("dinp", dinp), k.t("dout", dout), k.t("inp", inp));
    }

    @Override
    public void siluForward(Tensor out, Tensor inp) {
        Call k = new Call("silu_forward");
        cpu.siluForward(k.t("out", out), k.t("inp", inp));
    }

    @Override
    public void siluBackward(Tensor dinp, Tensor dout, Tensor inp) {
        Call k = new Call("silu_backward");
        cpu.siluBackward(k.t("dinp", dinp), k.t("dout", dout), k.t("inp", inp));
    }

    @Override
    public void swigluForward(Tensor out, Tensor gate, Tensor up) {
        Call k = new Call("swiglu_forward");
        cpu.swigluForward(k.t("out", out), k.t("gate", gate), k.t("up", up));
    }

    @Override
    public void swigluBackward(Tensor dgate, Tensor dup, Tensor dout, Tensor gate, Tensor up) {
        Call k = new Call("swiglu_backward");
        cpu.swigluBackward(k.t("dgate", dgate), k.t("dup", dup), k.t("dout", dout), k.t("gate", gate), k.t("up", up));
    }

    @Override
    public void add(Tensor out, Tensor a, Tensor b) {
        Call k = new Call("add");
        cpu.add(k.t("out", out), k.t("a", a), k.t("b", b));
    }

    // ---------------------------------------------------------------- embedding

    @Override
    public void embeddingForward(Tensor out, Tensor ids, Tensor table) {
        Call k = new Call("embedding_forward");
        cpu.embeddingForward(k.t("out", out), k.t("ids", ids), k.t("table", table));
    }

    @Override
    public void embeddingBackward(Tensor dtable, Tensor dout, Tensor ids) {
        Call k = new Call("embedding_backward");
        cpu.embeddingBackward(k.t("dtable", dtable), k.t("dout", dout), k.t("ids", ids));
    }

    // ---------------------------------------------------------------- RoPE

    @Override
    public void ropeForward(Tensor out, Tensor inp, Tensor pos, float theta) {
        Call k = new Call("rope_forward");
        cpu.ropeForward(k.t("out", out), k.t("inp", inp), k.t("pos", pos), theta);
    }

    @Override
    public void ropeForward(Tensor out, Tensor inp, Tensor pos, Tensor invFreq, float scale) {
        Call k = new Call("rope_forward");
        cpu.ropeForward(k.t("out", out), k.t("inp", inp), k.t("pos", pos), k.t("inv_freq", invFreq), scale);
    }

    @Override
    public void ropeBackward(Tensor dinp, Tensor dout, Tensor pos, Tensor invFreq, float scale) {
        Call k = new Call("rope_backward");
        cpu.ropeBackward(k.t("dinp", dinp), k.t("dout", dout), k.t("pos", pos), k.t("inv_freq", invFreq), scale);
    }

    @Override
    public void ropeBackward(Tensor dinp, Tensor dout, Tensor pos, float theta) {
        Call k = new Call("rope_backward");
        cpu.ropeBackward(k.t("dinp", dinp), k.t("dout", dout), k.t("pos", pos), theta);
    }

    // ---------------------------------------------------------------- attention

    @Override
    public void attentionForward(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor keyMask, boolean causal,
            int window, float scale) {
        Call c = new Call("attention_forward");
        cpu.attentionForward(c.t("out", out), c.t("lse", lse), c.t("q", q), c.t("k", k), c.t("v", v),
                c.opt("keyMask", keyMask), causal, window, scale);
    }

    @Override
    public void attentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor q, Tensor k, Tensor v,
            Tensor out, Tensor lse, Tensor keyMask, boolean causal, int window, float scale) {
        Call c = new Call("attention_backward");
        cpu.attentionBackward(c.t("dq", dq), c.t("dk", dk), c.t("dv", dv), c.t("dout", dout), c.t("q", q), c.t("k", k),
                c.t("v", v), c.t("out", out), c.t("lse", lse), c.opt("keyMask", keyMask), causal, window, scale);
    }

    // ---------------------------------------------------------------- loss

    @Override
    public void softmaxXentForward(Tensor losses, Tensor lse, Tensor logits, Tensor targets, int ignoreIndex) {
        Call k = new Call("softmax_xent_forward");
        cpu.softmaxXentForward(k.t("losses", losses), k.t("lse", lse), k.t("logits", logits), k.t("targets", targets),
                ignoreIndex);
    }

    @Override
    public void softmaxXentBackward(Tensor dlogits, Tensor dlosses, Tensor logits, Tensor lse, Tensor targets,
            int ignoreIndex) {
        Call k = new Call("softmax_xent_backward");
        cpu.softmaxXentBackward(k.t("dlogits", dlogits), k.t("dlosses", dlosses), k.t("logits", logits),
                k.t("lse", lse), k.t("targets", targets), ignoreIndex);
    }

    // ---------------------------------------------------------------- optimiser

    @Override
    public void adamwStep(List<Tensor> params, List<Tensor> grads, List<Tensor> m, List<Tensor> v, AdamWConfig config,
            long step, float gradScale) {
        Call k = new Call("adamw_step");
        cpu.adamwStep(k.list("params", params), k.list("grads", grads), k.list("m", m), k.list("v", v), config, step,
                gradScale);
    }

    @Override
    public double sumSquares(List<Tensor> tensors) {
        Call k = new Call("sum_squares");
        return cpu.sumSquares(k.list("tensors", tensors));
    }

    @Override
    public void scale(List<Tensor> tensors, float scale) {
        Call k = new Call("scale");
        cpu.scale(k.list("tensors", tensors), scale);
    }

    // ---------------------------------------------------------------- dropout

    @Override
    public void dropoutForward(Tensor out, Tensor inp, float p, long seed) {
        Call k = new Call("dropout_forward");
        cpu.dropoutForward(k.t("out", out), k.t("inp", inp), p, seed);
    }

    @Override
    public void dropoutBackward(Tensor dinp, Tensor dout, float p, long seed) {
        Call k = new Call("dropout_backward");
        cpu.dropoutBackward(k.t("dinp", dinp), k.t("dout", dout), p, seed);
    }

    // ---------------------------------------------------------------- layout

    @Override
    public void copyColumns(Tensor small, Tensor wide, long colOffset, boolean intoWide, boolean accumulate) {
        Call k = new Call("copy_columns");
        cpu.copyColumns(k.t("small", small), k.t("wide", wide), colOffset, intoWide, accumulate);
    }

    // ---------------------------------------------------------------- conversions

    @Override
    public void convert(Tensor dst, Tensor src) {
        Call k = new Call("convert");
        cpu.convert(k.t("dst", dst), k.t("src", src));
    }
}
