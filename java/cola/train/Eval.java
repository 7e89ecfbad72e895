package cola.train;

/**
 * One evaluation. Classification (encoder head or prompted candidates): accuracy, macro-F1 and the mean loss. Causal
 * LM text: next-token accuracy, mean token cross-entropy (perplexity = e^loss), macro-F1 NaN.
 */
public record Eval(double accuracy, double macroF1, double loss, int examples) {
    public double perplexity() {
        return Math.exp(loss);
    }
}
