package cola.bench;

import cola.backend.Rounding;
import cola.backend.cpu.CpuBackend;
import cola.tensor.DType;
import cola.tensor.Half;
import cola.tensor.Tensor;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;

/**
 * The COLA knot, W[N,K] += s·B[N,r]·A[r,K] (native/src/merge.cpp), on the OPT-125m / BERT-base weight shapes
 * (q/k/v/o 768×768, fc1 3072×768, fc2 768×3072), r = 8 and 64, W in f32 and bf16 (nearest-even and stochastic).
 *
 * <p>Bytes moved per call: W read and written once, A and B read once:
 * f32: 8·N·K + 4·(r·K + N·r); bf16: 4·N·K + 4·(r·K + N·r) (e.g. 768×768, r = 8: 4.77 MB f32, 2.41 MB bf16).
 * FLOPs per call: 2·N·K·r (with r = 64 on few cores the kernel is compute-bound, not bandwidth-bound).
 *
 * <p>Baselines on the same W (f32, 8·N·K bytes): {@code memcpy} = one-thread memmove of W into another buffer
 * (Tensor#copyFrom); {@code streamScale} = cola_scale over W, the OpenMP read-modify-write of W at the machine's
 * streaming bandwidth, which the f32 merge should approach (target ≥ 70%).
 *
 * <p>The same adapter is merged again on every call; s·B·A is ~1e-7 so W stays well-conditioned for the run.
 */
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class MergeBench {

    @State(Scope.Benchmark)
    public static class Merge {
        /** NxK of W. */
        @Param({"768x768", "3072x768", "768x3072"})
        public String shape;

        @Param({"8", "64"})
        public int r;

        /** f32 | bf16 (nearest-even) | bf16-sr (stochastic rounding). */
        @Param({"f32", "bf16", "bf16-sr"})
        public String dtype;

        BenchSupport data;
        Tensor w, a, b;
        Rounding rounding;
        long seed;

        @Setup(Level.Trial)
        public void setup() {
            String[] p = shape.split("x");
            int n = Integer.parseInt(p[0]), k = Integer.parseInt(p[1]);
            data = new BenchSupport();
            a = data.randn(0.02f, r, k);
            b = data.randn(0.02f, n, r);
            Tensor w32 = data.randn(0.02f, n, k);
            if (dtype.equals("f32")) {
                w = w32;
            } else {
                w = data.zeros(DType.BF16, n, k);
                float[] x = w32.toFloatArray();
                short[] h = new short[x.length];
                for (int i = 0; i < x.length; i++) h[i] = Half.floatToBf16(x[i]);
                w.copyFrom(h);
            }
            rounding = dtype.equals("bf16-sr") ? Rounding.STOCHASTIC : Rounding.NEAREST_EVEN;
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            data.close();
        }
    }

    @State(Scope.Benchmark)
    public static class Baseline {
        @Param({"768x768", "3072x768", "768x3072"})
        public String shape;

        BenchSupport data;
        Tensor w, copy;
        List<Tensor> ws;

        @Setup(Level.Trial)
        public void setup() {
            String[] p = shape.split("x");
            int n = Integer.parseInt(p[0]), k = Integer.parseInt(p[1]);
            data = new BenchSupport();
            w = data.randn(1f, n, k);
            copy = data.zeros(DType.F32, n, k);
            ws = List.of(w);
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            data.close();
        }
    }

    @Benchmark
    public long merge(Merge st) {
        return CpuBackend.get().mergeLora(st.w, st.a, st.b, 1e-4f, st.rounding, st.seed++);
    }

    @Benchmark
    public void memcpy(Baseline st) {
        st.copy.copyFrom(st.w);
    }

    @Benchmark
    public void streamScale(Baseline st) {
        CpuBackend.get().scale(st.ws, 1.0000001f);
    }
}
