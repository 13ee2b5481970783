package dev.winnow.diffusion.scheduler;

/**
 * The bookkeeping every scheduler shares: its timesteps and how many steps it has taken.
 * Each algorithm extends this (or {@link SigmaScheduler}) and implements {@link Scheduler}.
 */
abstract class SteppedScheduler {

    protected double[] timesteps = new double[0];
    protected int stepIndex;

    /** diffusers refuses more inference steps than training timesteps; so do we. */
    static void requireSteps(int steps, NoiseSchedule schedule) {
        if (steps < 1 || steps > schedule.trainSteps()) {
            throw new IllegalArgumentException("steps must be within 1.." + schedule.trainSteps() + ", got " + steps);
        }
    }

    public double[] timesteps() {
        return timesteps.clone();
    }

    public int stepIndex() {
        return stepIndex;
    }

    public boolean isDone() {
        return stepIndex >= timesteps.length;
    }

    public double[] sigmas() {
        return new double[0];
    }

    public double currentTimestep() {
        return timesteps[stepIndex];
    }

    /** DDIM, DPM-Solver and LCM work on unit-variance samples: no input scaling, σ_init = 1. */
    public double initNoiseSigma() {
        return 1.0;
    }

    /** Unscaled: the sample itself is the model's input. */
    public float[] modelInput(float[] sample, float[] scratch) {
        return sample;
    }

    /** A buffer this scheduler keeps from step to step, made at the first step. */
    static float[] own(float[] buffer, int length) {
        return buffer != null && buffer.length == length ? buffer : new float[length];
    }
}
