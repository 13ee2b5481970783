package dev.winnow.judge;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Ranks safe candidates by a weighted sum of their normalised scores:
 * {@code combined = Σ weight(name) · normalised(name)}. Ties go to the lower index, so the
 * choice is deterministic. Unsafe or unjudged candidates are never chosen. A score that is
 * missing or not a number (a scorer that failed or returned NaN) counts as 0, the worst
 * normalised score: a failed scorer leaves the ranking to the others and never takes a safe
 * candidate out of it.
 */
public final class RankingPolicy {

    private final Map<String, Double> weights;

    public RankingPolicy(Map<String, Double> weights) {
        this.weights = Map.copyOf(weights);
    }

    public Map<String, Double> weights() {
        return weights;
    }

    /** These weights with a request's overrides on top (names the request leaves out keep theirs). */
    public RankingPolicy withOverrides(Map<String, Double> overrides) {
        if (overrides == null || overrides.isEmpty()) {
            return this;
        }
        Map<String, Double> merged = new LinkedHashMap<>(weights);
        merged.putAll(overrides);
        return new RankingPolicy(merged);
    }

    public double combined(Map<String, Double> normalisedScores) {
        double sum = 0;
        for (Map.Entry<String, Double> e : normalisedScores.entrySet()) {
            Double score = e.getValue();
            if (score != null && Double.isFinite(score)) {
                sum += weights.getOrDefault(e.getKey(), 0.0) * score;
            }
        }
        return sum;
    }

    /**
     * The safe candidates best first: by combined score, a safe one without a finite score below
     * every scored one, the lower index first on a tie. The first is {@link #best}'s choice.
     */
    public List<Integer> ranked(List<Verdict> verdicts, List<Double> combinedScores) {
        List<Integer> safe = new java.util.ArrayList<>();
        for (int i = 0; i < verdicts.size(); i++) {
            if (verdicts.get(i) == Verdict.SAFE) {
                safe.add(i);
            }
        }
        java.util.function.ToDoubleFunction<Integer> score = i -> {
            Double c = combinedScores.get(i);
            return c != null && Double.isFinite(c) ? c : Double.NEGATIVE_INFINITY;
        };
        safe.sort(java.util.Comparator.comparingDouble(score).reversed().thenComparingInt(i -> i));
        return safe;
    }

    /**
     * @return the index of the best safe candidate (a safe one without a finite combined score
     *         ranks below every scored one, but is still chosen over none), or -1 when none is safe
     */
    public int best(List<Verdict> verdicts, List<Double> combinedScores) {
        List<Integer> ranked = ranked(verdicts, combinedScores);
        return ranked.isEmpty() ? -1 : ranked.get(0);
    }
}
