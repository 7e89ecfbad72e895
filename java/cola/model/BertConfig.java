package cola.model;

import java.io.IOException;

/**
 * BERT encoders: BertModel, BertForMaskedLM, BertForSequenceClassification. Post-LN, erf GELU.
 *
 * @param meanPooling a sequence classifier exported by cola with its mean-pooling head ({@code "cola_pooling": "mean"}
 *                    in config.json): no pooler layer, the classifier reads the mean of the real tokens' states
 */
public record BertConfig(String architecture, int vocabSize, int hiddenSize, int numLayers, int numHeads,
        int intermediateSize, int maxPositions, int typeVocabSize, double layerNormEps, int numLabels, boolean meanPooling)
        implements ModelConfig {
    /** The config.json key that marks cola's mean-pooling classification head. */
    public static final String POOLING_KEY = "cola_pooling";


    static BertConfig from(ModelConfig.Fields f, String arch) throws IOException {
        int hidden = f.integer("hidden_size");
        int heads = f.integer("num_attention_heads");
        if (heads == 0 || hidden % heads != 0) {
            throw f.bad("hidden_size " + hidden + " is not a multiple of num_attention_heads " + heads);
        }
        String act = f.text("hidden_act", "gelu");
        if (!act.equals("gelu")) throw f.bad("hidden_act '" + act + "' is not supported for BERT (gelu)");
        int labels = 0;
        if (arch.equals("BertForSequenceClassification")) {
            labels = f.has("num_labels") ? f.integer("num_labels")
                    : f.root.has("id2label") ? f.root.get("id2label").size() : 2;
        }
        return new BertConfig(arch, f.integer("vocab_size"), hidden, f.integer("num_hidden_layers"), heads,
                f.integer("intermediate_size"), f.integer("max_position_embeddings"), f.integer("type_vocab_size", 2),
                f.number("layer_norm_eps", 1e-12), labels,
                arch.equals("BertForSequenceClassification") && f.text(POOLING_KEY, "cls").equals("mean"));
    }

    @Override
    public boolean causal() {
        return false;
    }
}
