package cola.model;

import java.io.IOException;

/** OPTForCausalLM. Learned positions with offset 2; pre-LN (do_layer_norm_before) or post-LN (opt-350m). */
public record OptConfig(int vocabSize, int hiddenSize, int ffnDim, int numLayers, int numHeads, int maxPositions,
        boolean layerNormBefore, int wordEmbedProjDim, boolean enableBias, String activation,
        boolean layerNormAffine) implements ModelConfig {

    static OptConfig from(ModelConfig.Fields f) throws IOException {
        int hidden = f.integer("hidden_size");
        OptConfig c = new OptConfig(f.integer("vocab_size"), hidden, f.integer("ffn_dim"),
                f.integer("num_hidden_layers"), f.integer("num_attention_heads"), f.integer("max_position_embeddings"),
                f.bool("do_layer_norm_before", true), f.integer("word_embed_proj_dim", hidden),
                f.bool("enable_bias", true), f.text("activation_function", "relu"),
                f.bool("layer_norm_elementwise_affine", true));
        if (c.numHeads == 0 || hidden % c.numHeads != 0) {
            throw f.bad("hidden_size " + hidden + " is not a multiple of num_attention_heads " + c.numHeads);
        }
        if (!c.activation.equals("relu") && !c.activation.equals("gelu")) {
            throw f.bad("activation_function '" + c.activation + "' is not supported for OPT (relu, gelu)");
        }
        return c;
    }

    @Override
    public String architecture() {
        return "OPTForCausalLM";
    }

    @Override
    public boolean causal() {
        return true;
    }

    public int headDim() {
        return hiddenSize / numHeads;
    }

    /** OPT's position table has max_position_embeddings + 2 rows (positions are looked up at +2). */
    public static final int POSITION_OFFSET = 2;
}
