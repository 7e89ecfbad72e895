package cola.bench;

import cola.backend.cpu.CpuBackend;
import cola.tensor.Tensor;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;

/**
 * Scaled-dot-product attention (native/src/attention.cpp), forward and backward, on the model shapes cola fine-tunes.
 * Shapes "name": {@code opt} = OPT-125m, B=8 T=128 H=12 D=64, causal, no mask; {@code bert} = BERT-base, same sizes,
 * bidirectional with a padding mask; {@code minilm} = MiniLM, B=8 T=128 H=12 D=32, bidirectional with a padding mask.
 * The padded sequences have lengths T, 7T/8, …, T/8 (cycling over the batch): 9/16 of the tokens are real.
 *
 * <p>FLOPs per call (the FlashAttention paper's convention, so GFLOP/s compare with published numbers): forward
 * 4·B·H·T²·D (QKᵀ and PV), backward 10·B·H·T²·D (recomputed S, dP, dV, dQ, dK), halved under causal. For B=8, H=12,
 * T=128: D=64 → forward 402.7 MFLOP, backward 1006.6 MFLOP (opt: 201.3 / 503.3); D=32 → 201.3 / 503.3 MFLOP. The
 * kernel skips trailing padding keys, so under a padding mask it does less work than these nominal counts.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class AttentionBench {
    @Param({"opt", "bert", "minilm"})
    public String shape;

    BenchSupport data;
    Tensor q, k, v, out, lse, dout, dq, dk, dv, mask;
    boolean causal;
    float scale;

    @Setup(Level.Trial)
    public void setup() {
        int b = 8, t = 128, h = 12, d = shape.equals("minilm") ? 32 : 64;
        causal = shape.equals("opt");
        scale = (float) (1 / Math.sqrt(d));
        data = new BenchSupport();
        q = data.randn(1f, b, t, h, d);
        k = data.randn(1f, b, t, h, d);
        v = data.randn(1f, b, t, h, d);
        dout = data.randn(1f, b, t, h, d);
        out = data.randn(1f, b, t, h, d);
        lse = data.randn(1f, b, h, t);
        dq = data.randn(1f, b, t, h, d);
        dk = data.randn(1f, b, t, h, d);
        dv = data.randn(1f, b, t, h, d);
        if (!causal) {
            int[] m = new int[b * t];
            for (int bi = 0; bi < b; bi++) {
                int len = t - (bi % 8) * t / 8;
                for (int ti = 0; ti < len; ti++) m[bi * t + ti] = 1;
            }
            mask = data.ints(1, b, t);
            mask.copyFrom(m);
        }
        CpuBackend.get().attentionForward(out, lse, q, k, v, mask, causal, scale);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        data.close();
    }

    @Benchmark
    public void forward() {
        CpuBackend.get().attentionForward(out, lse, q, k, v, mask, causal, scale);
    }

    /** Accumulates into dq, dk, dv (values drift, timing does not depend on them). */
    @Benchmark
    public void backward() {
        CpuBackend.get().attentionBackward(dq, dk, dv, dout, q, k, v, out, lse, mask, causal, scale);
    }
}
