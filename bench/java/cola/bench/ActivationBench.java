package cola.bench;

import cola.backend.GeluApproximation;
import cola.backend.cpu.CpuBackend;
import cola.tensor.Tensor;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;

/**
 * Elementwise activations (native/src/activation.cpp) on the FFN activation of OPT-125m/BERT-base at B·T = 4096
 * (4096×3072 = 12.6 M f32) and a MiniLM-sized 1024×1536 one. Bytes moved per call, n elements of f32:
 * <ul>
 *   <li>gelu/relu/silu forward: 8·n (read inp, write out);
 *   <li>gelu/relu/silu backward: 16·n (read dout, inp, dinp; write dinp);
 *   <li>swiglu forward, add: 12·n (read two, write one);
 *   <li>swiglu backward: 28·n (read dout, gate, up, dgate, dup; write dgate, dup).
 * </ul>
 * e.g. n = 4096·3072: gelu forward 100.7 MB, backward 201.3 MB. GB/s = bytes / median time; the memcpy-like ceiling
 * is the add.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class ActivationBench {
    @Param({"4096x3072", "1024x1536"})
    public String shape;

    BenchSupport data;
    Tensor x, up, out, dout, dinp, dup;

    @Setup(Level.Trial)
    public void setup() {
        String[] p = shape.split("x");
        long r = Long.parseLong(p[0]), c = Long.parseLong(p[1]);
        data = new BenchSupport();
        x = data.randn(1f, r, c);
        up = data.randn(1f, r, c);
        out = data.randn(1f, r, c);
        dout = data.randn(1f, r, c);
        dinp = data.randn(1f, r, c);
        dup = data.randn(1f, r, c);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        data.close();
    }

    @Benchmark
    public void geluErfForward() {
        CpuBackend.get().geluForward(out, x, GeluApproximation.NONE);
    }

    @Benchmark
    public void geluErfBackward() {
        CpuBackend.get().geluBackward(dinp, dout, x, GeluApproximation.NONE);
    }

    @Benchmark
    public void geluTanhForward() {
        CpuBackend.get().geluForward(out, x, GeluApproximation.TANH);
    }

    @Benchmark
    public void geluTanhBackward() {
        CpuBackend.get().geluBackward(dinp, dout, x, GeluApproximation.TANH);
    }

    @Benchmark
    public void reluForward() {
        CpuBackend.get().reluForward(out, x);
    }

    @Benchmark
    public void reluBackward() {
        CpuBackend.get().reluBackward(dinp, dout, x);
    }

    @Benchmark
    public void siluForward() {
        CpuBackend.get().siluForward(out, x);
    }

    @Benchmark
    public void siluBackward() {
        CpuBackend.get().siluBackward(dinp, dout, x);
    }

    @Benchmark
    public void swigluForward() {
        CpuBackend.get().swigluForward(out, x, up);
    }

    @Benchmark
    public void swigluBackward() {
        CpuBackend.get().swigluBackward(dinp, dup, dout, x, up);
    }

    @Benchmark
    public void add() {
        CpuBackend.get().add(out, x, up);
    }
}
