package dev.winnow.engine;

import dev.winnow.judge.Verdict;
import dev.winnow.onnx.RunBudget;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BiFunction;
import java.util.function.Consumer;
import java.util.function.LongConsumer;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Judges on a small pool of finishing threads, beside the loop's UNet calls: the x̂₀ previews of
 * jobs held at their prune point (their scores go back to the loop, which prunes), and denoised
 * jobs (decoded, judged and ranked by their models' {@link BestOfN}, then answered). Previews go
 * ahead of final judging ({@link FinishingLanes}); jobs that finish together are judged together.
 * Every call runs under a budget that stops when its jobs are all answered or the engine is cut,
 * and every job handed here is answered.
 */
final class Finisher {

    private static final Logger LOG = Logger.getLogger(Finisher.class.getName());

    /**
     * How a job's x̂₀ previews are scored: the job's own models' {@link BestOfN#scorePreviews}, or
     * a slower or failing stand-in in tests.
     */
    @FunctionalInterface
    interface PreviewScoring {
        double[] score(BestOfN models, PreparedJob job, List<float[]> previews) throws Exception;
    }

    /** What the finishing threads run, given the models a job runs on: judge and rank denoised jobs; score previews. */
    record Stages(BiFunction<BestOfN, List<PreparedJob>, List<BestOfN.Finished>> finishing, PreviewScoring previews) {
        static Stages standard() {
            return new Stages(BestOfN::finishAll, BestOfN::scorePreviews);
        }
    }

    /** A job's x̂₀ previews were judged: their scores, or why there are none, and how long it took. */
    record Previewed(EngineJob job, double[] scores, Throwable failure, long nanos) {
    }

    /** What the preview lane holds: previews to prune by, or a live preview for a watcher. */
    private sealed interface PreviewWork permits PruneWork, LiveWork {
        EngineJob job();
    }

    /** One job's previews at its prune point, copied on the loop thread. */
    private record PruneWork(EngineJob job, List<float[]> previews) implements PreviewWork {
    }

    /**
     * One live preview of a job, copied on the loop thread; {@code done} completes once it is told
     * or withheld, {@code previous} when the job's earlier previews are.
     */
    private record LiveWork(EngineJob job, PreparedJob.LivePreviewWork work, CompletableFuture<Void> previous,
                            CompletableFuture<Void> done) implements PreviewWork {
    }

    private final Stages stages;
    private final Budgets budgets;
    private final EngineObserver observer;
    /** Where judged previews go: the loop's mailbox. */
    private final Consumer<Previewed> previewed;
    /** Told how long each finished batch's oldest job took from admission to its answer. */
    private final LongConsumer jobTook;
    private final FinishingLanes<PreviewWork, EngineJob> lanes;
    private final ExecutorService threads;
    /** When each finishing thread started its current work (absent while it waits). */
    private final Map<Thread, Long> workingSince = new ConcurrentHashMap<>();
    private volatile boolean stopped;

    Finisher(EngineLoop.Finishing pool, Stages stages, Budgets budgets, EngineObserver observer, Consumer<Previewed> previewed,
             LongConsumer jobTook) {
        this.stages = stages;
        this.budgets = budgets;
        this.observer = observer;
        this.previewed = previewed;
        this.jobTook = jobTook;
        this.lanes = new FinishingLanes<>(pool.maxImages());
        AtomicInteger count = new AtomicInteger();
        this.threads = Executors.newFixedThreadPool(pool.threads(), r -> {
            Thread t = new Thread(r, "winnow-finisher-" + count.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
    }

    /** Judges a held job's previews, ahead of any final judging waiting; the scores go to {@code previewed}. */
    void judgePreviews(EngineJob job, List<float[]> previews) {
        PreviewWork work = new PruneWork(job, previews);
        lanes.addPreview(work);
        wake(work, job);
    }

    /**
     * Judges a live preview of a job in the preview lane (beside its denoising, which does not
     * wait) and tells the job's watcher: the leading safe candidate's preview, or that it is
     * withheld. Loop thread: chains it onto the job's {@link EngineJob#livePreviews}.
     */
    void livePreview(EngineJob job, PreparedJob.LivePreviewWork work) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        CompletableFuture<Void> previous = job.livePreviews;
        job.livePreviews = CompletableFuture.allOf(previous, done);
        LiveWork entry = new LiveWork(job, work, previous, done);
        lanes.addPreview(entry);
        try {
            threads.execute(this::takeNext);
        } catch (RejectedExecutionException e) {
            lanes.remove(entry);
            done.complete(null); // the engine is stopping: no preview, and the job is answered by the stop
        }
    }

    /** Decodes, judges and ranks a denoised job ({@link JobState#WAITING_TO_FINISH}) and answers it. */
    void finish(EngineJob job) {
        lanes.addFinal(job, job.prepared.liveSlots().size());
        wake(job, job);
    }

    /** Starts a thread's turn for a new entry; once the pool is shut down, takes it back and answers its job. */
    private void wake(Object entry, EngineJob job) {
        try {
            threads.execute(this::takeNext);
        } catch (RejectedExecutionException e) {
            lanes.remove(entry);
            job.future.completeExceptionally(new NotReadyException(budgets.cutReason()));
        }
    }

    /** On a finishing thread: the next work by the lanes' rule (other threads may have taken it already). */
    private void takeNext() {
        FinishingLanes.Taken<PreviewWork, EngineJob> taken = lanes.next(j -> !j.isAnswered() && !budgets.isCut());
        for (EngineJob j : taken.dropped()) {
            j.future.completeExceptionally(new NotReadyException(budgets.cutReason())); // no-op when already answered
        }
        if (taken.preview() instanceof PruneWork p) {
            judge(p);
        } else if (taken.preview() instanceof LiveWork l) {
            preview(l);
        } else if (!taken.finals().isEmpty()) {
            List<EngineJob> batch = taken.finals().stream().filter(j -> j.moveTo(JobState.FINISHING)).toList();
            if (!batch.isEmpty()) {
                finish(batch);
            }
        }
    }

    /**
     * Judges one live preview under the job's deadline and tells its watcher; fails closed (an
     * error withholds the preview). Its cost is the job's {@code stream_preview} time.
     */
    private void preview(LiveWork live) {
        EngineJob j = live.job();
        Timed<LivePreview> judged = underDeadline(j, job -> job.served.bestOfN.livePreview(job.prepared, live.work()));
        LivePreview preview = judged.value();
        if (judged.failure() != null) {
            LOG.log(Level.FINE, "a live preview failed; it is withheld", judged.failure());
            preview = LivePreview.withheld(live.work().step(), live.work().steps(), "judging the previews failed");
        }
        j.prepared.livePreviewTook(judged.nanos());
        observer.stage("stream_preview", judged.nanos());
        try {
            // Two finishing threads may judge two of a job's previews at once: the later waits to
            // be told until the earlier is (it is running already), so the watcher hears them in order.
            awaitQuietly(live.previous(), j);
            if (preview != null && !j.isAnswered()) {
                LivePreview told = preview;
                j.tell(e -> e.preview(told));
            }
        } finally {
            live.done().complete(null);
        }
    }

    /** Decodes and scores one job's previews, under the job's deadline, and tells the loop. */
    private void judge(PruneWork work) {
        EngineJob j = work.job();
        Timed<double[]> scored = underDeadline(j,
                job -> stages.previews().score(job.served.bestOfN, job.prepared, work.previews()));
        previewed.accept(new Previewed(j, scored.value(), scored.failure(), scored.nanos()));
    }

    /** One job's preview work, as {@link #underDeadline} runs it. */
    @FunctionalInterface
    private interface PreviewCall<T> {
        T run(EngineJob job) throws Exception;
    }

    /** What it gave: the value (null when the job was answered first, or on failure), the failure, the time. */
    private record Timed<T>(T value, Throwable failure, long nanos) {}

    /**
     * Runs one job's preview work on this finishing thread, under the job's deadline and inside a
     * call on its model set (so a live swap waits for it), watched by the stall detector; skipped
     * when the job is already answered; never throws (the failure is returned: both callers fail
     * closed in their own way).
     */
    private <T> Timed<T> underDeadline(EngineJob j, PreviewCall<T> work) {
        Thread me = Thread.currentThread();
        long t0 = System.nanoTime();
        workingSince.put(me, t0);
        RunBudget budget = budgets.openFor(List.of(j));
        T value = null;
        Throwable failure = null;
        try {
            if (!j.isAnswered()) {
                try (Served.Call call = j.served.call()) {
                    value = work.run(j);
                }
            }
        } catch (Throwable e) {
            failure = e;
        } finally {
            budgets.close(budget);
            workingSince.remove(me);
        }
        return new Timed<>(value, failure, System.nanoTime() - t0);
    }

    /** Decodes, judges and ranks denoised jobs; always answers every one of them. */
    private void finish(List<EngineJob> batch) {
        for (EngineJob j : batch) {
            awaitLivePreviews(j);
        }
        Thread me = Thread.currentThread();
        workingSince.put(me, System.nanoTime());
        RunBudget budget = budgets.openFor(batch);
        List<BestOfN.Finished> outcomes = null;
        Throwable failure = null;
        try {
            outcomes = finishBySet(batch);
            jobTook.accept(Math.max(1, (System.nanoTime() - batch.get(0).admittedNanos) / 1_000_000));
        } catch (Throwable e) { // an Error too (OutOfMemoryError): the jobs are answered and their permits freed
            failure = e;
        } finally {
            budgets.close(budget);
            workingSince.remove(me);
        }
        RunBudget.Reason ended = budget.terminated();
        if (ended == null && failure == null && observer.wantsRankings()) {
            reportRankings(batch, outcomes);
        }
        for (int i = 0; i < batch.size(); i++) {
            EngineJob j = batch.get(i);
            if (ended != null) {
                // A judge fails closed on a terminated run; the answer is the reason it was terminated.
                j.future.completeExceptionally(budgets.answerFor(ended));
            } else if (failure != null) {
                j.future.completeExceptionally(budgets.answerFor(failure, "decoding and judging"));
            } else if (outcomes.get(i).failure() != null) {
                RuntimeException f = outcomes.get(i).failure();
                if (f instanceof NoSafeCandidateException none) {
                    judged(j, none.candidates());
                }
                j.future.completeExceptionally(budgets.answerFor(f, "decoding and judging"));
            } else {
                judged(j, outcomes.get(i).result().candidates());
                j.future.complete(outcomes.get(i).result());
            }
        }
    }

    /**
     * Waits (at most until the job's deadline) for its live previews: they were queued ahead of
     * it in the preview lane, so they are being judged already, and the watcher hears them first.
     */
    private static void awaitLivePreviews(EngineJob j) {
        awaitQuietly(j.livePreviews, j);
    }

    /** Waits for {@code previews} at most until the job's deadline. */
    private static void awaitQuietly(CompletableFuture<Void> previews, EngineJob j) {
        long left = j.request.deadlineNanos() - System.nanoTime();
        try {
            previews.get(Math.max(0, left), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            // past the deadline the job is answered 504 anyway; judging it decides nothing more here
        }
    }

    /** Finishes the batch's jobs, those on the same models together, each set's calls counted on it; outcomes in batch order. */
    private List<BestOfN.Finished> finishBySet(List<EngineJob> batch) {
        Map<Served, List<Integer>> bySet = new LinkedHashMap<>();
        for (int i = 0; i < batch.size(); i++) {
            bySet.computeIfAbsent(batch.get(i).served, k -> new ArrayList<>()).add(i);
        }
        BestOfN.Finished[] outcomes = new BestOfN.Finished[batch.size()];
        for (Map.Entry<Served, List<Integer>> e : bySet.entrySet()) {
            List<PreparedJob> jobs = e.getValue().stream().map(i -> batch.get(i).prepared).toList();
            List<BestOfN.Finished> done;
            try (Served.Call call = e.getKey().call()) {
                done = stages.finishing().apply(e.getKey().bestOfN, jobs);
            }
            for (int k = 0; k < done.size(); k++) {
                outcomes[e.getValue().get(k)] = done.get(k);
            }
        }
        return Arrays.asList(outcomes);
    }

    /** The judged jobs' rankings, for the observers that keep preference data. */
    private void reportRankings(List<EngineJob> batch, List<BestOfN.Finished> outcomes) {
        for (int i = 0; i < batch.size(); i++) {
            BestOfN.Finished f = outcomes.get(i);
            List<CandidateResult> none = f.failure() instanceof NoSafeCandidateException n ? n.candidates() : null;
            if (f.result() != null || none != null) {
                try {
                    observer.ranked(RankedGeneration.of(batch.get(i).served.bestOfN, batch.get(i).prepared, f.result(), none));
                } catch (RuntimeException e) {
                    LOG.log(Level.WARNING, "reporting a ranking failed (the job's answer is unaffected)", e);
                }
            }
        }
    }

    /** Tells a watched job the verdicts of its finished (not pruned: those were told when pruned) candidates. */
    private static void judged(EngineJob j, List<CandidateResult> candidates) {
        for (CandidateResult c : candidates) {
            if (c.verdict() != Verdict.PRUNED) {
                j.tell(e -> e.candidate(c));
            }
        }
    }

    /** How long the longest-working finishing thread has been at its current work (0 when none works, or stopped). */
    long busyNanos(long nowNanos) {
        if (stopped) {
            return 0;
        }
        long busy = 0;
        for (long since : workingSince.values()) {
            busy = Math.max(busy, nowNanos - since);
        }
        return busy;
    }

    /**
     * Answers every job still waiting with 503, lets the threads finish (their calls were
     * stopped by the cut), and waits for them up to {@code waitMillis}.
     *
     * @return whether every finishing thread has exited: only then may the models be closed
     */
    boolean stop(long waitMillis) {
        for (Object waiting : lanes.clear()) {
            if (waiting instanceof LiveWork l) {
                l.done().complete(null);
            }
            EngineJob j = waiting instanceof PreviewWork w ? w.job() : (EngineJob) waiting;
            j.future.completeExceptionally(new NotReadyException(budgets.cutReason()));
        }
        threads.shutdown();
        try {
            stopped = threads.awaitTermination(waitMillis, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (!stopped) {
            LOG.severe("the finishing threads did not leave their model calls within " + waitMillis + " ms");
        }
        return stopped;
    }

    boolean isStopped() {
        return stopped;
    }
}
