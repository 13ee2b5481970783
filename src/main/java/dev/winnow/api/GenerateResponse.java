package dev.winnow.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import dev.winnow.judge.Verdict;
import java.util.List;
import java.util.Map;

/** The JSON answer of {@code POST /generate}; the shape is a contract with clients (DESIGN.md). */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record GenerateResponse(
        String id,
        String model,
        Image image,
        Map<String, Double> scores,
        List<Candidate> candidates,
        @JsonProperty("timings_ms") Map<String, Long> timingsMs) {

    public record Image(int index, long seed, int width, int height, @JsonProperty("png_base64") String pngBase64) {
    }

    public record Candidate(int index, long seed, Verdict verdict, Map<String, Double> scores) {
    }
}
