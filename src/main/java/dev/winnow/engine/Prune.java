package dev.winnow.engine;

/**
 * Speculative best-of-N: after a fraction {@code at} of its steps, a job keeps only the
 * {@code keep} candidates whose x̂₀ previews the preview judge scores highest; the others take no
 * more UNet rows, which go to other jobs. The kept candidates finish exactly as they would have
 * without pruning (a slot's image depends only on its seed and settings).
 *
 * @param at   the fraction of the steps taken before judging, in (0, 1)
 * @param keep how many candidates go on, at least 1 and fewer than the job's n
 */
public record Prune(double at, int keep) {

    public Prune {
        if (!(at > 0 && at < 1) || keep < 1) {
            throw new IllegalArgumentException("prune needs 0 < at < 1 and keep >= 1, got at " + at + ", keep " + keep);
        }
    }

    /**
     * After how many of {@code steps} steps the previews are judged: {@code round(at · steps)},
     * at least one step (a preview needs one prediction) and at most {@code steps - 1} (pruning
     * after the last step would save nothing).
     */
    public int afterStep(int steps) {
        return (int) Math.max(1, Math.min(steps - 1, Math.round(at * steps)));
    }

    /**
     * The UNet rows a job spends relative to the same job unpruned:
     * {@code (k · n + (steps − k) · keep) / (steps · n)} with {@code k = afterStep(steps)}.
     */
    public double rowShare(int n, int steps) {
        int k = afterStep(steps);
        return (double) (k * n + (steps - k) * Math.min(keep, n)) / ((double) steps * n);
    }
}
