package dev.winnow.diffusion.scheduler;

/**
 * The discrete training schedule of one sampler's settings: betas, the cumulative products
 * ᾱ_t = Π(1 - β_s) and the matching sigmas σ_t = sqrt((1 - ᾱ_t) / ᾱ_t). Computed in float32
 * the way diffusers computes them with torch ({@code torch.linspace(..., dtype=float32)},
 * {@code cumprod}, which accumulates in double on the CPU and stores float32), so the numbers
 * are diffusers' to the last bit or so. Immutable, shared by every scheduler of those settings.
 */
public final class NoiseSchedule {

    private final SchedulerSettings settings;
    private final double[] alphasCumprod;
    private final double[] sigmas;

    public NoiseSchedule(SchedulerSettings settings) {
        this.settings = settings;
        int n = settings.numTrainTimesteps();
        float[] betas = switch (settings.betaSchedule()) {
            case "linear" -> torchLinspace((float) settings.betaStart(), (float) settings.betaEnd(), n);
            case "scaled_linear" -> {
                // diffusers: torch.linspace(beta_start**0.5, beta_end**0.5, n) ** 2 (the latent-diffusion schedule)
                float[] roots = torchLinspace((float) Math.sqrt(settings.betaStart()), (float) Math.sqrt(settings.betaEnd()), n);
                for (int i = 0; i < n; i++) {
                    roots[i] = roots[i] * roots[i];
                }
                yield roots;
            }
            case "squaredcos_cap_v2" -> {
                // Nichol & Dhariwal 2021, eq. 17 (betas_for_alpha_bar with the cosine ᾱ, max β 0.999), in float64
                float[] b = new float[n];
                for (int i = 0; i < n; i++) {
                    double t1 = (double) i / n;
                    double t2 = (double) (i + 1) / n;
                    b[i] = (float) Math.min(1 - cosineAlphaBar(t2) / cosineAlphaBar(t1), 0.999);
                }
                yield b;
            }
            default -> throw new IllegalArgumentException(settings.betaSchedule());
        };
        alphasCumprod = new double[n];
        sigmas = new double[n];
        double prod = 1;
        for (int i = 0; i < n; i++) {
            prod *= 1f - betas[i];
            float acp = (float) prod;
            alphasCumprod[i] = acp;
            sigmas[i] = (float) Math.sqrt((1f - acp) / acp);
        }
    }

    /** torch.linspace in float32: start + step·i for the first half, end - step·(n-1-i) for the second. */
    private static float[] torchLinspace(float start, float end, int n) {
        float[] out = new float[n];
        if (n == 1) {
            out[0] = start;
            return out;
        }
        float step = (end - start) / (n - 1);
        int halfway = n / 2;
        for (int i = 0; i < n; i++) {
            out[i] = i < halfway ? start + step * i : end - step * (n - i - 1);
        }
        return out;
    }

    private static double cosineAlphaBar(double t) {
        double c = Math.cos((t + 0.008) / 1.008 * Math.PI / 2);
        return c * c;
    }

    public SchedulerSettings settings() {
        return settings;
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
        return settings.setAlphaToOne() ? 1.0 : alphasCumprod[0];
    }

    /** σ_t of the training schedule at an integer timestep. */
    public double sigma(int t) {
        return sigmas[t];
    }

    /** σ(t), linearly interpolated at fractional t as numpy's {@code interp} does (in float64). */
    public double sigmaAt(double t) {
        if (t <= 0) {
            return sigmas[0];
        }
        int last = sigmas.length - 1;
        if (t >= last) {
            return sigmas[last];
        }
        int lo = (int) Math.floor(t);
        double slope = sigmas[lo + 1] - sigmas[lo];
        return slope * (t - lo) + sigmas[lo];
    }

    /**
     * The inverse: the (fractional) timestep whose σ is {@code sigma}, interpolating log σ between
     * neighbouring training steps (diffusers' {@code _sigma_to_t}, used by the Karras schedule).
     */
    public double timestepOf(double sigma) {
        double logSigma = Math.log(Math.max(sigma, 1e-10));
        int n = sigmas.length;
        // low = the last index whose log σ is ≤ log sigma, clipped to n - 2
        int low = 0;
        for (int i = 0; i < n; i++) {
            if (logSigma - logSigma(i) >= 0) {
                low = i;
            }
        }
        low = Math.min(low, n - 2);
        double lo = logSigma(low);
        double hi = logSigma(low + 1);
        double w = Math.max(0, Math.min(1, (lo - logSigma) / (lo - hi)));
        return (1 - w) * low + w * (low + 1);
    }

    /** numpy's float32 log of the float32 σ table. */
    private double logSigma(int i) {
        return (float) Math.log(sigmas[i]);
    }
}
