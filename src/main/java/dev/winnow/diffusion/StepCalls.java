package dev.winnow.diffusion;

import java.util.Arrays;

/** The UNet calls that one denoising step made, and the rows each held. Immutable. */
public final class StepCalls {

    private final int[] rowsPerCall;

    public StepCalls(int... rowsPerCall) {
        this.rowsPerCall = rowsPerCall.clone();
    }

    /** How many UNet calls the step took (more than one only for a scalar-timestep UNet with rows at several steps). */
    public int calls() {
        return rowsPerCall.length;
    }

    /** The rows in call {@code i}. */
    public int rows(int i) {
        return rowsPerCall[i];
    }

    /** The rows of all the step's calls. */
    public int totalRows() {
        return Arrays.stream(rowsPerCall).sum();
    }

    @Override
    public String toString() {
        return "StepCalls" + Arrays.toString(rowsPerCall);
    }
}
