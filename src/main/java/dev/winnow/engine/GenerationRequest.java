package dev.winnow.engine;

import java.util.Map;

/**
 * A validated generation job: everything that decides its images, plus how to answer.
 *
 * @param seed            candidate {@code i} uses {@code seed + i}
 * @param rankingWeights  per-request overrides of the ranking weights (may be empty)
 * @param deadlineNanos   {@link System#nanoTime()} after which the job is abandoned
 * @param prune           keep only the best candidates after a fraction of the steps; null: no pruning
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
        long deadlineNanos,
        Prune prune) {

    /** A job without pruning. */
    public GenerationRequest(String prompt, String negativePrompt, int n, int steps, double guidanceScale, long seed,
                             int width, int height, String scheduler, boolean returnCandidates,
                             Map<String, Double> rankingWeights, long deadlineNanos) {
        this(prompt, negativePrompt, n, steps, guidanceScale, seed, width, height, scheduler, returnCandidates,
                rankingWeights, deadlineNanos, null);
    }

    /** The same job, pruned as {@code p} says (null: not pruned). */
    public GenerationRequest withPrune(Prune p) {
        return new GenerationRequest(prompt, negativePrompt, n, steps, guidanceScale, seed, width, height, scheduler,
                returnCandidates, rankingWeights, deadlineNanos, p);
    }

    public GenerationRequest {
        rankingWeights = rankingWeights == null ? Map.of() : Map.copyOf(rankingWeights);
        negativePrompt = negativePrompt == null ? "" : negativePrompt;
        if (prune != null && (prune.keep() >= n || steps < 2)) {
            throw new IllegalArgumentException("prune must keep fewer than n (" + n + ") candidates, in at least 2 steps");
        }
    }
}
