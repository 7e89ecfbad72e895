package cola.ops;

import static cola.ops.OpTestSupport.assertClose;
import static cola.ops.OpTestSupport.dot;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import cola.backend.cpu.CpuBackend;
import cola.tensor.DType;
import cola.tensor.Tensor;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Scaled-dot-product attention, forward and backward (native/src/attention.cpp). */
class AttentionOpTest {

    // ---------------------------------------------------------------- double-precision reference

    /** Padding patterns of key_mask[B,T]. */
    enum Mask {
        /** no mask (null). */
        NONE,
        /** right padding, random lengths in [1, T]; sequence 1 fully padded when B > 1. */
        RIGHT,
        /** left padding: under causal, the first rows of a sequence see no key at all. */
        LEFT,
        /** random 0/1 (at least one 0 when T > 1). */
        RANDOM
    }

    static int[] makeMask(OpTestSupport s, Mask kind, int b, int t) {
        if (kind == Mask.NONE) return null;
        int[] m = new int[b * t];
        for (int bi = 0; bi < b; bi++) {
            int len = 1 + s.rng.nextInt(t);
            for (int ti = 0; ti < t; ti++) {
                int keep = switch (kind) {
                    case RIGHT -> ti < len ? 1 : 0;
                    case LEFT -> ti >= t - len ? 1 : 0;
                    default -> s.rng.nextInt(3) == 0 ? 0 : 1;
                };
                m[bi * t + ti] = keep;
            }
            if (kind == Mask.RIGHT && bi == 1) {
                for (int ti = 0; ti < t; ti++) m[bi * t + ti] = 0;  // fully padded sequence
            }
            if (kind == Mask.LEFT && t > 1) m[bi * t] = 0;  // at least one row with nothing visible under causal
        }
        return m;
    }

    /** Everything the reference computes for one problem, in double. */
    static final class Ref {
        double[] out, lse, dq, dk, dv;
    }

    /**
     * The textbook algorithm in double: full score matrix per (b, h), softmax over visible keys, then (when g != null)
     * the analytic backward with loss Σ out·g, dq/dk/dv starting from zero.
     */
    static Ref reference(float[] q, float[] k, float[] v, int[] mask, float[] g, int b, int t, int hq, int hkv, int d,
            boolean causal, double scale) {
        return reference(q, k, v, mask, g, b, t, hq, hkv, d, causal, 0, scale);
    }

    /** The same with a sliding window: key j is also invisible to query i when j ≤ i − window (window > 0). */
    static Ref reference(float[] q, float[] k, float[] v, int[] mask, float[] g, int b, int t, int hq, int hkv, int d,
            boolean causal, int window, double scale) {
        Ref r = new Ref();
        r.out = new double[b * t * hq * d];
        r.lse = new double[b * hq * t];
        r.dq = new double[q.length];
        r.dk = new double[k.length];
        r.dv = new double[v.length];
        int grp = hq / hkv;
        for (int bi = 0; bi < b; bi++) {
            for (int h = 0; h < hq; h++) {
                int hk = h / grp;
                double[][] p = new double[t][t];
                boolean[][] vis = new boolean[t][t];
                for (int i = 0; i < t; i++) {
                    double m = Double.NEGATIVE_INFINITY;
                    double[] sc = new double[t];
                    for (int j = 0; j < t; j++) {
                        vis[i][j] = (mask == null || mask[bi * t + j] != 0) && (!causal || j <= i)
                                && (window == 0 || j > i - window);
                        if (!vis[i][j]) continue;
                        double sum = 0;
                        for (int x = 0; x < d; x++) {
                            sum += (double) q[((bi * t + i) * hq + h) * d + x] * k[((bi * t + j) * hkv + hk) * d + x];
                        }
                        sc[j] = scale * sum;
                        m = Math.max(m, sc[j]);
                    }
                    int li = (bi * hq + h) * t + i;
                    if (m == Double.NEGATIVE_INFINITY) {
                        r.lse[li] = Double.NEGATIVE_INFINITY;  // out row stays 0, p row stays 0
                        continue;
                    }
                    double l = 0;
                    for (int j = 0; j < t; j++) if (vis[i][j]) l += Math.exp(sc[j] - m);
                    r.lse[li] = m + Math.log(l);
                    for (int j = 0; j < t; j++) if (vis[i][j]) p[i][j] = Math.exp(sc[j] - r.lse[li]);
                    for (int x = 0; x < d; x++) {
                        double o = 0;
                        for (int j = 0; j < t; j++) o += p[i][j] * v[((bi * t + j) * hkv + hk) * d + x];
                        r.out[((bi * t + i) * hq + h) * d + x] = o;
                    }
                }
                if (g == null) continue;
                for (int i = 0; i < t; i++) {
                    int oi = ((bi * t + i) * hq + h) * d;
                    double di = 0;
                    for (int x = 0; x < d; x++) di += g[oi + x] * r.out[oi + x];
                    for (int j = 0; j < t; j++) {
                        if (p[i][j] == 0) continue;
                        int kj = ((bi * t + j) * hkv + hk) * d;
                        double dp = 0;
                        for (int x = 0; x < d; x++) {
                            dp += g[oi + x] * v[kj + x];
                            r.dv[kj + x] += p[i][j] * g[oi + x];
                        }
                        double ds = p[i][j] * (dp - di) * scale;
                        for (int x = 0; x < d; x++) {
                            r.dq[oi + x] += ds * k[kj + x];
                            r.dk[kj + x] += ds * q[oi + x];
                        }
                    }
                }
            }
        }
        return r;
    }

    /** lse with -inf rows: those must be exactly -inf, the others close. */
    static void assertLseClose(double[] expected, float[] actual, double tol) {
        assertEquals(expected.length, actual.length, "lse length");
        for (int i = 0; i < expected.length; i++) {
            if (expected[i] == Double.NEGATIVE_INFINITY) {
                if (actual[i] != Float.NEGATIVE_INFINITY) fail("lse[" + i + "] = " + actual[i] + ", expected -inf");
            } else if (!(Math.abs(actual[i] - expected[i]) <= tol * (1 + Math.abs(expected[i])))) {
                fail("lse[" + i + "] = " + actual[i] + ", expected " + expected[i]);
            }
        }
    }

    static void assertAllFinite(String what, float[] a) {
        for (int i = 0; i < a.length; i++) if (!Float.isFinite(a[i])) fail(what + "[" + i + "] = " + a[i]);
    }

    // ---------------------------------------------------------------- forward + backward vs reference

    static Stream<Arguments> problems() {
        // B, T, Hq, Hkv, D, causal, mask
        return Stream.of(Arguments.of(1, 1, 1, 1, 1, true, Mask.NONE), Arguments.of(1, 1, 2, 1, 3, false, Mask.RIGHT),
                Arguments.of(2, 7, 4, 2, 5, true, Mask.NONE), Arguments.of(2, 7, 4, 2, 8, true, Mask.RIGHT),
                Arguments.of(3, 33, 4, 1, 7, false, Mask.RIGHT), Arguments.of(2, 33, 4, 1, 16, true, Mask.LEFT),
                Arguments.of(2, 33, 2, 2, 33, false, Mask.RANDOM), Arguments.of(2, 33, 4, 2, 9, true, Mask.RANDOM),
                Arguments.of(1, 129, 3, 3, 9, true, Mask.NONE), Arguments.of(2, 129, 4, 2, 16, false, Mask.RIGHT),
                Arguments.of(2, 70, 2, 1, 64, true, Mask.LEFT));
    }

    @ParameterizedTest(name = "B={0} T={1} Hq={2} Hkv={3} D={4} causal={5} mask={6}")
    @MethodSource("problems")
    void forwardAndBackwardMatchReference(int b, int t, int hq, int hkv, int d, boolean causal, Mask maskKind) {
        try (OpTestSupport s = new OpTestSupport(b * 7919L + t * 104729L + hq * 31L + hkv * 17L + d + (causal ? 5 : 0)
                + maskKind.ordinal() * 1_000_003L)) {
            float scale = (float) (1 / Math.sqrt(d));
            float[] q = s.randn(b * t * hq * d, 1.5), k = s.randn(b * t * hkv * d, 1.5), v = s.randn(b * t * hkv * d);
            float[] g = s.randn(b * t * hq * d);
            int[] mask = makeMask(s, maskKind, b, t);
            Tensor qt = s.f32(q, b, t, hq, d), kt = s.f32(k, b, t, hkv, d), vt = s.f32(v, b, t, hkv, d);
            Tensor mt = mask == null ? null : s.i32(mask, b, t);
            Tensor out = s.f32(s.randn(q.length), b, t, hq, d), lse = s.f32(s.randn(b * hq * t), b, hq, t);
            s.cpu.attentionForward(out, lse, qt, kt, vt, mt, causal, scale);
            Ref ref = reference(q, k, v, mask, g, b, t, hq, hkv, d, causal, scale);
            float[] o = out.toFloatArray();
            assertClose("out", ref.out, o, 1e-5, 1e-5);
            assertLseClose(ref.lse, lse.toFloatArray(), 1e-5);
            for (int i = 0; i < ref.lse.length; i++) {  // a row that sees nothing is exactly zero
                if (ref.lse[i] != Double.NEGATIVE_INFINITY) continue;
                int bi = i / (hq * t), h = (i / t) % hq, ti = i % t;
                for (int x = 0; x < d; x++) assertEquals(0f, o[((bi * t + ti) * hq + h) * d + x], "empty row");
            }

            // backward accumulates: start from non-zero gradients and check old + new
            float[] dq0 = s.randn(q.length), dk0 = s.randn(k.length), dv0 = s.randn(v.length);
            Tensor dq = s.f32(dq0, b, t, hq, d), dk = s.f32(dk0, b, t, hkv, d), dv = s.f32(dv0, b, t, hkv, d);
            s.cpu.attentionBackward(dq, dk, dv, s.f32(g, b, t, hq, d), qt, kt, vt, out, lse, mt, causal, scale);
            for (int i = 0; i < q.length; i++) ref.dq[i] += dq0[i];
            for (int i = 0; i < k.length; i++) {
                ref.dk[i] += dk0[i];
                ref.dv[i] += dv0[i];
            }
            float[] gq = dq.toFloatArray(), gk = dk.toFloatArray(), gv = dv.toFloatArray();
            assertAllFinite("dq", gq);
            assertAllFinite("dk", gk);
            assertAllFinite("dv", gv);
            double atol = 2e-5 * Math.sqrt(t * (hq / hkv));
            assertClose("dq", ref.dq, gq, 1e-4, atol);
            assertClose("dk", ref.dk, gk, 1e-4, atol);
            assertClose("dv", ref.dv, gv, 1e-4, atol);
        }
    }

    @Test
    void fullyPaddedSequenceGivesZerosAndNoGradient() {
        try (OpTestSupport s = new OpTestSupport(5)) {
            int b = 1, t = 5, hq = 2, hkv = 1, d = 4;
            Tensor q = s.f32(s.randn(b * t * hq * d), b, t, hq, d), k = s.f32(s.randn(b * t * hkv * d), b, t, hkv, d);
            Tensor v = s.f32(s.randn(b * t * hkv * d), b, t, hkv, d), mask = s.i32(new int[t], b, t);
            for (boolean causal : new boolean[] {false, true}) {
                Tensor out = s.f32(s.randn(b * t * hq * d), b, t, hq, d), lse = s.zeros(b, hq, t);
                s.cpu.attentionForward(out, lse, q, k, v, mask, causal, 0.5f);
                assertArrayEquals(new float[b * t * hq * d], out.toFloatArray());
                for (float l : lse.toFloatArray()) assertEquals(Float.NEGATIVE_INFINITY, l);
                float[] dq0 = s.randn(b * t * hq * d);
                Tensor dq = s.f32(dq0, b, t, hq, d), dk = s.zeros(b, t, hkv, d), dv = s.zeros(b, t, hkv, d);
                s.cpu.attentionBackward(dq, dk, dv, s.f32(s.randn(b * t * hq * d), b, t, hq, d), q, k, v, out, lse,
                        mask, causal, 0.5f);
                assertArrayEquals(dq0, dq.toFloatArray());
                assertArrayEquals(new float[b * t * hkv * d], dk.toFloatArray());
                assertArrayEquals(new float[b * t * hkv * d], dv.toFloatArray());
            }
        }
    }

    // ---------------------------------------------------------------- finite differences of the native forward

    static Stream<Arguments> fdProblems() {
        return Stream.of(Arguments.of(2, 9, 4, 2, 5, true, Mask.LEFT), Arguments.of(2, 7, 4, 1, 3, false, Mask.RIGHT),
                Arguments.of(1, 33, 2, 2, 7, true, Mask.NONE));
    }

    @ParameterizedTest(name = "B={0} T={1} Hq={2} Hkv={3} D={4} causal={5} mask={6}")
    @MethodSource("fdProblems")
    void backwardMatchesFiniteDifferences(int b, int t, int hq, int hkv, int d, boolean causal, Mask maskKind) {
        try (OpTestSupport s = new OpTestSupport(t * 13L + hkv + d)) {
            float scale = (float) (1 / Math.sqrt(d));
            float[] g = s.randn(b * t * hq * d);
            int[] mask = makeMask(s, maskKind, b, t);
            Tensor qt = s.f32(s.randn(b * t * hq * d), b, t, hq, d), kt = s.f32(s.randn(b * t * hkv * d), b, t, hkv, d);
            Tensor vt = s.f32(s.randn(b * t * hkv * d), b, t, hkv, d);
            Tensor mt = mask == null ? null : s.i32(mask, b, t);
            Tensor out = s.zeros(b, t, hq, d), lse = s.zeros(b, hq, t);
            Supplier<Double> loss = () -> {
                s.cpu.attentionForward(out, lse, qt, kt, vt, mt, causal, scale);
                return dot(out.toFloatArray(), g);
            };
            loss.get();
            Tensor dq = s.zeros(b, t, hq, d), dk = s.zeros(b, t, hkv, d), dv = s.zeros(b, t, hkv, d);
            s.cpu.attentionBackward(dq, dk, dv, s.f32(g, b, t, hq, d), qt, kt, vt, out, lse, mt, causal, scale);
            s.checkGradient("d/dq", qt, dq.toFloatArray(), loss, 60, 1e-2);
            s.checkGradient("d/dk", kt, dk.toFloatArray(), loss, 60, 1e-2);
            s.checkGradient("d/dv", vt, dv.toFloatArray(), loss, 60, 1e-2);
        }
    }

    // ---------------------------------------------------------------- determinism

    @Test
    void resultsDoNotDependOnTheThreadCount() {
        try (OpTestSupport s = new OpTestSupport(21)) {
            int b = 3, t = 70, hq = 4, hkv = 2, d = 16;
            int[] mask = makeMask(s, Mask.RIGHT, b, t);
            Tensor q = s.f32(s.randn(b * t * hq * d), b, t, hq, d), k = s.f32(s.randn(b * t * hkv * d), b, t, hkv, d);
            Tensor v = s.f32(s.randn(b * t * hkv * d), b, t, hkv, d), g = s.f32(s.randn(b * t * hq * d), b, t, hq, d);
            Tensor mt = s.i32(mask, b, t);
            float[][] first = null;
            int max = CpuBackend.maxThreads();
            try {
                for (int threads : new int[] {1, Math.max(2, max), 3}) {
                    CpuBackend.setNumThreads(threads);
                    Tensor out = s.zeros(b, t, hq, d), lse = s.zeros(b, hq, t);
                    Tensor dq = s.zeros(b, t, hq, d), dk = s.zeros(b, t, hkv, d), dv = s.zeros(b, t, hkv, d);
                    s.cpu.attentionForward(out, lse, q, k, v, mt, true, 0.25f);
                    s.cpu.attentionBackward(dq, dk, dv, g, q, k, v, out, lse, mt, true, 0.25f);
                    float[][] got = {out.toFloatArray(), lse.toFloatArray(), dq.toFloatArray(), dk.toFloatArray(),
                            dv.toFloatArray()};
                    if (first == null) {
                        first = got;
                    } else {
                        for (int i = 0; i < got.length; i++) assertArrayEquals(first[i], got[i], "threads=" + threads);
                    }
                }
            } finally {
                CpuBackend.setNumThreads(max);
            }
        }
    }

    // ---------------------------------------------------------------- misuse

    @Test
    void misuseIsRejectedInJavaWithOpAndShapes() {
        try (OpTestSupport s = new OpTestSupport(1)) {
            int b = 2, t = 3, hq = 4, hkv = 2, d = 5;
            Tensor q = s.zeros(b, t, hq, d), k = s.zeros(b, t, hkv, d), v = s.zeros(b, t, hkv, d);
            Tensor out = s.zeros(b, t, hq, d), lse = s.zeros(b, hq, t), mask = s.i32(new int[b * t], b, t);

            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.attentionForward(out, lse, q, s.zeros(b, t, hkv, d + 1), v, mask, true, 1f));
            assertTrue(e.getMessage().startsWith("attention_forward:")
                    && e.getMessage().contains("'k' must have shape [2, 3, 2, 5], got [2, 3, 2, 6]"), e.getMessage());

            e = assertThrows(IllegalArgumentException.class, () -> s.cpu.attentionForward(out, lse, q,
                    s.zeros(b, t, 3, d), s.zeros(b, t, 3, d), null, false, 1f));
            assertTrue(e.getMessage().contains("query heads 4 must be a multiple of kv heads 3"), e.getMessage());

            e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.attentionForward(out, s.zeros(b, t, hq), q, k, v, null, false, 1f));
            assertTrue(e.getMessage().contains("'lse' must have shape [2, 4, 3]"), e.getMessage());

            Tensor fmask = s.zeros(b, t);
            e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.attentionForward(out, lse, q, k, v, fmask, false, 1f));
            assertTrue(e.getMessage().contains("'keyMask' must be i32, got f32"), e.getMessage());

            Tensor iq = s.track(Tensor.zeros(DType.I32, b, t, hq, d));
            e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.attentionForward(out, lse, iq, k, v, null, false, 1f));
            assertTrue(e.getMessage().contains("'q' must be f32, got i32"), e.getMessage());

            Tensor closed = Tensor.zeros(DType.F32, b, t, hkv, d);
            closed.close();
            e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.attentionForward(out, lse, q, k, closed, null, false, 1f));
            assertTrue(e.getMessage().contains("'v' is closed"), e.getMessage());

            e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.attentionForward(null, lse, q, k, v, null, false, 1f));
            assertTrue(e.getMessage().contains("'out' is null"), e.getMessage());

            e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.attentionForward(out, lse, q, k, v, null, false, Float.NaN));
            assertTrue(e.getMessage().contains("scale must be finite"), e.getMessage());

            Tensor dq = s.zeros(b, t, hq, d), dk = s.zeros(b, t, hkv, d), dv = s.zeros(b, t, hkv, d);
            e = assertThrows(IllegalArgumentException.class, () -> s.cpu.attentionBackward(dq, dk, s.zeros(b, t, hq, d),
                    out, q, k, v, out, lse, null, false, 1f));
            assertTrue(e.getMessage().startsWith("attention_backward:")
                    && e.getMessage().contains("'dv' must have shape [2, 3, 2, 5], got [2, 3, 4, 5]"), e.getMessage());

            e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.attentionBackward(dq, dk, dv, null, q, k, v, out, lse, null, false, 1f));
            assertTrue(e.getMessage().contains("'dout' is null"), e.getMessage());

            e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.attentionBackward(dq, dk, dv, out, q, k, v, out, lse, s.i32(new int[b], b), true, 1f));
            assertTrue(e.getMessage().contains("'keyMask' must have shape [2, 3], got [2]"), e.getMessage());
        }
    }

    // ---------------------------------------------------------------- sliding window (Mistral)

    @ParameterizedTest(name = "T={0} window={1} mask={2}")
    @org.junit.jupiter.params.provider.CsvSource({"9, 4, NONE", "70, 16, RIGHT", "130, 33, LEFT", "65, 1, RANDOM",
            "20, 20, NONE", "20, 64, RIGHT"})
    void slidingWindowForwardAndBackwardMatchReference(int t, int window, Mask maskKind) {
        int b = 2, hq = 4, hkv = 2, d = 16;
        try (OpTestSupport s = new OpTestSupport(t * 101L + window)) {
            float[] q = s.randn(b * t * hq * d), k = s.randn(b * t * hkv * d), v = s.randn(b * t * hkv * d),
                    g = s.randn(b * t * hq * d);
            int[] mask = makeMask(s, maskKind, b, t);
            double scale = 1 / Math.sqrt(d);
            Ref ref = reference(q, k, v, mask, g, b, t, hq, hkv, d, true, window, scale);
            Tensor qt = s.f32(q, b, t, hq, d), kt = s.f32(k, b, t, hkv, d), vt = s.f32(v, b, t, hkv, d);
            Tensor mt = mask == null ? null : s.i32(mask, b, t);
            Tensor out = s.zeros(b, t, hq, d), lse = s.zeros(b, hq, t);
            s.cpu.attentionForward(out, lse, qt, kt, vt, mt, true, window, (float) scale);
            assertClose("out (window " + window + ")", ref.out, out.toFloatArray(), 1e-5, 1e-5);
            assertLseClose(ref.lse, lse.toFloatArray(), 1e-5);
            Tensor dq = s.zeros(b, t, hq, d), dk = s.zeros(b, t, hkv, d), dv = s.zeros(b, t, hkv, d);
            s.cpu.attentionBackward(dq, dk, dv, s.f32(g, b, t, hq, d), qt, kt, vt, out, lse, mt, true, window,
                    (float) scale);
            assertClose("dq", ref.dq, dq.toFloatArray(), 1e-4, 1e-5);
            assertClose("dk", ref.dk, dk.toFloatArray(), 1e-4, 1e-5);
            assertClose("dv", ref.dv, dv.toFloatArray(), 1e-4, 1e-5);
            if (window < t) {  // the window binds: plain causal attention differs
                Tensor plain = s.zeros(b, t, hq, d);
                s.cpu.attentionForward(plain, s.zeros(b, hq, t), qt, kt, vt, mt, true, (float) scale);
                assertTrue(OpTestSupport.scaledError(ref.out, OpTestSupport.toDouble(plain.toFloatArray())) > 1e-3,
                        "a window shorter than T changes the output");
            }
        }
    }

    @Test
    void slidingWindowMisuseIsRejected() {
        try (OpTestSupport s = new OpTestSupport(3)) {
            Tensor q = s.zeros(1, 4, 2, 8), k = s.zeros(1, 4, 2, 8), out = s.zeros(1, 4, 2, 8), lse = s.zeros(1, 2, 4);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.attentionForward(out, lse, q, k, k, null, false, 2, 1f));
            assertTrue(e.getMessage().contains("a sliding window (2) needs causal attention"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.attentionForward(out, lse, q, k, k, null, true, -1, 1f));
            assertTrue(e.getMessage().contains("window must be >= 0, got -1"), e.getMessage());
        }
    }

    /** A NaN score is never hidden as "no visible key": its row's output and lse are NaN (issue: reliability). */
    @Test
    void aNanScorePoisonsItsRowInsteadOfZeroingIt() {
        try (OpTestSupport s = new OpTestSupport(13)) {
            int b = 1, t = 6, h = 2, d = 8;
            float[] q = s.randn(b * t * h * d), k = s.randn(b * t * h * d), v = s.randn(b * t * h * d);
            q[((0 * t + 3) * h + 1) * d + 2] = Float.NaN;  // query row 3 of head 1: every score of that row is NaN
            Tensor out = s.zeros(b, t, h, d), lse = s.zeros(b, h, t);
            s.cpu.attentionForward(out, lse, s.f32(q, b, t, h, d), s.f32(k, b, t, h, d), s.f32(v, b, t, h, d), null, true,
                    0.3f);
            float[] o = out.toFloatArray(), l = lse.toFloatArray();
            for (int x = 0; x < d; x++) assertTrue(Float.isNaN(o[((3) * h + 1) * d + x]), "out row 3, head 1 is NaN");
            assertTrue(Float.isNaN(l[1 * t + 3]), "its lse is NaN");
            for (int x = 0; x < d; x++) assertTrue(Float.isFinite(o[((3) * h + 0) * d + x]), "the other head is untouched");
            assertTrue(Float.isFinite(l[3]) && Float.isFinite(l[1 * t + 2]), "other rows are finite");
        }
    }
}
