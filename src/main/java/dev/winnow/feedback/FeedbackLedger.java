package dev.winnow.feedback;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.winnow.modelpack.ModelVersion;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.logging.Logger;

/**
 * A person's picks among a generation's candidates, recorded as preference data: an append-only
 * folder that the Hugging Face {@code datasets} "imagefolder" loader reads as is
 * ({@code metadata.jsonl} plus PNGs under {@code images/}): one line per pick, whose
 * {@code file_name} is the chosen image, with the prompt, negative prompt, settings, every shown
 * candidate's seed, scores and file, the chosen and rejected indices and the time.
 *
 * <p>Recent generations (their safe candidates' PNGs) are held so that a pick can name them: for
 * {@code retention}, at most {@code capacity} of them and {@code maxHeldBytes} of PNGs, the oldest
 * let go first. Each generation accepts one pick, and a pick is forgotten only once it is on disk:
 * a write that fails ({@link WriteFailed}) leaves the generation waiting, so the client may retry.
 * Thread-safe.
 */
public final class FeedbackLedger {

    /** A candidate as the person saw it: only safe candidates have images, so only they can be shown. */
    public record Shown(int index, long seed, Map<String, Double> scores, byte[] png) {
    }

    /** What is kept of a generation until its pick arrives. */
    /**
     * @param pipeline the pack (and version) that made the candidates
     * @param judges   the judges that judged them, by role, with their versions
     */
    public record Generation(String uuid, ModelVersion pipeline, Map<String, ModelVersion> judges, String prompt,
                             String negativePrompt, Map<String, Object> settings, Map<Integer, Shown> shown) {

        /** The memory its images take while held. */
        public long bytes() {
            return shown.values().stream().mapToLong(s -> s.png().length).sum();
        }
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

    /** A valid pick that could not be written (a full disk, an unwritable folder): nothing was stored; it may be retried. */
    public static final class WriteFailed extends RuntimeException {
        public WriteFailed(String message, IOException cause) {
            super(message, cause);
        }
    }

    /** A generation held for its pick, since {@code madeMillis}. */
    private record Held(long madeMillis, Generation generation, long bytes) {
    }

    private static final Logger LOG = Logger.getLogger(FeedbackLedger.class.getName());
    private static final ObjectMapper JSON = new ObjectMapper();
    static final String METADATA = "metadata.jsonl";

    private final Path folder;
    private final Duration retention;
    private final int capacity;
    private final long maxHeldBytes;
    private final Clock clock;
    /** Guarded by this: recent generations, oldest first. */
    private final LinkedHashMap<String, Held> recent = new LinkedHashMap<>();
    /** Guarded by this: the PNG bytes of {@link #recent}. */
    private long heldBytes;
    /** Guarded by this: generations whose pick is being written, so that a second pick meanwhile is refused. */
    private final Set<String> recording = new HashSet<>();
    /** Guarded by this: generations whose pick was recorded (the newest ones), so a repeat is told apart. */
    private final LinkedHashMap<String, Boolean> picked = new LinkedHashMap<>();
    /** One appender at a time, so that rows never interleave. */
    private final Object appendLock = new Object();

    /**
     * @param maxHeldBytes most PNG bytes held for picks at once; a generation with more on its own is not held
     */
    public FeedbackLedger(Path folder, Duration retention, int capacity, long maxHeldBytes, Clock clock) {
        this.folder = folder;
        this.retention = retention;
        this.capacity = Math.max(1, capacity);
        this.maxHeldBytes = Math.max(0, maxHeldBytes);
        this.clock = clock;
    }

    public Path folder() {
        return folder;
    }

    /** The PNG bytes held for picks now. */
    public synchronized long heldBytes() {
        return heldBytes;
    }

    /**
     * Holds a generation so that a pick can name it; the oldest go when the count or the bytes are
     * over their bounds.
     *
     * @return false when the generation alone is over the byte budget, so it is not held (its pick will be a 404)
     */
    public synchronized boolean remember(Generation g) {
        expire();
        long bytes = g.bytes();
        if (bytes > maxHeldBytes) {
            return false;
        }
        forget(g.uuid());
        recent.put(g.uuid(), new Held(clock.millis(), g, bytes));
        heldBytes += bytes;
        for (Iterator<String> oldest = recent.keySet().iterator();
             recent.size() > capacity || heldBytes > maxHeldBytes; ) {
            heldBytes -= recent.get(oldest.next()).bytes();
            oldest.remove();
        }
        return true;
    }

    /**
     * Records a pick: the shown candidates' PNGs first, then its row appended to
     * {@code metadata.jsonl} in one write, each forced to disk, so a failure leaves no row without
     * its images and never half a row. Only then is the generation forgotten, so a second pick for
     * it is refused; while it is being written, a second pick is refused too.
     *
     * @throws Refused     404 for a generation not held (unknown or expired), 409 for one already picked (or
     *                     being recorded), 400 for a pick that is not among the shown safe candidates
     * @throws WriteFailed when the pick could not be written: nothing is recorded, and the generation still waits
     */
    public void record(String uuid, int chosen, List<Integer> shownIndices) {
        Generation g;
        synchronized (this) {
            expire();
            Held held = recent.get(uuid);
            if (held == null && picked.containsKey(uuid)) {
                throw new Refused(409, "generation_id", "this generation already has its pick (each is accepted once)");
            }
            if (held == null) {
                throw new Refused(404, "generation_id", "no generation with this id is waiting for feedback: it is "
                        + "unknown, older than " + retention.toMinutes() + " minutes, or already has its pick");
            }
            g = held.generation();
            checkPick(g, chosen, shownIndices);
            if (!recording.add(uuid)) {
                throw new Refused(409, "generation_id", "a pick for this generation is being recorded (each is accepted once)");
            }
        }
        boolean written = false;
        try {
            write(g, chosen, shownIndices);
            written = true;
        } finally {
            synchronized (this) {
                recording.remove(uuid);
                if (written) {
                    forget(uuid); // accepted once
                    picked.put(uuid, Boolean.TRUE);
                    for (Iterator<String> oldest = picked.keySet().iterator(); picked.size() > 4 * capacity; ) {
                        oldest.next();
                        oldest.remove();
                    }
                }
            }
        }
    }

    /** Lets go of the generations older than the retention (a timer calls it, so memory is freed without traffic). */
    public synchronized void expire() {
        long oldest = clock.millis() - retention.toMillis();
        for (Iterator<Held> it = recent.values().iterator(); it.hasNext(); ) {
            Held h = it.next();
            if (h.madeMillis() >= oldest) {
                break; // oldest first: the rest are younger
            }
            heldBytes -= h.bytes();
            it.remove();
        }
    }

    /** Guarded by this. */
    private void forget(String uuid) {
        Held h = recent.remove(uuid);
        if (h != null) {
            heldBytes -= h.bytes();
        }
    }

    private void write(Generation g, int chosen, List<Integer> shownIndices) {
        try {
            Files.createDirectories(folder.resolve("images"));
            List<Integer> shown = Set.copyOf(shownIndices).stream().sorted().toList();
            Map<String, String> files = new LinkedHashMap<>();
            Map<String, Long> seeds = new LinkedHashMap<>();
            Map<String, Map<String, Double>> scores = new LinkedHashMap<>();
            for (int i : shown) {
                Shown s = g.shown().get(i);
                String file = "images/" + g.uuid() + "-" + i + ".png";
                writeDurably(folder.resolve(file), s.png());
                files.put(Integer.toString(i), file);
                seeds.put(Integer.toString(i), s.seed());
                scores.put(Integer.toString(i), s.scores());
            }
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("file_name", files.get(Integer.toString(chosen))); // imagefolder's image: the one preferred
            row.put("generation_id", g.uuid());
            row.put("prompt", g.prompt());
            row.put("negative_prompt", g.negativePrompt());
            row.put("model", g.pipeline().name());
            row.put("model_version", g.pipeline().version());
            row.put("judges", g.judges());
            row.put("settings", g.settings());
            row.put("chosen", chosen);
            row.put("rejected", shown.stream().filter(i -> i != chosen).toList());
            row.put("shown_files", files);
            row.put("seeds", seeds);
            row.put("scores", scores);
            row.put("time", clock.instant().toString());
            byte[] line = (JSON.writeValueAsString(row) + "\n").getBytes(StandardCharsets.UTF_8);
            synchronized (appendLock) {
                append(folder.resolve(METADATA), line);
            }
        } catch (IOException e) {
            throw new WriteFailed("writing the pick to " + folder + " failed: " + e, e);
        }
    }

    private static void writeDurably(Path file, byte[] data) throws IOException {
        try (FileChannel c = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            writeAt(c, data, 0);
            c.force(true);
        }
    }

    /**
     * Appends one row in one write and forces it to disk. A file that does not end with a newline
     * (a row cut short by a crash, or an edit) gets one first, so the new row is a line of its own;
     * a row that could not be written whole is taken back, so the file is never left torn by us.
     */
    private static void append(Path file, byte[] line) throws IOException {
        try (FileChannel c = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE)) {
            long end = c.size();
            if (end > 0 && !endsWithNewline(c, end)) {
                LOG.warning(file + " did not end with a newline (a row cut short?); adding one so the next row is a line of its own");
                writeAt(c, new byte[] {'\n'}, end);
                end++;
            }
            try {
                writeAt(c, line, end);
                c.force(true);
            } catch (IOException e) {
                try {
                    c.truncate(end);
                } catch (IOException again) {
                    e.addSuppressed(again); // the next append repairs the missing newline
                }
                throw e;
            }
        }
    }

    private static boolean endsWithNewline(FileChannel c, long size) throws IOException {
        ByteBuffer last = ByteBuffer.allocate(1);
        return c.read(last, size - 1) == 1 && last.get(0) == '\n';
    }

    private static void writeAt(FileChannel c, byte[] data, long position) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(data);
        while (b.hasRemaining()) {
            position += c.write(b, position);
        }
    }

    private static void checkPick(Generation g, int chosen, List<Integer> shown) {
        if (shown == null || shown.size() < 2) {
            throw new Refused(400, "shown", "shown must list at least two candidates the person saw");
        }
        if (shown.stream().anyMatch(Objects::isNull)) {
            throw new Refused(400, "shown", "shown must list candidate indices, not null");
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
}
