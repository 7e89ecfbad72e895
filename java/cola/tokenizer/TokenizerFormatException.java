package cola.tokenizer;

/** A tokenizer file that cola cannot use; the message names the file and the field. */
public final class TokenizerFormatException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public TokenizerFormatException(String message) {
        super(message);
    }

    public TokenizerFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
