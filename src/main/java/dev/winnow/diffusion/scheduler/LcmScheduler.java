package dev.winnow.diffusion.scheduler;

/**
 * Latent Consistency Model multistep sampling (Luo et al. 2023, "Latent Consistency Models",
 * Algorithm 3), as diffusers' {@code LCMScheduler} with its defaults:
 * {@code original_inference_steps=50}, {@code timestep_scaling=10}, σ_data = 0.5.
 *
 * <p>Each step evaluates the consistency function f(x, t) = c_skip(t)·x + c_out(t)·x̂_0 and
 * re-noises it to the next timestep with the candidate's own noise (except after the last step).
 * The boundary condition f(x, 0) = x holds because c_skip(0) = 1 and c_out(0) = 0.
 */
public final class LcmScheduler extends SteppedScheduler implements Scheduler {

    static final int ORIGINAL_INFERENCE_STEPS = 50;
    static final double TIMESTEP_SCALING = 10.0;
    static final double SIGMA_DATA = 0.5;

    private final NoiseSchedule schedule;

    public LcmScheduler(NoiseSchedule schedule) {
        this.schedule = schedule;
    }

    @Override
    public void setTimesteps(int steps) {
        if (steps < 1 || steps > ORIGINAL_INFERENCE_STEPS) {
            throw new IllegalArgumentException("LCM steps must be within 1.." + ORIGINAL_INFERENCE_STEPS + ", got " + steps);
        }
        // LCM's skipping schedule: k = T // original_steps; origin = [1..original]·k - 1;
        // take floor(linspace(0, len, n, endpoint=False)) of the reversed origin list.
        int k = schedule.trainSteps() / ORIGINAL_INFERENCE_STEPS;
        int len = ORIGINAL_INFERENCE_STEPS;
        timesteps = new double[steps];
        for (int i = 0; i < steps; i++) {
            int index = (int) Math.floor((double) len * i / steps);
            int originIndex = len - 1 - index;           // reversed
            timesteps[i] = (originIndex + 1) * k - 1;
        }
        stepIndex = 0;
    }

    /** c_skip(t) = σ_data² / ((t·s)² + σ_data²), the consistency model's skip weight. */
    static double cSkip(double t) {
        double st = t * TIMESTEP_SCALING;
        return SIGMA_DATA * SIGMA_DATA / (st * st + SIGMA_DATA * SIGMA_DATA);
    }

    /** c_out(t) = (t·s) / sqrt((t·s)² + σ_data²). */
    static double cOut(double t) {
        double st = t * TIMESTEP_SCALING;
        return st / Math.sqrt(st * st + SIGMA_DATA * SIGMA_DATA);
    }

    @Override
    public StepResult step(float[] modelOutput, float[] sample, GaussianNoise noise) {
        int t = (int) timesteps[stepIndex];
        boolean last = stepIndex == timesteps.length - 1;
        int prevT = last ? t : (int) timesteps[stepIndex + 1];
        double alphaProd = schedule.alphaCumprod(t);
        double alphaProdPrev = prevT >= 0 ? schedule.alphaCumprod(prevT) : schedule.finalAlphaCumprod();
        float[] x0 = Predictions.originalFromAlpha(schedule.config().predictionType(), modelOutput, sample, alphaProd);
        double skip = cSkip(t);
        double out = cOut(t);
        float[] denoised = new float[sample.length];
        for (int i = 0; i < sample.length; i++) {
            denoised[i] = (float) (out * x0[i] + skip * sample[i]);
        }
        float[] prev;
        if (last) {
            prev = denoised.clone();
        } else {
            float[] z = new float[sample.length];
            noise.fill(z);
            double a = Math.sqrt(alphaProdPrev);
            double b = Math.sqrt(1 - alphaProdPrev);
            prev = new float[sample.length];
            for (int i = 0; i < sample.length; i++) {
                prev[i] = (float) (a * denoised[i] + b * z[i]);
            }
        }
        stepIndex++;
        return new StepResult(prev, denoised);
    }

    @Override
    public String name() {
        return "lcm";
    }
}
