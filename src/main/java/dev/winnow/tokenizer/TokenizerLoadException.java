package dev.winnow.tokenizer;

/** A tokenizer folder that cannot be used; the message names the file and the problem. */
public class TokenizerLoadException extends RuntimeException {
    public TokenizerLoadException(String message) {
        super(message);
    }

    public TokenizerLoadException(String message, Throwable cause) {
        super(message, cause);
    }
}
