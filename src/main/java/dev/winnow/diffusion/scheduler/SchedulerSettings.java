package dev.winnow.diffusion.scheduler;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One sampler's view of a pack's scheduler config, resolved as diffusers' {@code from_config}
 * resolves it: the keys its class takes, each from the file when present, else that class's
 * own default. The defaults below are the {@code __init__} signatures of diffusers 0.40's
 * DDIMScheduler, EulerDiscreteScheduler, EulerAncestralDiscreteScheduler,
 * DPMSolverMultistepScheduler and LCMScheduler (keys Winnow implements only at one value, such
 * as {@code thresholding}, are checked by {@link SchedulerConfig} and not repeated here).
 * Immutable.
 */
public final class SchedulerSettings {

    /** Keys every class takes, with the defaults all but LCM share. */
    private static final Map<String, Object> COMMON = table(
            "num_train_timesteps", 1000, "beta_start", 0.0001, "beta_end", 0.02, "beta_schedule", "linear",
            "prediction_type", "epsilon", "steps_offset", 0);

    private static final Map<String, Map<String, Object>> DEFAULTS = Map.of(
            "ddim", with(COMMON, "timestep_spacing", "leading", "clip_sample", true, "clip_sample_range", 1.0,
                    "set_alpha_to_one", true),
            "euler", with(COMMON, "timestep_spacing", "linspace", "use_karras_sigmas", false, "sigma_min", null,
                    "sigma_max", null, "final_sigmas_type", "zero"),
            "euler_a", with(COMMON, "timestep_spacing", "linspace"),
            "dpmpp_2m", with(COMMON, "timestep_spacing", "linspace", "use_karras_sigmas", false,
                    "final_sigmas_type", "zero", "solver_order", 2, "solver_type", "midpoint",
                    "lower_order_final", true, "euler_at_final", false),
            // LCMScheduler's defaults are Stable Diffusion's schedule, not DDPM's.
            "lcm", with(COMMON, "beta_start", 0.00085, "beta_end", 0.012, "beta_schedule", "scaled_linear",
                    "timestep_spacing", "leading", "clip_sample", false, "clip_sample_range", 1.0,
                    "set_alpha_to_one", true, "original_inference_steps", 50, "timestep_scaling", 10.0));

    private final String scheduler;
    private final Map<String, Object> values;

    private SchedulerSettings(String scheduler, Map<String, Object> values) {
        this.scheduler = scheduler;
        this.values = Collections.unmodifiableMap(values);
    }

    static SchedulerSettings resolve(String scheduler, Map<String, JsonNode> file) {
        Map<String, Object> defaults = DEFAULTS.get(scheduler);
        if (defaults == null) {
            throw new IllegalArgumentException("unknown scheduler '" + scheduler + "', expected one of " + Schedulers.NAMES);
        }
        Map<String, Object> values = new LinkedHashMap<>(defaults);
        for (String key : defaults.keySet()) {
            JsonNode v = file.get(key);
            if (v != null) {
                values.put(key, v.isNull() ? null : v.isTextual() ? v.asText() : v.isBoolean() ? v.asBoolean()
                        : v.isIntegralNumber() ? (Object) v.asInt() : (Object) v.asDouble());
            }
        }
        // DPMSolverMultistepScheduler does not take sigma_min/sigma_max, but from_config keeps every key of the
        // file in the scheduler's config, and its Karras schedule reads them from there when present.
        if ("dpmpp_2m".equals(scheduler)) {
            for (String key : new String[] {"sigma_min", "sigma_max"}) {
                JsonNode v = file.get(key);
                values.put(key, v == null || v.isNull() ? null : v.asDouble());
            }
        }
        SchedulerSettings s = new SchedulerSettings(scheduler, values);
        s.check();
        return s;
    }

    private void check() {
        if (!(betaStart() > 0 && betaEnd() > betaStart() && betaEnd() < 1)) {
            throw new IllegalArgumentException("need 0 < beta_start < beta_end < 1, got " + betaStart() + ", " + betaEnd()
                    + " (for " + scheduler + ")");
        }
        if (has("original_inference_steps") && originalInferenceSteps() > numTrainTimesteps()) {
            throw new IllegalArgumentException("original_inference_steps " + originalInferenceSteps()
                    + " exceeds num_train_timesteps " + numTrainTimesteps());
        }
    }

    /** The request name of the sampler these settings are for. */
    public String scheduler() {
        return scheduler;
    }

    /** Every resolved key and value (for logs and tests). */
    public Map<String, Object> values() {
        return values;
    }

    public int numTrainTimesteps() {
        return integer("num_train_timesteps");
    }

    public double betaStart() {
        return number("beta_start");
    }

    public double betaEnd() {
        return number("beta_end");
    }

    /** {@code linear}, {@code scaled_linear} or {@code squaredcos_cap_v2}. */
    public String betaSchedule() {
        return text("beta_schedule");
    }

    /** {@code epsilon}, {@code v_prediction} or {@code sample}. */
    public String predictionType() {
        return text("prediction_type");
    }

    /** {@code leading}, {@code trailing} or {@code linspace}. */
    public String timestepSpacing() {
        return text("timestep_spacing");
    }

    public int stepsOffset() {
        return integer("steps_offset");
    }

    /** DDIM and LCM: ᾱ past the last step is 1 (true) or ᾱ_0 (false). */
    public boolean setAlphaToOne() {
        return has("set_alpha_to_one") && flag("set_alpha_to_one");
    }

    /** DDIM and LCM: clamp x̂_0 to ±{@link #clipSampleRange()}. */
    public boolean clipSample() {
        return has("clip_sample") && flag("clip_sample");
    }

    public double clipSampleRange() {
        return number("clip_sample_range");
    }

    /** Euler and DPM++: the Karras et al. (2022) σ schedule, ρ = 7. */
    public boolean useKarrasSigmas() {
        return has("use_karras_sigmas") && flag("use_karras_sigmas");
    }

    /** The Karras schedule's σ_min, or null for the schedule's own. */
    public Double sigmaMin() {
        return (Double) nullableNumber("sigma_min");
    }

    /** The Karras schedule's σ_max, or null for the schedule's own. */
    public Double sigmaMax() {
        return (Double) nullableNumber("sigma_max");
    }

    /** Euler and DPM++: the σ after the last step, {@code zero} or {@code sigma_min} (σ at t = 0). */
    public String finalSigmasType() {
        return has("final_sigmas_type") ? text("final_sigmas_type") : "zero";
    }

    public int solverOrder() {
        return integer("solver_order");
    }

    /** DPM++ 2M's second-order update: {@code midpoint} or {@code heun}. */
    public String solverType() {
        return text("solver_type");
    }

    public boolean lowerOrderFinal() {
        return flag("lower_order_final");
    }

    public boolean eulerAtFinal() {
        return flag("euler_at_final");
    }

    public int originalInferenceSteps() {
        return integer("original_inference_steps");
    }

    public double timestepScaling() {
        return number("timestep_scaling");
    }

    @Override
    public String toString() {
        return scheduler + values;
    }

    private boolean has(String key) {
        return values.containsKey(key);
    }

    private Object value(String key) {
        if (!values.containsKey(key)) {
            throw new IllegalStateException(scheduler + " has no setting '" + key + "'");
        }
        return values.get(key);
    }

    private int integer(String key) {
        return ((Number) value(key)).intValue();
    }

    private double number(String key) {
        return ((Number) value(key)).doubleValue();
    }

    private Object nullableNumber(String key) {
        Object v = values.get(key);
        return v == null ? null : ((Number) v).doubleValue();
    }

    private String text(String key) {
        return (String) value(key);
    }

    private boolean flag(String key) {
        return (Boolean) value(key);
    }

    private static Map<String, Object> table(Object... keyValues) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < keyValues.length; i += 2) {
            m.put((String) keyValues[i], keyValues[i + 1]);
        }
        return m;
    }

    private static Map<String, Object> with(Map<String, Object> base, Object... keyValues) {
        Map<String, Object> m = new LinkedHashMap<>(base);
        m.putAll(table(keyValues));
        return Collections.unmodifiableMap(m);
    }
}
