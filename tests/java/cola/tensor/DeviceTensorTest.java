package cola.tensor;

import static org.junit.jupiter.api.Assertions.*;

import cola.backend.cpu.CpuBackend;
import cola.backend.cpu.CpuKernels;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Device tensors without a GPU: a fake {@link DeviceAllocator} hands out HOST memory but reports cuda:7, so ownership,
 * use-after-close, the synchronous host staging and device arenas are checked here exactly as CUDA memory would see
 * them (the allocator only ever gets device-side calls: a host path that touched device memory directly would not be
 * caught by it, which is why it also counts copies and checks every address it is given).
 */
class DeviceTensorTest {

    /** Host memory posing as device memory; tracks live blocks and counts calls. */
    static final class FakeDevice implements DeviceAllocator {
        final Set<Long> live = new HashSet<>();
        long limit = Long.MAX_VALUE;
        int allocs, frees, toHost, fromHost, onDevice, zeros;

        @Override
        public Device device() {
            return Device.cuda(7);
        }

        @Override
        public long allocate(long bytes) {
            if (bytes > limit) throw new IllegalStateException("fake out of device memory: " + bytes + " bytes");
            long a = CpuKernels.cola_alloc(bytes);
            live.add(a);
            allocs++;
            return a;
        }

        @Override
        public void free(long address) {
            assertTrue(live.remove(address), "free of an address that is not live");
            CpuKernels.cola_free(address);
            frees++;
        }

        @Override
        public void copyToHost(long hostDst, long deviceSrc, long bytes) {
            toHost++;
            CpuKernels.cola_copy(hostDst, deviceSrc, bytes);
        }

        @Override
        public void copyFromHost(long deviceDst, long hostSrc, long bytes) {
            fromHost++;
            CpuKernels.cola_copy(deviceDst, hostSrc, bytes);
        }

        @Override
        public void copyOnDevice(long dst, long src, long bytes) {
            onDevice++;
            CpuKernels.cola_copy(dst, src, bytes);
        }

        @Override
        public void zero(long address, long bytes) {
            zeros++;
            CpuKernels.cola_zero(address, bytes);
        }
    }

    @Test
    void deviceTensorCarriesItsDeviceAndIsZeroed() {
        FakeDevice dev = new FakeDevice();
        try (Tensor t = Tensor.zeros(dev, DType.F32, 2, 3)) {
            assertEquals(Device.cuda(7), t.device());
            assertFalse(t.isHost());
            assertEquals("f32[2, 3]@cuda:7", t.toString());
            assertEquals(1, dev.zeros, "zeros() zero-fills on the device");
            assertArrayEquals(new float[6], t.toFloatArray());
        }
        assertEquals(1, dev.allocs);
        assertEquals(1, dev.frees, "close frees exactly once");
        assertTrue(dev.live.isEmpty());
    }

    @Test
    void closeTwiceAndUseAfterCloseThrowLikeHostTensors() {
        FakeDevice dev = new FakeDevice();
        Tensor t = Tensor.zeros(dev, DType.F32, 4);
        Tensor view = t.view(2, 2);
        t.close();
        assertThrows(IllegalStateException.class, t::close);
        assertThrows(IllegalStateException.class, t::address);
        assertThrows(IllegalStateException.class, t::toFloatArray);
        assertThrows(IllegalStateException.class, view::toFloatArray);
        assertThrows(IllegalStateException.class, () -> view.copyFrom(new float[4]));
        assertThrows(IllegalStateException.class, view::zero);
        assertTrue(view.isClosed());
        assertEquals(1, dev.frees);
        assertEquals(0, dev.toHost + dev.fromHost, "no copy reached the freed memory");
    }

    @Test
    void hostAccessorsCopySynchronouslyThroughTheHost() {
        FakeDevice dev = new FakeDevice();
        float[] f = {1.5f, -2f, 3.25f, 0f, 7f, 1e-3f};
        try (Tensor t = Tensor.zeros(dev, DType.F32, 2, 3)) {
            t.copyFrom(f);
            assertEquals(1, dev.fromHost);
            assertArrayEquals(f, t.toFloatArray());
            assertEquals(1, dev.toHost);
            assertEquals(7f, t.narrow(1, 1).toFloatArray()[1]);
        }
        try (Tensor t = Tensor.zeros(dev, DType.F32)) {
            t.copyFrom(new float[] {4.5f});
            assertEquals(4.5f, t.item());
        }
        int[] ids = {0, 5, 50271, -100};
        try (Tensor t = Tensor.zeros(dev, DType.I32, 4)) {
            t.copyFrom(ids);
            assertArrayEquals(ids, t.toIntArray());
        }
        long[] longs = {1L << 40, -3};
        try (Tensor t = Tensor.zeros(dev, DType.I64, 2)) {
            t.copyFrom(longs);
            assertArrayEquals(longs, t.toLongArray());
        }
        short[] bf = {Half.floatToBf16(1.0f), Half.floatToBf16(-0.5f)};
        try (Tensor t = Tensor.zeros(dev, DType.BF16, 2)) {
            t.copyFrom(bf);
            assertArrayEquals(bf, t.toShortArray());
            assertArrayEquals(new float[] {1.0f, -0.5f}, t.toFloatArray());
        }
        // Raw bytes (the safetensors loader and writer): a window in the middle of the tensor.
        try (Tensor t = Tensor.zeros(dev, DType.F32, 4)) {
            ByteBuffer in = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putFloat(2f).putFloat(3f).flip();
            t.copyBytesFrom(4, in);
            assertArrayEquals(new float[] {0f, 2f, 3f, 0f}, t.toFloatArray());
            ByteBuffer out = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            t.copyBytesTo(8, out);
            out.flip();
            assertEquals(3f, out.getFloat());
            assertEquals(0f, out.getFloat());
            assertThrows(IllegalArgumentException.class, () -> t.copyBytesTo(12, ByteBuffer.allocate(8)));
        }
        // Staging uses checks of the host path: wrong dtype or length is the same IllegalArgumentException.
        try (Tensor t = Tensor.zeros(dev, DType.F32, 2)) {
            assertThrows(IllegalArgumentException.class, () -> t.copyFrom(new float[3]));
            assertThrows(IllegalArgumentException.class, () -> t.copyFrom(new int[2]));
            assertThrows(IllegalArgumentException.class, t::toIntArray);
        }
        assertTrue(dev.live.isEmpty());
    }

    @Test
    void copyFromTensorCrossesDevicesExplicitly() {
        FakeDevice dev = new FakeDevice();
        try (Tensor host = Tensor.of(new float[] {1, 2, 3, 4}, 2, 2);
                Tensor d1 = Tensor.zeros(dev, DType.F32, 4);
                Tensor d2 = Tensor.zeros(dev, DType.F32, 2, 2);
                Tensor back = Tensor.zeros(DType.F32, 4)) {
            d1.copyFrom(host);        // host → device
            assertEquals(1, dev.fromHost);
            d2.copyFrom(d1);          // device → device: queued, no host round trip
            assertEquals(1, dev.onDevice);
            back.copyFrom(d2);        // device → host
            assertEquals(1, dev.toHost);
            assertArrayEquals(new float[] {1, 2, 3, 4}, back.toFloatArray());
            d2.zero();
            assertArrayEquals(new float[4], d2.toFloatArray());
        }
    }

    @Test
    void deviceArenaAllocatesDeviceTensorsAndRecyclesThem() {
        FakeDevice dev = new FakeDevice();
        try (Arena arena = new Arena(dev, 1024)) {
            assertEquals(Device.cuda(7), arena.device());
            Tensor a = arena.zeros(DType.F32, 8);
            Tensor ids = arena.allocate(DType.I32, 3);
            ids.copyFrom(new int[] {1, 2, 3});  // the model's pattern: ids into an arena tensor, then read back
            assertArrayEquals(new int[] {1, 2, 3}, ids.toIntArray());
            assertEquals(Device.cuda(7), a.device());
            assertArrayEquals(new float[8], a.toFloatArray());
            Tensor big = arena.allocate(DType.F32, 1000);  // a second chunk
            assertFalse(big.isHost());
            arena.reset();
            assertThrows(IllegalStateException.class, a::toFloatArray);
            assertEquals(1, dev.live.size(), "reset merges the chunks into one");
        }
        assertTrue(dev.live.isEmpty(), "close frees every chunk");
    }

    @Test
    void outOfDeviceMemoryLeavesTensorsAndArenasUsable() {
        FakeDevice dev = new FakeDevice();
        dev.limit = 4096;
        assertThrows(IllegalStateException.class, () -> Tensor.zeros(dev, DType.F32, 2048));
        assertTrue(dev.live.isEmpty(), "nothing allocated, nothing to free");
        try (Arena arena = new Arena(dev, 256)) {
            Tensor a = arena.allocate(DType.F32, 16);
            assertThrows(IllegalStateException.class, () -> arena.allocate(DType.F32, 4096));
            a.copyFrom(new float[16]);  // earlier arena tensors stay valid
            Tensor b = arena.allocate(DType.F32, 16);  // and the arena still allocates
            assertEquals(16, b.numel());
        }
        try (Tensor t = Tensor.zeros(dev, DType.F32, 8)) {
            assertEquals(8, t.toFloatArray().length);
        }
        assertTrue(dev.live.isEmpty());
    }

    @Test
    void theCpuBackendRejectsDeviceTensorsByName() {
        FakeDevice dev = new FakeDevice();
        try (Tensor x = Tensor.zeros(dev, DType.F32, 2, 3); Tensor y = Tensor.zeros(DType.F32, 2, 3)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> CpuBackend.get().reluForward(y, x));
            assertEquals("relu_forward: 'inp' is on cuda:7, not the cpu (out=f32[2, 3], inp=f32[2, 3])", e.getMessage());
        }
    }
}
