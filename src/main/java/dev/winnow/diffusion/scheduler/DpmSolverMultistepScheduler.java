package dev.winnow.diffusion.scheduler;

/**
 * DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", Algorithm 2), as diffusers'
 * {@code DPMSolverMultistepScheduler} with its defaults: {@code algorithm_type="dpmsolver++"},
 * {@code solver_order=2}, {@code solver_type="midpoint"}, {@code lower_order_final=True},
 * {@code final_sigmas_type="zero"}.
 *
 * <p>Notation: α_t = 1/sqrt(σ²+1), σ_t = σ·α_t, λ_t = log α_t - log σ_t (half log-SNR),
 * h = λ_t - λ_s. The model output is converted to x̂_0 (the data prediction) and the solver
 * keeps the last two.
 */
public final class DpmSolverMultistepScheduler extends SteppedScheduler implements Scheduler {

    private final NoiseSchedule schedule;
    private double[] sigmas = {0};
    private float[] previousX0;

    public DpmSolverMultistepScheduler(NoiseSchedule schedule) {
        this.schedule = schedule;
    }

    @Override
    public void setTimesteps(int steps) {
        requireSteps(steps, schedule);
        SigmaSchedule plan = SigmaSchedule.withSigmas(schedule, Timesteps.dpmSolver(schedule.config(), steps));
        timesteps = plan.timesteps();
        sigmas = plan.sigmas();
        stepIndex = 0;
        previousX0 = null;
    }

    public double[] sigmas() {
        return sigmas.clone();
    }

    @Override
    public StepResult step(float[] modelOutput, float[] sample, GaussianNoise noise) {
        double[] sig = sigmas;
        double sigmaS0 = sig[stepIndex];
        double alphaS0 = alpha(sigmaS0);
        // convert_model_output: x̂_0 = (x - σ_t·ε̂) / α_t in the alpha-sigma form of the sample
        float[] x0 = Predictions.originalFromAlpha(schedule.config().predictionType(), modelOutput, sample,
                alphaS0 * alphaS0);
        double sigmaT = sig[stepIndex + 1];
        double alphaT = alpha(sigmaT);
        double sT = sigmaT * alphaT;
        double sS0 = sigmaS0 * alphaS0;
        double lambdaT = Math.log(alphaT) - Math.log(sT);   // +∞ at the final σ = 0, so e^{-h} = 0
        double lambdaS0 = Math.log(alphaS0) - Math.log(sS0);
        double h = lambdaT - lambdaS0;
        double expm = Math.exp(-h) - 1;
        boolean last = stepIndex == timesteps.length - 1;
        boolean firstOrder = previousX0 == null || last; // lower_order_final / final_sigmas_type="zero"
        float[] prev = new float[sample.length];
        if (firstOrder) {
            // dpm_solver_first_order_update: x_t = (σ_t/σ_s)·x_s - α_t·(e^{-h} - 1)·x̂_0
            for (int i = 0; i < sample.length; i++) {
                prev[i] = (float) (ratio(sT, sS0) * sample[i] - alphaT * expm * x0[i]);
            }
        } else {
            // multistep_dpm_solver_second_order_update, midpoint: D0 = m0, D1 = (m0 - m1)/r0
            double sigmaS1 = sig[stepIndex - 1];
            double alphaS1 = alpha(sigmaS1);
            double lambdaS1 = Math.log(alphaS1) - Math.log(sigmaS1 * alphaS1);
            double r0 = (lambdaS0 - lambdaS1) / h;
            for (int i = 0; i < sample.length; i++) {
                double d1 = (x0[i] - previousX0[i]) / r0;
                prev[i] = (float) (ratio(sT, sS0) * sample[i] - alphaT * expm * x0[i] - 0.5 * alphaT * expm * d1);
            }
        }
        previousX0 = x0;
        stepIndex++;
        return new StepResult(prev, x0);
    }

    private static double alpha(double sigma) {
        return 1 / Math.sqrt(sigma * sigma + 1);
    }

    private static double ratio(double sigmaT, double sigmaS) {
        return sigmaT / sigmaS;
    }

    @Override
    public String name() {
        return "dpmpp_2m";
    }
}
