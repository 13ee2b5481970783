package dev.winnow.engine;

import dev.winnow.diffusion.DenoisingSlot;
import dev.winnow.diffusion.StepCalls;
import dev.winnow.diffusion.UnetCallPlan;
import dev.winnow.onnx.RunBudget;
import dev.winnow.onnx.RunTerminatedException;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BiFunction;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.eclipse.microprofile.faulttolerance.exceptions.CircuitBreakerOpenException;

/**
 * Step-level continuous batching. One thread owns the device's denoising: each iteration it
 * admits new jobs (their prompts encoded once), drops cancelled and expired ones, then
 * takes up to {@code maxBatchRows} rows of active slots of <em>any</em> jobs with the same
 * latent shape and steps them: one UNet call when the graph takes a timestep per row (slots at
 * different steps share it), one call per distinct timestep when it takes a single one
 * ({@link UnetCallPlan}); each slot's own scheduler takes its step. Finished jobs move to a
 * small finishing pool for decoding and judging, which overlaps the next UNet calls; jobs that
 * finish together are decoded and judged together, up to a bound in images.
 *
 * <p>Oldest jobs come first, so a job's latency is bounded by the jobs admitted before it.
 * A slot's image depends only on its seed and settings, never on its batch-mates.
 *
 * <p>Every admitted job is answered: with its result, or at its deadline wherever it is
 * (waiting, denoising, waiting to be judged or being judged: 504), or when the drain's time
 * is up or the engine stops (503). Model calls run under a {@link RunBudget}, so a call stuck
 * past its jobs' deadline, or running when the engine stops, is terminated. A shared UNet call
 * that fails is retried in halves, job by job, so only the job that caused it fails.
 *
 * <p>Threads: the loop thread owns {@code active} and the slots; it also owns the finisher
 * and shuts it down before it exits. Other threads talk to the loop through its message
 * queue ({@link #submit}, {@link #close}) and may only complete jobs' futures, which every
 * stage checks before it spends work on a job.
 */
public final class EngineLoop implements AutoCloseable {

    /** How long {@link #close()} waits for the loop and the finisher to leave their model calls. */
    public static final long STOP_WAIT_MILLIS = 10_000;

    private static final Logger LOG = Logger.getLogger(EngineLoop.class.getName());

    /** What other threads tell the loop. */
    private sealed interface Message permits Admit, Previewed, Stop {
    }

    /** A job's x̂₀ previews were judged on a finishing thread: their scores, or why there are none. */
    private record Previewed(EngineJob job, double[] scores, Throwable failure, long nanos) implements Message {
    }

    private record Admit(EngineJob job) implements Message {
    }

    private record Stop() implements Message {
    }

    /**
     * How denoised jobs are finished: {@code threads} decode and judge at once, each taking the
     * jobs waiting when it starts, up to {@code maxImages} candidates (always at least one job).
     */
    public record Finishing(int threads, int maxImages) {
        public Finishing {
            if (threads < 1 || maxImages < 1) {
                throw new IllegalArgumentException("finishing needs at least one thread and one image, got "
                        + threads + " and " + maxImages);
            }
        }

        /** {@code winnow.engine.finishing-threads} and {@code winnow.engine.judge-batch-images} by default. */
        public static Finishing defaults() {
            return new Finishing(2, 16);
        }
    }

    /**
     * How a job's x̂₀ previews are scored: the job's own models' {@link BestOfN#scorePreviews}, or
     * a slower or failing stand-in in tests.
     */
    @FunctionalInterface
    interface PreviewScoring {
        double[] score(BestOfN models, PreparedJob job, List<float[]> previews) throws Exception;
    }

    /** What the finishing threads run, given the models a job runs on: decode, judge and rank denoised jobs; score previews. */
    private record Stages(BiFunction<BestOfN, List<PreparedJob>, List<BestOfN.Finished>> finishing, PreviewScoring previews) {
    }

    /** The models new jobs are admitted on (a live swap replaces it); guarded by admissionLock for writes. */
    private volatile Served current;
    /** Told when a replaced set has answered its last job and returned from its last call. */
    private volatile Consumer<BestOfN> released = b -> {
    };
    private final BiFunction<BestOfN, List<PreparedJob>, List<BestOfN.Finished>> finishing;
    private final PreviewScoring previewScoring;
    /** Loop thread only: the set whose slots the batch being stepped holds. */
    private Served batchServed;
    private final int finishingBatchImages;
    private final int capacity;
    private final int maxBatchRows;
    private final boolean acrossJobs;
    private final UnetStepper stepper;
    private final EngineObserver observer;
    private final Semaphore admission;
    private final Object admissionLock = new Object();
    private final LinkedBlockingQueue<Message> messages = new LinkedBlockingQueue<>();
    /** Loop thread only. */
    private final List<EngineJob> active = new ArrayList<>();
    /** Every admitted job not yet answered; any thread may complete their futures. */
    private final Set<EngineJob> unanswered = ConcurrentHashMap.newKeySet();
    private final ExecutorService finisher;
    /** Denoised jobs waiting for a finishing thread. */
    private final ConcurrentLinkedQueue<EngineJob> toFinish = new ConcurrentLinkedQueue<>();
    private final ScheduledThreadPoolExecutor timers;
    private final Thread loop;
    private final AtomicInteger admitted = new AtomicInteger();
    private final AtomicInteger activeSlots = new AtomicInteger();
    private final AtomicLong sequence = new AtomicLong();
    private volatile boolean accepting = true;
    /** Set when the drain's time is up or the engine stops: no model call starts any more. */
    private volatile boolean cut;
    private volatile String cutReason = "the engine stopped before the job finished";
    private volatile RunBudget loopBudget;
    /** The budgets the finishing threads' current work runs under. */
    private final Set<RunBudget> finisherBudgets = ConcurrentHashMap.newKeySet();
    private volatile long loopBeatNanos = System.nanoTime();
    /** When each finishing thread started its current work (absent while it waits). */
    private final Map<Thread, Long> finishingSince = new ConcurrentHashMap<>();
    private volatile boolean finisherStopped;
    private volatile long recentJobMillis = 1000;
    /** Loop thread only: whether the last iteration found no slot to step (every active job waits). */
    private boolean nothingToStep;

    /**
     * @param acrossJobs step-level batching across jobs (true), or one job's slots per call (false)
     */
    public EngineLoop(BestOfN bestOfN, int capacity, int maxBatchRows, boolean acrossJobs, UnetStepper stepper,
                      EngineObserver observer) {
        this(bestOfN, capacity, maxBatchRows, acrossJobs, Finishing.defaults(), stepper, observer);
    }

    /** @param finishing the finishing pool's threads and the most candidates one of them decodes and judges at once */
    public EngineLoop(BestOfN bestOfN, int capacity, int maxBatchRows, boolean acrossJobs, Finishing finishing,
                      UnetStepper stepper, EngineObserver observer) {
        this(bestOfN, new Stages(BestOfN::finishAll, BestOfN::scorePreviews), finishing, capacity, maxBatchRows,
                acrossJobs, stepper, observer);
    }

    /**
     * With another way to finish (decode, judge, rank) a denoised job, one job at a time on one
     * thread: tests use it to fail or hold that stage.
     */
    EngineLoop(BestOfN bestOfN, Function<PreparedJob, GenerationResult> finishing, int capacity, int maxBatchRows,
               boolean acrossJobs, UnetStepper stepper, EngineObserver observer) {
        this(bestOfN, new Stages((models, jobs) -> jobs.stream().map(p -> finishOne(finishing, p)).toList(),
                BestOfN::scorePreviews), new Finishing(1, 1), capacity, maxBatchRows, acrossJobs, stepper, observer);
    }

    /**
     * With another way to score x̂₀ previews, on one finishing thread, batching across jobs up to
     * 16 rows: tests use it to hold that stage.
     */
    EngineLoop(BestOfN bestOfN, PreviewScoring previews, int capacity, UnetStepper stepper, EngineObserver observer) {
        this(bestOfN, new Stages(BestOfN::finishAll, previews), new Finishing(1, 1), capacity, 16, true, stepper,
                observer);
    }

    private static BestOfN.Finished finishOne(Function<PreparedJob, GenerationResult> finishing, PreparedJob p) {
        try {
            return new BestOfN.Finished(finishing.apply(p), null);
        } catch (RuntimeException e) {
            return new BestOfN.Finished(null, e);
        }
    }

    private EngineLoop(BestOfN bestOfN, Stages stages, Finishing pool, int capacity, int maxBatchRows,
                       boolean acrossJobs, UnetStepper stepper, EngineObserver observer) {
        this.current = new Served(bestOfN, this::releasedSet);
        this.finishing = stages.finishing();
        this.previewScoring = stages.previews();
        this.finishingBatchImages = pool.maxImages();
        this.capacity = capacity;
        this.maxBatchRows = Math.max(1, maxBatchRows);
        this.acrossJobs = acrossJobs;
        this.stepper = stepper;
        this.observer = observer;
        this.admission = new Semaphore(capacity);
        AtomicInteger finisherCount = new AtomicInteger();
        this.finisher = Executors.newFixedThreadPool(pool.threads(),
                r -> daemon(r, "winnow-finisher-" + finisherCount.incrementAndGet()));
        this.timers = new ScheduledThreadPoolExecutor(1, r -> daemon(r, "winnow-job-deadlines"));
        timers.setRemoveOnCancelPolicy(true);
        this.loop = daemon(this::run, "winnow-engine");
        loop.start();
    }

    private static Thread daemon(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }

    /**
     * Admits a job at once or refuses it.
     *
     * @throws QueueFullException when {@code capacity} jobs are already admitted
     * @throws NotReadyException  when draining
     */
    public CompletableFuture<GenerationResult> submit(GenerationRequest request) {
        return submit(request, JobEvents.NONE);
    }

    /**
     * Admits a job at once or refuses it, telling {@code events} what happens to it as it happens:
     * its place in the queue, each step, each candidate's outcome.
     *
     * @throws QueueFullException when {@code capacity} jobs are already admitted
     * @throws NotReadyException  when draining
     */
    public CompletableFuture<GenerationResult> submit(GenerationRequest request, JobEvents events) {
        synchronized (admissionLock) { // so that no job is queued behind the loop's Stop
            if (!accepting) {
                throw new NotReadyException("the service is shutting down");
            }
            if (!admission.tryAcquire()) {
                observer.rejected("queue_full");
                long perJob = Math.max(1, recentJobMillis);
                throw new QueueFullException(capacity, Math.max(1, (perJob * capacity / Math.max(1, maxBatchRows / 2)) / 1000));
            }
            int ahead = admitted.getAndIncrement();
            Served models = current; // the job runs start to end on the models in service now
            models.jobAdmitted();
            EngineJob job = new EngineJob(request, sequence.incrementAndGet(), events, models);
            unanswered.add(job);
            // The deadline holds wherever the job is: waiting, denoising, waiting to be judged, being judged.
            ScheduledFuture<?> expiry = timers.schedule(() -> job.future.completeExceptionally(new DeadlineExceededException(
                    "the deadline passed while the job was " + job.stage)), request.deadlineNanos() - System.nanoTime(),
                    TimeUnit.NANOSECONDS);
            job.future.whenComplete((r, e) -> {
                expiry.cancel(false);
                unanswered.remove(job);
                admitted.decrementAndGet();
                admission.release();
                models.jobAnswered();
            });
            tell(job, e -> e.queued(ahead));
            messages.add(new Admit(job));
            return job.future;
        }
    }

    /** The models new jobs are admitted on. */
    public BestOfN bestOfN() {
        return current.bestOfN;
    }

    /**
     * Admits every job from now on on {@code next}; jobs already admitted finish on the models
     * they were admitted on. The replaced set is released (see {@link #onReleased}) once its last
     * job is answered and its last model call has returned.
     */
    public void serve(BestOfN next) {
        Served old;
        synchronized (admissionLock) { // no job is pinned to the old set after this
            old = current;
            current = new Served(next, this::releasedSet);
        }
        old.retire();
    }

    /** Tells {@code listener} of each replaced set once nothing runs on it any more: its models may be closed. */
    public void onReleased(Consumer<BestOfN> listener) {
        released = listener;
    }

    private void releasedSet(BestOfN b) {
        try {
            released.accept(b);
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "releasing replaced models failed", e);
        }
    }

    /** Jobs admitted and not yet answered (waiting, denoising or being judged). */
    public int queueDepth() {
        return admitted.get();
    }

    /** Candidates currently being denoised. */
    public int activeSlots() {
        return activeSlots.get();
    }

    /** Stops admitting; admitted jobs still finish. */
    public void stopAccepting() {
        synchronized (admissionLock) {
            accepting = false;
        }
    }

    /**
     * Drains: admits nothing more, and at {@code untilNanos} answers every job still unfinished
     * with 503 and terminates the model calls that run for them.
     */
    public void drain(long untilNanos) {
        stopAccepting();
        try {
            timers.schedule(() -> cut("the service is shutting down and the job did not finish within the drain time"),
                    untilNanos - System.nanoTime(), TimeUnit.NANOSECONDS);
        } catch (RejectedExecutionException e) {
            // already stopped
        }
    }

    /** Waits until every admitted job is answered, at most {@code timeoutMillis}. */
    public boolean awaitIdle(long timeoutMillis) throws InterruptedException {
        long until = System.currentTimeMillis() + timeoutMillis;
        while (admitted.get() > 0) {
            if (System.currentTimeMillis() > until) {
                return false;
            }
            Thread.sleep(20);
        }
        return true;
    }

    /**
     * How long the engine has been inside one piece of work: the loop's current iteration, or
     * a finishing thread's current jobs, whichever is longest. Model calls end at their jobs'
     * deadlines, so a healthy engine never stays longer than the longest deadline; a longer stay
     * means a call that ignores its terminate flag (a wedged device). Zero once the engine has
     * stopped.
     */
    public long busyNanos() {
        if (finisherStopped) {
            return 0;
        }
        long now = System.nanoTime();
        long busy = now - loopBeatNanos;
        for (long since : finishingSince.values()) {
            busy = Math.max(busy, now - since);
        }
        return busy;
    }

    /** Whether the loop thread runs (false after {@link #close()}, or if it died). */
    public boolean isRunning() {
        return loop.isAlive();
    }

    private void run() {
        try {
            while (true) {
                loopBeatNanos = System.nanoTime();
                try {
                    if (!iterate()) {
                        return;
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                } catch (RuntimeException | Error e) {
                    LOG.log(Level.SEVERE, "engine loop iteration failed", e);
                } finally {
                    activeSlots.set(countActiveSlots());
                }
            }
        } finally {
            stopOnLoopThread();
        }
    }

    private int countActiveSlots() {
        int n = 0;
        for (EngineJob j : active) {
            for (DenoisingSlot s : j.prepared.slots()) {
                n += s.isDone() ? 0 : 1;
            }
        }
        return n;
    }

    /** @return false once the loop has been told to stop */
    private boolean iterate() throws InterruptedException {
        // With nothing to step (no job, or every job waits for its previews' judgement) the loop
        // sleeps until a message: an admission or a judgement is what makes work again.
        boolean idle = active.isEmpty() || nothingToStep;
        Message m = idle ? messages.poll(100, TimeUnit.MILLISECONDS) : messages.poll();
        while (m != null) {
            if (m instanceof Stop) {
                return false;
            }
            if (m instanceof Admit a) {
                admit(a.job());
            } else if (m instanceof Previewed p) {
                pruneJudged(p);
            }
            m = messages.poll();
        }
        dropAnsweredAndExpired();
        List<DenoisingSlot> batch = nextBatch();
        nothingToStep = batch.isEmpty();
        if (batch.isEmpty() || cut) {
            return true;
        }
        // One step of the batch: one call, or one per timestep for a UNet that takes a single timestep.
        int calls = 0;
        boolean perRowTimesteps = batchServed.bestOfN.pipeline().unet().acceptsPerRowTimesteps();
        for (List<DenoisingSlot> call : UnetCallPlan.calls(batch, perRowTimesteps)) {
            calls += stepIsolatingFailures(partsOf(call));
        }
        if (calls > 0) {
            observer.unetCallsPerStep(calls);
        }
        reportProgress();
        sendPreviews();
        handOffFinished();
        return true;
    }

    /** Tells each watched job how far its slowest live candidate has come, when that changed. */
    private void reportProgress() {
        for (EngineJob j : active) {
            if (j.events == JobEvents.NONE) {
                continue;
            }
            List<DenoisingSlot> live = j.prepared.liveSlots();
            int step = live.stream().mapToInt(DenoisingSlot::stepIndex).min().orElse(0);
            if (step > j.reportedStep) {
                j.reportedStep = step;
                int alive = live.size();
                tell(j, e -> e.progress(step, j.request.steps(), alive));
            }
        }
    }

    /** Hands an event to a job's watcher; a watcher that throws is not the job's problem. */
    private static void tell(EngineJob j, java.util.function.Consumer<JobEvents> event) {
        if (j.events == JobEvents.NONE) {
            return;
        }
        try {
            event.accept(j.events);
        } catch (RuntimeException e) {
            LOG.log(Level.FINE, "a job's event listener failed", e);
        }
    }

    /**
     * Jobs whose slots all reached their prune point send their x̂₀ previews to a finishing
     * thread to be decoded and judged; their slots wait (the rows go to other jobs) until the
     * judgement comes back as a {@link Previewed} message.
     */
    private void sendPreviews() {
        for (EngineJob j : active) {
            if (!j.prepared.readyToPreview() || j.future.isDone()) {
                continue;
            }
            List<float[]> previews = j.prepared.takePreviews();
            j.stage = "having its previews judged";
            try {
                finisher.execute(() -> judgePreviews(j, previews));
            } catch (RejectedExecutionException e) {
                j.future.completeExceptionally(new NotReadyException(cutReason));
            }
        }
    }

    /** On a finishing thread: decodes and scores one job's previews, under the job's deadline, and tells the loop. */
    private void judgePreviews(EngineJob j, List<float[]> previews) {
        Thread me = Thread.currentThread();
        long t0 = System.nanoTime();
        finishingSince.put(me, t0);
        RunBudget budget = RunBudget.open(j.request.deadlineNanos());
        finisherBudgets.add(budget);
        if (cut) {
            budget.stop();
        }
        stopWhenAnswered(budget, List.of(j));
        double[] scores = null;
        Throwable failure = null;
        try {
            if (!j.future.isDone()) {
                try (Served.Call call = j.served.call()) {
                    scores = previewScoring.score(j.served.bestOfN, j.prepared, previews);
                }
            }
        } catch (Throwable e) {
            failure = e;
        } finally {
            budget.close();
            finisherBudgets.remove(budget);
            finishingSince.remove(me);
        }
        messages.add(new Previewed(j, scores, failure, System.nanoTime() - t0));
    }

    /** On the loop thread: prunes a job by its previews' scores (or lets every candidate go on if they failed). */
    private void pruneJudged(Previewed p) {
        EngineJob j = p.job();
        if (j.future.isDone() || !active.contains(j)) {
            return; // answered meanwhile (cancelled, expired, cut): it leaves at this step
        }
        j.stage = "denoising";
        j.prepared.previewTook(p.nanos());
        observer.stage("preview", p.nanos());
        if (p.scores() != null) {
            for (int i : j.prepared.prune(p.scores())) {
                CandidateResult pruned = BestOfN.prunedCandidate(j.prepared, i);
                tell(j, e -> e.candidate(pruned));
            }
            return;
        }
        RunTerminatedException terminated = p.failure() == null ? null : RunTerminatedException.in(p.failure());
        if (terminated != null) {
            j.future.completeExceptionally(answerFor(terminated.reason()));
            return;
        }
        LOG.warning("judging x̂0 previews failed; the job's candidates all go on unpruned: " + p.failure());
        j.prepared.keepAll();
    }

    private void admit(EngineJob job) {
        if (job.future.isDone()) {
            return; // cancelled or expired while waiting
        }
        long waited = System.nanoTime() - job.admittedNanos;
        observer.queued(waited);
        job.stage = "encoding its prompt";
        try (RunBudget budget = loopBudget(job.request.deadlineNanos()); Served.Call call = job.served.call()) {
            job.prepared = job.served.bestOfN.prepare(job.request);
            job.prepared.queued(waited);
            observer.stage("text_encode", job.prepared.timings().get("text_encode") * 1_000_000);
            job.stage = "denoising";
            active.add(job);
        } catch (Throwable e) {
            job.future.completeExceptionally(answerFor(e, "encoding the prompt"));
        }
    }

    private void dropAnsweredAndExpired() {
        long now = System.nanoTime();
        for (Iterator<EngineJob> it = active.iterator(); it.hasNext(); ) {
            EngineJob j = it.next();
            if (j.future.isDone()) {
                it.remove(); // cancelled (client gone), expired or cut: its slots leave at this step
            } else if (now - j.request.deadlineNanos() > 0) {
                it.remove();
                DenoisingSlot s = j.prepared.liveSlots().get(0);
                j.future.completeExceptionally(new DeadlineExceededException("the deadline passed after "
                        + s.stepIndex() + " of " + s.totalSteps() + " steps"));
            }
        }
    }

    /**
     * Up to maxBatchRows rows, oldest job first, all of the oldest job's latent shape and models
     * (during a live swap, jobs on the old and the new models take separate calls).
     */
    private List<DenoisingSlot> nextBatch() {
        List<DenoisingSlot> batch = new ArrayList<>();
        batchServed = null;
        if (active.isEmpty()) {
            return batch;
        }
        String shape = null;
        int rows = 0;
        for (EngineJob j : active) {
            if (batchServed != null && j.served != batchServed) {
                continue;
            }
            int hold = j.prepared.holdAtStep();
            for (DenoisingSlot s : j.prepared.slots()) {
                if (s.isDone() || s.stepIndex() >= hold) {
                    continue; // done, pruned, or waiting at the prune point for the job's other slots
                }
                if (shape == null) {
                    shape = s.shapeKey();
                    batchServed = j.served;
                }
                if (!s.shapeKey().equals(shape)) {
                    break;
                }
                if (rows + s.rows() > maxBatchRows && !batch.isEmpty()) {
                    return batch;
                }
                batch.add(s);
                rows += s.rows();
            }
            if (!acrossJobs && !batch.isEmpty()) {
                return batch;
            }
        }
        return batch;
    }

    /** The batch's slots grouped by job, oldest job first. */
    private List<Part> partsOf(List<DenoisingSlot> batch) {
        Map<DenoisingSlot, EngineJob> owner = new IdentityHashMap<>();
        for (EngineJob j : active) {
            for (DenoisingSlot s : j.prepared.slots()) {
                owner.put(s, j);
            }
        }
        Map<EngineJob, List<DenoisingSlot>> byJob = new LinkedHashMap<>();
        for (DenoisingSlot s : batch) {
            byJob.computeIfAbsent(owner.get(s), k -> new ArrayList<>()).add(s);
        }
        List<Part> parts = new ArrayList<>();
        byJob.forEach((j, slots) -> parts.add(new Part(j, slots)));
        return parts;
    }

    /** One job's rows in a UNet call. */
    private record Part(EngineJob job, List<DenoisingSlot> slots) {
    }

    /**
     * One UNet call for the parts. When a call that holds several jobs fails, the device may be
     * fine and one request at fault (a size or a batch it cannot take): each half is called again
     * on its own, down to single jobs, so the others take their step and only the offender fails.
     * A call that fails no slot has advanced, so a retry is the same step, not a second one.
     *
     * @return the UNet calls that completed
     */
    private int stepIsolatingFailures(List<Part> parts) {
        List<Part> live = parts.stream().filter(p -> !p.job().future.isDone()).toList();
        if (live.isEmpty() || cut) {
            return 0;
        }
        List<DenoisingSlot> slots = new ArrayList<>();
        long deadline = live.get(0).job().request.deadlineNanos();
        for (Part p : live) {
            slots.addAll(p.slots());
            deadline = Math.max(deadline, p.job().request.deadlineNanos()); // no job's call is cut before its own deadline
        }
        Served models = live.get(0).job().served;
        try (RunBudget budget = loopBudget(deadline); Served.Call call = models.call()) {
            stopWhenAnswered(budget, live.stream().map(Part::job).toList());
            StepCalls calls = live.size() == 1 ? stepper.step(models.bestOfN.pipeline(), slots)
                    : stepper.stepShared(models.bestOfN.pipeline(), slots);
            for (int i = 0; i < calls.calls(); i++) {
                observer.unetBatch(calls.rows(i));
            }
            return calls.calls();
        } catch (Throwable e) {
            Throwable cause = e instanceof RequestFaultException f && f.getCause() != null ? f.getCause() : e;
            if (live.size() == 1 || RunTerminatedException.in(cause) != null || cause instanceof CircuitBreakerOpenException) {
                if (live.size() == 1 && RunTerminatedException.in(cause) == null) {
                    LOG.log(Level.WARNING, "a UNet call failed; failing its job", cause);
                }
                for (Part p : live) {
                    p.job().future.completeExceptionally(answerFor(cause, "the UNet call"));
                }
                return 0;
            }
            LOG.log(Level.FINE, "a UNet call shared by " + live.size() + " jobs failed; retrying them apart", cause);
            int half = live.size() / 2;
            return stepIsolatingFailures(live.subList(0, half)) + stepIsolatingFailures(live.subList(half, live.size()));
        }
    }

    private void handOffFinished() {
        for (Iterator<EngineJob> it = active.iterator(); it.hasNext(); ) {
            EngineJob j = it.next();
            if (j.prepared.isDenoised()) {
                it.remove();
                j.prepared.denoiseDone();
                observer.stage("denoise", j.prepared.timings().get("denoise") * 1_000_000);
                j.stage = "waiting to be judged";
                toFinish.add(j);
                try {
                    finisher.execute(this::finishWaiting);
                } catch (RejectedExecutionException e) {
                    toFinish.remove(j);
                    j.future.completeExceptionally(new NotReadyException(cutReason));
                }
            }
        }
    }

    /**
     * On a finishing thread: takes the denoised jobs waiting now, up to the bound in candidates
     * (at least one job), and finishes them together. Other threads may have taken them already.
     */
    private void finishWaiting() {
        List<EngineJob> batch = new ArrayList<>();
        int images = 0;
        for (EngineJob j = toFinish.peek(); j != null; j = toFinish.peek()) {
            int n = j.prepared.liveSlots().size();
            if (!batch.isEmpty() && images + n > finishingBatchImages) {
                break;
            }
            if (toFinish.remove(j)) {
                if (j.future.isDone() || cut) {
                    j.future.completeExceptionally(new NotReadyException(cutReason)); // no-op when already answered
                    continue;
                }
                batch.add(j);
                images += n;
            }
        }
        if (!batch.isEmpty()) {
            finish(batch);
        }
    }

    /** Decodes, judges and ranks denoised jobs on a finishing thread; always answers every one of them. */
    private void finish(List<EngineJob> batch) {
        Thread me = Thread.currentThread();
        finishingSince.put(me, System.nanoTime());
        long deadline = batch.get(0).request.deadlineNanos();
        for (EngineJob j : batch) {
            j.stage = "being judged";
            deadline = Math.max(deadline, j.request.deadlineNanos()); // no job's call is cut before its own deadline
        }
        RunBudget budget = RunBudget.open(deadline);
        finisherBudgets.add(budget);
        if (cut) {
            budget.stop();
        }
        stopWhenAnswered(budget, batch);
        List<BestOfN.Finished> outcomes = null;
        Throwable failure = null;
        try {
            outcomes = finishBySet(batch);
            recentJobMillis = Math.max(1, (System.nanoTime() - batch.get(0).admittedNanos) / 1_000_000);
        } catch (Throwable e) { // an Error too (OutOfMemoryError): the jobs are answered and their permits freed
            failure = e;
        } finally {
            budget.close();
            finisherBudgets.remove(budget);
            finishingSince.remove(me);
        }
        RunBudget.Reason ended = budget.terminated();
        if (ended == null && failure == null && observer.wantsRankings()) {
            reportRankings(batch, outcomes);
        }
        for (int i = 0; i < batch.size(); i++) {
            EngineJob j = batch.get(i);
            if (ended != null) {
                // A judge fails closed on a terminated run; the answer is the reason it was terminated.
                j.future.completeExceptionally(answerFor(ended));
            } else if (failure != null) {
                j.future.completeExceptionally(answerFor(failure, "decoding and judging"));
            } else if (outcomes.get(i).failure() != null) {
                RuntimeException f = outcomes.get(i).failure();
                if (f instanceof NoSafeCandidateException none) {
                    judged(j, none.candidates());
                }
                j.future.completeExceptionally(answerFor(f, "decoding and judging"));
            } else {
                judged(j, outcomes.get(i).result().candidates());
                j.future.complete(outcomes.get(i).result());
            }
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
                done = finishing.apply(e.getKey().bestOfN, jobs);
            }
            for (int k = 0; k < done.size(); k++) {
                outcomes[e.getValue().get(k)] = done.get(k);
            }
        }
        return java.util.Arrays.asList(outcomes);
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
            if (c.verdict() != dev.winnow.judge.Verdict.PRUNED) {
                tell(j, e -> e.candidate(c));
            }
        }
    }

    /**
     * Stops {@code budget} once every one of {@code jobs} is answered (its client gone, its
     * deadline passed, the drain over), so that a model call nobody waits for any more ends at once
     * and frees its thread, rather than running on to its deadline. Stopping a budget that has
     * been closed meanwhile does nothing; the jobs' answers are already given, so the stopped
     * call's failure is told to no one.
     */
    private static void stopWhenAnswered(RunBudget budget, List<EngineJob> jobs) {
        AtomicInteger waiting = new AtomicInteger(jobs.size());
        for (EngineJob j : jobs) {
            j.future.whenComplete((r, e) -> {
                if (waiting.decrementAndGet() == 0) {
                    budget.stop();
                }
            });
        }
    }

    /** A budget for the loop thread's model calls, stopped at once if the engine is being cut. */
    private RunBudget loopBudget(long deadlineNanos) {
        RunBudget b = RunBudget.open(deadlineNanos);
        loopBudget = b;
        if (cut) {
            b.stop();
        }
        return b;
    }

    /** What a job's caller gets when its work threw {@code e} in {@code stage}. */
    private Throwable answerFor(Throwable e, String stage) {
        RunTerminatedException terminated = RunTerminatedException.in(e);
        if (terminated != null) {
            return answerFor(terminated.reason());
        }
        if (e instanceof CircuitBreakerOpenException) {
            return new GenerationFailedException("the device is failing repeatedly; the circuit is open", e);
        }
        if (e instanceof NoSafeCandidateException || e instanceof GenerationFailedException
                || e instanceof DeadlineExceededException || e instanceof NotReadyException) {
            return e;
        }
        return new GenerationFailedException(stage + " failed: " + e, e);
    }

    private Throwable answerFor(RunBudget.Reason reason) {
        return reason == RunBudget.Reason.DEADLINE
                ? new DeadlineExceededException("the deadline passed during a model call; the call was stopped")
                : new NotReadyException(cutReason);
    }

    /**
     * Answers every unfinished job with 503 and terminates the model calls running for them; no
     * model call starts after it. Any thread.
     */
    private void cut(String why) {
        cutReason = why;
        cut = true;
        for (EngineJob j : unanswered) {
            j.future.completeExceptionally(new NotReadyException(why));
        }
        stopBudget(loopBudget);
        finisherBudgets.forEach(EngineLoop::stopBudget);
    }

    private static void stopBudget(RunBudget b) {
        if (b != null) {
            b.stop();
        }
    }

    /** The loop's last act: answer what is left, then shut the finisher down and wait for it. */
    private void stopOnLoopThread() {
        stopAccepting(); // also when the loop died unexpectedly: refuse rather than queue behind nothing
        cut(cutReason);
        Message m;
        while ((m = messages.poll()) != null) {
            if (m instanceof Admit a) {
                a.job().future.completeExceptionally(new NotReadyException(cutReason));
            }
        }
        active.clear();
        activeSlots.set(0);
        for (EngineJob j; (j = toFinish.poll()) != null; ) {
            j.future.completeExceptionally(new NotReadyException(cutReason));
        }
        finisher.shutdown();
        try {
            finisherStopped = finisher.awaitTermination(STOP_WAIT_MILLIS, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (!finisherStopped) {
            LOG.severe("the finishing threads did not leave their model calls within " + STOP_WAIT_MILLIS + " ms");
        }
    }

    /**
     * Stops the engine: admits nothing more, answers every unfinished job with 503, terminates
     * the model calls in progress, and waits up to {@link #STOP_WAIT_MILLIS} for the loop and the
     * finisher threads to exit.
     *
     * @return whether both exited: only then may the models be closed
     */
    public boolean stop() {
        stopAccepting();
        cut("the engine stopped before the job finished");
        messages.add(new Stop());
        try {
            loop.join(STOP_WAIT_MILLIS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        timers.shutdownNow();
        boolean stopped = !loop.isAlive() && finisherStopped;
        if (!stopped) {
            LOG.severe("the engine's threads did not stop within " + STOP_WAIT_MILLIS + " ms");
        }
        return stopped;
    }

    @Override
    public void close() {
        stop();
    }
}
