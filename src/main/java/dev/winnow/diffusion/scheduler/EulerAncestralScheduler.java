package dev.winnow.diffusion.scheduler;

/**
 * Ancestral Euler sampling (k-diffusion's {@code sample_euler_ancestral}, diffusers'
 * {@code EulerAncestralDiscreteScheduler}): each step goes down to σ_down by Euler, then adds
 * fresh noise of size σ_up, with σ_up² = σ_next²·(σ² - σ_next²)/σ² and σ_down² = σ_next² - σ_up².
 * The noise comes from the candidate's own generator, so the image depends only on its seed.
 */
public final class EulerAncestralScheduler extends SigmaScheduler implements Scheduler {

    /** This step's fresh noise. */
    private float[] z;

    public EulerAncestralScheduler(NoiseSchedule schedule) {
        super(schedule);
    }

    @Override
    public float[] stepInPlace(float[] modelOutput, float[] sample, GaussianNoise noise) {
        double sigmaFrom = sigmas[stepIndex];
        double sigmaTo = sigmas[stepIndex + 1];
        x0 = Predictions.originalFromSigma(schedule.settings().predictionType(), modelOutput, sample, sigmaFrom,
                own(x0, sample.length));
        double sigmaUp = Math.sqrt(sigmaTo * sigmaTo * (sigmaFrom * sigmaFrom - sigmaTo * sigmaTo) / (sigmaFrom * sigmaFrom));
        double sigmaDown = Math.sqrt(sigmaTo * sigmaTo - sigmaUp * sigmaUp);
        double dt = sigmaDown - sigmaFrom;
        z = own(z, sample.length);
        noise.fill(z);
        for (int i = 0; i < sample.length; i++) {
            double d = (sample[i] - x0[i]) / sigmaFrom;
            sample[i] = (float) (sample[i] + d * dt + z[i] * sigmaUp);
        }
        stepIndex++;
        return x0;
    }

    @Override
    public String name() {
        return "euler_a";
    }
}
