package dev.winnow.modelpack;

/** A model pack or judge folder that cannot be used; the message names the file, the input and what was expected. */
public class PackException extends RuntimeException {
    public PackException(String message) {
        super(message);
    }

    public PackException(String message, Throwable cause) {
        super(message, cause);
    }
}
