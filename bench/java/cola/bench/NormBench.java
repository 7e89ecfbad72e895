package cola.bench;

import cola.backend.cpu.CpuBackend;
import cola.tensor.Tensor;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;

/**
 * LayerNorm / RMSNorm forward and backward (native/src/norm.cpp) on OPT-125m/BERT-base (C = 768) and MiniLM (C = 384)
 * rows at B·T = 1024 and 4096. All are bandwidth-bound; bytes moved per call (f32, N·C elements; the O(N) and O(C)
 * vectors are negligible):
 * <ul>
 *   <li>layernormForward, rmsnormForward: 8·N·C (read inp, write out);
 *   <li>layernormBackward (dweight + dbias), rmsnormBackward (dweight): 16·N·C (read dout, inp, dinp; write dinp).
 * </ul>
 * e.g. N·C = 4096·768: 25.2 MB forward, 50.3 MB backward. GB/s = bytes / median time.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class NormBench {
    @Param({"1024x768", "4096x768", "1024x384", "4096x384"})
    public String nc;

    BenchSupport data;
    Tensor inp, out, dout, dinp, weight, bias, dweight, dbias, mean, rstd;

    @Setup(Level.Trial)
    public void setup() {
        String[] p = nc.split("x");
        int n = Integer.parseInt(p[0]), c = Integer.parseInt(p[1]);
        data = new BenchSupport();
        inp = data.randn(1f, n, c);
        out = data.randn(1f, n, c);
        dout = data.randn(1f, n, c);
        dinp = data.randn(1f, n, c);
        weight = data.randn(1f, c);
        bias = data.randn(1f, c);
        dweight = data.randn(1f, c);
        dbias = data.randn(1f, c);
        mean = data.randn(1f, n);
        rstd = data.randn(1f, n);
        CpuBackend.get().layerNormForward(out, mean, rstd, inp, weight, bias, 1e-5f);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        data.close();
    }

    @Benchmark
    public void layernormForward() {
        CpuBackend.get().layerNormForward(out, mean, rstd, inp, weight, bias, 1e-5f);
    }

    @Benchmark
    public void layernormBackward() {
        CpuBackend.get().layerNormBackward(dinp, dweight, dbias, dout, inp, weight, mean, rstd);
    }

    @Benchmark
    public void rmsnormForward() {
        CpuBackend.get().rmsNormForward(out, rstd, inp, weight, 1e-5f);
    }

    @Benchmark
    public void rmsnormBackward() {
        CpuBackend.get().rmsNormBackward(dinp, dweight, dout, inp, weight, rstd);
    }
}
