package cola.ops;

import static cola.ops.OpTestSupport.assertClose;
import static cola.ops.OpTestSupport.dot;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cola.tensor.DType;
import cola.tensor.Tensor;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** gemm, batched gemm and the linear layer (matmul_forward/backward in native/src/linear.cpp and gemm.cpp). */
class LinearOpTest {

    // ---------------------------------------------------------------- double-precision reference

    /** out[M,N] = inp[M,K]·w[N,K]ᵀ + bias[N]. */
    static double[] matmulRef(float[] inp, float[] w, float[] bias, int m, int k, int n) {
        double[] out = new double[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s = bias == null ? 0 : bias[j];
                for (int p = 0; p < k; p++) s += (double) inp[i * k + p] * w[j * k + p];
                out[i * n + j] = s;
            }
        }
        return out;
    }

    /** op(A)[M,K]·op(B)[K,N] with explicit transposes. */
    static double[] gemmRef(boolean ta, boolean tb, float[] a, float[] b, int m, int n, int k) {
        double[] c = new double[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int p = 0; p < k; p++) {
                    double av = ta ? a[p * m + i] : a[i * k + p];
                    double bv = tb ? b[j * k + p] : b[p * n + j];
                    s += av * bv;
                }
                c[i * n + j] = s;
            }
        }
        return c;
    }

    static Stream<Arguments> shapes() {
        return Stream.of(Arguments.of(1, 1, 1), Arguments.of(7, 33, 1), Arguments.of(33, 7, 129),
                Arguments.of(129, 33, 7), Arguments.of(64, 96, 48), Arguments.of(2, 129, 33));
    }

    @ParameterizedTest(name = "M={0} K={1} N={2}")
    @MethodSource("shapes")
    void gemmAllTransposes(int m, int k, int n) {
        try (OpTestSupport s = new OpTestSupport(m * 1000L + k * 10L + n)) {
            for (boolean ta : new boolean[] {false, true}) {
                for (boolean tb : new boolean[] {false, true}) {
                    float[] a = s.randn(m * k), b = s.randn(k * n), c0 = s.randn(m * n);
                    Tensor at = s.f32(a, ta ? k : m, ta ? m : k);
                    Tensor bt = s.f32(b, tb ? n : k, tb ? k : n);
                    Tensor ct = s.f32(c0, m, n);
                    s.cpu.gemm(ta, tb, 0.5f, at, bt, 2.0f, ct);
                    double[] ref = gemmRef(ta, tb, a, b, m, n, k);
                    for (int i = 0; i < ref.length; i++) ref[i] = 0.5 * ref[i] + 2.0 * c0[i];
                    assertClose("gemm ta=" + ta + " tb=" + tb, ref, ct.toFloatArray(), 1e-4, 1e-4 * Math.sqrt(k));
                }
            }
        }
    }

    @Test
    void gemmBatchedMatchesPerBatchReference() {
        try (OpTestSupport s = new OpTestSupport(3)) {
            int batch = 5, m = 7, n = 33, k = 17;
            float[] a = s.randn(batch * k * m), b = s.randn(batch * n * k);
            Tensor c = s.zeros(batch, m, n);
            s.cpu.gemmBatched(true, true, 1f, s.f32(a, batch, k, m), s.f32(b, batch, n, k), 0f, c);
            float[] got = c.toFloatArray();
            for (int bi = 0; bi < batch; bi++) {
                float[] ab = java.util.Arrays.copyOfRange(a, bi * k * m, (bi + 1) * k * m);
                float[] bb = java.util.Arrays.copyOfRange(b, bi * n * k, (bi + 1) * n * k);
                double[] ref = gemmRef(true, true, ab, bb, m, n, k);
                assertClose("batch " + bi, ref, java.util.Arrays.copyOfRange(got, bi * m * n, (bi + 1) * m * n),
                        1e-4, 1e-4);
            }
        }
    }

    @ParameterizedTest(name = "M={0} K={1} N={2}")
    @MethodSource("shapes")
    void matmulForwardAndBackwardMatchReference(int m, int k, int n) {
        try (OpTestSupport s = new OpTestSupport(m + 31L * k + 977L * n)) {
            float[] x = s.randn(m * k), w = s.randn(n * k, 0.3), b = s.randn(n), g = s.randn(m * n);
            Tensor xt = s.f32(x, m, k), wt = s.f32(w, n, k), bt = s.f32(b, n), out = s.zeros(m, n);
            s.cpu.matmulForward(out, xt, wt, bt);
            assertClose("forward", matmulRef(x, w, b, m, k, n), out.toFloatArray(), 1e-4, 1e-4 * Math.sqrt(k));

            // backward accumulates: start from non-zero gradients and check old + new
            float[] dx0 = s.randn(m * k), dw0 = s.randn(n * k), db0 = s.randn(n);
            Tensor dx = s.f32(dx0, m, k), dw = s.f32(dw0, n, k), db = s.f32(db0, n);
            s.cpu.matmulBackward(dx, dw, db, s.f32(g, m, n), xt, wt);
            double[] dxRef = new double[m * k], dwRef = new double[n * k], dbRef = new double[n];
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double gij = g[i * n + j];
                    dbRef[j] += gij;
                    for (int p = 0; p < k; p++) {
                        dxRef[i * k + p] += gij * w[j * k + p];
                        dwRef[j * k + p] += gij * x[i * k + p];
                    }
                }
            }
            for (int i = 0; i < dxRef.length; i++) dxRef[i] += dx0[i];
            for (int i = 0; i < dwRef.length; i++) dwRef[i] += dw0[i];
            for (int i = 0; i < dbRef.length; i++) dbRef[i] += db0[i];
            assertClose("dinp", dxRef, dx.toFloatArray(), 1e-4, 1e-4 * Math.sqrt(n));
            assertClose("dweight", dwRef, dw.toFloatArray(), 1e-4, 1e-4 * Math.sqrt(m));
            assertClose("dbias", dbRef, db.toFloatArray(), 1e-4, 1e-4 * Math.sqrt(m));
        }
    }

    @Test
    void matmulBackwardMatchesFiniteDifferences() {
        try (OpTestSupport s = new OpTestSupport(11)) {
            int m = 9, k = 13, n = 7;
            float[] g = s.randn(m * n);
            Tensor xt = s.f32(s.randn(m * k), m, k), wt = s.f32(s.randn(n * k), n, k), bt = s.f32(s.randn(n), n);
            Tensor out = s.zeros(m, n);
            java.util.function.Supplier<Double> loss = () -> {
                s.cpu.matmulForward(out, xt, wt, bt);
                return dot(out.toFloatArray(), g);
            };
            Tensor dx = s.zeros(m, k), dw = s.zeros(n, k), db = s.zeros(n);
            s.cpu.matmulBackward(dx, dw, db, s.f32(g, m, n), xt, wt);
            s.checkGradient("d/dinp", xt, dx.toFloatArray(), loss, 40, 1e-2);
            s.checkGradient("d/dweight", wt, dw.toFloatArray(), loss, 40, 1e-2);
            s.checkGradient("d/dbias", bt, db.toFloatArray(), loss, 7, 1e-2);
        }
    }

    @Test
    void misuseIsRejectedInJavaWithOpAndShapes() {
        try (OpTestSupport s = new OpTestSupport(1)) {
            Tensor x = s.zeros(4, 8), w = s.zeros(5, 8), out = s.zeros(4, 5);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.matmulForward(out, x, s.zeros(5, 7), null));
            assertTrue(e.getMessage().startsWith("matmul_forward:") && e.getMessage().contains("[5, 7]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> s.cpu.matmulForward(s.zeros(4, 6), x, w, null));
            assertTrue(e.getMessage().contains("out must be [4, 5]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> s.cpu.matmulForward(out, x, w, s.zeros(4)));
            assertTrue(e.getMessage().contains("'bias' must have shape [5]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> s.cpu.matmulForward(null, x, w, null));
            assertTrue(e.getMessage().contains("'out' is null"), e.getMessage());
            Tensor ints = s.track(Tensor.zeros(DType.I32, 4, 8));
            e = assertThrows(IllegalArgumentException.class, () -> s.cpu.matmulForward(out, ints, w, null));
            assertTrue(e.getMessage().contains("'inp' must be f32, got i32"), e.getMessage());
            Tensor closed = Tensor.zeros(DType.F32, 5, 8);
            closed.close();
            e = assertThrows(IllegalArgumentException.class, () -> s.cpu.matmulForward(out, x, closed, null));
            assertTrue(e.getMessage().contains("'weight' is closed"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.gemm(false, false, 1f, x, s.zeros(7, 5), 0f, out));
            assertTrue(e.getMessage().startsWith("gemm:"), e.getMessage());
        }
    }
}
