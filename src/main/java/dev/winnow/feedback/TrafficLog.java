package dev.winnow.feedback;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.winnow.engine.CandidateResult;
import dev.winnow.engine.EngineObserver;
import dev.winnow.engine.GenerationRequest;
import dev.winnow.engine.RankedGeneration;
import dev.winnow.engine.WinnowConfig;
import dev.winnow.modelpack.ModelVersion;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Logger;

/**
 * The judges' rankings of served traffic, kept as preference data ({@code winnow.traffic.dir};
 * off unless set). Every finished generation becomes one JSON line in
 * {@code rankings/part-<host>-<start>-<pid>.jsonl} (each process writes its own part, {@link ProcessPart},
 * so replicas on a shared volume never share a file) and, when it finished any candidate, one
 * {@code latents/<id>.npy}: the finished candidates' final latents, float32
 * {@code [finished, channels, height, width]}, what training a generator needs without a VAE
 * encoder the pack does not ship. docs/LOOP.md describes the row; {@code
 * models/tools/traffic_to_pairs.py} turns the folder into preference pairs.
 *
 * <p>Writing never slows a request: rankings wait in a bounded queue for one writer thread, which
 * writes the latents first and the line after them (one write each; forced to disk once per
 * batch), so a line never names latents that are not there. A full queue drops the ranking and
 * counts it ({@code winnow_traffic_dropped_total}); a failed write is logged and counted
 * ({@code winnow_traffic_write_failures_total}) and the service goes on.
 */
@ApplicationScoped
public class TrafficLog implements EngineObserver {

    private static final Logger LOG = Logger.getLogger(TrafficLog.class.getName());
    private static final ObjectMapper JSON = new ObjectMapper();

    @Inject
    WinnowConfig config;

    @Inject
    MeterRegistry registry;

    private volatile Path folder;
    private BlockingQueue<RankedGeneration> queue;
    private Thread writer;
    private FileChannel part;
    private final AtomicLong written = new AtomicLong();
    private final AtomicLong dropped = new AtomicLong();
    private final AtomicLong failures = new AtomicLong();
    private volatile long lastWarning;
    private volatile boolean closing;

    void onStart(@Observes StartupEvent event) {
        config.traffic().dir().filter(d -> !d.isBlank()).ifPresent(d -> start(Path.of(d)));
    }

    void onStop(@Observes ShutdownEvent event) {
        stop(5_000);
    }

    /** Starts writing into {@code dir} (created if missing). */
    synchronized void start(Path dir) {
        folder = dir;
        queue = new ArrayBlockingQueue<>(Math.max(1, config.traffic().queueCapacity()));
        FunctionCounter.builder("winnow.traffic.rows", written, AtomicLong::get)
                .description("Generations whose ranking was written to winnow.traffic.dir").register(registry);
        FunctionCounter.builder("winnow.traffic.dropped", dropped, AtomicLong::get)
                .description("Rankings dropped because the writer fell behind (the requests were not slowed)")
                .register(registry);
        FunctionCounter.builder("winnow.traffic.write.failures", failures, AtomicLong::get)
                .description("Rankings that could not be written (see the log)").register(registry);
        writer = new Thread(this::drain, "winnow-traffic-writer");
        writer.setDaemon(true);
        writer.start();
        LOG.info("keeping the judges' rankings of served traffic in " + dir.toAbsolutePath());
    }

    /** Writes what is queued (waiting up to {@code millis}), then stops the writer. */
    synchronized void stop(long millis) {
        Thread w = writer;
        if (w == null) {
            return;
        }
        closing = true; // not an interrupt: that would close the file channel in the middle of a write
        try {
            w.join(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        writer = null;
        try {
            if (part != null) {
                part.close();
            }
        } catch (IOException ignored) {
            // closing after the last forced write
        }
    }

    /** The folder being written, or null when off. */
    public Path folder() {
        return folder;
    }

    @Override
    public boolean wantsRankings() {
        return folder != null && writer != null;
    }

    @Override
    public void ranked(RankedGeneration generation) {
        if (!queue.offer(generation)) {
            dropped.incrementAndGet();
        }
    }

    private void drain() {
        List<RankedGeneration> batch = new ArrayList<>();
        while (!closing || !queue.isEmpty()) {
            try {
                RankedGeneration first = queue.poll(200, TimeUnit.MILLISECONDS);
                if (first == null) {
                    continue;
                }
                batch.add(first);
            } catch (InterruptedException e) {
                return;
            }
            queue.drainTo(batch);
            write(batch);
            batch.clear();
        }
    }

    private void write(List<RankedGeneration> batch) {
        int lines = 0;
        for (RankedGeneration g : batch) {
            try {
                String latents = writeLatents(g);
                ByteBuffer line = ByteBuffer.wrap((JSON.writeValueAsString(row(g, latents)) + "\n")
                        .getBytes(StandardCharsets.UTF_8));
                FileChannel out = part();
                while (line.hasRemaining()) {
                    out.write(line);
                }
                lines++;
            } catch (IOException | RuntimeException e) {
                failures.incrementAndGet();
                warn("writing the ranking of generation " + g.id() + " to " + folder + " failed: " + e);
            }
        }
        try {
            if (part != null) {
                part.force(false);
            }
            written.addAndGet(lines);
        } catch (IOException e) {
            failures.addAndGet(lines);
            warn("forcing " + folder + " to disk failed: " + e);
        }
    }

    /** This process's part file, opened on first use. */
    private FileChannel part() throws IOException {
        if (part == null) {
            Path dir = Files.createDirectories(folder.resolve("rankings"));
            String name = "part-" + ProcessPart.id() + ".jsonl";
            part = FileChannel.open(dir.resolve(name), StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.APPEND);
        }
        return part;
    }

    /** Writes the finished candidates' latents; returns their file relative to the folder, or null when there are none. */
    private String writeLatents(RankedGeneration g) throws IOException {
        RankedGeneration.Latents l = g.latents();
        if (l.values().isEmpty()) {
            return null;
        }
        int each = l.channels() * l.height() * l.width();
        float[] all = new float[each * l.values().size()];
        int row = 0;
        for (float[] x : l.values().values()) {
            System.arraycopy(x, 0, all, row++ * each, each);
        }
        String relative = "latents/" + g.id() + ".npy";
        Path file = Files.createDirectories(folder.resolve("latents")).resolve(g.id() + ".npy");
        try (OutputStream out = Files.newOutputStream(file)) {
            Npy.writeFloat32(out, List.of(l.values().size(), l.channels(), l.height(), l.width()), all);
        }
        return relative;
    }

    /** One line of the rankings: docs/LOOP.md's row. */
    static Map<String, Object> row(RankedGeneration g, String latentsFile) {
        GenerationRequest r = g.request();
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("id", g.id());
        row.put("time", g.time().toString());
        row.put("prompt", r.prompt());
        row.put("negative_prompt", r.negativePrompt());
        row.put("pipeline", version(g.pipeline()));
        Map<String, Object> judges = new LinkedHashMap<>();
        g.judges().forEach((role, v) -> judges.put(role, version(v)));
        row.put("judges", judges);
        row.put("settings", r.settings(g.rankingWeights()));
        RankedGeneration.Latents l = g.latents();
        if (latentsFile != null) {
            Map<String, Object> latents = new LinkedHashMap<>();
            latents.put("file", latentsFile);
            latents.put("scaling_factor", l.scalingFactor());
            latents.put("shape", List.of(l.values().size(), l.channels(), l.height(), l.width()));
            row.put("latents", latents);
        }
        row.put("chosen", g.chosen() < 0 ? null : g.chosen());
        List<Integer> rows = new ArrayList<>(l.values().keySet());
        List<Map<String, Object>> candidates = new ArrayList<>();
        for (CandidateResult c : g.candidates()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("index", c.index());
            m.put("seed", c.seed());
            m.put("verdict", c.verdict().wireName());
            Map<String, Double> scores = new LinkedHashMap<>();
            c.scores().forEach((k, v) -> {
                if (v != null && Double.isFinite(v)) {
                    scores.put(k, v);
                }
            });
            m.put("scores", scores);
            int rank = g.ranking().indexOf(c.index());
            m.put("rank", rank < 0 ? null : rank);
            int latentRow = rows.indexOf(c.index());
            m.put("latent_row", latentRow < 0 ? null : latentRow);
            candidates.add(m);
        }
        row.put("candidates", candidates);
        return row;
    }

    private static Map<String, String> version(ModelVersion v) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("name", v.name());
        m.put("version", v.version());
        return m;
    }

    private void warn(String message) {
        long now = System.currentTimeMillis();
        if (now - lastWarning > 60_000) { // a full disk would otherwise log every request
            lastWarning = now;
            LOG.warning(message + " (further failures within a minute are only counted: winnow_traffic_write_failures_total)");
        }
    }
}
