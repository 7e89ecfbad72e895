package cola.train;

import cola.backend.AdamWConfig;
import cola.backend.Backend;
import cola.chain.Chain;
import cola.chain.ChainConfig;
import cola.chain.ChainSchedule;
import cola.data.ClassificationData;
import cola.lora.LoraConfig;
import cola.model.Batch;
import cola.model.Transformer;
import cola.optim.LrSchedule;
import cola.tensor.Arena;
import cola.tokenizer.BatchOptions;
import cola.tokenizer.Encoding;
import cola.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Consumer;

/**
 * Fine-tunes an encoder for sequence classification with LoRA or COLA (same budget: epochs × batches steps in total,
 * the chain's links split them) and evaluates accuracy and macro-F1 on dev after every epoch and on test at the end.
 */
public final class ClassificationJob {
    /** @param modelDir an HF encoder folder (BertModel); a fresh mean-pooling head is added */
    /**
     * @param lora       null for full fine-tuning (every weight trains; no chain, no checkpoints)
     * @param checkpoint written atomically after every epoch (null: none); if it exists when the job starts, resumed
     */
    public record Config(Path modelDir, Path tokenizer, int maxLength, int batchSize, int epochs, double lr,
            int warmupSteps, double maxGradNorm, LoraConfig lora, ChainConfig chain, long seed, Path checkpoint) {}

    public record Eval(double accuracy, double macroF1) {}

    public record EpochLog(int epoch, double trainLoss, Eval dev, double seconds) {}

    /**
     * @param effectiveRank mean over adapted matrices of the numerical rank of ΔW = W_final − W_0 (singular values above
     *                      1e-3 of the largest): a chain of M rank-r links can exceed r, one LoRA cannot
     */
    public record Result(List<EpochLog> epochs, Eval test, double seconds, double tokensPerSecond, int steps,
            List<Integer> knots, double effectiveRank, List<Trainer.StepLog> stepLog) {}

    private record Encoded(Batch batch, int[] labels, int tokens) {}

    private ClassificationJob() {}

    public static Result run(Backend be, Config cfg, ClassificationData.Split train, ClassificationData.Split dev,
            ClassificationData.Split test, Consumer<String> progress) throws IOException {
        Tokenizer tok = Tokenizer.fromFile(cfg.tokenizer());
        int labels = Math.max(train.numLabels(), Math.max(dev.numLabels(), test.numLabels()));
        List<Encoded> trainBatches = new ArrayList<>();
        int perEpoch = (train.examples().size() + cfg.batchSize() - 1) / cfg.batchSize();
        int steps = perEpoch * cfg.epochs();
        Random rng = new Random(cfg.seed());
        for (int e = 0; e < cfg.epochs(); e++) {  // a fresh seeded shuffle per epoch, tokenised once up front
            List<ClassificationData.Example> order = new ArrayList<>(train.examples());
            java.util.Collections.shuffle(order, rng);
            trainBatches.addAll(encode(tok, order, cfg));
        }
        List<Encoded> devBatches = encode(tok, dev.examples(), cfg), testBatches = encode(tok, test.examples(), cfg);
        long t0 = System.nanoTime();
        long tokens = 0;
        try (Transformer m = Transformer.load(cfg.modelDir(), be)) {
            m.addClassificationHead(labels, cfg.seed());
            if (cfg.lora() == null) return runFull(be, m, cfg, trainBatches, devBatches, testBatches, perEpoch, steps, t0, progress);
            try (Chain chain = new Chain(be, m, cfg.lora(), cfg.chain(), AdamWConfig.defaults(0f))) {
                int firstEpoch = 0;
                if (cfg.checkpoint() != null && java.nio.file.Files.exists(cfg.checkpoint())) {
                    Checkpoint.Position pos = Checkpoint.restore(cfg.checkpoint(), m, chain);
                    firstEpoch = pos.nextStep() / perEpoch;
                    if (progress != null) progress.accept("  resumed from " + cfg.checkpoint() + " at step " + pos.nextStep()
                            + " (epoch " + (firstEpoch + 1) + ", link " + (pos.link() + 1) + ")");
                }
                ChainSchedule schedule = new ChainSchedule(cfg.chain(), steps);
                TrainConfig tc = new TrainConfig(steps, new LrSchedule(LrSchedule.Kind.LINEAR, cfg.lr(), cfg.warmupSteps(),
                        steps), cfg.maxGradNorm(), 1, 5, cfg.seed());
                Trainer trainer = new Trainer(be, m, chain, schedule, tc);
                List<EpochLog> epochs = new ArrayList<>();
                List<Trainer.StepLog> allSteps = new ArrayList<>();
                for (int e = firstEpoch; e < cfg.epochs(); e++) {
                    long te = System.nanoTime();
                    final int base = e * perEpoch;
                    double[] lossSum = {0};
                    List<Trainer.StepLog> log = trainer.run(i -> toExample(trainBatches.get(i)), s -> {
                        lossSum[0] += s.loss();
                        if (progress != null && (s.step() % 10 == 0 || s.knot())) {
                            double el = (System.nanoTime() - t0) / 1e9;
                            double eta = el / (s.step() + 1) * (steps - s.step() - 1);
                            progress.accept(String.format("  step %4d/%d  link %d  loss %.4f  lr %.2e%s  %.0fs elapsed, ETA %.0fs",
                                    s.step() + 1, steps, s.link() + 1, s.loss(), s.lr(), s.knot() ? "  [knot]" : "", el, eta));
                        }
                    }, base, base + perEpoch);
                    allSteps.addAll(log);
                    for (int i = base; i < base + perEpoch; i++) tokens += trainBatches.get(i).tokens();
                    Eval d = evaluate(be, m, devBatches);
                    epochs.add(new EpochLog(e + 1, lossSum[0] / log.size(), d, (System.nanoTime() - te) / 1e9));
                    if (cfg.checkpoint() != null) Checkpoint.write(cfg.checkpoint(), m, chain, base + perEpoch);
                    if (progress != null) {
                        progress.accept(String.format("  epoch %d: train loss %.4f, dev accuracy %.3f, macro-F1 %.3f", e + 1,
                                lossSum[0] / log.size(), d.accuracy(), d.macroF1()));
                    }
                }
                chain.finish();  // every link merged: the test runs on the plain (merged) model
                Eval t = evaluate(be, m, testBatches);
                double secs = (System.nanoTime() - t0) / 1e9;
                // rank of ΔW = Σ s_i·B_i·A_i from the chain's own record (survives a resume, unlike a W0 snapshot)
                double rank = 0;
                List<cola.lora.LoraAdapter> whole = chain.chainAsOneAdapter();
                try {
                    for (cola.lora.LoraAdapter a : whole) {
                        int r = a.rank, in = (int) a.a.dim(1), o = (int) a.b.dim(0);
                        float[] av = a.a.toFloatArray(), bv = a.b.toFloatArray(), delta = new float[o * in];
                        for (int i = 0; i < o; i++)
                            for (int k = 0; k < r; k++) {
                                float bik = bv[i * r + k];
                                for (int j = 0; j < in; j++) delta[i * in + j] += bik * av[k * in + j];
                            }
                        rank += cola.chain.RankDiagnostics.effectiveRank(
                                cola.chain.RankDiagnostics.singularValuesOfDelta(new float[delta.length], delta, o, in), 1e-3);
                    }
                } finally {
                    whole.forEach(cola.lora.LoraAdapter::close);
                }
                return new Result(epochs, t, secs, tokens / secs, steps, schedule.knots(), rank / Math.max(1, whole.size()),
                        allSteps);
            }
        }
    }

    /** Full fine-tuning: the same loop and evaluation, every weight trained by one AdamW. */
    private static Result runFull(Backend be, Transformer m, Config cfg, List<Encoded> trainBatches, List<Encoded> devBatches,
            List<Encoded> testBatches, int perEpoch, int steps, long t0, Consumer<String> progress) {
        m.enableFullFineTuning();
        List<cola.tensor.Tensor> params = new ArrayList<>(), grads = new ArrayList<>();
        for (Transformer.Trainable p : m.trainable()) {
            params.add(p.value());
            grads.add(p.grad());
        }
        long tokens = 0;
        try (cola.optim.AdamW opt = new cola.optim.AdamW(be, params, grads, AdamWConfig.defaults(0f))) {
            TrainConfig tc = new TrainConfig(steps, new LrSchedule(LrSchedule.Kind.LINEAR, cfg.lr(), cfg.warmupSteps(), steps),
                    cfg.maxGradNorm(), 1, 5, cfg.seed());
            Trainer trainer = new Trainer(be, m, opt, tc);
            List<EpochLog> epochs = new ArrayList<>();
            List<Trainer.StepLog> allSteps = new ArrayList<>();
            for (int e = 0; e < cfg.epochs(); e++) {
                long te = System.nanoTime();
                int base = e * perEpoch;
                List<Trainer.StepLog> log = trainer.run(i -> toExample(trainBatches.get(i)), null, base, base + perEpoch);
                allSteps.addAll(log);
                for (int i = base; i < base + perEpoch; i++) tokens += trainBatches.get(i).tokens();
                double loss = log.stream().mapToDouble(Trainer.StepLog::loss).average().orElse(Double.NaN);
                Eval d = evaluate(be, m, devBatches);
                epochs.add(new EpochLog(e + 1, loss, d, (System.nanoTime() - te) / 1e9));
                if (progress != null) {
                    progress.accept(String.format("  epoch %d: train loss %.4f, dev accuracy %.3f, macro-F1 %.3f", e + 1, loss,
                            d.accuracy(), d.macroF1()));
                }
            }
            Eval t = evaluate(be, m, testBatches);
            double secs = (System.nanoTime() - t0) / 1e9;
            return new Result(epochs, t, secs, tokens / secs, steps, List.of(), Double.NaN, allSteps);
        }
    }

    private static Trainer.Example toExample(Encoded e) {
        return new Trainer.Example(e.batch(), null, e.labels());
    }

    private static List<Encoded> encode(Tokenizer tok, List<ClassificationData.Example> xs, Config cfg) {
        List<Encoded> out = new ArrayList<>();
        for (int i = 0; i < xs.size(); i += cfg.batchSize()) {
            List<ClassificationData.Example> part = xs.subList(i, Math.min(xs.size(), i + cfg.batchSize()));
            List<String> texts = new ArrayList<>();
            for (ClassificationData.Example e : part) texts.add(e.text());
            boolean pairs = part.stream().anyMatch(e -> e.textPair() != null);
            if (pairs) {
                out.add(encodePairs(tok, part, cfg.maxLength()));
                continue;
            }
            List<Encoding> enc = tok.encodeBatch(texts, BatchOptions.longest(cfg.maxLength()));
            int[][] ids = new int[part.size()][], mask = new int[part.size()][];
            int[] labels = new int[part.size()];
            int tokens = 0;
            for (int j = 0; j < part.size(); j++) {
                ids[j] = enc.get(j).ids();
                mask[j] = enc.get(j).attentionMask();
                labels[j] = part.get(j).label();
                for (int v : mask[j]) tokens += v;
            }
            out.add(new Encoded(new Batch(ids, mask, null), labels, tokens));
        }
        return out;
    }

    /**
     * Sentence pairs ([CLS] a [SEP] b [SEP] with token types 0/1), right-padded to the longest; a pair longer than
     * maxLength keeps its first maxLength − 1 tokens and its final [SEP].
     */
    private static Encoded encodePairs(Tokenizer tok, List<ClassificationData.Example> part, int maxLength) {
        int n = part.size();
        int[][] ids = new int[n][], types = new int[n][];
        int longest = 0;
        for (int j = 0; j < n; j++) {
            ClassificationData.Example e = part.get(j);
            Encoding enc = e.textPair() == null ? tok.encode(e.text()) : tok.encode(e.text(), e.textPair());
            int[] i = enc.ids(), t = enc.typeIds();
            if (i.length > maxLength) {
                int sep = i[i.length - 1];
                i = java.util.Arrays.copyOf(i, maxLength);
                t = java.util.Arrays.copyOf(t, maxLength);
                i[maxLength - 1] = sep;
            }
            ids[j] = i;
            types[j] = t;
            longest = Math.max(longest, i.length);
        }
        int pad = Math.max(0, tok.tokenToId("[PAD]"));
        int[][] pid = new int[n][longest], ptype = new int[n][longest], mask = new int[n][longest];
        int[] labels = new int[n];
        int tokens = 0;
        for (int j = 0; j < n; j++) {
            java.util.Arrays.fill(pid[j], pad);
            System.arraycopy(ids[j], 0, pid[j], 0, ids[j].length);
            System.arraycopy(types[j], 0, ptype[j], 0, types[j].length);
            for (int k = 0; k < ids[j].length; k++) mask[j][k] = 1;
            tokens += ids[j].length;
            labels[j] = part.get(j).label();
        }
        return new Encoded(new Batch(pid, mask, ptype), labels, tokens);
    }

    static Eval evaluate(Backend be, Transformer m, List<Encoded> batches) {
        List<Integer> pred = new ArrayList<>(), gold = new ArrayList<>();
        int labels = m.classifier().out;
        try (Arena arena = new Arena(1 << 20)) {
            for (Encoded e : batches) {
                arena.reset();
                float[] logits = m.forward(arena, e.batch(), 0).toFloatArray();
                for (int r = 0; r < e.labels().length; r++) {
                    int best = 0;
                    for (int c = 1; c < labels; c++) if (logits[r * labels + c] > logits[r * labels + best]) best = c;
                    pred.add(best);
                    gold.add(e.labels()[r]);
                }
            }
        }
        int[] p = pred.stream().mapToInt(Integer::intValue).toArray(), g = gold.stream().mapToInt(Integer::intValue).toArray();
        return new Eval(Metrics.accuracy(p, g), Metrics.macroF1(p, g, labels));
    }
}
