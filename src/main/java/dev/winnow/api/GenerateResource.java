package dev.winnow.api;

import dev.winnow.engine.CandidateResult;
import dev.winnow.engine.GenerationRequest;
import dev.winnow.engine.GenerationResult;
import dev.winnow.engine.WinnowEngine;
import dev.winnow.tokenizer.Tokens;
import io.smallrye.mutiny.Uni;
import io.smallrye.mutiny.infrastructure.Infrastructure;
import io.vertx.ext.web.RoutingContext;
import jakarta.inject.Inject;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.HttpHeaders;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import org.eclipse.microprofile.openapi.annotations.Operation;
import org.eclipse.microprofile.openapi.annotations.media.Content;
import org.eclipse.microprofile.openapi.annotations.media.Schema;
import org.eclipse.microprofile.openapi.annotations.responses.APIResponse;

/** {@code POST /generate}: best-of-N generation. Thin: validation, the engine, and the answer's shape. */
@Path(GenerateResource.PATH)
public class GenerateResource {

    static final String PATH = "/generate";

    static final String PNG = "image/png";

    @Inject
    WinnowEngine engine;

    @Inject
    RequestValidator validator;

    @POST
    @Consumes(MediaType.APPLICATION_JSON)
    @Produces({MediaType.APPLICATION_JSON, PNG})
    @Operation(summary = "Generate N candidates, judge them, return the best safe one",
            description = "JSON by default; with `Accept: image/png` the body is the PNG and the seed, index and "
                    + "combined score travel in X-Winnow-Seed, X-Winnow-Index and X-Winnow-Score. Either way "
                    + "X-Winnow-Prompt-Truncated says whether the prompt ran past the tokenizer's window (77 tokens) "
                    + "and X-Winnow-Prompt-Tokens how many tokens it needed.")
    @APIResponse(responseCode = "200", description = "The best safe candidate",
            content = {@Content(mediaType = MediaType.APPLICATION_JSON, schema = @Schema(implementation = GenerateResponse.class)),
                       @Content(mediaType = PNG)})
    @APIResponse(responseCode = "400", description = "A field is out of bounds; the problem names it",
            content = @Content(mediaType = Problems.PROBLEM_JSON))
    @APIResponse(responseCode = "413", description = "Body over the limit (64 KiB)", content = @Content(mediaType = Problems.PROBLEM_JSON))
    @APIResponse(responseCode = "415", description = "Body not application/json", content = @Content(mediaType = Problems.PROBLEM_JSON))
    @APIResponse(responseCode = "422", description = "No candidate was judged safe", content = @Content(mediaType = Problems.PROBLEM_JSON))
    @APIResponse(responseCode = "429", description = "Queue full; see Retry-After", content = @Content(mediaType = Problems.PROBLEM_JSON))
    @APIResponse(responseCode = "503", description = "Warming up, draining, or a model failed", content = @Content(mediaType = Problems.PROBLEM_JSON))
    @APIResponse(responseCode = "504", description = "The deadline passed", content = @Content(mediaType = Problems.PROBLEM_JSON))
    public Uni<Response> generate(GenerateRequest body, HttpHeaders headers, RoutingContext http) {
        GenerationRequest job;
        try {
            job = validator.validate(body, engine.pipeline(), engine.scoreNames(), engine.canPrune());
        } catch (InvalidRequestException e) {
            engine.recordInvalid();
            throw e;
        }
        boolean png = wantsPng(headers);
        // the same tokenizer, on the same text, as the text encoder's: tells the client what the window cut off
        Tokens prompt = engine.pipeline().tokenizer().tokenize(job.prompt());
        CompletableFuture<GenerationResult> pending = engine.submit(job);
        // A client that goes away cancels its job: its slots leave the batch at the next step.
        http.response().closeHandler(closed -> pending.cancel(true));
        // The answer is shaped (the PNG encoded) on a worker thread, not on the engine's finishing thread.
        return Uni.createFrom().completionStage(pending)
                .onCancellation().invoke(() -> pending.cancel(true))
                .emitOn(Infrastructure.getDefaultWorkerPool())
                .map(result -> png ? pngResponse(result, prompt) : jsonResponse(result, job.returnCandidates(), prompt));
    }

    private static Response jsonResponse(GenerationResult result, boolean withCandidates, Tokens prompt) {
        return withPromptHeaders(Response.ok(toJson(result, withCandidates, prompt), MediaType.APPLICATION_JSON), prompt)
                .build();
    }

    private static Response pngResponse(GenerationResult result, Tokens prompt) {
        Double combined = result.chosen().scores().get("combined");
        return withPromptHeaders(Response.ok(result.png(), PNG), prompt)
                .header("X-Winnow-Seed", result.chosen().seed())
                .header("X-Winnow-Index", result.chosen().index())
                .header("X-Winnow-Score", combined == null ? "" : String.format(Locale.ROOT, "%.6f", combined))
                .header("X-Winnow-Id", result.id())
                .build();
    }

    /** Whether the prompt ran past the tokenizer's window, and how many tokens it needed (start and end included). */
    private static Response.ResponseBuilder withPromptHeaders(Response.ResponseBuilder response, Tokens prompt) {
        return response.header("X-Winnow-Prompt-Truncated", prompt.truncated())
                .header("X-Winnow-Prompt-Tokens", prompt.promptLength());
    }

    /** PNG only when the client prefers it to JSON (the first acceptable type decides). */
    static boolean wantsPng(HttpHeaders headers) {
        for (MediaType t : headers.getAcceptableMediaTypes()) {
            if (t.isCompatible(MediaType.APPLICATION_JSON_TYPE) && !t.isWildcardType()) {
                return false;
            }
            if (PNG.equals(t.getType() + "/" + t.getSubtype())) {
                return true;
            }
        }
        return false;
    }

    static GenerateResponse toJson(GenerationResult r, boolean withCandidates, Tokens prompt) {
        CandidateResult c = r.chosen();
        List<GenerateResponse.Candidate> candidates = withCandidates
                ? r.candidates().stream().map(x -> new GenerateResponse.Candidate(x.index(), x.seed(), x.verdict(),
                        Problems.finite(x.scores()))).toList()
                : null;
        return new GenerateResponse(r.id(), r.model(),
                new GenerateResponse.Image(c.index(), c.seed(), r.width(), r.height(), r.png()),
                Problems.finite(c.scores()), candidates, r.timingsMs(), prompt.truncated(), prompt.promptLength());
    }
}
