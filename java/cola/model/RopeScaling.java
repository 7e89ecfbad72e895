package cola.model;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.util.Locale;

/**
 * {@code rope_scaling} of a config.json, as Hugging Face computes it (transformers' modeling_rope_utils.py): every
 * variant changes only the table of inverse frequencies inv_freq[D/2] (and YaRN also scales cos/sin by an attention
 * factor), so the RoPE kernels take the table. Types:
 * <ul>
 *   <li>{@code default}: inv_freq[i] = θ^(-2i/D);</li>
 *   <li>{@code linear} (factor): inv_freq / factor;</li>
 *   <li>{@code dynamic} NTK (factor): at sequence length T > max_position_embeddings the base becomes
 *   θ·(factor·T/max − (factor − 1))^(D/(D−2)); shorter sequences use the default table;</li>
 *   <li>{@code yarn} (factor, attention_factor = 0.1·ln(factor) + 1, beta_fast 32, beta_slow 1,
 *   original_max_position_embeddings or max_position_embeddings): interpolated frequencies blended with the original
 *   ones by a linear ramp over the dimensions between the correction bounds;</li>
 *   <li>{@code llama3} (factor, low_freq_factor, high_freq_factor, original_max_position_embeddings): wavelengths
 *   above original/low_freq_factor are divided by factor, below original/high_freq_factor kept, smoothly blended
 *   in between (Llama 3.1 / 3.2 / 3.3).</li>
 * </ul>
 * The table is computed in float32 as PyTorch does (θ^(2i/D) evaluated in f32); longrope (Phi-3) is not here yet and
 * is a clear error.
 */
public record RopeScaling(Type type, double factor, double lowFreqFactor, double highFreqFactor,
        int originalMaxPositions, double attentionFactor, double betaFast, double betaSlow) {
    public enum Type { DEFAULT, LINEAR, DYNAMIC, YARN, LLAMA3 }

    public static final RopeScaling NONE = new RopeScaling(Type.DEFAULT, 1, 0, 0, 0, 1, 0, 0);

    /** Reads {@code rope_scaling} (absent or null: {@link #NONE}); errors name the field and what is supported. */
    static RopeScaling read(ModelConfig.Fields f, int maxPositions) throws IOException {
        JsonNode n = f.root.get("rope_scaling");
        if (n == null || n.isNull()) return NONE;
        if (!n.isObject()) throw f.bad("rope_scaling must be an object or null");
        String t = n.has("rope_type") ? n.get("rope_type").asText() : n.path("type").asText("default");
        Type type = switch (t.toLowerCase(Locale.ROOT)) {
            case "default" -> Type.DEFAULT;
            case "linear" -> Type.LINEAR;
            case "dynamic" -> Type.DYNAMIC;
            case "yarn" -> Type.YARN;
            case "llama3" -> Type.LLAMA3;
            default -> throw f.bad("rope_scaling type '" + t + "' is not supported (default, linear, dynamic, yarn, llama3)");
        };
        if (type == Type.DEFAULT) return NONE;
        double factor = positive(f, n, "factor");
        if (type == Type.LLAMA3) {
            double low = positive(f, n, "low_freq_factor"), high = positive(f, n, "high_freq_factor");
            if (!(high > low)) throw f.bad("rope_scaling: high_freq_factor " + high + " must exceed low_freq_factor " + low);
            int orig = (int) positive(f, n, "original_max_position_embeddings");
            return new RopeScaling(type, factor, low, high, orig, 1, 0, 0);
        }
        if (type == Type.YARN) {
            double att = n.hasNonNull("attention_factor") ? positive(f, n, "attention_factor") : 0.1 * Math.log(factor) + 1;
            double fast = n.hasNonNull("beta_fast") ? positive(f, n, "beta_fast") : 32;
            double slow = n.hasNonNull("beta_slow") ? positive(f, n, "beta_slow") : 1;
            int orig = n.hasNonNull("original_max_position_embeddings")
                    ? (int) positive(f, n, "original_max_position_embeddings") : maxPositions;
            return new RopeScaling(type, factor, 0, 0, orig, att, fast, slow);
        }
        return new RopeScaling(type, factor, 0, 0, maxPositions, 1, 0, 0);
    }

    private static double positive(ModelConfig.Fields f, JsonNode n, String key) throws IOException {
        JsonNode v = n.get(key);
        if (v == null || !v.isNumber() || !(v.asDouble() > 0) || !Double.isFinite(v.asDouble())) {
            throw f.bad("rope_scaling." + key + " must be a positive number, got " + v);
        }
        return v.asDouble();
    }

    /** The cos/sin scale (YaRN's attention factor; 1 otherwise). */
    public float scale() {
        return (float) attentionFactor;
    }

    /** Whether the table depends on the sequence length (dynamic NTK). */
    public boolean dependsOnLength() {
        return type == Type.DYNAMIC;
    }

    /** inv_freq[D/2] for head dim {@code d}, base {@code theta}, at sequence length {@code seqLen}. */
    public float[] invFreq(int d, double theta, int seqLen, int maxPositions) {
        int half = d / 2;
        float[] base = defaults(d, theta);
        float[] out = new float[half];
        switch (type) {
            case DEFAULT -> System.arraycopy(base, 0, out, 0, half);
            case LINEAR -> {
                for (int i = 0; i < half; i++) out[i] = (float) (base[i] / factor);
            }
            case DYNAMIC -> {
                int t = Math.max(seqLen, maxPositions);
                double b = theta * Math.pow(factor * t / maxPositions - (factor - 1), (double) d / (d - 2));
                out = defaults(d, b);
            }
            case LLAMA3 -> {
                double lowWavelen = originalMaxPositions / lowFreqFactor, highWavelen = originalMaxPositions / highFreqFactor;
                for (int i = 0; i < half; i++) {
                    double f = base[i], wavelen = 2 * Math.PI / f;
                    double scaled = wavelen > lowWavelen ? f / factor : f;
                    if (!(wavelen < highWavelen) && !(wavelen > lowWavelen)) {
                        double smooth = (originalMaxPositions / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
                        scaled = (1 - smooth) * scaled / factor + smooth * scaled;
                    }
                    out[i] = (float) scaled;
                }
            }
            case YARN -> {
                double low = Math.max(Math.floor(correctionDim(betaFast, d, theta)), 0);
                double high = Math.min(Math.ceil(correctionDim(betaSlow, d, theta)), d - 1);
                if (low == high) high += 0.001;
                for (int i = 0; i < half; i++) {
                    double posFreq = Math.pow((float) theta, (float) (2 * i) / d);
                    double extrapolation = 1 / posFreq, interpolation = 1 / (factor * posFreq);
                    double ramp = Math.min(1, Math.max(0, (i - low) / (high - low)));
                    double extrapolationFactor = 1 - ramp;
                    out[i] = (float) (interpolation * (1 - extrapolationFactor) + extrapolation * extrapolationFactor);
                }
            }
        }
        return out;
    }

    private double correctionDim(double rotations, int d, double theta) {
        return d * Math.log(originalMaxPositions / (rotations * 2 * Math.PI)) / (2 * Math.log(theta));
    }

    /** θ^(-2i/D) as PyTorch computes it: 1 / (θ ** (arange(0, D, 2).float() / D)) in float32. */
    static float[] defaults(int d, double theta) {
        float[] f = new float[d / 2];
        for (int i = 0; i < f.length; i++) f[i] = (float) (1.0 / (float) Math.pow((float) theta, (float) (2 * i) / d));
        return f;
    }
}
