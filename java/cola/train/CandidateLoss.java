package cola.train;

import cola.backend.Backend;
import cola.tensor.Arena;
import cola.tensor.DType;
import cola.tensor.Tensor;

/**
 * The paper's objective for prompted classification with a causal LM (MeZO's protocol): every example is scored
 * against each of its C candidate answers; a candidate's score is the MEAN log-probability of its tokens after the
 * prompt; the loss is the cross-entropy of softmax(scores) against the gold candidate, and the prediction is the
 * argmax of the scores.
 *
 * <p>Batch layout: row b·C + c holds example b's prompt followed by candidate c (padded on the right);
 * {@code targets[row·T + t]} is the candidate token predicted at position t (i.e. the token at t+1), or -100.
 * Forward uses the fused softmax-xent kernel for the per-token log-probabilities; backward writes
 * d loss/d logits through the same kernel by setting each token row's weight to −(d loss/d score_c)/|tokens of c|.
 */
public final class CandidateLoss {
    private CandidateLoss() {}

    /** Loss (mean over examples), predictions, scores [B][C], and d loss / d logits (an arena tensor). */
    public record Result(double loss, int[] predictions, double[][] scores, Tensor dlogits) {}

    public static Result compute(Backend be, Arena arena, Tensor logits, int[] targets, int candidates, int[] gold) {
        return compute(be, arena, logits, targets, candidates, gold, true);
    }

    /** Evaluation: loss, predictions and scores without the gradient (dlogits is null; no logits-sized buffer). */
    public static Result score(Backend be, Arena arena, Tensor logits, int[] targets, int candidates, int[] gold) {
        return compute(be, arena, logits, targets, candidates, gold, false);
    }

    private static Result compute(Backend be, Arena arena, Tensor logits, int[] targets, int candidates, int[] gold,
            boolean withGradient) {
        long v = logits.dim(-1), rows = logits.numel() / v;
        int t = (int) logits.dim(-2);
        int n = (int) (rows / t);  // sequences = examples · candidates
        if (targets.length != rows || n % candidates != 0 || gold.length != n / candidates) {
            throw new IllegalArgumentException("candidate loss: logits " + logits.describe() + ", " + targets.length
                    + " targets, " + candidates + " candidates, " + gold.length + " gold labels do not agree");
        }
        int examples = n / candidates;
        for (int e = 0; e < examples; e++) {
            if (gold[e] < 0 || gold[e] >= candidates) {
                throw new IllegalArgumentException("candidate loss: gold label " + gold[e] + " of example " + e + " is not a"
                        + " candidate index in [0, " + candidates + ")");
            }
        }
        Tensor flat = logits.view(rows, v);
        Tensor tg = arena.allocate(DType.I32, rows);
        tg.copyFrom(targets);
        Tensor tokenLoss = arena.allocate(DType.F32, rows), lse = arena.allocate(DType.F32, rows);
        be.softmaxXentForward(tokenLoss, lse, flat, tg, Loss.IGNORE);
        float[] nll = tokenLoss.toFloatArray();
        double[][] scores = new double[examples][candidates];
        int[] count = new int[n];
        for (int s = 0; s < n; s++) {
            double sum = 0;
            for (int i = 0; i < t; i++) {
                if (targets[s * t + i] != Loss.IGNORE) {
                    sum -= nll[s * t + i];
                    count[s]++;
                }
            }
            if (count[s] == 0) throw new IllegalArgumentException("candidate loss: sequence " + s + " has no candidate tokens");
            scores[s / candidates][s % candidates] = sum / count[s];
        }
        double loss = 0;
        int[] pred = new int[examples];
        float[] rowWeight = new float[(int) rows];
        for (int e = 0; e < examples; e++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < candidates; c++) {
                max = Math.max(max, scores[e][c]);
                if (scores[e][c] > scores[e][pred[e]]) pred[e] = c;
            }
            double z = 0;
            for (int c = 0; c < candidates; c++) z += Math.exp(scores[e][c] - max);
            loss += -(scores[e][gold[e]] - max - Math.log(z));
            for (int c = 0; c < candidates; c++) {
                double dScore = (Math.exp(scores[e][c] - max) / z - (c == gold[e] ? 1 : 0)) / examples;
                int s = e * candidates + c;
                // score_c = −mean NLL of its tokens, so d loss/d NLL_token = −dScore/|tokens|
                for (int i = 0; i < t; i++) if (targets[s * t + i] != Loss.IGNORE) rowWeight[s * t + i] = (float) (-dScore / count[s]);
            }
        }
        if (!withGradient) return new Result(loss / examples, pred, scores, null);
        Tensor w = arena.allocate(DType.F32, rows);
        w.copyFrom(rowWeight);
        Tensor dlogits = arena.allocate(DType.F32, logits.shape());
        be.softmaxXentBackward(dlogits.view(rows, v), w, flat, lse, tg, Loss.IGNORE);
        return new Result(loss / examples, pred, scores, dlogits);
    }
}
