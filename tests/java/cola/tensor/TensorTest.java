package cola.tensor;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

/** Off-heap tensors: ownership, views, copies, dtype conversions, and misuse that must throw instead of crashing. */
class TensorTest {

    @Test
    void zerosHasShapeDtypeAndZeroContent() {
        try (Tensor t = Tensor.zeros(DType.F32, 2, 3, 5)) {
            assertArrayEquals(new long[] {2, 3, 5}, t.shape());
            assertEquals(30, t.numel());
            assertEquals(120, t.byteSize());
            assertEquals(5, t.dim(-1));
            assertEquals(Device.CPU, t.device());
            assertEquals(0, t.address() % 64, "64-byte aligned for AVX-512");
            for (float f : t.toFloatArray()) assertEquals(0f, f);
            assertEquals("f32[2, 3, 5]", t.describe());
        }
    }

    @Test
    void copiesRoundTripEveryDtype() {
        float[] f = {1.5f, -2f, 3.25f, 0f, 7f, 1e-3f};
        try (Tensor t = Tensor.of(f, 2, 3)) {
            assertArrayEquals(f, t.toFloatArray());
        }
        int[] ids = {0, 5, 50271, -100};
        try (Tensor t = Tensor.ofInts(ids, 4)) {
            assertArrayEquals(ids, t.toIntArray());
        }
        long[] longs = {1L << 40, -3};
        try (Tensor t = Tensor.zeros(DType.I64, 2)) {
            t.copyFrom(longs);
            assertArrayEquals(longs, t.toLongArray());
        }
        short[] bf = {Half.floatToBf16(1.0f), Half.floatToBf16(-0.5f), Half.floatToBf16(3.140625f)};
        try (Tensor t = Tensor.zeros(DType.BF16, 3)) {
            t.copyFrom(bf);
            assertArrayEquals(bf, t.toShortArray());
            assertArrayEquals(new float[] {1.0f, -0.5f, 3.140625f}, t.toFloatArray());
        }
        short[] h = {Half.fromFloat(1.0f), Half.fromFloat(65504f), Half.fromFloat(-0.000061035156f)};
        try (Tensor t = Tensor.zeros(DType.F16, 3)) {
            t.copyFrom(h);
            assertArrayEquals(new float[] {1.0f, 65504f, -0.000061035156f}, t.toFloatArray());
        }
    }

    @Test
    void halfConversionsRoundToNearestEven() {
        // bf16: 1 + 2^-8 is exactly halfway between 1 and 1 + 2^-7 → ties to even (1.0); just above → up.
        assertEquals(1.0f, Half.bf16ToFloat(Half.floatToBf16(1f + 0x1p-8f)));
        assertEquals(1f + 0x1p-7f, Half.bf16ToFloat(Half.floatToBf16(1f + 0x1p-8f + 0x1p-20f)));
        assertTrue(Float.isNaN(Half.bf16ToFloat(Half.floatToBf16(Float.NaN))));
        // f16: max normal, overflow to inf, smallest subnormal, ties to even
        assertEquals(65504f, Half.toFloat(Half.fromFloat(65504f)));
        assertEquals(Float.POSITIVE_INFINITY, Half.toFloat(Half.fromFloat(65520f)));
        assertEquals(0x1p-24f, Half.toFloat(Half.fromFloat(0x1p-24f)));
        assertEquals(1.0f, Half.toFloat(Half.fromFloat(1f + 0x1p-11f)));
        assertEquals(1f + 0x1p-9f, Half.toFloat(Half.fromFloat(1f + 0x1p-10f + 0x1p-11f)));
        assertTrue(Float.isNaN(Half.toFloat(Half.fromFloat(Float.NaN))));
        // every f16 bit pattern round-trips through f32
        for (int b = 0; b < 0x10000; b++) {
            short s = (short) b;
            float f = Half.toFloat(s);
            if (!Float.isNaN(f)) assertEquals(s, Half.fromFloat(f), "pattern " + Integer.toHexString(b));
        }
    }

    @Test
    void viewsShareMemoryWithoutCopying() {
        try (Tensor t = Tensor.of(new float[] {0, 1, 2, 3, 4, 5}, 2, 3)) {
            Tensor v = t.view(3, 2);
            Tensor inferred = t.view(-1);
            assertArrayEquals(new long[] {6}, inferred.shape());
            Tensor row1 = t.narrow(1, 1);
            assertArrayEquals(new float[] {3, 4, 5}, row1.toFloatArray());
            row1.copyFrom(new float[] {9, 9, 9});
            assertArrayEquals(new float[] {0, 1, 2, 9, 9, 9}, v.toFloatArray());
            assertEquals(t.address() + 12, row1.address());
            v.close();  // a view frees nothing
            assertArrayEquals(new float[] {0, 1, 2, 9, 9, 9}, t.toFloatArray());
        }
    }

    @Test
    void closingTwiceAndUseAfterCloseThrow() {
        Tensor t = Tensor.zeros(DType.F32, 4);
        Tensor view = t.view(2, 2);
        t.close();
        assertTrue(t.isClosed());
        assertTrue(view.isClosed(), "a view of a freed tensor reports closed");
        IllegalStateException e = assertThrows(IllegalStateException.class, t::close);
        assertTrue(e.getMessage().contains("closed twice"), e.getMessage());
        assertThrows(IllegalStateException.class, t::address);
        assertThrows(IllegalStateException.class, t::toFloatArray);
        e = assertThrows(IllegalStateException.class, view::toFloatArray);
        assertTrue(e.getMessage().contains("already freed"), e.getMessage());
    }

    @Test
    void badShapesAndCopiesAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(DType.F32, 2, -1));
        try (Tensor t = Tensor.zeros(DType.F32, 2, 3)) {
            assertThrows(IllegalArgumentException.class, () -> t.view(4, 2));
            assertThrows(IllegalArgumentException.class, () -> t.narrow(1, 2));
            assertThrows(IllegalArgumentException.class, () -> t.copyFrom(new float[5]));
            assertThrows(IllegalArgumentException.class, () -> t.copyFrom(new int[6]));
            assertThrows(IllegalArgumentException.class, t::toIntArray);
        }
    }

    @Test
    void arenaRecyclesMemoryAndStopsAllocatingInSteadyState() {
        try (Arena arena = new Arena(1024)) {
            long allocationsAfterWarmup = 0;
            for (int step = 0; step < 20; step++) {
                // a "step" that needs more than the initial chunk
                Tensor a = arena.allocate(DType.F32, 100, 10);
                Tensor b = arena.zeros(DType.F32, 300);
                Tensor c = arena.allocate(DType.I32, 7);
                assertEquals(0, a.address() % 64);
                for (float f : b.toFloatArray()) assertEquals(0f, f);
                a.copyFrom(new float[1000]);
                c.copyFrom(new int[7]);
                if (step == 2) allocationsAfterWarmup = arena.nativeAllocations();
                arena.reset();
                assertTrue(a.isClosed());
                IllegalStateException e = assertThrows(IllegalStateException.class, a::toFloatArray);
                assertTrue(e.getMessage().contains("arena was reset"), e.getMessage());
            }
            assertEquals(allocationsAfterWarmup, arena.nativeAllocations(), "no native allocation after warm-up");
            assertTrue(arena.highWater() >= 4000 + 1200);
            Tensor t = arena.allocate(DType.F32, 2);
            t.close();  // allowed: an arena tensor frees nothing, it just becomes unusable
            assertThrows(IllegalStateException.class, t::address);
        }
    }

    @Test
    void arenaTensorsDieWithTheArena() {
        Arena arena = new Arena(256);
        Tensor t = arena.allocate(DType.F32, 8);
        arena.close();
        IllegalStateException e = assertThrows(IllegalStateException.class, t::address);
        assertTrue(e.getMessage().contains("arena was closed"), e.getMessage());
        assertThrows(IllegalStateException.class, arena::close);
        assertThrows(IllegalStateException.class, () -> arena.allocate(DType.F32, 1));
    }

    @Test
    void largeTensorCopiesWorkAcrossChunks() {
        // 280 M floats = 1.12 GB: crosses the 1 GiB copy window.
        int n = 280_000_000;
        float[] data = new float[n];
        data[0] = 1f;
        data[n - 1] = 2f;
        data[268_435_456] = 3f;  // first element of the second window
        try (Tensor t = Tensor.of(data, n)) {
            float[] back = t.toFloatArray();
            assertEquals(1f, back[0]);
            assertEquals(2f, back[n - 1]);
            assertEquals(3f, back[268_435_456]);
        }
    }
}
