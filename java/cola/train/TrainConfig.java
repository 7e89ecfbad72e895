package cola.train;

import cola.optim.LrSchedule;

/**
 * One training run's optimisation settings.
 *
 * @param steps        optimiser steps in total (all links of a chain together: COLA runs inside LoRA's budget)
 * @param lr           the learning-rate schedule (over {@code steps})
 * @param maxGradNorm  global-norm clipping threshold (≤ 0: off)
 * @param gradAccum    micro-batches per optimiser step
 * @param maxBadSteps  consecutive non-finite steps that abort the run
 * @param seed         dropout seeds derive from it (step-indexed, so a run is bit-reproducible)
 */
public record TrainConfig(int steps, LrSchedule lr, double maxGradNorm, int gradAccum, int maxBadSteps, long seed) {
    public TrainConfig {
        if (steps < 1) throw new IllegalArgumentException("steps must be >= 1, got " + steps);
        if (gradAccum < 1) throw new IllegalArgumentException("gradient accumulation must be >= 1, got " + gradAccum);
        if (maxBadSteps < 1) throw new IllegalArgumentException("max bad steps must be >= 1, got " + maxBadSteps);
    }
}
