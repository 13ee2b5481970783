package dev.winnow.api;

import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.container.ContainerResponseContext;
import java.util.LinkedHashMap;
import java.util.Map;
import org.jboss.resteasy.reactive.server.ServerResponseFilter;

/**
 * On the OpenAI-compatible routes ({@code /v1/...}) every problem document becomes OpenAI's error
 * shape, {@code {"error": {"message", "type", "param", "code"}}}, which the official SDKs parse;
 * the status and headers ({@code Retry-After}) stay those {@code /generate} gives. One place, so
 * that every mapper's answer (bad JSON, bounds, 413, 415, 429, 503, 504) is translated alike.
 */
public class OpenAiErrors {

    static final String PREFIX = "/v1/";

    @ServerResponseFilter
    public void toOpenAiShape(ContainerRequestContext request, ContainerResponseContext response) {
        if (!request.getUriInfo().getPath().startsWith(PREFIX) || !(response.getEntity() instanceof Map<?, ?> problem)
                || !problem.containsKey("type") || !problem.containsKey("status")) {
            return;
        }
        response.setEntity(error(problem), null, jakarta.ws.rs.core.MediaType.APPLICATION_JSON_TYPE);
    }

    /** A problem document in OpenAI's shape: its detail as the message, its field as the param. */
    static Map<String, Object> error(Map<?, ?> problem) {
        int status = ((Number) problem.get("status")).intValue();
        String type = String.valueOf(problem.get("type"));
        String code = type.endsWith("/prompt-refused") ? "content_policy_violation"
                : type.substring(type.lastIndexOf('/') + 1).replace('-', '_');
        Map<String, Object> error = new LinkedHashMap<>();
        error.put("message", problem.get("detail"));
        error.put("type", status == 429 ? "rate_limit_error" : status >= 500 ? "server_error" : "invalid_request_error");
        error.put("param", problem.get("field"));
        error.put("code", code);
        return Map.of("error", error);
    }
}
