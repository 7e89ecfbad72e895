package cola.chain;

import java.util.List;

/**
 * A COLA chain: M links, each a LoRA of its own rank, tied at knots.
 *
 * @param links         M (1 = plain LoRA)
 * @param ranks         rank of each link; one entry applies to all (a shorter list repeats its last rank: 8,4 = step-down)
 * @param knotSteps     explicit knots (first step of links 2..M), or empty for an equal split of the training steps
 * @param reset         optimiser state at a knot
 * @param pruneFraction for {@link Reset#PRUNE}: the fraction of moment entries zeroed (ReLoRA: 0.99)
 * @param lrScope       one schedule over the whole run, or one per link
 * @param rewarmupSteps after each knot the learning rate re-warms linearly over this many steps (ReLoRA; 0 = off)
 */
public record ChainConfig(int links, List<Integer> ranks, List<Integer> knotSteps, Reset reset, double pruneFraction,
        LrScope lrScope, int rewarmupSteps) {
    public enum Reset { FULL, NONE, PRUNE }

    public enum LrScope { GLOBAL, PER_LINK }

    public ChainConfig {
        if (links < 1) throw new IllegalArgumentException("chain length must be >= 1, got " + links);
        if (ranks == null || ranks.isEmpty()) throw new IllegalArgumentException("chain needs at least one rank");
        for (int r : ranks) if (r < 1) throw new IllegalArgumentException("chain ranks must be >= 1, got " + ranks);
        knotSteps = knotSteps == null ? List.of() : List.copyOf(knotSteps);
        ranks = List.copyOf(ranks);
        if (!knotSteps.isEmpty() && knotSteps.size() != links - 1) {
            throw new IllegalArgumentException(links + " links need " + (links - 1) + " knots, got " + knotSteps);
        }
        if (rewarmupSteps < 0) throw new IllegalArgumentException("re-warmup steps must be >= 0");
        if (reset == Reset.PRUNE && !(pruneFraction >= 0 && pruneFraction <= 1)) {
            throw new IllegalArgumentException("prune fraction must be in [0, 1], got " + pruneFraction);
        }
    }

    /** The paper's chain: M links of rank r, equal split, full reset, one global schedule. */
    public static ChainConfig paper(int links, int rank) {
        return new ChainConfig(links, List.of(rank), List.of(), Reset.FULL, 0, LrScope.GLOBAL, 0);
    }

    public int rankOf(int link) {
        return ranks.get(Math.min(link, ranks.size() - 1));
    }
}
