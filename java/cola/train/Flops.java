package cola.train;

import cola.model.Linear;
import cola.model.LoraAdapter;
import cola.model.Transformer;

/**
 * Analytic training FLOPs per token (multiply-add = 2 FLOPs), split into the frozen backbone and the LoRA path, so a
 * run can state what each link of a chain cost (REFERENCE.md §1: the LoRA path ≈ 2·r·(in+out) per adapted matrix per
 * token forward; the backbone dominates).
 * <ul>
 *   <li>backbone forward: 2·Σ(in·out) over linears, the LM head 2·C·V (causal LMs), attention 4·T·C per layer
 *   (scores and weighted sum over T keys; half of it under a causal mask);</li>
 *   <li>LoRA / COLA step: forward + the input-gradient half of backward through frozen weights (2× forward for linears,
 *   no weight gradient), attention 3× forward; LoRA path 6·r·(in+out) per adapter (forward, dA, dB and dx);</li>
 *   <li>full fine-tuning step: 3× forward (the weight gradients too).</li>
 * </ul>
 */
public final class Flops {
    /** Per-token FLOPs of one training step at sequence length T. */
    public record PerToken(double backbone, double lora) {
        public double total() {
            return backbone + lora;
        }
    }

    private Flops() {}

    public static PerToken perToken(Transformer m, int seqLen, boolean fullFineTuning) {
        double linear = 0;
        for (Linear l : m.linears()) linear += 2.0 * l.in * l.out;
        if (m.head == Transformer.Head.CAUSAL_LM || m.head == Transformer.Head.MASKED_LM) {
            linear += 2.0 * m.config.hiddenSize() * m.config.vocabSize();
        }
        double attention = 4.0 * seqLen * m.config.hiddenSize() * m.config.numLayers() * (m.config.causal() ? 0.5 : 1.0);
        double backbone = (fullFineTuning ? 3 : 2) * linear + 3 * attention;
        double lora = 0;
        for (LoraAdapter a : m.adapters()) {
            Linear l = m.linear(a.modulePath);
            lora += 6.0 * a.rank * (l.in + l.out);
        }
        return new PerToken(backbone, lora);
    }
}
