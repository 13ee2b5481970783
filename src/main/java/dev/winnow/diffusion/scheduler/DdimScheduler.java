package dev.winnow.diffusion.scheduler;

/**
 * DDIM (Song et al. 2021, "Denoising Diffusion Implicit Models"), deterministic (η = 0),
 * following diffusers' {@code DDIMScheduler}.
 *
 * <p>Notation: ᾱ_t = {@code alphaProd} (the paper's α_t), x_t = {@code sample},
 * ε_θ(x_t) = {@code modelOutput} (after conversion for v/sample prediction).
 */
public final class DdimScheduler extends SteppedScheduler implements Scheduler {

    private final NoiseSchedule schedule;
    private int stepRatio;

    public DdimScheduler(NoiseSchedule schedule) {
        this.schedule = schedule;
    }

    @Override
    public void setTimesteps(int steps) {
        requireSteps(steps, schedule);
        timesteps = Timesteps.roundAll(Timesteps.spaced(schedule.config(), steps));
        stepRatio = schedule.trainSteps() / steps;
        stepIndex = 0;
    }

    @Override
    public StepResult step(float[] modelOutput, float[] sample, GaussianNoise noise) {
        int t = (int) timesteps[stepIndex];
        // 1. previous timestep: diffusers always steps back by T // n, whatever the spacing
        int prev = t - stepRatio;
        // 2. ᾱ_t and ᾱ_{t-1}
        double alphaProd = schedule.alphaCumprod(t);
        double alphaProdPrev = prev >= 0 ? schedule.alphaCumprod(prev) : schedule.finalAlphaCumprod();
        // 3. "predicted x_0", eq. (12)
        String type = schedule.config().predictionType();
        float[] x0 = Predictions.originalFromAlpha(type, modelOutput, sample, alphaProd);
        float[] eps = "epsilon".equals(type) ? modelOutput : Predictions.epsilonFrom(sample, x0, alphaProd);
        // 4-6. σ_t = 0 (η = 0): x_{t-1} = sqrt(ᾱ_{t-1})·x̂_0 + sqrt(1 - ᾱ_{t-1})·ε̂, eq. (12)
        double a = Math.sqrt(alphaProdPrev);
        double b = Math.sqrt(1 - alphaProdPrev);
        float[] prevSample = new float[sample.length];
        for (int i = 0; i < sample.length; i++) {
            prevSample[i] = (float) (a * x0[i] + b * eps[i]);
        }
        stepIndex++;
        return new StepResult(prevSample, x0);
    }

    @Override
    public String name() {
        return "ddim";
    }
}
