package cola.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import cola.tensor.DType;
import cola.tensor.Half;
import cola.tensor.Tensor;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * f32 ↔ bf16 / f16 bulk conversions (native/src/convert.cpp), bit for bit against the Java scalar conversions in
 * {@link Half}: every 16-bit pattern one way, and millions of f32 patterns (all exponents, ties, subnormals, ±0, ±inf,
 * NaN payloads, the f16 overflow threshold) the other.
 */
class ConvertOpTest {

    /** Every 16-bit pattern. */
    static short[] all16() {
        short[] a = new short[65536];
        for (int i = 0; i < a.length; i++) a[i] = (short) i;
        return a;
    }

    /** f32 bit patterns that stress rounding: random over all exponents plus the interesting boundaries. */
    static int[] f32Patterns() {
        Random r = new Random(77);
        java.util.List<Integer> v = new java.util.ArrayList<>();
        for (int i = 0; i < 2_000_000; i++) v.add(r.nextInt());
        for (int i = 0; i < 200_000; i++) {  // concentrated on the f16 range: |x| in [2^-26, 2^17)
            int e = 127 - 26 + r.nextInt(43);
            v.add((r.nextBoolean() ? 0x80000000 : 0) | (e << 23) | r.nextInt(1 << 23));
        }
        for (int h = 0; h < 0x7c00; h++) {
            // every f16 value, the midpoint to the next one (a tie) and the f32 neighbours of that midpoint
            int lo = Float.floatToRawIntBits(Half.toFloat((short) h));
            int hi = Float.floatToRawIntBits(Half.toFloat((short) (h + 1)));
            float mid = (Float.intBitsToFloat(lo) + Float.intBitsToFloat(hi)) / 2;  // exact in f32
            int m = Float.floatToRawIntBits(mid);
            for (int b : new int[] {lo, m - 1, m, m + 1}) {
                v.add(b);
                v.add(b | 0x80000000);
            }
        }
        for (int b = 0; b < 0x10000; b++) {  // bf16 ties: exactly half-way low bits, and neighbours
            int base = (b << 16);
            for (int low : new int[] {0x7fff, 0x8000, 0x8001}) v.add(base | low);
        }
        int[] special = {0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001,
                0x7fbfffff, 0x7fffffff, 1, 0x807fffff, 0x00800000, Float.floatToRawIntBits(65504f),
                Float.floatToRawIntBits(65519.996f), Float.floatToRawIntBits(65520f), Float.floatToRawIntBits(65536f),
                Float.floatToRawIntBits(3.4e38f), 0x477fefff, 0x477ff000, 0x477ff001, 0x38800000, 0x387fffff,
                0x33000000, 0x33000001, 0x32ffffff, 0x337fffff, 0x33800000, 0x7f7fffff, 0x7f7f8000};
        for (int b : special) {
            v.add(b);
            v.add(b ^ 0x80000000);
        }
        int[] a = new int[v.size()];
        for (int i = 0; i < a.length; i++) a[i] = v.get(i);
        return a;
    }

    static float[] floats(int[] bits) {
        float[] f = new float[bits.length];
        for (int i = 0; i < f.length; i++) f[i] = Float.intBitsToFloat(bits[i]);
        return f;
    }

    @Test
    void bf16ToF32IsExactForEveryPattern() {
        try (OpTestSupport s = new OpTestSupport(1)) {
            short[] h = all16();
            Tensor src = s.track(Tensor.zeros(DType.BF16, h.length)), dst = s.zeros(h.length);
            src.copyFrom(h);
            s.cpu.convert(dst, src);
            float[] got = dst.toFloatArray();
            for (int i = 0; i < h.length; i++) {
                assertBits("bf16 0x" + Integer.toHexString(i), Float.floatToRawIntBits(Half.bf16ToFloat(h[i])),
                        Float.floatToRawIntBits(got[i]));
            }
        }
    }

    @Test
    void f16ToF32IsExactForEveryPattern() {
        try (OpTestSupport s = new OpTestSupport(1)) {
            short[] h = all16();
            Tensor src = s.track(Tensor.zeros(DType.F16, h.length)), dst = s.zeros(h.length);
            src.copyFrom(h);
            s.cpu.convert(dst, src);
            float[] got = dst.toFloatArray();
            for (int i = 0; i < h.length; i++) {
                float want = Half.toFloat(h[i]);
                if (Float.isNaN(want)) {
                    // NaN keeps sign and payload (shifted into place)
                    assertTrue(Float.isNaN(got[i]), "f16 0x" + Integer.toHexString(i) + " must stay NaN");
                    assertBits("f16 NaN 0x" + Integer.toHexString(i),
                            (i & 0x8000) << 16 | 0x7f800000 | (i & 0x3ff) << 13, Float.floatToRawIntBits(got[i]));
                } else {
                    assertBits("f16 0x" + Integer.toHexString(i), Float.floatToRawIntBits(want),
                            Float.floatToRawIntBits(got[i]));
                }
            }
        }
    }

    @Test
    void f32ToBf16MatchesJavaBitForBit() {
        try (OpTestSupport s = new OpTestSupport(1)) {
            int[] bits = f32Patterns();
            Tensor src = s.f32(floats(bits), bits.length), dst = s.track(Tensor.zeros(DType.BF16, bits.length));
            s.cpu.convert(dst, src);
            short[] got = dst.toShortArray();
            for (int i = 0; i < bits.length; i++) {
                short want = Half.floatToBf16(Float.intBitsToFloat(bits[i]));
                if (want != got[i]) {
                    fail(String.format("f32 0x%08x → bf16: native 0x%04x, Java 0x%04x", bits[i], got[i] & 0xffff,
                            want & 0xffff));
                }
            }
            // spot-check the rounding itself, independently of Half: ties go to even, NaN stays a quiet NaN
            assertEquals(0x3f80, convertOne(s, DType.BF16, 0x3f808000));  // tie, even below
            assertEquals(0x3f82, convertOne(s, DType.BF16, 0x3f818000));  // tie, even above
            assertEquals(0x3f81, convertOne(s, DType.BF16, 0x3f808001));
            assertEquals(0x7fc0, convertOne(s, DType.BF16, 0x7f800001));  // signalling NaN → quiet NaN
            assertEquals(0x7f80, convertOne(s, DType.BF16, 0x7f7fffff));  // max float rounds up to inf
        }
    }

    @Test
    void f32ToF16MatchesJavaBitForBit() {
        try (OpTestSupport s = new OpTestSupport(1)) {
            int[] bits = f32Patterns();
            Tensor src = s.f32(floats(bits), bits.length), dst = s.track(Tensor.zeros(DType.F16, bits.length));
            s.cpu.convert(dst, src);
            short[] got = dst.toShortArray();
            for (int i = 0; i < bits.length; i++) {
                short want = Half.fromFloat(Float.intBitsToFloat(bits[i]));
                if (want != got[i]) {
                    fail(String.format("f32 0x%08x (%s) → f16: native 0x%04x, Java 0x%04x", bits[i],
                            Float.intBitsToFloat(bits[i]), got[i] & 0xffff, want & 0xffff));
                }
            }
            // independent of Half: overflow, the largest finite, subnormals, ties to even, signed zero, NaN
            assertEquals(0x7bff, convertOne(s, DType.F16, Float.floatToRawIntBits(65504f)));
            assertEquals(0x7bff, convertOne(s, DType.F16, Float.floatToRawIntBits(65519.99f)));
            assertEquals(0x7c00, convertOne(s, DType.F16, Float.floatToRawIntBits(65520f)));
            assertEquals(0xfc00, convertOne(s, DType.F16, Float.floatToRawIntBits(-1e6f)));
            assertEquals(0x0001, convertOne(s, DType.F16, Float.floatToRawIntBits(0x1p-24f)));
            assertEquals(0x0000, convertOne(s, DType.F16, Float.floatToRawIntBits(0x1p-25f)));      // tie → even 0
            assertEquals(0x0002, convertOne(s, DType.F16, Float.floatToRawIntBits(0x1.8p-24f)));    // 1.5·2^-24 → 2
            assertEquals(0x0001, convertOne(s, DType.F16, Float.floatToRawIntBits(0x1.000002p-25f)));
            assertEquals(0x0400, convertOne(s, DType.F16, Float.floatToRawIntBits(0x1.ffcp-15f)));  // 1023.5·2^-24: tie → min normal
            assertEquals(0x03ff, convertOne(s, DType.F16, Float.floatToRawIntBits(0x1.ff8p-15f)));  // largest subnormal
            assertEquals(0x3c00, convertOne(s, DType.F16, Float.floatToRawIntBits(1.00048828125f)));  // tie → even
            assertEquals(0x3c02, convertOne(s, DType.F16, Float.floatToRawIntBits(1.00146484375f)));  // tie → even
            assertEquals(0x8000, convertOne(s, DType.F16, 0x80000000));
            assertEquals(0x7e00, convertOne(s, DType.F16, 0x7fc00000));
            assertEquals(0xfe00, convertOne(s, DType.F16, 0xffc00001));
        }
    }

    @Test
    void f16RoundTripIsTheIdentity() {
        try (OpTestSupport s = new OpTestSupport(1)) {
            short[] h = all16();
            Tensor a = s.track(Tensor.zeros(DType.F16, h.length)), f = s.zeros(h.length);
            Tensor b = s.track(Tensor.zeros(DType.F16, h.length));
            a.copyFrom(h);
            s.cpu.convert(f, a);
            s.cpu.convert(b, f);
            short[] back = b.toShortArray();
            for (int i = 0; i < h.length; i++) {
                boolean nan = (i & 0x7c00) == 0x7c00 && (i & 0x3ff) != 0;
                if (nan) assertTrue((back[i] & 0x7c00) == 0x7c00 && (back[i] & 0x3ff) != 0, "NaN stays NaN");
                else assertEquals(h[i], back[i], "f16 0x" + Integer.toHexString(i));
            }
        }
    }

    @Test
    void misuseIsRejectedInJavaWithOpAndShapes() {
        try (OpTestSupport s = new OpTestSupport(1)) {
            Tensor f = s.zeros(4, 8), bf = s.track(Tensor.zeros(DType.BF16, 4, 8));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.convert(s.track(Tensor.zeros(DType.BF16, 4, 7)), f));
            assertTrue(e.getMessage().startsWith("convert:") && e.getMessage().contains("'dst' must have 32 elements")
                    && e.getMessage().contains("f32[4, 8]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> s.cpu.convert(s.track(Tensor.zeros(DType.I32, 4, 8)), bf));
            assertTrue(e.getMessage().contains("no conversion from bf16 to i32"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> s.cpu.convert(bf, null));
            assertTrue(e.getMessage().contains("'src' is null"), e.getMessage());
            Tensor closed = Tensor.zeros(DType.F16, 4, 8);
            closed.close();
            e = assertThrows(IllegalArgumentException.class, () -> s.cpu.convert(closed, f));
            assertTrue(e.getMessage().contains("'dst' is closed"), e.getMessage());
        }
    }

    // ---------------------------------------------------------------- helpers

    static int convertOne(OpTestSupport s, DType to, int f32bits) {
        Tensor src = s.f32(new float[] {Float.intBitsToFloat(f32bits)}, 1), dst = s.track(Tensor.zeros(to, 1));
        s.cpu.convert(dst, src);
        return dst.toShortArray()[0] & 0xffff;
    }

    static void assertBits(String what, int want, int got) {
        if (want != got) fail(String.format("%s: native 0x%08x, Java 0x%08x", what, got, want));
    }
}
