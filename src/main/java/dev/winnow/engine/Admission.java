package dev.winnow.engine;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The engine's door: admits a job at once or refuses it (a full queue: 429 with a Retry-After;
 * draining: 503), pins it to the models in service, and starts its deadline, which holds wherever
 * the job then is. Keeps the count of jobs admitted and not answered, and frees a job's place the
 * moment it is answered, by any thread. A live swap changes the models new jobs are pinned to.
 * Thread-safe.
 */
final class Admission {

    private static final Logger LOG = Logger.getLogger(Admission.class.getName());

    private final int capacity;
    private final int maxBatchRows;
    private final EngineObserver observer;
    private final Semaphore places;
    /** Held while admitting, swapping models and closing the door, so that no job slips past either. */
    private final Object lock = new Object();
    /** The models new jobs are pinned to; written under the lock. */
    private volatile Served current;
    /** Told when a replaced set has answered its last job and returned from its last call. */
    private volatile Consumer<BestOfN> released = b -> {
    };
    private volatile boolean accepting = true;
    /** Every admitted job not yet answered. */
    private final Set<EngineJob> unanswered = ConcurrentHashMap.newKeySet();
    private final AtomicInteger admitted = new AtomicInteger();
    private final AtomicLong sequence = new AtomicLong();
    private final ScheduledThreadPoolExecutor timers;
    /** How long a recent job took from admission to its answer: what Retry-After is estimated from. */
    private volatile long recentJobMillis = 1000;

    Admission(BestOfN models, int capacity, int maxBatchRows, EngineObserver observer) {
        this.capacity = capacity;
        this.maxBatchRows = maxBatchRows;
        this.observer = observer;
        this.places = new Semaphore(capacity);
        this.current = new Served(models, this::releasedSet);
        this.timers = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "winnow-job-deadlines");
            t.setDaemon(true);
            return t;
        });
        timers.setRemoveOnCancelPolicy(true);
    }

    /**
     * Admits a job and hands it to {@code loop} (in admission order: nothing is handed on after the
     * door closed), or refuses it.
     *
     * @throws QueueFullException when {@code capacity} jobs are already admitted
     * @throws NotReadyException  when the door is closed (draining or stopped)
     */
    EngineJob admit(GenerationRequest request, JobEvents events, Consumer<EngineJob> loop) {
        synchronized (lock) {
            if (!accepting) {
                throw new NotReadyException("the service is shutting down");
            }
            if (!places.tryAcquire()) {
                observer.rejected("queue_full");
                long perJob = Math.max(1, recentJobMillis);
                throw new QueueFullException(capacity, Math.max(1, (perJob * capacity / Math.max(1, maxBatchRows / 2)) / 1000));
            }
            int ahead = admitted.getAndIncrement();
            Served models = current; // the job runs start to end on the models in service now
            models.jobAdmitted();
            EngineJob job = new EngineJob(request, sequence.incrementAndGet(), events, models);
            unanswered.add(job);
            ScheduledFuture<?> expiry = timers.schedule(() -> job.future.completeExceptionally(new DeadlineExceededException(
                    "the deadline passed while the job was " + job.state().description())),
                    request.deadlineNanos() - System.nanoTime(), TimeUnit.NANOSECONDS);
            job.future.whenComplete((r, e) -> {
                expiry.cancel(false);
                unanswered.remove(job);
                admitted.decrementAndGet();
                places.release();
                models.jobAnswered();
            });
            job.tell(e -> e.queued(ahead));
            loop.accept(job);
            return job;
        }
    }

    /** The models new jobs are pinned to. */
    BestOfN current() {
        return current.bestOfN;
    }

    /** Pins every job from now on to {@code next}; the replaced set is released once nothing runs on it. */
    void serve(BestOfN next) {
        Served old;
        synchronized (lock) {
            old = current;
            current = new Served(next, this::releasedSet);
        }
        old.retire();
    }

    void onReleased(Consumer<BestOfN> listener) {
        released = listener;
    }

    private void releasedSet(BestOfN b) {
        try {
            released.accept(b);
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "releasing replaced models failed", e);
        }
    }

    /** Closes the door: admitted jobs go on; new ones get 503. */
    void stopAccepting() {
        synchronized (lock) {
            accepting = false;
        }
    }

    /** Runs {@code task} after {@code delayNanos} on the deadline timer (nothing once the engine stopped). */
    void schedule(Runnable task, long delayNanos) {
        try {
            timers.schedule(task, delayNanos, TimeUnit.NANOSECONDS);
        } catch (RejectedExecutionException e) {
            // already stopped
        }
    }

    /** Jobs admitted and not yet answered. */
    int admitted() {
        return admitted.get();
    }

    /** The jobs admitted and not answered yet (a live view). */
    Set<EngineJob> unanswered() {
        return unanswered;
    }

    /** A finished job took this long from admission to its answer. */
    void jobTook(long millis) {
        recentJobMillis = millis;
    }

    /** Stops the timers: no deadline or drain fires any more. */
    void shutdown() {
        timers.shutdownNow();
    }
}
