package cola.ops;

import static cola.ops.OpTestSupport.assertClose;
import static cola.ops.OpTestSupport.dot;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cola.tensor.DType;
import cola.tensor.Tensor;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Rotary position embedding, HF Llama rotate_half layout (native/src/rope.cpp). */
class RopeOpTest {

    // ---------------------------------------------------------------- double-precision reference

    /** rotate each (x[i], x[i+D/2]) by angle pos·theta^(-2i/D); sign -1 rotates backwards (the transpose). */
    static double[] ropeRef(float[] x, int[] pos, int n, int h, int d, double theta, int sign) {
        double[] f = new double[d / 2];
        for (int i = 0; i < f.length; i++) f[i] = Math.pow(theta, -2.0 * i / d);
        return ropeRefTable(x, pos, n, h, d, f, 1.0, sign);
    }

    static Stream<Arguments> shapes() {
        // N, H, D: D/2 odd (65), D/2 above the 256-pair stack chunk (513), Llama's 128
        return Stream.of(Arguments.of(1, 1, 2), Arguments.of(7, 3, 8), Arguments.of(33, 2, 64),
                Arguments.of(5, 4, 130), Arguments.of(3, 2, 1026), Arguments.of(129, 4, 128));
    }

    @ParameterizedTest(name = "N={0} H={1} D={2}")
    @MethodSource("shapes")
    void forwardAndBackwardMatchReference(int n, int h, int d) {
        for (float theta : new float[] {10000f, 500000f}) {
            try (OpTestSupport s = new OpTestSupport(n * 31L + h * 7L + d + (long) theta)) {
                float[] x = s.randn(n * h * d), g = s.randn(n * h * d), dx0 = s.randn(n * h * d);
                int[] pos = s.randint(n, 8192);
                Tensor xt = s.f32(x, n, h, d), pt = s.i32(pos, n), out = s.zeros(n, h, d);
                s.cpu.ropeForward(out, xt, pt, theta);
                float[] got = out.toFloatArray();
                assertClose("forward theta=" + theta, ropeRef(x, pos, n, h, d, theta, 1), got, 1e-6, 2e-6);

                // in place: out == inp gives bitwise the same result
                Tensor inPlace = s.f32(x, n, h, d);
                s.cpu.ropeForward(inPlace, inPlace, pt, theta);
                assertArrayEquals(got, inPlace.toFloatArray(), "in-place forward");

                // backward accumulates Rᵀ·dout
                Tensor dx = s.f32(dx0, n, h, d);
                s.cpu.ropeBackward(dx, s.f32(g, n, h, d), pt, theta);
                double[] ref = ropeRef(g, pos, n, h, d, theta, -1);
                for (int i = 0; i < ref.length; i++) ref[i] += dx0[i];
                assertClose("dinp theta=" + theta, ref, dx.toFloatArray(), 1e-6, 2e-6);
            }
        }
    }

    /** Angles are formed in double and reduced carefully: f32 angle arithmetic would be off by ~1e-3 here. */
    @Test
    void accurateAtLargePositions() {
        try (OpTestSupport s = new OpTestSupport(4)) {
            int[] pos = {0, 1, 2047, 4095, 4096, 8191, 32767, 131071, 1000003, -4096};
            int n = pos.length, h = 2, d = 128;
            float[] x = s.randn(n * h * d);
            for (float theta : new float[] {10000f, 500000f}) {
                Tensor out = s.zeros(n, h, d);
                s.cpu.ropeForward(out, s.f32(x, n, h, d), s.i32(pos, n), theta);
                assertClose("theta=" + theta, ropeRef(x, pos, n, h, d, theta, 1), out.toFloatArray(), 1e-6, 2e-6);
            }
        }
    }

    @Test
    void backwardMatchesFiniteDifferences() {
        try (OpTestSupport s = new OpTestSupport(21)) {
            int n = 5, h = 3, d = 10;
            float[] g = s.randn(n * h * d);
            Tensor xt = s.f32(s.randn(n * h * d), n, h, d), pt = s.i32(new int[] {0, 3, 77, 4096, 9}, n);
            Tensor out = s.zeros(n, h, d);
            java.util.function.Supplier<Double> loss = () -> {
                s.cpu.ropeForward(out, xt, pt, 10000f);
                return dot(out.toFloatArray(), g);
            };
            Tensor dx = s.zeros(n, h, d);
            s.cpu.ropeBackward(dx, s.f32(g, n, h, d), pt, 10000f);
            s.checkGradient("d/dinp", xt, dx.toFloatArray(), loss, 60, 1e-2);
        }
    }

    @Test
    void misuseIsRejectedInJavaWithOpAndShapes() {
        try (OpTestSupport s = new OpTestSupport(1)) {
            Tensor x = s.zeros(2, 3, 8), out = s.zeros(2, 3, 8), pos = s.i32(new int[] {0, 1}, 2);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.ropeForward(s.zeros(2, 3, 6), x, pos, 1e4f));
            assertTrue(e.getMessage().startsWith("rope_forward:") && e.getMessage().contains("'out' must have shape")
                    && e.getMessage().contains("f32[2, 3, 8]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.ropeForward(s.zeros(2, 3, 7), s.zeros(2, 3, 7), pos, 1e4f));
            assertTrue(e.getMessage().contains("head dim D must be even, got 7"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.ropeForward(out, x, s.i32(new int[] {0, 1, 2}, 3), 1e4f));
            assertTrue(e.getMessage().contains("'pos' must have 2 elements, got 3"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> s.cpu.ropeForward(out, x, s.zeros(2), 1e4f));
            assertTrue(e.getMessage().contains("'pos' must be i32, got f32"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> s.cpu.ropeForward(out, x, pos, 0f));
            assertTrue(e.getMessage().contains("theta must be > 0"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> s.cpu.ropeForward(out, null, pos, 1e4f));
            assertTrue(e.getMessage().contains("'inp' is null"), e.getMessage());
            Tensor closed = Tensor.zeros(DType.F32, 2, 3, 8);
            closed.close();
            e = assertThrows(IllegalArgumentException.class, () -> s.cpu.ropeBackward(closed, x, pos, 1e4f));
            assertTrue(e.getMessage().startsWith("rope_backward:") && e.getMessage().contains("'dinp' is closed"),
                    e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> s.cpu.ropeBackward(x, x, pos, 1e4f));
            assertTrue(e.getMessage().contains("'dinp' and 'dout' must not alias"), e.getMessage());
        }
    }

    // ---------------------------------------------------------------- a frequency table (scaled RoPE) and a scale

    /** rotate each (x[i], x[i+D/2]) by pos·f[i], scaled by {@code scale}; sign -1 rotates backwards (the transpose). */
    static double[] ropeRefTable(float[] x, int[] pos, int n, int h, int d, double[] f, double scale, int sign) {
        double[] out = new double[x.length];
        int half = d / 2;
        for (int r = 0; r < n; r++) {
            for (int i = 0; i < half; i++) {
                double ang = pos[r] * f[i];
                double c = scale * Math.cos(ang), sn = scale * sign * Math.sin(ang);
                for (int hh = 0; hh < h; hh++) {
                    int base = (r * h + hh) * d;
                    double a = x[base + i], b = x[base + i + half];
                    out[base + i] = a * c - b * sn;
                    out[base + i + half] = b * c + a * sn;
                }
            }
        }
        return out;
    }

    @ParameterizedTest(name = "N={0} H={1} D={2}")
    @MethodSource("shapes")
    void frequencyTableAndScaleMatchReference(int n, int h, int d) {
        try (OpTestSupport s = new OpTestSupport(n * 13L + h * 5L + d)) {
            float[] x = s.randn(n * h * d), g = s.randn(n * h * d), dx0 = s.randn(n * h * d);
            float[] f = new float[d / 2];
            for (int i = 0; i < f.length; i++) f[i] = (float) (Math.pow(500000.0, -2.0 * i / d) / (i % 3 == 0 ? 8 : 1));
            int[] pos = s.randint(n, 32768);
            float scale = 1.1386f;  // YaRN's 0.1·ln(4) + 1
            Tensor xt = s.f32(x, n, h, d), pt = s.i32(pos, n), ft = s.f32(f, d / 2), out = s.zeros(n, h, d);
            s.cpu.ropeForward(out, xt, pt, ft, scale);
            double[] fd = OpTestSupport.toDouble(f);
            assertClose("forward (table)", ropeRefTable(x, pos, n, h, d, fd, scale, 1), out.toFloatArray(), 1e-6, 3e-6);
            Tensor dx = s.f32(dx0, n, h, d);
            s.cpu.ropeBackward(dx, s.f32(g, n, h, d), pt, ft, scale);
            double[] ref = ropeRefTable(g, pos, n, h, d, fd, scale, -1);
            for (int i = 0; i < ref.length; i++) ref[i] += dx0[i];
            assertClose("dinp (table)", ref, dx.toFloatArray(), 1e-6, 3e-6);
        }
    }

    @Test
    void theDefaultTableEqualsTheta() {
        try (OpTestSupport s = new OpTestSupport(8)) {
            int n = 9, h = 2, d = 64;
            float[] x = s.randn(n * h * d), f = new float[d / 2];
            for (int i = 0; i < f.length; i++) f[i] = (float) Math.pow(10000.0, -2.0 * i / d);
            int[] pos = s.randint(n, 2048);
            Tensor a = s.zeros(n, h, d), b = s.zeros(n, h, d);
            s.cpu.ropeForward(a, s.f32(x, n, h, d), s.i32(pos, n), 10000f);
            s.cpu.ropeForward(b, s.f32(x, n, h, d), s.i32(pos, n), s.f32(f, d / 2), 1f);
            // the only difference: the table's f32 rounding of each frequency (≤ 6e-8 relative, × position ≤ 2048)
            assertClose("theta vs its table", OpTestSupport.toDouble(a.toFloatArray()), b.toFloatArray(), 1e-4, 1e-4);
        }
    }

    @Test
    void tableBackwardMatchesFiniteDifferencesAndBadTablesAreRefused() {
        try (OpTestSupport s = new OpTestSupport(22)) {
            int n = 5, h = 3, d = 10;
            float[] g = s.randn(n * h * d), f = {1f, 0.3f, 0.05f, 0.002f, 1e-4f};
            Tensor xt = s.f32(s.randn(n * h * d), n, h, d), pt = s.i32(new int[] {0, 3, 77, 4096, 9}, n);
            Tensor ft = s.f32(f, 5), out = s.zeros(n, h, d);
            java.util.function.Supplier<Double> loss = () -> {
                s.cpu.ropeForward(out, xt, pt, ft, 0.8f);
                return dot(out.toFloatArray(), g);
            };
            Tensor dx = s.zeros(n, h, d);
            s.cpu.ropeBackward(dx, s.f32(g, n, h, d), pt, ft, 0.8f);
            s.checkGradient("d/dinp (table)", xt, dx.toFloatArray(), loss, 60, 1e-2);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.ropeForward(out, xt, pt, s.f32(new float[4], 4), 1f));
            assertTrue(e.getMessage().contains("'inv_freq' must have 5 elements"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> s.cpu.ropeForward(out, xt, pt, ft, Float.NaN));
            assertTrue(e.getMessage().contains("scale must be finite"), e.getMessage());
            float[] bad = f.clone();
            bad[2] = Float.POSITIVE_INFINITY;
            float[] before = out.toFloatArray();
            assertThrows(cola.backend.NonFiniteException.class, () -> s.cpu.ropeForward(out, xt, pt, s.f32(bad, 5), 1f));
            assertArrayEquals(before, out.toFloatArray(), "nothing written");
        }
    }
}
