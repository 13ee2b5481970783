package dev.winnow.diffusion.scheduler;

/**
 * Euler's method on the probability-flow ODE dx/dσ = (x - x̂_0) / σ (Karras et al. 2022,
 * "Elucidating the design space", Algorithm 2 with s_churn = 0), as diffusers'
 * {@code EulerDiscreteScheduler}.
 */
public final class EulerDiscreteScheduler extends SigmaScheduler implements Scheduler {

    public EulerDiscreteScheduler(NoiseSchedule schedule) {
        super(schedule);
    }

    @Override
    public float[] stepInPlace(float[] modelOutput, float[] sample, GaussianNoise noise) {
        double sigma = sigmas[stepIndex];
        double sigmaNext = sigmas[stepIndex + 1];
        // 1. x̂_0 from the model output at σ
        x0 = Predictions.originalFromSigma(schedule.settings().predictionType(), modelOutput, sample, sigma,
                own(x0, sample.length));
        // 2. d = (x - x̂_0) / σ;  x_next = x + d·(σ_next - σ)
        double dt = sigmaNext - sigma;
        for (int i = 0; i < sample.length; i++) {
            double d = (sample[i] - x0[i]) / sigma;
            sample[i] = (float) (sample[i] + d * dt);
        }
        stepIndex++;
        return x0;
    }

    @Override
    public String name() {
        return "euler";
    }
}
