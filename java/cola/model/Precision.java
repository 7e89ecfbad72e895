package cola.model;

import cola.backend.Backend;
import cola.io.HfWeights;
import cola.tensor.DType;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;

/**
 * {@code --dtype auto|bf16|f32}: the dtype a model's frozen matrices are held and multiplied in. bf16 keeps a bf16
 * checkpoint as stored (half the memory of f32, bf16 GEMMs with fp32 accumulation); f32 widens everything (the exact
 * reference). {@code auto} picks bf16 when the checkpoint is bf16 or f16 AND the backend has bf16 units (AMX or
 * AVX512_BF16 on the CPU, tensor cores on a GPU), f32 otherwise. Asking for bf16 on a device without bf16 units is an
 * error (it would be emulated, slower than f32); only auto falls back.
 */
public final class Precision {
    private Precision() {}

    public enum Choice {
        AUTO, BF16, F32;

        public static Choice parse(String s) {
            return switch (s == null ? "" : s.toLowerCase(Locale.ROOT)) {
                case "auto" -> AUTO;
                case "bf16", "bfloat16" -> BF16;
                case "f32", "fp32", "float32" -> F32;
                default -> throw new IllegalArgumentException("--dtype must be auto, bf16 or f32, got '" + s + "'");
            };
        }
    }

    /** The resolved dtype and a line that says why (printed by the commands and by {@code cola info}). */
    public record Resolved(DType dtype, String reason) {}

    /** Resolves {@code choice} for the checkpoint in {@code modelDir} on {@code be}. */
    public static Resolved resolve(Choice choice, Path modelDir, Backend be) throws IOException {
        String stored;
        try (HfWeights w = HfWeights.open(modelDir)) {
            stored = w.dominantFloatDType();
        }
        return resolve(choice, stored, be.bf16Support(), be.name());
    }

    /** The rule itself, for a checkpoint stored in {@code stored} ("F32", "BF16", "F16") and the backend's units. */
    public static Resolved resolve(Choice choice, String stored, String bf16Units, String backend) {
        boolean units = bf16Units != null && !bf16Units.isEmpty();
        String where = backend + (units ? " (" + bf16Units + ")" : "");
        return switch (choice) {
            case F32 -> new Resolved(DType.F32, "--dtype f32: every weight widened to f32 (checkpoint " + stored + ")");
            case BF16 -> {
                if (!units) {
                    throw new IllegalArgumentException("--dtype bf16: the " + backend + " backend has no bf16 units (no"
                            + " AMX or AVX512_BF16 on this CPU), so bf16 GEMMs would be emulated and slower than f32;"
                            + " use --dtype f32 (or auto, which picks f32 here)");
                }
                yield new Resolved(DType.BF16, "--dtype bf16: frozen matrices in bf16 on " + where + " (checkpoint "
                        + stored + (stored.equals("BF16") ? ", kept as stored)" : ", rounded to bf16 once at load)"));
            }
            case AUTO -> {
                boolean half = stored.equals("BF16") || stored.equals("F16");
                if (half && units) {
                    yield new Resolved(DType.BF16, "--dtype auto: bf16 (checkpoint " + stored + ", bf16 units on "
                            + where + ")");
                }
                yield new Resolved(DType.F32, "--dtype auto: f32 (" + (half ? "checkpoint " + stored + " but no bf16 units"
                        + " on " + backend : "checkpoint " + stored) + ")");
            }
        };
    }
}
