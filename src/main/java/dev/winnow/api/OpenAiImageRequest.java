package dev.winnow.api;

import com.fasterxml.jackson.annotation.JsonProperty;
import org.eclipse.microprofile.openapi.annotations.media.Schema;

/**
 * The body of {@code POST /v1/images/generations}, as OpenAI's Images API and its official SDKs
 * send it. Fields Winnow has no use for are accepted and ignored (listed in the README); unknown
 * fields are refused, as on {@code /generate}.
 */
@Schema(name = "OpenAiImageRequest", example = """
        {"prompt": "a red circle to the left of a blue square", "n": 2, "best_of": 8, "size": "64x64",
         "response_format": "b64_json"}""")
public record OpenAiImageRequest(
        @Schema(required = true, description = "What to draw") String prompt,
        @Schema(description = "Absent, or the loaded pipeline's name; anything else is model_not_found") String model,
        @Schema(description = "Images returned: the top n safe candidates (default 1)") Integer n,
        @JsonProperty("best_of")
        @Schema(description = "Winnow extension: candidates drawn (default the server's N, never fewer than n)")
        Integer bestOf,
        @Schema(description = "\"WxH\" or \"auto\" (the pack's size)") String size,
        @JsonProperty("response_format")
        @Schema(description = "b64_json (url is not offered: images are not stored)") String responseFormat,
        @Schema(description = "The end user; logged only when winnow.openai.log-user is true, never a metric label")
        String user,
        @Schema(description = "Winnow extension: the seed of candidate 0 (drawn when absent)") Long seed,
        @JsonProperty("output_format") @Schema(description = "png only") String outputFormat,
        @Schema(description = "true: Server-Sent Events (image_generation.partial_image, image_generation.completed)")
        Boolean stream,
        @Schema(description = "Accepted and ignored") String quality,
        @Schema(description = "Accepted and ignored") String style,
        @Schema(description = "Accepted and ignored") String background,
        @Schema(description = "Accepted and ignored (Winnow's safety judge always runs)") String moderation,
        @JsonProperty("output_compression") @Schema(description = "Accepted and ignored") Integer outputCompression,
        @JsonProperty("partial_images")
        @Schema(description = "0–3 partial images when streaming: the leading safe candidate's x̂₀ preview at evenly "
                + "spread steps, each judged by the safety judge before it is sent (one not judged safe is skipped)")
        Integer partialImages) {
}
