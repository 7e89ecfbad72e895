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

    // ---------------------------------------------------------------- bf16 weights (gemm_bf16, matmul_bf16w)
    // The kernels round their activation operand to bf16 and accumulate in fp32, so against a double reference on the
    // ROUNDED operands the error is f32 accumulation only (tight); against the unrounded f32 product it is bf16's
    // 2^-9 relative rounding per operand (loose): both are asserted. No finite-difference check here: the kernel rounds
    // its input to bf16, so the loss is piecewise constant in inp at any step below bf16's resolution; the LoRA test
    // checks A and B (fp32 operands) by finite differences through a bf16 W instead.

    @ParameterizedTest(name = "M={0} K={1} N={2}")
    @MethodSource("shapes")
    void gemmBf16AllTransposesAccumulateInFp32(int m, int k, int n) {
        try (OpTestSupport s = new OpTestSupport(m * 1000L + k * 10L + n + 5)) {
            for (boolean ta : new boolean[] {false, true}) {
                for (boolean tb : new boolean[] {false, true}) {
                    for (float beta : new float[] {0f, 1f}) {
                        float[] a = OpTestSupport.roundBf16(s.randn(m * k)), b = OpTestSupport.roundBf16(s.randn(k * n));
                        float[] c0 = s.randn(m * n);
                        Tensor at = s.bf16(a, ta ? k : m, ta ? m : k), bt = s.bf16(b, tb ? n : k, tb ? k : n);
                        Tensor ct = s.f32(c0, m, n);
                        s.cpu.gemmBf16(ta, tb, at, bt, beta, ct);
                        double[] ref = gemmRef(ta, tb, a, b, m, n, k);
                        for (int i = 0; i < ref.length; i++) ref[i] += beta * c0[i];
                        assertClose("gemm_bf16 ta=" + ta + " tb=" + tb + " beta=" + beta, ref, ct.toFloatArray(), 1e-5,
                                1e-5 * Math.sqrt(k));
                    }
                }
            }
        }
    }

    @Test
    void gemmBf16CachesOnePrimitivePerShape() {
        try (OpTestSupport s = new OpTestSupport(11)) {
            Tensor a = s.bf16(s.randn(37 * 19), 37, 19), b = s.bf16(s.randn(19 * 23), 19, 23), c = s.zeros(37, 23);
            s.cpu.gemmBf16(false, false, a, b, 0f, c);
            long cached = cola.backend.cpu.CpuBackend.cachedBf16Primitives();
            for (int i = 0; i < 5; i++) s.cpu.gemmBf16(false, false, a, b, 0f, c);
            assertTrue(cola.backend.cpu.CpuBackend.cachedBf16Primitives() == cached, "a repeated shape reuses its primitive");
        }
    }

    @ParameterizedTest(name = "M={0} K={1} N={2}")
    @MethodSource("shapes")
    void matmulWithBf16WeightMatchesReference(int m, int k, int n) {
        try (OpTestSupport s = new OpTestSupport(m * 31L + k * 7L + n)) {
            float[] x = s.randn(m * k), w = OpTestSupport.roundBf16(s.randn(n * k, 0.2)), b = s.randn(n),
                    g = s.randn(m * n);
            Tensor xt = s.f32(x, m, k), wt = s.bf16(w, n, k), out = s.zeros(m, n);
            s.cpu.matmulForward(out, xt, wt, s.f32(b, n));
            float[] xr = OpTestSupport.roundBf16(x);
            assertClose("out vs rounded operands", matmulRef(xr, w, b, m, k, n), out.toFloatArray(), 1e-5,
                    1e-5 * Math.sqrt(k));
            assertClose("out vs f32 activations", matmulRef(x, w, b, m, k, n), out.toFloatArray(), 2e-2,
                    1e-2 * Math.sqrt(k) * 0.2);

            // backward accumulates: dinp += dout·W (dout rounded to bf16), dweight += doutᵀ·inp, dbias += Σ dout
            float[] dx0 = s.randn(m * k), dw0 = s.randn(n * k), db0 = s.randn(n);
            Tensor dx = s.f32(dx0, m, k), dw = s.f32(dw0, n, k), db = s.f32(db0, n);
            s.cpu.matmulBackward(dx, dw, db, s.f32(g, m, n), xt, wt);
            float[] gr = OpTestSupport.roundBf16(g);
            double[] dxRef = new double[m * k], dwRef = new double[n * k], dbRef = new double[n];
            for (int i = 0; i < m; i++)
                for (int q = 0; q < k; q++) {
                    double acc = dx0[i * k + q];
                    for (int c = 0; c < n; c++) acc += (double) gr[i * n + c] * w[c * k + q];
                    dxRef[i * k + q] = acc;
                }
            for (int c = 0; c < n; c++) {
                double sb = db0[c];
                for (int i = 0; i < m; i++) sb += g[i * n + c];
                dbRef[c] = sb;
                for (int q = 0; q < k; q++) {
                    double acc = dw0[c * k + q];
                    for (int i = 0; i < m; i++) acc += (double) gr[i * n + c] * xr[i * k + q];
                    dwRef[c * k + q] = acc;
                }
            }
            assertClose("dinp", dxRef, dx.toFloatArray(), 1e-5, 1e-5 * Math.sqrt(n));
            assertClose("dweight", dwRef, dw.toFloatArray(), 1e-5, 1e-5 * Math.sqrt(m));
            assertClose("dbias", dbRef, db.toFloatArray(), 1e-5, 1e-5 * Math.sqrt(m));
        }
    }

    @Test
    void bf16WeightMisuseIsRejectedInJava() {
        try (OpTestSupport s = new OpTestSupport(4)) {
            Tensor x = s.zeros(4, 5), w = s.bf16(new float[30], 6, 5), out = s.zeros(4, 6);
            Tensor xb = s.bf16(new float[20], 4, 5);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.matmulForward(out, xb, w, null));
            assertTrue(e.getMessage().contains("'inp' must be f32, got bf16"), e.getMessage());
            Tensor f16 = s.track(Tensor.zeros(DType.F16, 6, 5));
            e = assertThrows(IllegalArgumentException.class, () -> s.cpu.matmulForward(out, x, f16, null));
            assertTrue(e.getMessage().contains("'weight' must be f32 or bf16, got f16"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.gemmBf16(false, false, s.bf16(new float[20], 4, 5), w, 0.5f, out));
            assertTrue(e.getMessage().contains("beta"), e.getMessage());
        }
    }
}
