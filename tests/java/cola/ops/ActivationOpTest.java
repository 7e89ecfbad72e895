package cola.ops;

import static cola.ops.OpTestSupport.assertClose;
import static cola.ops.OpTestSupport.dot;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cola.backend.GeluApproximation;
import cola.backend.cpu.CpuBackend;
import cola.tensor.DType;
import cola.tensor.Tensor;
import java.util.function.DoubleUnaryOperator;
import java.util.function.Supplier;
import org.apache.commons.math3.special.Erf;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** gelu (erf and tanh), relu, silu, swiglu and add (native/src/activation.cpp). */
class ActivationOpTest {

    // ---------------------------------------------------------------- double-precision reference

    private static final CpuBackend CPU = CpuBackend.get();
    static final double SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

    /** Φ(x) with erfc, accurate (relatively) in both tails. */
    static double phi(double x) {
        return 0.5 * Erf.erfc(-x / Math.sqrt(2));
    }

    static double geluErf(double x) {
        return x * phi(x);
    }

    static double geluErfGrad(double x) {
        return phi(x) + x * Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
    }

    static double geluTanh(double x) {
        double u = SQRT_2_OVER_PI * (x + 0.044715 * x * x * x);
        return 0.5 * x * (1 + Math.tanh(u));
    }

    static double geluTanhGrad(double x) {
        double u = SQRT_2_OVER_PI * (x + 0.044715 * x * x * x), th = Math.tanh(u);
        return 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x);
    }

    static double sigmoid(double x) {
        return 1 / (1 + Math.exp(-x));
    }

    static double silu(double x) {
        return x * sigmoid(x);
    }

    static double siluGrad(double x) {
        double s = sigmoid(x);
        return s * (1 + x * (1 - s));
    }

    static double relu(double x) {
        return x > 0 ? x : 0;
    }

    static double reluGrad(double x) {
        return x > 0 ? 1 : 0;
    }

    static double[] map(float[] x, DoubleUnaryOperator f) {
        double[] r = new double[x.length];
        for (int i = 0; i < x.length; i++) r[i] = f.applyAsDouble(x[i]);
        return r;
    }

    /** Random inputs of length n with the interesting points first: 0, tiny, the tails, huge. */
    static float[] inputs(OpTestSupport s, int n) {
        float[] special = {0f, -0f, 1e-6f, -1e-6f, 0.5f, -0.5f, 1f, -1f, -0.75f, 3f, -3f, 5f, -5f, 8f, -8f, 12f, -12f,
            30f, -30f, 100f, -100f, 1e4f, -1e4f, 1e20f, -1e20f};
        float[] x = s.randn(n, 3.0);
        System.arraycopy(special, 0, x, 0, Math.min(n, special.length));
        return x;
    }

    // Tolerances: f32 kernels vs double math. Measured on a dense sweep of [-10, 10]: forward relative error ≤ 6e-7
    // (gelu erf), ≤ 2.4e-7 (silu), ≤ 1.1e-6 for |x| ≤ 3 and ≤ 3.7e-6 beyond (gelu tanh: σ(2u) in its tail amplifies the
    // f32 rounding of u by |2u|); backward error ≤ 2.3e-7·max(1, |f'|). The absolute floors only cover values below
    // 1e-10 (deep negative tails) and, in backward, roots of f'.
    static final double RTOL = 2e-6, ATOL = 1e-10;

    interface Fwd {
        void run(Tensor out, Tensor inp);
    }

    interface Bwd {
        void run(Tensor dinp, Tensor dout, Tensor inp);
    }

    void checkUnary(int n, String name, Fwd fwd, Bwd bwd, DoubleUnaryOperator f, DoubleUnaryOperator df) {
        checkUnary(n, name, fwd, bwd, f, df, RTOL);
    }

    void checkUnary(int n, String name, Fwd fwd, Bwd bwd, DoubleUnaryOperator f, DoubleUnaryOperator df,
            double rtolForward) {
        try (OpTestSupport s = new OpTestSupport(n * 31L + name.hashCode())) {
            float[] x = inputs(s, n), g = s.randn(n), d0 = s.randn(n);
            Tensor xt = s.f32(x, n), out = s.zeros(n);
            fwd.run(out, xt);
            assertClose(name + " forward", map(x, f), out.toFloatArray(), rtolForward, ATOL);

            // backward accumulates into a non-zero dinp
            Tensor dx = s.f32(d0, n);
            bwd.run(dx, s.f32(g, n), xt);
            double[] ref = new double[n];
            for (int i = 0; i < n; i++) ref[i] = d0[i] + g[i] * df.applyAsDouble(x[i]);
            assertClose(name + " backward", ref, dx.toFloatArray(), RTOL, 1e-6);
        }
    }

    // ---------------------------------------------------------------- forward + backward vs reference

    @ParameterizedTest(name = "n={0}")
    @ValueSource(ints = {1, 7, 33, 129, 1000, 40_001})
    void geluErfMatchesReference(int n) {
        checkUnary(n, "gelu", (o, i) -> CPU.geluForward(o, i, GeluApproximation.NONE),
                (d, g, i) -> CPU.geluBackward(d, g, i, GeluApproximation.NONE), ActivationOpTest::geluErf,
                ActivationOpTest::geluErfGrad);
    }

    @ParameterizedTest(name = "n={0}")
    @ValueSource(ints = {1, 7, 33, 129, 1000, 40_001})
    void geluTanhMatchesReference(int n) {
        checkUnary(n, "gelu_tanh", (o, i) -> CPU.geluForward(o, i, GeluApproximation.TANH),
                (d, g, i) -> CPU.geluBackward(d, g, i, GeluApproximation.TANH), ActivationOpTest::geluTanh,
                ActivationOpTest::geluTanhGrad, 5e-6);
    }

    @ParameterizedTest(name = "n={0}")
    @ValueSource(ints = {1, 7, 33, 129, 40_001})
    void reluMatchesReference(int n) {
        checkUnary(n, "relu", CPU::reluForward, CPU::reluBackward, ActivationOpTest::relu, ActivationOpTest::reluGrad);
    }

    @ParameterizedTest(name = "n={0}")
    @ValueSource(ints = {1, 7, 33, 129, 40_001})
    void siluMatchesReference(int n) {
        checkUnary(n, "silu", CPU::siluForward, CPU::siluBackward, ActivationOpTest::silu, ActivationOpTest::siluGrad);
    }

    @ParameterizedTest(name = "n={0}")
    @ValueSource(ints = {1, 7, 33, 129, 40_001})
    void swigluMatchesReference(int n) {
        try (OpTestSupport s = new OpTestSupport(n)) {
            float[] gate = inputs(s, n), up = s.randn(n), g = s.randn(n), dg0 = s.randn(n), du0 = s.randn(n);
            Tensor gt = s.f32(gate, n), ut = s.f32(up, n), out = s.zeros(n);
            s.cpu.swigluForward(out, gt, ut);
            double[] ref = new double[n];
            for (int i = 0; i < n; i++) ref[i] = silu(gate[i]) * up[i];
            assertClose("swiglu forward", ref, out.toFloatArray(), RTOL, ATOL);

            Tensor dg = s.f32(dg0, n), du = s.f32(du0, n);
            s.cpu.swigluBackward(dg, du, s.f32(g, n), gt, ut);
            double[] dgRef = new double[n], duRef = new double[n];
            for (int i = 0; i < n; i++) {
                dgRef[i] = dg0[i] + g[i] * up[i] * siluGrad(gate[i]);
                duRef[i] = du0[i] + g[i] * silu(gate[i]);
            }
            assertClose("dgate", dgRef, dg.toFloatArray(), RTOL, 1e-6);
            // dup grows like |gate| (up to 1e20 here): relative error is the measure
            assertClose("dup", duRef, du.toFloatArray(), RTOL, 1e-6);
        }
    }

    @ParameterizedTest(name = "n={0}")
    @ValueSource(ints = {1, 7, 33, 129, 40_001})
    void addMatchesReferenceAndWorksInPlace(int n) {
        try (OpTestSupport s = new OpTestSupport(n + 5)) {
            float[] a = s.randn(n), b = s.randn(n);
            Tensor at = s.f32(a, n), bt = s.f32(b, n), out = s.zeros(n);
            s.cpu.add(out, at, bt);
            double[] ref = new double[n];
            for (int i = 0; i < n; i++) ref[i] = (double) a[i] + b[i];
            assertClose("add", ref, out.toFloatArray(), 6e-8, 0);
            s.cpu.add(at, at, bt);  // residual in place: out aliases a
            assertClose("add in place", ref, at.toFloatArray(), 6e-8, 0);
        }
    }

    @Test
    void nanPropagatesThroughForward() {
        try (OpTestSupport s = new OpTestSupport(2)) {
            Tensor x = s.f32(new float[] {Float.NaN, 1f}, 2), out = s.zeros(2), up = s.f32(new float[] {1f, 1f}, 2);
            Fwd[] fwds = {(o, i) -> s.cpu.geluForward(o, i, GeluApproximation.NONE),
                (o, i) -> s.cpu.geluForward(o, i, GeluApproximation.TANH), s.cpu::reluForward, s.cpu::siluForward,
                (o, i) -> s.cpu.swigluForward(o, i, up)};
            for (int k = 0; k < fwds.length; k++) {
                fwds[k].run(out, x);
                assertTrue(Float.isNaN(out.toFloatArray()[0]), "forward " + k + " lost a NaN");
            }
        }
    }

    // ---------------------------------------------------------------- finite differences of the native forward

    @Test
    void backwardMatchesFiniteDifferences() {
        try (OpTestSupport s = new OpTestSupport(17)) {
            int n = 64;
            float[] x = s.randn(n, 2.0), g = s.randn(n);
            for (int i = 0; i < n; i++) if (Math.abs(x[i]) < 0.05f) x[i] = 0.5f;  // relu: stay off the kink
            Tensor xt = s.f32(x, n), gt = s.f32(g, n), out = s.zeros(n);
            Fwd[] fwds = {(o, i) -> s.cpu.geluForward(o, i, GeluApproximation.NONE),
                (o, i) -> s.cpu.geluForward(o, i, GeluApproximation.TANH), s.cpu::reluForward, s.cpu::siluForward};
            Bwd[] bwds = {(d, gg, i) -> s.cpu.geluBackward(d, gg, i, GeluApproximation.NONE),
                (d, gg, i) -> s.cpu.geluBackward(d, gg, i, GeluApproximation.TANH), s.cpu::reluBackward,
                s.cpu::siluBackward};
            String[] names = {"gelu", "gelu_tanh", "relu", "silu"};
            for (int k = 0; k < fwds.length; k++) {
                Fwd f = fwds[k];
                Supplier<Double> loss = () -> {
                    f.run(out, xt);
                    return dot(out.toFloatArray(), g);
                };
                Tensor dx = s.zeros(n);
                bwds[k].run(dx, gt, xt);
                s.checkGradient("d" + names[k] + "/dinp", xt, dx.toFloatArray(), loss, n, 1e-2);
            }
            // swiglu: both inputs
            Tensor ut = s.f32(s.randn(n), n), dg = s.zeros(n), du = s.zeros(n);
            Supplier<Double> loss = () -> {
                s.cpu.swigluForward(out, xt, ut);
                return dot(out.toFloatArray(), g);
            };
            s.cpu.swigluBackward(dg, du, gt, xt, ut);
            s.checkGradient("dswiglu/dgate", xt, dg.toFloatArray(), loss, n, 1e-2);
            s.checkGradient("dswiglu/dup", ut, du.toFloatArray(), loss, n, 1e-2);
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
            Tensor x = s.zeros(4, 8), out = s.zeros(4, 8), g = s.zeros(4, 8), dx = s.zeros(4, 8);
            assertRejected("gelu_forward", "'out' must have shape [4, 8], got [8, 4]",
                    () -> s.cpu.geluForward(s.zeros(8, 4), x, GeluApproximation.NONE));
            assertRejected("gelu_backward", "'dout' must have shape [4, 8], got [32]",
                    () -> s.cpu.geluBackward(dx, s.zeros(32), x, GeluApproximation.TANH));
            Tensor ints = s.track(Tensor.zeros(DType.I32, 4, 8));
            assertRejected("relu_forward", "'inp' must be f32, got i32", () -> s.cpu.reluForward(out, ints));
            assertRejected("relu_backward", "'dinp' is null", () -> s.cpu.reluBackward(null, g, x));
            Tensor closed = Tensor.zeros(DType.F32, 4, 8);
            closed.close();
            assertRejected("silu_forward", "'inp' is closed", () -> s.cpu.siluForward(out, closed));
            assertRejected("silu_backward", "'dinp' must have shape [4, 7], got [4, 8]",
                    () -> s.cpu.siluBackward(dx, g, s.zeros(4, 7)));
            assertRejected("swiglu_forward", "'up' must have shape [4, 8], got [4, 9]",
                    () -> s.cpu.swigluForward(out, x, s.zeros(4, 9)));
            assertRejected("swiglu_backward", "'dgate' and 'dup' must not alias",
                    () -> s.cpu.swigluBackward(dx, dx, g, x, s.zeros(4, 8)));
            assertRejected("add", "'b' must have shape [4, 8], got [8]", () -> s.cpu.add(out, x, s.zeros(8)));
            Tensor bf = s.track(Tensor.zeros(DType.BF16, 4, 8));
            assertRejected("add", "'a' must be f32, got bf16", () -> s.cpu.add(out, bf, x));
            assertEquals(0f, out.toFloatArray()[0]);
        }
    }
}
