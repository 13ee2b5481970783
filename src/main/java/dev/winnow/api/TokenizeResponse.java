package dev.winnow.api;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * The pipeline tokenizer's view of a prompt.
 *
 * @param inputIds   start token, BPE ids, end token; unpadded, truncated to the window
 * @param tokenCount how many ids that is
 * @param truncated  whether the prompt ran past the window (the text encoder never sees the rest)
 */
public record TokenizeResponse(
        @JsonProperty("input_ids") int[] inputIds,
        @JsonProperty("token_count") int tokenCount,
        boolean truncated,
        @JsonProperty("max_length") int maxLength) {
}
