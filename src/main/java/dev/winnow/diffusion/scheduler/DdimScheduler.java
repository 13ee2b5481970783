package dev.winnow.diffusion.scheduler;

/**
 * DDIM (Song et al. 2021, "Denoising Diffusion Implicit Models"), deterministic (η = 0, the
 * pipelines' default), following diffusers' {@code DDIMScheduler}.
 *
 * <p>Notation: ᾱ_t = {@code alphaProd} (the paper's α_t), x_t = {@code sample},
 * ε_θ(x_t) = {@code modelOutput} (after conversion for v/sample prediction).
 */
public final class DdimScheduler extends SteppedScheduler implements Scheduler {

    private final NoiseSchedule schedule;
    private int stepRatio;
    private float[] x0;
    private float[] eps;

    public DdimScheduler(NoiseSchedule schedule) {
        this.schedule = schedule;
    }

    @Override
    public void setTimesteps(int steps) {
        requireSteps(steps, schedule);
        timesteps = Timesteps.ddim(schedule.settings(), steps);
        stepRatio = schedule.trainSteps() / steps;
        stepIndex = 0;
    }

    @Override
    public float[] stepInPlace(float[] modelOutput, float[] sample, GaussianNoise noise) {
        SchedulerSettings c = schedule.settings();
        int t = (int) timesteps[stepIndex];
        // 1. previous timestep: diffusers always steps back by T // n, whatever the spacing
        int prev = t - stepRatio;
        // 2. ᾱ_t and ᾱ_{t-1}
        double alphaProd = schedule.alphaCumprod(t);
        double alphaProdPrev = prev >= 0 ? schedule.alphaCumprod(prev) : schedule.finalAlphaCumprod();
        double a = Math.sqrt(alphaProd);
        double b = Math.sqrt(1 - alphaProd);
        // 3. "predicted x_0" and ε̂ from the model output, eq. (12)
        x0 = Predictions.originalFromAlpha(c.predictionType(), modelOutput, sample, alphaProd, own(x0, sample.length));
        float[] epsHat = modelOutput; // ε-prediction: the model output is ε̂
        if (!"epsilon".equals(c.predictionType())) {
            eps = own(eps, sample.length);
            boolean v = "v_prediction".equals(c.predictionType());
            for (int i = 0; i < sample.length; i++) {
                eps[i] = v ? (float) (a * modelOutput[i] + b * sample[i]) : (float) ((sample[i] - a * x0[i]) / b);
            }
            epsHat = eps;
        }
        // 4. clip x̂_0 (clip_sample); ε̂ stays the unclipped one, as with use_clipped_model_output=False
        Predictions.clip(x0, c);
        // 5-7. σ_t = 0 (η = 0): x_{t-1} = sqrt(ᾱ_{t-1})·x̂_0 + sqrt(1 - ᾱ_{t-1})·ε̂, eq. (12)
        double prevA = Math.sqrt(alphaProdPrev);
        double prevB = Math.sqrt(1 - alphaProdPrev);
        for (int i = 0; i < sample.length; i++) {
            sample[i] = (float) (prevA * x0[i] + prevB * epsHat[i]);
        }
        stepIndex++;
        return x0;
    }

    @Override
    public String name() {
        return "ddim";
    }
}
