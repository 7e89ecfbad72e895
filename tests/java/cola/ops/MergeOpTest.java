package cola.ops;

import static cola.ops.OpTestSupport.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import cola.backend.MergeStats;
import cola.backend.NonFiniteException;
import cola.backend.Rounding;
import cola.backend.cpu.CpuBackend;
import cola.tensor.DType;
import cola.tensor.Half;
import cola.tensor.Tensor;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The COLA knot: mergeLora into f32 and bf16 weights (native/src/merge.cpp). */
class MergeOpTest {

    // ---------------------------------------------------------------- double-precision reference

    /** delta[N,K] = s·B[N,r]·A[r,K] in double. */
    static double[] deltaRef(float[] a, float[] b, double s, int n, int k, int r) {
        double[] d = new double[n * k];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < r; j++) {
                double bij = b[i * r + j];
                for (int c = 0; c < k; c++) d[i * k + c] += bij * a[j * k + c];
            }
        }
        for (int i = 0; i < d.length; i++) d[i] *= s;
        return d;
    }

    /** Σ_j |B[n,j]|·|A[j,k]|·|s|: the scale of the rounding error of delta[n,k]. */
    static double[] deltaAbsRef(float[] a, float[] b, double s, int n, int k, int r) {
        float[] aa = new float[a.length], bb = new float[b.length];
        for (int i = 0; i < a.length; i++) aa[i] = Math.abs(a[i]);
        for (int i = 0; i < b.length; i++) bb[i] = Math.abs(b[i]);
        return deltaRef(aa, bb, Math.abs(s), n, k, r);
    }

    static Tensor bf16(OpTestSupport s, short[] bits, long... shape) {
        Tensor t = s.track(Tensor.zeros(DType.BF16, shape));
        t.copyFrom(bits);
        return t;
    }

    static short[] toBf16(float[] x) {
        short[] h = new short[x.length];
        for (int i = 0; i < x.length; i++) h[i] = Half.floatToBf16(x[i]);
        return h;
    }

    /** One bf16 ulp at |x| (normal range). */
    static double ulpBf16(double x) {
        return Math.ulp((float) Math.abs(x)) * 65536.0;
    }

    static Stream<Arguments> shapes() {
        // N, K, r: odd sizes (row-block and 32-column tile tails), LoRA ranks, one above the parallel threshold
        return Stream.of(Arguments.of(1, 1, 1), Arguments.of(7, 33, 1), Arguments.of(33, 7, 8), Arguments.of(129, 33, 7),
                Arguments.of(5, 129, 64), Arguments.of(300, 77, 8), Arguments.of(96, 768, 16));
    }

    // ---------------------------------------------------------------- f32

    @ParameterizedTest(name = "N={0} K={1} r={2}")
    @MethodSource("shapes")
    void mergeF32MatchesDoubleReference(int n, int k, int r) {
        try (OpTestSupport s = new OpTestSupport(n * 7919L + k * 31L + r)) {
            float[] w0 = s.randn(n * k), a = s.randn(r * k, 0.5), b = s.randn(n * r, 0.5);
            float sc = 16f / r;  // α/r with α = 16
            Tensor w = s.f32(w0, n, k);
            assertEquals(0, s.cpu.mergeLora(w, s.f32(a, r, k), s.f32(b, n, r), sc, Rounding.NEAREST_EVEN, 0));
            double[] want = deltaRef(a, b, sc, n, k, r), scale = deltaAbsRef(a, b, sc, n, k, r);
            float[] got = w.toFloatArray();
            for (int i = 0; i < want.length; i++) {
                want[i] += w0[i];
                // f32 accumulation over r terms, then ·s, then + w: a few ulps of the magnitudes involved
                double allowed = 1e-7 * (r + 2) * scale[i] + 1.2e-7 * Math.abs(want[i]);
                if (!(Math.abs(got[i] - want[i]) <= allowed)) {
                    fail("element " + i + ": " + got[i] + " vs " + want[i] + " (allowed " + allowed + ")");
                }
            }
        }
    }

    @Test
    void mergeF32IsIndependentOfThreadCount() {
        try (OpTestSupport s = new OpTestSupport(21)) {
            int n = 301, k = 131, r = 16;
            float[] w0 = s.randn(n * k), a = s.randn(r * k), b = s.randn(n * r);
            Tensor at = s.f32(a, r, k), bt = s.f32(b, n, r);
            Tensor w1 = s.f32(w0, n, k), w2 = s.f32(w0, n, k), w3 = s.f32(w0, n, k);
            s.cpu.mergeLora(w1, at, bt, 0.5f, Rounding.NEAREST_EVEN, 0);
            s.cpu.mergeLora(w2, at, bt, 0.5f, Rounding.NEAREST_EVEN, 0);
            try {
                CpuBackend.setNumThreads(1);
                s.cpu.mergeLora(w3, at, bt, 0.5f, Rounding.NEAREST_EVEN, 0);
            } finally {
                CpuBackend.setNumThreads(CpuBackend.maxThreads());
            }
            assertArrayEquals(w1.toFloatArray(), w2.toFloatArray(), "two runs differ");
            assertArrayEquals(w1.toFloatArray(), w3.toFloatArray(), "1 thread differs");
        }
    }

    @Test
    void chainOfMergesEqualsTheSumOfTheDeltas() {
        // COLA: W_L = W_0 + Σ_i s_i·B_i·A_i over the links of the chain
        try (OpTestSupport s = new OpTestSupport(22)) {
            int n = 65, k = 97;
            int[] ranks = {8, 4, 16, 1};
            float[] w0 = s.randn(n * k);
            Tensor w = s.f32(w0, n, k);
            double[] want = OpTestSupport.toDouble(w0), scale = new double[n * k];
            for (int link = 0; link < ranks.length; link++) {
                int r = ranks[link];
                float[] a = s.randn(r * k, 0.3), b = s.randn(n * r, 0.3);
                float sc = 32f / r;
                s.cpu.mergeLora(w, s.f32(a, r, k), s.f32(b, n, r), sc, Rounding.NEAREST_EVEN, 0);
                double[] d = deltaRef(a, b, sc, n, k, r), da = deltaAbsRef(a, b, sc, n, k, r);
                for (int i = 0; i < want.length; i++) {
                    want[i] += d[i];
                    scale[i] += da[i] + Math.abs(want[i]);
                }
            }
            float[] got = w.toFloatArray();
            for (int i = 0; i < want.length; i++) {
                assertTrue(Math.abs(got[i] - want[i]) <= 1e-6 * scale[i], "element " + i + ": " + got[i] + " vs " + want[i]);
            }
        }
    }

    // ---------------------------------------------------------------- bf16

    @Test
    void mergeBf16NearestEvenIsBitExact() {
        // Dyadic data: A = i·2^-6, B = j·2^-5 (|i|, |j| ≤ 8), s = 1/2, so delta (≤ 13 significant bits) is exact in f32
        // whatever the accumulation order, and w in ±[2^-4, 4) keeps f32(w) + delta exact too. The only rounding left
        // is f32 → bf16, which must match Half.floatToBf16 bit for bit, ties to even included.
        try (OpTestSupport s = new OpTestSupport(23)) {
            int n = 37, k = 70, r = 5;
            float[] a = new float[r * k], b = new float[n * r], w = new float[n * k];
            for (int i = 0; i < a.length; i++) a[i] = (s.rng.nextInt(17) - 8) * 0x1p-6f;
            for (int i = 0; i < b.length; i++) b[i] = (s.rng.nextInt(17) - 8) * 0x1p-5f;
            for (int i = 0; i < w.length; i++) {
                float m = (float) Math.scalb(1.0 + s.rng.nextDouble(), s.rng.nextInt(6) - 4);  // [2^-4, 4)
                w[i] = s.rng.nextBoolean() ? m : -m;
            }
            short[] w0 = toBf16(w);
            double[] delta = deltaRef(a, b, 0.5, n, k, r);
            short[] want = new short[w0.length];
            long lost = 0, ties = 0;
            for (int i = 0; i < want.length; i++) {
                float x = Half.bf16ToFloat(w0[i]) + (float) delta[i];  // exact
                want[i] = Half.floatToBf16(x);
                if ((Float.floatToRawIntBits(x) & 0xffff) == 0x8000) ties++;
                if (delta[i] != 0 && want[i] == w0[i]) lost++;
            }
            Tensor wt = bf16(s, w0, n, k);
            long unchanged = s.cpu.mergeLora(wt, s.f32(a, r, k), s.f32(b, n, r), 0.5f, Rounding.NEAREST_EVEN, 99);
            assertArrayEquals(want, wt.toShortArray());
            assertEquals(lost, unchanged, "unchanged counter");
            assertTrue(ties > 20 && lost > 0, "the data must exercise ties (" + ties + ") and lost updates (" + lost + ")");
        }
    }

    @ParameterizedTest(name = "N={0} K={1} r={2}")
    @MethodSource("shapes")
    void mergeBf16NearestEvenIsWithinHalfAnUlpOfTheExactValue(int n, int k, int r) {
        try (OpTestSupport s = new OpTestSupport(n + 17L * k + 101L * r)) {
            float[] a = s.randn(r * k, 0.5), b = s.randn(n * r, 0.5);
            short[] w0 = toBf16(s.randn(n * k));
            float sc = 16f / r;
            Tensor w = bf16(s, w0, n, k);
            long unchanged = s.cpu.mergeLora(w, s.f32(a, r, k), s.f32(b, n, r), sc, Rounding.NEAREST_EVEN, 0);
            double[] d = deltaRef(a, b, sc, n, k, r), scale = deltaAbsRef(a, b, sc, n, k, r);
            short[] got = w.toShortArray();
            long lost = 0;
            for (int i = 0; i < got.length; i++) {
                double exact = Half.bf16ToFloat(w0[i]) + d[i], g = Half.bf16ToFloat(got[i]);
                double allowed = 0.5 * ulpBf16(Math.max(Math.abs(exact), Math.abs(g))) + 1e-6 * (r + 2) * scale[i]
                        + 1e-7 * Math.abs(exact);
                if (!(Math.abs(g - exact) <= allowed)) fail("element " + i + ": " + g + " vs exact " + exact);
                if (got[i] == w0[i] && d[i] != 0) lost++;
            }
            assertEquals(lost, unchanged, "unchanged counter");
        }
    }

    @Test
    void unchangedCountsDeltasBelowHalfAnUlp() {
        try (OpTestSupport s = new OpTestSupport(24)) {
            int n = 40, k = 50;
            float[] w = s.uniform(n * k, 1.0, 2.0);  // bf16 ulp = 2^-7
            for (int i = 0; i < w.length; i += 3) w[i] = -w[i];
            short[] w0 = toBf16(w);
            float[] a = new float[k], b = new float[n];
            java.util.Arrays.fill(a, 1f);
            for (int i = 0; i < n; i++) b[i] = i % 4 == 0 ? 0f : 1f;  // a quarter of the rows get delta = 0
            Tensor wt = bf16(s, w0, n, k);
            // delta = 2^-10 = an eighth of an ulp: every update is lost under nearest-even
            long unchanged = s.cpu.mergeLora(wt, s.f32(a, 1, k), s.f32(b, n, 1), 0x1p-10f, Rounding.NEAREST_EVEN, 0);
            assertArrayEquals(w0, wt.toShortArray(), "nothing may change");
            assertEquals(n * k * 3 / 4, unchanged, "rows with a non-zero delta are counted, zero rows are not");
            // a zero adapter (B = 0 right after a knot) changes nothing and loses nothing
            assertEquals(0, s.cpu.mergeLora(wt, s.f32(a, 1, k), s.zeros(n, 1), 1f, Rounding.NEAREST_EVEN, 0));
            // f32 weights never report lost updates
            assertEquals(0, s.cpu.mergeLora(s.f32(w, n, k), s.f32(a, 1, k), s.f32(b, n, 1), 0x1p-30f,
                    Rounding.NEAREST_EVEN, 0));
        }
    }

    @Test
    void stochasticRoundingIsUnbiasedWhereNearestEvenLosesEverything() {
        // 50 knots of a delta of 0.1 bf16-ulp into w = ±1: nearest-even never moves (all updates lost), stochastic
        // rounding moves on average by the exact sum of the deltas.
        try (OpTestSupport s = new OpTestSupport(25)) {
            int n = 64, k = 256, knots = 50;
            float[] a = new float[k], b = new float[n];
            java.util.Arrays.fill(a, 1f);
            java.util.Arrays.fill(b, 1f);
            float delta = 0.1f * 0x1p-7f;  // ulp of bf16 at 1.0 is 2^-7
            float[] w = new float[n * k];
            for (int i = 0; i < w.length; i++) w[i] = i % 2 == 0 ? 1f : -1f;
            Tensor rne = bf16(s, toBf16(w), n, k), sr = bf16(s, toBf16(w), n, k);
            Tensor at = s.f32(a, 1, k), bt = s.f32(b, n, 1);
            long lostRne = 0, lostSr = 0;
            for (int knot = 0; knot < knots; knot++) {
                lostRne += s.cpu.mergeLora(rne, at, bt, delta, Rounding.NEAREST_EVEN, knot);
                lostSr += s.cpu.mergeLora(sr, at, bt, delta, Rounding.STOCHASTIC, 1000 + knot);
            }
            assertArrayEquals(toBf16(w), rne.toShortArray(), "nearest-even loses every update");
            assertEquals((long) knots * n * k, lostRne);
            assertTrue(lostSr > 0 && lostSr < lostRne, "stochastic rounding loses some updates: " + lostSr);
            float[] got = sr.toFloatArray();
            for (int sign = 0; sign < 2; sign++) {
                double sum = 0, sumSq = 0;
                int count = 0;
                for (int i = sign; i < got.length; i += 2) {
                    sum += got[i];
                    sumSq += (double) got[i] * got[i];
                    count++;
                }
                double mean = sum / count, sd = Math.sqrt(Math.max(0, sumSq / count - mean * mean));
                double exact = w[sign] + (double) knots * delta;
                // mean of 8192 independent final values: 5 standard errors
                double tol = 5 * sd / Math.sqrt(count) + 1e-9;
                assertTrue(Math.abs(mean - exact) <= tol,
                        "w=" + w[sign] + ": mean " + mean + " vs exact " + exact + " (tol " + tol + ")");
                assertTrue(sd > 0.2 * 0x1p-7, "the values must actually spread: sd " + sd);
            }
        }
    }

    @Test
    void stochasticRoundingOfOneMergeIsUnbiased() {
        // a single merge: each element draws its own 16 bits; the mean over 2^16 elements of round(1 + d) is 1 + d
        try (OpTestSupport s = new OpTestSupport(26)) {
            int n = 256, k = 256;
            float[] a = s.uniform(k, 0.0, 1.0), b = s.uniform(n, 0.0, 1.0);
            float sc = 0x1p-7f;  // delta in [0, 1) ulp
            short[] w0 = toBf16(new float[n * k]);
            for (int i = 0; i < w0.length; i++) w0[i] = Half.floatToBf16(1f);
            Tensor w = bf16(s, w0, n, k);
            s.cpu.mergeLora(w, s.f32(a, 1, k), s.f32(b, n, 1), sc, Rounding.STOCHASTIC, 12345);
            float[] got = w.toFloatArray();
            double[] d = deltaRef(a, b, sc, n, k, 1);
            double errSum = 0, var = 0;
            for (int i = 0; i < got.length; i++) {
                double exact = 1 + d[i], lo = 1.0, hi = 1.0 + 0x1p-7;
                assertTrue(got[i] == lo || got[i] == hi, "element " + i + " = " + got[i] + " is not a neighbour");
                errSum += got[i] - exact;
                double p = (exact - lo) / (hi - lo);
                var += p * (1 - p) * 0x1p-7 * 0x1p-7;
            }
            double tol = 5 * Math.sqrt(var);
            assertTrue(Math.abs(errSum) <= tol, "Σ(result - exact) = " + errSum + " (5σ = " + tol + ")");
        }
    }

    @Test
    void stochasticRoundingIsDeterministicPerSeedAndThreadCount() {
        try (OpTestSupport s = new OpTestSupport(27)) {
            int n = 129, k = 257, r = 8;
            float[] a = s.randn(r * k, 0.1), b = s.randn(n * r, 0.1);
            short[] w0 = toBf16(s.randn(n * k));
            Tensor at = s.f32(a, r, k), bt = s.f32(b, n, r);
            Tensor w1 = bf16(s, w0, n, k), w2 = bf16(s, w0, n, k), w3 = bf16(s, w0, n, k), w4 = bf16(s, w0, n, k);
            long u1 = s.cpu.mergeLora(w1, at, bt, 0.01f, Rounding.STOCHASTIC, 42);
            long u2 = s.cpu.mergeLora(w2, at, bt, 0.01f, Rounding.STOCHASTIC, 42);
            long u3;
            try {
                CpuBackend.setNumThreads(1);
                u3 = s.cpu.mergeLora(w3, at, bt, 0.01f, Rounding.STOCHASTIC, 42);
            } finally {
                CpuBackend.setNumThreads(CpuBackend.maxThreads());
            }
            s.cpu.mergeLora(w4, at, bt, 0.01f, Rounding.STOCHASTIC, 43);
            assertArrayEquals(w1.toShortArray(), w2.toShortArray(), "same seed, two runs");
            assertArrayEquals(w1.toShortArray(), w3.toShortArray(), "same seed, 1 thread");
            assertEquals(u1, u2);
            assertEquals(u1, u3);
            assertFalse(java.util.Arrays.equals(w1.toShortArray(), w4.toShortArray()), "another seed, other roundings");
        }
    }

    // ---------------------------------------------------------------- refusal of a non-finite delta

    @Test
    void nonFiniteOrOverflowingDeltaIsRefusedAndLeavesWUntouched() {
        try (OpTestSupport s = new OpTestSupport(28)) {
            int n = 33, k = 65, r = 4;
            float[] w0 = s.randn(n * k);
            short[] h0 = toBf16(w0);
            float[] a = s.randn(r * k), b = s.randn(n * r);
            Object[][] cases = {
                {"NaN in A", set(a, 77, Float.NaN), b, 1f},
                {"+inf in B", a, set(b, 130, Float.POSITIVE_INFINITY), 1f},
                {"-inf in A", set(a, 0, Float.NEGATIVE_INFINITY), b, 1f},
                {"NaN s", a, b, Float.NaN},
                {"inf s", a, b, Float.POSITIVE_INFINITY},
                {"overflow |s·B·A| ~ 1e40", fill(r * k, 1e20f), fill(n * r, 1e20f), 1f},
                {"overflowing B·A hidden by a tiny s", fill(r * k, 1e25f), fill(n * r, 1e25f), 1e-30f},
                {"large s", a, b, 1e35f},
            };
            for (Object[] c : cases) {
                for (boolean isBf16 : new boolean[] {false, true}) {
                    Tensor w = isBf16 ? bf16(s, h0, n, k) : s.f32(w0, n, k);
                    Tensor at = s.f32((float[]) c[1], r, k), bt = s.f32((float[]) c[2], n, r);
                    for (Rounding rounding : Rounding.values()) {
                        NonFiniteException e = assertThrows(NonFiniteException.class,
                                () -> s.cpu.mergeLora(w, at, bt, (float) c[3], rounding, 1), c[0] + "");
                        assertTrue(e.getMessage().startsWith("merge:") && e.getMessage().contains("not modified"),
                                e.getMessage());
                        if (isBf16) assertArrayEquals(h0, w.toShortArray(), c[0] + ": bf16 W was modified");
                        else assertArrayEquals(w0, w.toFloatArray(), c[0] + ": f32 W was modified");
                        if (!isBf16) break;
                    }
                }
            }
            // large but safe: |delta| ≤ 1e28 is merged
            Tensor w = s.f32(new float[n * k], n, k);
            s.cpu.mergeLora(w, s.f32(fill(r * k, 1e14f), r, k), s.f32(fill(n * r, 1e13f), n, r), 1f,
                    Rounding.NEAREST_EVEN, 0);
            assertEquals((float) (4 * 1e14f * (double) 1e13f), w.toFloatArray()[0], 1e22f);
        }
    }

    static float[] set(float[] x, int i, float v) {
        float[] y = x.clone();
        y[i] = v;
        return y;
    }

    static float[] fill(int n, float v) {
        float[] y = new float[n];
        java.util.Arrays.fill(y, v);
        return y;
    }

    // ---------------------------------------------------------------- misuse

    @Test
    void misuseIsRejectedInJavaWithOpAndShapes() {
        try (OpTestSupport s = new OpTestSupport(29)) {
            Tensor w = s.zeros(6, 10), a = s.zeros(4, 10), b = s.zeros(6, 4);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.mergeLora(w, s.zeros(4, 9), b, 1f, Rounding.NEAREST_EVEN, 0));
            assertTrue(e.getMessage().startsWith("merge:") && e.getMessage().contains("'A' must have shape [4, 10], got [4, 9]"),
                    e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.mergeLora(w, a, s.zeros(6, 3), 1f, Rounding.NEAREST_EVEN, 0));
            assertTrue(e.getMessage().contains("'B' must have shape [6, 4], got [6, 3]"), e.getMessage());
            Tensor wInt = s.track(Tensor.zeros(DType.I32, 6, 10));
            e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.mergeLora(wInt, a, b, 1f, Rounding.NEAREST_EVEN, 0));
            assertTrue(e.getMessage().contains("W must be f32 or bf16, got i32"), e.getMessage());
            Tensor aBf16 = s.track(Tensor.zeros(DType.BF16, 4, 10));
            e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.mergeLora(w, aBf16, b, 1f, Rounding.NEAREST_EVEN, 0));
            assertTrue(e.getMessage().contains("'A' must be f32, got bf16"), e.getMessage());
            Tensor closed = Tensor.zeros(DType.F32, 6, 4);
            closed.close();
            e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.mergeLora(w, a, closed, 1f, Rounding.NEAREST_EVEN, 0));
            assertTrue(e.getMessage().contains("'B' is closed"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.mergeLora(w, null, b, 1f, Rounding.NEAREST_EVEN, 0));
            assertTrue(e.getMessage().contains("'A' is null"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.mergeLora(s.zeros(60), a, b, 1f, Rounding.NEAREST_EVEN, 0));
            assertTrue(e.getMessage().contains("'W' must have rank 2, got 1"), e.getMessage());
        }
    }

    // ---------------------------------------------------------------- the general bf16 knot (cola_merge_bf16_ex)

    /** The accounting of one merge recomputed in Java from W before/after, R before/after and the double delta. */
    static double[] statsRef(float[] wBefore, float[] wAfter, float[] rBefore, float[] rAfter, double[] d) {
        double s0 = 0, s1 = 0, s2 = 0;
        for (int i = 0; i < d.length; i++) {
            double dw = (double) wAfter[i] - wBefore[i];
            double dr = rAfter == null ? 0 : (double) rAfter[i] - rBefore[i];
            s0 += d[i] * d[i];
            s1 += (dw - d[i]) * (dw - d[i]);
            s2 += (dw + dr - d[i]) * (dw + dr - d[i]);
        }
        return new double[] {s0, s1, s2};
    }

    @Test
    void compensatedKnotsKeepTheWholeUpdateAcrossAChainWhereNearestLosesIt() {
        // Deltas far below half an ulp of W (the bf16 merge problem): nearest-even keeps nothing of them; the
        // compensated merge keeps them in R, and W + R tracks the exact sum of every knot.
        try (OpTestSupport s = new OpTestSupport(31)) {
            int n = 64, k = 96, r = 4, knots = 3;
            float[] w0 = OpTestSupport.roundBf16(s.uniform(n * k, 0.5, 1.0));
            Tensor wn = s.bf16(w0, n, k), wc = s.bf16(w0, n, k), res = s.zeros(n, k);
            double[] exact = OpTestSupport.toDouble(w0);
            MergeStats near = MergeStats.EXACT, comp = MergeStats.EXACT;
            for (int t = 0; t < knots; t++) {
                float[] a = s.randn(r * k, 1e-2), b = s.randn(n * r, 1e-2);  // |d| ~ 1e-4 ≪ ulp(0.75)/2 ≈ 2e-3
                double[] d = deltaRef(a, b, 2.0, n, k, r);
                for (int i = 0; i < d.length; i++) exact[i] += d[i];
                float[] wb = wc.toFloatArray(), rb = res.toFloatArray();
                MergeStats st = s.cpu.mergeLoraBf16(wc, res, s.f32(a, r, k), s.f32(b, n, r), 2f, Rounding.NEAREST_EVEN, 0);
                double[] ref = statsRef(wb, wc.toFloatArray(), rb, res.toFloatArray(), d);
                assertEquals(ref[0], st.deltaSq(), 1e-6 * ref[0], "Σd²");
                assertEquals(ref[1], st.weightErrSq(), 1e-6 * ref[1] + 1e-30, "Σ(ΔW-d)²");
                assertEquals(ref[2], st.lostSq(), 1e-4 * ref[0], "Σ(ΔW+ΔR-d)²");
                comp = comp.plus(st);
                near = near.plus(s.cpu.mergeLoraBf16(wn, null, s.f32(a, r, k), s.f32(b, n, r), 2f, Rounding.NEAREST_EVEN, 0));
            }
            assertTrue(comp.kept() >= 0.9999, "compensated kept " + comp.kept());
            assertTrue(near.kept() < 0.5, "nearest kept " + near.kept() + " of updates below half an ulp");
            assertEquals(near.kept(), near.keptInWeights(), 0, "no residual: what the weights miss is lost");
            float[] w = wc.toFloatArray(), rr = res.toFloatArray();
            for (int i = 0; i < exact.length; i++) {
                double got = (double) w[i] + rr[i];
                assertEquals(exact[i], got, 1e-6 * Math.abs(exact[i]), "W + R at " + i);
                assertEquals(Half.bf16ToFloat(Half.floatToBf16((float) exact[i])), w[i], Math.ulp(w[i]) * 65536.0,
                        "W is within one bf16 ulp of the exact merged weight at " + i);
            }
        }
    }

    @Test
    void compensatedMergeRefusesNonFiniteAndLeavesWAndRUntouched() {
        try (OpTestSupport s = new OpTestSupport(32)) {
            float[] w0 = OpTestSupport.roundBf16(s.randn(8 * 5)), r0 = s.randn(8 * 5, 1e-3);
            Tensor w = s.bf16(w0, 8, 5), res = s.f32(r0, 8, 5);
            float[] a = s.randn(2 * 5);
            a[3] = Float.NaN;
            assertThrows(NonFiniteException.class, () -> s.cpu.mergeLoraBf16(w, res, s.f32(a, 2, 5),
                    s.f32(s.randn(8 * 2), 8, 2), 1f, Rounding.NEAREST_EVEN, 0));
            assertArrayEquals(w0, w.toFloatArray());
            assertArrayEquals(r0, res.toFloatArray());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> s.cpu.mergeLoraBf16(w,
                    s.zeros(5, 8), s.f32(s.randn(10), 2, 5), s.f32(s.randn(16), 8, 2), 1f, Rounding.NEAREST_EVEN, 0));
            assertTrue(e.getMessage().contains("'R'"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> s.cpu.mergeLoraBf16(s.f32(w0, 8, 5), null,
                    s.f32(s.randn(10), 2, 5), s.f32(s.randn(16), 8, 2), 1f, Rounding.NEAREST_EVEN, 0));
            assertTrue(e.getMessage().contains("'W' must be bf16, got f32"), e.getMessage());
        }
    }
}
