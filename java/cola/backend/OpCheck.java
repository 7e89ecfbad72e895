package cola.backend;

import cola.tensor.DType;
import cola.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Validation of one op call, in Java, before any pointer crosses JNI. Every failure is an
 * {@link IllegalArgumentException} whose message names the op, the offending argument and the shapes of all arguments:
 * {@code "layernorm_forward: 'weight' must have shape [8], got [7] (out=f32[2, 8], inp=f32[2, 8], weight=f32[7])"}.
 */
public final class OpCheck {
    private final String op;
    private final List<String> names = new ArrayList<>();
    private final List<Tensor> tensors = new ArrayList<>();

    public OpCheck(String op) {
        this.op = op;
    }

    /** A required tensor: non-null, open, on the host. */
    public OpCheck in(String name, Tensor t) {
        if (t == null) throw fail("'" + name + "' is null");
        record(name, t);
        if (t.isClosed()) throw fail("'" + name + "' is closed or its memory was released");
        return this;
    }

    /** An optional tensor (may be null). */
    public OpCheck opt(String name, Tensor t) {
        return t == null ? this : in(name, t);
    }

    public OpCheck dtype(String name, DType expected) {
        Tensor t = get(name);
        if (t != null && t.dtype() != expected) {
            throw fail("'" + name + "' must be " + expected + ", got " + t.dtype());
        }
        return this;
    }

    /** Every named tensor has dtype {@code expected}. */
    public OpCheck allDType(DType expected) {
        for (int i = 0; i < names.size(); i++) dtype(names.get(i), expected);
        return this;
    }

    /**
     * A frozen weight stored as f32 or bf16 (the checkpoint's dtype), every other named tensor f32: the ops whose
     * weight may stay in bf16 (matmul, LoRA linear, embedding lookup).
     */
    public OpCheck f32WithWeight(String weight) {
        for (String n : names) {
            if (n.equals(weight)) {
                Tensor t = get(n);
                if (t.dtype() != DType.F32 && t.dtype() != DType.BF16) {
                    throw fail("'" + n + "' must be f32 or bf16, got " + t.dtype());
                }
            } else {
                dtype(n, DType.F32);
            }
        }
        return this;
    }

    public OpCheck shape(String name, long... expected) {
        Tensor t = get(name);
        if (t != null && !Arrays.equals(t.shape(), expected)) {
            throw fail("'" + name + "' must have shape " + Arrays.toString(expected) + ", got "
                    + Arrays.toString(t.shape()));
        }
        return this;
    }

    public OpCheck rank(String name, int rank) {
        Tensor t = get(name);
        if (t != null && t.rank() != rank) throw fail("'" + name + "' must have rank " + rank + ", got " + t.rank());
        return this;
    }

    public OpCheck numel(String name, long expected) {
        Tensor t = get(name);
        if (t != null && t.numel() != expected) {
            throw fail("'" + name + "' must have " + expected + " elements, got " + t.numel());
        }
        return this;
    }

    /** Same shape as another named tensor. */
    public OpCheck sameShape(String name, String as) {
        Tensor t = get(name);
        Tensor o = get(as);
        if (t != null && o != null) shape(name, o.shape());
        return this;
    }

    /** A condition on scalars or sizes. */
    public OpCheck require(boolean ok, String message) {
        if (!ok) throw fail(message);
        return this;
    }

    /** Outputs that must not share memory with an input. */
    public OpCheck distinct(String a, String b) {
        Tensor x = get(a);
        Tensor y = get(b);
        if (x != null && y != null && x.sameMemory(y)) throw fail("'" + a + "' and '" + b + "' must not alias");
        return this;
    }

    public IllegalArgumentException fail(String message) {
        return new IllegalArgumentException(op + ": " + message + " (" + describeArgs() + ")");
    }

    /** The checked arguments as "a=f32[2, 3], b=f32[3]" (for error messages that come after the checks). */
    public String describeArgs() {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < names.size(); i++) {
            if (i > 0) sb.append(", ");
            sb.append(names.get(i)).append('=').append(tensors.get(i).describe());
        }
        return sb.toString();
    }

    /** The op's name, as in its messages. */
    public String op() {
        return op;
    }

    private void record(String name, Tensor t) {
        names.add(name);
        tensors.add(t);
    }

    private Tensor get(String name) {
        int i = names.lastIndexOf(name);
        return i < 0 ? null : tensors.get(i);
    }
}
