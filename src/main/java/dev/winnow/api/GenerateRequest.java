package dev.winnow.api;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.Map;
import org.eclipse.microprofile.openapi.annotations.media.Schema;

/**
 * The JSON body of {@code POST /generate}. Every field but {@code prompt} is optional; unknown fields are refused.
 * The first of a request's nouns (engine's package-info): {@link RequestValidator} makes it a
 * {@link dev.winnow.engine.GenerationRequest}.
 */
@Schema(name = "GenerateRequest", example = """
        {"prompt": "a red circle on a white background", "n": 4, "steps": 20, "guidance_scale": 5.0,
         "seed": 100, "scheduler": "ddim", "return_candidates": true}""")
public record GenerateRequest(
        @Schema(required = true, description = "What to draw (1–1000 characters, not blank)",
                example = "a red circle on a white background")
        String prompt,
        @JsonProperty("negative_prompt")
        @Schema(description = "What to steer away from (at most 1000 characters)")
        String negativePrompt,
        @Schema(description = "Candidates to generate and judge (1–winnow.limits.max-n, default 4)", example = "4")
        Integer n,
        @Schema(description = "Denoising steps (1–100; LCM 1–50; default 20)", example = "20")
        Integer steps,
        @JsonProperty("guidance_scale")
        @Schema(description = "Classifier-free guidance scale (0–30; ≤ 1 disables guidance; default 5)", example = "5.0")
        Double guidanceScale,
        @Schema(description = "Seed of candidate 0; candidate i uses seed + i (0–2^53; drawn when absent)", example = "100")
        Long seed,
        @Schema(description = "Image width in pixels, a multiple of 8 the pack supports (default: the pack's size)")
        Integer width,
        @Schema(description = "Image height in pixels, a multiple of 8 the pack supports (default: the pack's size)")
        Integer height,
        @Schema(description = "Sampler", enumeration = {"ddim", "euler", "euler_a", "dpmpp_2m", "lcm"}, example = "ddim")
        String scheduler,
        @JsonProperty("return_candidates")
        @Schema(description = "Include every candidate's verdict and scores")
        Boolean returnCandidates,
        @JsonProperty("ranking_weights")
        @Schema(description = "Weights of the normalised scores in the combined score, e.g. {\"aesthetic\": 1, \"faithfulness\": 2}")
        Map<String, Double> rankingWeights,
        @JsonProperty("deadline_ms")
        @Schema(description = "Give up after this many milliseconds (at most the server's default deadline)")
        Long deadlineMs,
        @Schema(description = "Speculative best-of-N: after a fraction `at` of the steps, keep only the `keep` "
                + "candidates whose x̂₀ previews score best (and those within `margin` of the best; `then`: decide "
                + "again later); the others are listed with verdict `pruned` and `pruned_at_step`. `{}`: the "
                + "server's strategy")
        PruneRequest prune,
        @JsonProperty("return_candidate_images")
        @Schema(description = "Include the PNG of every *safe* candidate in `candidates` (implies return_candidates); "
                + "an unsafe candidate's pixels never leave the service")
        Boolean returnCandidateImages,
        @Schema(description = "Live previews on the event stream (Accept: text/event-stream only), 0–3: the leading "
                + "safe candidate's x̂₀ preview at evenly spread steps, each judged by the safety judge before it is "
                + "sent (one not judged safe is withheld, never shown); default 0")
        Integer previews) {

    /**
     * The {@code prune} object: {@code {}} asks for the server's strategy ({@code winnow.prune.*},
     * stages and margin included); {@code at} and {@code keep} may each be left to the server's
     * defaults, and then mean exactly what they always did (one decision, exactly {@code keep}).
     */
    @Schema(name = "Prune", example = "{\"at\": 0.2, \"keep\": 2}")
    public record PruneRequest(
            @Schema(description = "Fraction of the steps taken before the previews are judged, within (0, 1) "
                    + "(default winnow.prune.at, 0.2)", example = "0.2")
            Double at,
            @Schema(description = "Candidates kept at least, 1 to n - 1 (default ceil(n × winnow.prune.keep-fraction)); "
                    + "exactly this many unless `margin` keeps more", example = "2")
            Integer keep,
            @Schema(description = "Also keep every candidate whose preview score (normalised, 0–1) is within this of "
                    + "the best, 0–1: where the judge cannot tell candidates apart yet, they go on (default 0)",
                    example = "0.1")
            Double margin,
            @Schema(description = "A later decision among the kept candidates, by the same rule, with its own `at` "
                    + "(required, later than this one), `keep` and `margin`")
            PruneRequest then) {
    }
}
