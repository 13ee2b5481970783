package dev.winnow.feedback;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.winnow.modelpack.ModelVersion;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The preference ledger on its own: what it holds for picks, and how a pick reaches the disk. */
class FeedbackLedgerTest {

    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    /** A clock the test moves. */
    static final class ManualClock extends Clock {
        long millis = 1_000_000;

        @Override
        public long millis() {
            return millis;
        }

        @Override
        public Instant instant() {
            return Instant.ofEpochMilli(millis);
        }

        @Override
        public ZoneOffset getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(java.time.ZoneId zone) {
            return this;
        }
    }

    /** A generation of two shown candidates, 0 and 1, whose PNGs are {@code bytesEach} bytes. */
    static FeedbackLedger.Generation generation(String uuid, int bytesEach) {
        Map<Integer, FeedbackLedger.Shown> shown = new LinkedHashMap<>();
        for (int i = 0; i < 2; i++) {
            shown.put(i, new FeedbackLedger.Shown(i, 100 + i, Map.of("aesthetic", 0.5), new byte[bytesEach]));
        }
        return new FeedbackLedger.Generation(uuid, new ModelVersion("m", "v1"),
                Map.of("safety", new ModelVersion("s", "v1")), "a red circle", "", Map.of("n", 2), shown);
    }

    FeedbackLedger ledger(Path folder, long maxHeldBytes, Clock clock) {
        return new FeedbackLedger(folder, Duration.ofMinutes(30), 256, maxHeldBytes, clock);
    }

    List<String> rows() throws Exception {
        Path meta = dir.resolve("metadata.jsonl");
        return Files.exists(meta) ? Files.readAllLines(meta) : List.of();
    }

    @Test
    void theHeldImagesStayWithinTheByteBudgetTheOldestGoingFirst() {
        FeedbackLedger ledger = ledger(dir, 3_000, Clock.systemUTC());
        for (int g = 0; g < 5; g++) {
            assertTrue(ledger.remember(generation("g" + g, 500))); // 1000 bytes each
        }
        assertEquals(3_000, ledger.heldBytes());
        for (String gone : List.of("g0", "g1")) {
            FeedbackLedger.Refused r = assertThrows(FeedbackLedger.Refused.class, () -> ledger.record(gone, 0, List.of(0, 1)));
            assertEquals(404, r.status());
        }
        ledger.record("g2", 0, List.of(0, 1));
        assertEquals(2_000, ledger.heldBytes(), "a picked generation is let go");
    }

    @Test
    void aGenerationLargerThanTheWholeBudgetIsNotHeldAndTakesNothingFromTheOthers() {
        FeedbackLedger ledger = ledger(dir, 3_000, Clock.systemUTC());
        ledger.remember(generation("small", 500));
        assertFalse(ledger.remember(generation("huge", 2_000)));
        assertEquals(1_000, ledger.heldBytes());
        assertEquals(404, assertThrows(FeedbackLedger.Refused.class, () -> ledger.record("huge", 0, List.of(0, 1))).status());
    }

    @Test
    void expiringLetsGoOfGenerationsPastTheRetentionAndTheirBytes() {
        ManualClock clock = new ManualClock();
        FeedbackLedger ledger = ledger(dir, 1 << 20, clock);
        ledger.remember(generation("old", 500));
        clock.millis += Duration.ofMinutes(20).toMillis();
        ledger.remember(generation("young", 500));
        clock.millis += Duration.ofMinutes(11).toMillis();
        ledger.expire();
        assertEquals(1_000, ledger.heldBytes(), "only the young one is held");
        clock.millis += Duration.ofMinutes(20).toMillis();
        ledger.expire();
        assertEquals(0, ledger.heldBytes());
    }

    @Test
    void aPickThatCannotBeWrittenStoresNothingAndMayBeRetried() throws Exception {
        Path blocked = dir.resolve("feedback");
        Files.writeString(blocked, "a file where the folder should be"); // no folder can be made here, even as root
        FeedbackLedger ledger = ledger(blocked, 1 << 20, Clock.systemUTC());
        ledger.remember(generation("g", 500));
        assertThrows(FeedbackLedger.WriteFailed.class, () -> ledger.record("g", 1, List.of(0, 1)));
        assertEquals(1_000, ledger.heldBytes(), "the generation still waits for its pick");
        Files.delete(blocked);
        ledger.record("g", 1, List.of(0, 1));
        List<String> lines = Files.readAllLines(blocked.resolve("metadata.jsonl"));
        assertEquals(1, lines.size());
        assertEquals(1, JSON.readTree(lines.get(0)).get("chosen").asInt());
        assertEquals(409, assertThrows(FeedbackLedger.Refused.class, () -> ledger.record("g", 0, List.of(0, 1))).status());
    }

    @Test
    void aFileWhoseLastRowLostItsNewlineGetsOneBeforeTheNextRow() throws Exception {
        Files.writeString(dir.resolve("metadata.jsonl"), "{\"file_name\": \"images/x-0.png\"}\n{\"file_name\": \"images/y-0.pn",
                StandardCharsets.UTF_8); // a row cut short
        FeedbackLedger ledger = ledger(dir, 1 << 20, Clock.systemUTC());
        ledger.remember(generation("g", 10));
        ledger.record("g", 0, List.of(0, 1));
        List<String> lines = rows();
        assertEquals(3, lines.size());
        assertEquals("{\"file_name\": \"images/y-0.pn", lines.get(1), "the torn row is left as it was, on its own line");
        assertEquals("g", JSON.readTree(lines.get(2)).get("generation_id").asText(), "the new row is whole");
        assertTrue(Files.readString(dir.resolve("metadata.jsonl")).endsWith("}\n"));
    }

    @Test
    void twoPicksOfOneGenerationAtOnceAreRecordedExactlyOnce() throws Exception {
        FeedbackLedger ledger = ledger(dir, 1 << 20, Clock.systemUTC());
        ledger.remember(generation("g", 50_000));
        int pickers = 8;
        ExecutorService pool = Executors.newFixedThreadPool(pickers);
        try {
            CountDownLatch go = new CountDownLatch(1);
            List<Future<Integer>> outcomes = new ArrayList<>();
            for (int i = 0; i < pickers; i++) {
                int chosen = i % 2;
                outcomes.add(pool.submit(() -> {
                    go.await();
                    try {
                        ledger.record("g", chosen, List.of(0, 1));
                        return 204;
                    } catch (FeedbackLedger.Refused r) {
                        return r.status();
                    }
                }));
            }
            go.countDown();
            List<Integer> statuses = new ArrayList<>();
            for (Future<Integer> f : outcomes) {
                statuses.add(f.get(30, TimeUnit.SECONDS));
            }
            assertEquals(1, statuses.stream().filter(s -> s == 204).count(), "one pick recorded: " + statuses);
            assertEquals(pickers - 1, statuses.stream().filter(s -> s == 409).count(), "the others refused: " + statuses);
            assertEquals(1, rows().size());
        } finally {
            pool.shutdownNow();
        }
    }
}
