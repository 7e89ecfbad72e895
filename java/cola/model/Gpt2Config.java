package cola.model;

import java.io.IOException;

/** GPT2LMHeadModel: Conv1D weights stored [in, out], tanh GELU, learned positions, tied head. */
public record Gpt2Config(int vocabSize, int hiddenSize, int numLayers, int numHeads, int maxPositions,
        double layerNormEps, int innerSize) implements ModelConfig {

    static Gpt2Config from(ModelConfig.Fields f) throws IOException {
        int hidden = f.integer("n_embd");
        int heads = f.integer("n_head");
        if (heads == 0 || hidden % heads != 0) throw f.bad("n_embd " + hidden + " is not a multiple of n_head " + heads);
        String act = f.text("activation_function", "gelu_new");
        if (!act.equals("gelu_new") && !act.equals("gelu_pytorch_tanh")) {
            throw f.bad("activation_function '" + act + "' is not supported for GPT-2 (gelu_new)");
        }
        return new Gpt2Config(f.integer("vocab_size"), hidden, f.integer("n_layer"), heads, f.integer("n_positions"),
                f.number("layer_norm_epsilon", 1e-5), f.integer("n_inner", 4 * hidden));
    }

    @Override
    public String architecture() {
        return "GPT2LMHeadModel";
    }

    @Override
    public boolean causal() {
        return true;
    }
}
