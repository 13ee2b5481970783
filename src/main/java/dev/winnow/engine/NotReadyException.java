package dev.winnow.engine;

/** The engine cannot take work: still warming up, or draining for shutdown. */
public class NotReadyException extends RuntimeException {
    public NotReadyException(String message) {
        super(message);
    }
}
