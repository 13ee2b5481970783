package dev.winnow.diffusion.scheduler;

/**
 * A sampling algorithm over the training noise schedule, in diffusers' shape:
 * {@link #setTimesteps(int)} once, then per step {@link #scaleModelInput}, the model call at
 * {@link #currentTimestep()}, and {@link #step}. Each candidate owns its own scheduler
 * (multistep solvers keep history), so schedulers are <b>not thread-safe</b> and never shared.
 *
 * <p>Arrays are one candidate's latents, flattened (C·H·W). Only {@link #stepInPlace} changes
 * an argument (the sample it steps, as its name says); the engine's denoising loop uses it and
 * {@link #modelInput}, which allocate nothing, while {@link #step} and {@link #scaleModelInput}
 * return new arrays and change nothing. Both paths do the same float arithmetic in the same
 * order, so they give the same bits.
 */
public sealed interface Scheduler permits DdimScheduler, EulerDiscreteScheduler, EulerAncestralScheduler,
        DpmSolverMultistepScheduler, LcmScheduler {

    /** Chooses the inference timesteps for {@code steps} steps and resets the step counter. */
    void setTimesteps(int steps);

    /** The model timesteps, one per step, descending. */
    double[] timesteps();

    /** Steps taken since {@link #setTimesteps(int)}. */
    int stepIndex();

    /** Whether every step has been taken. */
    boolean isDone();

    /**
     * The σ of each step and the σ after the last, for schedulers in the σ parameterisation
     * (Euler, Euler a, DPM++); empty for those in the ᾱ form (DDIM, LCM).
     */
    double[] sigmas();

    /** The timestep to give the model for the next step. */
    double currentTimestep();

    /** The standard deviation of the initial noise: latents start as {@code initNoiseSigma() · N(0, I)}. */
    double initNoiseSigma();

    /** The model's input for the current step (sigma-based schedulers divide by sqrt(σ² + 1)), as a new array. */
    default float[] scaleModelInput(float[] sample) {
        float[] in = modelInput(sample, new float[sample.length]);
        return in == sample ? sample.clone() : in;
    }

    /**
     * The model's input for the current step without allocating: {@code sample} itself when this
     * scheduler does not scale it (DDIM, DPM++, LCM), else {@code scratch} filled with the scaled
     * values. Changes neither {@code sample} nor anything but {@code scratch}.
     */
    float[] modelInput(float[] sample, float[] scratch);

    /**
     * Advances one step in place: {@code sample} (x_t) becomes x_{t-1}. Allocates nothing after
     * the first step.
     *
     * @return the predicted x_0 in a buffer this scheduler owns, valid until its next step
     */
    float[] stepInPlace(float[] modelOutput, float[] sample, GaussianNoise noise);

    /** Advances one step from {@code sample} with the model's (guided) output, into new arrays. */
    default StepResult step(float[] modelOutput, float[] sample, GaussianNoise noise) {
        float[] prev = sample.clone();
        float[] x0 = stepInPlace(modelOutput, prev, noise);
        return new StepResult(prev, x0.clone());
    }

    /** The algorithm's request name ({@code ddim}, {@code euler}, ...). */
    String name();
}
