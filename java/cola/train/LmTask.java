package cola.train;

import cola.backend.Backend;
import cola.data.TextData;
import cola.model.Batch;
import cola.model.Transformer;
import cola.tensor.Arena;
import cola.tensor.DType;
import cola.tensor.Tensor;
import cola.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Random;

/**
 * Causal language modelling on JSONL text (Hugging Face run_clm's "group_texts"): documents are tokenised, joined with
 * the end-of-text token between them, and cut into blocks of {@code maxLength} tokens (the short tail is dropped);
 * the loss is the mean next-token cross-entropy. Evaluation reports loss and perplexity (accuracy is NaN). Also the
 * pretraining objective (with {@code --method full} on a model from {@code cola init}).
 */
public final class LmTask implements Task {
    private final TextData.Split train;
    private final int batchSize, maxLength, eos;
    private final List<int[]> trainBlocks;
    private final List<Trainer.Example> devBatches, testBatches;
    private final int devBlocks, testBlocks;

    public LmTask(Tokenizer tok, TextData.Split train, TextData.Split dev, TextData.Split test, int batchSize, int maxLength) {
        if (maxLength < 2) throw new IllegalArgumentException("--max-length must be >= 2 for language modelling");
        this.train = train;
        this.batchSize = batchSize;
        this.maxLength = maxLength;
        this.eos = endOfText(tok);
        this.trainBlocks = blocks(tok, train);
        if (trainBlocks.isEmpty()) {
            throw new IllegalArgumentException(train.source() + ": fewer than " + maxLength + " tokens in all: no training block");
        }
        List<int[]> d = blocks(tok, dev), t = blocks(tok, test);
        if (d.isEmpty() || t.isEmpty()) {
            throw new IllegalArgumentException((d.isEmpty() ? dev.source() : test.source()) + ": fewer than " + maxLength
                    + " tokens: no evaluation block (lower --max-length)");
        }
        this.devBlocks = d.size();
        this.testBlocks = t.size();
        this.devBatches = batches(d);
        this.testBatches = batches(t);
    }

    static int endOfText(Tokenizer tok) {
        for (String s : new String[] {"<|endoftext|>", "</s>", "<eos>", "[SEP]"}) {
            int id = tok.tokenToId(s);
            if (id >= 0) return id;
        }
        return -1;  // no separator token: documents are simply concatenated
    }

    private List<int[]> blocks(Tokenizer tok, TextData.Split s) {
        List<int[]> out = new ArrayList<>();
        int[] buf = new int[maxLength];
        int fill = 0;
        for (String doc : s.documents()) {
            int[] ids = tok.encode(doc).ids();
            int[] withEos = eos >= 0 ? Arrays.copyOf(ids, ids.length + 1) : ids;
            if (eos >= 0) withEos[ids.length] = eos;
            for (int id : withEos) {
                buf[fill++] = id;
                if (fill == maxLength) {
                    out.add(buf);
                    buf = new int[maxLength];
                    fill = 0;
                }
            }
        }
        return out;
    }

    private List<Trainer.Example> batches(List<int[]> blocks) {
        List<Trainer.Example> out = new ArrayList<>();
        for (int i = 0; i < blocks.size(); i += batchSize) {
            int[][] ids = blocks.subList(i, Math.min(blocks.size(), i + batchSize)).toArray(new int[0][]);
            out.add(new Trainer.Example(new Batch(ids, null, null), ids, null));
        }
        return out;
    }

    @Override
    public String describe() {
        return String.format("causal LM: %d train / %d dev / %d test blocks of %d tokens (%s)", trainBlocks.size(), devBlocks,
                testBlocks, maxLength, train.source());
    }

    @Override
    public void prepare(Transformer model, long seed) {
        if (model.head != Transformer.Head.CAUSAL_LM) {
            throw new IllegalArgumentException(model.config.architecture() + " has no causal-LM head; --task lm needs OPT,"
                    + " Llama or GPT-2");
        }
    }

    @Override
    public List<Trainer.Example> epoch(Random order) {
        List<int[]> xs = new ArrayList<>(trainBlocks);
        Collections.shuffle(xs, order);
        return batches(xs);
    }

    @Override
    public List<Trainer.Example> dev() {
        return devBatches;
    }

    @Override
    public List<Trainer.Example> test() {
        return testBatches;
    }

    @Override
    public Eval evaluate(Backend be, Transformer m, List<Trainer.Example> batches) {
        double sum = 0;
        long count = 0;
        try (Arena arena = be.newArena(1 << 20)) {
            for (Trainer.Example e : batches) {
                arena.reset();
                // the chunked LM head + cross-entropy, forward only: no [B·T, V] logits held
                Transformer.LmLoss l = m.causalLmLoss(arena, e.batch(), 0, Loss.shiftLabels(e.tokenLabels()), Loss.IGNORE,
                        1f, false);
                sum += l.loss() * l.counted();
                count += l.counted();
            }
        }
        return new Eval(Double.NaN, Double.NaN, sum / Math.max(1, count), (int) Math.min(Integer.MAX_VALUE, count));
    }

    @Override
    public double selectionScore(Eval e) {
        return -e.loss();
    }

    @Override
    public boolean isLanguageModelling() {
        return true;
    }
}
