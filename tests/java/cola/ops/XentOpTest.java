package cola.ops;

import static cola.ops.OpTestSupport.assertClose;
import static cola.ops.OpTestSupport.dot;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cola.backend.cpu.CpuKernels;
import cola.tensor.DType;
import cola.tensor.Tensor;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Fused softmax cross-entropy (native/src/xent.cpp): PyTorch {@code F.cross_entropy(logits, targets,
 * ignore_index=-100, reduction='none')} semantics, lse saved for backward, backward overwriting dlogits (in place too).
 */
class XentOpTest {
    static final int IGNORE = -100;

    // ---------------------------------------------------------------- double-precision reference

    static double[] lseRef(float[] x, int n, int v) {
        double[] lse = new double[n];
        for (int r = 0; r < n; r++) {
            double m = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < v; j++) m = Math.max(m, x[r * v + j]);
            double s = 0;
            for (int j = 0; j < v; j++) s += Math.exp(x[r * v + j] - m);
            lse[r] = m + Math.log(s);
        }
        return lse;
    }

    static double[] lossRef(float[] x, int[] t, int n, int v) {
        double[] lse = lseRef(x, n, v), loss = new double[n];
        for (int r = 0; r < n; r++) loss[r] = t[r] == IGNORE ? 0 : lse[r] - x[r * v + t[r]];
        return loss;
    }

    /** dlogits = g·(softmax - onehot), 0 on ignored rows. */
    static double[] gradRef(float[] x, int[] t, float[] g, int n, int v) {
        double[] lse = lseRef(x, n, v), d = new double[n * v];
        for (int r = 0; r < n; r++) {
            if (t[r] == IGNORE) continue;
            for (int j = 0; j < v; j++) d[r * v + j] = g[r] * (Math.exp(x[r * v + j] - lse[r]) - (j == t[r] ? 1 : 0));
        }
        return d;
    }

    static int[] targets(OpTestSupport s, int n, int v) {
        int[] t = s.randint(n, v);
        for (int i = 0; i < n; i++) if (n > 2 && i % 5 == 3) t[i] = IGNORE;  // a few ignored rows
        return t;
    }

    static Stream<Arguments> shapes() {
        // V crosses the 16-lane and 2048-element block boundaries; 50272 is the OPT/GPT-2 padded vocabulary
        return Stream.of(Arguments.of(1, 1), Arguments.of(7, 33), Arguments.of(33, 129), Arguments.of(4, 2047),
                Arguments.of(5, 2049), Arguments.of(3, 4096), Arguments.of(2, 50272), Arguments.of(9, 50272));
    }

    @ParameterizedTest(name = "N={0} V={1}")
    @MethodSource("shapes")
    void forwardAndBackwardMatchReference(int n, int v) {
        try (OpTestSupport s = new OpTestSupport(n * 7919L + v)) {
            float[] x = s.randn(n * v, 3.0);
            int[] t = targets(s, n, v);
            float[] g = s.uniform(n, 0.5, 2.0);
            Tensor xt = s.f32(x, n, v), tt = s.i32(t, n), losses = s.f32(s.randn(n), n), lse = s.f32(s.randn(n), n);
            s.cpu.softmaxXentForward(losses, lse, xt, tt, IGNORE);
            assertClose("lse", lseRef(x, n, v), lse.toFloatArray(), 2e-6, 1e-6);
            assertClose("losses", lossRef(x, t, n, v), losses.toFloatArray(), 2e-6, 2e-6);

            // backward overwrites: start from garbage
            Tensor d = s.f32(s.randn(n * v, 100), n, v);
            s.cpu.softmaxXentBackward(d, s.f32(g, n), xt, lse, tt, IGNORE);
            assertClose("dlogits", gradRef(x, t, g, n, v), d.toFloatArray(), 1e-5, 2e-7);
            float[] got = d.toFloatArray();
            for (int r = 0; r < n; r++) {
                if (t[r] != IGNORE) continue;
                for (int j = 0; j < v; j++) assertEquals(0f, got[r * v + j], "ignored row " + r);
            }

            // in place (dlogits == logits) gives bitwise the same gradient
            s.cpu.softmaxXentBackward(xt, s.f32(g, n), xt, lse, tt, IGNORE);
            assertArrayEquals(got, xt.toFloatArray(), "in-place backward");
        }
    }

    @Test
    void stableForHugeLogitsAndMaskedVocabulary() {
        try (OpTestSupport s = new OpTestSupport(5)) {
            int n = 4, v = 3001;
            float[] x = s.randn(n * v, 2.0);
            for (int j = 0; j < v; j++) {
                x[j] += 1000f;                                              // row 0: exp(x) would overflow even in double
                x[v + j] -= 1000f;                                          // row 1: exp(x) would underflow to 0
                if (j % 3 == 0) x[2 * v + j] = Float.NEGATIVE_INFINITY;     // row 2: masked vocabulary entries
            }
            x[3 * v + 17] = 80f;                                            // row 3: one dominant logit
            int[] t = {5, 6, 7, 17};
            Tensor losses = s.zeros(n), lse = s.zeros(n);
            s.cpu.softmaxXentForward(losses, lse, s.f32(x, n, v), s.i32(t, n), IGNORE);
            assertClose("losses", lossRef(x, t, n, v), losses.toFloatArray(), 1e-5, 1e-5);
            assertClose("lse", lseRef(x, n, v), lse.toFloatArray(), 1e-6, 1e-6);
            Tensor d = s.zeros(n, v);
            float[] g = {1f, 1f, 1f, 1f};
            s.cpu.softmaxXentBackward(d, s.f32(g, n), s.f32(x, n, v), lse, s.i32(t, n), IGNORE);
            float[] got = d.toFloatArray();
            for (float f : got) assertTrue(Float.isFinite(f), "gradient must be finite");
            // lse is stored in f32: at |lse| ~ 1000 its rounding (3e-5) bounds the relative error of exp(x - lse)
            assertClose("dlogits", gradRef(x, t, g, n, v), got, 1e-4, 1e-7);
        }
    }

    @Test
    void allIgnoredRowsGiveZeroLossButStillWriteLse() {
        try (OpTestSupport s = new OpTestSupport(6)) {
            int n = 3, v = 50;
            float[] x = s.randn(n * v);
            int[] t = {IGNORE, IGNORE, IGNORE};
            Tensor losses = s.f32(new float[] {9, 9, 9}, n), lse = s.zeros(n);
            s.cpu.softmaxXentForward(losses, lse, s.f32(x, n, v), s.i32(t, n), IGNORE);
            assertArrayEquals(new float[] {0, 0, 0}, losses.toFloatArray());
            assertClose("lse", lseRef(x, n, v), lse.toFloatArray(), 1e-6, 1e-6);
        }
    }

    @Test
    void backwardMatchesFiniteDifferences() {
        try (OpTestSupport s = new OpTestSupport(13)) {
            int n = 6, v = 37;
            float[] g = s.uniform(n, -2, 2);
            int[] t = targets(s, n, v);
            Tensor xt = s.f32(s.randn(n * v, 2.0), n, v), tt = s.i32(t, n);
            Tensor losses = s.zeros(n), lse = s.zeros(n);
            java.util.function.Supplier<Double> loss = () -> {
                s.cpu.softmaxXentForward(losses, lse, xt, tt, IGNORE);
                return dot(losses.toFloatArray(), g);
            };
            loss.get();
            Tensor d = s.zeros(n, v);
            s.cpu.softmaxXentBackward(d, s.f32(g, n), xt, lse, tt, IGNORE);
            s.checkGradient("d/dlogits", xt, d.toFloatArray(), loss, 80, 1e-2);
        }
    }

    @Test
    void nativeRejectsBadTargetBeforeWritingAnything() {
        try (OpTestSupport s = new OpTestSupport(2)) {
            int n = 3, v = 10;
            Tensor x = s.f32(s.randn(n * v), n, v), losses = s.f32(new float[] {7, 7, 7}, n);
            Tensor lse = s.f32(new float[] {7, 7, 7}, n), d = s.f32(new float[n * v], n, v);
            Tensor t = s.i32(new int[] {1, 2, v}, n);  // last row out of range; the rows before it are valid
            assertEquals(3, CpuKernels.cola_softmax_xent_forward(losses.address(), lse.address(), x.address(),
                    t.address(), n, v, IGNORE));
            assertArrayEquals(new float[] {7, 7, 7}, losses.toFloatArray());
            assertArrayEquals(new float[] {7, 7, 7}, lse.toFloatArray());
            assertEquals(3, CpuKernels.cola_softmax_xent_backward(d.address(), losses.address(), x.address(),
                    lse.address(), t.address(), n, v, IGNORE));
            assertArrayEquals(new float[n * v], d.toFloatArray());
        }
    }

    @Test
    void misuseIsRejectedInJavaWithOpAndShapes() {
        try (OpTestSupport s = new OpTestSupport(1)) {
            Tensor x = s.zeros(4, 10), losses = s.zeros(4), lse = s.zeros(4), t = s.i32(new int[] {0, 1, 2, 3}, 4);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.softmaxXentForward(s.zeros(3), lse, x, t, IGNORE));
            assertTrue(e.getMessage().startsWith("softmax_xent_forward:") && e.getMessage().contains("'losses'")
                    && e.getMessage().contains("f32[4, 10]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.softmaxXentForward(losses, lse, x, s.zeros(4), IGNORE));
            assertTrue(e.getMessage().contains("'targets' must be i32, got f32"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.softmaxXentForward(losses, lse, x, s.i32(new int[] {0, 10, 2, 3}, 4), IGNORE));
            assertTrue(e.getMessage().contains("'targets'[1] = 10 is outside [0, 10)"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.softmaxXentForward(losses, lse, x, s.i32(new int[] {0, -1, 2, 3}, 4), IGNORE));
            assertTrue(e.getMessage().contains("'targets'[1] = -1"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> s.cpu.softmaxXentForward(losses, null, x, t, IGNORE));
            assertTrue(e.getMessage().contains("'lse' is null"), e.getMessage());
            Tensor closed = Tensor.zeros(DType.F32, 4, 10);
            closed.close();
            e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.softmaxXentForward(losses, lse, closed, t, IGNORE));
            assertTrue(e.getMessage().contains("'logits' is closed"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.softmaxXentBackward(s.zeros(4, 9), losses, x, lse, t, IGNORE));
            assertTrue(e.getMessage().startsWith("softmax_xent_backward:")
                    && e.getMessage().contains("'dlogits' must have shape [4, 10]"), e.getMessage());
        }
    }
}
