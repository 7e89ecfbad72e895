package cola.bench;

import cola.backend.cpu.CpuBackend;
import cola.tensor.DType;
import cola.tensor.Tensor;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;

/**
 * The bf16 engine's GEMMs (native/src/gemm.cpp cola_gemm_bf16: oneDNN matmul, cached primitive) against oneDNN's f32
 * sgemm on the same shapes, and the whole bf16-weight linear (matmul_bf16w: the activation rounded to bf16, then the
 * GEMM) that the model runs. FLOPs per call = 2·M·N·K. Shapes "MxNxK" are the TinyLlama-1.1B layers at B·T = 512
 * (q/o 2048², k/v 256×2048, gate/up 5632×2048, down 2048×5632, the 32000-row LM head) and a square for the peak.
 * The 2048³ bf16 row is the "measured bf16 GEMM peak" that bench/RESULTS.md quotes MFU against.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class Bf16GemmBench {
    @Param({"512x2048x2048", "512x256x2048", "512x5632x2048", "512x2048x5632", "512x32000x2048", "2048x2048x2048"})
    public String mnk;

    BenchSupport data;
    Tensor x, w32, x16, w16, y;

    @Setup(Level.Trial)
    public void setup() {
        String[] p = mnk.split("x");
        int m = Integer.parseInt(p[0]), n = Integer.parseInt(p[1]), k = Integer.parseInt(p[2]);
        data = new BenchSupport();
        x = data.randn(1f, m, k);
        w32 = data.randn(0.02f, n, k);  // weight layout [N, K]: y = x·Wᵀ
        x16 = Tensor.zeros(DType.BF16, m, k);
        w16 = Tensor.zeros(DType.BF16, n, k);
        CpuBackend.get().convert(x16, x);
        CpuBackend.get().convert(w16, w32);
        y = data.randn(1f, m, n);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        x16.close();
        w16.close();
        data.close();
    }

    /** bf16 × bf16 → f32, operands already bf16: the GEMM alone. */
    @Benchmark
    public void bf16Gemm() {
        CpuBackend.get().gemmBf16(false, true, x16, w16, 0f, y);
    }

    /** The model's bf16-weight linear: x (f32) rounded to bf16, then the GEMM. */
    @Benchmark
    public void bf16Linear() {
        CpuBackend.get().matmulForward(y, x, w16, null);
    }

    /** The f32 engine's linear on the same shape (dnnl_sgemm). */
    @Benchmark
    public void f32Linear() {
        CpuBackend.get().matmulForward(y, x, w32, null);
    }
}
