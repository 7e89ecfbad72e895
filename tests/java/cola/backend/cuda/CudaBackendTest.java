package cola.backend.cuda;

import static org.junit.jupiter.api.Assertions.*;

import cola.backend.Backend;
import cola.backend.GeluApproximation;
import cola.backend.cpu.CpuBackend;
import cola.tensor.Arena;
import cola.tensor.DType;
import cola.tensor.Device;
import cola.tensor.Tensor;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * CudaBackend behaviour beyond the numbers (those are in BackendParityTest): device checks, the same validation
 * messages as the CPU, out-of-memory that leaves the JVM usable, device arenas. Needs a GPU; without one every test
 * is reported as skipped with the reason.
 */
class CudaBackendTest {
    private Backend cuda;

    @BeforeEach
    void needsAGpu() {
        org.junit.jupiter.api.Assumptions.assumeTrue(CudaRuntime.usable(),
                "no GPU: these tests need a usable CUDA device, and CUDA is " + CudaRuntime.describe());
        cuda = CudaBackend.get(0);
    }

    @Test
    void hostTensorsAreRejectedByName() {
        try (Tensor x = Tensor.zeros(DType.F32, 2, 3); Tensor y = cuda.zeros(DType.F32, 2, 3)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> cuda.reluForward(y, x));
            assertEquals("relu_forward: 'inp' is on cpu, not cuda:0 (out=f32[2, 3], inp=f32[2, 3])", e.getMessage());
        }
    }

    @Test
    void validationMessagesAreTheCpusOnes() {
        Backend cpu = CpuBackend.get();
        for (Backend be : new Backend[] {cpu, cuda}) {
            try (Tensor out = be.zeros(DType.F32, 2, 8); Tensor inp = be.zeros(DType.F32, 2, 8);
                    Tensor w = be.zeros(DType.F32, 7); Tensor mean = be.zeros(DType.F32, 2);
                    Tensor rstd = be.zeros(DType.F32, 2)) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> be.layerNormForward(out, mean, rstd, inp, w, null, 1e-5f));
                assertEquals("layernorm_forward: 'weight' must have shape [8], got [7] (out=f32[2, 8], mean=f32[2],"
                        + " rstd=f32[2], inp=f32[2, 8], weight=f32[7])", e.getMessage(), be.name());
            }
            try (Tensor out = be.zeros(DType.F32, 3, 4); Tensor ids = be.zeros(DType.I32, 3);
                    Tensor table = be.zeros(DType.F32, 5, 4)) {
                ids.copyFrom(new int[] {0, 5, 1});
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> be.embeddingForward(out, ids, table));
                assertTrue(e.getMessage().startsWith("embedding_forward: 'ids'[1] = 5 is outside [0, 5)"), e.getMessage());
            }
        }
    }

    @Test
    void cudaLimitsAreCheckedInJava() {
        try (Tensor q = cuda.zeros(DType.F32, 1, 2, 1, 256); Tensor out = cuda.zeros(DType.F32, 1, 2, 1, 256);
                Tensor lse = cuda.zeros(DType.F32, 1, 1, 2)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> cuda.attentionForward(out, lse, q, q, q, null, true, 0.1f));
            assertTrue(e.getMessage().contains("head dim D must be in [1, 128] on CUDA, got 256"), e.getMessage());
        }
    }

    @Test
    void outOfDeviceMemoryLeavesTheDeviceUsable() {
        CudaDevice dev = ((CudaBackend) cuda).cudaDevice();
        CudaOutOfMemoryException e = assertThrows(CudaOutOfMemoryException.class,
                () -> Tensor.zeros(dev, DType.F32, 1L << 42));  // 16 TiB
        assertTrue(e.getMessage().startsWith("cuda:0: out of device memory"), e.getMessage());
        try (Tensor h = Tensor.of(new float[] {-1f, 0f, 2f}, 3); Tensor x = cuda.upload(h);
                Tensor y = cuda.zeros(DType.F32, 3)) {
            cuda.geluForward(y, x, GeluApproximation.TANH);  // the next op must not report the old error
            cuda.reluForward(y, x);
            assertArrayEquals(new float[] {0f, 0f, 2f}, y.toFloatArray());
        }
    }

    @Test
    void deviceArenasHoldDeviceTensors() {
        try (Arena arena = cuda.newArena(1 << 16)) {
            assertEquals(Device.cuda(0), arena.device());
            Tensor a = arena.zeros(DType.F32, 4);
            Tensor b = arena.allocate(DType.F32, 1 << 16);
            assertEquals(Device.cuda(0), b.device());
            a.copyFrom(new float[] {1, 2, 3, 4});
            cuda.synchronize();
            assertArrayEquals(new float[] {1, 2, 3, 4}, a.toFloatArray());
            arena.reset();
            assertThrows(IllegalStateException.class, a::toFloatArray);
        }
        Tensor t = cuda.zeros(DType.F32, 2);
        t.close();
        assertThrows(IllegalStateException.class, t::close);
        assertThrows(IllegalStateException.class, t::toFloatArray);
    }
}
