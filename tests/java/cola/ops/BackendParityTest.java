package cola.ops;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.fail;

import cola.backend.AdamWConfig;
import cola.backend.Backend;
import cola.backend.GeluApproximation;
import cola.backend.Rounding;
import cola.backend.cpu.CpuBackend;
import cola.backend.cuda.CudaBackend;
import cola.backend.cuda.CudaRuntime;
import cola.tensor.DType;
import cola.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * ggml's test-backend-ops idea: every op, run on every backend, against the CPU reference backend.
 *
 * <p>Each {@link Case} builds host inputs from a seed, uploads them to the backend, runs the op(s) and downloads the
 * outputs. On the CPU the same case must be bit-for-bit reproducible (that runs everywhere and keeps the case list
 * honest); on an accelerator its outputs must match the CPU within the case's tolerance — that part runs only where
 * a GPU is present and otherwise reports that it skipped.
 */
class BackendParityTest {

    /** One op scenario: run(backend) → the outputs (host float copies). */
    record Case(String name, double tol, Function<Backend, List<float[]>> run) {}

    /** Accelerated backends to compare with the CPU: every usable CUDA device (none on a machine without a GPU). */
    static List<Backend> accelerated() {
        List<Backend> out = new ArrayList<>();
        for (int d = 0; d < CudaRuntime.deviceCount(); d++) out.add(CudaBackend.get(d));
        return out;
    }

    @TestFactory
    Stream<DynamicTest> everyOpIsDeterministicOnTheCpu() {
        return cases().stream().map(c -> DynamicTest.dynamicTest("cpu determinism: " + c.name(), () -> {
            List<float[]> a = c.run().apply(CpuBackend.get());
            List<float[]> b = c.run().apply(CpuBackend.get());
            for (int i = 0; i < a.size(); i++) assertArrayEquals(a.get(i), b.get(i), c.name() + " output " + i);
        }));
    }

    @TestFactory
    Stream<DynamicTest> everyOpOnEveryBackendMatchesTheCpu() {
        List<Backend> others = accelerated();
        List<DynamicTest> tests = new ArrayList<>();
        if (others.isEmpty()) {
            // Reported as one skipped test with its reason (an aborted factory would vanish from the report). The
            // only reason to skip is a missing GPU: with one, a CUDA failure fails here.
            String why = "no GPU: CUDA parity needs a usable CUDA device, and CUDA is " + CudaRuntime.describe();
            return Stream.of(DynamicTest.dynamicTest("gpu parity", () -> Assumptions.assumeTrue(false, why)));
        }
        for (Backend be : others) {
            for (Case c : cases()) {
                tests.add(DynamicTest.dynamicTest(be.name() + ": " + c.name(), () -> {
                    List<float[]> ref = c.run().apply(CpuBackend.get());
                    List<float[]> got = c.run().apply(be);
                    for (int i = 0; i < ref.size(); i++) {
                        double err = OpTestSupport.scaledError(OpTestSupport.toDouble(ref.get(i)),
                                OpTestSupport.toDouble(got.get(i)));
                        if (!(err <= c.tol())) fail(c.name() + " output " + i + ": scaled error " + err + " > " + c.tol());
                    }
                }));
            }
        }
        return tests.stream();
    }

    // ---------------------------------------------------------------- the cases

    /** Inputs are made on the host, uploaded, and everything allocated is closed after the case. */
    static final class Run implements AutoCloseable {
        final Backend be;
        final Random rng;
        final List<Tensor> owned = new ArrayList<>();

        Run(Backend be, long seed) {
            this.be = be;
            this.rng = new Random(seed);
        }

        Tensor randn(float std, long... shape) {
            try (Tensor h = Tensor.zeros(DType.F32, shape)) {
                float[] a = new float[(int) h.numel()];
                for (int i = 0; i < a.length; i++) a[i] = (float) (rng.nextGaussian() * std);
                h.copyFrom(a);
                return keep(be.upload(h));
            }
        }

        Tensor ints(int[] values, long... shape) {
            try (Tensor h = Tensor.ofInts(values, shape)) {
                return keep(be.upload(h));
            }
        }

        Tensor randint(int bound, long... shape) {
            int n = 1;
            for (long d : shape) n *= (int) d;
            int[] v = new int[n];
            for (int i = 0; i < n; i++) v[i] = rng.nextInt(bound);
            return ints(v, shape);
        }

        Tensor zeros(DType dtype, long... shape) {
            try (Tensor h = Tensor.zeros(dtype, shape)) {
                return keep(be.upload(h));
            }
        }

        Tensor zeros(long... shape) {
            return zeros(DType.F32, shape);
        }

        /** Random normal values (std) rounded to bf16, as a bf16 tensor on the backend. */
        Tensor bf16(float std, long... shape) {
            Tensor f = randn(std, shape), h = zeros(DType.BF16, shape);
            be.convert(h, f);
            return h;
        }

        Tensor keep(Tensor t) {
            owned.add(t);
            return t;
        }

        List<float[]> out(Tensor... ts) {
            List<float[]> r = new ArrayList<>();
            for (Tensor t : ts) {
                try (Tensor h = be.download(t)) {
                    r.add(h.dtype() == DType.I32 ? toFloat(h.toIntArray()) : h.toFloatArray());
                }
            }
            return r;
        }

        static float[] toFloat(int[] a) {
            float[] f = new float[a.length];
            for (int i = 0; i < a.length; i++) f[i] = a[i];
            return f;
        }

        @Override
        public void close() {
            for (Tensor t : owned) if (!t.isClosed()) t.close();
        }
    }

    static Case c(String name, double tol, long seed, Function<Run, List<float[]>> body) {
        return new Case(name, tol, be -> {
            try (Run r = new Run(be, seed)) {
                return body.apply(r);
            }
        });
    }

    static List<Case> cases() {
        List<Case> cs = new ArrayList<>();
        final int m = 37, k = 65, n = 33, rank = 8;
        cs.add(c("gemm", 1e-5, 1, r -> {
            Tensor a = r.randn(1, k, m), b = r.randn(1, n, k), out = r.randn(1, m, n);
            r.be.gemm(true, true, 0.5f, a, b, 1f, out);
            return r.out(out);
        }));
        cs.add(c("gemm_batched", 1e-5, 2, r -> {
            Tensor a = r.randn(1, 3, m, k), b = r.randn(1, 3, k, n), out = r.zeros(3, m, n);
            r.be.gemmBatched(false, false, 1f, a, b, 0f, out);
            return r.out(out);
        }));
        cs.add(c("matmul fwd+bwd", 1e-5, 3, r -> {
            Tensor x = r.randn(1, m, k), w = r.randn(0.2f, n, k), b = r.randn(1, n), y = r.zeros(m, n);
            Tensor dy = r.randn(1, m, n), dx = r.zeros(m, k), dw = r.zeros(n, k), db = r.zeros(n);
            r.be.matmulForward(y, x, w, b);
            r.be.matmulBackward(dx, dw, db, dy, x, w);
            return r.out(y, dx, dw, db);
        }));
        for (float p : new float[] {0f, 0.1f}) {
            cs.add(c("lora_linear fwd+bwd p=" + p, 1e-5, 4, r -> {
                Tensor x = r.randn(1, m, k), w = r.randn(0.2f, n, k), b = r.randn(1, n), a = r.randn(0.2f, rank, k),
                        bm = r.randn(0.2f, n, rank), y = r.zeros(m, n), u = r.zeros(m, rank);
                Tensor dy = r.randn(1, m, n), dx = r.zeros(m, k), dA = r.zeros(rank, k), dB = r.zeros(n, rank),
                        v = r.zeros(m, rank);
                r.be.loraLinearForward(y, u, x, w, b, a, bm, 2f, p, 9);
                r.be.loraLinearBackward(dx, null, null, dA, dB, v, dy, x, u, w, a, bm, 2f, p, 9);
                return r.out(y, u, dx, dA, dB);
            }));
        }
        cs.add(c("matmul no bias, dinp only", 1e-5, 18, r -> {
            Tensor x = r.randn(1, 2, m, k), w = r.randn(0.2f, n, k), y = r.zeros(2, m, n), dy = r.randn(1, 2, m, n),
                    dx = r.randn(1, 2, m, k);
            r.be.matmulForward(y, x, w, null);
            r.be.matmulBackward(dx, null, null, dy, x, w);
            return r.out(y, dx);
        }));
        cs.add(c("lora_linear without u (p=0), full fine-tuning grads", 1e-5, 19, r -> {
            Tensor x = r.randn(1, m, k), w = r.randn(0.2f, n, k), b = r.randn(1, n), a = r.randn(0.2f, rank, k),
                    bm = r.randn(0.2f, n, rank), y = r.zeros(m, n), dy = r.randn(1, m, n), dx = r.zeros(m, k),
                    dW = r.zeros(n, k), db = r.zeros(n), dA = r.zeros(rank, k), dB = r.zeros(n, rank),
                    v = r.zeros(m, rank);
            r.be.loraLinearForward(y, null, x, w, b, a, bm, 0.5f, 0f, 0);
            r.be.loraLinearBackward(dx, dW, db, dA, dB, v, dy, x, null, w, a, bm, 0.5f, 0f, 0);
            return r.out(y, dx, dW, db, dA, dB, v);
        }));
        // the bf16 engine's ops: bf16 operands on both backends (cuBLAS GemmEx vs oneDNN matmul), fp32 accumulation,
        // so the two differ by accumulation order and by the rounding of the activation operand (same RNE rule)
        cs.add(c("gemm_bf16 (all transposes, beta 0 and 1)", 1e-3, 23, r -> {
            List<Tensor> outs = new ArrayList<>();
            for (boolean ta : new boolean[] {false, true}) {
                for (boolean tb : new boolean[] {false, true}) {
                    Tensor a = r.bf16(1, ta ? k : m, ta ? m : k), b = r.bf16(1, tb ? n : k, tb ? k : n);
                    Tensor c0 = r.randn(1, m, n), c1 = r.zeros(m, n);
                    r.be.gemmBf16(ta, tb, a, b, 1f, c0);
                    r.be.gemmBf16(ta, tb, a, b, 0f, c1);
                    outs.add(c0);
                    outs.add(c1);
                }
            }
            return r.out(outs.toArray(Tensor[]::new));
        }));
        cs.add(c("matmul bf16 weight fwd+bwd", 1e-2, 24, r -> {
            Tensor x = r.randn(1, m, k), w = r.bf16(0.2f, n, k), b = r.randn(1, n), y = r.zeros(m, n),
                    dy = r.randn(1, m, n), dx = r.randn(1, m, k), dw = r.zeros(n, k), db = r.zeros(n);
            r.be.matmulForward(y, x, w, b);
            r.be.matmulBackward(dx, dw, db, dy, x, w);
            return r.out(y, dx, dw, db);
        }));
        cs.add(c("lora_linear bf16 weight fwd+bwd (p=0, p=0.1)", 1e-2, 25, r -> {
            List<Tensor> outs = new ArrayList<>();
            for (float p : new float[] {0f, 0.1f}) {
                Tensor x = r.randn(1, m, k), w = r.bf16(0.2f, n, k), b = r.randn(1, n), a = r.randn(0.2f, rank, k),
                        bm = r.randn(0.2f, n, rank), y = r.zeros(m, n), u = r.zeros(m, rank), dy = r.randn(1, m, n),
                        dx = r.zeros(m, k), dA = r.zeros(rank, k), dB = r.zeros(n, rank), v = r.zeros(m, rank);
                r.be.loraLinearForward(y, p > 0 ? u : null, x, w, b, a, bm, 2f, p, 9);
                r.be.loraLinearBackward(dx, null, null, dA, dB, v, dy, x, p > 0 ? u : null, w, a, bm, 2f, p, 9);
                outs.addAll(List.of(y, dx, dA, dB));
            }
            return r.out(outs.toArray(Tensor[]::new));
        }));
        cs.add(c("embedding bf16 table", 0, 26, r -> {
            Tensor table = r.bf16(1, 50, k), ids = r.ints(new int[] {3, 0, 49, 3, 17}, 5), out = r.zeros(5, k);
            r.be.embeddingForward(out, ids, table);
            return r.out(out);
        }));
        cs.add(c("merge bf16 compensated (with residual and accounting)", 1e-2, 27, r -> {
            Tensor w = r.bf16(1, n, k), res = r.zeros(n, k), a = r.randn(0.01f, rank, k), b = r.randn(0.01f, n, rank);
            cola.backend.MergeStats st = r.be.mergeLoraBf16(w, res, a, b, 2f, Rounding.NEAREST_EVEN, 0);
            return List.of(r.out(w).get(0), r.out(res).get(0), new float[] {(float) st.kept(), (float) st.keptInWeights()});
        }));
        cs.add(c("rope with a frequency table and scale (rope_scaling) fwd+bwd", 1e-5, 28, r -> {
            int hh = 3, dd = 16;
            Tensor x = r.randn(1, m, hh, dd), f = r.keep(r.be.upload(Tensor.of(new float[] {1f, 0.4f, 0.1f, 0.03f, 0.01f,
                    0.004f, 0.001f, 2e-4f}, 8)));
            int[] p = new int[m];
            for (int i = 0; i < m; i++) p[i] = 7 * i;
            Tensor pos = r.ints(p, m), y = r.zeros(m, hh, dd), dy = r.randn(1, m, hh, dd), dx = r.zeros(m, hh, dd);
            r.be.ropeForward(y, x, pos, f, 1.1386f);
            r.be.ropeBackward(dx, dy, pos, f, 1.1386f);
            return r.out(y, dx);
        }));
        cs.add(c("attention with a sliding window fwd+bwd", 1e-4, 29, r -> {
            int bb = 2, tt = 40, hq = 4, hkv = 2, dd = 32, w = 7;
            Tensor qq = r.randn(1, bb, tt, hq, dd), kk = r.randn(1, bb, tt, hkv, dd), vv = r.randn(1, bb, tt, hkv, dd);
            Tensor out = r.zeros(bb, tt, hq, dd), lse = r.zeros(bb, hq, tt), dout = r.randn(1, bb, tt, hq, dd);
            Tensor dq = r.zeros(bb, tt, hq, dd), dk = r.zeros(bb, tt, hkv, dd), dv = r.zeros(bb, tt, hkv, dd);
            r.be.attentionForward(out, lse, qq, kk, vv, null, true, w, 0.17f);
            r.be.attentionBackward(dq, dk, dv, dout, qq, kk, vv, out, lse, null, true, w, 0.17f);
            return r.out(out, lse, dq, dk, dv);
        }));
        cs.add(c("gemm_batched transposed, accumulate", 1e-5, 20, r -> {
            Tensor a = r.randn(1, 2, k, m), b = r.randn(1, 2, n, k), out = r.randn(1, 2, m, n);
            r.be.gemmBatched(true, true, 0.5f, a, b, 0.25f, out);
            return r.out(out);
        }));
        cs.add(c("copy_columns split + join", 0, 21, r -> {
            Tensor wide = r.randn(1, 5, 3 * n), q = r.zeros(5, n), g = r.randn(1, 5, n), dwide = r.randn(1, 5, 3 * n);
            r.be.copyColumns(q, wide, n, false, false);
            r.be.copyColumns(g, dwide, 2L * n, true, true);
            r.be.copyColumns(g, dwide, 0, true, false);
            return r.out(q, dwide);
        }));
        cs.add(c("host access to backend tensors (item, toFloatArray, copyFrom)", 0, 22, r -> {
            Tensor t = r.zeros(3), s = r.zeros(1);
            t.copyFrom(new float[] {1f, -2f, 3.5f});
            s.copyFrom(new float[] {t.toFloatArray()[2]});
            Tensor u = r.keep(r.be.zeros(DType.F32, 3));
            u.copyFrom(t);
            return List.of(u.toFloatArray(), new float[] {s.item()});
        }));
        cs.add(c("merge f32", 1e-6, 5, r -> {
            Tensor w = r.randn(1, n, k), a = r.randn(0.1f, rank, k), b = r.randn(0.1f, n, rank);
            r.be.mergeLora(w, a, b, 2f, Rounding.NEAREST_EVEN, 0);
            return r.out(w);
        }));
        cs.add(c("merge bf16 (nearest, stochastic)", 1e-2, 6, r -> {
            Tensor w32 = r.randn(1, n, k), a = r.randn(0.1f, rank, k), b = r.randn(0.1f, n, rank);
            Tensor w = r.zeros(DType.BF16, n, k), w2 = r.zeros(DType.BF16, n, k);
            r.be.convert(w, w32);
            r.be.convert(w2, w32);
            r.be.mergeLora(w, a, b, 2f, Rounding.NEAREST_EVEN, 0);
            r.be.mergeLora(w2, a, b, 2f, Rounding.STOCHASTIC, 17);
            return r.out(w, w2);
        }));
        cs.add(c("layernorm fwd+bwd", 1e-5, 7, r -> {
            Tensor x = r.randn(1, m, k), g = r.randn(1, k), b = r.randn(1, k), y = r.zeros(m, k), mean = r.zeros(m),
                    rstd = r.zeros(m), dy = r.randn(1, m, k), dx = r.zeros(m, k), dg = r.zeros(k), db = r.zeros(k);
            r.be.layerNormForward(y, mean, rstd, x, g, b, 1e-5f);
            r.be.layerNormBackward(dx, dg, db, dy, x, g, mean, rstd);
            return r.out(y, mean, rstd, dx, dg, db);
        }));
        cs.add(c("rmsnorm fwd+bwd", 1e-5, 8, r -> {
            Tensor x = r.randn(1, m, k), g = r.randn(1, k), y = r.zeros(m, k), rstd = r.zeros(m),
                    dy = r.randn(1, m, k), dx = r.zeros(m, k), dg = r.zeros(k);
            r.be.rmsNormForward(y, rstd, x, g, 1e-6f);
            r.be.rmsNormBackward(dx, dg, dy, x, g, rstd);
            return r.out(y, rstd, dx, dg);
        }));
        for (GeluApproximation ap : GeluApproximation.values()) {
            cs.add(c("gelu " + ap + " fwd+bwd", 1e-5, 9, r -> {
                Tensor x = r.randn(2, m, k), y = r.zeros(m, k), dy = r.randn(1, m, k), dx = r.zeros(m, k);
                r.be.geluForward(y, x, ap);
                r.be.geluBackward(dx, dy, x, ap);
                return r.out(y, dx);
            }));
        }
        cs.add(c("relu, silu, swiglu, add fwd+bwd", 1e-5, 10, r -> {
            Tensor x = r.randn(2, m, k), up = r.randn(1, m, k), dy = r.randn(1, m, k);
            Tensor y1 = r.zeros(m, k), y2 = r.zeros(m, k), y3 = r.zeros(m, k), y4 = r.zeros(m, k);
            Tensor d1 = r.zeros(m, k), d2 = r.zeros(m, k), dg = r.zeros(m, k), du = r.zeros(m, k);
            r.be.reluForward(y1, x);
            r.be.reluBackward(d1, dy, x);
            r.be.siluForward(y2, x);
            r.be.siluBackward(d2, dy, x);
            r.be.swigluForward(y3, x, up);
            r.be.swigluBackward(dg, du, dy, x, up);
            r.be.add(y4, x, up);
            return r.out(y1, d1, y2, d2, y3, dg, du, y4);
        }));
        cs.add(c("embedding fwd+bwd", 1e-6, 11, r -> {
            int vocab = 50;
            Tensor ids = r.randint(vocab, 4, 9), table = r.randn(1, vocab, k), out = r.zeros(4, 9, k),
                    dout = r.randn(1, 4, 9, k), dtable = r.zeros(vocab, k);
            r.be.embeddingForward(out, ids, table);
            r.be.embeddingBackward(dtable, dout, ids);
            return r.out(out, dtable);
        }));
        cs.add(c("rope fwd+bwd", 1e-5, 12, r -> {
            int b = 2, t = 9, h = 3, d = 16;
            int[] pos = new int[b * t];
            for (int i = 0; i < pos.length; i++) pos[i] = (i % t) * 37;
            Tensor x = r.randn(1, b, t, h, d), p = r.ints(pos, b * t), y = r.zeros(b, t, h, d),
                    dy = r.randn(1, b, t, h, d), dx = r.zeros(b, t, h, d);
            r.be.ropeForward(y, x, p, 10000f);
            r.be.ropeBackward(dx, dy, p, 10000f);
            return r.out(y, dx);
        }));
        for (boolean causal : new boolean[] {true, false}) {
            cs.add(c("attention gqa causal=" + causal + " fwd+bwd", 1e-4, 13, r -> {
                int b = 2, t = 13, hq = 4, hkv = 2, d = 16;
                int[] mask = new int[b * t];
                for (int i = 0; i < mask.length; i++) mask[i] = (i % t) < t - 3 * (i / t) ? 1 : 0;
                Tensor q = r.randn(1, b, t, hq, d), kk = r.randn(1, b, t, hkv, d), v = r.randn(1, b, t, hkv, d),
                        km = r.ints(mask, b, t), out = r.zeros(b, t, hq, d), lse = r.zeros(b, hq, t),
                        dout = r.randn(1, b, t, hq, d), dq = r.zeros(b, t, hq, d), dk = r.zeros(b, t, hkv, d),
                        dv = r.zeros(b, t, hkv, d);
                float scale = (float) (1 / Math.sqrt(d));
                r.be.attentionForward(out, lse, q, kk, v, km, causal, scale);
                r.be.attentionBackward(dq, dk, dv, dout, q, kk, v, out, lse, km, causal, scale);
                return r.out(out, dq, dk, dv);
            }));
        }
        cs.add(c("softmax_xent fwd+bwd", 1e-5, 14, r -> {
            int rows = 9, vocab = 1031;
            int[] tg = new int[rows];
            for (int i = 0; i < rows; i++) tg[i] = i == 3 ? -100 : r.rng.nextInt(vocab);
            Tensor logits = r.randn(3, rows, vocab), targets = r.ints(tg, rows), losses = r.zeros(rows),
                    lse = r.zeros(rows), dl = r.randn(1, rows), dlogits = r.zeros(rows, vocab);
            r.be.softmaxXentForward(losses, lse, logits, targets, -100);
            r.be.softmaxXentBackward(dlogits, dl, logits, lse, targets, -100);
            return r.out(losses, lse, dlogits);
        }));
        cs.add(c("adamw + grad norm + clip", 1e-5, 15, r -> {
            Tensor p1 = r.randn(1, 8, k), p2 = r.randn(1, n), g1 = r.randn(1, 8, k), g2 = r.randn(1, n);
            Tensor m1 = r.zeros(8, k), m2 = r.zeros(n), v1 = r.zeros(8, k), v2 = r.zeros(n);
            double norm = r.be.clipGradNorm(List.of(g1, g2), 1.0);
            for (int step = 1; step <= 3; step++) {
                r.be.adamwStep(List.of(p1, p2), List.of(g1, g2), List.of(m1, m2), List.of(v1, v2),
                        new AdamWConfig(1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f), step, 0.5f);
            }
            List<float[]> out = r.out(p1, p2, m1, v2);
            out.add(new float[] {(float) norm});
            return out;
        }));
        cs.add(c("dropout fwd+bwd", 0, 16, r -> {
            Tensor x = r.randn(1, m, k), y = r.zeros(m, k), dy = r.randn(1, m, k), dx = r.zeros(m, k);
            r.be.dropoutForward(y, x, 0.25f, 99);
            r.be.dropoutBackward(dx, dy, 0.25f, 99);
            return r.out(y, dx);
        }));
        cs.add(c("convert f32↔bf16↔f16", 0, 17, r -> {
            Tensor x = r.randn(100, m, k), b16 = r.zeros(DType.BF16, m, k), h16 = r.zeros(DType.F16, m, k),
                    back1 = r.zeros(m, k), back2 = r.zeros(m, k);
            r.be.convert(b16, x);
            r.be.convert(h16, x);
            r.be.convert(back1, b16);
            r.be.convert(back2, h16);
            return r.out(back1, back2);
        }));
        return cs;
    }
}
