package cola.bench;

import cola.backend.AdamWConfig;
import cola.backend.cpu.CpuBackend;
import cola.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;

/**
 * The optimiser step (native/src/optim.cpp) on two parameter sets:
 * <ul>
 *   <li>{@code lora}: the LoRA adapters of OPT-125m on q and v, 12 layers × {q, v} × (A[8,768] + B[768,8]) =
 *       48 tensors of 6,144 = 294,912 elements (the COLA training case: many small tensors);</li>
 *   <li>{@code full}: one 768×768 and one 768×3072 matrix = 2,949,120 elements (full fine-tuning of a block).</li>
 * </ul>
 * Bytes moved per call (E = elements): adamwStep 28·E (reads p, g, m, v; writes p, m, v) = 8.26 MB (lora),
 * 82.6 MB (full); sumSquares 4·E; scale 8·E (a clipping clipGradNorm is
 * sumSquares + scale: 12·E).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class OptimBench {
    @Param({"lora", "full"})
    public String set;

    BenchSupport data;
    List<Tensor> p = new ArrayList<>(), g = new ArrayList<>(), m = new ArrayList<>(), v = new ArrayList<>();
    AdamWConfig config = new AdamWConfig(1e-4f, 0.9f, 0.999f, 1e-8f, 0.01f);
    long step;

    @Setup(Level.Trial)
    public void setup() {
        data = new BenchSupport();
        List<long[]> shapes = new ArrayList<>();
        if (set.equals("lora")) {
            for (int i = 0; i < 12 * 2; i++) {
                shapes.add(new long[] {8, 768});
                shapes.add(new long[] {768, 8});
            }
        } else {
            shapes.add(new long[] {768, 768});
            shapes.add(new long[] {768, 3072});
        }
        for (long[] s : shapes) {
            p.add(data.randn(0.02f, s));
            g.add(data.randn(1e-3f, s));
            m.add(data.randn(1e-4f, s));
            v.add(data.randn(1e-4f, s));
        }
        for (Tensor t : v) {  // v ≥ 0
            float[] x = t.toFloatArray();
            for (int i = 0; i < x.length; i++) x[i] = Math.abs(x[i]);
            t.copyFrom(x);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        data.close();
    }

    @Benchmark
    public void adamwStep() {
        CpuBackend.get().adamwStep(p, g, m, v, config, 1 + (step++ % 1000), 0.5f);
    }

    @Benchmark
    public double sumSquares() {
        return CpuBackend.get().sumSquares(g);
    }

    @Benchmark
    public void scale() {
        CpuBackend.get().scale(g, 1.0000001f);
    }
}
