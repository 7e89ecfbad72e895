package cola.bench;

import cola.backend.cpu.CpuBackend;
import cola.tensor.Tensor;
import java.util.concurrent.TimeUnit;
import org.bytedeco.openblas.global.openblas_nolapack;
import org.bytedeco.javacpp.FloatPointer;
import org.openjdk.jmh.annotations.*;

/**
 * The GEMM library choice (issue 2): oneDNN's dnnl_sgemm (what libcola_cpu links) against OpenBLAS's cblas_sgemm
 * (org.bytedeco:openblas) on cola's shapes, same data, same thread count. FLOPs per call = 2·M·N·K.
 * Shapes "MxNxK": the OPT-125m/BERT-base linear layers at B·T = 1024 and 4096, the MiniLM ones, the LoRA shrink
 * (N = r = 8) and a big square for the machine's peak. OpenBLAS uses one thread per core (its default), like OpenMP.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class GemmBench {
    @Param({"1024x768x768", "4096x768x768", "1024x3072x768", "4096x3072x768", "4096x384x384", "4096x8x768",
            "2048x2048x2048"})
    public String mnk;

    int m, n, k;
    BenchSupport data;
    Tensor a, b, c;
    FloatPointer pa, pb, pc;

    @Setup(Level.Trial)
    public void setup() {
        String[] p = mnk.split("x");
        m = Integer.parseInt(p[0]);
        n = Integer.parseInt(p[1]);
        k = Integer.parseInt(p[2]);
        data = new BenchSupport();
        a = data.randn(1f, m, k);
        b = data.randn(1f, n, k);  // weight layout [N, K]: op(B) = Bᵀ, as in x·Wᵀ
        c = data.randn(1f, m, n);
        pa = new FloatPointer(a.numel());
        pb = new FloatPointer(b.numel());
        pc = new FloatPointer(c.numel());
        pa.put(a.toFloatArray());
        pb.put(b.toFloatArray());
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        data.close();
        pa.close();
        pb.close();
        pc.close();
    }

    @Benchmark
    public void onednn() {
        CpuBackend.get().gemm(false, true, 1f, a, b, 0f, c);
    }

    @Benchmark
    public void openblas() {
        openblas_nolapack.cblas_sgemm(openblas_nolapack.CblasRowMajor, openblas_nolapack.CblasNoTrans,
                openblas_nolapack.CblasTrans, m, n, k, 1f, pa, k, pb, k, 0f, pc, n);
    }
}
