package cola.ops;

import static cola.ops.OpTestSupport.assertClose;
import static cola.ops.OpTestSupport.dot;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cola.tensor.Tensor;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Fused LoRA linear (native/src/lora.cpp) against a double-precision reference and finite differences. */
class LoraOpTest {

    // ---------------------------------------------------------------- reference (double)

    /** The counter-based RNG of native/src/common.h, bit for bit. */
    static long mix64(long z) {
        z += 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    static boolean keep(long seed, long index, float p) {
        float u = (float) (mix64(seed ^ mix64(index)) >>> 40) * (1.0f / 16777216.0f);
        return u >= p;
    }

    /** drop(x) as double, or x itself when p = 0. */
    static double[] dropped(float[] x, int m, int k, float p, long seed) {
        double[] xd = new double[m * k];
        for (int i = 0; i < m * k; i++) xd[i] = p == 0 ? x[i] : keep(seed, i, p) ? x[i] / (1.0 - p) : 0.0;
        return xd;
    }

    record Fwd(double[] y, double[] u) {}

    static Fwd forwardRef(float[] x, float[] w, float[] b, float[] a, float[] bm, float s, float p, long seed, int m,
            int k, int n, int r) {
        double[] xd = dropped(x, m, k, p, seed);
        double[] u = new double[m * r];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < r; j++) {
                double acc = 0;
                for (int q = 0; q < k; q++) acc += xd[i * k + q] * a[j * k + q];
                u[i * r + j] = acc;
            }
        double[] y = LinearOpTest.matmulRef(x, w, b, m, k, n);
        for (int i = 0; i < m; i++)
            for (int c = 0; c < n; c++) {
                double acc = 0;
                for (int j = 0; j < r; j++) acc += u[i * r + j] * bm[c * r + j];
                y[i * n + c] += s * acc;
            }
        return new Fwd(y, u);
    }

    static Stream<Arguments> shapes() {
        // M, K, N, r, dropout p
        return Stream.of(Arguments.of(1, 1, 1, 1, 0f), Arguments.of(7, 33, 129, 8, 0f), Arguments.of(33, 129, 7, 4, 0f),
                Arguments.of(129, 7, 33, 16, 0f), Arguments.of(64, 96, 48, 8, 0f), Arguments.of(7, 33, 129, 8, 0.1f),
                Arguments.of(33, 65, 17, 3, 0.5f));
    }

    @ParameterizedTest(name = "M={0} K={1} N={2} r={3} p={4}")
    @MethodSource("shapes")
    void forwardAndBackwardMatchReference(int m, int k, int n, int r, float p) {
        try (OpTestSupport s = new OpTestSupport(m * 7919L + k * 31L + n + r)) {
            float scale = 2.0f;
            long seed = 1234;
            float[] x = s.randn(m * k), w = s.randn(n * k, 0.2), b = s.randn(n), a = s.randn(r * k, 0.2),
                    bm = s.randn(n * r, 0.2), g = s.randn(m * n);
            Tensor xt = s.f32(x, m, k), wt = s.f32(w, n, k), bt = s.f32(b, n), at = s.f32(a, r, k),
                    bmt = s.f32(bm, n, r), y = s.zeros(m, n), u = s.zeros(m, r);
            s.cpu.loraLinearForward(y, u, xt, wt, bt, at, bmt, scale, p, seed);
            Fwd ref = forwardRef(x, w, b, a, bm, scale, p, seed, m, k, n, r);
            double tol = 1e-4 * Math.sqrt(k);
            assertClose("y", ref.y(), y.toFloatArray(), 1e-4, tol);
            assertClose("u", ref.u(), u.toFloatArray(), 1e-4, tol);

            // backward, accumulating onto non-zero buffers, full fine-tuning grads included
            float[] dx0 = s.randn(m * k), da0 = s.randn(r * k), db0 = s.randn(n * r), dw0 = s.randn(n * k),
                    dbias0 = s.randn(n);
            Tensor dx = s.f32(dx0, m, k), dA = s.f32(da0, r, k), dB = s.f32(db0, n, r), dW = s.f32(dw0, n, k),
                    dbias = s.f32(dbias0, n), v = s.zeros(m, r);
            s.cpu.loraLinearBackward(dx, dW, dbias, dA, dB, v, s.f32(g, m, n), xt, u, wt, at, bmt, scale, p, seed);

            double[] xd = dropped(x, m, k, p, seed);
            double[] vRef = new double[m * r];
            for (int i = 0; i < m; i++)
                for (int j = 0; j < r; j++) {
                    double acc = 0;
                    for (int c = 0; c < n; c++) acc += (double) g[i * n + c] * bm[c * r + j];
                    vRef[i * r + j] = acc;
                }
            double[] dxRef = new double[m * k], dARef = new double[r * k], dBRef = new double[n * r],
                    dWRef = new double[n * k], dbRef = new double[n];
            for (int i = 0; i < m; i++) {
                for (int q = 0; q < k; q++) {
                    double base = 0, lora = 0;
                    for (int c = 0; c < n; c++) base += (double) g[i * n + c] * w[c * k + q];
                    for (int j = 0; j < r; j++) lora += vRef[i * r + j] * a[j * k + q];
                    double dmask = p == 0 ? 1 : keep(seed, (long) i * k + q, p) ? 1 / (1.0 - p) : 0;
                    dxRef[i * k + q] = dx0[i * k + q] + base + scale * dmask * lora;
                }
            }
            for (int j = 0; j < r; j++)
                for (int q = 0; q < k; q++) {
                    double acc = 0;
                    for (int i = 0; i < m; i++) acc += vRef[i * r + j] * xd[i * k + q];
                    dARef[j * k + q] = da0[j * k + q] + scale * acc;
                }
            for (int c = 0; c < n; c++) {
                double sb = 0;
                for (int i = 0; i < m; i++) sb += g[i * n + c];
                dbRef[c] = dbias0[c] + sb;
                for (int j = 0; j < r; j++) {
                    double acc = 0;
                    for (int i = 0; i < m; i++) acc += (double) g[i * n + c] * ref.u()[i * r + j];
                    dBRef[c * r + j] = db0[c * r + j] + scale * acc;
                }
                for (int q = 0; q < k; q++) {
                    double acc = 0;
                    for (int i = 0; i < m; i++) acc += (double) g[i * n + c] * x[i * k + q];
                    dWRef[c * k + q] = dw0[c * k + q] + acc;
                }
            }
            assertClose("v", vRef, v.toFloatArray(), 1e-4, 1e-4 * Math.sqrt(n));
            assertClose("dx", dxRef, dx.toFloatArray(), 1e-4, 1e-4 * Math.sqrt(n));
            assertClose("dA", dARef, dA.toFloatArray(), 1e-4, 1e-4 * Math.sqrt(m * n));
            assertClose("dB", dBRef, dB.toFloatArray(), 1e-4, 1e-4 * Math.sqrt(m * k));
            assertClose("dW", dWRef, dW.toFloatArray(), 1e-4, 1e-4 * Math.sqrt(m));
            assertClose("db", dbRef, dbias.toFloatArray(), 1e-4, 1e-4 * Math.sqrt(m));
        }
    }

    @ParameterizedTest(name = "p={0}")
    @org.junit.jupiter.params.provider.ValueSource(floats = {0f, 0.3f})
    void backwardMatchesFiniteDifferences(float p) {
        try (OpTestSupport s = new OpTestSupport(99)) {
            int m = 11, k = 17, n = 13, r = 4;
            float scale = 0.5f;
            long seed = 7;
            float[] g = s.randn(m * n);
            Tensor xt = s.f32(s.randn(m * k), m, k), wt = s.f32(s.randn(n * k), n, k), bt = s.f32(s.randn(n), n),
                    at = s.f32(s.randn(r * k), r, k), bmt = s.f32(s.randn(n * r), n, r);
            Tensor y = s.zeros(m, n), u = s.zeros(m, r);
            Supplier<Double> loss = () -> {
                s.cpu.loraLinearForward(y, u, xt, wt, bt, at, bmt, scale, p, seed);
                return dot(y.toFloatArray(), g);
            };
            loss.get();
            Tensor dx = s.zeros(m, k), dA = s.zeros(r, k), dB = s.zeros(n, r), dW = s.zeros(n, k), db = s.zeros(n),
                    v = s.zeros(m, r);
            s.cpu.loraLinearBackward(dx, dW, db, dA, dB, v, s.f32(g, m, n), xt, u, wt, at, bmt, scale, p, seed);
            s.checkGradient("d/dx", xt, dx.toFloatArray(), loss, 40, 1e-2);
            s.checkGradient("d/dA", at, dA.toFloatArray(), loss, 40, 1e-2);
            s.checkGradient("d/dB", bmt, dB.toFloatArray(), loss, 40, 1e-2);
            s.checkGradient("d/dW", wt, dW.toFloatArray(), loss, 30, 1e-2);
            s.checkGradient("d/db", bt, db.toFloatArray(), loss, 13, 1e-2);
        }
    }

    @Test
    void zeroBStartsExactlyAtTheBaseModel() {
        // LoRA's contract: B = 0 at init → y equals the frozen layer bit for bit... up to the W_eff fold, which adds 0.
        try (OpTestSupport s = new OpTestSupport(5)) {
            int m = 33, k = 65, n = 47, r = 8;
            Tensor x = s.f32(s.randn(m * k), m, k), w = s.f32(s.randn(n * k), n, k), b = s.f32(s.randn(n), n);
            Tensor y = s.zeros(m, n), base = s.zeros(m, n);
            s.cpu.loraLinearForward(y, s.zeros(m, r), x, w, b, s.f32(s.randn(r * k), r, k), s.zeros(n, r), 2f, 0f, 0);
            s.cpu.matmulForward(base, x, w, b);
            org.junit.jupiter.api.Assertions.assertArrayEquals(base.toFloatArray(), y.toFloatArray());
        }
    }

    @Test
    void misuseIsRejectedInJava() {
        try (OpTestSupport s = new OpTestSupport(1)) {
            Tensor x = s.zeros(4, 8), w = s.zeros(6, 8), a = s.zeros(2, 8), b = s.zeros(6, 2), y = s.zeros(4, 6),
                    u = s.zeros(4, 2);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.loraLinearForward(y, u, x, w, null, s.zeros(2, 7), b, 1f, 0f, 0));
            assertTrue(e.getMessage().startsWith("lora_linear_forward: 'A' must have shape [2, 8]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.loraLinearForward(y, u, x, w, null, a, s.zeros(2, 6), 1f, 0f, 0));
            assertTrue(e.getMessage().contains("'B' must have shape [6, 2]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.loraLinearForward(y, s.zeros(4, 3), x, w, null, a, b, 1f, 0f, 0));
            assertTrue(e.getMessage().contains("u must be [4, 2]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.loraLinearForward(y, u, x, w, null, a, b, 1f, 1.0f, 0));
            assertTrue(e.getMessage().contains("dropout p must be in [0, 1)"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.loraLinearForward(y, u, x, w, null, a, b, Float.NaN, 0f, 0));
            assertTrue(e.getMessage().contains("scale s must be finite"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> s.cpu.loraLinearBackward(null, null, null,
                    s.zeros(2, 7), s.zeros(6, 2), s.zeros(4, 2), y, x, u, w, a, b, 1f, 0f, 0));
            assertTrue(e.getMessage().startsWith("lora_linear_backward: 'dA' must have shape [2, 8]"), e.getMessage());
        }
    }

    // ---------------------------------------------------------------- bf16 base weight (cola_lora_linear_*_bf16w)

    @ParameterizedTest(name = "M={0} K={1} N={2} r={3} p={4}")
    @MethodSource("shapes")
    void bf16BaseWeightMatchesReference(int m, int k, int n, int r, float p) {
        // The base product runs on bf16 operands (x rounded, W as stored); the low-rank path stays fp32. The reference
        // takes the rounded x for the base term and the f32 x for the adapter term: tight on both.
        try (OpTestSupport s = new OpTestSupport(m * 7919L + k * 31L + n + r + 1)) {
            float scale = 2.0f;
            long seed = 99;
            float[] x = s.randn(m * k), w = OpTestSupport.roundBf16(s.randn(n * k, 0.2)), b = s.randn(n),
                    a = s.randn(r * k, 0.2), bm = s.randn(n * r, 0.2), g = s.randn(m * n);
            Tensor xt = s.f32(x, m, k), wt = s.bf16(w, n, k), bt = s.f32(b, n), at = s.f32(a, r, k),
                    bmt = s.f32(bm, n, r), y = s.zeros(m, n), u = s.zeros(m, r);
            s.cpu.loraLinearForward(y, p > 0 ? u : null, xt, wt, bt, at, bmt, scale, p, seed);
            float[] xr = OpTestSupport.roundBf16(x);
            Fwd lora = forwardRef(x, new float[n * k], null, a, bm, scale, p, seed, m, k, n, r);
            double[] base = LinearOpTest.matmulRef(xr, w, b, m, k, n), yRef = new double[m * n];
            for (int i = 0; i < yRef.length; i++) yRef[i] = base[i] + lora.y()[i];
            assertClose("y (bf16 W)", yRef, y.toFloatArray(), 1e-5, 1e-5 * Math.sqrt(k));

            Tensor dx = s.zeros(m, k), dA = s.zeros(r, k), dB = s.zeros(n, r), v = s.zeros(m, r);
            if (p == 0) u = null;
            s.cpu.loraLinearBackward(dx, null, null, dA, dB, v, s.f32(g, m, n), xt, u, wt, at, bmt, scale, p, seed);
            // the f32-W kernel on the same (rounded) weights is the reference for the adapter gradients and the
            // LoRA part of dx; the base part of dx differs only by dout's rounding to bf16
            Tensor dx32 = s.zeros(m, k), dA32 = s.zeros(r, k), dB32 = s.zeros(n, r), u32 = s.zeros(m, r);
            s.cpu.loraLinearForward(s.zeros(m, n), u32, xt, s.f32(w, n, k), bt, at, bmt, scale, p, seed);
            s.cpu.loraLinearBackward(dx32, null, null, dA32, dB32, s.zeros(m, r), s.f32(g, m, n), xt, u32,
                    s.f32(w, n, k), at, bmt, scale, p, seed);
            assertClose("dA (bf16 W)", OpTestSupport.toDouble(dA32.toFloatArray()), dA.toFloatArray(), 1e-4,
                    1e-4 * Math.sqrt(m * n));
            assertClose("dB (bf16 W)", OpTestSupport.toDouble(dB32.toFloatArray()), dB.toFloatArray(), 1e-4,
                    1e-4 * Math.sqrt(m * k));
            assertClose("dx (bf16 W)", OpTestSupport.toDouble(dx32.toFloatArray()), dx.toFloatArray(), 1e-2,
                    1e-2 * Math.sqrt(n) * 0.2);
        }
    }

    @Test
    void bf16BaseWeightAdapterGradientsMatchFiniteDifferences() {
        try (OpTestSupport s = new OpTestSupport(77)) {
            int m = 11, k = 17, n = 13, r = 4;
            float scale = 0.5f;
            float[] g = s.randn(m * n);
            Tensor xt = s.f32(s.randn(m * k), m, k), wt = s.bf16(s.randn(n * k), n, k), bt = s.f32(s.randn(n), n),
                    at = s.f32(s.randn(r * k), r, k), bmt = s.f32(s.randn(n * r), n, r), y = s.zeros(m, n);
            Supplier<Double> loss = () -> {
                s.cpu.loraLinearForward(y, null, xt, wt, bt, at, bmt, scale, 0f, 0);
                return dot(y.toFloatArray(), g);
            };
            Tensor dA = s.zeros(r, k), dB = s.zeros(n, r);
            s.cpu.loraLinearBackward(null, null, null, dA, dB, s.zeros(m, r), s.f32(g, m, n), xt, null, wt, at, bmt,
                    scale, 0f, 0);
            s.checkGradient("d/dA (bf16 W)", at, dA.toFloatArray(), loss, 40, 1e-2);
            s.checkGradient("d/dB (bf16 W)", bmt, dB.toFloatArray(), loss, 40, 1e-2);
        }
    }
}
