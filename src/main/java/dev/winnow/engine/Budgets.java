package dev.winnow.engine;

import dev.winnow.onnx.RunBudget;
import dev.winnow.onnx.RunTerminatedException;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.eclipse.microprofile.faulttolerance.exceptions.CircuitBreakerOpenException;

/**
 * The {@link RunBudget}s of the model calls in progress (the loop's and the finishing threads'),
 * the cut that stops them all (the drain's time is up, or the engine stops), and what a job's
 * caller is told when its work failed. Thread-safe.
 */
final class Budgets {

    private final Set<RunBudget> open = ConcurrentHashMap.newKeySet();
    /** Set when the drain's time is up or the engine stops: no model call starts any more. */
    private volatile boolean cut;
    private volatile String cutReason = "the engine stopped before the job finished";

    /** A budget until {@code deadlineNanos} for the calling thread's model calls; stopped at once after a cut. */
    RunBudget open(long deadlineNanos) {
        RunBudget b = RunBudget.open(deadlineNanos);
        open.add(b);
        if (cut) {
            b.stop();
        }
        return b;
    }

    /** Closes a budget {@link #open} gave, on the thread that opened it. */
    void close(RunBudget b) {
        b.close();
        open.remove(b);
    }

    /**
     * A budget for a call made for {@code jobs}, stopped once every one of them is answered (its
     * client gone, its deadline passed, the drain over), so that a model call nobody waits for any
     * more ends at once and frees its thread, rather than running on to its deadline. Stopping a
     * budget that has been closed meanwhile does nothing; the jobs' answers are already given.
     */
    RunBudget openFor(List<EngineJob> jobs) {
        long deadline = jobs.get(0).request.deadlineNanos();
        for (EngineJob j : jobs) {
            deadline = Math.max(deadline, j.request.deadlineNanos()); // no job's call is cut before its own deadline
        }
        RunBudget b = open(deadline);
        AtomicInteger waiting = new AtomicInteger(jobs.size());
        for (EngineJob j : jobs) {
            j.future.whenComplete((r, e) -> {
                if (waiting.decrementAndGet() == 0) {
                    b.stop();
                }
            });
        }
        return b;
    }

    /** No model call starts from now on; {@link #stopAll} then stops those running. */
    void cut(String why) {
        cutReason = why;
        cut = true;
    }

    /** Terminates every model call in progress. */
    void stopAll() {
        open.forEach(RunBudget::stop);
    }

    boolean isCut() {
        return cut;
    }

    /** Why the engine was cut, for the jobs it leaves unanswered. */
    String cutReason() {
        return cutReason;
    }

    /** What a job's caller gets when its work threw {@code e} in {@code stage}. */
    Throwable answerFor(Throwable e, String stage) {
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

    /** What a job's caller gets when its model call was terminated for {@code reason}. */
    Throwable answerFor(RunBudget.Reason reason) {
        return reason == RunBudget.Reason.DEADLINE
                ? new DeadlineExceededException("the deadline passed during a model call; the call was stopped")
                : new NotReadyException(cutReason);
    }
}
