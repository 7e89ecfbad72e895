package cola.lora;

import java.util.List;
import java.util.Map;

/**
 * How to put fresh LoRA adapters on a model (PEFT's LoraConfig, the options cola supports).
 *
 * @param rank        r, the default rank
 * @param alpha       lora_alpha; scale = alpha / r (alpha / √r with rsLoRA)
 * @param dropout     lora_dropout on the adapter's input
 * @param rslora      use_rslora
 * @param targets     module-name suffixes ("q_proj", "c_attn", "query"…) or the single entry "all-linear"
 * @param rankPattern per-module rank overrides: module suffix → rank (PEFT's rank_pattern)
 * @param init        A's initialisation (B is always 0, so training starts exactly at the base model)
 * @param seed        seed of A's initialisation
 */
public record LoraConfig(int rank, double alpha, double dropout, boolean rslora, List<String> targets,
        Map<String, Integer> rankPattern, Init init, long seed) {

    public enum Init {
        /** U(±1/√in): PyTorch's kaiming_uniform_(a=√5), loralib's and PEFT's default. */
        KAIMING_UNIFORM,
        /** N(0, (1/r)²): PEFT's init_lora_weights="gaussian". */
        GAUSSIAN
    }

    public LoraConfig {
        if (rank <= 0) throw new IllegalArgumentException("LoRA rank must be > 0, got " + rank);
        if (!(dropout >= 0 && dropout < 1)) throw new IllegalArgumentException("lora dropout must be in [0, 1), got " + dropout);
        if (targets == null || targets.isEmpty()) throw new IllegalArgumentException("LoRA needs target modules");
        rankPattern = rankPattern == null ? Map.of() : Map.copyOf(rankPattern);
        targets = List.copyOf(targets);
        for (Map.Entry<String, Integer> e : rankPattern.entrySet()) {
            if (e.getValue() <= 0) throw new IllegalArgumentException("rank_pattern " + e.getKey() + " = " + e.getValue());
        }
    }

    /** The paper's setting: r = 8, α = 16 on q_proj and v_proj, Kaiming-uniform A. */
    public static LoraConfig paper(List<String> targets, long seed) {
        return new LoraConfig(8, 16, 0, false, targets, Map.of(), Init.KAIMING_UNIFORM, seed);
    }

    /** PEFT's matching: the module path equals the target or ends with "." + target. */
    public boolean targets(String modulePath) {
        for (String t : targets) if (modulePath.equals(t) || modulePath.endsWith("." + t)) return true;
        return false;
    }

    public boolean allLinear() {
        return targets.size() == 1 && targets.get(0).equals("all-linear");
    }

    public int rankFor(String modulePath) {
        for (Map.Entry<String, Integer> e : rankPattern.entrySet()) {
            if (modulePath.equals(e.getKey()) || modulePath.endsWith("." + e.getKey())) return e.getValue();
        }
        return rank;
    }
}
