package cola.backend;

/** A NaN or infinity that must not be written (a merge delta, a loss, a gradient). Nothing was modified. */
public final class NonFiniteException extends ArithmeticException {
    private static final long serialVersionUID = 1L;

    public NonFiniteException(String message) {
        super(message);
    }
}
