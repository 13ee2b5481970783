package dev.winnow.engine;

import dev.winnow.judge.Verdict;
import java.util.Map;

/**
 * One candidate's outcome.
 *
 * @param scores {@code unsafe_probability}, each scorer's normalised score and {@code combined}
 */
public record CandidateResult(int index, long seed, Verdict verdict, Map<String, Double> scores) {
}
