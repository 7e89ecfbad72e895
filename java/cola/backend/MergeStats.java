package cola.backend;

/**
 * What a merge into bf16 weights did, for the knot's accounting (native/src/merge.cpp, cola_merge_bf16_ex).
 *
 * @param unchanged   elements whose delta was non-zero but whose bf16 value did not move (updates lost to rounding)
 * @param deltaSq     ‖d‖², d = s·B·A this merge's delta
 * @param weightErrSq ‖ΔW − d‖²: what the bf16 weights alone (what the next link's forward sees) miss of d
 * @param lostSq      ‖ΔW + ΔR − d‖²: what is lost for good (the compensated merge keeps the rest in its residual R)
 */
public record MergeStats(long unchanged, double deltaSq, double weightErrSq, double lostSq) {
    public static final MergeStats EXACT = new MergeStats(0, 0, 0, 0);

    /** The sum of two merges' accounting (a knot merges many matrices). */
    public MergeStats plus(MergeStats o) {
        return new MergeStats(unchanged + o.unchanged, deltaSq + o.deltaSq, weightErrSq + o.weightErrSq,
                lostSq + o.lostSq);
    }

    /** 1 − ‖ΔW + ΔR − d‖/‖d‖: the fraction of ‖d‖ that reached the stored weights and their residual (1 if d = 0). */
    public double kept() {
        return deltaSq == 0 ? 1.0 : 1.0 - Math.sqrt(lostSq / deltaSq);
    }

    /** 1 − ‖ΔW − d‖/‖d‖: the same for the bf16 weights alone. */
    public double keptInWeights() {
        return deltaSq == 0 ? 1.0 : 1.0 - Math.sqrt(weightErrSq / deltaSq);
    }
}
