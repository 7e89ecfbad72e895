package cola.train;

import cola.backend.Backend;
import cola.data.ClassificationData;
import cola.model.Batch;
import cola.model.Transformer;
import cola.tensor.Arena;
import cola.tokenizer.BatchOptions;
import cola.tokenizer.Encoding;
import cola.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Random;

/**
 * Sequence classification with an encoder (BERT family): {@code {"text", "label"}} or sentence pairs
 * ({@code "text_pair"}, token types 0/1); a fresh mean-pooling classification head; cross-entropy over the classes.
 */
public final class ClassificationTask implements Task {
    private final Tokenizer tok;
    private final ClassificationData.Split train, dev, test;
    private final int batchSize, maxLength, labels;
    private final List<Trainer.Example> devBatches, testBatches;

    public ClassificationTask(Tokenizer tok, ClassificationData.Split train, ClassificationData.Split dev,
            ClassificationData.Split test, int batchSize, int maxLength) {
        this.tok = tok;
        this.train = train;
        this.dev = dev;
        this.test = test;
        this.batchSize = batchSize;
        this.maxLength = maxLength;
        this.labels = Math.max(train.numLabels(), Math.max(dev.numLabels(), test.numLabels()));
        if (labels < 2) throw new IllegalArgumentException(train.source() + ": classification needs at least 2 labels");
        this.devBatches = encode(dev.examples());
        this.testBatches = encode(test.examples());
    }

    @Override
    public String describe() {
        return String.format("classification (%d labels): %d train / %d dev / %d test (%s)", labels,
                train.examples().size(), dev.examples().size(), test.examples().size(), train.source());
    }

    @Override
    public void prepare(Transformer model, long seed) {
        if (model.head == Transformer.Head.MASKED_LM) model.dropMaskedLmHead();  // BERT with its MLM head: the encoder
        if (model.head != Transformer.Head.HIDDEN_STATES) {
            throw new IllegalArgumentException(model.config.architecture() + " is not an encoder (BertModel): a"
                    + " classification head goes on an encoder; for causal LMs use a prompted task (--task sst2, rte, ...)");
        }
        model.addClassificationHead(labels, seed);
    }

    @Override
    public List<Trainer.Example> epoch(Random order) {
        List<ClassificationData.Example> xs = new ArrayList<>(train.examples());
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

    private List<Trainer.Example> encode(List<ClassificationData.Example> xs) {
        List<Trainer.Example> out = new ArrayList<>();
        for (int i = 0; i < xs.size(); i += batchSize) {
            List<ClassificationData.Example> part = xs.subList(i, Math.min(xs.size(), i + batchSize));
            if (part.stream().anyMatch(e -> e.textPair() != null)) {
                out.add(encodePairs(part));
                continue;
            }
            List<String> texts = part.stream().map(ClassificationData.Example::text).toList();
            List<Encoding> enc = tok.encodeBatch(texts, BatchOptions.longest(maxLength));
            int[][] ids = new int[part.size()][], mask = new int[part.size()][];
            int[] y = new int[part.size()];
            for (int j = 0; j < part.size(); j++) {
                ids[j] = enc.get(j).ids();
                mask[j] = enc.get(j).attentionMask();
                y[j] = part.get(j).label();
            }
            out.add(new Trainer.Example(new Batch(ids, mask, null), null, y));
        }
        return out;
    }

    /**
     * Sentence pairs ([CLS] a [SEP] b [SEP] with token types 0/1), right-padded to the longest; a pair longer than
     * maxLength keeps its first maxLength − 1 tokens and its final [SEP].
     */
    private Trainer.Example encodePairs(List<ClassificationData.Example> part) {
        int n = part.size();
        int[][] ids = new int[n][], types = new int[n][];
        int longest = 0;
        for (int j = 0; j < n; j++) {
            ClassificationData.Example e = part.get(j);
            Encoding enc = e.textPair() == null ? tok.encode(e.text()) : tok.encode(e.text(), e.textPair());
            int[] i = enc.ids(), t = enc.typeIds();
            if (i.length > maxLength) {
                int sep = i[i.length - 1];
                i = Arrays.copyOf(i, maxLength);
                t = Arrays.copyOf(t, maxLength);
                i[maxLength - 1] = sep;
            }
            ids[j] = i;
            types[j] = t;
            longest = Math.max(longest, i.length);
        }
        int pad = Math.max(0, tok.tokenToId("[PAD]"));
        int[][] pid = new int[n][longest], ptype = new int[n][longest], mask = new int[n][longest];
        int[] y = new int[n];
        for (int j = 0; j < n; j++) {
            Arrays.fill(pid[j], pad);
            System.arraycopy(ids[j], 0, pid[j], 0, ids[j].length);
            System.arraycopy(types[j], 0, ptype[j], 0, types[j].length);
            Arrays.fill(mask[j], 0, ids[j].length, 1);
            y[j] = part.get(j).label();
        }
        return new Trainer.Example(new Batch(pid, mask, ptype), null, y);
    }

    @Override
    public Eval evaluate(Backend be, Transformer m, List<Trainer.Example> batches) {
        List<Integer> pred = new ArrayList<>(), gold = new ArrayList<>();
        int k = m.classifier().out;
        double loss = 0;
        try (Arena arena = be.newArena(1 << 20)) {
            for (Trainer.Example e : batches) {
                arena.reset();
                float[] logits = m.forward(arena, e.batch(), 0).toFloatArray();
                for (int r = 0; r < e.classLabels().length; r++) {
                    int best = 0;
                    double max = Double.NEGATIVE_INFINITY, z = 0;
                    for (int c = 0; c < k; c++) {
                        if (logits[r * k + c] > logits[r * k + best]) best = c;
                        max = Math.max(max, logits[r * k + c]);
                    }
                    for (int c = 0; c < k; c++) z += Math.exp(logits[r * k + c] - max);
                    loss += max + Math.log(z) - logits[r * k + e.classLabels()[r]];
                    pred.add(best);
                    gold.add(e.classLabels()[r]);
                }
            }
        }
        int[] p = pred.stream().mapToInt(Integer::intValue).toArray(), g = gold.stream().mapToInt(Integer::intValue).toArray();
        return new Eval(Metrics.accuracy(p, g), Metrics.macroF1(p, g, k), loss / Math.max(1, g.length), g.length);
    }
}
