package cola.tensor;

/**
 * Scalar bf16/f16 ↔ f32 conversions in Java (round to nearest even), for copies and tests. Bulk conversion runs in
 * native code (Backend#convert); these must agree with it bit for bit.
 */
public final class Half {
    private Half() {}

    public static float bf16ToFloat(short h) {
        return Float.intBitsToFloat((h & 0xffff) << 16);
    }

    public static short floatToBf16(float f) {
        int u = Float.floatToRawIntBits(f);
        if ((u & 0x7fffffff) > 0x7f800000) return (short) ((u >>> 16) | 0x0040);  // quiet NaN
        u += 0x7fff + ((u >>> 16) & 1);
        return (short) (u >>> 16);
    }

    public static float toFloat(short h) {
        int bits = h & 0xffff;
        int sign = (bits & 0x8000) << 16;
        int exp = (bits >>> 10) & 0x1f;
        int mant = bits & 0x3ff;
        if (exp == 0x1f) return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));  // inf / NaN
        if (exp == 0) {
            if (mant == 0) return Float.intBitsToFloat(sign);
            float v = mant * 0x1p-24f;  // subnormal: mant · 2^-24
            return sign != 0 ? -v : v;
        }
        return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
    }

    public static short fromFloat(float f) {
        int u = Float.floatToRawIntBits(f);
        int sign = (u >>> 16) & 0x8000;
        int abs = u & 0x7fffffff;
        if (abs > 0x7f800000) return (short) (sign | 0x7e00);               // NaN
        if (abs >= 0x477ff000) return (short) (sign | 0x7c00);              // ≥ 65520 rounds to inf
        if (abs < 0x38800000) {                                             // below 2^-14: subnormal or zero
            // value / 2^-24, rounded to nearest even
            float scaled = Float.intBitsToFloat(abs) * 0x1p24f;
            int m = (int) Math.rint(scaled);
            return (short) (sign | m);
        }
        int exp = (abs >>> 23) - 112;
        int mant = abs & 0x7fffff;
        int half = (exp << 10) | (mant >>> 13);
        int rest = mant & 0x1fff;
        if (rest > 0x1000 || (rest == 0x1000 && (half & 1) != 0)) half++;
        return (short) (sign | half);
    }
}
