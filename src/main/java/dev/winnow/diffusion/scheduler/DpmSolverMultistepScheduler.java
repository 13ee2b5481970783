package dev.winnow.diffusion.scheduler;

/**
 * DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", Algorithm 2), as diffusers'
 * {@code DPMSolverMultistepScheduler} with {@code algorithm_type="dpmsolver++"}: first or second
 * order ({@code solver_order}), the {@code midpoint} or {@code heun} second-order update,
 * {@code lower_order_final}, {@code euler_at_final}, {@code final_sigmas_type}, and the Karras
 * σ schedule ({@code use_karras_sigmas}: "DPM++ 2M Karras").
 *
 * <p>Notation: α_t = 1/sqrt(σ²+1), σ_t = σ·α_t, λ_t = log α_t - log σ_t (half log-SNR),
 * h = λ_t - λ_s. The model output is converted to x̂_0 (the data prediction) and the solver
 * keeps the last two.
 */
public final class DpmSolverMultistepScheduler extends SteppedScheduler implements Scheduler {

    private final NoiseSchedule schedule;
    private double[] sigmas = {0};
    private float[] previousX0;
    /** The buffer the next x̂_0 goes into: it and {@code previousX0} swap roles every step. */
    private float[] nextX0;

    public DpmSolverMultistepScheduler(NoiseSchedule schedule) {
        this.schedule = schedule;
    }

    @Override
    public void setTimesteps(int steps) {
        requireSteps(steps, schedule);
        SigmaSchedule plan = SigmaSchedule.dpmSolver(schedule, steps);
        timesteps = plan.timesteps();
        sigmas = plan.sigmas();
        stepIndex = 0;
        previousX0 = null;
        nextX0 = null;
    }

    @Override
    public double[] sigmas() {
        return sigmas.clone();
    }

    @Override
    public float[] stepInPlace(float[] modelOutput, float[] sample, GaussianNoise noise) {
        SchedulerSettings c = schedule.settings();
        double sigmaS0 = sigmas[stepIndex];
        double alphaS0 = alpha(sigmaS0);
        // convert_model_output: x̂_0 = (x - σ_t·ε̂) / α_t in the alpha-sigma form of the sample
        float[] x0 = Predictions.originalFromAlpha(c.predictionType(), modelOutput, sample, alphaS0 * alphaS0,
                own(nextX0, sample.length));
        double sigmaT = sigmas[stepIndex + 1];
        double alphaT = alpha(sigmaT);
        double sT = sigmaT * alphaT;
        double sS0 = sigmaS0 * alphaS0;
        double lambdaT = Math.log(alphaT) - Math.log(sT);   // +∞ at a final σ = 0, so e^{-h} = 0
        double lambdaS0 = Math.log(alphaS0) - Math.log(sS0);
        double h = lambdaT - lambdaS0;
        double expm = Math.exp(-h) - 1;
        // "improve numerical stability for small numbers of steps": the last step is first order when
        // euler_at_final, or lower_order_final with fewer than 15 steps, or the final σ is 0
        boolean last = stepIndex == timesteps.length - 1;
        boolean lowerOrderFinal = last && (c.eulerAtFinal() || (c.lowerOrderFinal() && timesteps.length < 15)
                || "zero".equals(c.finalSigmasType()));
        boolean firstOrder = c.solverOrder() == 1 || previousX0 == null || lowerOrderFinal;
        if (firstOrder) {
            // dpm_solver_first_order_update: x_t = (σ_t/σ_s)·x_s - α_t·(e^{-h} - 1)·x̂_0
            for (int i = 0; i < sample.length; i++) {
                sample[i] = (float) (sT / sS0 * sample[i] - alphaT * expm * x0[i]);
            }
        } else {
            // multistep_dpm_solver_second_order_update: D0 = m0, D1 = (m0 - m1)/r0
            double sigmaS1 = sigmas[stepIndex - 1];
            double alphaS1 = alpha(sigmaS1);
            double lambdaS1 = Math.log(alphaS1) - Math.log(sigmaS1 * alphaS1);
            double r0 = (lambdaS0 - lambdaS1) / h;
            boolean midpoint = "midpoint".equals(c.solverType());
            // midpoint: - ½·α_t·(e^{-h} - 1)·D1;  heun: + α_t·((e^{-h} - 1)/h + 1)·D1
            double d1Weight = midpoint ? -0.5 * alphaT * expm : alphaT * (expm / h + 1);
            for (int i = 0; i < sample.length; i++) {
                double d1 = (x0[i] - previousX0[i]) / r0;
                sample[i] = (float) (sT / sS0 * sample[i] - alphaT * expm * x0[i] + d1Weight * d1);
            }
        }
        nextX0 = previousX0; // the older estimate's buffer takes the next one
        previousX0 = x0;
        stepIndex++;
        return x0;
    }

    private static double alpha(double sigma) {
        return 1 / Math.sqrt(sigma * sigma + 1);
    }

    @Override
    public String name() {
        return "dpmpp_2m";
    }
}
