package cola.model;

import cola.io.AtomicFiles;
import cola.io.SafetensorsWriter;
import cola.tensor.DType;
import cola.tensor.Tensor;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * A freshly initialised Hugging Face folder for any supported family — the starting point for pretraining a small
 * model with cola itself (no causal-LM weights are reachable offline) and for tests on every family. Keys, shapes and
 * config fields are Hugging Face's; initialisation is Hugging Face's {@code _init_weights}: N(0, 0.02) for linear and
 * embedding weights, zero biases, LayerNorm/RMSNorm weights 1.
 */
public final class ModelInit {
    /** The size of the model. {@code kvHeads} only matters for Llama (GQA); {@code ffn} = MLP width. */
    public record Spec(String family, int vocab, int hidden, int layers, int heads, int kvHeads, int ffn, int maxPositions) {
        public Spec {
            if (vocab < 2 || hidden < 1 || layers < 1 || heads < 1 || ffn < 1 || maxPositions < 2) {
                throw new IllegalArgumentException("init: vocab, hidden, layers, heads, ffn and max positions must be positive");
            }
            if (hidden % heads != 0) throw new IllegalArgumentException("init: hidden " + hidden + " is not a multiple of heads " + heads);
            if (kvHeads < 1 || heads % kvHeads != 0) {
                throw new IllegalArgumentException("init: heads " + heads + " is not a multiple of kv heads " + kvHeads);
            }
        }
    }

    private ModelInit() {}

    /** Writes config.json and model.safetensors (F32 or BF16) into {@code out}. */
    public static void write(Spec s, DType dtype, long seed, Path out) throws IOException {
        if (dtype != DType.F32 && dtype != DType.BF16) throw new IllegalArgumentException("init: dtype must be F32 or BF16");
        ObjectNode cfg = new ObjectMapper().createObjectNode();
        Map<String, long[]> shapes = new LinkedHashMap<>();
        Map<String, Character> kind = new LinkedHashMap<>();  // 'n' normal, 'z' zeros, 'o' ones
        int h = s.hidden(), f = s.ffn(), v = s.vocab();
        switch (s.family()) {
            case "opt" -> {
                cfg.putArray("architectures").add("OPTForCausalLM");
                cfg.put("model_type", "opt").put("vocab_size", v).put("hidden_size", h).put("ffn_dim", f)
                        .put("num_hidden_layers", s.layers()).put("num_attention_heads", s.heads())
                        .put("max_position_embeddings", s.maxPositions()).put("do_layer_norm_before", true)
                        .put("word_embed_proj_dim", h).put("enable_bias", true).put("activation_function", "relu")
                        .put("layer_norm_elementwise_affine", true).put("tie_word_embeddings", true)
                        .put("bos_token_id", 2).put("eos_token_id", 2).put("pad_token_id", 1);
                String p = "model.decoder.";
                put(shapes, kind, p + "embed_tokens.weight", 'n', v, h);
                put(shapes, kind, p + "embed_positions.weight", 'n', s.maxPositions() + OptConfig.POSITION_OFFSET, h);
                for (int i = 0; i < s.layers(); i++) {
                    String l = p + "layers." + i + ".";
                    for (String proj : List.of("q_proj", "k_proj", "v_proj", "out_proj")) linear(shapes, kind, l + "self_attn." + proj, h, h, true);
                    norm(shapes, kind, l + "self_attn_layer_norm", h, true);
                    linear(shapes, kind, l + "fc1", f, h, true);
                    linear(shapes, kind, l + "fc2", h, f, true);
                    norm(shapes, kind, l + "final_layer_norm", h, true);
                }
                norm(shapes, kind, p + "final_layer_norm", h, true);
            }
            case "llama" -> {
                int d = h / s.heads();
                cfg.putArray("architectures").add("LlamaForCausalLM");
                cfg.put("model_type", "llama").put("vocab_size", v).put("hidden_size", h).put("intermediate_size", f)
                        .put("num_hidden_layers", s.layers()).put("num_attention_heads", s.heads())
                        .put("num_key_value_heads", s.kvHeads()).put("head_dim", d).put("rms_norm_eps", 1e-6)
                        .put("rope_theta", 10000.0).put("tie_word_embeddings", false).put("hidden_act", "silu")
                        .put("max_position_embeddings", s.maxPositions()).putNull("rope_scaling");
                put(shapes, kind, "model.embed_tokens.weight", 'n', v, h);
                for (int i = 0; i < s.layers(); i++) {
                    String l = "model.layers." + i + ".";
                    linear(shapes, kind, l + "self_attn.q_proj", s.heads() * d, h, false);
                    linear(shapes, kind, l + "self_attn.k_proj", s.kvHeads() * d, h, false);
                    linear(shapes, kind, l + "self_attn.v_proj", s.kvHeads() * d, h, false);
                    linear(shapes, kind, l + "self_attn.o_proj", h, s.heads() * d, false);
                    linear(shapes, kind, l + "mlp.gate_proj", f, h, false);
                    linear(shapes, kind, l + "mlp.up_proj", f, h, false);
                    linear(shapes, kind, l + "mlp.down_proj", h, f, false);
                    norm(shapes, kind, l + "input_layernorm", h, false);
                    norm(shapes, kind, l + "post_attention_layernorm", h, false);
                }
                norm(shapes, kind, "model.norm", h, false);
                put(shapes, kind, "lm_head.weight", 'n', v, h);
            }
            case "gpt2" -> {
                cfg.putArray("architectures").add("GPT2LMHeadModel");
                cfg.put("model_type", "gpt2").put("vocab_size", v).put("n_embd", h).put("n_layer", s.layers())
                        .put("n_head", s.heads()).put("n_positions", s.maxPositions()).put("n_inner", f)
                        .put("layer_norm_epsilon", 1e-5).put("activation_function", "gelu_new")
                        .put("bos_token_id", v - 1).put("eos_token_id", v - 1);
                put(shapes, kind, "transformer.wte.weight", 'n', v, h);
                put(shapes, kind, "transformer.wpe.weight", 'n', s.maxPositions(), h);
                for (int i = 0; i < s.layers(); i++) {
                    String l = "transformer.h." + i + ".";
                    norm(shapes, kind, l + "ln_1", h, true);
                    conv1d(shapes, kind, l + "attn.c_attn", h, 3 * h);
                    conv1d(shapes, kind, l + "attn.c_proj", h, h);
                    norm(shapes, kind, l + "ln_2", h, true);
                    conv1d(shapes, kind, l + "mlp.c_fc", h, f);
                    conv1d(shapes, kind, l + "mlp.c_proj", f, h);
                }
                norm(shapes, kind, "transformer.ln_f", h, true);
            }
            case "bert" -> {
                cfg.putArray("architectures").add("BertModel");
                cfg.put("model_type", "bert").put("vocab_size", v).put("hidden_size", h).put("intermediate_size", f)
                        .put("num_hidden_layers", s.layers()).put("num_attention_heads", s.heads())
                        .put("max_position_embeddings", s.maxPositions()).put("type_vocab_size", 2)
                        .put("layer_norm_eps", 1e-12).put("hidden_act", "gelu");
                put(shapes, kind, "embeddings.word_embeddings.weight", 'n', v, h);
                put(shapes, kind, "embeddings.position_embeddings.weight", 'n', s.maxPositions(), h);
                put(shapes, kind, "embeddings.token_type_embeddings.weight", 'n', 2, h);
                norm(shapes, kind, "embeddings.LayerNorm", h, true);
                for (int i = 0; i < s.layers(); i++) {
                    String l = "encoder.layer." + i + ".";
                    for (String q : List.of("query", "key", "value")) linear(shapes, kind, l + "attention.self." + q, h, h, true);
                    linear(shapes, kind, l + "attention.output.dense", h, h, true);
                    norm(shapes, kind, l + "attention.output.LayerNorm", h, true);
                    linear(shapes, kind, l + "intermediate.dense", f, h, true);
                    linear(shapes, kind, l + "output.dense", h, f, true);
                    norm(shapes, kind, l + "output.LayerNorm", h, true);
                }
            }
            default -> throw new IllegalArgumentException("init: unknown family '" + s.family() + "'; expected opt, llama, gpt2 or bert");
        }
        Files.createDirectories(out);
        SplittableRandom rng = new SplittableRandom(seed);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        List<Tensor> owned = new ArrayList<>();
        try {
            for (Map.Entry<String, long[]> e : shapes.entrySet()) {
                long n = 1;
                for (long d : e.getValue()) n *= d;
                float[] x = new float[Math.toIntExact(n)];
                char k = kind.get(e.getKey());
                if (k == 'o') java.util.Arrays.fill(x, 1f);
                if (k == 'n') for (int i = 0; i < x.length; i++) x[i] = (float) (gaussian(rng) * 0.02);
                Tensor t = Tensor.of(x, e.getValue());
                owned.add(t);
                if (dtype == DType.BF16) {
                    Tensor b = Tensor.zeros(DType.BF16, e.getValue());
                    owned.add(b);
                    cola.backend.cpu.CpuBackend.get().convert(b, t);
                    t = b;
                }
                tensors.put(e.getKey(), t);
            }
            cfg.put("torch_dtype", dtype == DType.BF16 ? "bfloat16" : "float32");
            SafetensorsWriter.write(out.resolve("model.safetensors"), tensors, Map.of("format", "pt"));
            AtomicFiles.writeJson(out.resolve("config.json"), cfg);
        } finally {
            owned.forEach(Tensor::close);
        }
    }

    private static double gaussian(SplittableRandom r) {  // Box-Muller: SplittableRandom has no nextGaussian on 17
        double u = 1 - r.nextDouble(), w = r.nextDouble();
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * w);
    }

    private static void put(Map<String, long[]> shapes, Map<String, Character> kind, String key, char k, long... shape) {
        shapes.put(key, shape);
        kind.put(key, k);
    }

    private static void linear(Map<String, long[]> shapes, Map<String, Character> kind, String path, int out, int in, boolean bias) {
        put(shapes, kind, path + ".weight", 'n', out, in);
        if (bias) put(shapes, kind, path + ".bias", 'z', out);
    }

    /** GPT-2's Conv1D stores its weight [in, out]. */
    private static void conv1d(Map<String, long[]> shapes, Map<String, Character> kind, String path, int in, int out) {
        put(shapes, kind, path + ".weight", 'n', in, out);
        put(shapes, kind, path + ".bias", 'z', out);
    }

    private static void norm(Map<String, long[]> shapes, Map<String, Character> kind, String path, int c, boolean bias) {
        put(shapes, kind, path + ".weight", 'o', c);
        if (bias) put(shapes, kind, path + ".bias", 'z', c);
    }
}
