package dev.winnow.engine;

/**
 * Speculative best-of-N: after a fraction {@code at} of its steps, a job keeps the {@code keep}
 * candidates whose x̂₀ previews the preview judge scores highest, and also every other candidate
 * whose score is within {@code margin} of the best (the judge is not sure between them yet); the
 * others take no more UNet rows, which go to other jobs. With {@code then}, the kept candidates
 * are judged again at a later step by the same rule: a decision in stages, dropping the clearly
 * worst early and deciding among the rest once their previews have formed. The kept candidates
 * finish exactly as they would have without pruning (a slot's image depends only on its seed and
 * settings).
 *
 * <p>With {@code margin} 0 and no {@code then} this is the original rule: exactly {@code keep}
 * go on after {@code round(at · steps)} steps.
 *
 * @param at     the fraction of the steps taken before judging, in (0, 1)
 * @param keep   how many candidates go on at least (all of them if fewer are left), at least 1
 * @param margin also kept: every candidate whose normalised preview score is at least the best
 *               one's minus this, in [0, 1]; 0 keeps exactly {@code keep}
 * @param then   the next decision, at a later fraction of the steps, among those kept; or null
 */
public record Prune(double at, int keep, double margin, Prune then) {

    public Prune {
        if (!(at > 0 && at < 1) || keep < 1) {
            throw new IllegalArgumentException("prune needs 0 < at < 1 and keep >= 1, got at " + at + ", keep " + keep);
        }
        if (!(margin >= 0 && margin <= 1)) {
            throw new IllegalArgumentException("prune needs 0 <= margin <= 1, got " + margin);
        }
        if (then != null && !(then.at > at)) {
            throw new IllegalArgumentException("a later decision must come later: at " + at + ", then at " + then.at);
        }
    }

    /** The original rule: exactly {@code keep} go on after a fraction {@code at} of the steps. */
    public Prune(double at, int keep) {
        this(at, keep, 0, null);
    }

    /**
     * After how many of {@code steps} steps the previews are judged: {@code round(at · steps)},
     * at least one step (a preview needs one prediction) and at most {@code steps - 1} (pruning
     * after the last step would save nothing).
     */
    public int afterStep(int steps) {
        return stepOf(at, steps);
    }

    /** The step after which a decision at fraction {@code at} of {@code steps} steps is taken ({@link #afterStep}). */
    public static int stepOf(double at, int steps) {
        return (int) Math.max(1, Math.min(steps - 1, Math.round(at * steps)));
    }

    /**
     * The decision that follows this one in a job of {@code steps} steps: {@code then} when it
     * comes at a later step; null when there is none, or when rounding puts it at this one's step
     * (a decision at the same step would judge the same previews again).
     */
    public Prune next(int steps) {
        return then != null && then.afterStep(steps) > afterStep(steps) ? then : null;
    }

    /**
     * The UNet rows a job spends relative to the same job unpruned, when every decision keeps
     * exactly its {@code keep} (a margin can only keep more, so this is the least a job spends):
     * {@code Σ stage span × candidates live in it / (steps · n)}.
     */
    public double rowShare(int n, int steps) {
        long rows = 0;
        int live = n;
        int from = 0;
        for (Prune p = this; p != null; p = p.then) {
            int k = Math.max(from, p.afterStep(steps));
            rows += (long) (k - from) * live;
            live = Math.min(live, p.keep);
            from = k;
        }
        rows += (long) (steps - from) * live;
        return (double) rows / ((double) steps * n);
    }

    /**
     * The server's pruning strategy (the {@code winnow.prune.*} settings): what a request gets
     * when it asks for pruning without saying how ({@code "prune": {}}), and the values a request
     * that names only some fields leaves out.
     *
     * @param at               the first decision's fraction of the steps
     * @param keepFraction     the share of the candidates it keeps at least: ceil(n × fraction)
     * @param margin           its margin (0: exactly the kept share)
     * @param thenAt           a second decision's fraction of the steps, or NaN for none
     * @param thenKeepFraction the share the second decision keeps at least
     */
    public record Defaults(double at, double keepFraction, double margin, double thenAt, double thenKeepFraction) {

        /** One decision keeping exactly ceil(n × keepFraction) (the rule before margins and stages). */
        public Defaults(double at, double keepFraction) {
            this(at, keepFraction, 0, Double.NaN, keepFraction);
        }

        /** ceil(n × fraction), at least 1 and at most n − 1. */
        public static int keepOf(int n, double fraction) {
            return Math.max(1, Math.min(n - 1, (int) Math.ceil(n * fraction)));
        }

        /** The server's strategy for a job of {@code n} candidates. */
        public Prune forN(int n) {
            Prune then = Double.isNaN(thenAt) ? null : new Prune(thenAt, keepOf(n, thenKeepFraction));
            return new Prune(at, keepOf(n, keepFraction), margin, then);
        }

        /**
         * A request's {@code prune} object for a job of {@code n} candidates and {@code steps} steps,
         * with these defaults filled in: an empty object asks for the server's strategy
         * ({@link #forN}, stages and margin included); otherwise a first decision's {@code at} left
         * out is the server's {@code at}, a {@code keep} left out is ceil(n × keepFraction), a margin
         * left out is 0, and a later decision ({@code then}) must name its own {@code at}. The one
         * reading of a prune object, shared by the service's validation and the capacity simulator,
         * so the simulator never plans a request the service would refuse.
         *
         * @throws InvalidField naming the JSON path of the first field no job can take
         */
        public Prune resolve(Spec spec, int n, int steps) {
            if (n < 2) {
                throw new InvalidField("prune", "pruning needs at least 2 candidates (n), got " + n);
            }
            if (steps < 2) {
                throw new InvalidField("prune", "pruning needs at least 2 steps (one before the previews are judged, "
                        + "one after), got " + steps);
            }
            return spec.isEmpty() ? forN(n) : decision(spec, "prune", Double.NaN, n, steps);
        }

        /** @param after the fraction of the steps of the decision before it (NaN for the first) */
        private Prune decision(Spec p, String field, double after, int n, int steps) {
            double at = p.at() == null ? (Double.isNaN(after) ? this.at : Double.NaN) : p.at();
            if (Double.isNaN(at)) {
                throw new InvalidField(field + ".at", field + ".at is required: a later decision needs its own "
                        + "fraction of the steps");
            }
            if (!(at > 0 && at < 1)) {
                throw new InvalidField(field + ".at", field + ".at must be a fraction of the steps strictly "
                        + "between 0 and 1, got " + at);
            }
            if (!Double.isNaN(after) && stepOf(at, steps) <= stepOf(after, steps)) {
                throw new InvalidField(field + ".at", field + ".at must come at a later step than the decision "
                        + "before it (" + after + " of " + steps + " steps), got " + at);
            }
            int keep = p.keep() == null ? keepOf(n, keepFraction) : p.keep();
            if (keep < 1) {
                throw new InvalidField(field + ".keep", field + ".keep must be at least 1, got " + keep);
            }
            if (keep >= n) {
                throw new InvalidField(field + ".keep", field + ".keep must be less than n (" + n
                        + "): keeping every candidate prunes nothing, got " + keep);
            }
            double margin = p.margin() == null ? 0 : p.margin();
            if (!(margin >= 0 && margin <= 1)) {
                throw new InvalidField(field + ".margin", field + ".margin must be a score difference between 0 "
                        + "and 1 (scores are normalised), got " + margin);
            }
            Prune then = p.then() == null ? null : decision(p.then(), field + ".then", at, n, steps);
            return new Prune(at, keep, margin, then);
        }
    }

    /**
     * A {@code prune} object as a request writes it, before {@link Defaults#resolve}: any field may
     * be left out (null).
     */
    public record Spec(Double at, Integer keep, Double margin, Spec then) {

        /** {@code "prune": {}}: the server's strategy. */
        public boolean isEmpty() {
            return at == null && keep == null && margin == null && then == null;
        }
    }

    /** A {@code prune} field no job can take; {@link #field} is its JSON path, e.g. {@code prune.then.keep}. */
    public static final class InvalidField extends IllegalArgumentException {

        private final String field;

        public InvalidField(String field, String detail) {
            super(detail);
            this.field = field;
        }

        public String field() {
            return field;
        }
    }
}
