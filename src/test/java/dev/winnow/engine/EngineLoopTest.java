package dev.winnow.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.winnow.diffusion.DenoisingSlot;
import dev.winnow.diffusion.DiffusionPipeline;
import dev.winnow.judge.RankingPolicy;
import dev.winnow.judge.SafetyJudge;
import dev.winnow.judge.ScoreJudge;
import dev.winnow.onnx.DeviceChoice;
import dev.winnow.onnx.OnnxSessions;
import dev.winnow.onnx.SlowModel;
import dev.winnow.testing.Determinism;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
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
    /** A model call that runs for tens of seconds unless its budget stops it. */
    static SlowModel stuck;
    /** Set when a loop failed to stop: its thread may still run the models, so they stay open. */
    static boolean modelsInUse;

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
        pipeline = DiffusionPipeline.load(Path.of("models/shapes-scenes"), sessions);
        nsfw = SafetyJudge.load(Path.of("models/judges/nsfw-mobilenet-v2"), sessions, null);
        aesthetic = ScoreJudge.load(Path.of("models/judges/aesthetic-scenes"), sessions);
        bestOfN = new BestOfN(pipeline, nsfw, List.of(aesthetic), new RankingPolicy(Map.of("aesthetic", 1.0)));
        try {
            stuck = SlowModel.open(sessions, 1024, 2000);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @AfterAll
    static void close() {
        if (modelsInUse) {
            return; // closing a session under a running call would crash the test JVM
        }
        pipeline.close();
        nsfw.close();
        aesthetic.close();
        stuck.close();
    }

    @AfterEach
    void stop() {
        if (loop != null && !loop.stop()) {
            modelsInUse = true;
        }
    }

    /**
     * Waits for a job whose image these tests do not look at: an image, or the safety judge's
     * refusal of a two-step sample (a verdict, not a failure of the loop), both count as answered.
     */
    static void awaitAnswer(CompletableFuture<GenerationResult> f) throws Exception {
        try {
            f.get(30, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            assertInstanceOf(NoSafeCandidateException.class, e.getCause());
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
        GenerationResult aloneA = EngineLoop.runAlone(bestOfN, job("a red circle on a white background", 10, 2, 10, 60_000), 16);
        GenerationResult aloneB = EngineLoop.runAlone(bestOfN, job("a blue square on a gray background", 20, 2, 10, 60_000), 16);
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

    /** The seeds of each UNet call's slots, to see which jobs shared a call. */
    static Set<Long> seeds(List<DenoisingSlot> slots) {
        Set<Long> out = new HashSet<>();
        slots.forEach(s -> out.add(s.seed()));
        return out;
    }

    @Test
    void aFailingCallInASharedBatchFailsOnlyTheJobThatCausedItAndTheOthersGetTheirImages() throws Exception {
        List<Set<Long>> calls = Collections.synchronizedList(new ArrayList<>());
        CountDownLatch allAdmitted = new CountDownLatch(1);
        loop = new EngineLoop(bestOfN, 8, 16, true, (p, slots) -> {
            allAdmitted.await(10, TimeUnit.SECONDS); // so that the three jobs share their first call
            Set<Long> seeds = seeds(slots);
            calls.add(seeds);
            if (seeds.contains(666L)) {
                throw new IllegalStateException("the UNet cannot take this job's rows");
            }
            return p.step(slots);
        }, recorder);
        CompletableFuture<GenerationResult> a = loop.submit(job("a red circle on a white background", 10, 2, 6, 60_000));
        CompletableFuture<GenerationResult> bad = loop.submit(job("a green square on a black background", 666, 1, 6, 60_000));
        CompletableFuture<GenerationResult> c = loop.submit(job("a blue square on a gray background", 30, 2, 6, 60_000));
        allAdmitted.countDown();
        ExecutionException e = assertThrows(ExecutionException.class, () -> bad.get(60, TimeUnit.SECONDS));
        assertInstanceOf(GenerationFailedException.class, e.getCause());
        GenerationResult ra = a.get(60, TimeUnit.SECONDS);
        GenerationResult rc = c.get(60, TimeUnit.SECONDS);
        assertTrue(calls.stream().anyMatch(s -> s.contains(666L) && s.size() > 1), "the offender shared a call: " + calls);
        // The survivors were retried without the offender and took each step exactly once.
        Determinism.assertSameImage(device, EngineLoop.runAlone(bestOfN, job("a red circle on a white background", 10, 2, 6,
                60_000), 16).png(), ra.png(), "survivor A alone vs after the retry");
        Determinism.assertSameImage(device, EngineLoop.runAlone(bestOfN, job("a blue square on a gray background", 30, 2, 6,
                60_000), 16).png(), rc.png(), "survivor C alone vs after the retry");
        assertEquals(0, loop.queueDepth());
    }

    @Test
    void anOutOfMemoryErrorInASharedCallIsIsolatedLikeAnyOtherFailure() throws Exception {
        AtomicInteger tooLarge = new AtomicInteger();
        CountDownLatch bothAdmitted = new CountDownLatch(1);
        loop = new EngineLoop(bestOfN, 8, 16, true, (p, slots) -> {
            bothAdmitted.await(10, TimeUnit.SECONDS);
            if (slots.size() > 2) {
                tooLarge.incrementAndGet();
                throw new OutOfMemoryError("simulated: this batch is too large");
            }
            return p.step(slots);
        }, recorder);
        CompletableFuture<GenerationResult> a = loop.submit(job("a red circle on a white background", 1, 2, 4, 60_000));
        CompletableFuture<GenerationResult> b = loop.submit(job("a blue circle on a white background", 2, 2, 4, 60_000));
        bothAdmitted.countDown();
        a.get(60, TimeUnit.SECONDS);
        b.get(60, TimeUnit.SECONDS);
        assertTrue(tooLarge.get() > 0, "the jobs shared a call that ran out of memory");
    }

    @Test
    void anErrorWhileFinishingAJobStillAnswersItAndFreesItsPlaceInTheQueue() throws Exception {
        loop = new EngineLoop(bestOfN, prepared -> {
            throw new OutOfMemoryError("simulated: decoding needs more heap than there is");
        }, 1, 16, true, UnetStepper.DIRECT, recorder);
        CompletableFuture<GenerationResult> f = loop.submit(job("a red circle on a white background", 1, 1, 2, 60_000));
        ExecutionException e = assertThrows(ExecutionException.class, () -> f.get(30, TimeUnit.SECONDS));
        assertInstanceOf(GenerationFailedException.class, e.getCause());
        assertTrue(e.getCause().getMessage().contains("OutOfMemoryError"), e.getCause().getMessage());
        assertEquals(0, loop.queueDepth());
        // The one place in the queue is free again.
        CompletableFuture<GenerationResult> next = loop.submit(job("a red circle on a white background", 2, 1, 2, 60_000));
        assertThrows(ExecutionException.class, () -> next.get(30, TimeUnit.SECONDS));
    }

    @Test
    void stoppingWithJobsQueuedDenoisingAndBeingJudgedAnswersEachAndLeavesNoModelCallRunning() throws Exception {
        AtomicInteger inCall = new AtomicInteger();
        CountDownLatch judging = new CountDownLatch(1);
        loop = new EngineLoop(bestOfN, prepared -> {
            judging.countDown();
            return bestOfN.finish(prepared);
        }, 8, 4, true, (p, slots) -> {
            inCall.incrementAndGet();
            try {
                Thread.sleep(50);
                return p.step(slots);
            } finally {
                inCall.decrementAndGet();
            }
        }, recorder);
        List<CompletableFuture<GenerationResult>> jobs = new ArrayList<>();
        jobs.add(loop.submit(job("a red circle on a white background", 1, 1, 1, 60_000)));
        for (int i = 0; i < 5; i++) {
            jobs.add(loop.submit(job("a blue circle on a white background", 10 + i, 2, 40, 60_000)));
        }
        assertTrue(judging.await(30, TimeUnit.SECONDS));
        assertTrue(loop.stop(), "the loop and the finisher exited");
        assertEquals(0, inCall.get(), "no UNet call is running once stop() returns: the models may be closed");
        assertFalse(loop.isRunning());
        for (CompletableFuture<GenerationResult> f : jobs) {
            assertTrue(f.isDone(), "every admitted job is answered");
            if (f.isCompletedExceptionally()) {
                ExecutionException e = assertThrows(ExecutionException.class, f::get);
                assertInstanceOf(NotReadyException.class, e.getCause());
            }
        }
        assertTrue(jobs.stream().skip(1).allMatch(CompletableFuture::isCompletedExceptionally));
        assertThrows(NotReadyException.class, () -> loop.submit(job("a red circle on a white background", 3, 1, 2, 60_000)));
    }

    @Test
    void whenTheDrainTimeRunsOutTheUnfinishedJobsGet503AndTheirModelCallIsStopped() throws Exception {
        CountDownLatch inCall = new CountDownLatch(1);
        loop = new EngineLoop(bestOfN, 4, 16, true, (p, slots) -> {
            inCall.countDown();
            stuck.run(); // a call that would run for tens of seconds
            return p.step(slots);
        }, recorder);
        CompletableFuture<GenerationResult> f = loop.submit(job("a red circle on a white background", 1, 2, 10, 60_000));
        assertTrue(inCall.await(30, TimeUnit.SECONDS));
        long start = System.nanoTime();
        loop.drain(start + TimeUnit.MILLISECONDS.toNanos(300));
        ExecutionException e = assertThrows(ExecutionException.class, () -> f.get(10, TimeUnit.SECONDS));
        assertInstanceOf(NotReadyException.class, e.getCause());
        assertTrue(loop.stop(), "the stuck call was terminated, so the loop could exit");
        assertTrue(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start) < 5000);
    }

    @Test
    void aJobStuckInAModelCallIsAnsweredAtItsDeadlineAndTheCallIsStopped() throws Exception {
        AtomicBoolean stuckOnce = new AtomicBoolean(true);
        loop = new EngineLoop(bestOfN, 4, 16, true, (p, slots) -> {
            if (stuckOnce.getAndSet(false)) {
                stuck.run(); // would run for tens of seconds
            }
            return p.step(slots);
        }, recorder);
        long start = System.nanoTime();
        CompletableFuture<GenerationResult> late = loop.submit(job("a red circle on a white background", 1, 2, 10, 500));
        ExecutionException e = assertThrows(ExecutionException.class, () -> late.get(10, TimeUnit.SECONDS));
        assertInstanceOf(DeadlineExceededException.class, e.getCause());
        // The loop is free again: the stuck call did not run to its end.
        loop.submit(job("a red circle on a white background", 2, 1, 4, 60_000)).get(10, TimeUnit.SECONDS);
        assertTrue(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start) < 8000);
    }

    @Test
    void aJobWaitingToBeJudgedIsAnsweredAtItsDeadline() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        loop = new EngineLoop(bestOfN, prepared -> {
            if (prepared.request().seed() == 1) {
                try {
                    release.await(30, TimeUnit.SECONDS); // the first job holds the finisher
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            return bestOfN.finish(prepared);
        }, 4, 16, true, UnetStepper.DIRECT, recorder);
        CompletableFuture<GenerationResult> first = loop.submit(job("a red circle on a white background", 1, 1, 2, 60_000));
        CompletableFuture<GenerationResult> waiting = loop.submit(job("a blue circle on a white background", 2, 1, 2, 1500));
        try {
            ExecutionException e = assertThrows(ExecutionException.class, () -> waiting.get(10, TimeUnit.SECONDS));
            assertInstanceOf(DeadlineExceededException.class, e.getCause());
            assertFalse(first.isDone());
        } finally {
            release.countDown();
        }
        awaitAnswer(first);
    }

    @Test
    void aJobCancelledWhileBeingJudgedFreesItsFinishingThreadAtOnce() throws Exception {
        CountDownLatch judging = new CountDownLatch(1);
        loop = new EngineLoop(bestOfN, prepared -> {
            if (prepared.request().seed() == 1) {
                judging.countDown();
                runStuck(); // a judge call that would run for tens of seconds, under the job's budget
            }
            return bestOfN.finish(prepared);
        }, 4, 16, true, UnetStepper.DIRECT, recorder);
        CompletableFuture<GenerationResult> gone = loop.submit(job("a red circle on a white background", 1, 1, 2, 60_000));
        assertTrue(judging.await(30, TimeUnit.SECONDS));
        long start = System.nanoTime();
        gone.cancel(true); // the client disconnected
        // The one finishing thread is free at once: the next job is judged now, not after the stuck call
        awaitAnswer(loop.submit(job("a blue circle on a white background", 2, 1, 2, 60_000)));
        assertTrue(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start) < 5_000,
                "took " + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start) + " ms");
    }

    @Test
    void aJobCancelledWhileItsPreviewsAreJudgedFreesItsFinishingThreadAtOnce() throws Exception {
        CountDownLatch previewing = new CountDownLatch(1);
        loop = new EngineLoop(bestOfN, (models, prepared, previews) -> {
            previewing.countDown();
            runStuck(); // a preview judge call that would run for tens of seconds
            return new double[previews.size()];
        }, 4, UnetStepper.DIRECT, recorder);
        CompletableFuture<GenerationResult> gone = loop.submit(
                job("a red circle on a white background", 1, 2, 4, 60_000).withPrune(new Prune(0.5, 1)));
        assertTrue(previewing.await(30, TimeUnit.SECONDS));
        long start = System.nanoTime();
        gone.cancel(true);
        awaitAnswer(loop.submit(job("a blue circle on a white background", 2, 1, 2, 60_000)));
        assertTrue(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start) < 5_000,
                "took " + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start) + " ms");
        assertTrue(loop.busyNanos() < TimeUnit.SECONDS.toNanos(2), "no thread is still inside the cancelled job's work");
    }

    @Test
    void aJobCancelledInTheMiddleOfItsUnetCallStopsTheCall() throws Exception {
        CountDownLatch inCall = new CountDownLatch(1);
        loop = new EngineLoop(bestOfN, 4, 16, true, (p, slots) -> {
            if (slots.get(0).seed() == 1) {
                inCall.countDown();
                stuck.run(); // a UNet call that would run for tens of seconds
            }
            return p.step(slots);
        }, recorder);
        CompletableFuture<GenerationResult> gone = loop.submit(job("a red circle on a white background", 1, 1, 4, 60_000));
        assertTrue(inCall.await(30, TimeUnit.SECONDS));
        long start = System.nanoTime();
        gone.cancel(true);
        awaitAnswer(loop.submit(job("a blue circle on a white background", 2, 1, 2, 60_000)));
        assertTrue(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start) < 5_000,
                "took " + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start) + " ms");
    }

    /** The slow model's call, as a stage that may not throw checked exceptions runs it. */
    static void runStuck() {
        try {
            stuck.run();
        } catch (ai.onnxruntime.OrtException e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void aLoopWedgedInACallThatIgnoresItsDeadlineShowsAsBusy() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        loop = new EngineLoop(bestOfN, 4, 16, true, (p, slots) -> {
            release.await(30, TimeUnit.SECONDS); // a call that no terminate flag reaches
            return p.step(slots);
        }, recorder);
        assertTrue(loop.busyNanos() < TimeUnit.SECONDS.toNanos(1), "an idle loop beats");
        CompletableFuture<GenerationResult> f = loop.submit(job("a red circle on a white background", 1, 1, 2, 60_000));
        Thread.sleep(1500);
        assertTrue(loop.busyNanos() > TimeUnit.MILLISECONDS.toNanos(1200), "busy " + loop.busyNanos() / 1_000_000 + " ms");
        release.countDown();
        awaitAnswer(f);
        Thread.sleep(300);
        assertTrue(loop.busyNanos() < TimeUnit.SECONDS.toNanos(1), "beating again");
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
