package dev.winnow.judge;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Ranks safe candidates by a weighted sum of their normalised scores:
 * {@code combined = Σ weight(name) · normalised(name)}. Ties go to the lower index, so the
 * choice is deterministic. Unsafe or unjudged candidates are never chosen.
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
            sum += weights.getOrDefault(e.getKey(), 0.0) * e.getValue();
        }
        return sum;
    }

    /**
     * @return the index of the best safe candidate, or -1 when none is safe
     */
    public int best(List<Verdict> verdicts, List<Double> combinedScores) {
        int best = -1;
        for (int i = 0; i < verdicts.size(); i++) {
            if (verdicts.get(i) != Verdict.SAFE || !Double.isFinite(combinedScores.get(i))) {
                continue;
            }
            if (best < 0 || combinedScores.get(i) > combinedScores.get(best)) {
                best = i;
            }
        }
        return best;
    }
}
