package dev.winnow.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vertx.ext.web.RequestBody;
import io.vertx.ext.web.RoutingContext;
import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.core.HttpHeaders;
import jakarta.ws.rs.core.MediaType;
import java.io.IOException;
import org.jboss.resteasy.reactive.server.ServerRequestFilter;

/**
 * OpenAI's Images API streams when the body says {@code "stream": true}, not when the
 * {@code Accept} header asks (the official SDKs send {@code Accept: application/json} either way).
 * Before the route is matched, this reads the body {@link BodyLimit} has already read and makes
 * the {@code Accept} header say what the body says, so that {@link OpenAiImagesResource#stream}
 * answers a stream and {@link OpenAiImagesResource#generate} everything else. A body that is not
 * JSON is left to the JSON reader's 400.
 */
public class OpenAiStreamNegotiation {

    private static final ObjectMapper JSON = new ObjectMapper();

    @ServerRequestFilter(preMatching = true)
    public void acceptWhatTheBodySays(ContainerRequestContext request, RoutingContext http) {
        if (!"POST".equals(request.getMethod()) || !OpenAiImagesResource.PATH.equals(http.normalizedPath())) {
            return;
        }
        RequestBody body = http.body();
        if (body == null || body.length() <= 0) {
            return;
        }
        boolean stream;
        try {
            JsonNode tree = JSON.readTree(body.buffer().getBytes());
            stream = tree != null && tree.path("stream").isBoolean() && tree.path("stream").booleanValue();
        } catch (IOException e) {
            return;
        }
        String accept = request.getHeaderString(HttpHeaders.ACCEPT);
        if (stream) {
            request.getHeaders().putSingle(HttpHeaders.ACCEPT, MediaType.SERVER_SENT_EVENTS);
        } else if (accept != null && accept.contains(MediaType.SERVER_SENT_EVENTS)) {
            request.getHeaders().putSingle(HttpHeaders.ACCEPT, MediaType.APPLICATION_JSON);
        }
    }
}
