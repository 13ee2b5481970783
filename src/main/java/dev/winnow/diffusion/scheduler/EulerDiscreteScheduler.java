package dev.winnow.diffusion.scheduler;

/**
 * Euler's method on the probability-flow ODE dx/dσ = (x - x̂_0) / σ (Karras et al. 2022,
 * "Elucidating the design space", Algorithm 2 with s_churn = 0), as diffusers'
 * {@code EulerDiscreteScheduler}.
 */
public final class EulerDiscreteScheduler implements Scheduler {

    private final NoiseSchedule schedule;
    private SigmaSchedule plan = new SigmaSchedule(new double[0], new double[] {0});
    private int stepIndex;

    public EulerDiscreteScheduler(NoiseSchedule schedule) {
        this.schedule = schedule;
    }

    @Override
    public void setTimesteps(int steps) {
        DdimScheduler.requireSteps(steps, schedule);
        plan = SigmaSchedule.euler(schedule, steps);
        stepIndex = 0;
    }

    /** The σ of each step and a final 0. */
    public double[] sigmas() {
        return plan.sigmas().clone();
    }

    @Override
    public StepResult step(float[] modelOutput, float[] sample, GaussianNoise noise) {
        double sigma = plan.sigmas()[stepIndex];
        double sigmaNext = plan.sigmas()[stepIndex + 1];
        // 1. x̂_0 from the model output at σ
        float[] x0 = Predictions.originalFromSigma(schedule.config().predictionType(), modelOutput, sample, sigma);
        // 2. d = (x - x̂_0) / σ;  x_next = x + d·(σ_next - σ)
        double dt = sigmaNext - sigma;
        float[] prev = new float[sample.length];
        for (int i = 0; i < sample.length; i++) {
            double d = (sample[i] - x0[i]) / sigma;
            prev[i] = (float) (sample[i] + d * dt);
        }
        stepIndex++;
        return new StepResult(prev, x0);
    }

    @Override
    public double[] timesteps() {
        return plan.timesteps().clone();
    }

    @Override
    public int stepIndex() {
        return stepIndex;
    }

    @Override
    public boolean isDone() {
        return stepIndex >= plan.timesteps().length;
    }

    @Override
    public double currentTimestep() {
        return plan.timesteps()[stepIndex];
    }

    @Override
    public double initNoiseSigma() {
        return plan.initNoiseSigma(schedule.config().timestepSpacing());
    }

    @Override
    public float[] scaleModelInput(float[] sample) {
        return SigmaSchedule.scale(sample, plan.sigmas()[stepIndex]);
    }

    @Override
    public String name() {
        return "euler";
    }
}
