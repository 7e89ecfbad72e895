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
     * Singular values, largest first, of ΔW = sB·A given in factored form: {@code a} is [R, in] (the stacked A_i),
     * {@code sb} is [out, R] (the s_i·B_i side by side), as {@link Chain#chainAsOneAdapter()} and the chain history
     * hold them. With thin QR factorisations sB = Q₁R₁ and Aᵀ = Q₂R₂, ΔW = Q₁(R₁R₂ᵀ)Q₂ᵀ, so ΔW has the singular values
     * of the R×R matrix R₁R₂ᵀ: an R×R SVD instead of an out×in one (BERT-base: 24×24 instead of 768×768).
     */
    public static double[] singularValuesOfLowRank(float[] a, float[] sb, int rank, int in, int out) {
        if (a.length != (long) rank * in || sb.length != (long) out * rank) {
            throw new IllegalArgumentException("low-rank delta: A must be " + rank + "×" + in + ", sB " + out + "×" + rank);
        }
        if (rank > Math.min(in, out)) {  // no saving, and thin QR needs rows >= columns: use the dense SVD
            float[] d = new float[out * in], zero = new float[out * in];
            for (int i = 0; i < out; i++)
                for (int k = 0; k < rank; k++) {
                    float b = sb[i * rank + k];
                    for (int j = 0; j < in; j++) d[i * in + j] += b * a[k * in + j];
                }
            return singularValuesOfDelta(zero, d, out, in);
        }
        double[][] b = new double[out][rank], at = new double[in][rank];
        for (int i = 0; i < out; i++) for (int k = 0; k < rank; k++) b[i][k] = sb[i * rank + k];
        for (int k = 0; k < rank; k++) for (int j = 0; j < in; j++) at[j][k] = a[k * in + j];
        org.apache.commons.math3.linear.RealMatrix r1 = new org.apache.commons.math3.linear.QRDecomposition(
                new Array2DRowRealMatrix(b, false)).getR().getSubMatrix(0, rank - 1, 0, rank - 1);
        org.apache.commons.math3.linear.RealMatrix r2 = new org.apache.commons.math3.linear.QRDecomposition(
                new Array2DRowRealMatrix(at, false)).getR().getSubMatrix(0, rank - 1, 0, rank - 1);
        return new SingularValueDecomposition(r1.multiply(r2.transpose())).getSingularValues();
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
