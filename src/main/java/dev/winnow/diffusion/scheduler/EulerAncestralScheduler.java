package dev.winnow.diffusion.scheduler;

/**
 * Ancestral Euler sampling (k-diffusion's {@code sample_euler_ancestral}, diffusers'
 * {@code EulerAncestralDiscreteScheduler}): each step goes down to σ_down by Euler, then adds
 * fresh noise of size σ_up, with σ_up² = σ_next²·(σ² - σ_next²)/σ² and σ_down² = σ_next² - σ_up².
 * The noise comes from the candidate's own generator, so the image depends only on its seed.
 */
public final class EulerAncestralScheduler implements Scheduler {

    private final NoiseSchedule schedule;
    private SigmaSchedule plan = new SigmaSchedule(new double[0], new double[] {0});
    private int stepIndex;

    public EulerAncestralScheduler(NoiseSchedule schedule) {
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
        double sigmaFrom = plan.sigmas()[stepIndex];
        double sigmaTo = plan.sigmas()[stepIndex + 1];
        float[] x0 = Predictions.originalFromSigma(schedule.config().predictionType(), modelOutput, sample, sigmaFrom);
        double sigmaUp = Math.sqrt(sigmaTo * sigmaTo * (sigmaFrom * sigmaFrom - sigmaTo * sigmaTo) / (sigmaFrom * sigmaFrom));
        double sigmaDown = Math.sqrt(sigmaTo * sigmaTo - sigmaUp * sigmaUp);
        double dt = sigmaDown - sigmaFrom;
        float[] z = new float[sample.length];
        noise.fill(z);
        float[] prev = new float[sample.length];
        for (int i = 0; i < sample.length; i++) {
            double d = (sample[i] - x0[i]) / sigmaFrom;
            prev[i] = (float) (sample[i] + d * dt + z[i] * sigmaUp);
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
        return "euler_a";
    }
}
