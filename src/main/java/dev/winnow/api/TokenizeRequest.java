package dev.winnow.api;

import org.eclipse.microprofile.openapi.annotations.media.Schema;

/** The JSON body of {@code POST /tokenize}. */
@Schema(name = "TokenizeRequest", example = "{\"prompt\": \"a red circle on a white background\"}")
public record TokenizeRequest(@Schema(required = true, description = "Text to tokenize (at most 10000 characters)") String prompt) {
}
