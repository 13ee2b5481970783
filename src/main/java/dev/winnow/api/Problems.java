package dev.winnow.api;

import jakarta.ws.rs.core.Response;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * RFC 9457 problem details: a stable {@code type} per kind of problem, a {@code title}, the
 * {@code status}, a {@code detail} that names the field or the cause, and never a stack trace.
 */
public final class Problems {

    public static final String PROBLEM_JSON = "application/problem+json";
    static final String BASE = "https://winnow.dev/problems/";

    private Problems() {
    }

    public static Response response(int status, String type, String title, String detail, Map<String, Object> extra) {
        return Response.status(status).type(PROBLEM_JSON).entity(body(status, type, title, detail, extra)).build();
    }

    /** The problem document itself (for answers written below JAX-RS, such as {@link BodyLimit}'s). */
    static Map<String, Object> body(int status, String type, String title, String detail, Map<String, Object> extra) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("type", BASE + type);
        body.put("title", title);
        body.put("status", status);
        body.put("detail", detail);
        if (extra != null) {
            body.putAll(extra);
        }
        return body;
    }

    public static Response response(int status, String type, String title, String detail) {
        return response(status, type, title, detail, null);
    }

    /** A candidate as problem documents and events list it: index, seed, verdict, its finite scores and, if pruned, when. */
    static Map<String, Object> candidate(dev.winnow.engine.CandidateResult c) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("index", c.index());
        m.put("seed", c.seed());
        m.put("verdict", c.verdict());
        m.put("scores", finite(c.scores()));
        if (c.prunedAtStep() != null) {
            m.put("pruned_at_step", c.prunedAtStep());
        }
        return m;
    }

    /** JSON has no NaN: scores a candidate does not have are left out. */
    static Map<String, Double> finite(Map<String, Double> scores) {
        Map<String, Double> out = new LinkedHashMap<>();
        scores.forEach((k, v) -> {
            if (v != null && Double.isFinite(v)) {
                out.put(k, v);
            }
        });
        return out;
    }
}
