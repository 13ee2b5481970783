package dev.winnow.engine;

/**
 * A live preview for a watching client: the x̂₀ prediction of the job's leading candidate after
 * {@code step} of {@code steps} steps, decoded, judged safe by the job's safety judge and encoded
 * as a PNG, the very pixels the judge passed. When no live candidate's preview was judged safe (or
 * judging failed: safety fails closed) the preview is withheld: {@code png} is null and there is
 * no candidate, and nothing of it may be shown.
 *
 * @param candidate the leading safe candidate's index (-1 when withheld)
 * @param seed      its seed (-1 when withheld)
 * @param png       the judged preview as a PNG, or null when withheld
 * @param withheld  why nothing is shown (null when sent)
 */
public record LivePreview(int step, int steps, int candidate, long seed, int width, int height, byte[] png,
                          String withheld) {

    /** A preview that is not shown, and why. */
    static LivePreview withheld(int step, int steps, String why) {
        return new LivePreview(step, steps, -1, -1, 0, 0, null, why);
    }

    /** Whether it carries a picture the safety judge passed. */
    public boolean isSent() {
        return png != null;
    }
}
