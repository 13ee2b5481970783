package dev.winnow.diffusion.scheduler;

/**
 * Schedulers in the σ parameterisation (x = x_0 + σ·ε, diffusers' Euler family): they keep
 * each step's σ plus the σ after the last, start from a larger noise and scale the model's input.
 */
abstract class SigmaScheduler extends SteppedScheduler {

    protected final NoiseSchedule schedule;
    protected double[] sigmas = {0};
    /** x̂_0 of the last step. */
    protected float[] x0;

    SigmaScheduler(NoiseSchedule schedule) {
        this.schedule = schedule;
    }

    public void setTimesteps(int steps) {
        requireSteps(steps, schedule);
        SigmaSchedule plan = SigmaSchedule.euler(schedule, steps);
        timesteps = plan.timesteps();
        sigmas = plan.sigmas();
        stepIndex = 0;
    }

    /** The σ of each step and the σ after the last (0 unless {@code final_sigmas_type} is {@code sigma_min}). */
    @Override
    public double[] sigmas() {
        return sigmas.clone();
    }

    @Override
    public double initNoiseSigma() {
        return new SigmaSchedule(timesteps, sigmas).initNoiseSigma(schedule.settings().timestepSpacing());
    }

    @Override
    public float[] modelInput(float[] sample, float[] scratch) {
        return SigmaSchedule.scale(sample, sigmas[stepIndex], scratch);
    }
}
