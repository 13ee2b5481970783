package dev.winnow.onnx;

import ai.onnxruntime.OnnxTensorLike;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * The budget that model runs on one thread work under: a deadline, and a stop switch that
 * another thread may pull. Every {@link ModelSession#run} on a thread with an open budget runs
 * with {@link OrtSession.RunOptions}; when the deadline passes, or {@link #stop()} is called,
 * the run's terminate flag is set and ONNX Runtime abandons it at the next node, so no caller
 * waits on a stuck model call past its deadline and shutdown never leaves a thread in native
 * code. Runs on a thread without a budget (loading, benchmarks) are not limited.
 *
 * <p>Cheap per run: each thread keeps one {@code RunOptions} for its runs (replaced only after
 * a terminate flag was set on it), and one deadline timer that is armed again only when a run's
 * deadline is earlier than the one it is set for (a timer that fires early checks the run in
 * progress and sets itself for that run's deadline). A loop that steps under a new budget with
 * the same deadline every few milliseconds schedules nothing and wakes no timer thread.
 *
 * <p>Open one with try-with-resources on the thread that runs the models; {@link #stop()} and
 * {@link #terminated()} are safe from any thread.
 */
public final class RunBudget implements AutoCloseable {

    /** Why a budget ended its runs early. */
    public enum Reason { DEADLINE, STOPPED }

    private static final ThreadLocal<RunBudget> CURRENT = new ThreadLocal<>();
    /** Each thread's run options, reused from run to run while no terminate flag was set on them. */
    private static final ThreadLocal<OrtSession.RunOptions> SPARE_OPTIONS = new ThreadLocal<>();
    /** Each thread's deadline timer. */
    private static final ThreadLocal<Watch> WATCH = ThreadLocal.withInitial(Watch::new);
    private static final ScheduledThreadPoolExecutor TIMER = timer();

    private final long deadlineNanos;
    private final RunBudget previous;
    private final Thread owner;
    /** The run in progress, or null; guarded by this. */
    private OrtSession.RunOptions active;
    /** Set once, when the budget ends its runs; guarded by this. */
    private Reason reason;

    private RunBudget(long deadlineNanos, RunBudget previous) {
        this.deadlineNanos = deadlineNanos;
        this.previous = previous;
        this.owner = Thread.currentThread();
    }

    private static ScheduledThreadPoolExecutor timer() {
        ScheduledThreadPoolExecutor t = new ScheduledThreadPoolExecutor(1, r -> {
            Thread th = Executors.defaultThreadFactory().newThread(r);
            th.setName("winnow-run-deadlines");
            th.setDaemon(true);
            return th;
        });
        t.setRemoveOnCancelPolicy(true);
        return t;
    }

    /**
     * Opens a budget for the model runs of the calling thread until it is closed.
     *
     * @param deadlineNanos {@link System#nanoTime()} after which runs are terminated
     */
    public static RunBudget open(long deadlineNanos) {
        RunBudget b = new RunBudget(deadlineNanos, CURRENT.get());
        CURRENT.set(b);
        return b;
    }

    /** The budget open on the calling thread, or null. */
    static RunBudget current() {
        return CURRENT.get();
    }

    /** Terminates the run in progress, if any, and refuses every later run under this budget. */
    public void stop() {
        end(Reason.STOPPED);
    }

    /** Why the budget ended its runs, or null while it has not. */
    public synchronized Reason terminated() {
        return reason;
    }

    private synchronized void end(Reason why) {
        if (reason == null) {
            reason = why;
        }
        if (active != null) {
            try {
                active.setTerminate(true);
            } catch (OrtException e) {
                // the run ends on its own; nothing else to do
            }
        }
    }

    /** Runs {@code model} under this budget; the caller closes the result. */
    OrtSession.Result run(ModelSession model, Map<String, ? extends OnnxTensorLike> inputs,
                          Map<String, ? extends OnnxValue> pinnedOutputs) throws OrtException {
        OrtSession.RunOptions options = SPARE_OPTIONS.get();
        if (options == null) {
            options = new OrtSession.RunOptions();
        } else {
            SPARE_OPTIONS.remove();
        }
        boolean flagged = false;
        try {
            synchronized (this) {
                if (reason == null && System.nanoTime() - deadlineNanos >= 0) {
                    reason = Reason.DEADLINE;
                }
                if (reason != null) {
                    throw new RunTerminatedException(reason, model.file() + ": not run: " + describe(reason));
                }
                active = options;
            }
            Watch watch = WATCH.get();
            watch.arm(this); // outside this budget's lock: the timer takes the watch's lock, then this one's
            try {
                return model.runTimed(inputs, pinnedOutputs, options);
            } catch (OrtException e) {
                Reason why = terminated();
                if (why != null) {
                    throw new RunTerminatedException(why, model.file() + ": run terminated: " + describe(why));
                }
                throw e;
            } finally {
                watch.disarm();
                synchronized (this) {
                    active = null; // before the options are reused or closed, so end() never touches them again
                    flagged = reason != null;
                }
            }
        } finally {
            if (flagged || SPARE_OPTIONS.get() != null) {
                options.close(); // its terminate flag may be set: never reused
            } else {
                SPARE_OPTIONS.set(options);
            }
        }
    }

    private static String describe(Reason why) {
        return why == Reason.DEADLINE ? "the deadline of its work passed" : "the engine stopped it";
    }

    /**
     * One thread's deadline timer: while a run is in progress, it fires no later than that run's
     * budget's deadline and then ends the budget if its deadline has passed, or sets itself for
     * the deadline of whatever run is in progress then.
     */
    private static final class Watch {
        /** The budget of the run in progress on the thread, or null; guarded by this. */
        private RunBudget running;
        private ScheduledFuture<?> timer;
        private long timerAt;
        /** Which timer is current: a cancelled one that fires anyway does nothing. */
        private long generation;

        synchronized void arm(RunBudget budget) {
            running = budget;
            if (timer == null || timerAt - budget.deadlineNanos > 0) {
                if (timer != null) {
                    timer.cancel(false);
                }
                schedule(budget.deadlineNanos);
            }
        }

        synchronized void disarm() {
            running = null; // the timer stays set: the next run is likely to have the same deadline
        }

        private void schedule(long at) {
            long mine = ++generation;
            timerAt = at;
            timer = TIMER.schedule(() -> fire(mine), at - System.nanoTime(), TimeUnit.NANOSECONDS);
        }

        private synchronized void fire(long which) {
            if (which != generation) {
                return; // replaced by an earlier deadline's timer
            }
            timer = null;
            RunBudget b = running;
            if (b == null) {
                return; // no run in progress: the next one sets the timer again
            }
            if (System.nanoTime() - b.deadlineNanos >= 0) {
                b.end(Reason.DEADLINE);
            } else {
                schedule(b.deadlineNanos);
            }
        }
    }

    @Override
    public void close() {
        if (Thread.currentThread() == owner) {
            if (previous == null) {
                CURRENT.remove();
            } else {
                CURRENT.set(previous);
            }
        }
    }
}
