package dev.winnow.api;

import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.core.Response;
import org.jboss.resteasy.reactive.server.ServerRequestFilter;

/**
 * Refuses bodies over the limit with a 413 problem before reading them. (Bodies without a
 * Content-Length are capped by {@code quarkus.http.limits.max-body-size}.)
 */
public class BodySizeFilter {

    static final long MAX_BODY_BYTES = 64 * 1024;

    @ServerRequestFilter(preMatching = true)
    public Response limit(ContainerRequestContext ctx) {
        String length = ctx.getHeaderString("Content-Length");
        if (length != null) {
            try {
                if (Long.parseLong(length.trim()) > MAX_BODY_BYTES) {
                    return Problems.response(413, "body-too-large", "Request body too large",
                            "the body is " + length.trim() + " bytes; the limit is " + MAX_BODY_BYTES);
                }
            } catch (NumberFormatException e) {
                return Problems.response(400, "invalid-request", "Invalid request", "Content-Length is not a number");
            }
        }
        return null;
    }
}
