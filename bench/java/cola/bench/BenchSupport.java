package cola.bench;

import cola.tensor.DType;
import cola.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Helpers for the JMH benchmarks: normal random data (never denormals: they cut oneDNN f32 to a few GFLOP/s) and
 * tensors freed at trial teardown.
 *
 * <p>Every benchmark reports time per op in SampleTime mode, so JMH prints the median (p0.50) that bench/RESULTS.md
 * quotes; its javadoc states the FLOPs or bytes moved per call, from which the table derives GFLOP/s or GB/s.
 */
public final class BenchSupport implements AutoCloseable {
    private final Random rng = new Random(42);
    private final List<Tensor> owned = new ArrayList<>();

    public Tensor randn(float std, long... shape) {
        Tensor t = Tensor.zeros(DType.F32, shape);
        float[] a = new float[(int) t.numel()];
        for (int i = 0; i < a.length; i++) a[i] = (float) (rng.nextGaussian() * std);
        t.copyFrom(a);
        owned.add(t);
        return t;
    }

    public Tensor zeros(DType dtype, long... shape) {
        Tensor t = Tensor.zeros(dtype, shape);
        owned.add(t);
        return t;
    }

    public Tensor ints(int bound, long... shape) {
        Tensor t = Tensor.zeros(DType.I32, shape);
        int[] a = new int[(int) t.numel()];
        for (int i = 0; i < a.length; i++) a[i] = rng.nextInt(bound);
        t.copyFrom(a);
        owned.add(t);
        return t;
    }

    @Override
    public void close() {
        for (Tensor t : owned) if (!t.isClosed()) t.close();
        owned.clear();
    }
}
