package cola.ops;

import static cola.ops.OpTestSupport.assertClose;
import static cola.ops.OpTestSupport.dot;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cola.backend.cpu.CpuBackend;
import cola.tensor.DType;
import cola.tensor.Tensor;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** layernorm and rmsnorm forward/backward (native/src/norm.cpp). */
class NormOpTest {
    static final float EPS = 1e-5f;

    // ---------------------------------------------------------------- double-precision reference

    /** LayerNorm of x[N,C] (PyTorch: biased variance, eps inside the sqrt); returns {out, mean, rstd}. */
    static double[][] layerNormRef(float[] x, float[] w, float[] b, int n, int c, double eps) {
        double[] out = new double[n * c], mean = new double[n], rstd = new double[n];
        for (int i = 0; i < n; i++) {
            double m = 0;
            for (int j = 0; j < c; j++) m += x[i * c + j];
            m /= c;
            double v = 0;
            for (int j = 0; j < c; j++) v += (x[i * c + j] - m) * (x[i * c + j] - m);
            v /= c;
            double r = 1 / Math.sqrt(v + eps);
            mean[i] = m;
            rstd[i] = r;
            for (int j = 0; j < c; j++) {
                out[i * c + j] = (x[i * c + j] - m) * r * (w == null ? 1 : w[j]) + (b == null ? 0 : b[j]);
            }
        }
        return new double[][] {out, mean, rstd};
    }

    /** Analytic LayerNorm gradients {dinp, dweight, dbias} (from zero) for upstream gradient g. */
    static double[][] layerNormBackwardRef(float[] g, float[] x, float[] w, int n, int c, double eps) {
        double[][] fwd = layerNormRef(x, null, null, n, c, eps);
        double[] dx = new double[n * c], dw = new double[c], db = new double[c];
        for (int i = 0; i < n; i++) {
            double r = fwd[2][i], sg = 0, sgx = 0;
            for (int j = 0; j < c; j++) {
                double gw = g[i * c + j] * (w == null ? 1.0 : w[j]), xh = fwd[0][i * c + j];
                sg += gw;
                sgx += gw * xh;
                dw[j] += g[i * c + j] * xh;
                db[j] += g[i * c + j];
            }
            for (int j = 0; j < c; j++) {
                double gw = g[i * c + j] * (w == null ? 1.0 : w[j]), xh = fwd[0][i * c + j];
                dx[i * c + j] = r * (gw - sg / c - xh * sgx / c);
            }
        }
        return new double[][] {dx, dw, db};
    }

    /** RMSNorm (Llama): returns {out, rstd}. */
    static double[][] rmsNormRef(float[] x, float[] w, int n, int c, double eps) {
        double[] out = new double[n * c], rstd = new double[n];
        for (int i = 0; i < n; i++) {
            double ss = 0;
            for (int j = 0; j < c; j++) ss += (double) x[i * c + j] * x[i * c + j];
            double r = 1 / Math.sqrt(ss / c + eps);
            rstd[i] = r;
            for (int j = 0; j < c; j++) out[i * c + j] = x[i * c + j] * r * w[j];
        }
        return new double[][] {out, rstd};
    }

    /** Analytic RMSNorm gradients {dinp, dweight} (from zero). */
    static double[][] rmsNormBackwardRef(float[] g, float[] x, float[] w, int n, int c, double eps) {
        double[] rstd = rmsNormRef(x, w, n, c, eps)[1];
        double[] dx = new double[n * c], dw = new double[c];
        for (int i = 0; i < n; i++) {
            double r = rstd[i], s = 0;
            for (int j = 0; j < c; j++) s += (double) g[i * c + j] * w[j] * x[i * c + j];
            for (int j = 0; j < c; j++) {
                dx[i * c + j] = r * g[i * c + j] * w[j] - x[i * c + j] * r * r * r * s / c;
                dw[j] += (double) g[i * c + j] * x[i * c + j] * r;
            }
        }
        return new double[][] {dx, dw};
    }

    static double[] plus(double[] a, float[] b) {
        double[] r = new double[a.length];
        for (int i = 0; i < a.length; i++) r[i] = a[i] + b[i];
        return r;
    }

    // ---------------------------------------------------------------- shapes

    /** (N, C, affine) with affine 0 = weight+bias, 1 = weight only, 2 = bias only, 3 = none. */
    static Stream<Arguments> layerNormCases() {
        Stream.Builder<Arguments> b = Stream.builder();
        int[][] shapes = {{1, 1}, {7, 33}, {33, 7}, {1, 129}, {129, 129}, {64, 768}, {5, 1}};
        for (int[] s : shapes) {
            for (int affine = 0; affine < 4; affine++) b.add(Arguments.of(s[0], s[1], affine));
        }
        return b.build();
    }

    static Stream<Arguments> rmsNormShapes() {
        return Stream.of(Arguments.of(1, 1), Arguments.of(7, 33), Arguments.of(33, 7), Arguments.of(1, 129),
                Arguments.of(129, 129), Arguments.of(64, 768));
    }

    // ---------------------------------------------------------------- layernorm

    @ParameterizedTest(name = "N={0} C={1} affine={2}")
    @MethodSource("layerNormCases")
    void layerNormForwardAndBackwardMatchReference(int n, int c, int affine) {
        try (OpTestSupport s = new OpTestSupport(n * 7919L + c * 31L + affine)) {
            boolean hasW = affine <= 1, hasB = affine == 0 || affine == 2;
            // a row mean far from 0 exercises the two-pass variance
            float[] x = s.randn(n * c, 2.0);
            for (int i = 0; i < x.length; i++) x[i] += 5f;
            float[] w = hasW ? s.randn(c) : null, b = hasB ? s.randn(c) : null, g = s.randn(n * c);
            Tensor xt = s.f32(x, n, c), wt = hasW ? s.f32(w, c) : null, bt = hasB ? s.f32(b, c) : null;
            Tensor out = s.zeros(n, c), mean = s.zeros(n), rstd = s.zeros(n);
            s.cpu.layerNormForward(out, mean, rstd, xt, wt, bt, EPS);
            double[][] ref = layerNormRef(x, w, b, n, c, EPS);
            assertClose("out", ref[0], out.toFloatArray(), 1e-5, 2e-6);
            assertClose("mean", ref[1], mean.toFloatArray(), 1e-6, 1e-7);
            assertClose("rstd", ref[2], rstd.toFloatArray(), 1e-6, 0);

            // backward accumulates: start from non-zero gradients and check old + new
            float[] dx0 = s.randn(n * c), dw0 = s.randn(c), db0 = s.randn(c);
            Tensor dx = s.f32(dx0, n, c), dw = hasW ? s.f32(dw0, c) : null, db = s.f32(db0, c);
            s.cpu.layerNormBackward(dx, dw, db, s.f32(g, n, c), xt, wt, mean, rstd);
            double[][] dref = layerNormBackwardRef(g, x, w, n, c, EPS);
            double scale = ref[2][0] > 100 ? ref[2][0] : 1;  // C = 1: rstd = 1/sqrt(eps), dinp = 0 exactly
            assertClose("dinp", plus(dref[0], dx0), dx.toFloatArray(), 1e-5, 1e-5 * scale);
            if (hasW) assertClose("dweight", plus(dref[1], dw0), dw.toFloatArray(), 1e-5, 1e-5 * Math.sqrt(n));
            assertClose("dbias", plus(dref[2], db0), db.toFloatArray(), 1e-5, 1e-5 * Math.sqrt(n));
        }
    }

    @Test
    void layerNormBackwardMatchesFiniteDifferences() {
        try (OpTestSupport s = new OpTestSupport(21)) {
            int n = 5, c = 13;
            float[] g = s.randn(n * c);
            Tensor xt = s.f32(s.randn(n * c), n, c), wt = s.f32(s.randn(c), c), bt = s.f32(s.randn(c), c);
            Tensor out = s.zeros(n, c), mean = s.zeros(n), rstd = s.zeros(n);
            Supplier<Double> loss = () -> {
                s.cpu.layerNormForward(out, mean, rstd, xt, wt, bt, EPS);
                return dot(out.toFloatArray(), g);
            };
            loss.get();
            Tensor dx = s.zeros(n, c), dw = s.zeros(c), db = s.zeros(c);
            s.cpu.layerNormBackward(dx, dw, db, s.f32(g, n, c), xt, wt, mean, rstd);
            s.checkGradient("d/dinp", xt, dx.toFloatArray(), loss, 65, 1e-2);
            s.checkGradient("d/dweight", wt, dw.toFloatArray(), loss, 13, 1e-2);
            s.checkGradient("d/dbias", bt, db.toFloatArray(), loss, 13, 1e-2);
        }
    }

    @Test
    void layerNormWithoutAffineMatchesFiniteDifferences() {
        try (OpTestSupport s = new OpTestSupport(22)) {
            int n = 4, c = 9;
            float[] g = s.randn(n * c);
            Tensor xt = s.f32(s.randn(n * c), n, c);
            Tensor out = s.zeros(n, c), mean = s.zeros(n), rstd = s.zeros(n);
            Supplier<Double> loss = () -> {
                s.cpu.layerNormForward(out, mean, rstd, xt, null, null, EPS);
                return dot(out.toFloatArray(), g);
            };
            loss.get();
            Tensor dx = s.zeros(n, c);
            s.cpu.layerNormBackward(dx, null, null, s.f32(g, n, c), xt, null, mean, rstd);
            s.checkGradient("d/dinp", xt, dx.toFloatArray(), loss, 36, 1e-2);
        }
    }

    @Test
    void layerNormConstantRowIsFiniteAndLargeOffsetIsAccurate() {
        try (OpTestSupport s = new OpTestSupport(23)) {
            int n = 3, c = 768;
            float[] x = new float[n * c];
            for (int j = 0; j < c; j++) {
                x[j] = 7f;                                           // constant row: var = 0, out = bias
                x[c + j] = 1000f + (float) s.rng.nextGaussian() * 1e-2f;  // |mean| ≫ std: one-pass E[x²]-E[x]² fails
                x[2 * c + j] = (float) s.rng.nextGaussian() * 1e4f;
            }
            float[] b = s.randn(c);
            Tensor out = s.zeros(n, c), mean = s.zeros(n), rstd = s.zeros(n);
            s.cpu.layerNormForward(out, mean, rstd, s.f32(x, n, c), null, s.f32(b, c), EPS);
            double[][] ref = layerNormRef(x, null, b, n, c, EPS);
            assertClose("out", ref[0], out.toFloatArray(), 1e-5, 1e-5);
            assertClose("rstd", ref[2], rstd.toFloatArray(), 1e-6, 0);
            // backward of the offset and wide rows (the constant row's gradient is ill-conditioned: rstd = 316)
            float[] g = s.randn(n * c);
            Tensor dx = s.zeros(n, c);
            s.cpu.layerNormBackward(dx, null, null, s.f32(g, n, c), s.f32(x, n, c), null, mean, rstd);
            double[] dref = layerNormBackwardRef(g, x, null, n, c, EPS)[0];
            float[] got = dx.toFloatArray();
            for (int row = 1; row < n; row++) {
                OpTestSupport.assertScaledClose("dinp row " + row,
                        java.util.Arrays.copyOfRange(dref, row * c, (row + 1) * c),
                        java.util.Arrays.copyOfRange(got, row * c, (row + 1) * c), 1e-5);
            }
        }
    }

    // ---------------------------------------------------------------- rmsnorm

    @ParameterizedTest(name = "N={0} C={1}")
    @MethodSource("rmsNormShapes")
    void rmsNormForwardAndBackwardMatchReference(int n, int c) {
        try (OpTestSupport s = new OpTestSupport(n * 104729L + c)) {
            float[] x = s.randn(n * c, 3.0), w = s.randn(c), g = s.randn(n * c);
            Tensor xt = s.f32(x, n, c), wt = s.f32(w, c), out = s.zeros(n, c), rstd = s.zeros(n);
            s.cpu.rmsNormForward(out, rstd, xt, wt, EPS);
            double[][] ref = rmsNormRef(x, w, n, c, EPS);
            assertClose("out", ref[0], out.toFloatArray(), 1e-5, 1e-6);
            assertClose("rstd", ref[1], rstd.toFloatArray(), 1e-6, 0);

            float[] dx0 = s.randn(n * c), dw0 = s.randn(c);
            Tensor dx = s.f32(dx0, n, c), dw = s.f32(dw0, c);
            s.cpu.rmsNormBackward(dx, dw, s.f32(g, n, c), xt, wt, rstd);
            double[][] dref = rmsNormBackwardRef(g, x, w, n, c, EPS);
            assertClose("dinp", plus(dref[0], dx0), dx.toFloatArray(), 1e-5, 1e-5);
            assertClose("dweight", plus(dref[1], dw0), dw.toFloatArray(), 1e-5, 1e-5 * Math.sqrt(n));

            // dweight is optional
            Tensor dx2 = s.f32(dx0, n, c);
            s.cpu.rmsNormBackward(dx2, null, s.f32(g, n, c), xt, wt, rstd);
            assertArrayEquals(dx.toFloatArray(), dx2.toFloatArray(), "dinp without dweight");
        }
    }

    @Test
    void rmsNormBackwardMatchesFiniteDifferences() {
        try (OpTestSupport s = new OpTestSupport(31)) {
            int n = 6, c = 11;
            float[] g = s.randn(n * c);
            Tensor xt = s.f32(s.randn(n * c), n, c), wt = s.f32(s.randn(c), c);
            Tensor out = s.zeros(n, c), rstd = s.zeros(n);
            Supplier<Double> loss = () -> {
                s.cpu.rmsNormForward(out, rstd, xt, wt, EPS);
                return dot(out.toFloatArray(), g);
            };
            loss.get();
            Tensor dx = s.zeros(n, c), dw = s.zeros(c);
            s.cpu.rmsNormBackward(dx, dw, s.f32(g, n, c), xt, wt, rstd);
            s.checkGradient("d/dinp", xt, dx.toFloatArray(), loss, 66, 1e-2);
            s.checkGradient("d/dweight", wt, dw.toFloatArray(), loss, 11, 1e-2);
        }
    }

    // ---------------------------------------------------------------- determinism

    @Test
    void parameterGradientsAreDeterministicAndNearlyThreadCountIndependent() {
        int maxThreads = CpuBackend.maxThreads();
        try (OpTestSupport s = new OpTestSupport(41)) {
            int n = 257, c = 384;
            float[] x = s.randn(n * c), w = s.randn(c), g = s.randn(n * c);
            Tensor xt = s.f32(x, n, c), wt = s.f32(w, c), gt = s.f32(g, n, c);
            Tensor out = s.zeros(n, c), mean = s.zeros(n), rstd = s.zeros(n), rrms = s.zeros(n);
            s.cpu.layerNormForward(out, mean, rstd, xt, wt, null, EPS);
            s.cpu.rmsNormForward(out, rrms, xt, wt, EPS);
            float[][] first = null;
            for (int threads : new int[] {maxThreads, maxThreads, 1, 3}) {
                CpuBackend.setNumThreads(threads);
                Tensor dx = s.zeros(n, c), dw = s.zeros(c), db = s.zeros(c), dx2 = s.zeros(n, c), dw2 = s.zeros(c);
                s.cpu.layerNormBackward(dx, dw, db, gt, xt, wt, mean, rstd);
                s.cpu.rmsNormBackward(dx2, dw2, gt, xt, wt, rrms);
                float[][] got = {dx.toFloatArray(), dw.toFloatArray(), db.toFloatArray(), dx2.toFloatArray(),
                    dw2.toFloatArray()};
                if (first == null) {
                    first = got;
                } else if (threads == maxThreads) {
                    for (int i = 0; i < got.length; i++) assertArrayEquals(first[i], got[i], "rerun, tensor " + i);
                } else {
                    for (int i = 0; i < got.length; i++) {
                        assertClose("threads=" + threads + ", tensor " + i, OpTestSupport.toDouble(first[i]),
                                got[i], 1e-6, 1e-6);
                    }
                }
            }
        } finally {
            CpuBackend.setNumThreads(maxThreads);
        }
    }

    // ---------------------------------------------------------------- misuse

    static void assertRejected(String op, String fragment, Executable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().startsWith(op + ":") && e.getMessage().contains(fragment), e.getMessage());
    }

    @Test
    void misuseIsRejectedInJavaWithOpAndShapes() {
        try (OpTestSupport s = new OpTestSupport(1)) {
            Tensor x = s.zeros(4, 8), out = s.zeros(4, 8), w = s.zeros(8), b = s.zeros(8);
            Tensor mean = s.zeros(4), rstd = s.zeros(4), dx = s.zeros(4, 8), dw = s.zeros(8), g = s.zeros(4, 8);
            // layernorm_forward
            assertRejected("layernorm_forward", "'weight' must have shape [8], got [7]",
                    () -> s.cpu.layerNormForward(out, mean, rstd, x, s.zeros(7), b, EPS));
            assertRejected("layernorm_forward", "'out' must have shape [4, 8], got [4, 7]",
                    () -> s.cpu.layerNormForward(s.zeros(4, 7), mean, rstd, x, w, b, EPS));
            assertRejected("layernorm_forward", "'mean' must have 4 elements, got 3",
                    () -> s.cpu.layerNormForward(out, s.zeros(3), rstd, x, w, b, EPS));
            assertRejected("layernorm_forward", "'out' is null",
                    () -> s.cpu.layerNormForward(null, mean, rstd, x, w, b, EPS));
            assertRejected("layernorm_forward", "eps must be > 0",
                    () -> s.cpu.layerNormForward(out, mean, rstd, x, w, b, 0f));
            Tensor ints = s.track(Tensor.zeros(DType.I32, 4, 8));
            assertRejected("layernorm_forward", "'inp' must be f32, got i32",
                    () -> s.cpu.layerNormForward(out, mean, rstd, ints, w, b, EPS));
            Tensor closed = Tensor.zeros(DType.F32, 8);
            closed.close();
            assertRejected("layernorm_forward", "'bias' is closed",
                    () -> s.cpu.layerNormForward(out, mean, rstd, x, w, closed, EPS));
            // layernorm_backward
            assertRejected("layernorm_backward", "dweight given without weight",
                    () -> s.cpu.layerNormBackward(dx, dw, null, g, x, null, mean, rstd));
            assertRejected("layernorm_backward", "'dout' must have shape [4, 8], got [8, 4]",
                    () -> s.cpu.layerNormBackward(dx, dw, null, s.zeros(8, 4), x, w, mean, rstd));
            assertRejected("layernorm_backward", "'rstd' must have 4 elements, got 8",
                    () -> s.cpu.layerNormBackward(dx, dw, null, g, x, w, mean, s.zeros(8)));
            assertRejected("layernorm_backward", "'dinp' is null",
                    () -> s.cpu.layerNormBackward(null, dw, null, g, x, w, mean, rstd));
            // rmsnorm
            assertRejected("rmsnorm_forward", "'weight' is null", () -> s.cpu.rmsNormForward(out, rstd, x, null, EPS));
            assertRejected("rmsnorm_forward", "eps must be > 0",
                    () -> s.cpu.rmsNormForward(out, rstd, x, w, -1e-5f));
            assertRejected("rmsnorm_forward", "'rstd' must have 4 elements, got 5",
                    () -> s.cpu.rmsNormForward(out, s.zeros(5), x, w, EPS));
            assertRejected("rmsnorm_backward", "'dweight' must have shape [8], got [4]",
                    () -> s.cpu.rmsNormBackward(dx, s.zeros(4), g, x, w, rstd));
            Tensor bf = s.track(Tensor.zeros(DType.BF16, 4, 8));
            assertRejected("rmsnorm_backward", "'dout' must be f32, got bf16",
                    () -> s.cpu.rmsNormBackward(dx, dw, bf, x, w, rstd));
        }
    }
}
