package dev.winnow.engine;

/** Admission refused: the engine already holds as many jobs as it may. */
public class QueueFullException extends RuntimeException {

    private final long retryAfterSeconds;

    public QueueFullException(int capacity, long retryAfterSeconds) {
        super("the generation queue is full (" + capacity + " jobs); retry in about " + retryAfterSeconds + " s");
        this.retryAfterSeconds = retryAfterSeconds;
    }

    public long retryAfterSeconds() {
        return retryAfterSeconds;
    }
}
