package cola.bench;

import cola.backend.cpu.CpuBackend;
import cola.tensor.DType;
import cola.tensor.Tensor;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;

/**
 * Fused LoRA linear vs the base layer alone and vs the same LoRA work as separate GEMM calls (PEFT's
 * {@code base(x) + B(A(x))·s}). Shapes "MxKxN": q/v projections of OPT-125m/BERT-base (768) at B·T = 1024 and 4096,
 * MiniLM (384); r = 8, with bias (OPT keeps its frozen biases).
 * FLOPs per forward: base 2·M·N·K, LoRA extra 2·M·r·(K+N) (~2% here). Target: fused ≤ 1.05× base.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class LoraLinearBench {
    @Param({"1024x768x768", "4096x768x768", "4096x384x384"})
    public String mkn;

    @Param({"8"})
    public int r;

    BenchSupport data;
    Tensor x, w, b, a, bm, y, u, dy, dx, dA, dB, v;
    final CpuBackend cpu = CpuBackend.get();

    @Setup(Level.Trial)
    public void setup() {
        String[] p = mkn.split("x");
        int m = Integer.parseInt(p[0]), k = Integer.parseInt(p[1]), n = Integer.parseInt(p[2]);
        data = new BenchSupport();
        x = data.randn(1f, m, k);
        w = data.randn(0.05f, n, k);
        b = data.randn(0.1f, n);
        a = data.randn(0.05f, r, k);
        bm = data.randn(0.05f, n, r);
        y = data.zeros(DType.F32, m, n);
        u = data.zeros(DType.F32, m, r);
        v = data.zeros(DType.F32, m, r);
        dy = data.randn(1f, m, n);
        dx = data.zeros(DType.F32, m, k);
        dA = data.zeros(DType.F32, r, k);
        dB = data.zeros(DType.F32, n, r);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        data.close();
    }

    /** The frozen layer alone: y = x·Wᵀ + b. */
    @Benchmark
    public void baseForward() {
        cpu.matmulForward(y, x, w, b);
    }

    @Benchmark
    public void fusedForward() {
        cpu.loraLinearForward(y, null, x, w, b, a, bm, 2f, 0f, 0);  // as the model calls it: u recomputed in backward
    }

    /** PEFT's order of work as separate library calls: y = x·Wᵀ + b; u = x·Aᵀ; y += s·u·Bᵀ. */
    @Benchmark
    public void separateForward() {
        cpu.matmulForward(y, x, w, b);
        cpu.gemm(false, true, 1f, x, a, 0f, u);
        cpu.gemm(false, true, 2f, u, bm, 1f, y);
    }

    /** The frozen layer's input gradient alone: dx += dy·W. */
    @Benchmark
    public void baseBackward() {
        cpu.matmulBackward(dx, null, null, dy, x, w);
    }

    @Benchmark
    public void fusedBackward() {
        cpu.loraLinearBackward(dx, null, null, dA, dB, v, dy, x, null, w, a, bm, 2f, 0f, 0);  // recomputes u
    }

    /** Separate calls: dx += dy·W; v = dy·B; dx += s·v·A; dA += s·vᵀ·x; dB += s·dyᵀ·u. */
    @Benchmark
    public void separateBackward() {
        cpu.matmulBackward(dx, null, null, dy, x, w);
        cpu.gemm(false, false, 1f, dy, bm, 0f, v);
        cpu.gemm(false, false, 2f, v, a, 1f, dx);
        cpu.gemm(true, false, 2f, v, x, 1f, dA);
        cpu.gemm(true, false, 2f, dy, u, 1f, dB);
    }
}
