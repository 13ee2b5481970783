package dev.winnow.engine;

import java.util.Map;

/**
 * A validated generation job: everything that decides its images, plus how to answer. What the
 * api hands the engine (made from an {@code api.GenerateRequest}); admitted, it becomes an
 * {@link EngineJob}.
 *
 * @param seed            candidate {@code i} uses {@code seed + i}
 * @param rankingWeights  per-request overrides of the ranking weights (may be empty)
 * @param deadlineNanos   {@link System#nanoTime()} after which the job is abandoned
 * @param prune           keep only the best candidates after a fraction of the steps; null: no pruning
 * @param images          how many of the best safe candidates' images the result keeps (1: the chosen one)
 * @param previews        how many live previews its watcher wants ({@link LivePreview}, at most
 *                        {@link #MAX_PREVIEWS}; 0: none): x̂₀ previews of the leading safe candidate at
 *                        evenly spread steps, each judged safe before it is handed out
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
        Prune prune,
        int images,
        int previews) {

    /** The most live previews a job may ask for (OpenAI's {@code partial_images} bound). */
    public static final int MAX_PREVIEWS = 3;

    /** A job without live previews. */
    public GenerationRequest(String prompt, String negativePrompt, int n, int steps, double guidanceScale, long seed,
                             int width, int height, String scheduler, boolean returnCandidates,
                             Map<String, Double> rankingWeights, long deadlineNanos, Prune prune, int images) {
        this(prompt, negativePrompt, n, steps, guidanceScale, seed, width, height, scheduler, returnCandidates,
                rankingWeights, deadlineNanos, prune, images, 0);
    }

    /** A job without pruning. */
    public GenerationRequest(String prompt, String negativePrompt, int n, int steps, double guidanceScale, long seed,
                             int width, int height, String scheduler, boolean returnCandidates,
                             Map<String, Double> rankingWeights, long deadlineNanos) {
        this(prompt, negativePrompt, n, steps, guidanceScale, seed, width, height, scheduler, returnCandidates,
                rankingWeights, deadlineNanos, null, 1, 0);
    }

    /** The same job, pruned as {@code p} says (null: not pruned). */
    public GenerationRequest withPrune(Prune p) {
        return new GenerationRequest(prompt, negativePrompt, n, steps, guidanceScale, seed, width, height, scheduler,
                returnCandidates, rankingWeights, deadlineNanos, p, images, previews);
    }

    /** The same job, keeping the images of its {@code count} best safe candidates. */
    public GenerationRequest withImages(int count) {
        return new GenerationRequest(prompt, negativePrompt, n, steps, guidanceScale, seed, width, height, scheduler,
                returnCandidates, rankingWeights, deadlineNanos, prune, count, previews);
    }

    /** The same job, handing its watcher {@code count} live previews (0: none). */
    public GenerationRequest withPreviews(int count) {
        return new GenerationRequest(prompt, negativePrompt, n, steps, guidanceScale, seed, width, height, scheduler,
                returnCandidates, rankingWeights, deadlineNanos, prune, images, count);
    }

    /**
     * The settings that decide the job's images, as preference data records them (feedback rows,
     * kept rankings): n, steps, guidance_scale, scheduler, width, height, seed, the ranking
     * weights given, and prune when asked for.
     */
    public Map<String, Object> settings(Map<String, Double> weights) {
        Map<String, Object> s = new java.util.LinkedHashMap<>();
        s.put("n", n);
        s.put("steps", steps);
        s.put("guidance_scale", guidanceScale);
        s.put("scheduler", scheduler);
        s.put("width", width);
        s.put("height", height);
        s.put("seed", seed);
        s.put("ranking_weights", weights);
        if (prune != null) {
            s.put("prune", Map.of("at", prune.at(), "keep", prune.keep()));
        }
        return s;
    }

    public GenerationRequest {
        rankingWeights = rankingWeights == null ? Map.of() : Map.copyOf(rankingWeights);
        negativePrompt = negativePrompt == null ? "" : negativePrompt;
        if (images < 1 || images > n) {
            throw new IllegalArgumentException("images must be within 1..n (" + n + "), got " + images);
        }
        if (previews < 0 || previews > MAX_PREVIEWS) {
            throw new IllegalArgumentException("previews must be within 0.." + MAX_PREVIEWS + ", got " + previews);
        }
        if (prune != null && (prune.keep() >= n || steps < 2)) {
            throw new IllegalArgumentException("prune must keep fewer than n (" + n + ") candidates, in at least 2 steps");
        }
    }
}
