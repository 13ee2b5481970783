package dev.winnow.api;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.winnow.engine.CandidateResult;
import dev.winnow.engine.GenerationRequest;
import dev.winnow.engine.GenerationResult;
import dev.winnow.engine.JobEvents;
import dev.winnow.engine.LivePreview;
import dev.winnow.engine.WinnowEngine;
import dev.winnow.judge.Verdict;
import dev.winnow.tokenizer.Tokens;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import io.vertx.ext.web.RoutingContext;
import jakarta.inject.Inject;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.Context;
import jakarta.ws.rs.core.HttpHeaders;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.sse.OutboundSseEvent;
import jakarta.ws.rs.sse.Sse;
import java.util.List;
import java.util.Map;
import java.util.Locale;
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

    @Inject
    ObjectMapper json;

    @Inject
    Feedback feedback;

    @Inject
    PromptGate gate;

    @POST
    @Consumes(MediaType.APPLICATION_JSON)
    @Produces({MediaType.APPLICATION_JSON, PNG})
    @Operation(summary = "Generate N candidates, judge them, return the best safe one",
            description = "JSON by default; with `Accept: image/png` the body is the PNG and the seed, index and "
                    + "combined score travel in X-Winnow-Seed, X-Winnow-Index and X-Winnow-Score, the pipeline in "
                    + "X-Winnow-Model and X-Winnow-Model-Version. Either way "
                    + "X-Winnow-Prompt-Truncated says whether the prompt ran past the tokenizer's window (77 tokens) "
                    + "and X-Winnow-Prompt-Tokens how many tokens it needed.")
    @APIResponse(responseCode = "200", description = "The best safe candidate",
            content = {@Content(mediaType = MediaType.APPLICATION_JSON, schema = @Schema(implementation = GenerateResponse.class)),
                       @Content(mediaType = PNG)})
    @APIResponse(responseCode = "400", description = "A field is out of bounds; the problem names it",
            content = @Content(mediaType = Problems.PROBLEM_JSON))
    @APIResponse(responseCode = "408", description = "The body did not arrive within winnow.http.body-timeout",
            content = @Content(mediaType = Problems.PROBLEM_JSON))
    @APIResponse(responseCode = "413", description = "Body over the limit (64 KiB)", content = @Content(mediaType = Problems.PROBLEM_JSON))
    @APIResponse(responseCode = "415", description = "Body not application/json", content = @Content(mediaType = Problems.PROBLEM_JSON))
    @APIResponse(responseCode = "422", description = "No candidate was judged safe", content = @Content(mediaType = Problems.PROBLEM_JSON))
    @APIResponse(responseCode = "429", description = "Queue full; see Retry-After", content = @Content(mediaType = Problems.PROBLEM_JSON))
    @APIResponse(responseCode = "503", description = "Warming up, draining, or a model failed", content = @Content(mediaType = Problems.PROBLEM_JSON))
    @APIResponse(responseCode = "504", description = "The deadline passed", content = @Content(mediaType = Problems.PROBLEM_JSON))
    public Uni<Response> generate(GenerateRequest body, HttpHeaders headers, RoutingContext http) {
        GenerationRequest job = validated(body, false);
        boolean png = wantsPng(headers);
        // the same tokenizer, on the same text, as the text encoder's: tells the client what the window cut off
        Tokens prompt = engine.tokenize(job.prompt());
        return ClientJobs.answer(engine, job, http,
                result -> png ? pngResponse(result, job, prompt) : jsonResponse(result, job, candidateImages(body), prompt));
    }

    /**
     * The same job, watched: Server-Sent Events {@code queued}, {@code progress} (each step),
     * {@code candidate} (each outcome: pruned ones as they are pruned, the rest as they are
     * judged), {@code preview} when the request asked for live previews (the leading safe
     * candidate's x̂₀ at evenly spread steps, each judged safe before it is sent, or withheld),
     * then {@code result} with exactly the JSON body of a plain request, or {@code error}
     * with the problem document it would have got. Bad input, a full queue or a service that is
     * not ready are answered before the stream starts, with their plain status and problem.
     * A client that disconnects cancels the job.
     */
    @POST
    @Consumes(MediaType.APPLICATION_JSON)
    @Produces(MediaType.SERVER_SENT_EVENTS)
    @Operation(summary = "Generate, streaming progress as Server-Sent Events",
            description = "Events: queued {position}, progress {step, steps, alive}, candidate {index, seed, verdict, "
                    + "scores}, preview {index, step, steps, candidate, seed, width, height, png_base64} (with "
                    + "\"previews\": 1-3; a preview no safety verdict passed is {step, steps, withheld} instead), then result (the JSON body of the plain call) or error (its problem document).")
    public Multi<OutboundSseEvent> stream(GenerateRequest body, @Context Sse sse, RoutingContext http) {
        GenerationRequest job = validated(body);
        Tokens prompt = engine.tokenize(job.prompt());
        // Events may come before the client subscribes: the stream keeps them until it does.
        EventStream events = new EventStream(sse, json);
        JobEvents watcher = new JobEvents() {
            private int previewsSent;

            @Override
            public void queued(int ahead) {
                events.send("queued", Map.of("position", ahead));
            }

            @Override
            public void progress(int step, int steps, int alive) {
                events.send("progress", Map.of("step", step, "steps", steps, "alive", alive));
            }

            @Override
            public void candidate(CandidateResult c) {
                events.send("candidate", Problems.candidate(c));
            }

            @Override
            public void preview(LivePreview p) {
                events.send("preview", previewEvent(p, p.isSent() ? previewsSent++ : -1));
            }
        };
        boolean candidateImages = candidateImages(body);
        return ClientJobs.stream(engine, job, watcher, events, http,
                (result, failure) -> lastEvent(events, result, failure, job, candidateImages, prompt));
    }

    /**
     * A {@code preview} event: the leading safe candidate's judged x̂₀ preview ({@code index} counts
     * the previews sent, from 0), or, withheld, the step and why, with no pixels.
     */
    static Map<String, Object> previewEvent(LivePreview p, int index) {
        Map<String, Object> m = new java.util.LinkedHashMap<>();
        if (p.isSent()) {
            m.put("index", index);
        }
        m.put("step", p.step());
        m.put("steps", p.steps());
        if (p.isSent()) {
            m.put("candidate", p.candidate());
            m.put("seed", p.seed());
            m.put("width", p.width());
            m.put("height", p.height());
            m.put("png_base64", java.util.Base64.getEncoder().encodeToString(p.png()));
        } else {
            m.put("withheld", p.withheld());
        }
        return m;
    }

    /**
     * The stream's last event: {@code result}, or {@code error} with the problem the plain call
     * would get, also when shaping the result fails (500, logged).
     */
    private void lastEvent(EventStream events, GenerationResult result, Throwable cause, GenerationRequest job,
                           boolean candidateImages, Tokens prompt) {
        if (cause == null) {
            try {
                events.send("result", toJson(result, job, candidateImages, prompt));
                return;
            } catch (RuntimeException | Error e) {
                cause = e; // the image, its JSON or its feedback entry could not be made: the client hears why
            }
        }
        events.send("error", ProblemMappers.engineProblem(cause).getEntity());
    }

    /**
     * The request checked against every bound (a refusal is counted and answered 400 naming the
     * field), then its prompt against the prompt policy (422, before any model runs).
     */
    private GenerationRequest validated(GenerateRequest body) {
        return validated(body, true);
    }

    /** @param streaming whether the answer is the event stream (the only place live previews can go) */
    private GenerationRequest validated(GenerateRequest body, boolean streaming) {
        GenerationRequest job;
        try {
            job = validator.validate(body, engine.capabilities());
            if (!streaming && job.previews() > 0) {
                throw new InvalidRequestException("previews", "previews are sent on the event stream only: "
                        + "ask for it with Accept: text/event-stream, or leave previews out");
            }
        } catch (InvalidRequestException e) {
            engine.recordInvalid();
            throw e;
        }
        gate.check(job.prompt()); // the negative prompt is never refused for what it names
        return job;
    }

    private static boolean candidateImages(GenerateRequest body) {
        return Boolean.TRUE.equals(body.returnCandidateImages());
    }

    private Response jsonResponse(GenerationResult result, GenerationRequest job, boolean candidateImages,
                                         Tokens prompt) {
        return withPromptHeaders(Response.ok(toJson(result, job, candidateImages, prompt), MediaType.APPLICATION_JSON),
                prompt)
                .build();
    }

    private Response pngResponse(GenerationResult result, GenerationRequest job, Tokens prompt) {
        Double combined = result.chosen().scores().get("combined");
        return withPromptHeaders(Response.ok(result.png(), PNG), prompt)
                .header("X-Winnow-Seed", result.chosen().seed())
                .header("X-Winnow-Index", result.chosen().index())
                .header("X-Winnow-Model", result.model())
                .header("X-Winnow-Model-Version", result.pipeline().version())
                .header("X-Winnow-Score", combined == null ? "" : String.format(Locale.ROOT, "%.6f", combined))
                .header("X-Winnow-Id", feedback.publish(job, result, Map.of(result.chosen().index(), result.png())))
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

    /** The JSON body: candidates when the job asked for them, with the safe ones' PNGs when it asked for those. */
    GenerateResponse toJson(GenerationResult r, GenerationRequest job, boolean candidateImages, Tokens prompt) {
        CandidateResult c = r.chosen();
        boolean withCandidates = job.returnCandidates();
        // Only safe candidates have images here: the chosen one and the runners-up the job kept.
        Map<Integer, byte[]> pngs = new java.util.HashMap<>();
        if (candidateImages) {
            pngs.put(c.index(), r.png());
            r.runnersUp().forEach(u -> pngs.put(u.candidate().index(), u.png()));
        }
        List<GenerateResponse.Candidate> candidates = withCandidates
                ? r.candidates().stream().map(x -> new GenerateResponse.Candidate(x.index(), x.seed(), x.verdict(),
                        Problems.finite(x.scores()), x.verdict() == Verdict.SAFE ? pngs.get(x.index()) : null, x.prunedAtStep()))
                        .toList()
                : null;
        String id = feedback.publish(job, r, candidateImages ? pngs : Map.of(c.index(), r.png()));
        return new GenerateResponse(id, r.model(), r.pipeline().version(),
                new GenerateResponse.Image(c.index(), c.seed(), r.width(), r.height(), r.png()),
                Problems.finite(c.scores()), candidates, r.timingsMs(), prompt.truncated(), prompt.promptLength(),
                r.judges());
    }
}
