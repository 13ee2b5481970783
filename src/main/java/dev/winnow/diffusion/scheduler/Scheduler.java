package dev.winnow.diffusion.scheduler;

/**
 * A sampling algorithm over the training noise schedule, in diffusers' shape:
 * {@link #setTimesteps(int)} once, then per step {@link #scaleModelInput}, the model call at
 * {@link #currentTimestep()}, and {@link #step}. Each candidate owns its own scheduler
 * (multistep solvers keep history), so schedulers are <b>not thread-safe</b> and never shared.
 *
 * <p>Arrays are one candidate's latents, flattened (C·H·W). No method changes its arguments.
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

    /** The model's input for the current step (sigma-based schedulers divide by sqrt(σ² + 1)). */
    float[] scaleModelInput(float[] sample);

    /** Advances one step from {@code sample} with the model's (guided) output. */
    StepResult step(float[] modelOutput, float[] sample, GaussianNoise noise);

    /** The algorithm's request name ({@code ddim}, {@code euler}, ...). */
    String name();
}
