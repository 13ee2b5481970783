package dev.winnow.feedback;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A person's picks among a generation's candidates, recorded as preference data: an append-only
 * folder that the Hugging Face {@code datasets} "imagefolder" loader reads as is
 * ({@code metadata.jsonl} plus PNGs under {@code images/}): one line per pick, whose
 * {@code file_name} is the chosen image, with the prompt, negative prompt, settings, every shown
 * candidate's seed, scores and file, the chosen and rejected indices and the time. Recent generations (their safe candidates' PNGs) are held for
 * {@code retention}, at most {@code capacity} of them, so a pick can name them; each generation
 * accepts one pick. Thread-safe.
 */
public final class FeedbackLedger {

    /** A candidate as the person saw it: only safe candidates have images, so only they can be shown. */
    public record Shown(int index, long seed, Map<String, Double> scores, byte[] png) {
    }

    /** What is kept of a generation until its pick arrives. */
    public record Generation(String uuid, String model, String prompt, String negativePrompt,
                             Map<String, Object> settings, Map<Integer, Shown> shown) {
    }

    /** Why a pick was refused; {@code status} is the HTTP status it deserves. */
    public static final class Refused extends RuntimeException {
        private final int status;
        private final String field;

        public Refused(int status, String field, String message) {
            super(message);
            this.status = status;
            this.field = field;
        }

        public int status() {
            return status;
        }

        public String field() {
            return field;
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path folder;
    private final Duration retention;
    private final int capacity;
    private final Clock clock;
    /** Guarded by this: recent generations, oldest first, with when they were made. */
    private final LinkedHashMap<String, Map.Entry<Long, Generation>> recent = new LinkedHashMap<>();
    /** Guarded by this: generations whose pick was recorded (the newest ones), so a repeat is told apart. */
    private final LinkedHashMap<String, Boolean> picked = new LinkedHashMap<>();
    /** One appender at a time, so that rows never interleave. */
    private final Object appendLock = new Object();

    public FeedbackLedger(Path folder, Duration retention, int capacity, Clock clock) {
        this.folder = folder;
        this.retention = retention;
        this.capacity = Math.max(1, capacity);
        this.clock = clock;
    }

    public Path folder() {
        return folder;
    }

    /** Holds a generation so that a pick can name it (the oldest goes when full). */
    public synchronized void remember(Generation g) {
        expire();
        recent.put(g.uuid(), Map.entry(clock.millis(), g));
        while (recent.size() > capacity) {
            Iterator<String> it = recent.keySet().iterator();
            it.next();
            it.remove();
        }
    }

    /**
     * Records a pick: the shown candidates' PNGs first, then one line appended, so a failure
     * leaves no line without its images. The
     * generation is forgotten, so a second pick for it is refused.
     *
     * @throws Refused 404 for a generation not held (unknown or expired), 409 for one already picked,
     *                 400 for a pick that is not among the shown safe candidates
     */
    public void record(String uuid, int chosen, List<Integer> shownIndices) {
        Generation g;
        synchronized (this) {
            expire();
            Map.Entry<Long, Generation> held = recent.get(uuid);
            if (held == null && picked.containsKey(uuid)) {
                throw new Refused(409, "generation_id", "this generation already has its pick (each is accepted once)");
            }
            if (held == null) {
                throw new Refused(404, "generation_id", "no generation with this id is waiting for feedback: it is "
                        + "unknown, older than " + retention.toMinutes() + " minutes, or already has its pick");
            }
            g = held.getValue();
            checkPick(g, chosen, shownIndices);
            recent.remove(uuid); // accepted once
            picked.put(uuid, Boolean.TRUE);
            while (picked.size() > 4 * capacity) {
                Iterator<String> it = picked.keySet().iterator();
                it.next();
                it.remove();
            }
        }
        try {
            Files.createDirectories(folder.resolve("images"));
            List<Integer> shown = Set.copyOf(shownIndices).stream().sorted().toList();
            Map<String, String> files = new LinkedHashMap<>();
            Map<String, Long> seeds = new LinkedHashMap<>();
            Map<String, Map<String, Double>> scores = new LinkedHashMap<>();
            for (int i : shown) {
                Shown s = g.shown().get(i);
                String file = "images/" + g.uuid() + "-" + i + ".png";
                Files.write(folder.resolve(file), s.png());
                files.put(Integer.toString(i), file);
                seeds.put(Integer.toString(i), s.seed());
                scores.put(Integer.toString(i), s.scores());
            }
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("file_name", files.get(Integer.toString(chosen))); // imagefolder's image: the one preferred
            row.put("generation_id", g.uuid());
            row.put("prompt", g.prompt());
            row.put("negative_prompt", g.negativePrompt());
            row.put("model", g.model());
            row.put("settings", g.settings());
            row.put("chosen", chosen);
            row.put("rejected", shown.stream().filter(i -> i != chosen).toList());
            row.put("shown_files", files);
            row.put("seeds", seeds);
            row.put("scores", scores);
            row.put("time", clock.instant().toString());
            String line = JSON.writeValueAsString(row) + "\n";
            synchronized (appendLock) {
                Files.writeString(folder.resolve("metadata.jsonl"), line, StandardCharsets.UTF_8,
                        StandardOpenOption.CREATE, StandardOpenOption.APPEND, StandardOpenOption.WRITE);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("writing feedback to " + folder + " failed", e);
        }
    }

    private static void checkPick(Generation g, int chosen, List<Integer> shown) {
        if (shown == null || shown.size() < 2) {
            throw new Refused(400, "shown", "shown must list at least two candidates the person saw");
        }
        if (Set.copyOf(shown).size() != shown.size()) {
            throw new Refused(400, "shown", "shown lists a candidate twice");
        }
        for (int i : shown) {
            if (!g.shown().containsKey(i)) {
                throw new Refused(400, "shown", "candidate " + i + " was not shown (only safe candidates with images can be: "
                        + new ArrayList<>(g.shown().keySet()) + ")");
            }
        }
        if (!shown.contains(chosen)) {
            throw new Refused(400, "chosen", "chosen must be one of shown");
        }
    }

    private void expire() {
        long oldest = clock.millis() - retention.toMillis();
        recent.values().removeIf(e -> e.getKey() < oldest);
    }
}
