package cola.model;

import cola.backend.Backend;
import cola.io.HfWeights;
import cola.io.SafetensorsFile;
import cola.tensor.DType;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * What {@code cola info --model DIR} says about a Hugging Face folder without loading its weights (config.json and the
 * safetensors headers only): the family, the parameter count, the stored dtype, what {@code --dtype auto} picks here,
 * and estimates of the memory that LoRA training and inference will need. The estimates are the engine's own rules:
 * frozen matrices at 2 (bf16) or 4 (f32) bytes, norms and biases at 4, the step's saved activations as
 * {@link Transformer#activationBytesEstimate} counts them, a bf16 KV cache per token.
 */
public final class ModelSummary {
    private ModelSummary() {}

    public static List<String> describe(Path folder, Backend be, Precision.Choice choice, int batch, int seqLen)
            throws IOException {
        ModelConfig c = ModelConfig.read(folder);
        Precision.Resolved p = Precision.resolve(choice, folder, be);
        long params = 0, matrices = 0, other = 0;
        String stored;
        try (HfWeights w = HfWeights.open(folder)) {
            stored = w.dominantFloatDType();
            for (String n : w.names()) {
                SafetensorsFile.Entry e = w.entry(n);
                long numel = 1;
                for (long d : e.shape()) numel *= d;
                params += numel;
                if (e.shape().length == 2 && e.shape()[0] > 1 && e.shape()[1] > 1) matrices += numel;
                else other += numel;
            }
        }
        int bytes = p.dtype() == DType.BF16 ? 2 : 4;
        long weights = matrices * bytes + other * 4;
        long rows = (long) batch * seqLen;
        long acts = activations(c, rows);
        long kvPerToken = kvBytesPerToken(c);
        List<String> out = new ArrayList<>();
        out.add(String.format(Locale.ROOT, "model      %s: %s, %d layers, hidden %d, vocab %d", folder, c.architecture(),
                c.numLayers(), c.hiddenSize(), c.vocabSize()));
        out.add(String.format(Locale.ROOT, "params     %,d (%.2f B), stored %s", params, params / 1e9, stored));
        out.add("dtype      " + p.reason());
        out.add(String.format(Locale.ROOT, "memory     weights %s; LoRA training at B%d×T%d: ~%s (+ activations %s, "
                + "%s with --recompute on); inference: weights + KV cache %s per 1k tokens", gb(weights), batch, seqLen,
                gb(weights + acts), gb(acts), gb(weights + acts / Math.max(1, c.numLayers()) + 4 * rows * c.hiddenSize()
                        * c.numLayers()), kvPerToken > 0 ? gb(kvPerToken * 1000) : "n/a"));
        return out;
    }

    /** The same rule as {@link Transformer#activationBytesEstimate}, from the config alone. */
    static long activations(ModelConfig c, long rows) {
        long h = c.hiddenSize();
        long mlp = c instanceof LlamaConfig l ? l.intermediateSize() : c instanceof OptConfig o ? o.ffnDim()
                : c instanceof Gpt2Config g ? g.innerSize() : ((BertConfig) c).intermediateSize();
        long head = Math.min(rows, Math.max(1, (16L << 20) / Math.max(1, c.vocabSize()))) * c.vocabSize();
        return 4 * (rows * c.numLayers() * (10 * h + 3 * mlp) + head + 4 * rows * h);
    }

    /** bf16 K and V per token over all layers (causal LMs; 0 for encoders). */
    static long kvBytesPerToken(ModelConfig c) {
        if (!c.causal()) return 0;
        long kv = c instanceof LlamaConfig l ? (long) l.numKvHeads() * l.headDim() : c.hiddenSize();
        return 2L * 2 * kv * c.numLayers();
    }

    private static String gb(long bytes) {
        return bytes >= 1L << 30 ? String.format(Locale.ROOT, "%.2f GB", bytes / (double) (1L << 30))
                : String.format(Locale.ROOT, "%.0f MB", bytes / (double) (1L << 20));
    }
}
