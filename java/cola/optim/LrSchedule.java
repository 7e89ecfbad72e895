package cola.optim;

/**
 * Learning-rate schedules with linear warmup, as Hugging Face's get_{constant,linear,cosine}_schedule_with_warmup:
 * lr(step) = peak·step/warmup during warmup, then constant, linear decay to 0 at totalSteps, or half-cosine to 0.
 * Steps are 0-based (the step about to run).
 */
public record LrSchedule(Kind kind, double peakLr, int warmupSteps, int totalSteps) {
    public enum Kind { CONSTANT, LINEAR, COSINE }

    public LrSchedule {
        if (!(peakLr >= 0) || warmupSteps < 0 || totalSteps < 1) {
            throw new IllegalArgumentException("lr schedule: need lr >= 0, warmup >= 0, total steps >= 1; got lr="
                    + peakLr + " warmup=" + warmupSteps + " total=" + totalSteps);
        }
    }

    public double lr(int step) {
        if (step < warmupSteps) return peakLr * step / Math.max(1, warmupSteps);
        double progress = (double) (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
        return switch (kind) {
            case CONSTANT -> peakLr;
            case LINEAR -> peakLr * Math.max(0.0, (double) (totalSteps - step) / Math.max(1, totalSteps - warmupSteps));
            case COSINE -> peakLr * Math.max(0.0, 0.5 * (1.0 + Math.cos(Math.PI * progress)));
        };
    }
}
