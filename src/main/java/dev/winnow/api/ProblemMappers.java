package dev.winnow.api;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import dev.winnow.engine.DeadlineExceededException;
import dev.winnow.engine.GenerationFailedException;
import dev.winnow.engine.NoSafeCandidateException;
import dev.winnow.engine.NotReadyException;
import dev.winnow.engine.QueueFullException;
import dev.winnow.engine.WinnowEngine;
import jakarta.ws.rs.WebApplicationException;
import jakarta.inject.Inject;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.core.UriInfo;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.eclipse.microprofile.faulttolerance.exceptions.CircuitBreakerOpenException;
import org.jboss.logging.Logger;
import org.jboss.resteasy.reactive.server.ServerExceptionMapper;

/**
 * Maps every failure to its problem+json answer; nothing reaches a client as a 500 with a trace.
 * A {@code /generate} body refused before validation (malformed JSON, a wrong type, an unknown
 * field, not JSON at all) counts in {@code winnow_rejected_total{reason="invalid"}} like one
 * that fails validation.
 */
public class ProblemMappers {

    private static final Logger LOG = Logger.getLogger(ProblemMappers.class);

    @Inject
    WinnowEngine engine;

    /** Counts a refused generate request; other endpoints' bad input is not a rejected generation. */
    private Response refused(UriInfo uri, Response problem) {
        if (uri != null && (GenerateResource.PATH.equals(uri.getPath()) || OpenAiImagesResource.PATH.equals(uri.getPath()))) {
            engine.recordInvalid();
        }
        return problem;
    }

    /**
     * The problem answer to a job the engine admitted and then could not answer with an image
     * (no safe candidate, deadline, failure, drain): what a streaming client gets as its
     * {@code error} event, the same document a plain request gets.
     */
    static Response engineProblem(Throwable e) {
        ProblemMappers m = new ProblemMappers(); // these mappers count nothing: the engine already has
        if (e instanceof NoSafeCandidateException x) {
            return m.noSafe(x);
        }
        if (e instanceof DeadlineExceededException x) {
            return m.deadline(x);
        }
        if (e instanceof GenerationFailedException x) {
            return m.failed(x);
        }
        if (e instanceof NotReadyException x) {
            return m.notReady(x);
        }
        return m.unexpected(e instanceof Exception x ? x : new RuntimeException(e));
    }

    @ServerExceptionMapper
    public Response refused(PromptRefusedException e) {
        return Problems.response(422, "prompt-refused", "Prompt refused", e.getMessage(),
                Map.of("rule", e.rule(), "field", "prompt"));
    }

    @ServerExceptionMapper
    public Response modelNotFound(ModelNotFoundException e) {
        return Problems.response(404, "model-not-found", "Model not found", e.getMessage(), Map.of("field", "model"));
    }

    @ServerExceptionMapper
    public Response invalid(InvalidRequestException e) {
        return Problems.response(400, "invalid-request", "Invalid request", e.getMessage(), Map.of("field", e.field()));
    }

    @ServerExceptionMapper
    public Response unknownField(UnrecognizedPropertyException e, UriInfo uri) {
        return refused(uri, jsonProblem(e));
    }

    /** Wrong types ("4" or 4.5 for an integer, 42 for a string, an array for the body): Jackson's MismatchedInputException. */
    @ServerExceptionMapper
    public Response mismatched(MismatchedInputException e, UriInfo uri) {
        return refused(uri, jsonProblem(e));
    }

    @ServerExceptionMapper
    public Response badJson(JsonProcessingException e, UriInfo uri) {
        return refused(uri, jsonProblem(e));
    }

    private static Response jsonProblem(JsonProcessingException e) {
        if (e instanceof UnrecognizedPropertyException u) {
            String field = u.getPath().isEmpty() ? u.getPropertyName() : path(u); // "prune.foo" inside an object
            return Problems.response(400, "invalid-request", "Invalid request",
                    "unknown field '" + field + "'", Map.of("field", field));
        }
        if (e instanceof JsonMappingException m && !m.getPath().isEmpty()) {
            String field = path(m);
            String expected = e instanceof MismatchedInputException mi ? expected(mi.getTargetType()) : null;
            return Problems.response(400, "invalid-request", "Invalid request",
                    expected != null ? "field '" + field + "' must be " + expected
                            : "field '" + field + "' has the wrong type or format",
                    Map.of("field", field));
        }
        if (e instanceof MismatchedInputException) {
            return Problems.response(400, "invalid-request", "Invalid request",
                    "the body must be a JSON object: " + firstLine(e.getOriginalMessage()), Map.of("field", "body"));
        }
        return Problems.response(400, "malformed-json", "Malformed JSON",
                "the body is not valid JSON: " + firstLine(e.getOriginalMessage()), Map.of("field", "body"));
    }

    @ServerExceptionMapper
    public Response noSafe(NoSafeCandidateException e) {
        List<Map<String, Object>> candidates = e.candidates().stream().map(Problems::candidate).toList();
        return Problems.response(422, "no-safe-candidate", "No safe candidate", e.getMessage()
                + "; try another seed or prompt, or more candidates", Map.of("candidates", candidates));
    }

    @ServerExceptionMapper
    public Response queueFull(QueueFullException e) {
        Response r = Problems.response(429, "queue-full", "Too many requests", e.getMessage());
        return Response.fromResponse(r).header("Retry-After", e.retryAfterSeconds()).build();
    }

    @ServerExceptionMapper
    public Response notReady(NotReadyException e) {
        Response r = Problems.response(503, "not-ready", "Service not ready", e.getMessage());
        return Response.fromResponse(r).header("Retry-After", 5).build();
    }

    @ServerExceptionMapper
    public Response failed(GenerationFailedException e) {
        if (e.getCause() instanceof CircuitBreakerOpenException) {
            Response r = Problems.response(503, "device-unavailable", "Device unavailable",
                    "model calls are failing repeatedly, so the circuit is open; retry later");
            return Response.fromResponse(r).header("Retry-After", 10).build();
        }
        LOG.errorf(e, "generation failed");
        return Problems.response(503, "generation-failed", "Generation failed",
                "a model call failed while generating; the request can be retried");
    }

    @ServerExceptionMapper
    public Response deadline(DeadlineExceededException e) {
        return Problems.response(504, "deadline-exceeded", "Deadline exceeded", e.getMessage());
    }

    @ServerExceptionMapper
    public Response web(WebApplicationException e, UriInfo uri) {
        if (e.getCause() instanceof JsonProcessingException json) {
            return refused(uri, jsonProblem(json));
        }
        int status = e.getResponse().getStatus();
        String type = switch (status) {
            case 404 -> "not-found";
            case 405 -> "method-not-allowed";
            case 406 -> "not-acceptable";
            case 413 -> "body-too-large";
            case 415 -> "unsupported-media-type";
            default -> status >= 500 ? "internal-error" : "invalid-request";
        };
        String detail = switch (status) {
            case 415 -> "send the body as application/json";
            case 406 -> "this endpoint answers application/json or image/png";
            default -> e.getMessage();
        };
        Response problem = Problems.response(status, type, Response.Status.fromStatusCode(status) == null ? "Error"
                : Response.Status.fromStatusCode(status).getReasonPhrase(), detail);
        return status == 400 || status == 413 || status == 415 ? refused(uri, problem) : problem;
    }

    @ServerExceptionMapper
    public Response unexpected(Exception e) {
        LOG.errorf(e, "unexpected error");
        return Problems.response(500, "internal-error", "Internal error",
                "an unexpected error occurred; it has been logged");
    }

    private static String expected(Class<?> type) {
        if (type == null) {
            return null;
        }
        if (type == Integer.class || type == int.class || type == Long.class || type == long.class) {
            return "an integer";
        }
        if (type == Double.class || type == double.class) {
            return "a number";
        }
        if (type == Boolean.class || type == boolean.class) {
            return "true or false";
        }
        if (type == String.class) {
            return "a string";
        }
        return Map.class.isAssignableFrom(type) ? "a JSON object" : null;
    }

    /** The field's path in the body: {@code n}, {@code prune.keep}, {@code ranking_weights.aesthetic}. */
    private static String path(JsonMappingException m) {
        return m.getPath().stream()
                .map(r -> r.getFieldName() != null ? r.getFieldName() : "[" + r.getIndex() + "]")
                .collect(Collectors.joining("."));
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }
}
