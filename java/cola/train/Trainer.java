package cola.train;

import cola.backend.Backend;
import cola.chain.Chain;
import cola.chain.ChainSchedule;
import cola.model.Batch;
import cola.model.Transformer;
import cola.tensor.Arena;
import cola.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;

/**
 * The training loop: for each optimiser step, tie a knot when the chain schedule says so, run the micro-batches
 * (forward, mean cross-entropy, hand-written backward), clip the global gradient norm, and take an AdamW step at the
 * schedule's learning rate. A non-finite loss or gradient skips the step with a warning (nothing is updated);
 * {@code maxBadSteps} in a row abort the run. One arena holds each micro-batch's activations and is reset between
 * them, so the loop allocates no native memory in steady state.
 */
public final class Trainer {
    /**
     * A micro-batch with its targets: token labels (LM heads; -100 = ignored), one class per row (classification), or,
     * for prompted classification ({@code candidates} > 0), rows b·C + c holding example b's prompt + candidate c with
     * token labels on the candidate's tokens and {@code classLabels[b]} the gold candidate (see {@link CandidateLoss}).
     */
    public record Example(Batch batch, int[][] tokenLabels, int[] classLabels, int candidates) {
        public Example(Batch batch, int[][] tokenLabels, int[] classLabels) {
            this(batch, tokenLabels, classLabels, 0);
        }

        /** Tokens the model runs on (padding included: it costs the same compute). */
        public long paddedTokens() {
            return (long) batch.batchSize() * batch.seqLen();
        }
    }

    /** What one optimiser step did. */
    public record StepLog(int step, int link, double loss, double lr, double gradNorm, boolean knot, boolean skipped) {}

    private final Backend be;
    private final Transformer model;
    private final Chain chain;              // null for full fine-tuning
    private final cola.optim.AdamW fullOptimizer;  // full fine-tuning only
    private final ChainSchedule schedule;
    private final TrainConfig config;

    /** LoRA / COLA: the chain's adapters train and its knots are tied on the schedule. */
    public Trainer(Backend be, Transformer model, Chain chain, ChainSchedule schedule, TrainConfig config) {
        this(be, model, chain, null, schedule, config);
    }

    /**
     * Full fine-tuning (the paper's third baseline): every weight of {@code model} (after
     * {@link Transformer#enableFullFineTuning()}) trains with {@code optimizer}; there is no chain and no knot.
     */
    public Trainer(Backend be, Transformer model, cola.optim.AdamW optimizer, TrainConfig config) {
        this(be, model, null, optimizer, new ChainSchedule(cola.chain.ChainConfig.paper(1, 1), config.steps()), config);
    }

    private long arenaHighWater;
    private long arenaHint = 1 << 20;  // the next run's arena starts at the last one's high water: no regrowth per epoch

    private Trainer(Backend be, Transformer model, Chain chain, cola.optim.AdamW full, ChainSchedule schedule,
            TrainConfig config) {
        if (schedule.totalSteps() != config.steps()) {
            throw new IllegalArgumentException("chain schedule covers " + schedule.totalSteps() + " steps, training "
                    + config.steps());
        }
        this.be = be;
        this.model = model;
        this.chain = chain;
        this.fullOptimizer = full;
        this.schedule = schedule;
        this.config = config;
    }

    /**
     * Runs every step; {@code data.apply(i)} gives micro-batch i (i = step·gradAccum + micro). Returns the per-step
     * log. The chain is left at its last link (call {@link Chain#finish()} to merge it).
     */
    public List<StepLog> run(IntFunction<Example> data, java.util.function.Consumer<StepLog> progress) {
        return run(data, progress, 0, config.steps());
    }

    /**
     * Runs steps [from, to) — a resumed run starts where its checkpoint stopped and continues bit-identically, since
     * every random draw is a function of (seed, step).
     */
    /** The most activation memory one step held (bytes), over every run so far: the arena's high-water mark. */
    public long arenaHighWater() {
        return arenaHighWater;
    }

    public List<StepLog> run(IntFunction<Example> data, java.util.function.Consumer<StepLog> progress, int from, int to) {
        if (from < 0 || to > config.steps() || from > to) {
            throw new IllegalArgumentException("steps [" + from + ", " + to + ") outside [0, " + config.steps() + ")");
        }
        List<StepLog> log = new ArrayList<>();
        int bad = 0;
        try (Arena arena = be.newArena(arenaHint)) {
            for (int step = from; step < to; step++) {
                boolean knot = schedule.isKnot(step);
                if (knot && chain != null) chain.tieKnot();
                List<Tensor> grads = new ArrayList<>();
                for (Transformer.Trainable p : model.trainable()) {
                    p.grad().zero();
                    grads.add(p.grad());
                }
                double loss = 0;
                boolean finite = true;
                for (int micro = 0; micro < config.gradAccum(); micro++) {
                    arena.reset();
                    Example ex = data.apply(step * config.gradAccum() + micro);
                    long dropoutSeed = config.seed() * 1_000_003L + step;
                    if (ex.candidates() == 0 && model.head == Transformer.Head.CAUSAL_LM) {
                        // causal-LM text: the fused, chunked LM head + cross-entropy (no [B·T, V] logits held)
                        Transformer.LmLoss r = model.causalLmLoss(arena, ex.batch(), dropoutSeed, targets(ex),
                                Loss.IGNORE, 1f / config.gradAccum(), true);
                        if (!Double.isFinite(r.loss())) {
                            finite = false;
                            break;
                        }
                        model.backwardFromHead();
                        loss += r.loss() / config.gradAccum();
                        continue;
                    }
                    Tensor logits = model.forward(arena, ex.batch(), dropoutSeed);
                    double l;
                    Tensor dlogits;
                    if (ex.candidates() > 0) {  // prompted classification: the paper's mean-candidate-log-prob objective
                        CandidateLoss.Result r = CandidateLoss.compute(be, arena, logits, Loss.shiftLabels(ex.tokenLabels()),
                                ex.candidates(), ex.classLabels());
                        l = r.loss();
                        dlogits = r.dlogits();
                    } else {
                        Loss.Result r = Loss.crossEntropy(be, arena, logits, targets(ex));
                        l = r.loss();
                        dlogits = r.dlogits();
                    }
                    if (!Double.isFinite(l)) {
                        finite = false;
                        break;
                    }
                    if (config.gradAccum() > 1) be.scale(List.of(dlogits), 1f / config.gradAccum());
                    model.backward(dlogits);
                    loss += l / config.gradAccum();
                }
                double norm = finite ? Math.sqrt(be.sumSquares(grads)) : Double.NaN;
                double lr = schedule.lr(config.lr(), step);
                boolean skipped = !finite || !Double.isFinite(norm);
                if (skipped) {
                    bad++;
                    System.err.printf("warning: step %d: non-finite %s; step skipped (%d in a row)%n", step,
                            finite ? "gradient norm" : "loss", bad);
                    if (bad >= config.maxBadSteps()) {
                        throw new IllegalStateException("training aborted: " + bad + " non-finite steps in a row (last at"
                                + " step " + step + "); lower the learning rate or check the data");
                    }
                } else {
                    bad = 0;
                    float scale = config.maxGradNorm() > 0 && norm > config.maxGradNorm()
                            ? (float) (config.maxGradNorm() / (norm + 1e-6)) : 1f;
                    (chain != null ? chain.optimizer() : fullOptimizer).step(lr, scale);  // clipping folded into AdamW
                    if (chain == null) model.syncWorkingCopies();  // bf16 full fine-tuning: masters → working copies
                }
                StepLog s = new StepLog(step, chain != null ? chain.link() : 0, loss, lr, norm, knot, skipped);
                log.add(s);
                if (progress != null) progress.accept(s);
            }
            arenaHighWater = Math.max(arenaHighWater, arena.highWater());
            arenaHint = Math.max(arenaHint, arena.highWater());
        }
        return log;
    }

    private int[] targets(Example ex) {
        return switch (model.head) {
            case CAUSAL_LM -> Loss.shiftLabels(ex.tokenLabels());
            case MASKED_LM -> {
                int[][] l = ex.tokenLabels();
                int t = l[0].length;
                int[] f = new int[l.length * t];
                for (int i = 0; i < l.length; i++) System.arraycopy(l[i], 0, f, i * t, t);
                yield f;
            }
            case SEQUENCE_CLASSIFICATION -> ex.classLabels();
            default -> throw new IllegalArgumentException(model.config.architecture() + " has no training head");
        };
    }
}
