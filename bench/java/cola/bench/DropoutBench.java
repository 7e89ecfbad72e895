package cola.bench;

import cola.backend.cpu.CpuBackend;
import cola.tensor.DType;
import cola.tensor.Tensor;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;

/**
 * Dropout (native/src/dropout.cpp) on n floats: n = 4096·768 (an OPT-125m activation at B·T = 4096) and 4096·3072
 * (its MLP hidden). Bytes moved per call: forward 8·n (read, write), backward 12·n (read dout, read and write dinp).
 * p = 0 takes the no-hash path — forward is then a parallel memcpy, the bandwidth baseline for the bandwidth-bound
 * ops of this family; p = 0.1 pays the counter-based hash (two 64-bit mixes per element).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class DropoutBench {
    @Param({"3145728", "12582912"})
    public int n;

    @Param({"0.0", "0.1"})
    public float p;

    BenchSupport data;
    Tensor x, out, dout, dx;

    @Setup(Level.Trial)
    public void setup() {
        data = new BenchSupport();
        x = data.randn(1f, n);
        dout = data.randn(1f, n);
        out = data.zeros(DType.F32, n);
        dx = data.zeros(DType.F32, n);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        data.close();
    }

    @Benchmark
    public void forward() {
        CpuBackend.get().dropoutForward(out, x, p, 1234);
    }

    @Benchmark
    public void backward() {
        CpuBackend.get().dropoutBackward(dx, dout, p, 1234);
    }
}
