package dev.winnow.api;

import dev.winnow.engine.EngineCapabilities;
import dev.winnow.engine.GenerationRequest;
import dev.winnow.engine.GenerationResult;
import dev.winnow.engine.WinnowConfig;
import dev.winnow.engine.WinnowEngine;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.winnow.engine.JobEvents;
import dev.winnow.engine.LivePreview;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import io.vertx.ext.web.RoutingContext;
import jakarta.inject.Inject;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.Context;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.sse.OutboundSseEvent;
import jakarta.ws.rs.sse.Sse;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.eclipse.microprofile.openapi.annotations.Operation;
import org.jboss.logging.Logger;

/**
 * {@code POST /v1/images/generations}: OpenAI's Images API over best-of-N. {@code n} images come
 * back: the top {@code n} safe candidates of {@code best_of} drawn. Requests are translated into
 * a {@code /generate} request and checked by the same validator, so every bound is the same; any
 * error on this route is answered in OpenAI's shape by {@link OpenAiErrors}, with the status
 * {@code /generate} would give.
 */
@Path(OpenAiImagesResource.PATH)
public class OpenAiImagesResource {

    static final String PATH = "/v1/images/generations";

    private static final Logger LOG = Logger.getLogger(OpenAiImagesResource.class);
    private static final Pattern SIZE = Pattern.compile("(\\d{1,5})x(\\d{1,5})");

    @Inject
    WinnowEngine engine;

    @Inject
    RequestValidator validator;

    @Inject
    WinnowConfig config;

    @Inject
    PromptGate gate;

    @Inject
    ObjectMapper json;

    @POST
    @Consumes(MediaType.APPLICATION_JSON)
    @Produces(MediaType.APPLICATION_JSON)
    @Operation(summary = "OpenAI-compatible image generation (best-of-N underneath)")
    public Uni<Map<String, Object>> generate(OpenAiImageRequest body, RoutingContext http) {
        GenerationRequest job = admitted(body);
        return ClientJobs.answer(engine, job, http, OpenAiImagesResource::answer);
    }

    /**
     * {@code stream: true}: OpenAI's image stream. Up to {@code partial_images} (0–3)
     * {@code image_generation.partial_image} events, each the leading safe candidate's x̂₀ preview
     * at evenly spread steps, judged by the safety judge before it is sent (one not judged safe is
     * skipped, so fewer may come, as OpenAI allows); then one {@code image_generation.completed}
     * per returned image; or an {@code error} event in OpenAI's stream error shape. Bad input, a
     * full queue or a service that is not ready are answered before the stream starts, as without
     * {@code stream}. A client that goes away cancels the job. {@link OpenAiStreamNegotiation}
     * routes a body with {@code "stream": true} here whatever its {@code Accept} header says, as
     * the official SDKs send {@code Accept: application/json}.
     */
    @POST
    @Consumes(MediaType.APPLICATION_JSON)
    @Produces(MediaType.SERVER_SENT_EVENTS)
    @Operation(summary = "OpenAI-compatible image generation, streamed (stream: true)",
            description = "Events: image_generation.partial_image {type, b64_json, partial_image_index, created_at, size, "
                    + "quality, background, output_format}, then image_generation.completed {type, b64_json, created_at, "
                    + "size, quality, background, output_format, usage} per image, or error {error: {message, type, "
                    + "param, code}}.")
    public Multi<OutboundSseEvent> stream(OpenAiImageRequest body, @Context Sse sse, RoutingContext http) {
        GenerationRequest job = admitted(body);
        int promptTokens = engine.tokenize(job.prompt()).promptLength();
        EventStream events = new EventStream(sse, json);
        String quality = body.quality() == null ? "auto" : body.quality();
        JobEvents watcher = new JobEvents() {
            private int sent;

            @Override
            public void preview(LivePreview p) {
                if (p.isSent()) { // a withheld preview is skipped: nothing of it leaves
                    Map<String, Object> e = imageEvent(PARTIAL, p.png(), p.width(), p.height(), quality);
                    e.put("partial_image_index", sent++);
                    events.send(PARTIAL, e);
                }
            }
        };
        return ClientJobs.stream(engine, job, watcher, events, http,
                (result, failure) -> lastEvents(events, result, failure, quality, promptTokens));
    }

    static final String PARTIAL = "image_generation.partial_image";
    static final String COMPLETED = "image_generation.completed";

    /** One completed event per returned image, best first; or the error event. */
    private void lastEvents(EventStream events, GenerationResult result, Throwable cause, String quality,
                            int promptTokens) {
        if (cause == null) {
            try {
                List<byte[]> pngs = new ArrayList<>();
                pngs.add(result.png());
                result.runnersUp().forEach(u -> pngs.add(u.png()));
                for (byte[] png : pngs) {
                    Map<String, Object> e = imageEvent(COMPLETED, png, result.width(), result.height(), quality);
                    // Winnow counts no image tokens: the prompt's text tokens are all it reads
                    Map<String, Object> usage = new LinkedHashMap<>();
                    usage.put("total_tokens", promptTokens);
                    usage.put("input_tokens", promptTokens);
                    usage.put("output_tokens", 0);
                    usage.put("input_tokens_details", Map.of("text_tokens", promptTokens, "image_tokens", 0));
                    e.put("usage", usage);
                    events.send(COMPLETED, e);
                }
                return;
            } catch (RuntimeException | Error e) {
                cause = e;
            }
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> problem = (Map<String, Object>) ProblemMappers.engineProblem(cause).getEntity();
        events.send("error", OpenAiErrors.error(problem));
    }

    /** The fields an image event shares with OpenAI's: type, b64_json, created_at, size, quality, background, output_format. */
    private static Map<String, Object> imageEvent(String type, byte[] png, int width, int height, String quality) {
        Map<String, Object> e = new LinkedHashMap<>();
        e.put("type", type);
        e.put("b64_json", Base64.getEncoder().encodeToString(png));
        e.put("created_at", System.currentTimeMillis() / 1000);
        e.put("size", String.format(Locale.ROOT, "%dx%d", width, height));
        e.put("quality", quality);
        e.put("background", "opaque"); // RGB PNGs: no alpha channel
        e.put("output_format", "png");
        return e;
    }

    /** The request translated and checked (a refusal counted), then its prompt against the policy. */
    private GenerationRequest admitted(OpenAiImageRequest body) {
        GenerationRequest job;
        try {
            job = translate(body);
        } catch (InvalidRequestException e) {
            engine.recordInvalid();
            throw e;
        }
        gate.check(job.prompt());
        if (config.openai().logUser() && body.user() != null) {
            LOG.infof("images.generations for user '%s': %d of %d candidates", body.user(), job.images(), job.n());
        }
        return job;
    }

    /** The OpenAI body as a {@code /generate} job: every bound checked by the same validator. */
    GenerationRequest translate(OpenAiImageRequest r) {
        if (r == null) {
            throw new InvalidRequestException("body", "a JSON object with at least \"prompt\" is required");
        }
        EngineCapabilities can = engine.capabilities();
        String pipeline = can.pipeline();
        if (r.model() != null && !r.model().equals(pipeline)) {
            throw new ModelNotFoundException(r.model(), pipeline);
        }
        if (r.responseFormat() != null && !r.responseFormat().equals("b64_json")) {
            throw new InvalidRequestException("response_format", "response_format must be b64_json: Winnow does not "
                    + "store images, so it has no URL to give (got '" + r.responseFormat() + "')");
        }
        if (r.outputFormat() != null && !r.outputFormat().equalsIgnoreCase("png")) {
            throw new InvalidRequestException("output_format", "output_format must be png, got '" + r.outputFormat() + "'");
        }
        int partialImages = RequestValidator.previews(r.partialImages(), "partial_images");
        int maxN = config.limits().maxN();
        int images = r.n() == null ? 1 : r.n();
        if (images < 1 || images > maxN) {
            throw new InvalidRequestException("n", "n must be within 1.." + maxN + ", got " + images);
        }
        int bestOf = r.bestOf() == null ? Math.max(images, Math.min(config.defaults().n(), maxN)) : r.bestOf();
        if (bestOf < images || bestOf > maxN) {
            throw new InvalidRequestException("best_of", "best_of must be within n.." + maxN + " (" + images + ".."
                    + maxN + "), got " + bestOf);
        }
        Integer width = null;
        Integer height = null;
        if (r.size() != null && !r.size().equals("auto")) {
            Matcher m = SIZE.matcher(r.size());
            if (!m.matches()) {
                int side = can.sizes().defaultSide();
                throw new InvalidRequestException("size", "size must be \"WxH\" (e.g. \"" + side + "x" + side
                        + "\") or \"auto\", got '" + r.size() + "'");
            }
            width = Integer.parseInt(m.group(1));
            height = Integer.parseInt(m.group(2));
        }
        GenerateRequest g = new GenerateRequest(r.prompt(), null, bestOf, null, null, r.seed(), width, height, null,
                false, null, null, null, null, null);
        try {
            return validator.validate(g, can).withImages(images)
                    .withPreviews(Boolean.TRUE.equals(r.stream()) ? partialImages : 0);
        } catch (InvalidRequestException e) {
            String field = switch (e.field()) {
                case "width", "height" -> "size";
                case "n" -> "best_of";
                default -> e.field();
            };
            throw new InvalidRequestException(field, e.getMessage());
        }
    }

    /** OpenAI's ImagesResponse: the chosen image first, then the runners-up, each as b64_json. */
    static Map<String, Object> answer(GenerationResult r) {
        List<Map<String, Object>> data = new ArrayList<>();
        data.add(image(r.png()));
        r.runnersUp().forEach(u -> data.add(image(u.png())));
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("created", System.currentTimeMillis() / 1000);
        body.put("data", data);
        body.put("output_format", "png");
        body.put("size", String.format(Locale.ROOT, "%dx%d", r.width(), r.height()));
        return body;
    }

    private static Map<String, Object> image(byte[] png) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("b64_json", Base64.getEncoder().encodeToString(png));
        m.put("revised_prompt", null);
        return m;
    }
}
