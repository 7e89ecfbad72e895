package cola.chain;

import cola.backend.AdamWConfig;
import cola.backend.Backend;
import cola.backend.MergeStats;
import cola.backend.NonFiniteException;
import cola.backend.Rounding;
import cola.lora.Lora;
import cola.lora.LoraConfig;
import cola.model.Linear;
import cola.model.LoraAdapter;
import cola.model.Transformer;
import cola.optim.AdamW;
import cola.tensor.DType;
import cola.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * Chain of LoRA on a model: the current link's adapters and their optimiser, and the two chain operations.
 * <ul>
 *   <li><b>tie a knot</b>: W ← W + s·B·A for every adapter (fp32 merge kernel), after checking that no adapter holds a
 *   NaN or infinity — a non-finite value is never merged, and then nothing is merged;</li>
 *   <li><b>extend the chain</b>: fresh A (the link's seed), B = 0, the next link's rank (rank step-down), and the
 *   optimiser state reset, kept or pruned per {@link ChainConfig#reset()}.</li>
 * </ul>
 * After {@link #finish()} everything is merged and the adapters are gone: zero inference overhead.
 */
public final class Chain implements AutoCloseable {
    /**
     * What one merge (a knot, or the final merge) did.
     *
     * @param elements     weight elements updated (Σ out·in over the merged adapters)
     * @param bf16Lost     of those, how many would have kept their value had W been stored in bf16 (the merge kernel run
     *                     on a bf16 copy with this chain's rounding): the update lost to rounding (PEFT #1388); cola's
     *                     own weights are fp32 masters, so nothing is lost in training
     */
    public record KnotReport(int link, int adaptersMerged, int nextRank, long elements, long bf16Lost,
            cola.backend.MergeStats norms) {
        /** Fraction of the merge's element updates that survive bf16 rounding (1 for an empty merge). */
        public double bf16Survival() {
            return elements == 0 ? 1.0 : 1.0 - (double) bf16Lost / elements;
        }

        /**
         * Fraction of this knot's ‖ΔW‖ that reached the model's stored weights (and their merge residual, when the
         * merge is compensated): 1 for f32 weights, whose merge is exact (the bf16 probe speaks through
         * {@link #bf16Survival}).
         */
        public double kept() {
            return norms.kept();
        }

        /** The same counting the bf16 weights alone: what the next link's forward sees. */
        public double keptInWeights() {
            return norms.keptInWeights();
        }
    }

    private final Backend be;
    private final Transformer model;
    private final LoraConfig lora;
    private final ChainConfig config;
    private final AdamWConfig adamw;
    private List<LoraAdapter> adapters;
    private AdamW optimizer;
    private int link;
    /** Every finished link per module: (A_i [r_i, in], s_i·B_i [out, r_i]) host copies, for the rank-Σr export. */
    private final java.util.Map<String, List<float[][]>> history = new java.util.LinkedHashMap<>();
    private final java.util.Map<String, int[]> shapes = new java.util.LinkedHashMap<>();  // module → {in, out}
    private Rounding mergeRounding = Rounding.NEAREST_EVEN;
    private long mergeSeed;
    private final List<KnotReport> merges = new ArrayList<>();
    private MergeStats lastNorms = MergeStats.EXACT;  // the accounting of the latest mergeAll

    public Chain(Backend be, Transformer model, LoraConfig lora, ChainConfig config, AdamWConfig adamw) {
        this.be = be;
        this.model = model;
        this.lora = lora;
        this.config = config;
        this.adamw = adamw;
        this.adapters = Lora.attach(model, withRank(config.rankOf(0), 0));
        this.optimizer = newOptimizer();
    }

    private LoraConfig withRank(int rank, int linkIndex) {
        return new LoraConfig(rank, lora.alpha(), lora.dropout(), lora.rslora(), lora.targets(), lora.rankPattern(),
                lora.init(), seedOf(linkIndex));
    }

    private long seedOf(int linkIndex) {
        return lora.seed() + 1_000_003L * linkIndex;
    }

    private AdamW newOptimizer() {
        List<Tensor> params = new ArrayList<>(), grads = new ArrayList<>();
        for (LoraAdapter a : adapters) {
            params.add(a.a);
            params.add(a.b);
            grads.add(a.gradA);
            grads.add(a.gradB);
        }
        Linear cls = model.classifier();
        if (cls != null && cls.gradWeight() != null) {  // a trainable head (sequence classification) trains throughout
            params.add(cls.weight);
            grads.add(cls.gradWeight());
            if (cls.bias != null) {
                params.add(cls.bias);
                grads.add(cls.gradBias());
            }
        }
        return new AdamW(be, params, grads, adamw);
    }

    public List<LoraAdapter> adapters() {
        return adapters;
    }

    public AdamW optimizer() {
        return optimizer;
    }

    /**
     * Resume: moves a freshly built chain to {@code toLink} (adapters of that link's rank, a fresh optimiser) without
     * merging anything; the caller then restores weights, adapters, optimiser state and history from a checkpoint.
     */
    public void restoreLink(int toLink) {
        if (toLink < 0 || toLink >= config.links()) throw new IllegalArgumentException("link " + toLink + " outside the chain");
        Lora.detach(model, adapters);
        optimizer.close();
        link = toLink;
        adapters = Lora.attach(model, withRank(config.rankOf(link), link));
        optimizer = newOptimizer();
        history.clear();
        shapes.clear();
        merges.clear();
    }

    /** Finished links per module (A_i, s_i·B_i), for checkpoints. */
    public java.util.Map<String, List<float[][]>> history() {
        return java.util.Collections.unmodifiableMap(history);
    }

    /** {in, out} of a module in the history. */
    public int[] moduleShape(String module) {
        int[] s = shapes.get(module);
        if (s == null) throw new IllegalArgumentException("no finished link of module " + module);
        return s.clone();
    }

    /** Restores one finished link of a module (checkpoint resume), in link order. */
    public void restoreHistory(String module, float[] a, float[] scaledB, int in, int out) {
        history.computeIfAbsent(module, k -> new ArrayList<>()).add(new float[][] {a, scaledB});
        shapes.put(module, new int[] {in, out});
    }

    /**
     * Rounding of merges into low-precision weights (and of the bf16 survival probe): round-to-nearest-even (default) or
     * stochastic with {@code seed} (each knot derives its own stream).
     */
    public void setMergeRounding(Rounding rounding, long seed) {
        this.mergeRounding = rounding;
        this.mergeSeed = seed;
    }

    /** Every merge so far (knots, then the final merge), in order. */
    public List<KnotReport> merges() {
        return java.util.Collections.unmodifiableList(merges);
    }

    /** The current link, 0-based. */
    public int link() {
        return link;
    }

    /** Ties a knot and extends the chain to the next link. */
    public KnotReport tieKnot() {
        if (link + 1 >= config.links()) {
            throw new IllegalStateException("the chain has " + config.links() + " links; link " + link + " is the last");
        }
        long[] counts = mergeAll();
        link++;
        int rank = config.rankOf(link);
        boolean sameShape = adapters.stream().allMatch(a -> a.rank == rank) && lora.rankPattern().isEmpty();
        if (sameShape) {
            for (LoraAdapter a : adapters) {
                Lora.initA(a, lora.init(), seedOf(link));
                a.b.zero();
                a.zeroGrad();
            }
            switch (config.reset()) {
                case FULL -> optimizer.reset();
                case PRUNE -> optimizer.prune(config.pruneFraction());
                case NONE -> { }
            }
        } else {
            // rank step-down: new adapter tensors, so the optimiser state starts fresh whatever the policy
            Lora.detach(model, adapters);
            optimizer.close();
            adapters = Lora.attach(model, withRank(rank, link));
            optimizer = newOptimizer();
        }
        KnotReport report = new KnotReport(link - 1, (int) counts[0], rank, counts[1], counts[2], lastNorms);
        merges.add(report);
        return report;
    }

    /** Merges the last link and removes the adapters. */
    public void finish() {
        long[] counts = mergeAll();
        merges.add(new KnotReport(link, (int) counts[0], 0, counts[1], counts[2], lastNorms));
        Lora.detach(model, adapters);
        adapters = List.of();
    }

    /**
     * W += s·B·A for every adapter, all or nothing as far as non-finite values go; records the link for export.
     * Returns {adapters merged, elements updated, elements a bf16 W would have lost}.
     */
    private long[] mergeAll() {
        for (LoraAdapter a : adapters) {
            double ss = be.sumSquares(List.of(a.a, a.b));
            if (!Double.isFinite(ss)) {
                throw new NonFiniteException("knot refused: adapter " + a.modulePath + " holds NaN or Inf; no weight was"
                        + " modified");
            }
        }
        long elements = 0, lost = 0;
        MergeStats norms = MergeStats.EXACT;
        long seed = mergeSeed + 7_919L * merges.size();
        for (LoraAdapter a : adapters) {
            Linear l = model.linear(a.modulePath);
            elements += l.weight.numel();
            if (l.weight.dtype() == DType.BF16) {
                // the bf16 engine: the real merge reports what reached W (and its residual when compensating)
                Tensor residual = mergeRounding == Rounding.COMPENSATED ? l.ensureMergeResidual(be) : null;
                MergeStats st = be.mergeLoraBf16(l.weight, residual, a.a, a.b, a.scale, mergeRounding, seed);
                lost += st.unchanged();
                norms = norms.plus(st);
            } else {
                // f32 masters: exact; the probe (the same merge into a bf16 copy of W) says what bf16 would drop
                try (Tensor probe = be.zeros(DType.BF16, l.weight.shape())) {
                    be.convert(probe, l.weight);
                    MergeStats st = be.mergeLoraBf16(probe, null, a.a, a.b, a.scale,
                            mergeRounding == Rounding.STOCHASTIC ? Rounding.STOCHASTIC : Rounding.NEAREST_EVEN, seed);
                    lost += st.unchanged();  // the probe's element count only: the f32 merge itself is exact
                }
                be.mergeLora(l.weight, a.a, a.b, a.scale, mergeRounding, seed);
            }
            float[] sb = a.b.toFloatArray();
            for (int i = 0; i < sb.length; i++) sb[i] *= a.scale;
            history.computeIfAbsent(a.modulePath, k -> new ArrayList<>()).add(new float[][] {a.a.toFloatArray(), sb});
            shapes.put(a.modulePath, new int[] {l.in, l.out});
        }
        lastNorms = norms;
        return new long[] {adapters.size(), elements, lost};
    }

    /**
     * The whole chain so far (every merged link) as ONE LoRA adapter of rank Σr_i per module: A = [A_1; …; A_M]
     * stacked as rows, B = [s_1·B_1, …, s_M·B_M] as columns, so B·A = Σ s_i·B_i·A_i with scale 1 (PEFT:
     * {@code lora_alpha = r = Σr}, PEFT's {@code combination_type="cat"}). Applied to the BASE weights it reproduces
     * the merged model. Returned adapters (on the chain's device) are owned by the caller and attached to nothing.
     */
    public List<LoraAdapter> chainAsOneAdapter() {
        List<LoraAdapter> out = new ArrayList<>();
        for (var e : history.entrySet()) {
            int in = shapes.get(e.getKey())[0], outF = shapes.get(e.getKey())[1];
            int total = 0;
            for (float[][] l : e.getValue()) total += l[0].length / in;
            float[] a = new float[total * in], b = new float[outF * total];
            int row = 0;
            for (float[][] l : e.getValue()) {
                int r = l[0].length / in;
                System.arraycopy(l[0], 0, a, row * in, r * in);
                for (int o = 0; o < outF; o++) System.arraycopy(l[1], o * r, b, o * total + row, r);
                row += r;
            }
            Tensor at = be.adopt(Tensor.of(a, total, in)), bt;
            try {
                bt = be.adopt(Tensor.of(b, outF, total));
            } catch (RuntimeException ex) {
                at.close();
                throw ex;
            }
            out.add(new LoraAdapter(be, e.getKey(), at, bt, 1f, 0f));
        }
        return out;
    }

    @Override
    public void close() {
        Lora.detach(model, adapters);
        adapters = List.of();
        optimizer.close();
    }
}
