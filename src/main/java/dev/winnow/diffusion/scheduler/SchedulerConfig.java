package dev.winnow.diffusion.scheduler;

import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Predicate;

/**
 * A pack's {@code scheduler/scheduler_config.json} as written, and what each of Winnow's
 * samplers makes of it. One file serves every sampler, as in diffusers, where a pipeline
 * builds any scheduler class with {@code Class.from_config(config)}: keys that class takes
 * get the file's value, keys the file lacks get <b>that class's own default</b> (DDIM spaces
 * timesteps {@code leading}, Euler, Euler a and DPM++ {@code linspace}), and keys the class
 * does not take are ignored. {@link #settings(String)} does exactly that, from the table of
 * defaults in {@link SchedulerSettings}.
 *
 * <p>A key that one of the samplers reads, set to a value Winnow does not implement
 * ({@code rescale_betas_zero_snr: true}, {@code trained_betas: [...]}, {@code thresholding: true},
 * {@code timestep_type: "continuous"}, ...), is refused when the config is read, naming the key
 * and what is supported, rather than silently sampling something else. Keys at their
 * harmless values ({@code clip_sample: false}, {@code trained_betas: null}) load, as real
 * exports carry them. Frozen once read.
 */
public final class SchedulerConfig {

    /** diffusers writes Python's json, where {@code lambda_min_clipped} may be {@code -Infinity}. */
    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS).build();

    private final Map<String, JsonNode> keys;

    private SchedulerConfig(Map<String, JsonNode> keys) {
        this.keys = Collections.unmodifiableMap(keys);
    }

    /**
     * Reads and checks a diffusers scheduler config.
     *
     * @throws IOException naming the file when it cannot be read or holds a value Winnow does not implement
     */
    public static SchedulerConfig read(Path file) throws IOException {
        JsonNode n = JSON.readTree(file.toFile());
        try {
            return of(n);
        } catch (IllegalArgumentException e) {
            throw new IOException(file + ": " + e.getMessage(), e);
        }
    }

    /**
     * A config from its JSON object, checked for every sampler.
     *
     * @throws IllegalArgumentException naming the first key whose value Winnow does not implement
     */
    public static SchedulerConfig of(JsonNode json) {
        if (json == null || !json.isObject()) {
            throw new IllegalArgumentException("a scheduler config is a JSON object");
        }
        Map<String, JsonNode> keys = new LinkedHashMap<>();
        json.fields().forEachRemaining(e -> {
            if (!e.getKey().startsWith("_")) {
                keys.put(e.getKey(), e.getValue());
            }
        });
        for (Map.Entry<String, JsonNode> e : keys.entrySet()) {
            Rule rule = RULES.get(e.getKey());
            if (rule != null && !rule.accepts().test(e.getValue())) {
                throw new IllegalArgumentException("'" + e.getKey() + "' is " + e.getValue() + ", which Winnow does not "
                        + "implement (supported: " + rule.supported() + ")");
            }
        }
        SchedulerConfig config = new SchedulerConfig(keys);
        for (String name : Schedulers.NAMES) {
            config.settings(name); // cross-key checks (beta_start < beta_end, ...) for every sampler
        }
        return config;
    }

    /** Stable Diffusion 1.x/2.x's schedule as current exports write it ({@code leading} spacing written out). */
    public static SchedulerConfig stableDiffusion() {
        return of(stableDiffusionJson());
    }

    /** The same keys as {@link #stableDiffusion()}, to change before {@link #of(JsonNode)}. */
    public static ObjectNode stableDiffusionJson() {
        ObjectNode n = JsonNodeFactory.instance.objectNode();
        n.put("num_train_timesteps", 1000).put("beta_start", 0.00085).put("beta_end", 0.012)
                .put("beta_schedule", "scaled_linear").put("prediction_type", "epsilon")
                .put("timestep_spacing", "leading").put("steps_offset", 1).put("set_alpha_to_one", false)
                .put("clip_sample", false);
        return n;
    }

    /** The keys as the file wrote them (diffusers' private {@code _...} keys left out). */
    public Map<String, JsonNode> keys() {
        return keys;
    }

    /** What the model predicts; the same default ({@code epsilon}) in every sampler. */
    public String predictionType() {
        return settings("ddim").predictionType();
    }

    /**
     * The config as one sampler sees it: diffusers' {@code from_config} for that class.
     *
     * @param scheduler a request name ({@code ddim}, {@code euler}, {@code euler_a}, {@code dpmpp_2m}, {@code lcm})
     */
    public SchedulerSettings settings(String scheduler) {
        return SchedulerSettings.resolve(scheduler.toLowerCase(Locale.ROOT), keys);
    }

    @Override
    public String toString() {
        return "SchedulerConfig" + keys;
    }

    /** Which values of a key Winnow implements, in words for the error message. */
    private record Rule(Predicate<JsonNode> accepts, String supported) {
    }

    private static Rule oneOf(String... values) {
        List<String> allowed = List.of(values);
        return new Rule(n -> n.isTextual() && allowed.contains(n.asText()), String.join(", ", allowed));
    }

    private static Rule only(boolean value) {
        return new Rule(n -> n.isBoolean() && n.asBoolean() == value, String.valueOf(value));
    }

    private static final Rule ANY_BOOLEAN = new Rule(JsonNode::isBoolean, "true or false");
    private static final Rule NULL = new Rule(JsonNode::isNull, "null");
    private static final Rule ANY_NUMBER = new Rule(JsonNode::isNumber, "a number");
    private static final Rule POSITIVE = new Rule(n -> n.isNumber() && n.asDouble() > 0, "a positive number");
    private static final Rule NULL_OR_POSITIVE = new Rule(n -> n.isNull() || n.isNumber() && n.asDouble() > 0,
            "null or a positive number");

    private static Rule intAtLeast(int min) {
        return new Rule(n -> n.isIntegralNumber() && n.asLong() >= min && n.asLong() <= Integer.MAX_VALUE,
                "an integer ≥ " + min);
    }

    /**
     * Every key that DDIMScheduler, EulerDiscreteScheduler, EulerAncestralDiscreteScheduler,
     * DPMSolverMultistepScheduler or LCMScheduler takes (diffusers 0.40), with the values Winnow
     * implements. Keys none of them take (PNDM's {@code skip_prk_steps}, ...) are ignored, as
     * {@code from_config} ignores them.
     */
    private static final Map<String, Rule> RULES = Map.ofEntries(
            Map.entry("num_train_timesteps", intAtLeast(1)),
            Map.entry("beta_start", POSITIVE),
            Map.entry("beta_end", POSITIVE),
            Map.entry("beta_schedule", oneOf("linear", "scaled_linear", "squaredcos_cap_v2")),
            Map.entry("trained_betas", NULL),
            Map.entry("prediction_type", oneOf("epsilon", "v_prediction", "sample")),
            Map.entry("timestep_spacing", oneOf("leading", "trailing", "linspace")),
            Map.entry("steps_offset", intAtLeast(0)),
            Map.entry("rescale_betas_zero_snr", only(false)),
            // DDIM and LCM
            Map.entry("clip_sample", ANY_BOOLEAN),
            Map.entry("clip_sample_range", POSITIVE),
            Map.entry("set_alpha_to_one", ANY_BOOLEAN),
            Map.entry("thresholding", only(false)),
            Map.entry("dynamic_thresholding_ratio", ANY_NUMBER),   // used only with thresholding
            Map.entry("sample_max_value", ANY_NUMBER),             // used only with thresholding
            // Euler (and DPM++ for the σ options)
            Map.entry("interpolation_type", oneOf("linear")),
            Map.entry("use_karras_sigmas", ANY_BOOLEAN),
            Map.entry("use_exponential_sigmas", only(false)),
            Map.entry("use_beta_sigmas", only(false)),
            Map.entry("sigma_min", NULL_OR_POSITIVE),
            Map.entry("sigma_max", NULL_OR_POSITIVE),
            Map.entry("timestep_type", oneOf("discrete")),
            Map.entry("final_sigmas_type", oneOf("zero", "sigma_min")),
            // DPM-Solver multistep
            Map.entry("solver_order", new Rule(n -> n.isIntegralNumber() && (n.asInt() == 1 || n.asInt() == 2), "1 or 2")),
            Map.entry("algorithm_type", oneOf("dpmsolver++")),
            Map.entry("solver_type", oneOf("midpoint", "heun")),
            Map.entry("lower_order_final", ANY_BOOLEAN),
            Map.entry("euler_at_final", ANY_BOOLEAN),
            Map.entry("use_lu_lambdas", only(false)),
            Map.entry("use_flow_sigmas", only(false)),
            Map.entry("flow_shift", ANY_NUMBER),                   // used only with flow sigmas
            Map.entry("lambda_min_clipped", new Rule(n -> n.isNumber() && n.asDouble() == Double.NEGATIVE_INFINITY,
                    "-Infinity (no clipping)")),
            Map.entry("variance_type", NULL),
            Map.entry("use_dynamic_shifting", only(false)),
            Map.entry("time_shift_type", oneOf("exponential")),   // used only with dynamic shifting
            // LCM
            Map.entry("original_inference_steps", intAtLeast(1)),
            Map.entry("timestep_scaling", POSITIVE));
}
