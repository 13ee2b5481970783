package dev.winnow.capacity;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.winnow.engine.Prune;
import java.io.IOException;
import java.io.Writer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Open-loop arrivals: Poisson at a rate (seeded, so a run can be repeated), or a recorded trace
 * of timestamps and request bodies, one JSON object a line:
 * <pre>{"at_ms": 1520.4, "body": {"prompt": "two green triangles", "n": 4, "seed": 7}}</pre>
 * The same trace drives the simulator and a load generator against the real service.
 */
public final class Workloads {

    private static final ObjectMapper JSON = new ObjectMapper();

    private Workloads() {
    }

    /**
     * Poisson arrivals of {@code body} at {@code perSecond} for {@code seconds}: exponential gaps, from
     * a seeded generator; each request's seed is its index (so candidates differ between requests).
     */
    public static List<Arrival> poisson(double perSecond, double seconds, JsonNode body, SimRequest.Defaults defaults,
                                        long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        SimRequest request = SimRequest.fromBody(body, defaults);
        List<Arrival> out = new ArrayList<>();
        double t = 0;
        for (int i = 0; ; i++) {
            t += -Math.log(1 - rnd.nextDouble()) / perSecond;
            if (t >= seconds) {
                return out;
            }
            ObjectNode b = body.deepCopy();
            b.put("seed", i);
            out.add(new Arrival(Math.round(t * 1e9), request, b.toString()));
        }
    }

    /** A trace file's arrivals, in time order. */
    public static List<Arrival> readTrace(Path file, SimRequest.Defaults defaults) throws IOException {
        List<Arrival> out = new ArrayList<>();
        int line = 0;
        for (String s : Files.readAllLines(file)) {
            line++;
            if (s.isBlank()) {
                continue;
            }
            JsonNode n = JSON.readTree(s);
            if (!n.path("at_ms").isNumber() || !n.path("body").isObject()) {
                throw new IOException(file + ":" + line + ": a trace line needs \"at_ms\" (a number) and \"body\" (an object)");
            }
            SimRequest request;
            try {
                request = SimRequest.fromBody(n.path("body"), defaults);
            } catch (Prune.InvalidField e) {
                throw new IOException(file + ":" + line + ": body." + e.field() + ": " + e.getMessage()
                        + " (the service would answer 400)", e);
            } catch (IllegalArgumentException e) {
                throw new IOException(file + ":" + line + ": " + e.getMessage(), e);
            }
            out.add(new Arrival(Math.round(n.path("at_ms").asDouble() * 1e6), request, n.path("body").toString()));
        }
        out.sort(java.util.Comparator.comparingLong(Arrival::atNanos));
        return out;
    }

    /** Writes arrivals as a trace file (those without a body are left out). */
    public static void writeTrace(List<Arrival> arrivals, Path file) throws IOException {
        if (file.getParent() != null) {
            Files.createDirectories(file.getParent());
        }
        try (Writer w = Files.newBufferedWriter(file)) {
            for (Arrival a : arrivals) {
                if (a.body() != null) {
                    w.write(String.format(Locale.ROOT, "{\"at_ms\": %.3f, \"body\": %s}%n", a.atNanos() / 1e6, a.body()));
                }
            }
        }
    }
}
