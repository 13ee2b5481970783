package dev.winnow.diffusion.scheduler;

/**
 * Latent Consistency Model multistep sampling (Luo et al. 2023, "Latent Consistency Models",
 * Algorithm 3), as diffusers' {@code LCMScheduler}: {@code original_inference_steps} (50) and
 * {@code timestep_scaling} (10) from the config, σ_data = 0.5.
 *
 * <p>Each step evaluates the consistency function f(x, t) = c_skip(t)·x + c_out(t)·x̂_0 and
 * re-noises it to the next timestep with the candidate's own noise (except after the last step).
 * The boundary condition f(x, 0) = x holds because c_skip(0) = 1 and c_out(0) = 0.
 */
public final class LcmScheduler extends SteppedScheduler implements Scheduler {

    static final double SIGMA_DATA = 0.5;

    private final NoiseSchedule schedule;
    private float[] x0;
    /** The consistency function's output f(x, t): this step's x̂_0 estimate. */
    private float[] denoised;
    private float[] z;

    public LcmScheduler(NoiseSchedule schedule) {
        this.schedule = schedule;
    }

    @Override
    public void setTimesteps(int steps) {
        int original = schedule.settings().originalInferenceSteps();
        if (steps < 1 || steps > original) {
            throw new IllegalArgumentException("LCM steps must be within 1.." + original + ", got " + steps);
        }
        timesteps = Timesteps.lcm(schedule.settings(), steps);
        stepIndex = 0;
    }

    /** c_skip(t) = σ_data² / ((t·s)² + σ_data²), the consistency model's skip weight (s = timestep_scaling). */
    static double cSkip(double t, double scaling) {
        double st = t * scaling;
        return SIGMA_DATA * SIGMA_DATA / (st * st + SIGMA_DATA * SIGMA_DATA);
    }

    /** c_out(t) = (t·s) / sqrt((t·s)² + σ_data²). */
    static double cOut(double t, double scaling) {
        double st = t * scaling;
        return st / Math.sqrt(st * st + SIGMA_DATA * SIGMA_DATA);
    }

    @Override
    public float[] stepInPlace(float[] modelOutput, float[] sample, GaussianNoise noise) {
        SchedulerSettings c = schedule.settings();
        int t = (int) timesteps[stepIndex];
        boolean last = stepIndex == timesteps.length - 1;
        int prevT = last ? t : (int) timesteps[stepIndex + 1];
        double alphaProd = schedule.alphaCumprod(t);
        double alphaProdPrev = prevT >= 0 ? schedule.alphaCumprod(prevT) : schedule.finalAlphaCumprod();
        x0 = Predictions.originalFromAlpha(c.predictionType(), modelOutput, sample, alphaProd, own(x0, sample.length));
        Predictions.clip(x0, c);
        double skip = cSkip(t, c.timestepScaling());
        double out = cOut(t, c.timestepScaling());
        denoised = own(denoised, sample.length);
        for (int i = 0; i < sample.length; i++) {
            denoised[i] = (float) (out * x0[i] + skip * sample[i]);
        }
        if (last) {
            System.arraycopy(denoised, 0, sample, 0, sample.length);
        } else {
            z = own(z, sample.length);
            noise.fill(z);
            double a = Math.sqrt(alphaProdPrev);
            double b = Math.sqrt(1 - alphaProdPrev);
            for (int i = 0; i < sample.length; i++) {
                sample[i] = (float) (a * denoised[i] + b * z[i]);
            }
        }
        stepIndex++;
        return denoised;
    }

    @Override
    public String name() {
        return "lcm";
    }
}
