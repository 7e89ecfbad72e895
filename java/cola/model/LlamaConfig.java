package cola.model;

import java.io.IOException;

/**
 * LlamaForCausalLM: RMSNorm, rotate_half RoPE (with rope_scaling), SwiGLU, grouped-query attention, tied or untied
 * head; {@code attention_bias} puts biases on q/k/v/o. Qwen2ForCausalLM is the same block with q/k/v biases and none
 * on o_proj (modeling_qwen2.py); its sliding-window attention ({@code use_sliding_window}) is not supported yet.
 * Qwen3ForCausalLM adds an RMSNorm over each head's q and k before RoPE ({@code qkNorm}; modeling_qwen3.py), with
 * {@code attention_bias} as Llama's and an explicit head_dim. MistralForCausalLM is Llama with a sliding window
 * ({@code sliding_window}: query i sees the keys j > i − window; null = full attention; modeling_mistral.py).
 * Phi3ForCausalLM fuses q/k/v into {@code qkv_proj} and gate/up into {@code gate_up_proj} ({@code fused}; gate the
 * first half), with Mistral's sliding window (modeling_phi3.py); a LoRA on a fused module is one adapter over the
 * fused output, as PEFT does. partial_rotary_factor ≠ 1 and longrope are not supported yet.
 */
public record LlamaConfig(String architecture, int vocabSize, int hiddenSize, int intermediateSize, int numLayers,
        int numHeads, int numKvHeads, int headDim, double rmsNormEps, double ropeTheta, boolean tieWordEmbeddings,
        int maxPositions, RopeScaling ropeScaling, boolean qkvBias, boolean oBias, boolean qkNorm, int slidingWindow,
        boolean fused) implements ModelConfig {
    public LlamaConfig {
        if (ropeScaling == null) ropeScaling = RopeScaling.NONE;
        if (architecture == null) architecture = "LlamaForCausalLM";
    }


    static LlamaConfig from(ModelConfig.Fields f, String arch) throws IOException {
        boolean qwen2 = arch.equals("Qwen2ForCausalLM"), qwen3 = arch.equals("Qwen3ForCausalLM");
        boolean mistral = arch.equals("MistralForCausalLM"), phi3 = arch.equals("Phi3ForCausalLM");
        int window = 0;
        if (phi3 && f.has("partial_rotary_factor") && f.number("partial_rotary_factor", 1.0) != 1.0) {
            throw f.bad("partial_rotary_factor " + f.number("partial_rotary_factor", 1.0) + " is not supported yet (1.0)");
        }
        if ((mistral || phi3) && f.has("sliding_window")) {
            window = f.integer("sliding_window");
            if (window < 1) throw f.bad("sliding_window must be a positive integer or null, got " + window);
        }
        int hidden = f.integer("hidden_size");
        int heads = f.integer("num_attention_heads");
        if (heads == 0) throw f.bad("num_attention_heads must be > 0");
        int kv = f.integer("num_key_value_heads", heads);
        int headDim = f.integer("head_dim", hidden / heads);
        if (kv == 0 || heads % kv != 0) {
            throw f.bad("num_attention_heads " + heads + " is not a multiple of num_key_value_heads " + kv);
        }
        if (headDim % 2 != 0) throw f.bad("head_dim " + headDim + " must be even for RoPE");
        String act = f.text("hidden_act", "silu");
        if (!act.equals("silu")) throw f.bad("hidden_act '" + act + "' is not supported for " + arch + " (silu)");
        if ((qwen2 || qwen3) && f.bool("use_sliding_window", false)) {
            throw f.bad("use_sliding_window = true is not supported yet (sliding-window attention); full"
                    + " attention runs with use_sliding_window = false");
        }
        if (!qwen2 && f.bool("mlp_bias", false)) throw f.bad("mlp_bias = true is not supported (Llama MLP without biases)");
        boolean attnBias = f.bool("attention_bias", false);
        double theta = f.number("rope_theta", 10000.0);
        if (!(theta > 1) || !Double.isFinite(theta)) throw f.bad("rope_theta must be a finite number > 1, got " + theta);
        int maxPositions = f.integer("max_position_embeddings", 4096);
        return new LlamaConfig(arch, f.integer("vocab_size"), hidden, f.integer("intermediate_size"),
                f.integer("num_hidden_layers"), heads, kv, headDim, f.number("rms_norm_eps", 1e-6), theta,
                f.bool("tie_word_embeddings", false), maxPositions, RopeScaling.read(f, maxPositions), qwen2 || attnBias,
                !qwen2 && attnBias, qwen3, window, phi3);
    }


    @Override
    public boolean causal() {
        return true;
    }
}
