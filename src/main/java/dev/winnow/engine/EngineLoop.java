package dev.winnow.engine;

import dev.winnow.diffusion.DenoisingSlot;
import dev.winnow.diffusion.DiffusionPipeline;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Step-level continuous batching. One thread owns the device's denoising: each iteration it
 * admits new jobs (their prompts encoded once), drops cancelled and expired ones, then
 * builds one UNet call from up to {@code maxBatchRows} rows of active slots of <em>any</em>
 * jobs with the same latent shape — slots at different steps share the call, since the
 * timestep is per row — and steps each slot's own scheduler. Finished jobs move to a
 * second thread for decoding and judging, which overlaps the next UNet call.
 *
 * <p>Oldest jobs come first, so a job's latency is bounded by the jobs admitted before it.
 * A slot's image depends only on its seed and settings, never on its batch-mates.
 */
public final class EngineLoop implements AutoCloseable {

    private static final Logger LOG = Logger.getLogger(EngineLoop.class.getName());

    private final BestOfN bestOfN;
    private final int capacity;
    private final int maxBatchRows;
    private final boolean acrossJobs;
    private final UnetStepper stepper;
    private final EngineObserver observer;
    private final Semaphore admission;
    private final LinkedBlockingQueue<EngineJob> incoming = new LinkedBlockingQueue<>();
    private final List<EngineJob> active = new ArrayList<>();
    private final ExecutorService finisher;
    private final Thread loop;
    private final AtomicInteger admitted = new AtomicInteger();
    private final AtomicInteger activeSlots = new AtomicInteger();
    private final AtomicLong sequence = new AtomicLong();
    private volatile boolean accepting = true;
    private volatile boolean running = true;
    private volatile long recentJobMillis = 1000;

    /**
     * @param acrossJobs step-level batching across jobs (true), or one job's slots per call (false)
     */
    public EngineLoop(BestOfN bestOfN, int capacity, int maxBatchRows, boolean acrossJobs, UnetStepper stepper,
                      EngineObserver observer) {
        this.bestOfN = bestOfN;
        this.capacity = capacity;
        this.maxBatchRows = Math.max(1, maxBatchRows);
        this.acrossJobs = acrossJobs;
        this.stepper = stepper;
        this.observer = observer;
        this.admission = new Semaphore(capacity);
        this.finisher = Executors.newSingleThreadExecutor(r -> daemon(r, "winnow-finisher"));
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
        if (!accepting) {
            throw new NotReadyException("the service is shutting down");
        }
        if (!admission.tryAcquire()) {
            observer.rejected("queue_full");
            long perJob = Math.max(1, recentJobMillis);
            throw new QueueFullException(capacity, Math.max(1, (perJob * capacity / Math.max(1, maxBatchRows / 2)) / 1000));
        }
        admitted.incrementAndGet();
        EngineJob job = new EngineJob(request, sequence.incrementAndGet());
        job.future.whenComplete((r, e) -> {
            admitted.decrementAndGet();
            admission.release();
        });
        incoming.add(job);
        return job.future;
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
        accepting = false;
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

    private void run() {
        while (running) {
            try {
                iterate();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            } catch (RuntimeException | Error e) {
                LOG.log(Level.SEVERE, "engine loop iteration failed", e);
            }
        }
    }

    private void iterate() throws InterruptedException {
        try {
            admitDropAndStep();
        } finally {
            activeSlots.set(active.stream().mapToInt(j -> (int) j.prepared.slots().stream()
                    .filter(s -> !s.isDone()).count()).sum());
        }
    }

    private void admitDropAndStep() throws InterruptedException {
        if (active.isEmpty()) {
            EngineJob next = incoming.poll(100, TimeUnit.MILLISECONDS);
            if (next == null) {
                return;
            }
            admit(next);
        }
        EngineJob more;
        while ((more = incoming.poll()) != null) {
            admit(more);
        }
        dropCancelledAndExpired();
        List<DenoisingSlot> batch = nextBatch();
        if (batch.isEmpty()) {
            return;
        }
        try {
            int rows = stepper.step(bestOfN.pipeline(), batch);
            observer.unetBatch(rows);
        } catch (Exception e) {
            failJobsOf(batch, e);
        }
        handOffFinished();
    }

    private void admit(EngineJob job) {
        if (job.future.isDone()) {
            return; // cancelled while waiting
        }
        long waited = System.nanoTime() - job.admittedNanos;
        observer.queued(waited);
        try {
            job.prepared = bestOfN.prepare(job.request);
            job.prepared.queued(waited);
            observer.stage("text_encode", job.prepared.timings().get("text_encode") * 1_000_000);
            active.add(job);
        } catch (RuntimeException e) {
            job.future.completeExceptionally(e);
        }
    }

    private void dropCancelledAndExpired() {
        long now = System.nanoTime();
        for (Iterator<EngineJob> it = active.iterator(); it.hasNext(); ) {
            EngineJob j = it.next();
            if (j.future.isDone()) {
                it.remove(); // cancelled (client gone): its slots leave at this step
            } else if (now > j.request.deadlineNanos()) {
                it.remove();
                DenoisingSlot s = j.prepared.slots().get(0);
                j.future.completeExceptionally(new DeadlineExceededException("the deadline passed after "
                        + s.stepIndex() + " of " + s.totalSteps() + " steps"));
            }
        }
    }

    /** Up to maxBatchRows rows, oldest job first, all of the oldest job's latent shape. */
    private List<DenoisingSlot> nextBatch() {
        List<DenoisingSlot> batch = new ArrayList<>();
        if (active.isEmpty()) {
            return batch;
        }
        String shape = null;
        int rows = 0;
        for (EngineJob j : active) {
            for (DenoisingSlot s : j.prepared.slots()) {
                if (s.isDone()) {
                    continue;
                }
                if (shape == null) {
                    shape = s.shapeKey();
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

    private void failJobsOf(List<DenoisingSlot> batch, Exception e) {
        LOG.log(Level.WARNING, "a UNet call failed; failing the jobs in its batch", e);
        for (Iterator<EngineJob> it = active.iterator(); it.hasNext(); ) {
            EngineJob j = it.next();
            if (j.prepared.slots().stream().anyMatch(batch::contains)) {
                it.remove();
                j.future.completeExceptionally(new GenerationFailedException("the UNet call failed: " + e.getMessage(), e));
            }
        }
    }

    private void handOffFinished() {
        for (Iterator<EngineJob> it = active.iterator(); it.hasNext(); ) {
            EngineJob j = it.next();
            if (j.prepared.isDenoised()) {
                it.remove();
                j.prepared.denoiseDone();
                observer.stage("denoise", j.prepared.timings().get("denoise") * 1_000_000);
                finisher.execute(() -> finish(j));
            }
        }
    }

    private void finish(EngineJob j) {
        if (j.future.isDone()) {
            return;
        }
        try {
            GenerationResult r = bestOfN.finish(j.prepared);
            recentJobMillis = Math.max(1, (System.nanoTime() - j.admittedNanos) / 1_000_000);
            j.future.complete(r);
        } catch (RuntimeException e) {
            j.future.completeExceptionally(e);
        }
    }

    @Override
    public void close() {
        accepting = false;
        running = false;
        loop.interrupt();
        finisher.shutdown();
        for (EngineJob j : active) {
            j.future.completeExceptionally(new NotReadyException("the engine stopped"));
        }
        EngineJob j;
        while ((j = incoming.poll()) != null) {
            j.future.completeExceptionally(new NotReadyException("the engine stopped"));
        }
    }
}
