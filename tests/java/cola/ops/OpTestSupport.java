package cola.ops;

import static org.junit.jupiter.api.Assertions.fail;

import cola.backend.cpu.CpuBackend;
import cola.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Supplier;

/**
 * Shared machinery of the op tests: random data, tensors that close themselves, closeness metrics that mean something
 * in f32, and a central finite-difference gradient check.
 *
 * <p>Pattern of an op test (see LinearOpTest): (1) forward of the native kernel vs a plain-Java double reference on
 * random shapes including odd sizes; (2) backward vs the double reference's analytic gradient; (3) backward vs central
 * finite differences of the NATIVE forward through a random projection L = Σ out·G; (4) misuse → IllegalArgumentException.
 */
public final class OpTestSupport implements AutoCloseable {
    /** Odd and even sizes that catch remainder loops, SIMD tails and thread splits. */
    public static final int[] ODD_SIZES = {1, 7, 33, 129};

    public final CpuBackend cpu = CpuBackend.get();
    public final Random rng;
    private final List<Tensor> owned = new ArrayList<>();

    public OpTestSupport(long seed) {
        this.rng = new Random(seed);
    }

    // ---------------------------------------------------------------- data

    public float[] randn(int n) {
        return randn(n, 1.0);
    }

    public float[] randn(int n, double std) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (rng.nextGaussian() * std);
        return a;
    }

    public float[] uniform(int n, double lo, double hi) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (lo + (hi - lo) * rng.nextDouble());
        return a;
    }

    public int[] randint(int n, int bound) {
        int[] a = new int[n];
        for (int i = 0; i < n; i++) a[i] = rng.nextInt(bound);
        return a;
    }

    /** A tensor closed with this support object. */
    public Tensor track(Tensor t) {
        owned.add(t);
        return t;
    }

    public Tensor f32(float[] data, long... shape) {
        return track(Tensor.of(data, shape));
    }

    /** A bf16 tensor holding {@code data} rounded to nearest even (what a bf16 checkpoint stores). */
    public Tensor bf16(float[] data, long... shape) {
        short[] h = new short[data.length];
        for (int i = 0; i < h.length; i++) h[i] = cola.tensor.Half.floatToBf16(data[i]);
        Tensor t = track(Tensor.zeros(cola.tensor.DType.BF16, shape));
        t.copyFrom(h);
        return t;
    }

    /** data rounded to bf16 and back: the values a bf16 kernel actually multiplies. */
    public static float[] roundBf16(float[] data) {
        float[] out = new float[data.length];
        for (int i = 0; i < out.length; i++) out[i] = cola.tensor.Half.bf16ToFloat(cola.tensor.Half.floatToBf16(data[i]));
        return out;
    }

    public Tensor i32(int[] data, long... shape) {
        return track(Tensor.ofInts(data, shape));
    }

    public Tensor zeros(long... shape) {
        return track(Tensor.zeros(cola.tensor.DType.F32, shape));
    }

    public static double[] toDouble(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) d[i] = a[i];
        return d;
    }

    // ---------------------------------------------------------------- closeness

    /**
     * Element-wise |actual - expected| ≤ atol + rtol·|expected|; the message names the first bad index and the worst
     * error.
     */
    public static void assertClose(String what, double[] expected, float[] actual, double rtol, double atol) {
        if (expected.length != actual.length) fail(what + ": length " + actual.length + " != " + expected.length);
        int bad = -1;
        double worst = 0;
        for (int i = 0; i < expected.length; i++) {
            double err = Math.abs(actual[i] - expected[i]);
            double allowed = atol + rtol * Math.abs(expected[i]);
            if (!(err <= allowed)) {
                if (bad < 0) bad = i;
            }
            if (err > worst || Double.isNaN(err)) worst = err;
        }
        if (bad >= 0) {
            fail(String.format("%s: element %d is %s, expected %s (rtol %.1e, atol %.1e; worst abs error %.3e)",
                    what, bad, actual[bad], expected[bad], rtol, atol, worst));
        }
    }

    /**
     * max|a - e| / max(max|e|, floor): an error relative to the tensor's scale, meaningful for gradients whose
     * individual elements may be near zero.
     */
    public static double scaledError(double[] expected, double[] actual) {
        double maxAbs = 1e-12, maxErr = 0;
        for (int i = 0; i < expected.length; i++) {
            maxAbs = Math.max(maxAbs, Math.abs(expected[i]));
            maxErr = Math.max(maxErr, Math.abs(expected[i] - actual[i]));
        }
        return maxErr / maxAbs;
    }

    public static void assertScaledClose(String what, double[] expected, float[] actual, double tol) {
        double err = scaledError(expected, toDouble(actual));
        if (!(err <= tol)) fail(String.format("%s: scaled error %.3e > %.1e", what, err, tol));
    }

    // ---------------------------------------------------------------- finite differences

    /**
     * Central finite differences of a scalar loss with respect to {@code x} (the data of tensor {@code xt}), checked
     * against {@code analytic}. The loss is evaluated in f32 by native code, so: step h = 1e-2·max(1, |x|), the loss is
     * accumulated in double, and the metric is the error scaled by the gradient's infinity norm (tolerance ~1e-2 is
     * tight for f32 and still catches a wrong sign, a missing term or a factor of 2). At most {@code samples} randomly
     * chosen coordinates are probed.
     */
    public void checkGradient(String what, Tensor xt, float[] analytic, Supplier<Double> loss, int samples, double tol) {
        float[] x = xt.toFloatArray();
        int n = x.length;
        int[] idx = new int[Math.min(samples, n)];
        if (idx.length == n) {
            for (int i = 0; i < n; i++) idx[i] = i;
        } else {
            for (int i = 0; i < idx.length; i++) idx[i] = rng.nextInt(n);
        }
        double[] fd = new double[idx.length];
        double[] an = new double[idx.length];
        for (int j = 0; j < idx.length; j++) {
            int i = idx[j];
            float orig = x[i];
            float h = 1e-2f * Math.max(1f, Math.abs(orig));
            x[i] = orig + h;
            xt.copyFrom(x);
            double lp = loss.get();
            x[i] = orig - h;
            xt.copyFrom(x);
            double lm = loss.get();
            x[i] = orig;
            xt.copyFrom(x);
            double hp = (double) (orig + h) - orig, hm = (double) orig - (orig - h);  // exact steps in f32
            fd[j] = (lp - lm) / (hp + hm);
            an[j] = analytic[i];
        }
        double err = scaledError(fd, an);
        if (!(err <= tol)) {
            StringBuilder sb = new StringBuilder();
            for (int j = 0; j < Math.min(5, idx.length); j++) {
                sb.append(String.format(" [%d] fd=%.5g analytic=%.5g;", idx[j], fd[j], an[j]));
            }
            fail(String.format("%s: finite-difference scaled error %.3e > %.1e;%s", what, err, tol, sb));
        }
    }

    /** Σ out·g in double: the random projection that turns an op into a scalar loss for finite differences. */
    public static double dot(float[] out, float[] g) {
        double s = 0;
        for (int i = 0; i < out.length; i++) s += (double) out[i] * g[i];
        return s;
    }

    @Override
    public void close() {
        for (Tensor t : owned) {
            if (!t.isClosed()) t.close();
        }
        owned.clear();
    }
}
