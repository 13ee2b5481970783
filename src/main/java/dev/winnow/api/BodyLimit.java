package dev.winnow.api;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.winnow.engine.WinnowConfig;
import dev.winnow.engine.WinnowEngine;
import io.quarkus.runtime.configuration.MemorySize;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpVersion;
import io.vertx.ext.web.RequestBody;
import io.vertx.ext.web.Route;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * How request bodies are read, with every refusal answered like any other error (a problem
 * document; OpenAI's shape on {@code /v1/}), before Quarkus' own
 * {@code quarkus.http.limits.max-body-size} check (which answers a bare 413) and before the JSON
 * reader:
 * <ul>
 * <li>a body over the limit ({@link #API_LIMIT_BYTES}, or the server's hard limit when lower) is
 *     a 413 at its first byte past it, whether it declares a Content-Length or arrives chunked;</li>
 * <li>a body that has not arrived within {@code winnow.http.body-timeout} of its headers (cut
 *     short, or trickling in) is a 408, and its connection is closed;</li>
 * <li>an empty JSON body on a route that reads one is a 400 naming {@code body}. The JSON reader
 *     must never see it: with {@code Content-Length: 0} it would block a worker thread waiting
 *     for bytes that the body handler has already consumed.</li>
 * </ul>
 * The whole body is read here on the event loop, so no worker thread and no place in the
 * engine's queue is taken before it has arrived.
 */
@ApplicationScoped
public class BodyLimit {

    /** Far above any valid request (prompts are at most 1000 characters). */
    static final long API_LIMIT_BYTES = 64 * 1024;

    /** Before Quarkus' upload-limit route (RouteConstants.ROUTE_ORDER_UPLOAD_LIMIT = -2). */
    static final int ROUTE_ORDER = -3;

    /** The routes that read a JSON object from the body. */
    static final Set<String> JSON_ROUTES = Set.of(GenerateResource.PATH, OpenAiImagesResource.PATH,
            FeedbackResource.PATH, TokenizeResource.PATH);

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String BODY_TIMER = "winnow.body-timer";

    @Inject
    WinnowEngine engine;

    @Inject
    WinnowConfig config;

    @ConfigProperty(name = "quarkus.http.limits.max-body-size")
    Optional<MemorySize> serverLimit;

    /** The limit in force: the API's, or the server's hard limit when that is lower. */
    long limitBytes() {
        return serverLimit.map(MemorySize::asLongValue).filter(l -> l < API_LIMIT_BYTES).orElse(API_LIMIT_BYTES);
    }

    void install(@Observes Router router) {
        long limit = limitBytes();
        long timeoutMs = Math.max(1, config.http().bodyTimeout().toMillis());
        // Its own route, just before: Vert.x lets no handler run ahead of a body handler on one route.
        withBody(router.route().order(ROUTE_ORDER - 1)).handler(ctx -> {
            if (isHttp2(ctx)) {
                String length = ctx.request().getHeader(HttpHeaders.CONTENT_LENGTH);
                if (declaredOver(length, limit)) { // the one check an unread HTTP/2 body can have here
                    refuse(ctx, 413, "body-too-large", "Request body too large", "the body is " + length.trim()
                            + " bytes; the limit is " + limit, null, false);
                    return;
                }
                ctx.next();
                return;
            }
            startBodyClock(ctx, timeoutMs);
        });
        BodyHandler bodies = BodyHandler.create(false).setBodyLimit(limit);
        withBody(router.route().order(ROUTE_ORDER))
                .handler(ctx -> {
                    if (isHttp2(ctx)) {
                        ctx.next(); // RESTEasy reads it: see isHttp2
                        return;
                    }
                    bodies.handle(ctx);
                })
                .handler(this::bodyArrived)
                .failureHandler(ctx -> {
                    if (ctx.statusCode() != 413) {
                        ctx.next();
                        return;
                    }
                    stopBodyClock(ctx);
                    String length = ctx.request().getHeader(HttpHeaders.CONTENT_LENGTH);
                    refuse(ctx, 413, "body-too-large", "Request body too large", length != null
                            ? "the body is " + length.trim() + " bytes; the limit is " + limit
                            : "the body is over the limit of " + limit + " bytes", null, true);
                });
    }

    /**
     * HTTP/2 requests (h2c by prior knowledge or upgrade, h2 over TLS) keep the server's own body
     * reading: once a body handler has read an HTTP/2 request to its end, RESTEasy's request
     * context pauses it, and Vert.x's HTTP/2 request refuses a pause after its end ("Request has
     * already been read": a 500 for every POST). Their bodies are read by RESTEasy; here only a
     * declared Content-Length over the limit is refused (413, a problem document). A chunked body
     * over it meets Quarkus' own {@code quarkus.http.limits.max-body-size} (a bare 413), and there
     * is no body clock (the gateway's timeout holds).
     */
    private static boolean isHttp2(RoutingContext ctx) {
        return ctx.request().version() == HttpVersion.HTTP_2;
    }

    private static boolean declaredOver(String contentLength, long limit) {
        try {
            return contentLength != null && Long.parseLong(contentLength.trim()) > limit;
        } catch (NumberFormatException e) {
            return false; // the server answers a malformed header itself
        }
    }

    private static Route withBody(Route route) {
        return route.method(HttpMethod.POST).method(HttpMethod.PUT).method(HttpMethod.PATCH);
    }

    /** The body has until the timeout to arrive; the clock stops when it has, or when the exchange ends. */
    private void startBodyClock(RoutingContext ctx, long timeoutMs) {
        if (!ctx.request().isEnded()) {
            long timer = ctx.vertx().setTimer(timeoutMs, t -> bodyTimedOut(ctx, timeoutMs));
            ctx.put(BODY_TIMER, timer);
            ctx.addEndHandler(done -> ctx.vertx().cancelTimer(timer)); // a closed connection ends it too
        }
        ctx.next();
    }

    private static void stopBodyClock(RoutingContext ctx) {
        Long timer = ctx.get(BODY_TIMER);
        if (timer != null) {
            ctx.vertx().cancelTimer(timer);
        }
    }

    private void bodyTimedOut(RoutingContext ctx, long timeoutMs) {
        if (ctx.request().isEnded() || ctx.response().ended() || ctx.response().closed()) {
            return; // the body arrived (or the client left) as the timer fired
        }
        String length = ctx.request().getHeader(HttpHeaders.CONTENT_LENGTH);
        refuse(ctx, 408, "body-timeout", "Request body timeout", "the body did not arrive within " + timeoutMs
                + " ms" + (length != null ? " (Content-Length: " + length.trim() + " bytes)" : ""), "body", true);
    }

    /** After the body handler: the body is all here. An empty JSON body is refused before the JSON reader sees it. */
    private void bodyArrived(RoutingContext ctx) {
        if (isHttp2(ctx)) {
            ctx.next(); // not read here: see isHttp2
            return;
        }
        stopBodyClock(ctx);
        RequestBody body = ctx.body();
        if ((body == null || body.length() <= 0) && isJson(ctx) && JSON_ROUTES.contains(ctx.normalizedPath())) {
            refuse(ctx, 400, "invalid-request", "Invalid request", "a JSON object is required; the body is empty",
                    "body", false);
            return;
        }
        ctx.next();
    }

    private static boolean isJson(RoutingContext ctx) {
        String type = ctx.request().getHeader(HttpHeaders.CONTENT_TYPE);
        if (type == null) {
            return false; // 415 from the resource, as for any body that is not JSON
        }
        int semicolon = type.indexOf(';');
        return (semicolon < 0 ? type : type.substring(0, semicolon)).trim().toLowerCase(Locale.ROOT)
                .equals("application/json");
    }

    /**
     * Answers a refused body with its problem document and counts a refused generation.
     *
     * @param close whether the rest of the body goes unread: then the connection is closed once the answer is out
     */
    private void refuse(RoutingContext ctx, int status, String type, String title, String detail, String field,
                        boolean close) {
        if (GenerateResource.PATH.equals(ctx.normalizedPath()) || OpenAiImagesResource.PATH.equals(ctx.normalizedPath())) {
            engine.recordInvalid();
        }
        boolean openAi = ctx.normalizedPath().startsWith(OpenAiErrors.PREFIX); // that route answers in OpenAI's shape
        String text;
        try {
            Map<String, Object> problem = Problems.body(status, type, title, detail,
                    field == null ? null : Map.of("field", field));
            text = JSON.writeValueAsString(openAi ? OpenAiErrors.error(problem) : problem);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
        ctx.response().setStatusCode(status)
                .putHeader(HttpHeaders.CONTENT_TYPE, openAi ? "application/json" : Problems.PROBLEM_JSON);
        if (close) {
            ctx.response().putHeader(HttpHeaders.CONNECTION, "close")
                    .endHandler(done -> ctx.request().connection().close());
        }
        ctx.response().end(text);
    }
}
