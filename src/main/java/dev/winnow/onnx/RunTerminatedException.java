package dev.winnow.onnx;

import ai.onnxruntime.OrtException;

/**
 * A model run that its {@link RunBudget} ended: its work's deadline passed, or the engine
 * stopped it. Says nothing about the device: the run was healthy until it was told to stop.
 */
public final class RunTerminatedException extends OrtException {

    private final RunBudget.Reason reason;

    RunTerminatedException(RunBudget.Reason reason, String message) {
        super(message);
        this.reason = reason;
    }

    public RunBudget.Reason reason() {
        return reason;
    }

    /** The terminated run behind {@code t} (itself or a cause), or null. */
    public static RunTerminatedException in(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof RunTerminatedException r) {
                return r;
            }
            if (c.getCause() == c) {
                break;
            }
        }
        return null;
    }
}
