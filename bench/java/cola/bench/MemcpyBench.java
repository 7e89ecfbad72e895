package cola.bench;

import cola.backend.cpu.CpuKernels;
import cola.tensor.DType;
import cola.tensor.Tensor;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;

/**
 * This machine's memory-bandwidth peak as the bandwidth-bound ops see it: memmove of 256 MB (cola_copy), far larger than
 * any cache. Bytes moved per call = 2·size (read + write). The "fraction of peak" column in bench/RESULTS.md divides an
 * op's GB/s by this one, measured in the same run.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class MemcpyBench {
    @Param({"268435456"})
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
