package cola.chain;

import cola.optim.LrSchedule;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Where the knots fall in a run of {@code totalSteps} optimiser steps, which link a step belongs to, and the learning
 * rate of each step (global or per-link schedule, optional re-warmup after each knot).
 */
public final class ChainSchedule {
    private final ChainConfig config;
    private final int totalSteps;
    /** starts[i] = first step of link i; starts[0] = 0. */
    private final int[] starts;

    public ChainSchedule(ChainConfig config, int totalSteps) {
        if (totalSteps < config.links()) {
            throw new IllegalArgumentException(totalSteps + " steps cannot hold a chain of " + config.links() + " links");
        }
        this.config = config;
        this.totalSteps = totalSteps;
        starts = new int[config.links()];
        for (int i = 1; i < config.links(); i++) {
            starts[i] = config.knotSteps().isEmpty() ? (int) Math.round((double) totalSteps * i / config.links())
                    : config.knotSteps().get(i - 1);
            if (starts[i] <= starts[i - 1] || starts[i] >= totalSteps) {
                throw new IllegalArgumentException("knots must be increasing steps inside (0, " + totalSteps + "), got "
                        + knots());
            }
        }
    }

    /** The knot steps: a knot is tied just before this step runs. */
    public List<Integer> knots() {
        List<Integer> k = new ArrayList<>();
        for (int i = 1; i < starts.length; i++) k.add(starts[i]);
        return Collections.unmodifiableList(k);
    }

    public boolean isKnot(int step) {
        for (int i = 1; i < starts.length; i++) if (starts[i] == step) return true;
        return false;
    }

    public int linkAt(int step) {
        int link = 0;
        for (int i = 1; i < starts.length; i++) if (step >= starts[i]) link = i;
        return link;
    }

    public int linkStart(int link) {
        return starts[link];
    }

    public int linkLength(int link) {
        return (link + 1 < starts.length ? starts[link + 1] : totalSteps) - starts[link];
    }

    public int totalSteps() {
        return totalSteps;
    }

    /** Learning rate for {@code step} given the base schedule (defined over the whole run). */
    public double lr(LrSchedule base, int step) {
        int link = linkAt(step);
        double lr;
        if (config.lrScope() == ChainConfig.LrScope.GLOBAL) {
            lr = base.lr(step);
        } else {
            LrSchedule own = new LrSchedule(base.kind(), base.peakLr(), base.warmupSteps(), linkLength(link));
            lr = own.lr(step - starts[link]);
        }
        if (link > 0 && config.rewarmupSteps() > 0) {
            lr *= Math.min(1.0, (double) (step - starts[link] + 1) / config.rewarmupSteps());
        }
        return lr;
    }
}
