package dev.winnow.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The finisher's lanes on real threads, with stand-in stages: no model runs. */
class FinisherTest {

    static EngineJob job(long seed, JobState... path) {
        GenerationRequest r = new GenerationRequest("a red circle", "", 1, 2, 5.0, seed, 64, 64, "ddim", false, Map.of(),
                System.nanoTime() + 60_000_000_000L);
        EngineJob j = new EngineJob(r, seed, JobEvents.NONE, new Served(null, b -> { }));
        j.prepared = new PreparedJob(r, List.of(), System.nanoTime());
        for (JobState s : List.of(JobState.ENCODING, JobState.DENOISING)) {
            j.moveTo(s);
        }
        for (JobState s : path) {
            j.moveTo(s);
        }
        return j;
    }

    @Test
    void aJobHeldForPruningDoesNotWaitBehindFinalJudgingQueuedBeforeIt() throws Exception {
        List<String> order = Collections.synchronizedList(new ArrayList<>());
        CountDownLatch holding = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        Finisher.Stages stages = new Finisher.Stages((models, jobs) -> {
            long seed = jobs.get(0).request().seed();
            order.add("final " + seed);
            if (seed == 1) {
                holding.countDown();
                try {
                    release.await(10, TimeUnit.SECONDS); // the one thread judges job 1 while 2 and 3 come in
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            return jobs.stream().map(p -> new BestOfN.Finished(null, new NoSafeCandidateException(List.of()))).toList();
        }, (models, prepared, previews) -> {
            order.add("previews " + prepared.request().seed());
            return new double[previews.size()];
        });
        LinkedBlockingQueue<Finisher.Previewed> judged = new LinkedBlockingQueue<>();
        Finisher finisher = new Finisher(new EngineLoop.Finishing(1, 1), stages, new Budgets(), new EngineObserver() { },
                judged::add, ms -> { });
        try {
            EngineJob first = job(1, JobState.WAITING_TO_FINISH);
            finisher.finish(first);
            assertTrue(holding.await(10, TimeUnit.SECONDS));
            EngineJob second = job(2, JobState.WAITING_TO_FINISH);
            finisher.finish(second); // queued first ...
            EngineJob held = job(3, JobState.WAITING_FOR_PREVIEWS);
            finisher.judgePreviews(held, List.of(new float[4])); // ... yet judged after these previews
            release.countDown();
            Finisher.Previewed p = judged.poll(10, TimeUnit.SECONDS);
            assertEquals(held, p.job());
            second.future.handle((r, e) -> e).get(10, TimeUnit.SECONDS);
            assertEquals(List.of("final 1", "previews 3", "final 2"), order);
            assertEquals(JobState.ANSWERED, second.state(), "a judged refusal is an answer");
        } finally {
            assertTrue(finisher.stop(5_000));
        }
    }

    @Test
    void jobsStillWaitingWhenItStopsAreAnswered() throws Exception {
        Budgets budgets = new Budgets();
        CountDownLatch holding = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        Finisher finisher = new Finisher(new EngineLoop.Finishing(1, 1), new Finisher.Stages((models, jobs) -> {
            holding.countDown();
            try {
                release.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return jobs.stream().map(p -> new BestOfN.Finished(null, new NoSafeCandidateException(List.of()))).toList();
        }, (models, prepared, previews) -> new double[0]), budgets, new EngineObserver() { }, p -> { }, ms -> { });
        EngineJob busy = job(1, JobState.WAITING_TO_FINISH);
        EngineJob waiting = job(2, JobState.WAITING_TO_FINISH);
        finisher.finish(busy);
        assertTrue(holding.await(10, TimeUnit.SECONDS));
        finisher.finish(waiting);
        budgets.cut("stopping");
        release.countDown();
        assertTrue(finisher.stop(5_000));
        assertTrue(waiting.isAnswered());
        assertEquals(JobState.FAILED, waiting.state());
        assertTrue(busy.isAnswered());
    }
}
