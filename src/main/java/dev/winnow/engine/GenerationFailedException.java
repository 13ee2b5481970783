package dev.winnow.engine;

/** A model call failed while serving a job (the job's candidates are lost; the service answers 503). */
public class GenerationFailedException extends RuntimeException {
    public GenerationFailedException(String message, Throwable cause) {
        super(message, cause);
    }
}
