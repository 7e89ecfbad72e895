package cola.train;

import cola.backend.Backend;
import cola.data.PromptData;
import cola.model.Batch;
import cola.model.Transformer;
import cola.tensor.Arena;
import cola.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Random;

/**
 * Prompted classification with a causal LM (the paper's setting): every example is expanded into one row per
 * candidate, prompt + candidate; the loss is the cross-entropy over candidates of their mean token log-probability
 * ({@link CandidateLoss}); the prediction is the best-scoring candidate.
 *
 * <p>Tokenisation: the prompt + candidate string is encoded whole (special tokens as the tokenizer's post-processor
 * adds them, e.g. OPT's and Llama's BOS) and the candidate's tokens are those after the longest common prefix with the
 * prompt's own encoding, so a BPE merge across the boundary cannot misplace them. A row longer than {@code maxLength}
 * loses tokens from the LEFT (MeZO keeps the end: the question and the answer).
 */
public final class PromptTask implements Task {
    private final Tokenizer tok;
    private final PromptData.Split train, dev, test;
    private final int batchSize, maxLength, candidates;
    private final List<Trainer.Example> devBatches, testBatches;
    private int truncated;

    /** @param batchSize examples per micro-batch (the model sees batchSize × candidates rows) */
    public PromptTask(Tokenizer tok, PromptData.Split train, PromptData.Split dev, PromptData.Split test, int batchSize,
            int maxLength) {
        if (!train.template().equals(dev.template()) || !train.template().equals(test.template())) {
            throw new IllegalArgumentException("train, dev and test must use the same template");
        }
        this.tok = tok;
        this.train = train;
        this.dev = dev;
        this.test = test;
        this.batchSize = batchSize;
        this.maxLength = maxLength;
        this.candidates = train.template().words().size();
        this.devBatches = encode(dev.examples());
        this.testBatches = encode(test.examples());
    }

    @Override
    public String describe() {
        return String.format("%s prompts (%d candidates: %s): %d train / %d dev / %d test (%s)%s", train.template().cliName(),
                candidates, String.join("/", train.template().words()), train.examples().size(), dev.examples().size(),
                test.examples().size(), train.source(), truncated > 0 ? ", " + truncated + " rows truncated on the left" : "");
    }

    @Override
    public void prepare(Transformer model, long seed) {
        if (model.head != Transformer.Head.CAUSAL_LM) {
            throw new IllegalArgumentException(model.config.architecture() + " is not a causal LM: prompted tasks score"
                    + " candidates with a language-model head (OPT, Llama, GPT-2); for encoders use --task classify");
        }
        if (tok.vocabSize() > model.config.vocabSize()) {
            throw new IllegalArgumentException("the tokenizer has " + tok.vocabSize() + " tokens but the model's vocab_size is "
                    + model.config.vocabSize() + ": wrong tokenizer for this model?");
        }
    }

    @Override
    public List<Trainer.Example> epoch(Random order) {
        List<PromptData.Example> xs = new ArrayList<>(train.examples());
        Collections.shuffle(xs, order);
        return encode(xs);
    }

    @Override
    public List<Trainer.Example> dev() {
        return devBatches;
    }

    @Override
    public List<Trainer.Example> test() {
        return testBatches;
    }

    /** Token ids of prompt + candidate and where the candidate starts. */
    record Row(int[] ids, int candidateStart) {}

    Row row(String prompt, String candidate) {
        int[] p = tok.encode(prompt).ids(), full = tok.encode(prompt + candidate).ids();
        int lcp = 0;
        while (lcp < p.length && lcp < full.length && p[lcp] == full[lcp]) lcp++;
        if (lcp == full.length) throw new IllegalArgumentException("candidate '" + candidate + "' encodes to no tokens");
        if (full.length > maxLength) {
            int cut = full.length - maxLength;
            if (cut > lcp) throw new IllegalArgumentException("candidate '" + candidate + "' alone exceeds --max-length " + maxLength);
            truncated++;
            return new Row(Arrays.copyOfRange(full, cut, full.length), lcp - cut);
        }
        return new Row(full, lcp);
    }

    private List<Trainer.Example> encode(List<PromptData.Example> xs) {
        List<Trainer.Example> out = new ArrayList<>();
        for (int i = 0; i < xs.size(); i += batchSize) {
            List<PromptData.Example> part = xs.subList(i, Math.min(xs.size(), i + batchSize));
            int rows = part.size() * candidates;
            Row[] r = new Row[rows];
            int longest = 0;
            for (int e = 0; e < part.size(); e++) {
                for (int c = 0; c < candidates; c++) {
                    r[e * candidates + c] = row(part.get(e).prompt(), part.get(e).candidates().get(c));
                    longest = Math.max(longest, r[e * candidates + c].ids().length);
                }
            }
            int[][] ids = new int[rows][longest], mask = new int[rows][longest], labels = new int[rows][longest];
            for (int k = 0; k < rows; k++) {
                int[] x = r[k].ids();
                System.arraycopy(x, 0, ids[k], 0, x.length);  // right padding with id 0: masked, never a target
                Arrays.fill(mask[k], 0, x.length, 1);
                Arrays.fill(labels[k], Loss.IGNORE);
                for (int t = r[k].candidateStart(); t < x.length; t++) labels[k][t] = x[t];
            }
            int[] gold = part.stream().mapToInt(PromptData.Example::gold).toArray();
            out.add(new Trainer.Example(new Batch(ids, mask, null), labels, gold, candidates));
        }
        return out;
    }

    @Override
    public Eval evaluate(Backend be, Transformer m, List<Trainer.Example> batches) {
        List<Integer> pred = new ArrayList<>(), gold = new ArrayList<>();
        double loss = 0;
        try (Arena arena = be.newArena(1 << 20)) {
            for (Trainer.Example e : batches) {
                arena.reset();
                CandidateLoss.Result r = CandidateLoss.score(be, arena, m.forward(arena, e.batch(), 0),
                        Loss.shiftLabels(e.tokenLabels()), e.candidates(), e.classLabels());
                loss += r.loss() * e.classLabels().length;
                for (int k = 0; k < r.predictions().length; k++) {
                    pred.add(r.predictions()[k]);
                    gold.add(e.classLabels()[k]);
                }
            }
        }
        int[] p = pred.stream().mapToInt(Integer::intValue).toArray(), g = gold.stream().mapToInt(Integer::intValue).toArray();
        return new Eval(Metrics.accuracy(p, g), Metrics.macroF1(p, g, candidates), loss / Math.max(1, g.length), g.length);
    }
}
