package cola.bench;

import cola.backend.cpu.CpuBackend;
import cola.tensor.DType;
import cola.tensor.Tensor;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;

/**
 * f32 ↔ bf16 / f16 conversions (native/src/convert.cpp) on n elements: 768·3072 (one OPT-125m MLP weight) and 2^24.
 * Bytes moved per call: 6·n for every direction (4 bytes of f32 and 2 of the 16-bit format). n = 2^24: 101 MB.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class ConvertBench {
    @Param({"2359296", "16777216"})
    public int n;

    BenchSupport data;
    Tensor f32, bf16, f16;

    @Setup(Level.Trial)
    public void setup() {
        data = new BenchSupport();
        f32 = data.randn(1f, n);
        bf16 = data.zeros(DType.BF16, n);
        f16 = data.zeros(DType.F16, n);
        CpuBackend.get().convert(bf16, f32);
        CpuBackend.get().convert(f16, f32);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        data.close();
    }

    @Benchmark
    public void f32ToBf16() {
        CpuBackend.get().convert(bf16, f32);
    }

    @Benchmark
    public void bf16ToF32() {
        CpuBackend.get().convert(f32, bf16);
    }

    @Benchmark
    public void f32ToF16() {
        CpuBackend.get().convert(f16, f32);
    }

    @Benchmark
    public void f16ToF32() {
        CpuBackend.get().convert(f32, f16);
    }
}
