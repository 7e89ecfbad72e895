package cola.model;

import cola.backend.Backend;
import cola.backend.cpu.CpuBackend;
import cola.io.HfWeights;
import cola.tensor.DType;
import cola.tensor.Tensor;
import java.io.IOException;

/**
 * Builds a {@link Transformer} from a config and an HF weight folder, one method per family. Key names are accepted
 * with and without the usual prefix ("model.", "transformer.", "bert."); module paths of the built layers always use
 * the canonical HF path of the architecture, which is what PEFT adapter keys name.
 */
final class ModelLoader {
    private final HfWeights w;
    private final Backend be;
    private final String[] prefixes;
    /** The canonical prefix of module paths ("model.decoder.", "transformer.", …). */
    private final String canonical;
    /** Every tensor loaded, with its file name and stored dtype (the HF writer writes them back the same way). */
    private final java.util.List<Transformer.Param> params;
    /**
     * The dtype of the frozen matrices (linear weights, embedding tables, untied LM heads): F32, or BF16 (the bf16
     * engine: kept as stored, never widened). Norm weights and biases are always f32 (small, and fp32 in every
     * mixed-precision recipe).
     */
    private final DType matrices;

    private ModelLoader(HfWeights w, Backend be, DType matrices, java.util.List<Transformer.Param> params,
            String canonical, String... prefixes) {
        this.w = w;
        this.be = be;
        this.matrices = matrices;
        this.params = params;
        this.canonical = canonical;
        this.prefixes = prefixes;
    }

    private static final java.util.regex.Pattern GPT2_MASK_BUFFER =
            java.util.regex.Pattern.compile("(transformer\\.)?h\\.\\d+\\.attn\\.(masked_)?bias");

    static Transformer build(ModelConfig config, HfWeights w, Backend be, DType matrices) throws IOException {
        java.util.List<Transformer.Param> params = new java.util.ArrayList<>();
        Transformer m;
        try {
            if (config instanceof OptConfig c) {
                m = new ModelLoader(w, be, matrices, params, "model.decoder.", "model.decoder.", "decoder.").opt(c);
            } else if (config instanceof LlamaConfig c) {
                m = new ModelLoader(w, be, matrices, params, "model.", "model.", "").llama(c);
            } else if (config instanceof Gpt2Config c) {
                m = new ModelLoader(w, be, matrices, params, "transformer.", "transformer.", "").gpt2(c);
            } else {
                BertConfig c = (BertConfig) config;
                String canon = c.architecture().equals("BertModel") ? "" : "bert.";
                m = new ModelLoader(w, be, matrices, params, canon, "bert.", "").bert(c);
            }
        } catch (IOException | RuntimeException e) {
            // a half-built model: free what was loaded so far
            for (Transformer.Param p : params) if (!p.value().isClosed()) p.value().close();
            throw e;
        }
        m.params = java.util.List.copyOf(params);
        try {
            boolean gpt2 = config instanceof Gpt2Config;
            w.checkAllUsed(n -> n.endsWith("lm_head.weight") && m.tied
                    // the Hub's GPT-2 files carry the causal-mask buffers (h.N.attn.bias, and attn.masked_bias in
                    // some exports): constants the attention kernel's causal flag replaces
                    || gpt2 && GPT2_MASK_BUFFER.matcher(n).matches()
                    || n.endsWith("position_ids") || n.endsWith("rotary_emb.inv_freq")
                    || n.startsWith("cls.seq_relationship") || n.startsWith("cls.predictions.decoder")
                    || n.endsWith("pooler.dense.weight") && m.head != Transformer.Head.SEQUENCE_CLASSIFICATION
                    || n.endsWith("pooler.dense.bias") && m.head != Transformer.Head.SEQUENCE_CLASSIFICATION
                    // an encoder loaded as BertModel from a checkpoint with a task head: the head is not used
                    || m.head == Transformer.Head.HIDDEN_STATES && (n.startsWith("cls.") || n.startsWith("classifier.")));
        } catch (IOException e) {
            m.close();
            throw e;
        }
        return m;
    }

    // ---------------------------------------------------------------- families

    private Transformer opt(OptConfig c) throws IOException {
        Transformer m = new Transformer(c, Transformer.Head.CAUSAL_LM, be);
        int h = c.hiddenSize(), e = c.wordEmbedProjDim();
        m.tokEmb = matrix("embed_tokens.weight", c.vocabSize(), e);
        m.posEmb = matrix("embed_positions.weight", c.maxPositions() + OptConfig.POSITION_OFFSET, h);
        if (e != h) {
            m.projectIn = linear("project_in", h, e, false);
            m.projectOut = linear("project_out", e, h, false);
        }
        Block.Act act = c.activation().equals("relu") ? Block.Act.RELU : Block.Act.GELU;
        Block.Spec spec = new Block.Spec(c.layerNormBefore(), act, c.numHeads(), c.numHeads(), c.headDim(), true, 0f, false);
        for (int i = 0; i < c.numLayers(); i++) {
            String p = "layers." + i + ".";
            boolean bias = c.enableBias();
            m.blocks.add(new Block(spec, layerNorm(p + "self_attn_layer_norm", h, 1e-5f, c.layerNormAffine()),
                    layerNorm(p + "final_layer_norm", h, 1e-5f, c.layerNormAffine()),
                    linear(p + "self_attn.q_proj", h, h, bias), linear(p + "self_attn.k_proj", h, h, bias),
                    linear(p + "self_attn.v_proj", h, h, bias), null, linear(p + "self_attn.out_proj", h, h, bias),
                    linear(p + "fc1", c.ffnDim(), h, bias), linear(p + "fc2", h, c.ffnDim(), bias), null, null));
        }
        // opt-350m (post-LN) has no final layer norm
        if (c.layerNormBefore()) m.finalNorm = layerNorm("final_layer_norm", h, 1e-5f, c.layerNormAffine());
        m.lmHead = m.tokEmb;
        m.tied = true;
        return m;
    }

    private Transformer llama(LlamaConfig c) throws IOException {
        Transformer m = new Transformer(c, Transformer.Head.CAUSAL_LM, be);
        int h = c.hiddenSize(), d = c.headDim(), hq = c.numHeads(), hkv = c.numKvHeads(), f = c.intermediateSize();
        float eps = (float) c.rmsNormEps();
        m.tokEmb = matrix("embed_tokens.weight", c.vocabSize(), h);
        Block.Spec spec = new Block.Spec(true, Block.Act.SWIGLU, hq, hkv, d, true, (float) c.ropeTheta(), false,
                c.slidingWindow());
        for (int i = 0; i < c.numLayers() && c.fused(); i++) {  // Phi-3: fused qkv_proj and gate_up_proj
            String p = "layers." + i + ".";
            Block blk = new Block(spec, rmsNorm(p + "input_layernorm", h, eps), rmsNorm(p + "post_attention_layernorm", h, eps),
                    null, null, null, linear(p + "self_attn.qkv_proj", (hq + 2 * hkv) * d, h, false),
                    linear(p + "self_attn.o_proj", h, hq * d, false), null, linear(p + "mlp.down_proj", h, f, false), null,
                    null);
            blk.gateUp = linear(p + "mlp.gate_up_proj", 2 * f, h, false);
            m.blocks.add(blk);
        }
        for (int i = 0; i < c.numLayers() && !c.fused(); i++) {
            String p = "layers." + i + ".";
            m.blocks.add(new Block(spec, rmsNorm(p + "input_layernorm", h, eps),
                    rmsNorm(p + "post_attention_layernorm", h, eps), linear(p + "self_attn.q_proj", hq * d, h, c.qkvBias()),
                    linear(p + "self_attn.k_proj", hkv * d, h, c.qkvBias()),
                    linear(p + "self_attn.v_proj", hkv * d, h, c.qkvBias()), null,
                    linear(p + "self_attn.o_proj", h, hq * d, c.oBias()), null, linear(p + "mlp.down_proj", h, f, false),
                    linear(p + "mlp.gate_proj", f, h, false), linear(p + "mlp.up_proj", f, h, false)));
            if (c.qkNorm()) {  // Qwen3: per-head RMSNorm of q and k (weight [head_dim])
                Block blk = m.blocks.get(m.blocks.size() - 1);
                blk.qNorm = rmsNorm(p + "self_attn.q_norm", d, eps);
                blk.kNorm = rmsNorm(p + "self_attn.k_norm", d, eps);
            }
        }
        m.finalNorm = rmsNorm("norm", h, eps);
        if (c.tieWordEmbeddings() || !w.has("lm_head.weight", "")) {
            if (!c.tieWordEmbeddings()) {
                throw new IOException(w.folder() + ": missing tensor 'lm_head.weight' (tie_word_embeddings is false)");
            }
            m.lmHead = m.tokEmb;
            m.tied = true;
        } else {
            m.lmHead = new ModelLoader(w, be, matrices, params, "", "").matrix("lm_head.weight", c.vocabSize(), h);
        }
        return m;
    }

    private Transformer gpt2(Gpt2Config c) throws IOException {
        Transformer m = new Transformer(c, Transformer.Head.CAUSAL_LM, be);
        int h = c.hiddenSize(), f = c.innerSize();
        float eps = (float) c.layerNormEps();
        m.tokEmb = matrix("wte.weight", c.vocabSize(), h);
        m.posEmb = matrix("wpe.weight", c.maxPositions(), h);
        Block.Spec spec = new Block.Spec(true, Block.Act.GELU_TANH, c.numHeads(), c.numHeads(), h / c.numHeads(), true,
                0f, true);
        for (int i = 0; i < c.numLayers(); i++) {
            String p = "h." + i + ".";
            m.blocks.add(new Block(spec, layerNorm(p + "ln_1", h, eps, true), layerNorm(p + "ln_2", h, eps, true), null,
                    null, null, conv1d(p + "attn.c_attn", h, 3 * h), conv1d(p + "attn.c_proj", h, h),
                    conv1d(p + "mlp.c_fc", h, f), conv1d(p + "mlp.c_proj", f, h), null, null));
        }
        m.finalNorm = layerNorm("ln_f", h, eps, true);
        m.lmHead = m.tokEmb;
        m.tied = true;
        return m;
    }

    private Transformer bert(BertConfig c) throws IOException {
        Transformer.Head head = switch (c.architecture()) {
            case "BertForMaskedLM" -> Transformer.Head.MASKED_LM;
            case "BertForSequenceClassification" -> Transformer.Head.SEQUENCE_CLASSIFICATION;
            default -> Transformer.Head.HIDDEN_STATES;
        };
        Transformer m = new Transformer(c, head, be);
        int h = c.hiddenSize(), f = c.intermediateSize();
        float eps = (float) c.layerNormEps();
        m.tokEmb = matrix("embeddings.word_embeddings.weight", c.vocabSize(), h);
        m.posEmb = matrix("embeddings.position_embeddings.weight", c.maxPositions(), h);
        m.typeEmb = matrix("embeddings.token_type_embeddings.weight", c.typeVocabSize(), h);
        m.embNorm = layerNorm("embeddings.LayerNorm", h, eps, true);
        Block.Spec spec = new Block.Spec(false, Block.Act.GELU, c.numHeads(), c.numHeads(), h / c.numHeads(), false, 0f,
                false);
        for (int i = 0; i < c.numLayers(); i++) {
            String p = "encoder.layer." + i + ".";
            m.blocks.add(new Block(spec, layerNorm(p + "attention.output.LayerNorm", h, eps, true),
                    layerNorm(p + "output.LayerNorm", h, eps, true), linear(p + "attention.self.query", h, h, true),
                    linear(p + "attention.self.key", h, h, true), linear(p + "attention.self.value", h, h, true), null,
                    linear(p + "attention.output.dense", h, h, true), linear(p + "intermediate.dense", f, h, true),
                    linear(p + "output.dense", h, f, true), null, null));
        }
        if (head == Transformer.Head.MASKED_LM) {
            ModelLoader cls = new ModelLoader(w, be, matrices, params, "cls.predictions.", "cls.predictions.");
            m.mlmDense = cls.linear("transform.dense", h, h, true);
            m.mlmNorm = cls.layerNorm("transform.LayerNorm", h, eps, true);
            m.mlmBias = cls.t("bias", c.vocabSize());
        } else if (head == Transformer.Head.SEQUENCE_CLASSIFICATION) {
            if (c.meanPooling()) m.useMeanPooling();
            else m.pooler = linear("pooler.dense", h, h, true);
            // the head trains (fp32 master, whatever the frozen matrices' dtype)
            ModelLoader top = new ModelLoader(w, be, DType.F32, params, "", "");
            m.classifier = top.linear("classifier", c.numLabels(), h, true);
            m.classifier.enableWeightGradients(be);  // the head is trained from scratch (PEFT modules_to_save)
        }
        return m;
    }

    // ---------------------------------------------------------------- pieces

    private Tensor t(String name, long... shape) throws IOException {
        Tensor x = w.loadF32(be, name, prefixes, shape);
        String full = w.resolve(name, prefixes);
        params.add(new Transformer.Param(full, x, w.storedDType(full), false));
        return x;
    }

    /** A frozen matrix (linear weight, embedding table, LM head) in {@link #matrices}' dtype. */
    private Tensor matrix(String name, long... shape) throws IOException {
        Tensor x = w.load(be, name, prefixes, matrices, shape);
        String full = w.resolve(name, prefixes);
        params.add(new Transformer.Param(full, x, w.storedDType(full), false));
        return x;
    }

    private Linear linear(String path, int out, int in, boolean bias) throws IOException {
        Tensor wt = matrix(path + ".weight", out, in);
        Tensor b = bias ? t(path + ".bias", out) : null;
        return new Linear(canonical + path, wt, b);
    }

    /** GPT-2 Conv1D: weight stored [in, out], transposed here to [out, in] so every linear runs the same kernels. */
    private Linear conv1d(String path, int in, int out) throws IOException {
        String full = w.resolve(path + ".weight", prefixes);
        // transposed on the host (a device backend gets the [out, in] result uploaded once)
        try (Tensor stored = w.loadF32(CpuBackend.get(), path + ".weight", prefixes, in, out)) {
            float[] s = stored.toFloatArray();
            float[] tr = new float[s.length];
            for (int i = 0; i < in; i++) for (int o = 0; o < out; o++) tr[o * in + i] = s[i * out + o];
            Tensor wt = be.zeros(DType.F32, out, in);
            wt.copyFrom(tr);
            if (matrices != DType.F32) {
                try (Tensor f32 = wt) {
                    wt = be.converted(f32, matrices);
                }
            }
            params.add(new Transformer.Param(full, wt, w.storedDType(full), true));
            return new Linear(canonical + path, wt, t(path + ".bias", out));
        }
    }

    private Norm layerNorm(String path, int c, float eps, boolean affine) throws IOException {
        if (!affine) return new Norm(Norm.Kind.LAYER, null, null, eps);
        // original BERT checkpoints (bert-base-uncased among them) name LayerNorm parameters gamma / beta
        boolean tf = !w.has(path + ".weight", prefixes) && w.has(path + ".gamma", prefixes);
        return new Norm(Norm.Kind.LAYER, t(path + (tf ? ".gamma" : ".weight"), c), t(path + (tf ? ".beta" : ".bias"), c),
                eps);
    }

    private Norm rmsNorm(String path, int c, float eps) throws IOException {
        return new Norm(Norm.Kind.RMS, t(path + ".weight", c), null, eps);
    }
}
