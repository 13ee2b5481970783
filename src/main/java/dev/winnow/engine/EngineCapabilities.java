package dev.winnow.engine;

import dev.winnow.diffusion.scheduler.Schedulers;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * What the engine in service can do, in the terms a request is checked in: the API reads this
 * and never the pipeline or its schedulers. Taken from the model set in service when asked (a
 * live swap may change it). Immutable.
 *
 * @param pipeline    the pipeline pack's name (the OpenAI route's {@code model})
 * @param schedulers  the schedulers a request may name
 * @param maxSteps    the most steps a request may ask for, before a scheduler's own limit
 * @param sizes       the image sides the pipeline's UNet takes
 * @param tokenWindow the tokenizer's window: prompt tokens past it are cut off
 * @param canPrune    whether a request may ask for pruning (a judge for x̂₀ previews is loaded)
 * @param scoreNames  the scores a request's {@code ranking_weights} may name
 */
public record EngineCapabilities(String pipeline, List<String> schedulers, int maxSteps, Sizes sizes, int tokenWindow,
                                 boolean canPrune, Set<String> scoreNames) {

    /** Every scheduler the engine implements (what a configured default may name). */
    public static final List<String> SCHEDULERS = Schedulers.NAMES;

    /** LCM's distilled schedule has 50 steps ({@code original_inference_steps}): it cannot take more. */
    static final int LCM_MAX_STEPS = 50;

    public EngineCapabilities {
        schedulers = List.copyOf(schedulers);
        scoreNames = Set.copyOf(scoreNames);
    }

    /**
     * The image sides a pipeline takes.
     *
     * @param defaultSide the side when a request names none
     * @param fixedWidth  the only width its UNet takes, or 0 when it takes any multiple of {@code step}
     * @param fixedHeight likewise for the height
     * @param step        the pixels a side must be a multiple of (the VAE's scale times the UNet's downsamplings)
     * @param min         the smallest side, a multiple of {@code step}
     * @param max         the largest side, a multiple of {@code step}
     */
    public record Sizes(int defaultSide, int fixedWidth, int fixedHeight, int step, int min, int max) {
    }

    /** Whether {@code name} (in any case) is one of the engine's schedulers. */
    public static boolean isScheduler(String name) {
        return Schedulers.isKnown(name);
    }

    /** Whether a request may name {@code scheduler} (in any case). */
    public boolean offers(String scheduler) {
        return scheduler != null && schedulers.contains(scheduler.toLowerCase(Locale.ROOT));
    }

    /** The most steps a request with {@code scheduler} may ask for. */
    public int maxSteps(String scheduler) {
        return "lcm".equals(scheduler) ? Math.min(LCM_MAX_STEPS, maxSteps) : maxSteps;
    }
}
