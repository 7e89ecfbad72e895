package cola.chain;

import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.SingularValueDecomposition;

/**
 * The evidence that a chain reaches rank above r: singular values of the accumulated update ΔW = W − W₀ of an adapted
 * matrix (Commons Math SVD in double) and its effective rank.
 */
public final class RankDiagnostics {
    private RankDiagnostics() {}

    /** Singular values, largest first, of the [rows, cols] row-major matrix after − before. */
    public static double[] singularValuesOfDelta(float[] before, float[] after, int rows, int cols) {
        if (before.length != (long) rows * cols || after.length != before.length) {
            throw new IllegalArgumentException("delta: expected " + rows + "×" + cols + " values");
        }
        double[][] d = new double[rows][cols];
        for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) d[i][j] = (double) after[i * cols + j] - before[i * cols + j];
        return new SingularValueDecomposition(new Array2DRowRealMatrix(d, false)).getSingularValues();
    }

    /**
     * Numerical rank: singular values above {@code relTol} × the largest (f32 merges leave a noise floor near
     * 1e-7 × |W|, so 1e-3 separates real directions from rounding).
     */
    public static int effectiveRank(double[] singular, double relTol) {
        if (singular.length == 0 || singular[0] == 0) return 0;
        int r = 0;
        for (double s : singular) if (s > relTol * singular[0]) r++;
        return r;
    }

    /** exp of the entropy of the normalised singular values (Roy & Vetterli's effective rank), a smooth measure. */
    public static double entropyRank(double[] singular) {
        double sum = 0;
        for (double s : singular) sum += s;
        if (sum == 0) return 0;
        double h = 0;
        for (double s : singular) {
            double p = s / sum;
            if (p > 0) h -= p * Math.log(p);
        }
        return Math.exp(h);
    }
}
