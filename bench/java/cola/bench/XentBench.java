package cola.bench;

import cola.backend.cpu.CpuBackend;
import cola.tensor.Tensor;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;

/**
 * Fused softmax cross-entropy (native/src/xent.cpp) at the OPT/GPT-2 padded vocabulary V = 50272.
 * Bytes moved per call: forward 4·N·V (one read of the logits; the block max and the exp sum share it through L1);
 * backward, in place as in training, 8·N·V (read the logits, write dlogits over them). N = 1024: 206 MB forward,
 * 412 MB backward; N = 4096 needs an 823 MB logits buffer (run with 1024 only if memory is tight).
 * The in-place backward turns the logits into gradients; later iterations time the same work on those values.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class XentBench {
    @Param({"1024", "4096"})
    public int n;

    static final int V = 50272;
    BenchSupport data;
    Tensor logits, targets, losses, lse, dlosses;

    @Setup(Level.Trial)
    public void setup() {
        data = new BenchSupport();
        logits = data.randn(2f, n, V);
        targets = data.ints(V, n);
        losses = data.randn(1f, n);
        lse = data.randn(1f, n);
        dlosses = data.randn(1f, n);
        CpuBackend.get().softmaxXentForward(losses, lse, logits, targets, -100);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        data.close();
    }

    @Benchmark
    public void forward() {
        CpuBackend.get().softmaxXentForward(losses, lse, logits, targets, -100);
    }

    @Benchmark
    public void backwardInPlace() {
        CpuBackend.get().softmaxXentBackward(logits, dlosses, logits, lse, targets, -100);
    }
}
