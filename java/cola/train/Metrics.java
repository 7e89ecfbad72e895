package cola.train;

import org.apache.commons.math3.stat.descriptive.SummaryStatistics;
import org.apache.commons.math3.stat.inference.TTest;

/** Classification metrics and the statistics of multi-seed comparisons (Commons Math). */
public final class Metrics {
    private Metrics() {}

    public static double accuracy(int[] predicted, int[] gold) {
        check(predicted, gold);
        int ok = 0;
        for (int i = 0; i < gold.length; i++) if (predicted[i] == gold[i]) ok++;
        return gold.length == 0 ? 0 : (double) ok / gold.length;
    }

    /** Macro-F1 over classes 0..classes-1 (a class never predicted nor present contributes F1 = 0, as scikit-learn's zero_division=0). */
    public static double macroF1(int[] predicted, int[] gold, int classes) {
        check(predicted, gold);
        double sum = 0;
        for (int c = 0; c < classes; c++) {
            int tp = 0, fp = 0, fn = 0;
            for (int i = 0; i < gold.length; i++) {
                if (predicted[i] == c && gold[i] == c) tp++;
                else if (predicted[i] == c) fp++;
                else if (gold[i] == c) fn++;
            }
            sum += tp == 0 ? 0 : 2.0 * tp / (2.0 * tp + fp + fn);
        }
        return sum / classes;
    }

    /** Mean ± sample standard deviation. */
    public record MeanStd(double mean, double std, long n) {
        @Override
        public String toString() {
            return String.format("%.2f ± %.2f (n=%d)", mean, std, n);
        }
    }

    public static MeanStd meanStd(double... values) {
        SummaryStatistics s = new SummaryStatistics();
        for (double v : values) s.addValue(v);
        return new MeanStd(s.getMean(), s.getN() > 1 ? s.getStandardDeviation() : 0, s.getN());
    }

    /** Two-sided paired t-test p-value (same seeds, two methods); NaN when fewer than two pairs or no variance. */
    public static double pairedTTestP(double[] a, double[] b) {
        if (a.length != b.length) throw new IllegalArgumentException("paired t-test needs equal sample counts");
        if (a.length < 2) return Double.NaN;
        boolean allEqual = true;
        for (int i = 1; i < a.length; i++) if (a[i] - b[i] != a[0] - b[0]) allEqual = false;
        if (allEqual) return Double.NaN;
        return new TTest().pairedTTest(a, b);
    }

    private static void check(int[] p, int[] g) {
        if (p.length != g.length) throw new IllegalArgumentException(p.length + " predictions for " + g.length + " labels");
    }
}
