package dev.winnow.diffusion.scheduler;

/**
 * Turns the model's output into x̂_0 (and ε̂) for the three prediction types, with
 * x_t = sqrt(ᾱ)·x_0 + sqrt(1-ᾱ)·ε (DDPM eq. 4). v-prediction: v = sqrt(ᾱ)·ε - sqrt(1-ᾱ)·x_0
 * (Salimans & Ho 2022, "Progressive distillation", sec. 4).
 */
final class Predictions {

    private Predictions() {
    }

    /** x̂_0 from the model output at a timestep with cumulative alpha {@code alphaProd}, written into {@code x0}. */
    static float[] originalFromAlpha(String predictionType, float[] out, float[] x, double alphaProd, float[] x0) {
        double a = Math.sqrt(alphaProd);
        double b = Math.sqrt(1 - alphaProd);
        switch (predictionType) {
            case "epsilon" -> {
                for (int i = 0; i < x.length; i++) {
                    x0[i] = (float) ((x[i] - b * out[i]) / a);
                }
            }
            case "v_prediction" -> {
                for (int i = 0; i < x.length; i++) {
                    x0[i] = (float) (a * x[i] - b * out[i]);
                }
            }
            case "sample" -> System.arraycopy(out, 0, x0, 0, x.length);
            default -> throw new IllegalArgumentException(predictionType);
        }
        return x0;
    }

    /** DDIM and LCM's {@code clip_sample}: clamps x̂_0 in place to ±{@code clip_sample_range} (no-op when off). */
    static void clip(float[] x0, SchedulerSettings settings) {
        if (!settings.clipSample()) {
            return;
        }
        float r = (float) settings.clipSampleRange();
        for (int i = 0; i < x0.length; i++) {
            x0[i] = Math.max(-r, Math.min(r, x0[i]));
        }
    }

    /**
     * x̂_0 in the sigma parameterisation (Karras et al. 2022), where the sample is
     * x = x_0 + σ·ε and the model sees x / sqrt(σ² + 1) (diffusers' Euler schedulers). Written into {@code x0}.
     */
    static float[] originalFromSigma(String predictionType, float[] out, float[] x, double sigma, float[] x0) {
        switch (predictionType) {
            case "epsilon" -> {
                for (int i = 0; i < x.length; i++) {
                    x0[i] = (float) (x[i] - sigma * out[i]);
                }
            }
            case "v_prediction" -> {
                // diffusers: model_output * (-sigma / (sigma**2 + 1) ** 0.5) + sample / (sigma**2 + 1)
                double c1 = -sigma / Math.sqrt(sigma * sigma + 1);
                double c2 = 1 / (sigma * sigma + 1);
                for (int i = 0; i < x.length; i++) {
                    x0[i] = (float) (out[i] * c1 + x[i] * c2);
                }
            }
            case "sample" -> System.arraycopy(out, 0, x0, 0, x.length);
            default -> throw new IllegalArgumentException(predictionType);
        }
        return x0;
    }
}
