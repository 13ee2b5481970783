package dev.winnow.diffusion.scheduler;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;

/**
 * The training noise schedule and sampling defaults from a pack's
 * {@code scheduler/scheduler_config.json} (diffusers' {@code register_to_config} fields).
 * Frozen once read; every scheduler of a pack is built from the same config.
 *
 * @param timestepSpacing {@code leading}, {@code trailing} or {@code linspace}
 * @param predictionType  {@code epsilon}, {@code v_prediction} or {@code sample}
 */
public record SchedulerConfig(
        int numTrainTimesteps,
        double betaStart,
        double betaEnd,
        String betaSchedule,
        String predictionType,
        String timestepSpacing,
        int stepsOffset,
        boolean setAlphaToOne) {

    public SchedulerConfig {
        if (numTrainTimesteps < 1) {
            throw new IllegalArgumentException("num_train_timesteps must be positive, got " + numTrainTimesteps);
        }
        if (!(betaStart > 0 && betaEnd > betaStart && betaEnd < 1)) {
            throw new IllegalArgumentException("need 0 < beta_start < beta_end < 1, got " + betaStart + ", " + betaEnd);
        }
        switch (betaSchedule) {
            case "linear", "scaled_linear", "squaredcos_cap_v2" -> { }
            default -> throw new IllegalArgumentException("beta_schedule '" + betaSchedule
                    + "' is not supported (linear, scaled_linear, squaredcos_cap_v2)");
        }
        switch (predictionType) {
            case "epsilon", "v_prediction", "sample" -> { }
            default -> throw new IllegalArgumentException("prediction_type '" + predictionType
                    + "' is not supported (epsilon, v_prediction, sample)");
        }
        switch (timestepSpacing) {
            case "leading", "trailing", "linspace" -> { }
            default -> throw new IllegalArgumentException("timestep_spacing '" + timestepSpacing
                    + "' is not supported (leading, trailing, linspace)");
        }
    }

    /** Stable Diffusion's schedule: 1000 steps, scaled_linear 0.00085..0.012, epsilon, leading, offset 1. */
    public static SchedulerConfig stableDiffusion() {
        return new SchedulerConfig(1000, 0.00085, 0.012, "scaled_linear", "epsilon", "leading", 1, false);
    }

    /** The same schedule with another timestep spacing (SD-Turbo samples with {@code trailing}). */
    public SchedulerConfig withSpacing(String spacing) {
        return new SchedulerConfig(numTrainTimesteps, betaStart, betaEnd, betaSchedule, predictionType, spacing,
                stepsOffset, setAlphaToOne);
    }

    public SchedulerConfig withPredictionType(String type) {
        return new SchedulerConfig(numTrainTimesteps, betaStart, betaEnd, betaSchedule, type, timestepSpacing,
                stepsOffset, setAlphaToOne);
    }

    /** Reads a diffusers scheduler config; fields it lacks take diffusers' defaults. */
    public static SchedulerConfig read(Path file) throws IOException {
        JsonNode n = new ObjectMapper().readTree(file.toFile());
        try {
            return new SchedulerConfig(
                    n.path("num_train_timesteps").asInt(1000),
                    n.path("beta_start").asDouble(0.0001),
                    n.path("beta_end").asDouble(0.02),
                    n.path("beta_schedule").asText("linear"),
                    n.path("prediction_type").asText("epsilon"),
                    n.path("timestep_spacing").asText("leading"),
                    n.path("steps_offset").asInt(0),
                    n.path("set_alpha_to_one").asBoolean(true));
        } catch (IllegalArgumentException e) {
            throw new IOException(file + ": " + e.getMessage(), e);
        }
    }
}
