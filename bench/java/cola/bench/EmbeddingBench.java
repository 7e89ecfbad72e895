package cola.bench;

import cola.backend.cpu.CpuBackend;
import cola.tensor.DType;
import cola.tensor.Tensor;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;

/**
 * Token embedding (native/src/embedding.cpp): N = B·T ids into a [V, C] table, V = 50272, C = 768 (OPT-125m).
 * Bytes moved per call: forward 8·N·C + 4·N (gather the rows, write out); backward ≈ 12·N·C (read dout, read and
 * write the touched dtable rows; repeats hit cache). N = 4096: 25 MB forward, 38 MB backward.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class EmbeddingBench {
    @Param({"1024", "4096"})
    public int n;

    static final int V = 50272, C = 768;
    BenchSupport data;
    Tensor table, dtable, ids, out, dout;

    @Setup(Level.Trial)
    public void setup() {
        data = new BenchSupport();
        table = data.randn(0.02f, V, C);
        dtable = data.zeros(DType.F32, V, C);
        ids = data.ints(V, n);
        out = data.zeros(DType.F32, n, C);
        dout = data.randn(1f, n, C);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        data.close();
    }

    @Benchmark
    public void forward() {
        CpuBackend.get().embeddingForward(out, ids, table);
    }

    @Benchmark
    public void backward() {
        CpuBackend.get().embeddingBackward(dtable, dout, ids);
    }
}
