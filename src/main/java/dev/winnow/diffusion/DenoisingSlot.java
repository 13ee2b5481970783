package dev.winnow.diffusion;

import dev.winnow.diffusion.scheduler.GaussianNoise;
import dev.winnow.diffusion.scheduler.Scheduler;

/**
 * One candidate being denoised: its seed's noise generator, its own scheduler and its
 * latents. A slot's image depends only on its seed and settings, never on which other slots
 * share its UNet calls. Not thread-safe: the engine loop owns it.
 *
 * <p>Steps allocate nothing: the latents are stepped in place, and one buffer per slot takes
 * the scaled model input on its way into a call and the guided model output on its way back.
 */
public final class DenoisingSlot {

    private final long seed;
    private final Scheduler scheduler;
    private final GaussianNoise noise;
    private final PromptEmbedding prompt;
    private final double guidanceScale;
    private final int latentHeight;
    private final int latentWidth;
    /** {@link #shapeKey()}, made once: the scheduler reads it for every slot at every step. */
    private final String shapeKey;
    private final float[] latents;
    /** The model's (guided) output for the next step; before the call, scratch for the scaled input. */
    private final float[] modelOutput;
    /** The clean latents the last step predicted (x̂₀, the scheduler's own buffer); null before the first step. */
    private float[] predictedOriginal;
    /** Dropped from its job before the end (speculative best-of-N): it takes no more steps and is never decoded. */
    private boolean pruned;

    DenoisingSlot(long seed, NoiseGenerator generator, Scheduler scheduler, PromptEmbedding prompt,
                  double guidanceScale, int channels, int latentHeight, int latentWidth) {
        this.seed = seed;
        this.scheduler = scheduler;
        this.noise = generator.create(seed);
        this.prompt = prompt;
        this.guidanceScale = guidanceScale;
        this.latentHeight = latentHeight;
        this.latentWidth = latentWidth;
        this.shapeKey = latentHeight + "x" + latentWidth;
        // x_T = σ_init · N(0, I), drawn first from the slot's own generator
        float[] x = new float[channels * latentHeight * latentWidth];
        noise.fill(x);
        float sigma = (float) scheduler.initNoiseSigma();
        for (int i = 0; i < x.length; i++) {
            x[i] *= sigma;
        }
        this.latents = x;
        this.modelOutput = new float[x.length];
    }

    public long seed() {
        return seed;
    }

    /** Every step taken, or pruned: either way it takes no more UNet rows. */
    public boolean isDone() {
        return pruned || scheduler.isDone();
    }

    /** Whether it was dropped before its last step ({@link #prune()}). */
    public boolean isPruned() {
        return pruned;
    }

    /** Drops the candidate: it takes no further step, and its latents are never decoded into an image. */
    public void prune() {
        pruned = true;
    }

    /**
     * A copy of the clean latents (x̂₀) that the last step predicted: what the candidate would look
     * like if denoising stopped here, the preview that pruning judges.
     *
     * @throws IllegalStateException before the first step
     */
    public float[] predictedOriginal() {
        if (predictedOriginal == null) {
            throw new IllegalStateException("no step taken yet: nothing predicted");
        }
        return predictedOriginal.clone();
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
        return shapeKey;
    }

    /** The current latents (the slot's own array, changed in place by every step). */
    public float[] latents() {
        return latents;
    }

    Scheduler scheduler() {
        return scheduler;
    }

    PromptEmbedding prompt() {
        return prompt;
    }

    /** The UNet's input for this step: the latents, or them scaled into the output buffer (a scratch until the call returns). */
    float[] modelInput() {
        return scheduler.modelInput(latents, modelOutput);
    }

    /** Where the call's output for this slot goes (the unconditional row's, with guidance, until {@link #guide}). */
    float[] modelOutput() {
        return modelOutput;
    }

    /** The timestep of the step it takes next: rows at different ones cannot share a call to a single-timestep UNet. */
    public double currentTimestep() {
        return scheduler.currentTimestep();
    }

    /**
     * Classifier-free guidance, in place: the output buffer holds the unconditional row's output,
     * {@code cond} the conditional row's; afterwards the buffer holds the guided output.
     */
    void guide(float[] cond) {
        // ε = ε_uncond + s · (ε_cond - ε_uncond)  (Ho & Salimans 2022, eq. 6)
        float s = (float) guidanceScale;
        float[] out = modelOutput;
        for (int i = 0; i < out.length; i++) {
            out[i] = out[i] + s * (cond[i] - out[i]);
        }
    }

    /** Takes one step with the (guided) model output in {@link #modelOutput()}, in place. */
    void advance() {
        predictedOriginal = scheduler.stepInPlace(modelOutput, latents, noise);
    }
}
