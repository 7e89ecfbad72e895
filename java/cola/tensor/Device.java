package cola.tensor;

/** Where a tensor's memory lives. Host↔device copies are always explicit. */
public record Device(Kind kind, int ordinal) {
    public enum Kind { CPU, CUDA }

    public static final Device CPU = new Device(Kind.CPU, 0);

    public static Device cuda(int ordinal) {
        return new Device(Kind.CUDA, ordinal);
    }

    @Override
    public String toString() {
        return kind == Kind.CPU ? "cpu" : "cuda:" + ordinal;
    }
}
