package cola.train;

import cola.model.Transformer;
import java.util.Locale;

/**
 * {@code --recompute auto|on|off}: activation recompute (gradient checkpointing per block — forward keeps each block's
 * input only, backward re-runs one block at a time; one more forward per step). {@code auto} turns it on when the
 * step's estimated activations would not fit in 80 % of the memory available now.
 */
public enum Recompute {
    AUTO, ON, OFF;

    public static Recompute parse(String s) {
        return switch (s == null ? "" : s.toLowerCase(Locale.ROOT)) {
            case "auto" -> AUTO;
            case "on" -> ON;
            case "off" -> OFF;
            default -> throw new IllegalArgumentException("--recompute must be auto, on or off, got '" + s + "'");
        };
    }

    /** The decision for {@code m} at {@code rows} = batch·sequence tokens per micro-batch, with the reason. */
    public Decision decide(Transformer m, long rows, long availableBytes) {
        long need = m.activationBytesEstimate(rows);
        return switch (this) {
            case ON -> new Decision(true, "--recompute on");
            case OFF -> new Decision(false, "--recompute off");
            case AUTO -> availableBytes > 0 && need > 0.8 * availableBytes
                    ? new Decision(true, String.format(Locale.ROOT, "--recompute auto: on (activations ~%d MB > 80%% of"
                            + " %d MB available)", need >> 20, availableBytes >> 20))
                    : new Decision(false, String.format(Locale.ROOT, "--recompute auto: off (activations ~%d MB, %s)",
                            need >> 20, availableBytes > 0 ? (availableBytes >> 20) + " MB available" : "memory unknown"));
        };
    }

    public record Decision(boolean on, String reason) {}
}
