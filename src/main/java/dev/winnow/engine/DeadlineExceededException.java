package dev.winnow.engine;

/** The job's deadline passed before it finished; its slots were freed. */
public class DeadlineExceededException extends RuntimeException {
    public DeadlineExceededException(String message) {
        super(message);
    }
}
