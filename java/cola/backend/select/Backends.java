package cola.backend.select;

import cola.backend.Backend;
import cola.backend.cpu.CpuBackend;
import cola.backend.cuda.CudaBackend;
import cola.backend.cuda.CudaRuntime;
import java.util.Locale;

/** Picks a {@link Backend} from a device string, as the {@code --device} option gives it. */
public final class Backends {
    /** The accepted spellings, for messages. */
    public static final String VALID = "cpu, cuda, cuda:N (N = device number), auto";

    private Backends() {}

    /**
     * "cpu" → the CPU backend; "cuda" → cuda:0; "cuda:N" → device N; "auto" → cuda:0 when
     * {@link CudaRuntime#usable()}, else the CPU. Asking for CUDA where it is not usable throws
     * {@link IllegalStateException} whose message includes {@link CudaRuntime#describe()}; an unknown string throws
     * {@link IllegalArgumentException} naming the valid values. No preset class is touched unless CUDA is usable.
     */
    public static Backend select(String device) {
        if (device == null) throw new IllegalArgumentException("device is null; valid devices: " + VALID);
        String d = device.trim().toLowerCase(Locale.ROOT);
        switch (d) {
            case "cpu":
                return CpuBackend.get();
            case "auto":
                return CudaRuntime.usable() ? CudaBackend.get(0) : CpuBackend.get();
            case "cuda":
                return cuda(device, 0);
            default:
                break;
        }
        if (d.startsWith("cuda:")) {
            String n = d.substring(5);
            int ordinal;
            try {
                ordinal = Integer.parseInt(n);
            } catch (NumberFormatException e) {
                ordinal = -1;
            }
            if (ordinal < 0 || !n.chars().allMatch(Character::isDigit)) {
                throw new IllegalArgumentException("device '" + device + "': the CUDA device number must be a"
                        + " non-negative integer; valid devices: " + VALID);
            }
            return cuda(device, ordinal);
        }
        throw new IllegalArgumentException("unknown device '" + device + "'; valid devices: " + VALID);
    }

    private static Backend cuda(String asked, int ordinal) {
        if (!CudaRuntime.usable()) {
            throw new IllegalStateException("device '" + asked + "' requested, but CUDA is " + CudaRuntime.describe()
                    + "; use --device cpu (or auto)");
        }
        int count = CudaRuntime.deviceCount();
        if (ordinal >= count) {
            throw new IllegalStateException("device '" + asked + "' requested, but CUDA has " + CudaRuntime.describe());
        }
        return CudaBackend.get(ordinal);
    }
}
