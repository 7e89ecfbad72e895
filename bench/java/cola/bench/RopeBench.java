package cola.bench;

import cola.backend.cpu.CpuBackend;
import cola.tensor.DType;
import cola.tensor.Tensor;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;

/**
 * RoPE (native/src/rope.cpp) on [N, H, D] with N = B·T = 4096 rows, positions 0..T-1 repeated per sequence (T = 1024).
 * Shapes "H,D": TinyLlama (32 heads × 64), Llama-7B (32 × 128). Bytes moved per call: forward 8·N·H·D (read, write;
 * in place as in training); backward 12·N·H·D (read dout, read and write dinp). The per-row sin/cos (D/2 pairs,
 * double precision) is amortised over the H heads. 4096×32×128: 67 MB forward, 101 MB backward.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class RopeBench {
    @Param({"32x64", "32x128"})
    public String hd;

    static final int N = 4096, T = 1024;
    BenchSupport data;
    Tensor x, dx, dout, pos;

    @Setup(Level.Trial)
    public void setup() {
        String[] p = hd.split("x");
        int h = Integer.parseInt(p[0]), d = Integer.parseInt(p[1]);
        data = new BenchSupport();
        x = data.randn(1f, N, h, d);
        dout = data.randn(1f, N, h, d);
        dx = data.zeros(DType.F32, N, h, d);
        pos = data.zeros(DType.I32, N);
        int[] ps = new int[N];
        for (int i = 0; i < N; i++) ps[i] = i % T;
        pos.copyFrom(ps);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        data.close();
    }

    @Benchmark
    public void forwardInPlace() {
        CpuBackend.get().ropeForward(x, x, pos, 10000f);
    }

    @Benchmark
    public void backward() {
        CpuBackend.get().ropeBackward(dx, dout, pos, 10000f);
    }
}
