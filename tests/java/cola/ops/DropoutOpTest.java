package cola.ops;

import static cola.ops.OpTestSupport.dot;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cola.backend.cpu.CpuBackend;
import cola.tensor.DType;
import cola.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Inverted dropout with a counter-based mask (native/src/dropout.cpp, mask function in native/src/common.h). */
class DropoutOpTest {

    // ---------------------------------------------------------------- reference: the mask, ported from common.h

    static long mix64(long z) {
        z += 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** cola::dropout_keep(seed, i, p): 24 random bits of mix64(seed ^ mix64(i)) as a uniform in [0, 1), ≥ p. */
    static boolean keep(long seed, long i, float p) {
        float u = (float) (mix64(seed ^ mix64(i)) >>> 40) * (1.0f / 16777216.0f);
        return u >= p;
    }

    static float[] dropoutRef(float[] x, float p, long seed) {
        float scale = 1.0f / (1.0f - p), out[] = new float[x.length];
        for (int i = 0; i < x.length; i++) out[i] = keep(seed, i, p) ? x[i] * scale : 0f;
        return out;
    }

    @ParameterizedTest(name = "n={0}")
    @ValueSource(ints = {1, 7, 33, 129, 100_003})
    void forwardAndBackwardMatchTheMaskReferenceExactly(int n) {
        try (OpTestSupport s = new OpTestSupport(n)) {
            for (float p : new float[] {0.1f, 0.5f, 0.9f}) {
                long seed = 0x1234_5678_9abcL + n;
                float[] x = s.randn(n), g = s.randn(n), dx0 = s.randn(n);
                Tensor out = s.f32(s.randn(n), n);
                s.cpu.dropoutForward(out, s.f32(x, n), p, seed);
                assertArrayEquals(dropoutRef(x, p, seed), out.toFloatArray(), "forward p=" + p);

                Tensor dx = s.f32(dx0, n);  // non-zero: backward accumulates
                s.cpu.dropoutBackward(dx, s.f32(g, n), p, seed);
                float[] masked = dropoutRef(g, p, seed), expect = new float[n];
                for (int i = 0; i < n; i++) expect[i] = dx0[i] + masked[i];
                assertArrayEquals(expect, dx.toFloatArray(), "backward p=" + p);

                // in place (out == inp)
                Tensor xt = s.f32(x, n);
                s.cpu.dropoutForward(xt, xt, p, seed);
                assertArrayEquals(dropoutRef(x, p, seed), xt.toFloatArray(), "in-place p=" + p);
            }
        }
    }

    @Test
    void zeroProbabilityIsAnExactCopyAndAccumulate() {
        try (OpTestSupport s = new OpTestSupport(2)) {
            int n = 1001;
            float[] x = s.randn(n), g = s.randn(n), dx0 = s.randn(n);
            Tensor out = s.zeros(n);
            s.cpu.dropoutForward(out, s.f32(x, n), 0f, 99);
            assertArrayEquals(x, out.toFloatArray());
            Tensor dx = s.f32(dx0, n);
            s.cpu.dropoutBackward(dx, s.f32(g, n), 0f, 99);
            float[] expect = new float[n];
            for (int i = 0; i < n; i++) expect[i] = dx0[i] + g[i];
            assertArrayEquals(expect, dx.toFloatArray());
        }
    }

    @Test
    void maskIsIndependentOfTheThreadCountAndMatchesBackward() {
        try (OpTestSupport s = new OpTestSupport(3)) {
            int n = 1 << 20;
            float p = 0.3f;
            long seed = 42;
            Tensor x = s.f32(s.uniform(n, 1, 2), n), ones = s.f32(filled(n, 1f), n);
            int threads = CpuBackend.maxThreads();
            float[] one, two;
            Tensor d = s.zeros(n);
            try {
                CpuBackend.setNumThreads(1);
                Tensor o1 = s.zeros(n);
                s.cpu.dropoutForward(o1, x, p, seed);
                one = o1.toFloatArray();
                CpuBackend.setNumThreads(2);
                Tensor o2 = s.zeros(n);
                s.cpu.dropoutForward(o2, x, p, seed);
                two = o2.toFloatArray();
                s.cpu.dropoutBackward(d, ones, p, seed);
            } finally {
                CpuBackend.setNumThreads(threads);
            }
            assertArrayEquals(one, two, "mask depends on the thread count");
            float[] dm = d.toFloatArray();
            for (int i = 0; i < n; i++) {
                assertEquals(one[i] != 0f, dm[i] != 0f, "backward mask differs from forward at " + i);
            }
        }
    }

    @Test
    void keepFractionIsWithinStatisticalBoundsAndSeedsDiffer() {
        try (OpTestSupport s = new OpTestSupport(4)) {
            int n = 1 << 20;
            Tensor x = s.f32(filled(n, 1f), n);
            for (float p : new float[] {0.05f, 0.1f, 0.5f, 0.9f}) {
                Tensor a = s.zeros(n), b = s.zeros(n);
                s.cpu.dropoutForward(a, x, p, 7);
                s.cpu.dropoutForward(b, x, p, 8);
                float[] av = a.toFloatArray(), bv = b.toFloatArray();
                int kept = 0, differ = 0;
                for (int i = 0; i < n; i++) {
                    if (av[i] != 0f) kept++;
                    if ((av[i] != 0f) != (bv[i] != 0f)) differ++;
                }
                double q = 1 - p, sd = Math.sqrt(n * p * q);
                assertTrue(Math.abs(kept - n * q) < 6 * sd, "p=" + p + ": kept " + kept + " of " + n);
                // two independent masks disagree with probability 2pq
                double pd = 2 * p * q, sdd = Math.sqrt(n * pd * (1 - pd));
                assertTrue(Math.abs(differ - n * pd) < 6 * sdd, "p=" + p + ": seeds 7 and 8 differ at " + differ);
                // mean of the output stays 1 (inverted dropout is unbiased)
                double mean = 0;
                for (float f : av) mean += f;
                mean /= n;
                assertTrue(Math.abs(mean - 1) < 6 * Math.sqrt(p / q / n), "p=" + p + ": mean " + mean);
            }
        }
    }

    @Test
    void backwardMatchesFiniteDifferences() {
        try (OpTestSupport s = new OpTestSupport(23)) {
            int n = 50;
            float[] g = s.randn(n);
            Tensor xt = s.f32(s.randn(n), n), out = s.zeros(n);
            java.util.function.Supplier<Double> loss = () -> {
                s.cpu.dropoutForward(out, xt, 0.4f, 5);
                return dot(out.toFloatArray(), g);
            };
            Tensor dx = s.zeros(n);
            s.cpu.dropoutBackward(dx, s.f32(g, n), 0.4f, 5);
            s.checkGradient("d/dinp", xt, dx.toFloatArray(), loss, n, 1e-2);
        }
    }

    @Test
    void misuseIsRejectedInJavaWithOpAndShapes() {
        try (OpTestSupport s = new OpTestSupport(1)) {
            Tensor x = s.zeros(4, 8), out = s.zeros(4, 8);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.dropoutForward(s.zeros(4, 7), x, 0.1f, 1));
            assertTrue(e.getMessage().startsWith("dropout_forward:") && e.getMessage().contains("[4, 7]")
                    && e.getMessage().contains("f32[4, 8]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> s.cpu.dropoutForward(out, x, 1f, 1));
            assertTrue(e.getMessage().contains("p must be in [0, 1), got 1.0"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> s.cpu.dropoutBackward(out, x, -0.1f, 1));
            assertTrue(e.getMessage().startsWith("dropout_backward:") && e.getMessage().contains("p must be in [0, 1)"),
                    e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> s.cpu.dropoutForward(out, x, Float.NaN, 1));
            assertTrue(e.getMessage().contains("p must be in [0, 1)"), e.getMessage());
            Tensor ints = s.track(Tensor.zeros(DType.I32, 4, 8));
            e = assertThrows(IllegalArgumentException.class, () -> s.cpu.dropoutBackward(out, ints, 0.1f, 1));
            assertTrue(e.getMessage().contains("'dout' must be f32, got i32"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> s.cpu.dropoutForward(null, x, 0.1f, 1));
            assertTrue(e.getMessage().contains("'out' is null"), e.getMessage());
            Tensor closed = Tensor.zeros(DType.F32, 4, 8);
            closed.close();
            e = assertThrows(IllegalArgumentException.class, () -> s.cpu.dropoutForward(out, closed, 0.1f, 1));
            assertTrue(e.getMessage().contains("'inp' is closed"), e.getMessage());
        }
    }

    static float[] filled(int n, float v) {
        float[] a = new float[n];
        java.util.Arrays.fill(a, v);
        return a;
    }
}
