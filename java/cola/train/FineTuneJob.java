package cola.train;

import cola.backend.AdamWConfig;
import cola.backend.Backend;
import cola.backend.Rounding;
import cola.chain.Chain;
import cola.chain.ChainConfig;
import cola.chain.ChainSchedule;
import cola.chain.RankDiagnostics;
import cola.lora.LoraConfig;
import cola.model.Transformer;
import cola.optim.AdamW;
import cola.optim.LrSchedule;
import cola.tensor.DType;
import cola.tensor.Tensor;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;

/**
 * One fine-tuning run of any {@link Task} with LoRA, COLA or full fine-tuning, on one budget: {@code epochs} passes
 * over the training data, every method taking the same optimiser steps (COLA's links split them). Dev is evaluated
 * after every epoch, test once at the end on the merged model (optionally the best dev epoch's). Records per-link FLOPs,
 * the bf16 survival of each merge and the singular values of ΔW; writes per-epoch checkpoints (resume is
 * bit-identical) and, on request, the three exports (merged HF folder, whole chain as one PEFT adapter, last link).
 */
public final class FineTuneJob {
    /**
     * @param lora          null: full fine-tuning (every weight, one AdamW; no chain)
     * @param chain         the chain (links, ranks, knots, reset, LR scope, re-warmup); M = 1 is LoRA
     * @param knotEpochs    knots at the start of these epochs (overrides chain's equal split; empty: none)
     * @param checkpoint    per-epoch checkpoint file (null: none); if it exists when the run starts, the run resumes
     * @param exportDir     null: no exports; else merged/, adapter/ (chain as one, rank Σr) and last-link/ under it
     */
    public record Config(Path modelDir, int gradAccum, int epochs, LrSchedule.Kind schedule, double lr, int warmupSteps,
            double maxGradNorm, AdamWConfig adamw, LoraConfig lora, ChainConfig chain, List<Integer> knotEpochs,
            Rounding mergeRounding, boolean bestOnDev, long seed, Path checkpoint, Path exportDir, int maxBadSteps,
            DType weights, Recompute recompute, boolean allowNonFinite) {
        public Config {
            if (epochs < 1) throw new IllegalArgumentException("--epochs must be >= 1, got " + epochs);
            if (gradAccum < 1) throw new IllegalArgumentException("--grad-accum must be >= 1, got " + gradAccum);
            if (!(lr > 0)) throw new IllegalArgumentException("--lr must be > 0, got " + lr);
            knotEpochs = knotEpochs == null ? List.of() : List.copyOf(knotEpochs);
            if (weights == null) weights = DType.F32;
            if (recompute == null) recompute = Recompute.AUTO;
            if (weights != DType.F32 && weights != DType.BF16) {
                throw new IllegalArgumentException("--dtype: frozen weights are f32 or bf16, got " + weights);
            }
        }

        /** The f32 engine (every weight widened to f32: the exact reference). */
        public Config(Path modelDir, int gradAccum, int epochs, LrSchedule.Kind schedule, double lr, int warmupSteps,
                double maxGradNorm, AdamWConfig adamw, LoraConfig lora, ChainConfig chain, List<Integer> knotEpochs,
                Rounding mergeRounding, boolean bestOnDev, long seed, Path checkpoint, Path exportDir, int maxBadSteps) {
            this(modelDir, gradAccum, epochs, schedule, lr, warmupSteps, maxGradNorm, adamw, lora, chain, knotEpochs,
                    mergeRounding, bestOnDev, seed, checkpoint, exportDir, maxBadSteps, DType.F32, Recompute.AUTO, false);
        }
    }

    public record EpochLog(int epoch, double trainLoss, Eval dev, double seconds) {}

    /**
     * Memory of a run: the arena's high-water mark (the most activation memory one step held), the process's peak
     * resident set when the run ended (VmHWM: cumulative over the JVM's life, so the first method's peak shows in later
     * rows too), and whether activations were recomputed.
     */
    public record Memory(long arenaHighWaterBytes, long peakRssBytes, boolean recompute) {}

    /**
     * One link of the chain (or the single "link" of LoRA / full fine-tuning).
     *
     * @param bf16Survival fraction of this link's merge updates a bf16 W would keep (NaN: full fine-tuning, no merge);
     *                     with bf16 weights, the fraction the real merge kept
     * @param effectiveRank mean numerical rank of ΔW = W − W₀ after this link's merge (NaN: full fine-tuning)
     * @param mergeKept fraction of this link's ‖ΔW‖ that reached the stored weights and their merge residual (1 for
     *                  f32 weights; NaN: no merge)
     * @param mergeKeptInWeights the same for the stored (bf16) weights alone: what the next link trained on
     */
    public record LinkLog(int link, int rank, int firstStep, int steps, double backboneFlops, double loraFlops,
            double bf16Survival, double effectiveRank, double mergeKept, double mergeKeptInWeights) {}

    /**
     * @param spectrum mean over adapted matrices of the singular values of the final ΔW divided by the largest (empty
     *                 for full fine-tuning)
     */
    public record Result(List<EpochLog> epochs, Eval test, int bestEpoch, double seconds, double tokensPerSecond,
            int steps, List<Integer> knots, List<LinkLog> links, double[] spectrum, List<Trainer.StepLog> stepLog,
            Memory memory) {
        /** rank(ΔW) after the last link (NaN for full fine-tuning). */
        public double effectiveRank() {
            return links.isEmpty() ? Double.NaN : links.get(links.size() - 1).effectiveRank();
        }

        public double totalFlops() {
            return links.stream().mapToDouble(l -> l.backboneFlops() + l.loraFlops()).sum();
        }
    }

    /** What survives a resume besides the weights: the run's logs so far (checkpoint metadata, JSON). */
    record History(List<EpochLog> epochs, List<Trainer.StepLog> steps, double[][] linkFlops, double[] survival,
            double[][] kept, long tokens, double seconds, int bestEpoch, double bestScore) {
        /** Per link {kept, kept in weights} of its merge; NaN until merged (a checkpoint from before it: all NaN). */
        History {
            if (kept == null) {
                kept = new double[survival.length][2];
                for (double[] k : kept) java.util.Arrays.fill(k, Double.NaN);
            }
        }

        void record(Chain.KnotReport k) {
            survival[k.link()] = k.bf16Survival();
            kept[k.link()][0] = k.kept();
            kept[k.link()][1] = k.keptInWeights();
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    private FineTuneJob() {}

    public static Result run(Backend be, Config cfg, Task task, Consumer<String> progress) throws IOException {
        Consumer<String> say = progress != null ? progress : s -> { };
        Random order = new Random(cfg.seed());
        List<List<Trainer.Example>> epochData = new ArrayList<>();
        epochData.add(task.epoch(order));  // one seeded shuffle per epoch, drawn in order (a resume replays them)
        int micro = epochData.get(0).size();
        int perEpoch = micro / cfg.gradAccum();
        if (perEpoch < 1) {
            throw new IllegalArgumentException("one epoch has " + micro + " micro-batches, fewer than --grad-accum "
                    + cfg.gradAccum());
        }
        if (perEpoch * cfg.gradAccum() != micro) {
            say.accept("  note: the last " + (micro - perEpoch * cfg.gradAccum()) + " micro-batch(es) of each epoch do not"
                    + " fill an optimiser step of " + cfg.gradAccum() + " and are skipped");
        }
        int steps = perEpoch * cfg.epochs();
        try (Transformer m = Transformer.load(cfg.modelDir(), be, cfg.weights(), cfg.allowNonFinite())) {
            task.prepare(m, cfg.seed());
            long rows = 0;  // the largest micro-batch of the first epoch, in tokens
            for (Trainer.Example ex : epochData.get(0)) rows = Math.max(rows, (long) ex.batch().batchSize() * ex.batch().seqLen());
            Recompute.Decision rc = cfg.recompute().decide(m, rows, MemoryInfo.availableBytes());
            m.setActivationRecompute(rc.on());
            if (rc.on() || cfg.recompute() != Recompute.AUTO) say.accept("  " + rc.reason());
            return cfg.lora() == null ? runFull(be, cfg, task, m, order, epochData, perEpoch, steps, say)
                    : runChain(be, cfg, task, m, order, epochData, perEpoch, steps, say);
        }
    }

    private static List<Trainer.Example> epochBatches(Task task, Random order, List<List<Trainer.Example>> data, int e) {
        while (data.size() <= e) data.add(task.epoch(order));
        return data.get(e);
    }

    private static ChainConfig withKnots(Config cfg, int perEpoch) {
        ChainConfig c = cfg.chain();
        if (cfg.knotEpochs().isEmpty()) return c;
        List<Integer> knots = new ArrayList<>();
        for (int e : cfg.knotEpochs()) {
            if (e <= 0 || e >= cfg.epochs()) {
                throw new IllegalArgumentException("--knot-epochs " + cfg.knotEpochs() + ": each must lie in [1, "
                        + (cfg.epochs() - 1) + "] (a knot at the start of that epoch, 0-based)");
            }
            knots.add(e * perEpoch);
        }
        return new ChainConfig(c.links(), c.ranks(), knots, c.reset(), c.pruneFraction(), c.lrScope(), c.rewarmupSteps());
    }

    private static Result runChain(Backend be, Config cfg, Task task, Transformer m, Random order,
            List<List<Trainer.Example>> epochData, int perEpoch, int steps, Consumer<String> say) throws IOException {
        ChainConfig chainCfg = withKnots(cfg, perEpoch);
        ChainSchedule schedule = new ChainSchedule(chainCfg, steps);
        Path best = null;
        try (Chain chain = new Chain(be, m, cfg.lora(), chainCfg, cfg.adamw())) {
            chain.setMergeRounding(cfg.mergeRounding(), cfg.seed());
            History h = new History(new ArrayList<>(), new ArrayList<>(), new double[chainCfg.links()][2],
                    new double[chainCfg.links()], null, 0, 0, -1, Double.NEGATIVE_INFINITY);
            java.util.Arrays.fill(h.survival(), Double.NaN);
            int firstEpoch = 0;
            if (cfg.checkpoint() != null && Files.exists(cfg.checkpoint())) {
                Checkpoint.Position pos = Checkpoint.restore(cfg.checkpoint(), m, chain);
                firstEpoch = pos.nextStep() / perEpoch;
                String json = pos.metadata().get("history");
                if (json != null) h = JSON.readValue(json, History.class);
                say.accept("  resumed from " + cfg.checkpoint() + " at step " + pos.nextStep() + " (epoch " + (firstEpoch + 1)
                        + ", link " + (pos.link() + 1) + ")");
            }
            if (cfg.bestOnDev()) {
                best = cfg.checkpoint() != null ? cfg.checkpoint().resolveSibling("best-" + cfg.checkpoint().getFileName())
                        : Files.createTempFile("cola-best-", ".safetensors");
            }
            TrainConfig tc = new TrainConfig(steps, new LrSchedule(cfg.schedule(), cfg.lr(), cfg.warmupSteps(), steps),
                    cfg.maxGradNorm(), cfg.gradAccum(), cfg.maxBadSteps(), cfg.seed());
            Trainer trainer = new Trainer(be, m, chain, schedule, tc);
            long t0 = System.nanoTime();
            double secondsBefore = h.seconds();
            long[] tokens = {h.tokens()};
            int knotsSeen = chain.merges().size();
            for (int e = firstEpoch; e < cfg.epochs(); e++) {
                for (int skip = epochData.size(); skip < e; skip++) epochBatches(task, order, epochData, skip);
                List<Trainer.Example> batches = epochBatches(task, order, epochData, e);
                long te = System.nanoTime();
                int base = e * perEpoch;
                double[] lossSum = {0};
                final History hist = h;
                List<Trainer.StepLog> log = trainer.run(i -> batches.get(i - base * cfg.gradAccum()), s -> {
                    lossSum[0] += s.loss();
                    Flops.PerToken pt = null;
                    for (int k = 0; k < cfg.gradAccum(); k++) {
                        Trainer.Example ex = batches.get((s.step() - base) * cfg.gradAccum() + k);
                        pt = Flops.perToken(m, ex.batch().seqLen(), false);
                        hist.linkFlops()[s.link()][0] += pt.backbone() * ex.paddedTokens();
                        hist.linkFlops()[s.link()][1] += pt.lora() * ex.paddedTokens();
                        tokens[0] += ex.paddedTokens();
                    }
                    if (s.step() % 10 == 0 || s.knot() || s.step() == steps - 1) {
                        double el = secondsBefore + (System.nanoTime() - t0) / 1e9;
                        double eta = el / (s.step() + 1) * (steps - s.step() - 1);
                        say.accept(String.format("  step %4d/%d  link %d/%d  loss %.4f  lr %.2e  %5.0f tok/s  %4.0fs, ETA %4.0fs%s",
                                s.step() + 1, steps, s.link() + 1, chainCfg.links(), s.loss(), s.lr(), tokens[0] / el, el,
                                eta, s.knot() ? "  [knot]" : ""));
                    }
                }, base, base + perEpoch);
                for (Chain.KnotReport k : chain.merges().subList(knotsSeen, chain.merges().size())) h.record(k);
                knotsSeen = chain.merges().size();
                h.steps().addAll(log);
                double trainLoss = lossSum[0] / log.size();
                Eval d = task.evaluate(be, m, task.dev());
                h.epochs().add(new EpochLog(e + 1, trainLoss, d, (System.nanoTime() - te) / 1e9));
                say.accept(epochLine(task, e + 1, trainLoss, d));
                double score = task.selectionScore(d);
                int bestEpoch = h.bestEpoch();
                double bestScore = h.bestScore();
                if (!(score <= bestScore)) {  // first epoch, or strictly better (NaN never wins after the first)
                    bestEpoch = e + 1;
                    bestScore = score;
                    if (best != null) Checkpoint.write(best, m, chain, base + perEpoch);
                }
                h = new History(h.epochs(), h.steps(), h.linkFlops(), h.survival(), h.kept(), tokens[0],
                        secondsBefore + (System.nanoTime() - t0) / 1e9, bestEpoch, bestScore);
                if (cfg.checkpoint() != null) {
                    Checkpoint.write(cfg.checkpoint(), m, chain, base + perEpoch, Map.of("history", JSON.writeValueAsString(h)));
                }
            }
            requireAFiniteStep(h.steps());
            int reported = h.epochs().size();
            if (cfg.bestOnDev() && h.bestEpoch() != reported) {
                Checkpoint.restore(best, m, chain);
                say.accept("  best on dev: epoch " + h.bestEpoch() + " (restored for test and exports)");
                reported = h.bestEpoch();
            }
            if (cfg.exportDir() != null) {
                Exports.lastLink(cfg.exportDir().resolve("last-link"), m, cfg.lora(), cfg.modelDir());
            }
            chain.finish();  // every link merged: the test runs on the plain (merged) model
            List<Chain.KnotReport> merges = chain.merges();
            if (!merges.isEmpty()) h.record(merges.get(merges.size() - 1));
            Eval t = task.evaluate(be, m, task.test());
            double[][] ranks = rankDiagnostics(chain);
            if (cfg.exportDir() != null) say.accept(Exports.mergedAndChain(be, cfg.exportDir(), m, chain, cfg.lora(), cfg.modelDir()));
            double secs = h.seconds() + 0;
            List<LinkLog> links = new ArrayList<>();
            for (int l = 0; l < chainCfg.links(); l++) {
                links.add(new LinkLog(l, chainCfg.rankOf(l), schedule.linkStart(l), schedule.linkLength(l), h.linkFlops()[l][0],
                        h.linkFlops()[l][1], h.survival()[l], l < ranks[0].length ? ranks[0][l] : Double.NaN,
                        h.kept()[l][0], h.kept()[l][1]));
            }
            return new Result(h.epochs(), t, reported, secs, h.tokens() / Math.max(1e-9, secs), steps, schedule.knots(), links,
                    ranks[1], h.steps(), new Memory(trainer.arenaHighWater(), MemoryInfo.peakRssBytes(), m.activationRecompute()));
        } finally {
            if (best != null) Files.deleteIfExists(best);
        }
    }

    /**
     * A run in which every step was skipped as non-finite learned nothing: it fails here, before any test score or
     * export could look like a result (--max-bad-steps only stops runs longer than its count of bad steps in a row).
     */
    static void requireAFiniteStep(List<Trainer.StepLog> steps) {
        if (!steps.isEmpty() && steps.stream().allMatch(Trainer.StepLog::skipped)) {
            throw new NonFiniteRunException("every one of the " + steps.size() + " steps had a non-finite loss or gradient"
                    + " (NaN/Inf) and was skipped: nothing was learned and nothing is exported; check the learning rate,"
                    + " the data and the weights (a NaN weight loaded with --allow-nonfinite poisons every step)");
        }
    }

    /** See {@link #requireAFiniteStep}. */
    public static final class NonFiniteRunException extends IllegalStateException {
        NonFiniteRunException(String message) {
            super(message);
        }
    }

    static String epochLine(Task task, int epoch, double trainLoss, Eval d) {
        return task.isLanguageModelling()
                ? String.format("  epoch %d: train loss %.4f, dev loss %.4f (perplexity %.2f)", epoch, trainLoss, d.loss(), d.perplexity())
                : String.format("  epoch %d: train loss %.4f, dev accuracy %.3f, macro-F1 %.3f", epoch, trainLoss, d.accuracy(), d.macroF1());
    }

    /**
     * From the chain's record (complete after finish, and restored on resume): {mean effective rank of ΔW after each
     * link}, {mean normalised singular values of the final ΔW}.
     */
    static double[][] rankDiagnostics(Chain chain) {
        Map<String, List<float[][]>> hist = chain.history();
        int links = hist.values().stream().mapToInt(List::size).max().orElse(0);
        double[] rank = new double[links];
        List<double[]> spectra = new ArrayList<>();
        for (Map.Entry<String, List<float[][]>> entry : hist.entrySet()) {
            List<float[][]> mod = entry.getValue();
            int in = chain.moduleShape(entry.getKey())[0], out = chain.moduleShape(entry.getKey())[1];
            for (int k = 1; k <= mod.size(); k++) {
                // ΔW after k links = Σ_{i<k} s_i·B_i·A_i: stack the first k links' factors (A_i [r_i, in], sB_i [out, r_i])
                int rsum = 0;
                for (int i = 0; i < k; i++) rsum += mod.get(i)[0].length / in;
                float[] a = new float[rsum * in], sb = new float[out * rsum];
                int row = 0;
                for (int i = 0; i < k; i++) {
                    int r = mod.get(i)[0].length / in;
                    System.arraycopy(mod.get(i)[0], 0, a, row * in, r * in);
                    for (int o = 0; o < out; o++) System.arraycopy(mod.get(i)[1], o * r, sb, o * rsum + row, r);
                    row += r;
                }
                double[] sv = RankDiagnostics.singularValuesOfLowRank(a, sb, rsum, in, out);
                rank[k - 1] += RankDiagnostics.effectiveRank(sv, 1e-3);
                if (k == mod.size()) {
                    double[] norm = new double[sv.length];
                    for (int i = 0; i < sv.length; i++) norm[i] = sv[0] > 0 ? sv[i] / sv[0] : 0;
                    spectra.add(norm);
                }
            }
        }
        for (int k = 0; k < links; k++) rank[k] /= Math.max(1, hist.size());
        int len = spectra.stream().mapToInt(x -> x.length).max().orElse(0);
        double[] mean = new double[len];
        for (double[] s : spectra) for (int i = 0; i < s.length; i++) mean[i] += s[i] / spectra.size();
        return new double[][] {rank, mean};
    }

    /** Full fine-tuning: the same loop and evaluation, every weight trained by one AdamW; best-on-dev by snapshot. */
    private static Result runFull(Backend be, Config cfg, Task task, Transformer m, Random order,
            List<List<Trainer.Example>> epochData, int perEpoch, int steps, Consumer<String> say) throws IOException {
        if (cfg.checkpoint() != null && Files.exists(cfg.checkpoint())) {
            throw new IllegalArgumentException("--resume is not supported for full fine-tuning (checkpoints hold adapters)");
        }
        m.enableFullFineTuning();
        List<Tensor> params = new ArrayList<>(), grads = new ArrayList<>();
        for (Transformer.Trainable p : m.trainable()) {
            params.add(p.value());
            grads.add(p.grad());
        }
        double[] flops = new double[1];
        long[] tokens = {0};
        List<float[]> snapshot = null;
        try (AdamW opt = new AdamW(be, params, grads, cfg.adamw())) {
            TrainConfig tc = new TrainConfig(steps, new LrSchedule(cfg.schedule(), cfg.lr(), cfg.warmupSteps(), steps),
                    cfg.maxGradNorm(), cfg.gradAccum(), cfg.maxBadSteps(), cfg.seed());
            Trainer trainer = new Trainer(be, m, opt, tc);
            List<EpochLog> epochs = new ArrayList<>();
            List<Trainer.StepLog> allSteps = new ArrayList<>();
            long t0 = System.nanoTime();
            int bestEpoch = -1;
            double bestScore = Double.NEGATIVE_INFINITY;
            for (int e = 0; e < cfg.epochs(); e++) {
                List<Trainer.Example> batches = epochBatches(task, order, epochData, e);
                long te = System.nanoTime();
                int base = e * perEpoch;
                List<Trainer.StepLog> log = trainer.run(i -> batches.get(i - base * cfg.gradAccum()), s -> {
                    for (int k = 0; k < cfg.gradAccum(); k++) {
                        Trainer.Example ex = batches.get((s.step() - base) * cfg.gradAccum() + k);
                        flops[0] += Flops.perToken(m, ex.batch().seqLen(), true).backbone() * ex.paddedTokens();
                        tokens[0] += ex.paddedTokens();
                    }
                    if (s.step() % 10 == 0 || s.step() == steps - 1) {
                        double el = (System.nanoTime() - t0) / 1e9;
                        say.accept(String.format("  step %4d/%d  loss %.4f  lr %.2e  %5.0f tok/s  %4.0fs, ETA %4.0fs",
                                s.step() + 1, steps, s.loss(), s.lr(), tokens[0] / el, el, el / (s.step() + 1) * (steps - s.step() - 1)));
                    }
                }, base, base + perEpoch);
                allSteps.addAll(log);
                double loss = log.stream().mapToDouble(Trainer.StepLog::loss).average().orElse(Double.NaN);
                Eval d = task.evaluate(be, m, task.dev());
                epochs.add(new EpochLog(e + 1, loss, d, (System.nanoTime() - te) / 1e9));
                say.accept(epochLine(task, e + 1, loss, d));
                double score = task.selectionScore(d);
                if (!(score <= bestScore)) {
                    bestEpoch = e + 1;
                    bestScore = score;
                    if (cfg.bestOnDev() && e + 1 < cfg.epochs()) {
                        snapshot = new ArrayList<>();
                        for (Tensor p : params) snapshot.add(p.toFloatArray());
                    }
                }
            }
            requireAFiniteStep(allSteps);
            int reported = epochs.size();
            if (cfg.bestOnDev() && bestEpoch != reported && snapshot != null) {
                for (int i = 0; i < params.size(); i++) params.get(i).copyFrom(snapshot.get(i));
                m.syncWorkingCopies();
                say.accept("  best on dev: epoch " + bestEpoch + " (restored for test and exports)");
                reported = bestEpoch;
            }
            Eval t = task.evaluate(be, m, task.test());
            if (cfg.exportDir() != null) say.accept(Exports.mergedAndChain(be, cfg.exportDir(), m, null, null, cfg.modelDir()));
            double secs = (System.nanoTime() - t0) / 1e9;
            List<LinkLog> links = List.of(new LinkLog(0, 0, 0, steps, flops[0], 0, Double.NaN, Double.NaN, Double.NaN, Double.NaN));
            return new Result(epochs, t, reported, secs, tokens[0] / secs, steps, List.of(), links, new double[0], allSteps,
                    new Memory(trainer.arenaHighWater(), MemoryInfo.peakRssBytes(), m.activationRecompute()));
        }
    }
}
