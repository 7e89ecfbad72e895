package cola.model;

import cola.backend.Backend;
import cola.io.HfWeights;
import cola.tensor.Arena;
import cola.tensor.DType;
import cola.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * A transformer of one of the supported families, loaded from a Hugging Face folder: embeddings, blocks, final norm
 * and head, with forward and hand-written backward through the backend ops. LoRA adapters attach to its
 * {@link #linears()}; frozen weights get no gradients (full fine-tuning arrives with the training issue).
 *
 * <p>Heads: causal LM (OPT, Llama, GPT-2; tied or untied), BERT masked LM, BERT sequence classification (pooler +
 * classifier, trainable), BertModel (returns the last hidden states).
 */
public final class Transformer implements AutoCloseable {
    public enum Head { CAUSAL_LM, MASKED_LM, SEQUENCE_CLASSIFICATION, HIDDEN_STATES }

    /**
     * A weight as it sits in the HF folder: its key, the f32 tensor the model computes with, the stored dtype, and
     * whether it is stored transposed (GPT-2 Conv1D [in, out]).
     */
    public record Param(String key, Tensor value, String storedDType, boolean transposed) {}

    public final ModelConfig config;
    public Head head;

    /** How sequence classification summarises a sequence: BERT's [CLS] + tanh pooler, or the mean of real tokens. */
    public enum Pooling { CLS_POOLER, MEAN }

    private Pooling pooling = Pooling.CLS_POOLER;
    private float[] poolWeights;  // [B·T] 1/len for real tokens, 0 for padding (mean pooling)
    private final Backend be;

    // embeddings: token [V, E]; positions (OPT [maxPos + 2, C], GPT-2/BERT [maxPos, C]); BERT token types [types, C]
    Tensor tokEmb, posEmb, typeEmb;
    Norm embNorm;
    Linear projectIn, projectOut;
    final List<Block> blocks = new ArrayList<>();
    Norm finalNorm;
    /** [V, E]; the same tensor as tokEmb when tied. */
    Tensor lmHead;
    boolean tied;
    // BERT heads
    Linear mlmDense, pooler, classifier;
    Norm mlmNorm;
    Tensor mlmBias;

    /** A parameter that trains: its HF key (or PEFT-style name for adapters), value and gradient. */
    public record Trainable(String name, Tensor value, Tensor grad) {}

    // full fine-tuning gradients of the embeddings and heads (null when frozen)
    Tensor gradTokEmb, gradPosEmb, gradTypeEmb, gradLmHead, gradMlmBias;
    private boolean fullFineTuning;
    private boolean recompute;
    private Tensor[] blockInputs;
    private Tensor idT, posIdT, typeIdT;

    /** Every loaded weight in file order (set by the loader). */
    List<Param> params = List.of();

    // the step in flight
    private StepContext ctx;
    /** Per-block scratch activations (StepContext#scratch): one block's worth, reused by every block and step. */
    private Arena scratch;
    private Tensor hidden, headIn, mlmPre, mlmAct, cls, poolerPre, pooled;
    private Tensor headGrad;  // d(head input) from causalLmLoss, for backwardFromHead

    Transformer(ModelConfig config, Head head, Backend be) {
        this.config = config;
        this.head = head;
        this.be = be;
    }

    /** Loads config.json and the weights of {@code folder}; errors name the file, tensor or field. */
    public static Transformer load(Path folder, Backend be) throws IOException {
        return load(folder, be, DType.F32);
    }

    /**
     * Loads with the frozen matrices (linear weights, embedding tables, LM head) in {@code matrices}: F32 (every
     * weight widened: the exact reference) or BF16 (kept as the checkpoint stores them; F16/F32 files rounded to bf16
     * once). Norms, biases, adapters, heads that train and optimiser state stay f32 either way.
     */
    public static Transformer load(Path folder, Backend be, DType matrices) throws IOException {
        return load(folder, be, matrices, false);
    }

    /** The same; {@code allowNonFinite} loads weights holding NaN or infinity instead of refusing them. */
    public static Transformer load(Path folder, Backend be, DType matrices, boolean allowNonFinite) throws IOException {
        ModelConfig config = ModelConfig.read(folder);
        try (HfWeights w = HfWeights.open(folder, allowNonFinite)) {
            return ModelLoader.build(config, w, be, matrices);
        }
    }

    /** The dtype of the frozen matrices (F32 or BF16): what {@link #load(Path, Backend, DType)} was asked for. */
    public DType weightDType() {
        return tokEmb == null ? DType.F32 : tokEmb.dtype();
    }

    /** The backend this model computes on; every tensor of the model (weights, gradients, adapters) is on its device. */
    public Backend backend() {
        return be;
    }

    /** Every linear layer (LoRA targets), in model order. */
    public List<Linear> linears() {
        List<Linear> l = new ArrayList<>();
        if (projectIn != null) l.add(projectIn);
        for (Block b : blocks) l.addAll(b.linears());
        if (projectOut != null) l.add(projectOut);
        if (mlmDense != null) l.add(mlmDense);
        if (pooler != null) l.add(pooler);
        if (classifier != null) l.add(classifier);
        return Collections.unmodifiableList(l);
    }

    public Linear linear(String path) {
        for (Linear l : linears()) if (l.path.equals(path)) return l;
        return null;
    }

    /**
     * Turns an encoder ({@code BertModel}) into a sequence classifier with a fresh trainable head: the mean of the
     * real tokens' last hidden states (sentence-transformers' pooling) and a linear layer to {@code labels} classes,
     * initialised as PyTorch's nn.Linear (U(±1/√C) for weight and bias, from {@code seed}).
     */
    public void addClassificationHead(int labels, long seed) {
        if (head != Head.HIDDEN_STATES) {
            throw new IllegalStateException(config.architecture() + " already has a " + head + " head");
        }
        int c = config.hiddenSize();
        java.util.SplittableRandom rng = new java.util.SplittableRandom(seed);
        float bound = (float) (1 / Math.sqrt(c));
        float[] w = new float[labels * c], b = new float[labels];
        for (int i = 0; i < w.length; i++) w[i] = (float) ((rng.nextDouble() * 2 - 1) * bound);
        for (int i = 0; i < b.length; i++) b[i] = (float) ((rng.nextDouble() * 2 - 1) * bound);
        classifier = new Linear("classifier", be.adopt(Tensor.of(w, labels, c)), be.adopt(Tensor.of(b, labels)));
        classifier.enableWeightGradients(be);
        pooling = Pooling.MEAN;
        head = Head.SEQUENCE_CLASSIFICATION;
    }

    /**
     * Turns a masked-LM (BertForMaskedLM, e.g. BERT-base imported from its TF checkpoint) into a plain encoder for a
     * classification head: the MLM head's layers are closed and its {@code cls.*} weights leave {@link #params()}, so
     * exports hold the encoder (and the new head) only.
     */
    public void dropMaskedLmHead() {
        if (head != Head.MASKED_LM) throw new IllegalStateException(config.architecture() + " has no masked-LM head to drop");
        if (mlmDense != null) mlmDense.close();
        if (mlmNorm != null) mlmNorm.close();
        if (mlmBias != null && !mlmBias.isClosed()) mlmBias.close();
        if (gradMlmBias != null) gradMlmBias.close();
        mlmDense = null;
        mlmNorm = null;
        mlmBias = null;
        gradMlmBias = null;
        params = params.stream().filter(p -> !p.key().startsWith("cls.")).toList();
        head = Head.HIDDEN_STATES;
    }

    /** A loaded cola classifier export (config "cola_pooling": "mean"): mean pooling, no pooler layer. */
    void useMeanPooling() {
        pooling = Pooling.MEAN;
    }

    /** True when the classification head reads mean-pooled states (cola's head) rather than BERT's [CLS] pooler. */
    public boolean meanPooling() {
        return pooling == Pooling.MEAN;
    }

    /** The classification head (trainable in sequence classification), or null. */
    public Linear classifier() {
        return classifier;
    }

    /**
     * Full fine-tuning: every weight gets a gradient (the baseline the paper compares LoRA and COLA with). Adapters may
     * still be attached; their gradients keep flowing.
     */
    public void enableFullFineTuning() {
        fullFineTuning = true;
        // bf16 matrices: each gets an fp32 master that the optimiser updates; the bf16 tensor becomes its working copy
        // (what the GEMMs read), refreshed from the master after every step (syncWorkingCopies). A bf16 weight alone
        // cannot take updates below half an ulp — the knot problem again, at every step.
        for (Param p : params) {
            if (p.value().dtype() == DType.BF16 && !masters.containsKey(p.value())) {
                Tensor m = be.zeros(DType.F32, p.value().shape());
                be.convert(m, p.value());
                masters.put(p.value(), m);
            }
        }
        for (Linear l : linears()) l.enableWeightGradients(be);
        for (Norm n : norms()) n.enableGradients(be);
        gradTokEmb = zerosLike(gradTokEmb, tokEmb);
        gradPosEmb = zerosLike(gradPosEmb, posEmb);
        gradTypeEmb = zerosLike(gradTypeEmb, typeEmb);
        gradMlmBias = zerosLike(gradMlmBias, mlmBias);
        if (!tied) gradLmHead = zerosLike(gradLmHead, lmHead);
    }

    /** bf16 working copy → its fp32 master (full fine-tuning of a bf16 model); identity-keyed. */
    private final java.util.Map<Tensor, Tensor> masters = new java.util.IdentityHashMap<>();

    /** The fp32 master of a bf16 weight under full fine-tuning, or the weight itself. */
    public Tensor masterOf(Tensor weight) {
        return masters.getOrDefault(weight, weight);
    }

    /** Full fine-tuning of bf16 weights: every working copy ← round_bf16(master), after each optimiser step. */
    public void syncWorkingCopies() {
        for (var e : masters.entrySet()) be.convert(e.getKey(), e.getValue());
    }

    private Tensor zerosLike(Tensor existing, Tensor like) {
        return existing != null || like == null ? existing : be.zeros(DType.F32, like.shape());
    }

    private List<Norm> norms() {
        List<Norm> n = new ArrayList<>();
        if (embNorm != null) n.add(embNorm);
        for (Block b : blocks) {
            n.add(b.norm1);
            n.add(b.norm2);
            if (b.qNorm != null) n.add(b.qNorm);
            if (b.kNorm != null) n.add(b.kNorm);
        }
        if (finalNorm != null) n.add(finalNorm);
        if (mlmNorm != null) n.add(mlmNorm);
        return n;
    }

    /** Everything that currently has a gradient: adapters, then (full fine-tuning) every weight by its HF key. */
    public List<Trainable> trainable() {
        List<Trainable> out = new ArrayList<>();
        for (LoraAdapter a : adapters()) {
            out.add(new Trainable(a.modulePath + ".lora_A.weight", a.a, a.gradA));
            out.add(new Trainable(a.modulePath + ".lora_B.weight", a.b, a.gradB));
        }
        java.util.Map<Tensor, Tensor> grads = new java.util.IdentityHashMap<>();
        for (Linear l : linears()) {
            if (l.gradWeight() != null) grads.put(l.weight, l.gradWeight());
            if (l.gradBias() != null) grads.put(l.bias, l.gradBias());
        }
        for (Norm n : norms()) {
            if (n.gradWeight != null) grads.put(n.weight, n.gradWeight);
            if (n.gradBias != null) grads.put(n.bias, n.gradBias);
        }
        if (gradTokEmb != null) grads.put(tokEmb, gradTokEmb);
        if (gradPosEmb != null) grads.put(posEmb, gradPosEmb);
        if (gradTypeEmb != null) grads.put(typeEmb, gradTypeEmb);
        if (gradMlmBias != null) grads.put(mlmBias, gradMlmBias);
        if (gradLmHead != null) grads.put(lmHead, gradLmHead);
        for (Param p : params) {
            Tensor g = grads.remove(p.value());
            if (g != null) out.add(new Trainable(p.key(), masterOf(p.value()), g));  // the optimiser updates masters
        }
        // a head added after loading (addClassificationHead) has no HF key in the source folder
        if (classifier != null && grads.containsKey(classifier.weight)) {
            out.add(new Trainable(classifier.path + ".weight", classifier.weight, grads.get(classifier.weight)));
            if (classifier.bias != null) out.add(new Trainable(classifier.path + ".bias", classifier.bias, grads.get(classifier.bias)));
        }
        return out;
    }

    /**
     * An upper estimate of one step's saved activations at {@code rows} tokens (what the arena will hold without
     * recompute): per block and token ~10 hidden-wide and 3 MLP-wide f32 vectors, plus one LM-head chunk.
     */
    public long activationBytesEstimate(long rows) {
        long c = config.hiddenSize(), perBlock = 0;
        for (Block b : blocks) {
            long mlp = b.mlpWidth();
            perBlock += 10 * c + 3 * mlp;
        }
        long head = Math.min(rows, Math.max(1, (16L << 20) / Math.max(1, config.vocabSize()))) * config.vocabSize();
        return 4 * (rows * perBlock + head + 4 * rows * c);
    }

    /**
     * Activation recompute (gradient checkpointing) per block: forward keeps only each block's input; backward runs
     * the block's forward again just before its backward. Peak activation memory drops from all blocks' to one
     * block's, for one extra forward. Results are bit-identical (dropout masks are counter-based, so they recur).
     */
    public boolean activationRecompute() {
        return recompute;
    }

    public void setActivationRecompute(boolean on) {
        this.recompute = on;
    }

    /** The weights with their HF keys and stored dtypes. */
    public List<Param> params() {
        return params;
    }

    public List<LoraAdapter> adapters() {
        List<LoraAdapter> a = new ArrayList<>();
        for (Linear l : linears()) if (l.lora() != null) a.add(l.lora());
        return a;
    }

    // ---------------------------------------------------------------- forward

    /**
     * Runs the model on a batch; activations live in {@code arena} until its next reset. Returns logits [B, T, V]
     * (LM heads), [B, labels] (classification) or hidden states [B, T, C].
     */
    public Tensor forward(Arena arena, Batch batch, long dropoutSeed) {
        Tensor h = forwardTrunk(arena, batch, dropoutSeed);
        int b = batch.batchSize(), t = batch.seqLen(), n = b * t;
        int vocab = config.vocabSize();
        int[] mask = batch.flatMask();
        switch (head) {
            case CAUSAL_LM -> {
                Tensor logits = ctx.alloc(b, t, vocab);
                be.matmulForward(logits.view(n, vocab), h, lmHead, null);
                return logits;
            }
            case MASKED_LM -> {
                mlmPre = ctx.alloc(n, mlmDense.out);
                mlmDense.forward(ctx, mlmPre, h);
                mlmAct = ctx.alloc(n, mlmDense.out);
                be.geluForward(mlmAct, mlmPre, cola.backend.GeluApproximation.NONE);
                Tensor z = mlmNorm.forward(ctx, mlmAct);
                mlmAct = z;
                Tensor logits = ctx.alloc(b, t, vocab);
                be.matmulForward(logits.view(n, vocab), z, tokEmb, mlmBias);
                return logits;
            }
            case SEQUENCE_CLASSIFICATION -> {
                long c = h.dim(-1);
                if (pooling == Pooling.MEAN) {
                    // mean over real tokens on the host: [B, T, C] → [B, C] is a few hundred KB per step
                    float[] hv = h.toFloatArray(), pv = new float[(int) (b * c)];
                    poolWeights = new float[n];
                    for (int r = 0; r < b; r++) {
                        int len = 0;
                        for (int i = 0; i < t; i++) len += mask == null ? 1 : mask[r * t + i];
                        for (int i = 0; i < t; i++) {
                            float wgt = (mask == null || mask[r * t + i] != 0) && len > 0 ? 1f / len : 0f;
                            poolWeights[r * t + i] = wgt;
                            if (wgt == 0) continue;
                            for (int j = 0; j < c; j++) pv[(int) (r * c + j)] += wgt * hv[(int) ((r * t + i) * c + j)];
                        }
                    }
                    pooled = ctx.alloc(b, c);
                    pooled.copyFrom(pv);
                    Tensor logits = ctx.alloc(b, classifier.out);
                    classifier.forward(ctx, logits, pooled);
                    return logits;
                }
                cls = ctx.alloc(b, c);
                be.copyColumns(cls, h.view(b, t * c), 0, false, false);  // the [CLS] (first) token of each row
                poolerPre = ctx.alloc(b, c);
                pooler.forward(ctx, poolerPre, cls);
                pooled = ctx.alloc(b, c);
                float[] p = poolerPre.toFloatArray();
                for (int i = 0; i < p.length; i++) p[i] = (float) Math.tanh(p[i]);
                pooled.copyFrom(p);  // tanh on [B, C]: a few hundred values, done on the host
                Tensor logits = ctx.alloc(b, classifier.out);
                classifier.forward(ctx, logits, pooled);
                return logits;
            }
            default -> {
                return h.view(b, t, h.dim(-1));
            }
        }
    }

    /**
     * Embeddings and blocks (and the final norm / project_out): the input of the head, [B·T, C]. Sets up the step
     * context that backward uses.
     */
    private Tensor forwardTrunk(Arena arena, Batch batch, long dropoutSeed) {
        int b = batch.batchSize(), t = batch.seqLen(), n = b * t;
        int vocab = config.vocabSize();
        int[] ids = batch.flatIds();
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= vocab) {
                throw new IllegalArgumentException("input_ids[" + (i / t) + "][" + (i % t) + "] = " + ids[i]
                        + " is outside the vocabulary [0, " + vocab + ")");
            }
        }
        int[] mask = batch.flatMask();
        idT = ints(arena, ids, n);
        Tensor maskT = mask == null ? null : ints(arena, mask, b, t);
        Tensor posT = null;
        if (config instanceof LlamaConfig) posT = ints(arena, arange(b, t), n);
        if (scratch == null) scratch = be.newArena(16L << 20);
        scratch.reset();
        Tensor ropeFreqs = null;
        float ropeScale = 1f;
        if (config instanceof LlamaConfig lc && lc.ropeScaling().type() != RopeScaling.Type.DEFAULT) {
            // scaled RoPE: this step's table (dynamic NTK depends on the sequence length), a few hundred bytes
            ropeFreqs = arena.allocate(DType.F32, lc.headDim() / 2);
            ropeFreqs.copyFrom(lc.ropeScaling().invFreq(lc.headDim(), lc.ropeTheta(), t, lc.maxPositions()));
            ropeScale = lc.ropeScaling().scale();
        }
        ctx = new StepContext(be, arena, scratch, b, t, maskT, posT, dropoutSeed, weightDType() == DType.BF16, ropeFreqs,
                ropeScale);

        Tensor x = embed(batch, idT, mask, b, t);
        if (recompute) {
            blockInputs = new Tensor[blocks.size()];
            for (int i = 0; i < blocks.size(); i++) {
                blockInputs[i] = x;
                Tensor out = ctx.alloc(x.shape());  // survives the release below
                Arena.Mark mark = arena.mark();
                out.copyFrom(blocks.get(i).forward(ctx, x));
                arena.release(mark);
                x = out;
            }
        } else {
            for (Block blk : blocks) x = blk.forward(ctx, x);
        }
        hidden = x;
        Tensor h = finalNorm != null ? finalNorm.forward(ctx, x) : x;
        if (projectOut != null) {
            Tensor p = ctx.alloc(n, projectOut.out);
            projectOut.forward(ctx, p, h);
            h = p;
        }
        headIn = h;
        return h;
    }

    /** The mean cross-entropy of a causal-LM step over its non-ignored targets, and how many there were. */
    public record LmLoss(double loss, int counted) {}

    private int lmHeadChunkRows;  // 0: automatic

    /** Rows of logits per chunk of {@link #causalLmLoss}; 0 (default) = at most 16 Mi floats (64 MB) per chunk. */
    public void setLmHeadChunkRows(int rows) {
        if (rows < 0) throw new IllegalArgumentException("LM head chunk rows must be >= 0, got " + rows);
        lmHeadChunkRows = rows;
    }

    private int chunkRows(int vocab, int rows) {
        long auto = Math.max(1, (16L << 20) / Math.max(1, vocab));
        return (int) Math.max(1, Math.min(rows, lmHeadChunkRows > 0 ? lmHeadChunkRows : auto));
    }

    /**
     * A causal-LM step's forward and loss without the [B·T, V] logits: the trunk, then the LM head and the softmax
     * cross-entropy in chunks of rows ({@link #setLmHeadChunkRows}), and — when {@code backward} — each chunk's d(logits)
     * turned at once, in the same buffer, into d(head input) (and the head's gradient in full fine-tuning). The step
     * holds one chunk of logits instead of logits plus d(logits): for a 128k vocabulary at 4096 tokens, 64 MB instead of
     * 4.2 GB. {@code targets[r]} is row r's next token or {@code ignoreIndex}; d(loss) is scaled by {@code gradScale}
     * (1/grad-accum). After it, {@link #backwardFromHead()} runs the rest of the backward. A non-finite loss is
     * returned as is (the caller skips the step).
     */
    public LmLoss causalLmLoss(Arena arena, Batch batch, long dropoutSeed, int[] targets, int ignoreIndex,
            float gradScale, boolean backward) {
        if (head != Head.CAUSAL_LM) throw new IllegalStateException("causalLmLoss: " + config.architecture() + " has a " + head + " head");
        Tensor h = forwardTrunk(arena, batch, dropoutSeed);
        int n = ctx.rows(), vocab = config.vocabSize();
        if (targets.length != n) {
            throw new IllegalArgumentException("loss: " + targets.length + " targets for " + n + " rows");
        }
        int counted = 0;
        for (int tg : targets) {
            if (tg != ignoreIndex && (tg < 0 || tg >= vocab)) {
                throw new IllegalArgumentException("loss: target " + tg + " is outside the vocabulary [0, " + vocab + ")");
            }
            if (tg != ignoreIndex) counted++;
        }
        Tensor tgt = ints(arena, targets, n);
        Tensor losses = ctx.alloc(n), lse = ctx.alloc(n);
        Tensor dlosses = null;
        if (backward) {
            float[] dl = new float[n];
            if (counted > 0) for (int i = 0; i < n; i++) dl[i] = targets[i] == ignoreIndex ? 0f : gradScale / counted;
            dlosses = ctx.alloc(n);
            dlosses.copyFrom(dl);
            headGrad = ctx.zeros(h.shape());
        }
        int chunk = chunkRows(vocab, n);
        Tensor buf = ctx.alloc(chunk, vocab);
        Tensor gradHead = tied ? gradTokEmb : gradLmHead;
        for (int r0 = 0; r0 < n; r0 += chunk) {
            int rows = Math.min(chunk, n - r0);
            Tensor lg = buf.narrow(0, rows), hc = h.narrow(r0, rows);
            Tensor tc = tgt.narrow(r0, rows), lc = lse.narrow(r0, rows);
            be.matmulForward(lg, hc, lmHead, null);
            be.softmaxXentForward(losses.narrow(r0, rows), lc, lg, tc, ignoreIndex);
            if (backward) {
                be.softmaxXentBackward(lg, dlosses.narrow(r0, rows), lg, lc, tc, ignoreIndex);  // in place
                be.matmulBackward(headGrad.narrow(r0, rows), gradHead, null, lg, gradHead != null ? hc : null, lmHead);
            }
        }
        float[] l = losses.toFloatArray();
        double sum = 0;
        for (int i = 0; i < n; i++) if (targets[i] != ignoreIndex) sum += l[i];
        return new LmLoss(counted > 0 ? sum / counted : 0.0, counted);
    }

    /** The backward after {@link #causalLmLoss} (with backward): from d(head input) down; adapter gradients accumulate. */
    public void backwardFromHead() {
        if (ctx == null || headGrad == null) throw new IllegalStateException("backwardFromHead without causalLmLoss");
        Tensor dh = headGrad;
        headGrad = null;
        backwardTrunk(dh);
    }

    private Tensor embed(Batch batch, Tensor idT, int[] mask, int b, int t) {
        int n = b * t;
        if (config instanceof OptConfig) {
            Tensor tok = ctx.alloc(n, tokEmb.dim(1));
            be.embeddingForward(tok, idT, tokEmb);
            Tensor x0 = tok;
            if (projectIn != null) {
                x0 = ctx.alloc(n, projectIn.out);
                projectIn.forward(ctx, x0, tok);
            }
            // OPT: position = cumsum(mask)·mask − 1, looked up at +2 (padding → row 1)
            int[] pos = new int[n];
            for (int r = 0; r < b; r++) {
                int run = 0;
                for (int i = 0; i < t; i++) {
                    int m = mask == null ? 1 : mask[r * t + i];
                    run += m;
                    pos[r * t + i] = run * m - 1 + OptConfig.POSITION_OFFSET;
                }
            }
            posIdT = ints(ctx.arena, pos, n);
            return addEmbedding(x0, posIdT, posEmb);
        }
        Tensor x = ctx.alloc(n, tokEmb.dim(1));
        be.embeddingForward(x, idT, tokEmb);
        if (config instanceof Gpt2Config) {
            posIdT = ints(ctx.arena, arange(b, t), n);
            return addEmbedding(x, posIdT, posEmb);
        }
        if (config instanceof BertConfig) {
            posIdT = ints(ctx.arena, arange(b, t), n);
            x = addEmbedding(x, posIdT, posEmb);
            int[] types = batch.tokenTypeIds() == null ? new int[n] : Batch.flatten(batch.tokenTypeIds());
            typeIdT = ints(ctx.arena, types, n);
            x = addEmbedding(x, typeIdT, typeEmb);
            return embNorm.forward(ctx, x);
        }
        return x;  // Llama: positions enter through RoPE
    }

    /** Embedding tables' gradients (full fine-tuning) from d loss / d (embedding output). */
    private void embedBackward(Tensor dx) {
        Tensor d = dx;
        if (embNorm != null) {
            d = ctx.zeros(dx.shape());
            embNorm.backward(ctx, d, dx);
        }
        if (gradPosEmb != null) be.embeddingBackward(gradPosEmb, d, posIdT);
        if (gradTypeEmb != null) be.embeddingBackward(gradTypeEmb, d, typeIdT);
        Tensor dtok = d;
        if (projectIn != null) {
            dtok = ctx.zeros(ctx.rows(), projectIn.in);
            projectIn.backward(ctx, dtok, d);
        }
        if (gradTokEmb != null) be.embeddingBackward(gradTokEmb, dtok, idT);
    }

    private Tensor addEmbedding(Tensor x, Tensor ids, Tensor table) {
        Tensor e = ctx.alloc(x.shape());
        be.embeddingForward(e, ids, table);
        Tensor out = ctx.alloc(x.shape());
        be.add(out, x, e);
        return out;
    }

    // ---------------------------------------------------------------- backward

    /** Backward from d loss / d logits (same shape as forward's result); adapter gradients accumulate. */
    public void backward(Tensor dlogits) {
        if (ctx == null) throw new IllegalStateException("backward without forward");
        int n = ctx.rows();
        Tensor dh = ctx.zeros(headIn.shape());
        switch (head) {
            case CAUSAL_LM -> be.matmulBackward(dh, tied ? gradTokEmb : gradLmHead, null,
                    dlogits.view(n, config.vocabSize()), headIn, lmHead);
            case MASKED_LM -> {
                Tensor dz = ctx.zeros(mlmAct.shape());
                be.matmulBackward(dz, gradTokEmb, gradMlmBias, dlogits.view(n, config.vocabSize()), mlmAct, tokEmb);
                Tensor dact = ctx.zeros(dz.shape());
                mlmNorm.backward(ctx, dact, dz);
                Tensor dpre = ctx.zeros(dz.shape());
                be.geluBackward(dpre, dact, mlmPre, cola.backend.GeluApproximation.NONE);
                mlmDense.backward(ctx, dh, dpre);
            }
            case SEQUENCE_CLASSIFICATION -> {
                Tensor dpooled = ctx.zeros(pooled.shape());
                classifier.backward(ctx, dpooled, dlogits);
                if (pooling == Pooling.MEAN) {
                    float[] dp = dpooled.toFloatArray(), dhv = new float[(int) dh.numel()];
                    int c = (int) headIn.dim(-1);
                    for (int row = 0; row < n; row++) {
                        float wgt = poolWeights[row];
                        if (wgt == 0) continue;
                        int bIdx = row / ctx.seqLen;
                        for (int j = 0; j < c; j++) dhv[row * c + j] = wgt * dp[bIdx * c + j];
                    }
                    dh.copyFrom(dhv);
                    break;
                }
                float[] g = dpooled.toFloatArray(), y = pooled.toFloatArray();
                for (int i = 0; i < g.length; i++) g[i] *= 1 - y[i] * y[i];
                Tensor dpre = ctx.alloc(pooled.shape());
                dpre.copyFrom(g);
                Tensor dcls = ctx.zeros(cls.shape());
                pooler.backward(ctx, dcls, dpre);
                long c = headIn.dim(-1);
                be.copyColumns(dcls, dh.view(ctx.batch, ctx.seqLen * c), 0, true, true);
            }
            default -> be.add(dh, dh, dlogits.view(dh.shape()));
        }
        backwardTrunk(dh);
    }

    /** From d(head input) through project_out, the final norm, the blocks and (full fine-tuning) the embeddings. */
    private void backwardTrunk(Tensor dh) {
        Tensor dx = dh;
        if (projectOut != null) {
            dx = ctx.zeros(hidden.shape());
            projectOut.backward(ctx, dx, dh);
        }
        if (finalNorm != null) {
            Tensor d = ctx.zeros(hidden.shape());
            finalNorm.backward(ctx, d, dx);
            dx = d;
        }
        // Each block's backward scratch (its activation gradients) is released before the next block's: only d(input)
        // survives, so the backward adds one block's worth to the forward's saved activations, not a whole model's.
        for (int i = blocks.size() - 1; i >= 0; i--) {
            Block blk = blocks.get(i);
            Tensor dIn = ctx.alloc(dx.shape());  // survives the release below
            Arena.Mark mark = ctx.arena.mark();
            if (recompute) blk.forward(ctx, blockInputs[i]);
            dIn.copyFrom(blk.backward(ctx, dx));
            ctx.arena.release(mark);
            dx = dIn;
        }
        if (fullFineTuning) {
            embedBackward(dx);
        } else if (projectIn != null && projectIn.lora() != null) {
            // Embeddings are frozen (LoRA): nothing flows further, except into project_in's adapter if it has one.
            projectIn.backward(ctx, null, dx);
        }
    }

    // ---------------------------------------------------------------- helpers

    static int[] arange(int b, int t) {
        int[] p = new int[b * t];
        for (int i = 0; i < p.length; i++) p[i] = i % t;
        return p;
    }

    private static Tensor ints(Arena arena, int[] v, long... shape) {
        Tensor t = arena.allocate(DType.I32, shape);
        t.copyFrom(v);
        return t;
    }

    @Override
    public void close() {
        for (Block b : blocks) b.close();
        for (Linear l : new Linear[] {projectIn, projectOut, mlmDense, pooler, classifier}) if (l != null) l.close();
        for (Norm nm : new Norm[] {embNorm, finalNorm, mlmNorm}) if (nm != null) nm.close();
        if (lmHead != null && !tied) lmHead.close();
        for (Tensor g : new Tensor[] {gradTokEmb, gradPosEmb, gradTypeEmb, gradLmHead, gradMlmBias}) if (g != null) g.close();
        for (Tensor t : new Tensor[] {tokEmb, posEmb, typeEmb, mlmBias}) if (t != null && !t.isClosed()) t.close();
        if (scratch != null) scratch.close();
        for (Tensor m : masters.values()) m.close();
    }
}
