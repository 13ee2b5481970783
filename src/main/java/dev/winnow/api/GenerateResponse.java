package dev.winnow.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import dev.winnow.judge.Verdict;
import dev.winnow.modelpack.ModelVersion;
import java.util.List;
import java.util.Map;

/**
 * The JSON answer of {@code POST /generate}; the shape is a contract with clients (DESIGN.md).
 * The last of a request's nouns (engine's package-info): a {@link dev.winnow.engine.GenerationResult}
 * shaped for the wire.
 *
 * @param modelVersion    the version of the pipeline pack that made the image ({@code model} is its name)
 * @param judges          the judges that judged the candidates, by role ({@code safety}, each score
 *                        name, {@code preview} when pruned), each with its name and version
 * @param promptTruncated whether the prompt ran past the tokenizer's window, so the text encoder never saw its tail
 * @param promptTokens    how many tokens the whole prompt needs, start and end tokens included (over the
 *                        window, 77, exactly when truncated)
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record GenerateResponse(
        String id,
        String model,
        @JsonProperty("model_version") String modelVersion,
        Image image,
        Map<String, Double> scores,
        List<Candidate> candidates,
        @JsonProperty("timings_ms") Map<String, Long> timingsMs,
        @JsonProperty("prompt_truncated") boolean promptTruncated,
        @JsonProperty("prompt_tokens") int promptTokens,
        Map<String, ModelVersion> judges) {

    /**
     * @param png the PNG, written as standard base64 (RFC 4648, padded) straight into the response
     *            body by the JSON writer, with no base64 string made first
     */
    public record Image(int index, long seed, int width, int height, @JsonProperty("png_base64") byte[] png) {
    }

    /**
     * @param png          the candidate's PNG (base64 in JSON) when asked for and the candidate is safe; otherwise absent
     * @param prunedAtStep a pruned candidate's step of pruning (its preview was judged after that many steps); otherwise absent
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Candidate(int index, long seed, Verdict verdict, Map<String, Double> scores,
                            @JsonProperty("png_base64") byte[] png, @JsonProperty("pruned_at_step") Integer prunedAtStep) {
    }
}
