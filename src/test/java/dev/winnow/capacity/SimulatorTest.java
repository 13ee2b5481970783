package dev.winnow.capacity;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.winnow.engine.Prune;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The capacity simulator on a tiny, hand-made device profile: it answers every request once, its
 * device is never busier than the clock, and its schedules are the ones worked out by hand below
 * (the engine's own scheduler decides them; the profile only says how long each call takes).
 */
class SimulatorTest {

    /**
     * Text encoder 1 ms; UNet 11 ms for 2 rows, 13 ms for 4 (10 ms + 1 ms a row, roughly);
     * VAE 3 ms for one image, 5 for two; safety 2 ms, the one scorer (aesthetic) 1 ms; no host cost.
     */
    static final DeviceProfile TINY = new DeviceProfile("tiny", "today", "by hand", Curve.flat(1),
            new Curve(List.of(1, 2, 4, 8, 16), List.of(10.0, 11.0, 13.0, 17.0, 25.0)),
            new Curve(List.of(1, 2), List.of(3.0, 5.0)),
            Map.of("safety", Curve.flat(2), "aesthetic", Curve.flat(1)),
            new DeviceProfile.Host(0, 0, 0), true);

    static final Simulator.Settings WINNOW = Simulator.Settings.defaults(Simulator.Policy.WINNOW);

    static SimRequest guided(int n, int steps) {
        return new SimRequest(n, steps, 2, "64x64", null, 1, 120_000);
    }

    static Arrival at(double ms, SimRequest r) {
        return new Arrival(Math.round(ms * 1e6), r, null);
    }

    static Map<Long, Double> answeredAtMs(SimReport r) {
        return r.answers().stream().collect(Collectors.toMap(SimReport.Answer::job, a -> a.answeredNanos() / 1e6));
    }

    @Test
    void aLoneJobIsAnsweredAfterExactlyTheSumOfItsCalls() {
        // encode 1 ms, 3 steps of one 4-row call (13 ms each), decode two images (5), safety (2), aesthetic (1)
        SimReport r = Simulator.run(TINY, WINNOW, List.of(at(0, guided(2, 3))));
        assertEquals(1 + 3 * 13 + 5 + 2 + 1, r.answers().get(0).latencyMillis(), 1e-9);
        assertEquals(48_000_000L, r.busyNanos());
        assertEquals(3, r.unetCalls());
        assertEquals(12, r.unetRows());
    }

    @Test
    void aJobArrivingMidStepJoinsAtTheNextStepBoundaryAndSharesTheDeviceFirstComeFirstServed() {
        // A: 1 candidate, 4 steps, at 0. B: 1 candidate, 2 steps, at 11.5 ms (during A's first step).
        //  0- 1 encode A          1-12 UNet A (2 rows)     12-13 encode B (B joins at the boundary)
        // 13-26 UNet A+B (4 rows)  26-39 UNet A+B: B is denoised
        // 39-42 decode B (its finisher asks first)  42-53 UNet A, its last step
        // 53-55 safety B (asked at 42)  55-58 decode A (asked at 53)  58-59 aesthetic B: B answered at 59
        // 59-61 safety A  61-62 aesthetic A: A answered at 62
        SimReport r = Simulator.run(TINY, WINNOW, List.of(at(0, guided(1, 4)), at(11.5, guided(1, 2))));
        Map<Long, Double> done = answeredAtMs(r);
        assertEquals(62.0, done.get(1L), 1e-9);
        assertEquals(59.0, done.get(2L), 1e-9);
        assertEquals(62_000_000L, r.busyNanos());
        assertEquals(62_000_000L, r.wallNanos());
        assertEquals(List.of(2L, 4L, 4L, 2L).stream().mapToLong(Long::longValue).sum(), r.unetRows());
        assertEquals(4, r.unetCalls());
    }

    @Test
    void withMeasuredOverlapTheFinisherJudgesBesideTheLoopsStepsAtTheSlowedRates() {
        // The schedule above, with a CPU's overlap (both calls twice as slow while both run, so no
        // faster in sum, only sooner for the first to finish). Until 39 nothing overlaps. At 39 B's
        // decode (3 ms) and A's last step (11 ms) start together at half speed: the decode ends at 45
        // (A's step has 8 ms left); B's safety (2) ends at 49 (A: 6 left), its aesthetic (1) at 51
        // (A: 5 left): B answered at 51. A's step ends alone at 56; decode 56-59, safety 59-61,
        // aesthetic 61-62.
        DeviceProfile cpu = TINY.withOverlap(new DeviceProfile.Overlap(2, 2));
        SimReport r = Simulator.run(cpu, WINNOW, List.of(at(0, guided(1, 4)), at(11.5, guided(1, 2))));
        Map<Long, Double> done = answeredAtMs(r);
        assertEquals(51.0, done.get(2L), 1e-6);
        assertEquals(62.0, done.get(1L), 1e-6);
        assertEquals(62_000_000L, r.busyNanos(), 1);
        // Perfectly parallel lanes: B's decode, safety and aesthetic run 39-45 beside A's step (39-50).
        SimReport free = Simulator.run(TINY.withOverlap(new DeviceProfile.Overlap(1, 1)), WINNOW,
                List.of(at(0, guided(1, 4)), at(11.5, guided(1, 2))));
        assertEquals(45.0, answeredAtMs(free).get(2L), 1e-6);
        assertEquals(56.0, answeredAtMs(free).get(1L), 1e-6);
        assertEquals(56_000_000L, free.busyNanos(), 1);
    }

    @Test
    void oneRequestAtATimeMakesTheSecondRequestWaitForTheFirstOnesAnswer() {
        // A: encode 0-1, 4 steps of 11 ms to 45, decode 48, safety 50, aesthetic 51.
        // B (arrived at 11.5): encode 51-52, 2 steps to 74, decode 77, safety 79, aesthetic 80.
        SimReport r = Simulator.run(TINY, WINNOW.withPolicy(Simulator.Policy.ONE_REQUEST_AT_A_TIME),
                List.of(at(0, guided(1, 4)), at(11.5, guided(1, 2))));
        Map<Long, Double> done = answeredAtMs(r);
        assertEquals(51.0, done.get(1L), 1e-9);
        assertEquals(80.0, done.get(2L), 1e-9);
    }

    @Test
    void aPrunedJobStopsSpendingRowsOnItsDroppedCandidatesAfterItsPreviewsAreJudged() {
        // 4 candidates, 5 steps, keep 1 after 1 step: 1 step of 8 rows, previews judged, then 4 steps of 2 rows
        SimRequest pruned = new SimRequest(4, 5, 2, "64x64", new Prune(0.2, 1), 1, 120_000);
        SimReport r = Simulator.run(TINY, WINNOW, List.of(at(0, pruned)));
        assertEquals(8 + 4 * 2, r.unetRows());
        assertEquals(pruned.unetRows(), r.unetRows());
        // encode 1, 8-row step 17, previews: decode 4 images in one VAE call of 4 (5 + 2 × 2 = 9) and the
        // preview judge (the safety judge's curve here: no preview or faithfulness judge in TINY) 2,
        // 4 steps of 11, then decode 3, safety 2, aesthetic 1
        assertEquals(1 + 17 + 9 + 2 + 4 * 11 + 3 + 2 + 1, r.answers().get(0).latencyMillis(), 1e-9);
    }

    @Test
    void aStagedPruneJudgesTheSurvivorsAgainAtItsSecondStep() {
        // 4 candidates, 6 steps: keep 2 after 1 step, then 1 after 3: (1 x 4 + 2 x 2 + 3 x 1) candidate-steps of 2 rows
        SimRequest staged = new SimRequest(4, 6, 2, "64x64", new Prune(0.2, 2, 0, new Prune(0.5, 1)), 1, 120_000);
        SimReport r = Simulator.run(TINY, WINNOW, List.of(at(0, staged)));
        assertEquals(2 * (4 + 2 * 2 + 3), r.unetRows());
        assertEquals(staged.unetRows(), r.unetRows());
        assertEquals(1, r.answers().size());
    }

    @Test
    void theSimulatorsPruningDefaultsAreTheServicesOwn() throws Exception {
        Class<?> c = dev.winnow.engine.WinnowConfig.Pruning.class;
        java.util.function.Function<String, Double> def = name -> {
            try {
                return Double.parseDouble(c.getMethod(name).getAnnotation(io.smallrye.config.WithDefault.class).value());
            } catch (NoSuchMethodException e) {
                throw new AssertionError(e);
            }
        };
        Prune.Defaults sim = SimRequest.SERVICE_PRUNE;
        assertEquals(def.apply("at"), sim.at());
        assertEquals(def.apply("keepFraction"), sim.keepFraction());
        assertEquals(def.apply("margin"), sim.margin());
        assertEquals(def.apply("thenKeepFraction"), sim.thenKeepFraction());
        assertEquals(def.apply("thenAt"), sim.thenAt());
    }

    @Test
    void aTraceRequestTheServiceWouldRefuseIsRefusedWithItsLineAndField(@TempDir Path dir) throws Exception {
        Path trace = dir.resolve("trace.jsonl");
        Files.writeString(trace, "{\"at_ms\": 0, \"body\": {\"prompt\": \"x\", \"n\": 8, \"prune\": {}}}\n"
                + "{\"at_ms\": 5, \"body\": {\"prompt\": \"x\", \"n\": 8, "
                + "\"prune\": {\"keep\": 4, \"then\": {\"keep\": 1}}}}\n");
        java.io.IOException e = org.junit.jupiter.api.Assertions.assertThrows(java.io.IOException.class,
                () -> Workloads.readTrace(trace, SimRequest.Defaults.service(64)));
        assertTrue(e.getMessage().contains("trace.jsonl:2: body.prune.then.at"), e.getMessage());
    }

    @Test
    void aTracePruneObjectTakesTheServersDefaultsWhereItIsSilent(@TempDir Path dir) throws Exception {
        Path trace = dir.resolve("trace.jsonl");
        Files.writeString(trace, "{\"at_ms\": 0, \"body\": {\"prompt\": \"x\", \"n\": 8, \"prune\": {}}}\n"
                + "{\"at_ms\": 5, \"body\": {\"prompt\": \"x\", \"n\": 8, \"prune\": {\"keep\": 3}}}\n");
        List<Arrival> arrivals = Workloads.readTrace(trace, SimRequest.Defaults.service(64));
        assertEquals(SimRequest.SERVICE_PRUNE.forN(8), arrivals.get(0).request().prune());
        assertEquals(new Prune(0.2, 3), arrivals.get(1).request().prune());
    }

    @ParameterizedTest
    @EnumSource(Simulator.Policy.class)
    void everyRequestIsAnsweredExactlyOnceAndTheDeviceIsNeverBusierThanTheClock(Simulator.Policy policy) {
        SimRequest.Defaults d = SimRequest.Defaults.service(64);
        ObjectMapper json = new ObjectMapper();
        for (double rate : new double[] {2, 20, 200}) {
            List<Arrival> arrivals = new ArrayList<>();
            try {
                arrivals.addAll(Workloads.poisson(rate, 10, json.readTree("{\"prompt\": \"a\", \"n\": 4}"), d, 1));
                arrivals.addAll(Workloads.poisson(rate / 2, 10, json.readTree(
                        "{\"prompt\": \"b\", \"n\": 8, \"steps\": 10, \"prune\": {\"keep\": 2}, \"deadline_ms\": 2000}"), d, 2));
                arrivals.addAll(Workloads.poisson(rate / 4, 10, json.readTree(
                        "{\"prompt\": \"c\", \"n\": 1, \"guidance_scale\": 1, \"negative_prompt\": \"x\"}"), d, 3));
            } catch (Exception e) {
                throw new AssertionError(e);
            }
            arrivals.sort(java.util.Comparator.comparingLong(Arrival::atNanos));
            // one call at a time (a GPU), and two at once with measured slowdowns (a CPU)
            for (DeviceProfile profile : List.of(TINY, TINY.withOverlap(new DeviceProfile.Overlap(1.3, 1.7)))) {
                SimReport r = Simulator.run(profile, WINNOW.withPolicy(policy).withQueueCapacity(8), arrivals);
                Set<Long> ids = new HashSet<>();
                r.answers().forEach(a -> assertTrue(ids.add(a.job()), "answered twice: " + a));
                assertEquals(arrivals.size(), r.answers().size(), "every request is answered");
                assertTrue(r.busyNanos() <= r.wallNanos(), "busy " + r.busyNanos() + " > wall " + r.wallNanos());
                assertTrue(r.answers().stream().allMatch(a -> a.answeredNanos() >= a.arrivedNanos()));
                assertTrue(r.maxDepth() <= 8, "the queue never holds more than its capacity");
                assertEquals(0, r.depth().get(r.depth().size() - 1).depth(), "nothing is left admitted at the end");
            }
        }
    }

    @Test
    void aProfileWrittenToAFileReadsBackTheSame(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("tiny.json");
        TINY.write(file);
        assertTrue(Files.readString(file).contains(DeviceProfile.FORMAT));
        DeviceProfile back = DeviceProfile.read(file);
        assertEquals(TINY.unet(), back.unet());
        assertEquals(TINY.judges(), back.judges());
        assertEquals(TINY.host(), back.host());
        assertEquals(null, back.overlap());
        DeviceProfile cpu = TINY.withOverlap(new DeviceProfile.Overlap(1.25, 1.5));
        cpu.write(file);
        assertEquals(cpu.overlap(), DeviceProfile.read(file).overlap());
    }

    @Test
    void aCurveInterpolatesBetweenItsPointsAndGrowsAlongItsLastSlopeBeyondThem() {
        Curve c = new Curve(List.of(2, 4, 8), List.of(10.0, 14.0, 30.0));
        assertEquals(10.0, c.millis(1), 1e-9);
        assertEquals(12.0, c.millis(3), 1e-9);
        assertEquals(22.0, c.millis(6), 1e-9);
        assertEquals(38.0, c.millis(10), 1e-9);
    }
}
