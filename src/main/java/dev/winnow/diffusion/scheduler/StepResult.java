package dev.winnow.diffusion.scheduler;

/**
 * One denoising step's outcome.
 *
 * @param prevSample     x_{t-1}: the latents for the next step (a new array)
 * @param predOriginal   the model's current estimate of x_0 (a new array), useful for previews
 */
public record StepResult(float[] prevSample, float[] predOriginal) {
}
