package dev.winnow.onnx;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * The budget that model runs on one thread work under: a deadline, and a stop switch that
 * another thread may pull. Every {@link ModelSession#run} on a thread with an open budget gets
 * its own {@link OrtSession.RunOptions}; when the deadline passes, or {@link #stop()} is called,
 * the run's terminate flag is set and ONNX Runtime abandons it at the next node, so no caller
 * waits on a stuck model call past its deadline and shutdown never leaves a thread in native
 * code. Runs on a thread without a budget (loading, benchmarks) are not limited.
 *
 * <p>Open one with try-with-resources on the thread that runs the models; {@link #stop()} and
 * {@link #terminated()} are safe from any thread.
 */
public final class RunBudget implements AutoCloseable {

    /** Why a budget ended its runs early. */
    public enum Reason { DEADLINE, STOPPED }

    private static final ThreadLocal<RunBudget> CURRENT = new ThreadLocal<>();
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

    /** Runs {@code session} under this budget; the caller closes the result. */
    OrtSession.Result run(OrtSession session, Map<String, OnnxTensor> inputs, Path file) throws OrtException {
        try (OrtSession.RunOptions options = new OrtSession.RunOptions()) {
            synchronized (this) {
                if (reason == null && System.nanoTime() - deadlineNanos >= 0) {
                    reason = Reason.DEADLINE;
                }
                if (reason != null) {
                    throw new RunTerminatedException(reason, file + ": not run: " + describe(reason));
                }
                active = options;
            }
            ScheduledFuture<?> expiry = TIMER.schedule(() -> end(Reason.DEADLINE),
                    deadlineNanos - System.nanoTime(), TimeUnit.NANOSECONDS);
            try {
                return session.run(inputs, options);
            } catch (OrtException e) {
                Reason why = terminated();
                if (why != null) {
                    throw new RunTerminatedException(why, file + ": run terminated: " + describe(why));
                }
                throw e;
            } finally {
                expiry.cancel(false);
                synchronized (this) {
                    active = null; // before the options close, so end() never touches closed options
                }
            }
        }
    }

    private static String describe(Reason why) {
        return why == Reason.DEADLINE ? "the deadline of its work passed" : "the engine stopped it";
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
