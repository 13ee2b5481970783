package dev.winnow.diffusion.scheduler;

/**
 * The discrete training schedule: betas, alphas and their cumulative products, and the
 * matching Karras-style sigmas {@code sqrt((1 - ᾱ_t) / ᾱ_t)}. Immutable, shared by all
 * schedulers built from the same config.
 */
public final class NoiseSchedule {

    private final SchedulerConfig config;
    private final double[] alphasCumprod;
    private final double[] sigmas;

    public NoiseSchedule(SchedulerConfig config) {
        this.config = config;
        int n = config.numTrainTimesteps();
        double[] betas = new double[n];
        switch (config.betaSchedule()) {
            case "linear" -> {
                for (int i = 0; i < n; i++) {
                    betas[i] = linspace(config.betaStart(), config.betaEnd(), n, i);
                }
            }
            case "scaled_linear" -> {
                // diffusers: torch.linspace(beta_start**0.5, beta_end**0.5, n) ** 2 (the latent-diffusion schedule)
                for (int i = 0; i < n; i++) {
                    double s = linspace(Math.sqrt(config.betaStart()), Math.sqrt(config.betaEnd()), n, i);
                    betas[i] = s * s;
                }
            }
            case "squaredcos_cap_v2" -> {
                // Nichol & Dhariwal 2021, eq. 17 (betas_for_alpha_bar with the cosine alpha_bar, max beta 0.999)
                for (int i = 0; i < n; i++) {
                    double t1 = (double) i / n;
                    double t2 = (double) (i + 1) / n;
                    betas[i] = Math.min(1 - cosineAlphaBar(t2) / cosineAlphaBar(t1), 0.999);
                }
            }
            default -> throw new IllegalArgumentException(config.betaSchedule());
        }
        alphasCumprod = new double[n];
        sigmas = new double[n];
        double prod = 1;
        for (int i = 0; i < n; i++) {
            prod *= 1 - betas[i];
            alphasCumprod[i] = prod;
            sigmas[i] = Math.sqrt((1 - prod) / prod);
        }
    }

    private static double cosineAlphaBar(double t) {
        double c = Math.cos((t + 0.008) / 1.008 * Math.PI / 2);
        return c * c;
    }

    private static double linspace(double start, double end, int n, int i) {
        return n == 1 ? start : start + (end - start) * i / (n - 1);
    }

    public SchedulerConfig config() {
        return config;
    }

    public int trainSteps() {
        return alphasCumprod.length;
    }

    /** ᾱ_t for an integer training timestep. */
    public double alphaCumprod(int t) {
        return alphasCumprod[t];
    }

    /** ᾱ used for the step past the last one: 1 when {@code set_alpha_to_one}, else ᾱ_0 (diffusers' final_alpha_cumprod). */
    public double finalAlphaCumprod() {
        return config.setAlphaToOne() ? 1.0 : alphasCumprod[0];
    }

    /** σ(t) = sqrt((1 - ᾱ_t) / ᾱ_t), linearly interpolated at fractional t (numpy's {@code interp}). */
    public double sigmaAt(double t) {
        if (t <= 0) {
            return sigmas[0];
        }
        int last = sigmas.length - 1;
        if (t >= last) {
            return sigmas[last];
        }
        int lo = (int) Math.floor(t);
        double w = t - lo;
        return sigmas[lo] * (1 - w) + sigmas[lo + 1] * w;
    }
}
