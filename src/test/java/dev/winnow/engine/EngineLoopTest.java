package dev.winnow.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.winnow.diffusion.DiffusionPipeline;
import dev.winnow.judge.RankingPolicy;
import dev.winnow.judge.SafetyJudge;
import dev.winnow.judge.ScoreJudge;
import dev.winnow.onnx.DeviceChoice;
import dev.winnow.onnx.OnnxSessions;
import dev.winnow.testing.Determinism;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The continuous-batching loop on the real embedded models. */
class EngineLoopTest {

    static DiffusionPipeline pipeline;
    static SafetyJudge nsfw;
    static ScoreJudge aesthetic;
    static BestOfN bestOfN;
    static String device;

    final List<Integer> rowsPerCall = Collections.synchronizedList(new ArrayList<>());
    final EngineObserver recorder = new EngineObserver() {
        @Override
        public void unetBatch(int rows) {
            rowsPerCall.add(rows);
        }
    };
    EngineLoop loop;

    @BeforeAll
    static void load() {
        OnnxSessions sessions = OnnxSessions.create(DeviceChoice.CPU, 2, 0);
        device = sessions.device();
        pipeline = DiffusionPipeline.load(Path.of("models/tiny-shapes"), sessions);
        nsfw = SafetyJudge.load(Path.of("models/judges/nsfw-mobilenet-v2"), sessions, null);
        aesthetic = ScoreJudge.load(Path.of("models/judges/aesthetic-tiny"), sessions);
        bestOfN = new BestOfN(pipeline, nsfw, List.of(aesthetic), new RankingPolicy(Map.of("aesthetic", 1.0)), 16);
    }

    @AfterAll
    static void close() {
        pipeline.close();
        nsfw.close();
        aesthetic.close();
    }

    @AfterEach
    void stop() {
        if (loop != null) {
            loop.close();
        }
    }

    static GenerationRequest job(String prompt, long seed, int n, int steps, long deadlineMillis) {
        return new GenerationRequest(prompt, "", n, steps, 5.0, seed, 64, 64, "euler_a", true, Map.of(),
                System.nanoTime() + deadlineMillis * 1_000_000);
    }

    /** A real UNet call made slower, so tests can act while jobs are in flight. */
    static UnetStepper slow(long millis) {
        return (p, slots) -> {
            Thread.sleep(millis);
            return p.step(slots);
        };
    }

    @Test
    void concurrentJobsShareUnetCallsAndEachGetsItsImageAsIfAlone() throws Exception {
        loop = new EngineLoop(bestOfN, 8, 16, true, slow(5), recorder);
        CompletableFuture<GenerationResult> a = loop.submit(job("a red circle on a white background", 10, 2, 10, 60_000));
        CompletableFuture<GenerationResult> b = loop.submit(job("a blue square on a gray background", 20, 2, 10, 60_000));
        GenerationResult ra = a.get(60, TimeUnit.SECONDS);
        GenerationResult rb = b.get(60, TimeUnit.SECONDS);
        // Each job alone would use 4 rows (2 candidates x guidance); a call with more mixed both jobs.
        assertTrue(rowsPerCall.stream().anyMatch(r -> r > 4), "some UNet call held rows of both jobs: " + rowsPerCall);
        GenerationResult aloneA = bestOfN.generate(job("a red circle on a white background", 10, 2, 10, 60_000), r -> { });
        GenerationResult aloneB = bestOfN.generate(job("a blue square on a gray background", 20, 2, 10, 60_000), r -> { });
        Determinism.assertSameImage(device, aloneA.png(), ra.png(), "job A alone vs sharing calls");
        Determinism.assertSameImage(device, aloneB.png(), rb.png(), "job B alone vs sharing calls");
    }

    @Test
    void withStepLevelBatchingOffACallHoldsOneJobsRows() throws Exception {
        loop = new EngineLoop(bestOfN, 8, 16, false, slow(2), recorder);
        CompletableFuture<GenerationResult> a = loop.submit(job("a red circle on a white background", 10, 2, 6, 60_000));
        CompletableFuture<GenerationResult> b = loop.submit(job("a blue square on a gray background", 20, 2, 6, 60_000));
        a.get(60, TimeUnit.SECONDS);
        b.get(60, TimeUnit.SECONDS);
        assertTrue(rowsPerCall.stream().allMatch(r -> r <= 4), rowsPerCall.toString());
    }

    @Test
    void aFullQueueRefusesAtOnceAndTheAdmittedJobsStillFinish() throws Exception {
        loop = new EngineLoop(bestOfN, 2, 16, true, slow(10), recorder);
        List<CompletableFuture<GenerationResult>> admitted = new ArrayList<>();
        int refused = 0;
        for (int i = 0; i < 5; i++) {
            try {
                admitted.add(loop.submit(job("a green triangle on a white background", i, 1, 8, 60_000)));
            } catch (QueueFullException e) {
                refused++;
                assertTrue(e.retryAfterSeconds() >= 1);
            }
        }
        assertEquals(2, admitted.size());
        assertEquals(3, refused);
        for (CompletableFuture<GenerationResult> f : admitted) {
            f.get(60, TimeUnit.SECONDS);
        }
        assertEquals(0, loop.queueDepth());
        loop.submit(job("a green triangle on a white background", 9, 1, 8, 60_000)).get(60, TimeUnit.SECONDS);
    }

    @Test
    void anExpiredJobFailsWithDeadlineExceededAndFreesItsSlots() throws Exception {
        loop = new EngineLoop(bestOfN, 4, 16, true, slow(20), recorder);
        CompletableFuture<GenerationResult> late = loop.submit(job("a red circle on a white background", 1, 4, 50, 150));
        ExecutionException e = assertThrows(ExecutionException.class, () -> late.get(60, TimeUnit.SECONDS));
        assertInstanceOf(DeadlineExceededException.class, e.getCause());
        awaitNoActiveSlots();
        assertEquals(0, loop.queueDepth());
        loop.submit(job("a red circle on a white background", 1, 1, 8, 60_000)).get(60, TimeUnit.SECONDS);
    }

    @Test
    void aCancelledJobLeavesAtTheNextStep() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        loop = new EngineLoop(bestOfN, 4, 16, true, (p, slots) -> {
            calls.incrementAndGet();
            Thread.sleep(20);
            return p.step(slots);
        }, recorder);
        CompletableFuture<GenerationResult> f = loop.submit(job("a red circle on a white background", 1, 4, 100, 60_000));
        while (calls.get() < 3) {
            Thread.sleep(5);
        }
        f.cancel(true);
        int atCancel = calls.get();
        awaitNoActiveSlots();
        Thread.sleep(100);
        assertTrue(calls.get() <= atCancel + 2, "the loop stopped calling the UNet for the cancelled job");
        assertEquals(0, loop.queueDepth());
    }

    @Test
    void aFailingUnetCallFailsOnlyTheJobsInThatBatch() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        loop = new EngineLoop(bestOfN, 4, 16, true, (p, slots) -> {
            if (calls.incrementAndGet() == 1) {
                throw new IllegalStateException("device lost");
            }
            return p.step(slots);
        }, recorder);
        CompletableFuture<GenerationResult> first = loop.submit(job("a red circle on a white background", 1, 1, 4, 60_000));
        ExecutionException e = assertThrows(ExecutionException.class, () -> first.get(60, TimeUnit.SECONDS));
        assertInstanceOf(GenerationFailedException.class, e.getCause());
        loop.submit(job("a red circle on a white background", 1, 1, 4, 60_000)).get(60, TimeUnit.SECONDS);
    }

    @Test
    void drainingRefusesNewJobsAndFinishesTheAdmittedOnes() throws Exception {
        loop = new EngineLoop(bestOfN, 4, 16, true, slow(10), recorder);
        CompletableFuture<GenerationResult> a = loop.submit(job("a red circle on a white background", 1, 2, 10, 60_000));
        CompletableFuture<GenerationResult> b = loop.submit(job("a blue circle on a white background", 2, 2, 10, 60_000));
        loop.stopAccepting();
        assertThrows(NotReadyException.class, () -> loop.submit(job("a red circle on a white background", 3, 1, 2, 60_000)));
        assertTrue(loop.awaitIdle(60_000));
        assertTrue(a.isDone() && !a.isCompletedExceptionally());
        assertTrue(b.isDone() && !b.isCompletedExceptionally());
    }

    private void awaitNoActiveSlots() throws InterruptedException {
        long until = System.currentTimeMillis() + 10_000;
        while (loop.activeSlots() > 0 && System.currentTimeMillis() < until) {
            Thread.sleep(10);
        }
        assertEquals(0, loop.activeSlots());
    }
}
