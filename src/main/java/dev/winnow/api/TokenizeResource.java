package dev.winnow.api;

import dev.winnow.engine.WinnowEngine;
import dev.winnow.tokenizer.Tokens;
import jakarta.inject.Inject;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import java.util.Arrays;
import org.eclipse.microprofile.openapi.annotations.Operation;

/** {@code POST /tokenize}: how the loaded pipeline's tokenizer sees a prompt. */
@Path(TokenizeResource.PATH)
public class TokenizeResource {

    static final String PATH = "/tokenize";

    static final int MAX_TEXT = 10_000;

    @Inject
    WinnowEngine engine;

    @POST
    @Consumes(MediaType.APPLICATION_JSON)
    @Produces(MediaType.APPLICATION_JSON)
    @Operation(summary = "Tokenize a prompt with the pipeline's CLIP tokenizer",
            description = "Shows the ids the text encoder sees and whether the prompt runs past its window (77 tokens).")
    public TokenizeResponse tokenize(TokenizeRequest body) {
        if (body == null || body.prompt() == null) {
            throw new InvalidRequestException("prompt", "prompt is required");
        }
        if (body.prompt().length() > MAX_TEXT) {
            throw new InvalidRequestException("prompt", "prompt must be at most " + MAX_TEXT + " characters");
        }
        Tokens tokens = engine.tokenize(body.prompt());
        int[] ids = Arrays.copyOf(tokens.inputIds(), tokens.tokenCount());
        return new TokenizeResponse(ids, ids.length, tokens.truncated(), engine.capabilities().tokenWindow());
    }
}
