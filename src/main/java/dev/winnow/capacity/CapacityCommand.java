package dev.winnow.capacity;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.winnow.engine.Prune;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The capacity planner's command line (docs/CAPACITY.md):
 *
 * <pre>
 * java -cp target/classes:$(cat target/capacity.classpath) dev.winnow.capacity.CapacityCommand simulate ARGS
 * ./mvnw -B -q compile exec:java -Pbench -Dbench.main=dev.winnow.capacity.CapacityCommand -Dbench.args="simulate ARGS"
 *
 * simulate  (--profile FILE | --h200 [FILE] [--unet-curve eager|cuda-graph])
 *           (--rate PER_S --seconds S [--seed K] [--body JSON] | --trace FILE)
 *           [--policy winnow|one-request-at-a-time|request-batching] [--queue-capacity 16] [--max-batch-rows 16]
 *           [--finishing-threads 2] [--judge-batch-images 16] [--decode-batch-images 8] [--size 64]
 *           [--depth-every SECONDS] [--write-trace FILE] [--json FILE]
 * table     --h200 [FILE] [--unet-curve eager|cuda-graph] [--max-batch-rows 32] [--seconds 600] [--json FILE]
 * </pre>
 */
public final class CapacityCommand {

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private CapacityCommand() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 0 || !(args[0].equals("simulate") || args[0].equals("table"))) {
            System.err.println("usage: CapacityCommand simulate|table ARGS (docs/CAPACITY.md)");
            System.exit(2);
        }
        if (args[0].equals("simulate")) {
            simulate(args);
        } else {
            table(args);
        }
    }

    static DeviceProfile profile(String[] args) throws IOException {
        String file = arg(args, "--profile", null);
        if (file != null) {
            return DeviceProfile.read(Path.of(file));
        }
        int at = List.of(args).indexOf("--h200");
        if (at < 0) {
            throw new IllegalArgumentException("give --profile FILE or --h200 [FILE]");
        }
        Path h200 = at + 1 < args.length && !args[at + 1].startsWith("--") ? Path.of(args[at + 1]) : H200Profiles.DEFAULT;
        return H200Profiles.sd15(h200, H200Profiles.UnetCurve.parse(arg(args, "--unet-curve", "eager")));
    }

    static Simulator.Settings settings(String[] args, Simulator.Settings d) {
        return new Simulator.Settings(
                Simulator.Policy.valueOf(arg(args, "--policy", d.policy().name()).toUpperCase(Locale.ROOT).replace('-', '_')),
                Integer.parseInt(arg(args, "--queue-capacity", "" + d.queueCapacity())),
                Integer.parseInt(arg(args, "--max-batch-rows", "" + d.maxBatchRows())),
                Integer.parseInt(arg(args, "--finishing-threads", "" + d.finishingThreads())),
                Integer.parseInt(arg(args, "--judge-batch-images", "" + d.judgeBatchImages())),
                Integer.parseInt(arg(args, "--decode-batch-images", "" + d.decodeBatchImages())));
    }

    static void simulate(String[] args) throws Exception {
        DeviceProfile profile = profile(args);
        Simulator.Settings settings = settings(args, Simulator.Settings.defaults(Simulator.Policy.WINNOW));
        SimRequest.Defaults defaults = SimRequest.Defaults.service(Integer.parseInt(arg(args, "--size", "64")));
        String trace = arg(args, "--trace", null);
        List<Arrival> arrivals;
        if (trace != null) {
            arrivals = Workloads.readTrace(Path.of(trace), defaults);
        } else {
            JsonNode body = JSON.readTree(arg(args, "--body", "{\"prompt\": \"two green triangles\"}"));
            arrivals = Workloads.poisson(Double.parseDouble(arg(args, "--rate", "1")), Double.parseDouble(arg(args, "--seconds", "60")),
                    body, defaults, Long.parseLong(arg(args, "--seed", "1")));
        }
        String writeTrace = arg(args, "--write-trace", null);
        if (writeTrace != null) {
            Workloads.writeTrace(arrivals, Path.of(writeTrace));
        }
        long t0 = System.nanoTime();
        SimReport r = Simulator.run(profile, settings, arrivals);
        System.out.printf(Locale.ROOT, "profile: %s (%s), %s%nsettings: %s%n", profile.device(), profile.measured(),
                profile.overlap() == null ? "one call at a time"
                        : String.format(Locale.ROOT, "loop and finishing calls at once (slowdowns %.2f and %.2f)",
                        profile.overlap().loopSlowdown(), profile.overlap().finishingSlowdown()), settings);
        System.out.println(r.summary());
        double every = Double.parseDouble(arg(args, "--depth-every", "0"));
        if (every > 0) {
            System.out.println("queue depth, max per " + every + " s: " + r.depthOverTime(every));
        }
        System.out.printf(Locale.ROOT, "(simulated %.1f s of device time in %.2f s)%n", r.wallNanos() / 1e9, (System.nanoTime() - t0) / 1e9);
        String json = arg(args, "--json", null);
        if (json != null) {
            ObjectNode o = JSON.createObjectNode();
            o.put("requests", r.answers().size());
            o.put("answered", r.count(SimReport.Outcome.ANSWERED));
            o.put("rejected", r.count(SimReport.Outcome.REJECTED));
            o.put("expired", r.count(SimReport.Outcome.EXPIRED));
            o.put("throughput", r.throughput());
            o.put("p50_ms", r.latencyPercentile(50));
            o.put("p95_ms", r.latencyPercentile(95));
            o.put("p99_ms", r.latencyPercentile(99));
            o.put("busy_share", r.busyShare());
            o.put("mean_depth", r.meanDepth());
            ArrayNode d = o.putArray("depth_per_second");
            r.depthOverTime(1).forEach(d::add);
            JSON.writeValue(Path.of(json).toFile(), o);
        }
    }

    /** One row of the planner's table: a workload and whose scheduling. */
    record Workload(int n, boolean prune, int steps) {
        String body() {
            String p = prune ? String.format(Locale.ROOT, ", \"prune\": {\"at\": 0.2, \"keep\": %d}", Math.max(1, n / 4)) : "";
            return String.format(Locale.ROOT, "{\"prompt\": \"a photo\", \"n\": %d, \"steps\": %d, \"guidance_scale\": 7.5%s}",
                    n, steps, p);
        }

        String label() {
            return "best-of-" + n + (prune ? " pruned " + n + "→" + Math.max(1, n / 4) : "") + ", " + steps + " steps";
        }
    }

    /** What one run at a rate gave: whether every request was answered, and its p99. */
    record Point(double rate, double p99Ms, double meanDepth, boolean allAnswered, double busy) {
        boolean holds(double boundMs) {
            return allAnswered && p99Ms <= boundMs;
        }
    }

    /** SD 1.5 at 512², guidance 7.5, the service's deadline (120 s). */
    static final SimRequest.Defaults DEFAULTS = new SimRequest.Defaults(4, 20, 7.5, 512, 512, 120_000, SimRequest.SERVICE_PRUNE);

    static Point point(DeviceProfile profile, Simulator.Settings settings, Workload w, double rate, double seconds) {
        List<Arrival> arrivals = Workloads.poisson(rate, seconds, node(w.body()), DEFAULTS, 42);
        SimReport r = Simulator.run(profile, settings, arrivals);
        return new Point(rate, r.latencyPercentile(99), r.meanDepth(), r.count(SimReport.Outcome.ANSWERED) == r.answers().size(),
                r.busyShare());
    }

    /**
     * The most requests a second the server answers when it is never idle: the throughput under a
     * rate four times what the device's work per request allows, with a queue of 64.
     */
    static double saturation(DeviceProfile profile, Simulator.Settings settings, Workload w) {
        SimRequest r = SimRequest.fromBody(node(w.body()), DEFAULTS);
        int rows = Math.min(settings.maxBatchRows(), (int) Math.max(1, r.n() * r.rowsPerCandidate()));
        double perRequestMs = r.unetRows() * profile.unet().millis(rows) / rows;
        double overload = 4000 / perRequestMs;
        SimReport rep = Simulator.run(profile, settings.withQueueCapacity(64), Workloads.poisson(overload, 120, node(w.body()),
                DEFAULTS, 41));
        return rep.throughput();
    }

    /** The largest rate (to 1%) at which every request is answered within {@code boundMs} at p99. */
    static Point maxRate(DeviceProfile profile, Simulator.Settings settings, Workload w, double boundMs, double seconds) {
        double lo = 0;
        double hi = 1.02 * saturation(profile, settings, w);
        Point best = null;
        while (hi - lo > 0.01 * hi) {
            double mid = (lo + hi) / 2;
            Point p = point(profile, settings, w, mid, seconds);
            if (p.holds(boundMs)) {
                best = p;
                lo = mid;
            } else {
                hi = mid;
            }
        }
        return best == null ? new Point(0, Double.NaN, 0, false, 0) : best;
    }

    /**
     * The largest queue capacity for which, under twice the rate one pod holds, the requests it
     * admits are still answered within {@code boundMs} at p99 (the rest get 429 and go elsewhere).
     */
    static int capacityFor(DeviceProfile profile, Simulator.Settings settings, Workload w, double rate, double boundMs,
                           double seconds) {
        int lo = 1;
        int hi = 256;
        while (lo < hi) {
            int mid = (lo + hi + 1) / 2;
            SimReport r = Simulator.run(profile, settings.withQueueCapacity(mid), Workloads.poisson(2 * rate, seconds,
                    node(w.body()), DEFAULTS, 43));
            if (r.latencyPercentile(99) <= boundMs && r.count(SimReport.Outcome.EXPIRED) == 0) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        return lo;
    }

    static void table(String[] args) throws Exception {
        DeviceProfile profile = profile(args);
        int rows = Integer.parseInt(arg(args, "--max-batch-rows", "32"));
        double seconds = Double.parseDouble(arg(args, "--seconds", "600"));
        Simulator.Settings base = Simulator.Settings.defaults(Simulator.Policy.WINNOW).withMaxBatchRows(rows)
                .withQueueCapacity(1_000_000);
        List<Workload> workloads = new ArrayList<>();
        for (int steps : new int[] {20, 30}) {
            for (int n : new int[] {1, 4, 8}) {
                workloads.add(new Workload(n, false, steps));
                if (n > 1) {
                    workloads.add(new Workload(n, true, steps));
                }
            }
        }
        ObjectNode out = JSON.createObjectNode();
        out.put("profile", profile.source());
        out.put("max_batch_rows", rows);
        out.put("seconds", seconds);
        ArrayNode table = out.putArray("rows");
        System.out.printf(Locale.ROOT, "SD 1.5 at 512², %s; max-batch-rows %d, %.0f s of Poisson arrivals per point%n%n",
                profile.device(), rows, seconds);
        System.out.println("| workload | p99 bound | Winnow req/s | one at a time req/s | request batching req/s "
                + "| × one at a time | × request batching | Winnow mean depth at 80% | queue-capacity |");
        System.out.println("|---|---|---|---|---|---|---|---|---|");
        for (Workload w : workloads) {
            for (double bound : new double[] {10_000, 30_000}) {
                Point winnow = maxRate(profile, base, w, bound, seconds);
                Point one = maxRate(profile, base.withPolicy(Simulator.Policy.ONE_REQUEST_AT_A_TIME), w, bound, seconds);
                Point batched = maxRate(profile, base.withPolicy(Simulator.Policy.REQUEST_BATCHING), w, bound, seconds);
                Point at80 = point(profile, base, w, 0.8 * winnow.rate(), seconds);
                int cap = capacityFor(profile, base, w, winnow.rate(), bound, Math.min(seconds, 300));
                System.out.printf(Locale.ROOT, "| %s | %.0f s | %.2f | %.2f | %.2f | %.2f | %.2f | %.1f | %d |%n", w.label(),
                        bound / 1000, winnow.rate(), one.rate(), batched.rate(), winnow.rate() / one.rate(),
                        winnow.rate() / batched.rate(), at80.meanDepth(), cap);
                ObjectNode row = table.addObject();
                row.put("n", w.n());
                row.put("prune", w.prune());
                row.put("steps", w.steps());
                row.put("p99_bound_s", bound / 1000);
                row.put("winnow", winnow.rate());
                row.put("one_at_a_time", one.rate());
                row.put("request_batching", batched.rate());
                row.put("winnow_p99_ms", winnow.p99Ms());
                row.put("winnow_busy", winnow.busy());
                row.put("winnow_mean_depth_at_max", winnow.meanDepth());
                row.put("winnow_mean_depth_at_80", at80.meanDepth());
                row.put("queue_capacity", cap);
            }
        }
        ArrayNode curves = out.putArray("p99_curves");
        Workload four = new Workload(4, false, 20);
        for (Simulator.Policy p : Simulator.Policy.values()) {
            ObjectNode c = curves.addObject();
            c.put("policy", p.name());
            c.put("workload", four.label());
            ArrayNode pts = c.putArray("points");
            for (double rate = 0.1; rate <= 12.01; rate += 0.1) {
                Point pt = point(profile, base.withPolicy(p), four, rate, seconds);
                ObjectNode o = pts.addObject();
                o.put("rate", rate);
                o.put("p99_ms", pt.allAnswered() ? pt.p99Ms() : Double.NaN);
                o.put("busy", pt.busy());
                if (!pt.allAnswered() || pt.p99Ms() > 60_000) {
                    break;
                }
            }
        }
        String json = arg(args, "--json", null);
        if (json != null) {
            JSON.writeValue(Path.of(json).toFile(), out);
        }
    }

    static JsonNode node(String json) {
        try {
            return JSON.readTree(json);
        } catch (IOException e) {
            throw new IllegalArgumentException("not JSON: " + json, e);
        }
    }

    static String arg(String[] args, String name, String dflt) {
        for (int i = 0; i + 1 < args.length; i++) {
            if (args[i].equals(name)) {
                return args[i + 1];
            }
        }
        return dflt;
    }
}
