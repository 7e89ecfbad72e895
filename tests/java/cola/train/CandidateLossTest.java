package cola.train;

import static org.junit.jupiter.api.Assertions.*;

import cola.backend.cpu.CpuBackend;
import cola.tensor.Arena;
import cola.tensor.Tensor;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The MeZO/COLA candidate objective against a double reference and finite differences; the metrics with known values. */
class CandidateLossTest {
    static final int EX = 2, C = 3, T = 6, V = 11;

    static int[] targets() {
        int[] tg = new int[EX * C * T];
        java.util.Arrays.fill(tg, Loss.IGNORE);
        Random r = new Random(4);
        for (int s = 0; s < EX * C; s++) {
            int len = 1 + s % 2;  // candidates of 1 or 2 tokens
            for (int i = T - 1 - len; i < T - 1; i++) tg[s * T + i] = r.nextInt(V);
        }
        return tg;
    }

    static double referenceLoss(float[] logits, int[] tg, int[] gold) {
        double total = 0;
        for (int e = 0; e < EX; e++) {
            double[] sc = new double[C];
            for (int c = 0; c < C; c++) {
                int s = e * C + c, n = 0;
                for (int i = 0; i < T; i++) {
                    int y = tg[s * T + i];
                    if (y == Loss.IGNORE) continue;
                    double max = Double.NEGATIVE_INFINITY, z = 0;
                    for (int k = 0; k < V; k++) max = Math.max(max, logits[(s * T + i) * V + k]);
                    for (int k = 0; k < V; k++) z += Math.exp(logits[(s * T + i) * V + k] - max);
                    sc[c] += logits[(s * T + i) * V + y] - max - Math.log(z);
                    n++;
                }
                sc[c] /= n;
            }
            double max = Math.max(sc[0], Math.max(sc[1], sc[2])), z = 0;
            for (double x : sc) z += Math.exp(x - max);
            total += -(sc[gold[e]] - max - Math.log(z));
        }
        return total / EX;
    }

    @Test
    void lossAndGradientMatchTheReferenceAndFiniteDifferences() {
        CpuBackend be = CpuBackend.get();
        Random r = new Random(1);
        float[] lg = new float[EX * C * T * V];
        for (int i = 0; i < lg.length; i++) lg[i] = (float) r.nextGaussian();
        int[] tg = targets(), gold = {2, 0};
        try (Tensor logits = Tensor.of(lg, EX * C, T, V); Arena arena = new Arena(1 << 16)) {
            CandidateLoss.Result res = CandidateLoss.compute(be, arena, logits, tg, C, gold);
            assertEquals(referenceLoss(lg, tg, gold), res.loss(), 1e-5);
            float[] grad = res.dlogits().toFloatArray();
            double maxErr = 0, maxG = 0;
            for (float g : grad) maxG = Math.max(maxG, Math.abs(g));
            for (int probe = 0; probe < 40; probe++) {
                int i = r.nextInt(lg.length);
                float o = lg[i];
                lg[i] = o + 1e-3f;
                double lp = referenceLoss(lg, tg, gold);
                lg[i] = o - 1e-3f;
                double lm = referenceLoss(lg, tg, gold);
                lg[i] = o;
                maxErr = Math.max(maxErr, Math.abs((lp - lm) / 2e-3 - grad[i]));
            }
            assertTrue(maxErr / maxG < 1e-3, "gradient error " + maxErr / maxG);
            for (int e = 0; e < EX; e++) {
                int best = 0;
                for (int c = 1; c < C; c++) if (res.scores()[e][c] > res.scores()[e][best]) best = c;
                assertEquals(best, res.predictions()[e], "prediction = argmax of mean log-prob");
            }
        }
    }

    @Test
    void metricsHaveTheirTextbookValues() {
        int[] gold = {0, 1, 2, 0, 1, 2}, pred = {0, 2, 1, 0, 0, 1};
        assertEquals(2.0 / 6, Metrics.accuracy(pred, gold), 1e-12);
        assertEquals((0.8 + 0 + 0) / 3, Metrics.macroF1(pred, gold, 3), 1e-12);  // scikit-learn: 0.26666...
        Metrics.MeanStd ms = Metrics.meanStd(80, 82, 84);
        assertEquals(82, ms.mean(), 1e-12);
        assertEquals(2, ms.std(), 1e-12);
        double p = Metrics.pairedTTestP(new double[] {1, 2, 3, 4}, new double[] {0.5, 1.5, 2.9, 3.1});
        assertEquals(0.0549, p, 1e-3);  // t = 3.062 with 3 degrees of freedom
        assertTrue(Double.isNaN(Metrics.pairedTTestP(new double[] {1}, new double[] {2})));
    }
}
