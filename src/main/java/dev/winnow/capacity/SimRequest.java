package dev.winnow.capacity;

import com.fasterxml.jackson.databind.JsonNode;
import dev.winnow.engine.Prune;

/**
 * The work one request asks of the engine, as far as its cost goes (no prompt, no seed: those do
 * not change what a call costs).
 *
 * @param n                candidates
 * @param steps            denoising steps per candidate
 * @param rowsPerCandidate UNet rows a candidate-step takes (2 with classifier-free guidance)
 * @param shape            its latent shape ("WxH"): one UNet call holds one shape
 * @param prune            pruning, or null
 * @param prompts          prompts encoded (2 with a negative prompt)
 * @param deadlineMillis   how long the job may take
 */
public record SimRequest(int n, int steps, int rowsPerCandidate, String shape, Prune prune, int prompts,
                         long deadlineMillis) {

    public SimRequest {
        if (n < 1 || steps < 1 || rowsPerCandidate < 1 || prompts < 1 || deadlineMillis < 1) {
            throw new IllegalArgumentException("a request needs n, steps, rows, prompts and deadline of at least 1");
        }
        if (prune != null && prune.keep() >= n) {
            throw new IllegalArgumentException("prune must keep fewer than n (" + n + ")");
        }
    }

    /**
     * The values a request body leaves out, as the service fills them in ({@code winnow.defaults.*},
     * {@code winnow.prune.*}, {@code winnow.engine.default-deadline}, the pack's size).
     */
    public record Defaults(int n, int steps, double guidanceScale, int width, int height, long deadlineMillis,
                           Prune.Defaults prune) {
        /** The service's defaults on the embedded pack (64²). */
        public static Defaults service(int size) {
            return new Defaults(4, 20, 5.0, size, size, 120_000, SERVICE_PRUNE);
        }
    }

    /** The service's {@code winnow.prune.*} defaults (WinnowConfig.Pruning's; kept equal by SimulatorTest). */
    public static final Prune.Defaults SERVICE_PRUNE = new Prune.Defaults(0.2, 0.25, 0.05, 0.4, 0.25);

    /** The request a {@code POST /generate} body stands for, with the service's defaults. */
    public static SimRequest fromBody(JsonNode body, Defaults d) {
        int n = body.path("n").asInt(d.n());
        int steps = body.path("steps").asInt(d.steps());
        double guidance = body.path("guidance_scale").asDouble(d.guidanceScale());
        int w = body.path("width").asInt(d.width());
        int h = body.path("height").asInt(d.height());
        JsonNode p = body.path("prune");
        // read as the service reads it (Prune.Defaults.resolve): a body the service would refuse is refused here too
        Prune prune = p.isObject() ? d.prune().resolve(spec(p), n, steps) : null;
        String negative = body.path("negative_prompt").asText("");
        long deadline = Math.min(d.deadlineMillis(), body.path("deadline_ms").asLong(d.deadlineMillis()));
        return new SimRequest(n, steps, guidance > 1.0 ? 2 : 1, w + "x" + h, prune, negative.isBlank() ? 1 : 2, deadline);
    }

    /** A {@code prune} object's fields as the body names them (null where it leaves one out). */
    private static Prune.Spec spec(JsonNode p) {
        if (!p.isObject()) {
            return null;
        }
        return new Prune.Spec(p.has("at") ? p.path("at").asDouble() : null, p.has("keep") ? p.path("keep").asInt() : null,
                p.has("margin") ? p.path("margin").asDouble() : null, spec(p.path("then")));
    }

    /**
     * The UNet rows the request spends in all (pruned candidates stop at their prune point; a
     * margin's extra candidates are not counted, so with a margin this is the least it spends).
     */
    public long unetRows() {
        if (prune == null) {
            return (long) n * steps * rowsPerCandidate;
        }
        return Math.round(prune.rowShare(n, steps) * n * steps) * rowsPerCandidate;
    }
}
