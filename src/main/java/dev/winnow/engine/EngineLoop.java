package dev.winnow.engine;

import dev.winnow.onnx.RunTerminatedException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The engine: step-level continuous batching on one thread that owns the device's denoising. Each
 * iteration it reads its mailbox (admitted jobs, judged previews), asks the {@link StepScheduler}
 * for a {@link StepPlan} from its jobs' states, applies the plan's decisions (encode, drop,
 * expire, send previews, hand to finishing) and has the {@link StepExecutor} make the step's UNet
 * calls; the {@link Finisher} judges on its own threads meanwhile. The parts:
 *
 * <pre>
 * submit ─► Admission ─► mailbox ─► loop: StepScheduler.plan ─► StepExecutor (encode, UNet calls)
 *                                     │ previews ▲ scores         │ denoised
 *                                     ▼          │                ▼
 *                                   Finisher: preview lane ahead of final lane ─► answer
 * </pre>
 *
 * <p>Oldest jobs come first, so a job's latency is bounded by the jobs admitted before it. A
 * slot's image depends only on its seed and settings, never on its batch-mates.
 *
 * <p>Every admitted job is answered: with its result, or at its deadline wherever it is (504), or
 * when the drain's time is up or the engine stops (503). Model calls run under {@link Budgets},
 * so a call stuck past its jobs' deadline, running only for answered jobs, or running when the
 * engine stops, is terminated.
 *
 * <p>Threads: the loop thread owns its jobs until it hands them to the finisher, and stops the
 * finisher before it exits. Other threads talk to it through its mailbox ({@link #submit},
 * {@link #stop}) and may only complete jobs' futures, which every stage checks before it spends
 * work on a job.
 */
public final class EngineLoop implements AutoCloseable {

    /** How long {@link #close()} waits for the loop and the finisher to leave their model calls. */
    public static final long STOP_WAIT_MILLIS = 10_000;

    private static final Logger LOG = Logger.getLogger(EngineLoop.class.getName());

    /** What other threads tell the loop. */
    private sealed interface Message permits Admit, Judged, Stop {
    }

    private record Admit(EngineJob job) implements Message {
    }

    private record Judged(Finisher.Previewed previewed) implements Message {
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

    private final StepScheduler.Capacity capacity;
    private final EngineObserver observer;
    private final Admission admission;
    private final Budgets budgets = new Budgets();
    private final StepExecutor executor;
    private final Finisher finisher;
    private final LinkedBlockingQueue<Message> messages = new LinkedBlockingQueue<>();
    /** Loop thread only: the jobs it holds (queued to denoised), by id, oldest first. */
    private final Map<Long, EngineJob> jobs = new LinkedHashMap<>();
    private final Thread loop;
    private final AtomicInteger activeSlots = new AtomicInteger();
    private volatile long loopBeatNanos = System.nanoTime();
    /** Loop thread only: whether the last plan made no UNet call (every job waits: for a message, then). */
    private boolean nothingStepped = true;

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
        this(bestOfN, Finisher.Stages.standard(), finishing, capacity, maxBatchRows, acrossJobs, stepper, observer);
    }

    /**
     * With another way to finish (decode, judge, rank) a denoised job, one job at a time on one
     * thread: tests use it to fail or hold that stage.
     */
    EngineLoop(BestOfN bestOfN, Function<PreparedJob, GenerationResult> finishing, int capacity, int maxBatchRows,
               boolean acrossJobs, UnetStepper stepper, EngineObserver observer) {
        this(bestOfN, new Finisher.Stages((models, jobs) -> jobs.stream().map(p -> finishOne(finishing, p)).toList(),
                BestOfN::scorePreviews), new Finishing(1, 1), capacity, maxBatchRows, acrossJobs, stepper, observer);
    }

    /**
     * With another way to score x̂₀ previews, on one finishing thread, batching across jobs up to
     * 16 rows: tests use it to hold that stage.
     */
    EngineLoop(BestOfN bestOfN, Finisher.PreviewScoring previews, int capacity, UnetStepper stepper,
               EngineObserver observer) {
        this(bestOfN, new Finisher.Stages(BestOfN::finishAll, previews), new Finishing(1, 1), capacity, 16, true, stepper,
                observer);
    }

    private static BestOfN.Finished finishOne(Function<PreparedJob, GenerationResult> finishing, PreparedJob p) {
        try {
            return new BestOfN.Finished(finishing.apply(p), null);
        } catch (RuntimeException e) {
            return new BestOfN.Finished(null, e);
        }
    }

    private EngineLoop(BestOfN bestOfN, Finisher.Stages stages, Finishing pool, int capacity, int maxBatchRows,
                       boolean acrossJobs, UnetStepper stepper, EngineObserver observer) {
        this.capacity = new StepScheduler.Capacity(maxBatchRows, acrossJobs);
        this.observer = observer;
        this.admission = new Admission(bestOfN, capacity, this.capacity.maxBatchRows(), observer);
        this.executor = new StepExecutor(stepper, observer, budgets);
        this.finisher = new Finisher(pool, stages, budgets, observer,
                p -> messages.add(new Judged(p)), admission::jobTook);
        this.loop = new Thread(this::run, "winnow-engine");
        loop.setDaemon(true);
        loop.start();
    }

    /**
     * Runs one job on an engine of its own, started and stopped for it, and returns its result: how
     * a new model set is warmed up before it serves, and how tests make a job's image alone. A
     * one-job engine is still the engine: the same scheduler, executor and finisher.
     *
     * @throws RuntimeException the job's answer when it has no result: {@link NoSafeCandidateException},
     *                          {@link DeadlineExceededException}, {@link GenerationFailedException}
     */
    static GenerationResult runAlone(BestOfN models, GenerationRequest job, int maxBatchRows, EngineObserver observer) {
        try (EngineLoop alone = new EngineLoop(models, 1, maxBatchRows, true, new Finishing(1, job.n()),
                UnetStepper.DIRECT, observer)) {
            return alone.submit(job).join();
        } catch (CompletionException e) {
            throw e.getCause() instanceof RuntimeException r ? r : e;
        }
    }

    /** {@link #runAlone(BestOfN, GenerationRequest, int, EngineObserver)}, observed by no one. */
    static GenerationResult runAlone(BestOfN models, GenerationRequest job, int maxBatchRows) {
        return runAlone(models, job, maxBatchRows, new EngineObserver() { });
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
        return admission.admit(request, events, job -> messages.add(new Admit(job))).future;
    }

    /** The models new jobs are admitted on. */
    public BestOfN bestOfN() {
        return admission.current();
    }

    /**
     * Admits every job from now on on {@code next}; jobs already admitted finish on the models
     * they were admitted on. The replaced set is released (see {@link #onReleased}) once its last
     * job is answered and its last model call has returned.
     */
    public void serve(BestOfN next) {
        admission.serve(next);
    }

    /** Tells {@code listener} of each replaced set once nothing runs on it any more: its models may be closed. */
    public void onReleased(Consumer<BestOfN> listener) {
        admission.onReleased(listener);
    }

    /** Jobs admitted and not yet answered (waiting, denoising or being judged). */
    public int queueDepth() {
        return admission.admitted();
    }

    /** Candidates currently being denoised. */
    public int activeSlots() {
        return activeSlots.get();
    }

    /** Stops admitting; admitted jobs still finish. */
    public void stopAccepting() {
        admission.stopAccepting();
    }

    /**
     * Drains: admits nothing more, and at {@code untilNanos} answers every job still unfinished
     * with 503 and terminates the model calls that run for them.
     */
    public void drain(long untilNanos) {
        stopAccepting();
        admission.schedule(() -> cut("the service is shutting down and the job did not finish within the drain time"),
                untilNanos - System.nanoTime());
    }

    /** Waits until every admitted job is answered, at most {@code timeoutMillis}. */
    public boolean awaitIdle(long timeoutMillis) throws InterruptedException {
        long until = System.currentTimeMillis() + timeoutMillis;
        while (admission.admitted() > 0) {
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
        if (finisher.isStopped()) {
            return 0;
        }
        long now = System.nanoTime();
        return Math.max(now - loopBeatNanos, finisher.busyNanos(now));
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
                    activeSlots.set(jobs.values().stream().mapToInt(EngineJob::slotsDenoising).sum());
                }
            }
        } finally {
            stopOnLoopThread();
        }
    }

    /** @return false once the loop has been told to stop */
    private boolean iterate() throws InterruptedException {
        // With no UNet call in the last step (no job, or every job waits for its previews'
        // judgement) the loop sleeps until a message: an admission or a judgement makes work again.
        Message m = nothingStepped ? messages.poll(100, TimeUnit.MILLISECONDS) : messages.poll();
        while (m != null) {
            if (m instanceof Stop) {
                return false;
            }
            if (m instanceof Admit a) {
                jobs.put(a.job().sequence, a.job());
            } else if (m instanceof Judged j) {
                prune(j.previewed());
            }
            m = messages.poll();
        }
        StepPlan plan = plan();
        if (!plan.encode().isEmpty()) {
            plan.encode().forEach(id -> encode(jobs.get(id)));
            plan = plan(); // the new jobs join this step
        }
        apply(plan);
        nothingStepped = plan.stepsNothing();
        if (!plan.stepsNothing() && !budgets.isCut()) {
            step(plan.calls());
        }
        jobs.values().forEach(EngineJob::reportProgress);
        jobs.values().forEach(this::livePreview);
        return true;
    }

    /**
     * A watched job that asked for live previews and whose candidates reached its next preview
     * step sends copies of their x̂₀ to the finisher's preview lane; its denoising goes on.
     */
    private void livePreview(EngineJob j) {
        if (j.request.previews() == 0 || j.events == JobEvents.NONE || j.prepared == null || j.isAnswered()) {
            return;
        }
        PreparedJob.LivePreviewWork work = j.prepared.takeLivePreview();
        if (work != null) {
            finisher.livePreview(j, work);
        }
    }

    /** The scheduler's decisions for the jobs as they are now. */
    private StepPlan plan() {
        List<JobView> views = new ArrayList<>(jobs.size());
        for (EngineJob j : jobs.values()) {
            views.add(j.view());
        }
        return StepScheduler.plan(views, capacity, System.nanoTime());
    }

    /** Encodes a queued job's prompt (unless it was answered while waiting); the plan made after it gives it rows. */
    private void encode(EngineJob job) {
        if (!job.moveTo(JobState.ENCODING)) {
            return; // cancelled or expired while waiting: the next plan drops it
        }
        long waited = System.nanoTime() - job.admittedNanos;
        observer.queued(waited);
        try {
            job.prepared = executor.encode(job);
            job.prepared.queued(waited);
            observer.stage("text_encode", job.prepared.timings().get("text_encode") * 1_000_000);
            job.moveTo(JobState.DENOISING);
        } catch (Throwable e) {
            job.future.completeExceptionally(budgets.answerFor(e, "encoding the prompt"));
        }
    }

    /** The plan's decisions other than its UNet calls. */
    private void apply(StepPlan plan) {
        plan.drop().forEach(jobs::remove); // answered (cancelled, expired, cut): its slots leave at this step
        for (StepPlan.Expiry e : plan.expire()) {
            jobs.remove(e.job()).future.completeExceptionally(new DeadlineExceededException("the deadline passed after "
                    + e.step() + " of " + e.steps() + " steps"));
        }
        for (long id : plan.previews()) {
            sendPreviews(jobs.get(id));
        }
        for (long id : plan.finish()) {
            handOff(jobs.remove(id));
        }
    }

    /**
     * A job whose slots all reached the prune point sends copies of their x̂₀ previews to be judged;
     * its slots wait (the rows go to other jobs) until the judgement comes back.
     */
    private void sendPreviews(EngineJob j) {
        if (j.moveTo(JobState.WAITING_FOR_PREVIEWS)) {
            finisher.judgePreviews(j, j.prepared.takePreviews());
        }
    }

    /** On the loop thread: prunes a job by its previews' scores (or lets every candidate go on if they failed). */
    private void prune(Finisher.Previewed p) {
        EngineJob j = p.job();
        if (!jobs.containsKey(j.sequence) || !j.moveTo(JobState.DENOISING)) {
            return; // answered meanwhile (cancelled, expired, cut): it leaves at this step
        }
        j.prepared.previewTook(p.nanos());
        observer.stage("preview", p.nanos());
        if (p.scores() != null) {
            for (int i : j.prepared.prune(p.scores())) {
                CandidateResult pruned = BestOfN.prunedCandidate(j.prepared, i);
                j.tell(e -> e.candidate(pruned));
            }
            return;
        }
        RunTerminatedException terminated = p.failure() == null ? null : RunTerminatedException.in(p.failure());
        if (terminated != null) {
            j.future.completeExceptionally(budgets.answerFor(terminated.reason()));
            return;
        }
        LOG.warning("judging x̂0 previews failed; the job's candidates all go on unpruned: " + p.failure());
        j.prepared.keepAll();
    }

    /** A denoised job goes to the finisher. */
    private void handOff(EngineJob j) {
        if (!j.moveTo(JobState.WAITING_TO_FINISH)) {
            return; // answered during its last step
        }
        j.prepared.denoiseDone();
        observer.stage("denoise", j.prepared.timings().get("denoise") * 1_000_000);
        finisher.finish(j);
    }

    /** The step's UNet calls; a job whose call failed is answered with why. */
    private void step(List<StepPlan.Call> calls) {
        StepExecutor.Outcome outcome = executor.step(calls, jobs::get);
        outcome.failed().forEach((job, answer) -> job.future.completeExceptionally(answer));
        if (outcome.calls() > 0) {
            observer.unetCallsPerStep(outcome.calls());
        }
    }

    /**
     * Answers every unfinished job with 503 and terminates the model calls running for them; no
     * model call starts after it. Any thread.
     */
    private void cut(String why) {
        budgets.cut(why);
        for (EngineJob j : admission.unanswered()) {
            j.future.completeExceptionally(new NotReadyException(why));
        }
        budgets.stopAll();
    }

    /** The loop's last act: answer what is left, then stop the finisher and wait for it. */
    private void stopOnLoopThread() {
        stopAccepting(); // also when the loop died unexpectedly: refuse rather than queue behind nothing
        cut(budgets.cutReason());
        Message m;
        while ((m = messages.poll()) != null) {
            if (m instanceof Admit a) {
                a.job().future.completeExceptionally(new NotReadyException(budgets.cutReason()));
            }
        }
        jobs.clear();
        activeSlots.set(0);
        finisher.stop(STOP_WAIT_MILLIS);
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
        admission.shutdown();
        boolean stopped = !loop.isAlive() && finisher.isStopped();
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
