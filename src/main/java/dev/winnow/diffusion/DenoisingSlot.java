package dev.winnow.diffusion;

import dev.winnow.diffusion.scheduler.Scheduler;
import dev.winnow.diffusion.scheduler.StepResult;

/**
 * One candidate being denoised: its seed's noise generator, its own scheduler and its
 * latents. A slot's image depends only on its seed and settings, never on which other slots
 * share its UNet calls. Not thread-safe: the engine loop owns it.
 */
public final class DenoisingSlot {

    private final long seed;
    private final Scheduler scheduler;
    private final SeededGaussian noise;
    private final PromptEmbedding prompt;
    private final double guidanceScale;
    private final int latentHeight;
    private final int latentWidth;
    private float[] latents;

    DenoisingSlot(long seed, Scheduler scheduler, PromptEmbedding prompt, double guidanceScale,
                  int channels, int latentHeight, int latentWidth) {
        this.seed = seed;
        this.scheduler = scheduler;
        this.noise = new SeededGaussian(seed);
        this.prompt = prompt;
        this.guidanceScale = guidanceScale;
        this.latentHeight = latentHeight;
        this.latentWidth = latentWidth;
        // x_T = σ_init · N(0, I), drawn first from the slot's own generator
        float[] x = new float[channels * latentHeight * latentWidth];
        noise.fill(x);
        float sigma = (float) scheduler.initNoiseSigma();
        for (int i = 0; i < x.length; i++) {
            x[i] *= sigma;
        }
        this.latents = x;
    }

    public long seed() {
        return seed;
    }

    public boolean isDone() {
        return scheduler.isDone();
    }

    public int stepIndex() {
        return scheduler.stepIndex();
    }

    public int totalSteps() {
        return scheduler.timesteps().length;
    }

    /** Classifier-free guidance is skipped when the scale is ≤ 1 (one UNet row instead of two). */
    public boolean usesGuidance() {
        return guidanceScale > 1.0;
    }

    public int rows() {
        return usesGuidance() ? 2 : 1;
    }

    public int latentHeight() {
        return latentHeight;
    }

    public int latentWidth() {
        return latentWidth;
    }

    /** Slots with the same key can share a UNet call. */
    public String shapeKey() {
        return latentHeight + "x" + latentWidth;
    }

    public float[] latents() {
        return latents;
    }

    Scheduler scheduler() {
        return scheduler;
    }

    PromptEmbedding prompt() {
        return prompt;
    }

    /**
     * Applies one step with this slot's UNet rows.
     *
     * @param uncond the unconditional row's output, or null without guidance
     * @param cond   the conditional row's output
     */
    void advance(float[] uncond, float[] cond) {
        float[] guided = cond;
        if (uncond != null) {
            // ε = ε_uncond + s · (ε_cond - ε_uncond)  (Ho & Salimans 2022, eq. 6)
            guided = new float[cond.length];
            float s = (float) guidanceScale;
            for (int i = 0; i < cond.length; i++) {
                guided[i] = uncond[i] + s * (cond[i] - uncond[i]);
            }
        }
        StepResult r = scheduler.step(guided, latents, noise);
        latents = r.prevSample();
    }
}
