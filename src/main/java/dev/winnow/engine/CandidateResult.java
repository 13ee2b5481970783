package dev.winnow.engine;

import dev.winnow.judge.Verdict;
import java.util.Map;

/**
 * One candidate's outcome.
 *
 * @param scores       {@code unsafe_probability}, each scorer's normalised score and {@code combined};
 *                     {@code preview}, its last preview score, when the job pruned
 * @param prunedAtStep for a pruned candidate, the step after which its preview was judged and it
 *                     was dropped; null for the others
 */
public record CandidateResult(int index, long seed, Verdict verdict, Map<String, Double> scores, Integer prunedAtStep) {

    /** A candidate that was not pruned. */
    public CandidateResult(int index, long seed, Verdict verdict, Map<String, Double> scores) {
        this(index, seed, verdict, scores, null);
    }
}
