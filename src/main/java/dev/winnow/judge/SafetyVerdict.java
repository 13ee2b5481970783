package dev.winnow.judge;

/**
 * The safety judge's word on one candidate.
 *
 * @param verdict            SAFE only when a finite unsafe probability came back under the threshold
 * @param unsafeProbability  the summed probability of the unsafe labels, NaN when unknown
 * @param error              why no verdict could be given (null when there was one)
 */
public record SafetyVerdict(Verdict verdict, double unsafeProbability, String error) {

    public static SafetyVerdict failed(String error) {
        return new SafetyVerdict(Verdict.SAFETY_ERROR, Double.NaN, error);
    }

    public boolean isSafe() {
        return verdict == Verdict.SAFE;
    }
}
