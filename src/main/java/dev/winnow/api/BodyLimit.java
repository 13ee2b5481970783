package dev.winnow.api;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.winnow.engine.WinnowEngine;
import io.quarkus.runtime.configuration.MemorySize;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpMethod;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.util.Map;
import java.util.Optional;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * The request-body limit, answered like every other error: a 413 problem document. Request
 * bodies are read here, before Quarkus' own {@code quarkus.http.limits.max-body-size} check
 * (which answers a bare 413) and before the JSON reader, whether they declare a Content-Length
 * or arrive chunked; the first byte past the limit ends the request. The limit is
 * {@link #API_LIMIT_BYTES}, or the server's hard limit when that is lower.
 */
@ApplicationScoped
public class BodyLimit {

    /** Far above any valid request (prompts are at most 1000 characters). */
    static final long API_LIMIT_BYTES = 64 * 1024;

    /** Before Quarkus' upload-limit route (RouteConstants.ROUTE_ORDER_UPLOAD_LIMIT = -2). */
    static final int ROUTE_ORDER = -3;

    private static final ObjectMapper JSON = new ObjectMapper();

    @Inject
    WinnowEngine engine;

    @ConfigProperty(name = "quarkus.http.limits.max-body-size")
    Optional<MemorySize> serverLimit;

    /** The limit in force: the API's, or the server's hard limit when that is lower. */
    long limitBytes() {
        return serverLimit.map(MemorySize::asLongValue).filter(l -> l < API_LIMIT_BYTES).orElse(API_LIMIT_BYTES);
    }

    void install(@Observes Router router) {
        long limit = limitBytes();
        router.route().order(ROUTE_ORDER).method(HttpMethod.POST).method(HttpMethod.PUT).method(HttpMethod.PATCH)
                .handler(BodyHandler.create(false).setBodyLimit(limit))
                .failureHandler(ctx -> {
                    if (ctx.statusCode() != 413) {
                        ctx.next();
                        return;
                    }
                    if (GenerateResource.PATH.equals(ctx.normalizedPath())
                            || OpenAiImagesResource.PATH.equals(ctx.normalizedPath())) {
                        engine.recordInvalid();
                    }
                    String length = ctx.request().getHeader(HttpHeaders.CONTENT_LENGTH);
                    respond(ctx, length != null
                            ? "the body is " + length.trim() + " bytes; the limit is " + limit
                            : "the body is over the limit of " + limit + " bytes");
                });
    }

    private static void respond(RoutingContext ctx, String detail) {
        boolean openAi = ctx.normalizedPath().startsWith(OpenAiErrors.PREFIX); // that route answers in OpenAI's shape
        String body;
        try {
            Map<String, Object> problem = Problems.body(413, "body-too-large", "Request body too large", detail, null);
            body = JSON.writeValueAsString(openAi ? OpenAiErrors.error(problem) : problem);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
        // The rest of the body is not read: close the connection once the answer is out.
        ctx.response().setStatusCode(413)
                .putHeader(HttpHeaders.CONTENT_TYPE, openAi ? "application/json" : Problems.PROBLEM_JSON)
                .putHeader(HttpHeaders.CONNECTION, "close")
                .endHandler(done -> ctx.request().connection().close())
                .end(body);
    }
}
