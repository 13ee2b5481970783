package dev.winnow.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * An open-loop load generator: replays a trace (one {@code {"at_ms": …, "body": {…}}} a line, as
 * {@code CapacityCommand simulate --write-trace} writes it) against a running service, each
 * request sent at its time whatever the answers before it, and reports what the capacity
 * simulator reports: throughput, p50/p95/p99, 429s and 504s, and the service's
 * {@code winnow_queue_depth} sampled every second. Not a test (docs/CAPACITY.md):
 *
 * <pre>java -cp target/test-classes:target/classes:CLASSPATH dev.winnow.bench.OpenLoopLoad TRACE URL OUT.json</pre>
 */
public final class OpenLoopLoad {

    private record Sent(double atMs, double latencyMs, int status) {
    }

    private OpenLoopLoad() {
    }

    public static void main(String[] args) throws Exception {
        ObjectMapper json = new ObjectMapper();
        List<String> lines = Files.readAllLines(Path.of(args[0]));
        String url = args[1];
        List<JsonNode> trace = new ArrayList<>();
        for (String l : lines) {
            if (!l.isBlank()) {
                trace.add(json.readTree(l));
            }
        }
        HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(10)).executor(Executors.newCachedThreadPool()).build();
        ConcurrentLinkedQueue<Sent> done = new ConcurrentLinkedQueue<>();
        List<CompletableFuture<?>> inFlight = new ArrayList<>();
        List<Integer> depth = Collections.synchronizedList(new ArrayList<>());
        ScheduledExecutorService sampler = Executors.newSingleThreadScheduledExecutor();
        sampler.scheduleAtFixedRate(() -> depth.add(queueDepth(client, url)), 0, 1, TimeUnit.SECONDS);
        long start = System.nanoTime();
        for (JsonNode t : trace) {
            long at = start + Math.round(t.path("at_ms").asDouble() * 1e6);
            long wait;
            while ((wait = at - System.nanoTime()) > 0) {
                LockSupport.parkNanos(wait);
            }
            long sent = System.nanoTime();
            HttpRequest req = HttpRequest.newBuilder(URI.create(url + "/generate")).timeout(Duration.ofSeconds(300))
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(t.path("body").toString()))
                    .build();
            inFlight.add(client.sendAsync(req, HttpResponse.BodyHandlers.ofByteArray()).handle((r, e) -> {
                done.add(new Sent((sent - start) / 1e6, (System.nanoTime() - sent) / 1e6, r == null ? -1 : r.statusCode()));
                return null;
            }));
        }
        CompletableFuture.allOf(inFlight.toArray(CompletableFuture[]::new)).join();
        sampler.shutdownNow();
        List<Sent> all = new ArrayList<>(done);
        double[] ok = all.stream().filter(s -> s.status() == 200 || s.status() == 422).mapToDouble(Sent::latencyMs).sorted().toArray();
        double first = all.stream().mapToDouble(Sent::atMs).min().orElse(0);
        double last = all.stream().filter(s -> s.status() == 200 || s.status() == 422).mapToDouble(s -> s.atMs() + s.latencyMs())
                .max().orElse(first);
        ObjectNode out = json.createObjectNode();
        out.put("requests", all.size());
        out.put("answered", ok.length);
        out.put("rejected", all.stream().filter(s -> s.status() == 429).count());
        out.put("expired", all.stream().filter(s -> s.status() == 504).count());
        out.put("other", all.stream().filter(s -> s.status() != 200 && s.status() != 422 && s.status() != 429 && s.status() != 504).count());
        out.put("throughput", ok.length / ((last - first) / 1000));
        out.put("p50_ms", pct(ok, 50));
        out.put("p95_ms", pct(ok, 95));
        out.put("p99_ms", pct(ok, 99));
        ArrayNode d = out.putArray("depth_per_second");
        depth.forEach(d::add);
        json.writerWithDefaultPrettyPrinter().writeValue(Path.of(args[2]).toFile(), out);
        System.out.println(out);
        System.exit(0);
    }

    static double pct(double[] sorted, double p) {
        if (sorted.length == 0) {
            return Double.NaN;
        }
        int rank = (int) Math.ceil(p / 100.0 * sorted.length);
        return sorted[Math.max(0, Math.min(sorted.length - 1, rank - 1))];
    }

    /** The service's winnow_queue_depth now (-1 when it cannot be read). */
    static int queueDepth(HttpClient client, String url) {
        try {
            String metrics = client.send(HttpRequest.newBuilder(URI.create(url + "/q/metrics")).timeout(Duration.ofSeconds(2)).build(),
                    HttpResponse.BodyHandlers.ofString()).body();
            for (String line : metrics.split("\n")) {
                if (line.startsWith("winnow_queue_depth")) {
                    return (int) Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
                }
            }
        } catch (Exception e) {
            return -1;
        }
        return -1;
    }
}
