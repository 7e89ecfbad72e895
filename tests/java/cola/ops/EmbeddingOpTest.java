package cola.ops;

import static cola.ops.OpTestSupport.assertClose;
import static cola.ops.OpTestSupport.dot;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cola.backend.cpu.CpuBackend;
import cola.backend.cpu.CpuKernels;
import cola.tensor.DType;
import cola.tensor.Tensor;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Embedding gather and its deterministic scatter-add backward (native/src/embedding.cpp). */
class EmbeddingOpTest {

    static Stream<Arguments> shapes() {
        // N, V, C: odd sizes, C not a multiple of the 16-float column chunk, many repeats (V small), C > threads·16
        return Stream.of(Arguments.of(1, 1, 1), Arguments.of(7, 3, 33), Arguments.of(33, 129, 7),
                Arguments.of(129, 5, 129), Arguments.of(64, 1000, 768), Arguments.of(3, 50272, 17));
    }

    @ParameterizedTest(name = "N={0} V={1} C={2}")
    @MethodSource("shapes")
    void forwardAndBackwardMatchReference(int n, int v, int c) {
        try (OpTestSupport s = new OpTestSupport(n * 131L + v * 7L + c)) {
            float[] table = s.randn(v * c), g = s.randn(n * c), dt0 = s.randn(v * c);
            int[] ids = s.randint(n, v);
            Tensor tt = s.f32(table, v, c), it = s.i32(ids, n), out = s.f32(s.randn(n * c), n, c);
            s.cpu.embeddingForward(out, it, tt);
            float[] expect = new float[n * c];
            for (int i = 0; i < n; i++) System.arraycopy(table, ids[i] * c, expect, i * c, c);
            assertArrayEquals(expect, out.toFloatArray(), "forward is an exact gather");

            Tensor dt = s.f32(dt0, v, c);  // non-zero: backward accumulates
            s.cpu.embeddingBackward(dt, s.f32(g, n, c), it);
            double[] ref = OpTestSupport.toDouble(dt0);
            for (int i = 0; i < n; i++) for (int j = 0; j < c; j++) ref[ids[i] * c + j] += g[i * c + j];
            assertClose("dtable", ref, dt.toFloatArray(), 1e-6, 1e-6 * Math.sqrt(n));
        }
    }

    @ParameterizedTest(name = "N={0} V={1} C={2}")
    @MethodSource("shapes")
    void bf16TableForwardIsAnExactWidenedGather(int n, int v, int c) {
        try (OpTestSupport s = new OpTestSupport(n * 17L + v * 3L + c)) {
            float[] table = OpTestSupport.roundBf16(s.randn(v * c));
            int[] ids = s.randint(n, v);
            Tensor out = s.f32(s.randn(n * c), n, c);
            s.cpu.embeddingForward(out, s.i32(ids, n), s.bf16(table, v, c));
            float[] expect = new float[n * c];
            for (int i = 0; i < n; i++) System.arraycopy(table, ids[i] * c, expect, i * c, c);
            assertArrayEquals(expect, out.toFloatArray(), "a bf16 row widens to f32 exactly");
        }
    }

    @Test
    void bf16TableRejectsABadIdBeforeWritingAnything() {
        try (OpTestSupport s = new OpTestSupport(5)) {
            Tensor out = s.f32(new float[] {7, 7, 7, 7}, 2, 2);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.embeddingForward(out, s.i32(new int[] {0, 3}, 2), s.bf16(new float[6], 3, 2)));
            assertTrue(e.getMessage().contains("'ids'[1] = 3 is outside [0, 3)"), e.getMessage());
            assertArrayEquals(new float[] {7, 7, 7, 7}, out.toFloatArray());
        }
    }

    @Test
    void repeatedIdsAccumulateInRowOrderWhateverTheThreadCount() {
        try (OpTestSupport s = new OpTestSupport(9)) {
            int n = 257, v = 4, c = 100;
            int[] ids = s.randint(n, v);
            ids[0] = ids[1] = ids[2] = 3;
            float[] g = s.randn(n * c), dt0 = s.randn(v * c);
            Tensor it = s.i32(ids, n), gt = s.f32(g, n, c);
            // the exact f32 result of adding the rows in order n = 0..N-1
            float[] expect = dt0.clone();
            for (int i = 0; i < n; i++) for (int j = 0; j < c; j++) expect[ids[i] * c + j] += g[i * c + j];
            int threads = CpuBackend.maxThreads();
            try {
                for (int nt : new int[] {1, 2, 3}) {
                    CpuBackend.setNumThreads(nt);
                    Tensor dt = s.f32(dt0, v, c);
                    s.cpu.embeddingBackward(dt, gt, it);
                    assertArrayEquals(expect, dt.toFloatArray(), "threads=" + nt);
                }
            } finally {
                CpuBackend.setNumThreads(threads);
            }
        }
    }

    @Test
    void backwardMatchesFiniteDifferences() {
        try (OpTestSupport s = new OpTestSupport(17)) {
            int n = 11, v = 6, c = 9;
            float[] g = s.randn(n * c);
            Tensor tt = s.f32(s.randn(v * c), v, c), it = s.i32(s.randint(n, v), n), out = s.zeros(n, c);
            java.util.function.Supplier<Double> loss = () -> {
                s.cpu.embeddingForward(out, it, tt);
                return dot(out.toFloatArray(), g);
            };
            Tensor dt = s.zeros(v, c);
            s.cpu.embeddingBackward(dt, s.f32(g, n, c), it);
            s.checkGradient("d/dtable", tt, dt.toFloatArray(), loss, v * c, 1e-2);
        }
    }

    @Test
    void nativeRejectsBadIdBeforeWritingAnything() {
        try (OpTestSupport s = new OpTestSupport(3)) {
            int n = 4, v = 5, c = 3;
            Tensor table = s.f32(s.randn(v * c), v, c), out = s.zeros(n, c), dt = s.zeros(v, c);
            for (int bad : new int[] {v, -1}) {
                Tensor ids = s.i32(new int[] {0, 1, 2, bad}, n);
                assertEquals(3, CpuKernels.cola_embedding_forward(out.address(), ids.address(), table.address(), n, v, c));
                assertArrayEquals(new float[n * c], out.toFloatArray());
                assertEquals(3, CpuKernels.cola_embedding_backward(dt.address(), table.address(), ids.address(), n, v,
                        c));
                assertArrayEquals(new float[v * c], dt.toFloatArray());
            }
        }
    }

    @Test
    void misuseIsRejectedInJavaWithOpAndShapes() {
        try (OpTestSupport s = new OpTestSupport(1)) {
            Tensor table = s.zeros(10, 8), out = s.zeros(4, 8), ids = s.i32(new int[] {0, 1, 2, 3}, 4);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.embeddingForward(s.zeros(4, 7), ids, table));
            assertTrue(e.getMessage().startsWith("embedding_forward:") && e.getMessage().contains("out must be [4, 8]")
                    && e.getMessage().contains("f32[10, 8]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> s.cpu.embeddingForward(out, s.zeros(4), table));
            assertTrue(e.getMessage().contains("'ids' must be i32, got f32"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.embeddingForward(out, s.i32(new int[] {0, 10, 2, 3}, 4), table));
            assertTrue(e.getMessage().contains("'ids'[1] = 10 is outside [0, 10)"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.embeddingBackward(table, out, s.i32(new int[] {0, 1, -3, 3}, 4)));
            assertTrue(e.getMessage().startsWith("embedding_backward:") && e.getMessage().contains("'ids'[2] = -3"),
                    e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> s.cpu.embeddingForward(out, null, table));
            assertTrue(e.getMessage().contains("'ids' is null"), e.getMessage());
            Tensor closed = Tensor.zeros(DType.F32, 10, 8);
            closed.close();
            e = assertThrows(IllegalArgumentException.class, () -> s.cpu.embeddingBackward(closed, out, ids));
            assertTrue(e.getMessage().contains("'dtable' is closed"), e.getMessage());
        }
    }
}
