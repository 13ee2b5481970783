package dev.winnow.engine;

import java.util.Map;

/**
 * A validated generation job: everything that decides its images, plus how to answer.
 *
 * @param seed            candidate {@code i} uses {@code seed + i}
 * @param rankingWeights  per-request overrides of the ranking weights (may be empty)
 * @param deadlineNanos   {@link System#nanoTime()} after which the job is abandoned
 */
public record GenerationRequest(
        String prompt,
        String negativePrompt,
        int n,
        int steps,
        double guidanceScale,
        long seed,
        int width,
        int height,
        String scheduler,
        boolean returnCandidates,
        Map<String, Double> rankingWeights,
        long deadlineNanos) {

    public GenerationRequest {
        rankingWeights = rankingWeights == null ? Map.of() : Map.copyOf(rankingWeights);
        negativePrompt = negativePrompt == null ? "" : negativePrompt;
    }
}
