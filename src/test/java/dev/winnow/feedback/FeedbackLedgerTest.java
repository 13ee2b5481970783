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
        return ledger(folder, "pod-a", maxHeldBytes, clock);
    }

    /** A process named {@code part} sharing {@code folder}. */
    static FeedbackLedger ledger(Path folder, String part, long maxHeldBytes, Clock clock) {
        return new FeedbackLedger(folder, part, Duration.ofMinutes(30), 256, maxHeldBytes, Duration.ofMinutes(2), clock);
    }

    /** Every row of every part, as a reader sees the dataset. */
    List<String> rows() throws Exception {
        return rows(dir);
    }

    static List<String> rows(Path folder) throws Exception {
        List<String> out = new ArrayList<>();
        Path parts = folder.resolve("parts");
        if (Files.isDirectory(parts)) {
            try (var each = Files.list(parts)) {
                for (Path part : each.sorted().toList()) {
                    Path meta = part.resolve("metadata.jsonl");
                    if (Files.exists(meta)) {
                        out.addAll(Files.readAllLines(meta));
                    }
                }
            }
        }
        return out;
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
        FeedbackLedger ledger = ledger(dir, 1 << 20, Clock.systemUTC());
        ledger.remember(generation("g", 500));
        Path blocked = ledger.part();
        Files.createDirectories(blocked.getParent());
        Files.writeString(blocked, "a file where the part's folder should be"); // no folder can be made here, even as root
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
        FeedbackLedger ledger = ledger(dir, 1 << 20, Clock.systemUTC());
        Files.createDirectories(ledger.part());
        Files.writeString(ledger.part().resolve("metadata.jsonl"), "{\"file_name\": \"images/x-0.png\"}\n{\"file_name\": \"images/y-0.pn",
                StandardCharsets.UTF_8); // a row cut short
        ledger.remember(generation("g", 10));
        ledger.record("g", 0, List.of(0, 1));
        List<String> lines = rows();
        assertEquals(3, lines.size());
        assertEquals("{\"file_name\": \"images/y-0.pn", lines.get(1), "the torn row is left as it was, on its own line");
        assertEquals("g", JSON.readTree(lines.get(2)).get("generation_id").asText(), "the new row is whole");
        assertTrue(Files.readString(ledger.part().resolve("metadata.jsonl")).endsWith("}\n"));
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

    /** Two processes sharing one folder (two replicas on one ReadWriteMany volume): held by one, picked on the other. */
    @Test
    void aPickCountsOnWhicheverProcessItLandsAndOnlyOnce() throws Exception {
        FeedbackLedger a = ledger(dir, "pod-a", 1 << 20, Clock.systemUTC());
        FeedbackLedger b = ledger(dir, "pod-b", 1 << 20, Clock.systemUTC());
        FeedbackLedger.Generation g = generation("g", 700);
        g.shown().get(1).png()[0] = 42;
        assertTrue(a.remember(g));
        b.record("g", 1, List.of(0, 1));
        assertEquals(409, assertThrows(FeedbackLedger.Refused.class, () -> a.record("g", 0, List.of(0, 1))).status());
        assertEquals(409, assertThrows(FeedbackLedger.Refused.class, () -> b.record("g", 0, List.of(0, 1))).status());
        List<String> lines = rows();
        assertEquals(1, lines.size(), "one row in the whole folder");
        assertTrue(Files.exists(b.part().resolve("metadata.jsonl")) && !Files.exists(a.part().resolve("metadata.jsonl")),
                "the row is in the part of the process that took the pick");
        var row = JSON.readTree(lines.get(0));
        assertEquals("images/g-1.png", row.get("file_name").asText());
        assertEquals(101, row.at("/seeds/1").asLong());
        assertEquals("v1", row.get("model_version").asText());
        assertEquals("s", row.at("/judges/safety/name").asText());
        assertEquals(0.5, row.at("/scores/0/aesthetic").asDouble());
        byte[] png = Files.readAllBytes(b.part().resolve(row.get("file_name").asText()));
        assertEquals(42, png[0], "the chosen candidate's PNG, copied into the part beside its row");
        assertFalse(Files.exists(dir.resolve(".held").resolve("g")), "a picked generation is let go");
        assertEquals(1_400, a.heldBytes());
        a.expire();
        assertEquals(0, a.heldBytes(), "the process that held it sees it go at its next sweep");
    }

    @Test
    void picksOfOneGenerationOnSeveralProcessesAtOnceAreRecordedExactlyOnce() throws Exception {
        List<FeedbackLedger> pods = new ArrayList<>();
        for (int p = 0; p < 4; p++) {
            pods.add(ledger(dir, "pod-" + p, 1 << 20, Clock.systemUTC()));
        }
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            for (int round = 0; round < 5; round++) {
                String uuid = "g" + round;
                pods.get(round % 4).remember(generation(uuid, 5_000));
                CountDownLatch go = new CountDownLatch(1);
                List<Future<Integer>> outcomes = new ArrayList<>();
                for (int i = 0; i < 8; i++) {
                    FeedbackLedger pod = pods.get(i % 4);
                    int chosen = i % 2;
                    outcomes.add(pool.submit(() -> {
                        go.await();
                        try {
                            pod.record(uuid, chosen, List.of(0, 1));
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
                assertEquals(7, statuses.stream().filter(s -> s == 409).count(), "the others refused: " + statuses);
            }
            assertEquals(5, rows().size());
        } finally {
            pool.shutdownNow();
        }
    }

    /** A replica that died between claiming a pick and writing it: its claim goes stale, and the next pick takes over once. */
    @Test
    void aClaimLeftByARecorderThatDiedIsTakenOverWhenStale() throws Exception {
        ManualClock clock = new ManualClock();
        FeedbackLedger a = ledger(dir, "pod-a", 1 << 20, clock);
        FeedbackLedger b = ledger(dir, "pod-b", 1 << 20, clock);
        a.remember(generation("g", 100));
        Path claim = Files.createDirectories(dir.resolve(".picks")).resolve("g.claim-0");
        Files.createFile(claim); // pod-a claimed the pick, then died
        Files.setLastModifiedTime(claim, java.nio.file.attribute.FileTime.fromMillis(clock.millis()));
        assertEquals(409, assertThrows(FeedbackLedger.Refused.class, () -> b.record("g", 0, List.of(0, 1))).status(),
                "a live claim: the pick is being recorded elsewhere");
        clock.millis += Duration.ofMinutes(3).toMillis();
        b.record("g", 0, List.of(0, 1));
        assertEquals(1, rows().size());
        assertEquals(409, assertThrows(FeedbackLedger.Refused.class, () -> a.record("g", 1, List.of(0, 1))).status());
        assertEquals(1, rows().size(), "taken over once");
    }

    /** Held generations of a replica that has gone are let go by the others' timers. */
    @Test
    void anyProcessLetsGoOfHeldGenerationsPastTheRetention() throws Exception {
        ManualClock clock = new ManualClock();
        FeedbackLedger gone = ledger(dir, "pod-gone", 1 << 20, clock);
        FeedbackLedger b = ledger(dir, "pod-b", 1 << 20, clock);
        gone.remember(generation("old", 100));
        clock.millis += Duration.ofMinutes(20).toMillis();
        gone.remember(generation("young", 100));
        clock.millis += Duration.ofMinutes(11).toMillis();
        b.expire();
        try (var held = Files.list(dir.resolve(".held"))) {
            assertEquals(List.of("young"), held.map(p -> p.getFileName().toString()).toList());
        }
        assertEquals(404, assertThrows(FeedbackLedger.Refused.class, () -> b.record("old", 0, List.of(0, 1))).status());
        b.record("young", 0, List.of(0, 1));
    }
}
