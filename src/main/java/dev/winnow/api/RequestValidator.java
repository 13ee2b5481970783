package dev.winnow.api;

import dev.winnow.engine.EngineCapabilities;
import dev.winnow.engine.GenerationRequest;
import dev.winnow.engine.Prune;
import dev.winnow.engine.WinnowConfig;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.security.SecureRandom;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Checks every field of a generate request against its bounds — the server's configured ones and
 * what the engine in service can do ({@link EngineCapabilities}) — and turns it into the engine's
 * {@link GenerationRequest}; the first problem names its field.
 */
@ApplicationScoped
public class RequestValidator {

    static final int MAX_PROMPT = 1000;
    static final long MAX_SEED = 1L << 53;
    static final double MAX_GUIDANCE = 30;
    static final double MAX_WEIGHT = 100;

    private final SecureRandom seeds = new SecureRandom();

    @Inject
    WinnowConfig config;

    /** The configured request defaults are checked once, at startup, not found wrong by every request that uses them. */
    void checkDefaultsAtStartup(@Observes StartupEvent event) {
        checkDefaults(config.defaults());
        checkPruneDefaults(config.prune().strategy());
    }

    /**
     * @throws IllegalStateException naming the {@code winnow.prune.*} key whose value no request
     *                               could use: a fraction not strictly between 0 and 1, a margin
     *                               outside [0, 1], or a second decision not after the first
     */
    static void checkPruneDefaults(Prune.Defaults d) {
        if (!(d.at() > 0 && d.at() < 1)) {
            throw new IllegalStateException("winnow.prune.at must be strictly between 0 and 1, got " + d.at());
        }
        if (!(d.keepFraction() > 0 && d.keepFraction() < 1)) {
            throw new IllegalStateException("winnow.prune.keep-fraction must be strictly between 0 and 1, got "
                    + d.keepFraction());
        }
        if (!(d.margin() >= 0 && d.margin() <= 1)) {
            throw new IllegalStateException("winnow.prune.margin must be between 0 and 1, got " + d.margin());
        }
        if (!Double.isNaN(d.thenAt()) && !(d.thenAt() > d.at() && d.thenAt() < 1)) {
            throw new IllegalStateException("winnow.prune.then-at must be 0 (no second decision), or after "
                    + "winnow.prune.at (" + d.at() + ") and below 1, got " + d.thenAt());
        }
        if (!(d.thenKeepFraction() > 0 && d.thenKeepFraction() < 1)) {
            throw new IllegalStateException("winnow.prune.then-keep-fraction must be strictly between 0 and 1, got "
                    + d.thenKeepFraction());
        }
    }

    /**
     * @throws IllegalStateException naming the {@code winnow.defaults.*} key whose value no request could use
     */
    static void checkDefaults(WinnowConfig.Defaults defaults) {
        if (!EngineCapabilities.isScheduler(defaults.scheduler())) {
            throw new IllegalStateException("winnow.defaults.scheduler must be one of " + EngineCapabilities.SCHEDULERS + ", got '"
                    + defaults.scheduler() + "'");
        }
        if (!(defaults.guidanceScale() >= 0 && defaults.guidanceScale() <= MAX_GUIDANCE)) {
            throw new IllegalStateException("winnow.defaults.guidance-scale must be within 0.." + (int) MAX_GUIDANCE
                    + ", got " + defaults.guidanceScale());
        }
        if (defaults.n() < 1 || defaults.steps() < 1) {
            throw new IllegalStateException("winnow.defaults.n and winnow.defaults.steps must be at least 1, got "
                    + defaults.n() + " and " + defaults.steps());
        }
    }

    /** @param engine what the engine in service can do: schedulers, steps, sizes, pruning, scores */
    public GenerationRequest validate(GenerateRequest r, EngineCapabilities engine) {
        if (r == null) {
            throw new InvalidRequestException("body", "a JSON object with at least \"prompt\" is required");
        }
        String prompt = r.prompt();
        if (prompt == null || prompt.isBlank()) {
            throw new InvalidRequestException("prompt", "prompt is required and must not be blank");
        }
        if (prompt.length() > MAX_PROMPT) {
            throw new InvalidRequestException("prompt", "prompt must be at most " + MAX_PROMPT + " characters, got " + prompt.length());
        }
        if (r.negativePrompt() != null && r.negativePrompt().length() > MAX_PROMPT) {
            throw new InvalidRequestException("negative_prompt", "negative_prompt must be at most " + MAX_PROMPT + " characters");
        }
        int maxN = config.limits().maxN();
        int n = r.n() == null ? Math.min(config.defaults().n(), maxN) : r.n();
        if (n < 1 || n > maxN) {
            throw new InvalidRequestException("n", "n must be within 1.." + maxN + ", got " + n);
        }
        String scheduler = r.scheduler() == null ? config.defaults().scheduler() : r.scheduler().toLowerCase(Locale.ROOT);
        if (!engine.offers(scheduler)) {
            throw new InvalidRequestException("scheduler", "scheduler must be one of " + engine.schedulers() + ", got '" + r.scheduler() + "'");
        }
        int maxSteps = engine.maxSteps(scheduler);
        int steps = r.steps() == null ? Math.min(config.defaults().steps(), maxSteps) : r.steps();
        if (steps < 1 || steps > maxSteps) {
            throw new InvalidRequestException("steps", "steps must be within 1.." + maxSteps
                    + ("lcm".equals(scheduler) ? " for lcm" : "") + ", got " + steps);
        }
        double guidance = r.guidanceScale() == null ? config.defaults().guidanceScale() : r.guidanceScale();
        if (!(guidance >= 0 && guidance <= MAX_GUIDANCE)) {
            throw new InvalidRequestException("guidance_scale", "guidance_scale must be within 0.." + (int) MAX_GUIDANCE + ", got " + guidance);
        }
        long seed = r.seed() == null ? seeds.nextLong(MAX_SEED + 1) : r.seed();
        if (seed < 0 || seed > MAX_SEED) {
            throw new InvalidRequestException("seed", "seed must be within 0..2^53 (" + MAX_SEED + "), got " + seed);
        }
        if (seed + n - 1 > MAX_SEED) {
            throw new InvalidRequestException("seed", "seed + n - 1 must stay within 2^53");
        }
        int width = size("width", r.width(), engine);
        int height = size("height", r.height(), engine);
        long maxDeadline = config.engine().defaultDeadline().toMillis();
        long deadlineMs = r.deadlineMs() == null ? maxDeadline : r.deadlineMs();
        if (deadlineMs < 1 || deadlineMs > maxDeadline) {
            throw new InvalidRequestException("deadline_ms", "deadline_ms must be within 1.." + maxDeadline + ", got " + deadlineMs);
        }
        Map<String, Double> weights = new LinkedHashMap<>();
        if (r.rankingWeights() != null) {
            for (Map.Entry<String, Double> e : r.rankingWeights().entrySet()) {
                if (!engine.scoreNames().contains(e.getKey())) {
                    throw new InvalidRequestException("ranking_weights", "ranking_weights names unknown score '" + e.getKey()
                            + "'; this service scores " + engine.scoreNames());
                }
                Double w = e.getValue();
                if (w == null || !(w >= 0 && w <= MAX_WEIGHT)) {
                    throw new InvalidRequestException("ranking_weights", "ranking_weights." + e.getKey()
                            + " must be a number within 0.." + (int) MAX_WEIGHT);
                }
                weights.put(e.getKey(), w);
            }
        }
        Prune prune = prune(r.prune(), n, steps, engine.canPrune());
        return new GenerationRequest(prompt, r.negativePrompt(), n, steps, guidance, seed, width, height, scheduler,
                Boolean.TRUE.equals(r.returnCandidates()) || Boolean.TRUE.equals(r.returnCandidateImages()), weights,
                System.nanoTime() + deadlineMs * 1_000_000, prune, Boolean.TRUE.equals(r.returnCandidateImages()) ? n : 1,
                previews(r.previews(), "previews"));
    }

    /** A count of live previews, 0 to {@link GenerationRequest#MAX_PREVIEWS} (absent: 0); {@code field} names it. */
    static int previews(Integer count, String field) {
        if (count == null) {
            return 0;
        }
        if (count < 0 || count > GenerationRequest.MAX_PREVIEWS) {
            throw new InvalidRequestException(field, field + " must be within 0.." + GenerationRequest.MAX_PREVIEWS
                    + ", got " + count);
        }
        return count;
    }

    /**
     * The request's pruning with the server's defaults filled in ({@link Prune.Defaults#resolve},
     * the reading the capacity simulator shares), or null when it asks for none.
     */
    private Prune prune(GenerateRequest.PruneRequest p, int n, int steps, boolean canPrune) {
        if (p == null) {
            return null;
        }
        WinnowConfig.Pruning cfg = config.prune();
        if (!cfg.enabled()) {
            throw new InvalidRequestException("prune", "pruning is turned off on this server (winnow.prune.enabled)");
        }
        if (!canPrune) {
            throw new InvalidRequestException("prune", "this server has no judge for x̂0 previews, so it cannot prune "
                    + "(set winnow.prune.judge-path, or enable the faithfulness scorer)");
        }
        try {
            return cfg.strategy().resolve(spec(p), n, steps);
        } catch (Prune.InvalidField e) {
            throw new InvalidRequestException(e.field(), e.getMessage());
        }
    }

    private static Prune.Spec spec(GenerateRequest.PruneRequest p) {
        return p == null ? null : new Prune.Spec(p.at(), p.keep(), p.margin(), spec(p.then()));
    }

    /**
     * A side the pack's UNet can take: the size its graph is fixed to, or a multiple of its size
     * step (the VAE scale times what the UNet's downsamplings need: 64 pixels for SD) within the
     * configured bounds. Anything else would fail inside the UNet, after the job was admitted.
     */
    private static int size(String field, Integer value, EngineCapabilities engine) {
        EngineCapabilities.Sizes sizes = engine.sizes();
        if (value == null) {
            return sizes.defaultSide();
        }
        int fixed = field.equals("width") ? sizes.fixedWidth() : sizes.fixedHeight();
        if (fixed > 0) {
            if (value != fixed) {
                throw new InvalidRequestException(field, field + " must be " + fixed
                        + " for the '" + engine.pipeline() + "' pack (its UNet takes one size), got " + value);
            }
            return value;
        }
        int step = sizes.step();
        if (value % step != 0 || value < sizes.min() || value > sizes.max()) {
            throw new InvalidRequestException(field, field + " must be a multiple of " + step + " within " + sizes.min()
                    + ".." + sizes.max() + " for the '" + engine.pipeline() + "' pack (its UNet takes sides in steps of "
                    + step + " pixels), got " + value);
        }
        return value;
    }
}
