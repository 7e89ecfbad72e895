package cola.train;

import cola.backend.Backend;
import cola.tensor.Arena;
import cola.tensor.DType;
import cola.tensor.Tensor;

/**
 * Mean cross-entropy over non-ignored targets (PyTorch's cross_entropy with ignore_index, reduction "mean") and its
 * gradient, through the fused softmax-xent kernels. Causal LMs shift: logits at t predict labels at t+1.
 */
public final class Loss {
    public static final int IGNORE = -100;

    /** The loss value and d loss / d logits (an arena tensor shaped like the logits). */
    public record Result(double loss, int counted, Tensor dlogits) {}

    private Loss() {}

    /** HF's causal-LM loss: targets[b, t] = labels[b, t+1], the last position ignored. */
    public static int[] shiftLabels(int[][] labels) {
        int b = labels.length, t = labels[0].length;
        int[] out = new int[b * t];
        for (int r = 0; r < b; r++) {
            for (int i = 0; i < t; i++) out[r * t + i] = i + 1 < t ? labels[r][i + 1] : IGNORE;
        }
        return out;
    }

    /** Cross-entropy of logits [.., V] (rows = numel / V) against one target per row. */
    public static Result crossEntropy(Backend be, Arena arena, Tensor logits, int[] targets) {
        long v = logits.dim(-1), n = logits.numel() / v;
        if (targets.length != n) {
            throw new IllegalArgumentException("loss: " + targets.length + " targets for " + n + " rows of logits "
                    + logits.describe());
        }
        Tensor rows = logits.view(n, v);
        Tensor t = arena.allocate(DType.I32, n);
        t.copyFrom(targets);
        Tensor losses = arena.allocate(DType.F32, n), lse = arena.allocate(DType.F32, n);
        be.softmaxXentForward(losses, lse, rows, t, IGNORE);
        float[] l = losses.toFloatArray();
        double sum = 0;
        int count = 0;
        for (int i = 0; i < n; i++) {
            if (targets[i] != IGNORE) {
                sum += l[i];
                count++;
            }
        }
        float[] dl = new float[(int) n];
        if (count > 0) for (int i = 0; i < n; i++) dl[i] = targets[i] == IGNORE ? 0f : 1f / count;
        Tensor dlosses = arena.allocate(DType.F32, n);
        dlosses.copyFrom(dl);
        Tensor dlogits = arena.allocate(DType.F32, logits.shape());
        be.softmaxXentBackward(dlogits.view(n, v), dlosses, rows, lse, t, IGNORE);
        return new Result(count > 0 ? sum / count : 0.0, count, dlogits);
    }
}
