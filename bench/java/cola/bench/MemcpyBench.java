package cola.bench;

import cola.backend.cpu.CpuKernels;
import cola.tensor.DType;
import cola.tensor.Tensor;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;

/**
 * Memory bandwidth as the bandwidth-bound ops see it: cola_copy (OpenMP-parallel memcpy) of 12 MB and 50 MB (the
 * footprints of a 4096×768 and a 4096×3072 f32 activation, partly cache-resident) and 256 MB (far beyond any cache).
 * Bytes moved per call = 2·size (read + write). bench/RESULTS.md divides an
 * op's GB/s by this one, measured in the same run.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class MemcpyBench {
    @Param({"12582912", "50331648", "268435456"})
    public long bytes;

    Tensor src, dst;

    @Setup(Level.Trial)
    public void setup() {
        src = Tensor.zeros(DType.F32, bytes / 4);
        dst = Tensor.zeros(DType.F32, bytes / 4);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        src.close();
        dst.close();
    }

    @Benchmark
    public void memcpy() {
        CpuKernels.cola_copy(dst.address(), src.address(), bytes);
    }
}
