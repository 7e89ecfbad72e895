package cola.ops;

import static cola.ops.OpTestSupport.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cola.backend.AdamWConfig;
import cola.backend.NonFiniteException;
import cola.backend.cpu.CpuBackend;
import cola.tensor.DType;
import cola.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** adamw_step, sum_squares, scale and Backend#clipGradNorm (native/src/optim.cpp). */
class OptimOpTest {
    /** Odd sizes, a LoRA A/B of OPT-125m (8·768) and one tensor large enough for the parallel path. */
    static final int[] SIZES = {1, 7, 33, 129, 6144, 6144, 70001};

    // ---------------------------------------------------------------- double-precision reference

    /** One torch.optim.AdamW step (foreach=False) in double, in place on p, m, v. */
    static void adamwRef(double[] p, double[] g, double[] m, double[] v, AdamWConfig c, long t, double gradScale) {
        double b1 = c.beta1(), b2 = c.beta2(), lr = c.lr();
        double bc1 = 1 - Math.pow(b1, t), bc2 = 1 - Math.pow(b2, t);
        for (int i = 0; i < p.length; i++) {
            double gi = g[i] * gradScale;
            m[i] = b1 * m[i] + (1 - b1) * gi;
            v[i] = b2 * v[i] + (1 - b2) * gi * gi;
            p[i] *= 1 - lr * c.weightDecay();
            p[i] -= lr * (m[i] / bc1) / (Math.sqrt(v[i] / bc2) + c.eps());
        }
    }

    /** params, grads, m, v for SIZES, tracked by s. */
    static final class State {
        final List<Tensor> p = new ArrayList<>(), g = new ArrayList<>(), m = new ArrayList<>(), v = new ArrayList<>();

        State(OpTestSupport s, int[] sizes) {
            for (int n : sizes) {
                p.add(s.f32(s.randn(n), n));
                g.add(s.f32(s.randn(n), n));
                m.add(s.zeros(n));
                v.add(s.zeros(n));
            }
        }

        void newGrads(OpTestSupport s, double std) {
            for (Tensor t : g) t.copyFrom(s.randn((int) t.numel(), std));
        }
    }

    static double[] d(Tensor t) {
        return OpTestSupport.toDouble(t.toFloatArray());
    }

    // ---------------------------------------------------------------- AdamW

    @Test
    void adamwMatchesDoubleReferenceOverFiveSteps() {
        try (OpTestSupport s = new OpTestSupport(1)) {
            AdamWConfig c = new AdamWConfig(1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f);
            State st = new State(s, SIZES);
            float gradScale = 0.37f;
            // the reference also runs free from the start in double, to catch drift that one-step checks miss
            List<double[][]> free = new ArrayList<>();
            for (Tensor t : st.p) free.add(new double[][] {d(t), new double[(int) t.numel()], new double[(int) t.numel()]});
            for (long step = 1; step <= 5; step++) {
                st.newGrads(s, step == 3 ? 1e-3 : 1.0);  // a step with tiny gradients: eps and v̂ both matter
                List<double[][]> oneStep = new ArrayList<>();
                for (int i = 0; i < SIZES.length; i++) {
                    double[] p = d(st.p.get(i)), m = d(st.m.get(i)), v = d(st.v.get(i)), g = d(st.g.get(i));
                    adamwRef(p, g, m, v, c, step, gradScale);
                    adamwRef(free.get(i)[0], g, free.get(i)[1], free.get(i)[2], c, step, gradScale);
                    oneStep.add(new double[][] {p, m, v});
                }
                s.cpu.adamwStep(st.p, st.g, st.m, st.v, c, step, gradScale);
                for (int i = 0; i < SIZES.length; i++) {
                    String w = "step " + step + " tensor " + i + " (" + SIZES[i] + ")";
                    // |update| ≤ lr·~1 and f32 rounding of p (|p| ~ 1): ulp/2 ≈ 6e-8·|p|
                    assertClose(w + " p", oneStep.get(i)[0], st.p.get(i).toFloatArray(), 2e-7, 2e-3 * c.lr());
                    // m = m + (1-β1)(g - m) cancels when m is small next to g (|g| ≤ ~4): f32 error ~ulp(|g|)
                    assertClose(w + " m", oneStep.get(i)[1], st.m.get(i).toFloatArray(), 1e-6, 3e-7);
                    assertClose(w + " v", oneStep.get(i)[2], st.v.get(i).toFloatArray(), 1e-6, 1e-15);
                    assertClose(w + " p (free-running reference)", free.get(i)[0], st.p.get(i).toFloatArray(), 5e-7,
                            1e-2 * c.lr());
                }
            }
        }
    }

    @Test
    void firstStepIsSignDescentPlusDecoupledDecay() {
        // t = 1, m = v = 0: m̂ = g, v̂ = g², so p ← p·(1 - lr·wd) - lr·g/(|g| + eps) ≈ p·(1 - lr·wd) - lr·sign(g)
        try (OpTestSupport s = new OpTestSupport(2)) {
            AdamWConfig c = new AdamWConfig(0.1f, 0.9f, 0.999f, 1e-8f, 0.5f);
            float[] p0 = {1f, -2f, 3f, 0.5f}, g = {4f, -1e-3f, 0f, -100f};
            Tensor p = s.f32(p0, 4), gt = s.f32(g, 4), m = s.zeros(4), v = s.zeros(4);
            s.cpu.adamwStep(List.of(p), List.of(gt), List.of(m), List.of(v), c, 1, 1f);
            float[] got = p.toFloatArray();
            double[] want = new double[4];
            for (int i = 0; i < 4; i++) want[i] = p0[i] * (1 - 0.05) - 0.1 * Math.signum(g[i]);
            assertClose("p after step 1", want, got, 1e-6, 1e-6);
        }
    }

    @Test
    void adamwIsBitReproducibleAndIndependentOfThreadCount() {
        int[] sizes = {129, 6144, 70001, 3, 40000};
        float[][] results = new float[3][];
        for (int run = 0; run < 3; run++) {
            CpuBackend.setNumThreads(run == 2 ? 1 : CpuBackend.maxThreads());
            try (OpTestSupport s = new OpTestSupport(7)) {
                State st = new State(s, sizes);
                AdamWConfig c = new AdamWConfig(3e-4f, 0.9f, 0.95f, 1e-6f, 0.1f);
                for (long step = 1; step <= 3; step++) {
                    st.newGrads(s, 1.0);
                    s.cpu.adamwStep(st.p, st.g, st.m, st.v, c, step, 0.8f);
                }
                List<Float> all = new ArrayList<>();
                for (List<Tensor> l : List.of(st.p, st.m, st.v)) for (Tensor t : l) for (float x : t.toFloatArray()) all.add(x);
                results[run] = new float[all.size()];
                for (int i = 0; i < all.size(); i++) results[run][i] = all.get(i);
            } finally {
                CpuBackend.setNumThreads(CpuBackend.maxThreads());
            }
        }
        assertArrayEquals(results[0], results[1], "two runs differ");
        assertArrayEquals(results[0], results[2], "1 thread differs from " + CpuBackend.maxThreads());
    }

    @Test
    void adamwMisuseIsRejectedInJava() {
        try (OpTestSupport s = new OpTestSupport(3)) {
            AdamWConfig c = AdamWConfig.defaults(1e-3f);
            List<Tensor> p = List.of(s.zeros(4, 8), s.zeros(5)), g = List.of(s.zeros(4, 8), s.zeros(5));
            List<Tensor> m = List.of(s.zeros(4, 8), s.zeros(5)), v = List.of(s.zeros(4, 8), s.zeros(5));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.adamwStep(p, List.of(s.zeros(4, 8)), m, v, c, 1, 1f));
            assertTrue(e.getMessage().startsWith("adamw_step:") && e.getMessage().contains("'grads' has 1 tensors"),
                    e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.adamwStep(p, g, List.of(s.zeros(4, 8), s.zeros(6)), v, c, 1, 1f));
            assertTrue(e.getMessage().startsWith("adamw_step:") && e.getMessage().contains("'m' must have shape [5], got [6]"),
                    e.getMessage());
            Tensor bf = s.track(Tensor.zeros(DType.BF16, 5));
            e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.adamwStep(p, List.of(g.get(0), bf), m, v, c, 1, 1f));
            assertTrue(e.getMessage().contains("'grads[1]' must be f32, got bf16"), e.getMessage());
            Tensor closed = Tensor.zeros(DType.F32, 5);
            closed.close();
            e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.adamwStep(p, g, m, List.of(v.get(0), closed), c, 1, 1f));
            assertTrue(e.getMessage().contains("'v[1]' is closed"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> s.cpu.adamwStep(null, g, m, v, c, 1, 1f));
            assertTrue(e.getMessage().contains("'params' list is null"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.adamwStep(p, Arrays.asList(g.get(0), null), m, v, c, 1, 1f));
            assertTrue(e.getMessage().contains("'grads[1]' is null"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> s.cpu.adamwStep(p, g, m, v, c, 0, 1f));
            assertTrue(e.getMessage().contains("step is 1-based, got 0"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> s.cpu.adamwStep(p, p, m, v, c, 1, 1f));
            assertTrue(e.getMessage().contains("'param' and 'grad' must not alias"), e.getMessage());
            assertThrows(NonFiniteException.class, () -> s.cpu.adamwStep(p, g, m, v, c, 1, Float.NaN));
        }
    }

    // ---------------------------------------------------------------- sum_squares, scale, clipGradNorm

    static List<Tensor> randomTensors(OpTestSupport s, int[] sizes, double std) {
        List<Tensor> ts = new ArrayList<>();
        for (int n : sizes) ts.add(s.f32(s.randn(n, std), n));
        return ts;
    }

    /** Σ x² with Neumaier-compensated summation (x² of a float is exact in double): accurate to ~1 ulp. */
    static double sumSquaresRef(List<Tensor> ts) {
        double sum = 0, comp = 0;
        for (Tensor t : ts) {
            for (float x : t.toFloatArray()) {
                double y = (double) x * x, u = sum + y;
                comp += Math.abs(sum) >= y ? (sum - u) + y : (y - u) + sum;
                sum = u;
            }
        }
        return sum + comp;
    }

    @Test
    void sumSquaresMatchesDoubleReference() {
        try (OpTestSupport s = new OpTestSupport(4)) {
            for (int[] sizes : new int[][] {{1}, {7, 33}, SIZES, {0, 5, 0}, {300000}}) {
                List<Tensor> ts = new ArrayList<>();
                for (int n : sizes) ts.add(n == 0 ? s.zeros(0) : s.f32(s.randn(n, 3.0), n));
                double want = sumSquaresRef(ts), got = s.cpu.sumSquares(ts);
                assertEquals(want, got, 1e-14 * want, "sizes " + Arrays.toString(sizes));
            }
            assertEquals(0.0, s.cpu.sumSquares(List.of()));
            // values whose squares overflow f32 are fine in double accumulation
            double big = (double) 1e30f * 1e30f;
            assertEquals(2 * big, s.cpu.sumSquares(List.of(s.f32(new float[] {1e30f, -1e30f}, 2))), 0.0);
        }
    }

    @Test
    void sumSquaresIsIdenticalForAnyThreadCount() {
        try (OpTestSupport s = new OpTestSupport(5)) {
            List<Tensor> ts = randomTensors(s, new int[] {129, 70001, 6144, 1, 250000}, 1.0);
            double many = s.cpu.sumSquares(ts);
            assertEquals(many, s.cpu.sumSquares(ts), 0.0, "not reproducible");
            try {
                CpuBackend.setNumThreads(1);
                assertEquals(many, s.cpu.sumSquares(ts), 0.0, "1 thread differs");
            } finally {
                CpuBackend.setNumThreads(CpuBackend.maxThreads());
            }
        }
    }

    @Test
    void scaleMultipliesEveryElementExactly() {
        try (OpTestSupport s = new OpTestSupport(6)) {
            List<Tensor> ts = randomTensors(s, SIZES, 1.0);
            List<float[]> before = new ArrayList<>();
            for (Tensor t : ts) before.add(t.toFloatArray());
            float k = 0.3125f * 1.1f;
            s.cpu.scale(ts, k);
            for (int i = 0; i < ts.size(); i++) {
                float[] want = before.get(i).clone();
                for (int j = 0; j < want.length; j++) want[j] *= k;
                assertArrayEquals(want, ts.get(i).toFloatArray(), "tensor " + i);
            }
        }
    }

    @Test
    void clipGradNormScalesOnlyAboveTheMaximum() {
        try (OpTestSupport s = new OpTestSupport(8)) {
            List<Tensor> g = randomTensors(s, SIZES, 0.5);
            double norm = Math.sqrt(sumSquaresRef(g));
            List<float[]> before = new ArrayList<>();
            for (Tensor t : g) before.add(t.toFloatArray());

            // no clip: maxNorm above the norm, and exactly equal to the norm clipGradNorm computes (the rule is
            // strict: scale only when norm > maxNorm; PyTorch's clamp(max_norm/(norm+1e-6), max=1) would still
            // scale by 1 - 1e-6/norm in the window (maxNorm - 1e-6, maxNorm])
            for (double maxNorm : new double[] {norm * 2, Math.sqrt(s.cpu.sumSquares(g))}) {
                double got = s.cpu.clipGradNorm(g, maxNorm);
                assertEquals(norm, got, 1e-12 * norm);
                for (int i = 0; i < g.size(); i++) assertArrayEquals(before.get(i), g.get(i).toFloatArray(), "unclipped");
            }

            // clip: every element times (float)(maxNorm/(norm+1e-6)), and the norm afterwards is maxNorm
            double maxNorm = norm / 3;
            double got = s.cpu.clipGradNorm(g, maxNorm);
            assertEquals(norm, got, 1e-12 * norm, "returns the norm before clipping");
            float coef = (float) (maxNorm / (norm + 1e-6));
            for (int i = 0; i < g.size(); i++) {
                float[] want = before.get(i).clone();
                for (int j = 0; j < want.length; j++) want[j] *= coef;
                assertArrayEquals(want, g.get(i).toFloatArray(), "clipped tensor " + i);
            }
            assertEquals(maxNorm, Math.sqrt(sumSquaresRef(g)), 1e-6 * maxNorm);
        }
    }

    @Test
    void sumSquaresAndScaleMisuseIsRejectedInJava() {
        try (OpTestSupport s = new OpTestSupport(9)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> s.cpu.sumSquares(null));
            assertTrue(e.getMessage().startsWith("sum_squares:") && e.getMessage().contains("list is null"),
                    e.getMessage());
            Tensor ints = s.track(Tensor.zeros(DType.I32, 3));
            e = assertThrows(IllegalArgumentException.class, () -> s.cpu.sumSquares(List.of(s.zeros(2), ints)));
            assertTrue(e.getMessage().contains("'tensors[1]' must be f32, got i32"), e.getMessage());
            Tensor closed = Tensor.zeros(DType.F32, 5);
            closed.close();
            e = assertThrows(IllegalArgumentException.class, () -> s.cpu.scale(List.of(closed), 2f));
            assertTrue(e.getMessage().startsWith("scale:") && e.getMessage().contains("'tensors[0]' is closed"),
                    e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> s.cpu.scale(Arrays.asList(s.zeros(1), null), 2f));
            assertTrue(e.getMessage().contains("'tensors[1]' is null"), e.getMessage());
        }
    }
}
