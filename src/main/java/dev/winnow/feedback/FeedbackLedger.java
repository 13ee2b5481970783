package dev.winnow.feedback;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.winnow.modelpack.ModelVersion;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;
import java.util.logging.Logger;
import java.util.regex.Pattern;

/**
 * A person's picks among a generation's candidates, recorded as preference data in a folder that
 * every replica of the service may share (a ReadWriteMany volume), so that a pick counts on
 * whichever replica it lands:
 *
 * <pre>
 * FOLDER/
 *   parts/&lt;host&gt;-&lt;start&gt;-&lt;pid&gt;/metadata.jsonl   one line per pick; each process appends to its own part only
 *   parts/&lt;host&gt;-&lt;start&gt;-&lt;pid&gt;/images/&lt;uuid&gt;-&lt;i&gt;.png   the shown candidates of those picks
 *   .held/&lt;uuid&gt;/generation.json, &lt;i&gt;.png            a generation waiting for its pick (any replica reads it)
 *   .picks/&lt;uuid&gt;.claim-&lt;k&gt;, &lt;uuid&gt;.done            who is recording a generation's pick, and that it is recorded
 * </pre>
 *
 * Each part is an imagefolder dataset of its own (the Hugging Face {@code datasets} loader reads
 * {@code metadata.jsonl} plus the PNGs its {@code file_name} names, relative to it); the folder as a
 * whole is all of them (and a {@code metadata.jsonl} at its top, which folders written before
 * parts have). Names starting with a dot are hidden from that loader.
 *
 * <p><b>Held.</b> When a generation is answered, its shown (safe) candidates' PNGs and what a row
 * needs are written to {@code .held/<uuid>/} and the folder renamed into place in one step, so a
 * replica that sees it sees all of it. They stay {@code retention} (any replica's timer deletes
 * older ones, also those of replicas that have gone); each process also keeps what it wrote
 * itself within {@code capacity} generations and {@code maxHeldBytes}, its oldest deleted first.
 *
 * <p><b>Accepted once.</b> A pick is accepted by the one process whose atomic create of
 * {@code .picks/<uuid>.claim-0} succeeds (an exclusive create: {@code O_CREAT|O_EXCL}, atomic on
 * local POSIX filesystems and on NFS v3 and later); every other pick of that generation, on any
 * replica, is a 409 meanwhile. The winner copies the shown PNGs into its part, appends the row
 * in one write and forces both to disk, then creates {@code .done} and deletes the held folder.
 * A write that fails deletes the claim, so the client may retry ({@link WriteFailed}); a
 * process that dies while holding a claim leaves it behind, and once it is older than
 * {@code claimTimeout} the next pick takes over with {@code claim-1} (again an exclusive create,
 * so one taker only). Readers take the first row of a {@code generation_id} (a recorder stalled
 * longer than the claim timeout, then resumed, could otherwise add a second). No lock service:
 * only the filesystem.
 *
 * <p>Thread-safe; any number of processes may share the folder, each with its own {@code part}.
 */
public final class FeedbackLedger {

    /** A candidate as the person saw it: only safe candidates have images, so only they can be shown. */
    public record Shown(int index, long seed, Map<String, Double> scores, byte[] png) {
    }

    /**
     * What is kept of a generation until its pick arrives.
     *
     * @param pipeline the pack (and version) that made the candidates
     * @param judges   the judges that judged them, by role, with their versions
     */
    public record Generation(String uuid, ModelVersion pipeline, Map<String, ModelVersion> judges, String prompt,
                             String negativePrompt, Map<String, Object> settings, Map<Integer, Shown> shown) {

        /** The bytes its images take while held. */
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

    /** A generation this process holds for its pick, since {@code madeMillis}. */
    private record Held(long madeMillis, long bytes) {
    }

    private static final Logger LOG = Logger.getLogger(FeedbackLedger.class.getName());
    private static final ObjectMapper JSON = new ObjectMapper();
    /** The old single-writer file at the folder's top (still read by the tools). */
    public static final String METADATA = "metadata.jsonl";
    public static final String PARTS = "parts";
    public static final String HELD = ".held";
    public static final String PICKS = ".picks";
    static final String GENERATION = "generation.json";
    /** What a generation's uuid may look like (it is a file name): the engine's ids are UUIDs. */
    private static final Pattern UUID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_-]{0,127}");

    private final Path folder;
    private final Path part;
    private final Path held;
    private final Path picks;
    private final Duration retention;
    private final Duration claimTimeout;
    private final int capacity;
    private final long maxHeldBytes;
    private final Clock clock;
    /** Guarded by this: the generations this process holds, oldest first. */
    private final LinkedHashMap<String, Held> mine = new LinkedHashMap<>();
    /** Guarded by this: the PNG bytes of {@link #mine}. */
    private long heldBytes;
    /** One appender at a time in this process, so that rows never interleave (other processes have parts of their own). */
    private final Object appendLock = new Object();

    /**
     * @param part         this process's name among the folder's writers ({@link ProcessPart#id()})
     * @param maxHeldBytes most PNG bytes this process holds for picks at once; a generation with more on its own is not held
     * @param claimTimeout how long a claim stands before a pick may take over from a recorder that died
     */
    public FeedbackLedger(Path folder, String part, Duration retention, int capacity, long maxHeldBytes,
                          Duration claimTimeout, Clock clock) {
        this.folder = folder;
        this.part = folder.resolve(PARTS).resolve(part);
        this.held = folder.resolve(HELD);
        this.picks = folder.resolve(PICKS);
        this.retention = retention;
        this.claimTimeout = claimTimeout;
        this.capacity = Math.max(1, capacity);
        this.maxHeldBytes = Math.max(0, maxHeldBytes);
        this.clock = clock;
    }

    public Path folder() {
        return folder;
    }

    /** This process's part: its {@code metadata.jsonl} and {@code images/}. */
    public Path part() {
        return part;
    }

    /** The PNG bytes this process holds for picks now. */
    public synchronized long heldBytes() {
        return heldBytes;
    }

    /**
     * Holds a generation so that a pick on any replica can name it: writes it under
     * {@code .held/<uuid>/}, then lets this process's oldest go when the count or the bytes are
     * over their bounds.
     *
     * @return false when it is not held (its pick will be a 404): its images alone are over the
     *         byte budget, or it could not be written (logged)
     */
    public boolean remember(Generation g) {
        long bytes = g.bytes();
        if (bytes > maxHeldBytes || !UUID.matcher(g.uuid()).matches()) {
            LOG.warning("generation " + g.uuid() + " is not held for feedback: its images alone (" + bytes
                    + " bytes) are over winnow.feedback.max-held-bytes (" + maxHeldBytes + ")");
            return false;
        }
        long now = clock.millis();
        try {
            write(g, now);
        } catch (IOException e) {
            LOG.warning("generation " + g.uuid() + " is not held for feedback: writing it to " + held + " failed: " + e);
            return false;
        }
        List<String> evicted = new ArrayList<>();
        synchronized (this) {
            mine.put(g.uuid(), new Held(now, bytes));
            heldBytes += bytes;
            for (Iterator<Map.Entry<String, Held>> oldest = mine.entrySet().iterator();
                 mine.size() > capacity || heldBytes > maxHeldBytes; ) {
                Map.Entry<String, Held> e = oldest.next();
                heldBytes -= e.getValue().bytes();
                evicted.add(e.getKey());
                oldest.remove();
            }
        }
        evicted.forEach(uuid -> deleteTree(held.resolve(uuid)));
        return true;
    }

    /** The shown PNGs and {@code generation.json} in a hidden folder, renamed into place at once. */
    private void write(Generation g, long now) throws IOException {
        Files.createDirectories(held);
        Path tmp = held.resolve("." + g.uuid() + ".writing");
        Files.createDirectories(tmp);
        Map<String, Object> shown = new LinkedHashMap<>();
        for (Shown s : g.shown().values()) {
            Files.write(tmp.resolve(s.index() + ".png"), s.png());
            Map<String, Object> c = new LinkedHashMap<>();
            c.put("seed", s.seed());
            c.put("scores", s.scores());
            shown.put(Integer.toString(s.index()), c);
        }
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("generation_id", g.uuid());
        doc.put("model", g.pipeline().name());
        doc.put("model_version", g.pipeline().version());
        doc.put("judges", g.judges());
        doc.put("prompt", g.prompt());
        doc.put("negative_prompt", g.negativePrompt());
        doc.put("settings", g.settings());
        doc.put("shown", shown);
        Files.write(tmp.resolve(GENERATION), JSON.writeValueAsBytes(doc));
        Path dir = held.resolve(g.uuid());
        try {
            Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            deleteTree(tmp);
            throw e;
        }
        Files.setLastModifiedTime(dir, FileTime.fromMillis(now)); // its age, on this ledger's clock
    }

    /**
     * Records a pick: claims the generation (once across every process sharing the folder), copies
     * the shown candidates' PNGs into this process's part, then appends its row to the part's
     * {@code metadata.jsonl} in one write, each forced to disk, so a failure leaves no row without
     * its images and never half a row. Only then is the generation marked done and let go.
     *
     * @throws Refused     404 for a generation not held (unknown or expired), 409 for one already picked (or
     *                     being recorded, here or on another replica), 400 for a pick that is not among the
     *                     shown safe candidates
     * @throws WriteFailed when the pick could not be written: nothing is recorded, and the generation still waits
     */
    public void record(String uuid, int chosen, List<Integer> shownIndices) {
        if (!UUID.matcher(uuid).matches()) {
            throw unknown();
        }
        Path dir = held.resolve(uuid);
        if (Files.exists(done(uuid))) {
            throw already();
        }
        JsonNode g = readGeneration(dir);
        if (g == null) {
            throw Files.exists(claimPath(uuid, 0)) ? already() : unknown();
        }
        checkPick(g, chosen, shownIndices);
        Path claim = claim(uuid);
        boolean written = false;
        try {
            write(uuid, dir, g, chosen, shownIndices);
            written = true;
        } catch (IOException e) {
            if (!Files.isDirectory(dir)) {
                throw unknown(); // let go meanwhile (expired, or over a replica's budget): nothing was written
            }
            throw new WriteFailed("writing the pick to " + part + " failed: " + e, e);
        } finally {
            if (!written) {
                deleteQuietly(claim); // the generation waits for a retry
            }
        }
        try {
            Files.createFile(done(uuid));
        } catch (IOException e) {
            // the claim still refuses a second pick until it is stale; readers keep the first row of an id
            LOG.warning("the pick of " + uuid + " is recorded, but its done mark could not be written: " + e);
        }
        deleteTree(dir);
        synchronized (this) {
            Held h = mine.remove(uuid);
            if (h != null) {
                heldBytes -= h.bytes();
            }
        }
    }

    /**
     * Takes the generation's claim: the first free {@code claim-<k>}, by an exclusive create; a
     * newer claim than a stale one (its recorder died) takes over.
     *
     * @throws Refused 409 while another pick holds a live claim
     */
    private Path claim(String uuid) {
        try {
            Files.createDirectories(picks);
            for (int k = 0; ; ) {
                Path c = claimPath(uuid, k);
                try {
                    Files.createFile(c);
                } catch (FileAlreadyExistsException taken) {
                    if (Files.exists(claimPath(uuid, k + 1))) {
                        k++; // a later claim took over from this one
                        continue;
                    }
                    if (Files.exists(done(uuid))) {
                        throw already();
                    }
                    Boolean stale = stale(c);
                    if (stale == null) {
                        continue; // released just now (its write failed): try the same claim again
                    }
                    if (!stale) {
                        throw already();
                    }
                    LOG.warning("taking over the pick of " + uuid + " from a claim older than " + claimTimeout
                            + " (its recorder died?)");
                    k++;
                    continue;
                }
                if (Files.exists(claimPath(uuid, k + 1))) {
                    deleteQuietly(c); // an earlier claim was released while a later one took over: that one holds it
                    k++;
                    continue;
                }
                Files.setLastModifiedTime(c, FileTime.fromMillis(clock.millis()));
                return c;
            }
        } catch (IOException e) {
            throw new WriteFailed("claiming the pick in " + picks + " failed: " + e, e);
        }
    }

    /** Whether the claim is older than the claim timeout; null when it is gone. */
    private Boolean stale(Path claim) throws IOException {
        try {
            return Files.getLastModifiedTime(claim).toMillis() < clock.millis() - claimTimeout.toMillis();
        } catch (NoSuchFileException e) {
            return null;
        }
    }

    private Path claimPath(String uuid, int k) {
        return picks.resolve(uuid + ".claim-" + k);
    }

    private Path done(String uuid) {
        return picks.resolve(uuid + ".done");
    }

    /**
     * Lets go of what is past its time: this process's generations older than the retention (a
     * timer calls it, so they go without traffic) and those picked elsewhere; and in the shared
     * folder, any process's held generation older than the retention (so a replica that has gone
     * leaves nothing behind for long) and claims older than twice the retention plus the claim
     * timeout (after which a pick of that id is a 404, as for any id that old).
     */
    public void expire() {
        long now = clock.millis();
        long oldest = now - retention.toMillis();
        List<String> gone = new ArrayList<>();
        synchronized (this) {
            for (Iterator<Map.Entry<String, Held>> it = mine.entrySet().iterator(); it.hasNext(); ) {
                Map.Entry<String, Held> e = it.next();
                if (e.getValue().madeMillis() < oldest || !Files.isDirectory(held.resolve(e.getKey()))) {
                    heldBytes -= e.getValue().bytes();
                    gone.add(e.getKey());
                    it.remove();
                }
            }
        }
        gone.forEach(uuid -> deleteTree(held.resolve(uuid)));
        sweep(held, oldest);
        sweep(picks, oldest - retention.toMillis() - claimTimeout.toMillis());
    }

    /** Deletes the entries of {@code dir} last modified before {@code before}. */
    private static void sweep(Path dir, long before) {
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
            for (Path p : entries) {
                try {
                    if (Files.getLastModifiedTime(p).toMillis() < before) {
                        deleteTree(p);
                    }
                } catch (IOException e) {
                    // deleted by another replica's sweep meanwhile
                }
            }
        } catch (NoSuchFileException e) {
            // nothing held yet
        } catch (IOException e) {
            LOG.warning("sweeping " + dir + " failed: " + e);
        }
    }

    /** The held generation's document, or null when it is not held (never was, or let go). */
    private static JsonNode readGeneration(Path dir) {
        try {
            return JSON.readTree(Files.readAllBytes(dir.resolve(GENERATION)));
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            throw new WriteFailed("reading the held generation " + dir + " failed: " + e, e);
        }
    }

    private void write(String uuid, Path dir, JsonNode g, int chosen, List<Integer> shownIndices) throws IOException {
        Files.createDirectories(part.resolve("images"));
        List<Integer> shown = Set.copyOf(shownIndices).stream().sorted().toList();
        Map<String, String> files = new LinkedHashMap<>();
        Map<String, Long> seeds = new LinkedHashMap<>();
        Map<String, JsonNode> scores = new LinkedHashMap<>();
        for (int i : shown) {
            String key = Integer.toString(i);
            String file = "images/" + uuid + "-" + i + ".png";
            writeDurably(part.resolve(file), Files.readAllBytes(dir.resolve(i + ".png")));
            files.put(key, file);
            JsonNode c = g.path("shown").path(key);
            seeds.put(key, c.path("seed").asLong());
            scores.put(key, c.path("scores"));
        }
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("file_name", files.get(Integer.toString(chosen))); // imagefolder's image: the one preferred
        row.put("generation_id", uuid);
        row.put("prompt", g.path("prompt").asText());
        row.put("negative_prompt", g.path("negative_prompt").isNull() ? null : g.path("negative_prompt").asText());
        row.put("model", g.path("model").asText());
        row.put("model_version", g.path("model_version").asText());
        row.put("judges", g.path("judges"));
        row.put("settings", g.path("settings"));
        row.put("chosen", chosen);
        row.put("rejected", shown.stream().filter(i -> i != chosen).toList());
        row.put("shown_files", files);
        row.put("seeds", seeds);
        row.put("scores", scores);
        row.put("time", clock.instant().toString());
        byte[] line = (JSON.writeValueAsString(row) + "\n").getBytes(StandardCharsets.UTF_8);
        synchronized (appendLock) {
            append(part.resolve(METADATA), line);
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

    /** Deletes a file, or a folder and what it holds; what is already gone is no error. */
    static void deleteTree(Path p) {
        try {
            if (Files.isDirectory(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                try (DirectoryStream<Path> entries = Files.newDirectoryStream(p)) {
                    for (Path e : entries) {
                        deleteTree(e);
                    }
                }
            }
            Files.deleteIfExists(p);
        } catch (NoSuchFileException e) {
            // another replica let it go first
        } catch (IOException e) {
            LOG.warning("could not delete " + p + " (the next sweep tries again): " + e);
        }
    }

    private static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException e) {
            LOG.warning("could not release the claim " + p + " (it goes stale and is taken over): " + e);
        }
    }

    private Refused unknown() {
        return new Refused(404, "generation_id", "no generation with this id is waiting for feedback: it is "
                + "unknown, older than " + retention.toMinutes() + " minutes, or already has its pick");
    }

    private static Refused already() {
        return new Refused(409, "generation_id", "this generation already has its pick, or one is being recorded "
                + "(each is accepted once)");
    }

    private static void checkPick(JsonNode g, int chosen, List<Integer> shown) {
        if (shown == null || shown.size() < 2) {
            throw new Refused(400, "shown", "shown must list at least two candidates the person saw");
        }
        if (shown.stream().anyMatch(Objects::isNull)) {
            throw new Refused(400, "shown", "shown must list candidate indices, not null");
        }
        if (Set.copyOf(shown).size() != shown.size()) {
            throw new Refused(400, "shown", "shown lists a candidate twice");
        }
        Set<Integer> showable = new TreeSet<>();
        g.path("shown").fieldNames().forEachRemaining(k -> showable.add(Integer.parseInt(k)));
        for (int i : shown) {
            if (!showable.contains(i)) {
                throw new Refused(400, "shown", "candidate " + i + " was not shown (only safe candidates with images can be: "
                        + showable + ")");
            }
        }
        if (!shown.contains(chosen)) {
            throw new Refused(400, "chosen", "chosen must be one of shown");
        }
    }
}
