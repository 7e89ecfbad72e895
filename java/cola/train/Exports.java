package cola.train;

import cola.backend.Backend;
import cola.chain.Chain;
import cola.lora.LoraConfig;
import cola.lora.PeftAdapter;
import cola.model.HfFolderWriter;
import cola.model.LoraAdapter;
import cola.model.Transformer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The three things a fine-tuned run hands back, in Hugging Face / PEFT form:
 * <ul>
 *   <li>{@code merged/}: the model with every link merged, in the base model's dtypes (merge computed in fp32), plus
 *   the tokenizer files — loadable by cola and by transformers (a cola classification head is saved as
 *   BertForSequenceClassification's {@code classifier} with {@code "cola_pooling": "mean"}, which only cola honours);</li>
 *   <li>{@code adapter/}: the whole chain as ONE PEFT LoRA adapter of rank Σr (A_i stacked, s_i·B_i side by side,
 *   {@code lora_alpha = r}); on the base model it reproduces the merged model;</li>
 *   <li>{@code last-link/}: the final link's adapter alone (on top of the links merged before it).</li>
 * </ul>
 * Every file is written atomically.
 */
public final class Exports {
    private Exports() {}

    static PeftAdapter.Config peftConfig(Transformer m, LoraConfig lora, int r, double alpha, Path base) {
        boolean cls = m.classifier() != null && m.classifier().gradWeight() != null;
        return new PeftAdapter.Config(r, alpha, lora.targets(), lora.dropout(), lora.rslora(),
                m.config.architecture().equals("GPT2LMHeadModel"), cls ? List.of("classifier") : List.of(),
                cls ? "SEQ_CLS" : m.head == Transformer.Head.CAUSAL_LM ? "CAUSAL_LM" : "FEATURE_EXTRACTION", base.toString());
    }

    /** The current link's adapters (still attached, before the final merge). */
    public static void lastLink(Path dir, Transformer m, LoraConfig lora, Path base) throws IOException {
        List<LoraAdapter> ads = m.adapters();
        if (ads.isEmpty()) throw new IllegalStateException("export: the model has no attached adapters");
        PeftAdapter.write(dir, m, ads, peftConfig(m, lora, ads.get(0).rank, lora.alpha(), base));
    }

    /**
     * After {@link Chain#finish()}: merged/ and (when {@code chain} is not null) adapter/. Returns a progress line.
     */
    public static String mergedAndChain(Backend be, Path exportDir, Transformer m, Chain chain, LoraConfig lora, Path base)
            throws IOException {
        Path merged = exportDir.resolve("merged");
        HfFolderWriter.write(m, be, base.resolve("config.json"), merged, null);
        copyTokenizerFiles(base, merged);
        if (chain == null) return "  exported " + merged;
        List<LoraAdapter> one = chain.chainAsOneAdapter();
        try {
            int r = one.isEmpty() ? 0 : one.get(0).rank;
            // scale 1 = lora_alpha / r with lora_alpha = r: the s_i are already folded into B; never rsLoRA here
            LoraConfig plain = new LoraConfig(Math.max(1, r), r, 0, false, lora.targets(), java.util.Map.of(), lora.init(), 0);
            PeftAdapter.write(exportDir.resolve("adapter"), m, one, peftConfig(m, plain, r, r, base));
        } finally {
            one.forEach(LoraAdapter::close);
        }
        return "  exported " + merged + ", " + exportDir.resolve("adapter") + " (the chain as one adapter of rank Σr) and "
                + exportDir.resolve("last-link");
    }

    /** Copies the tokenizer files a Hugging Face folder may hold (those present) from one folder to another. */
    public static void copyTokenizerFiles(Path from, Path to) throws IOException {
        for (String f : List.of("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json",
                "merges.txt", "vocab.txt", "encoder.json", "vocab.bpe")) {
            if (Files.isRegularFile(from.resolve(f))) cola.io.AtomicFiles.copy(from.resolve(f), to.resolve(f));
        }
    }
}
