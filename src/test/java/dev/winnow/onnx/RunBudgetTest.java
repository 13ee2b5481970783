package dev.winnow.onnx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A model call stuck far past its deadline is terminated by ONNX Runtime's run options, and a
 * stopped budget ends its run at once. The slow model would run for tens of seconds (minutes
 * on a busy two-core machine) if nothing stopped it.
 */
class RunBudgetTest {

    static OnnxSessions sessions;
    static SlowModel slow;

    @BeforeAll
    static void open() throws Exception {
        sessions = OnnxSessions.create(DeviceChoice.CPU, 2, 0);
        slow = SlowModel.open(sessions, 1024, 2000); // ~50 s here unstopped; ~10 s on a fast machine
    }

    @AfterAll
    static void close() {
        slow.close();
    }

    @Test
    void aModelCallPastItsDeadlineIsTerminatedInsteadOfRunningToTheEnd() {
        long start = System.nanoTime();
        RunTerminatedException e;
        try (RunBudget budget = RunBudget.open(start + TimeUnit.MILLISECONDS.toNanos(300))) {
            e = assertThrows(RunTerminatedException.class, slow::run);
            assertEquals(RunBudget.Reason.DEADLINE, budget.terminated());
        }
        long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertEquals(RunBudget.Reason.DEADLINE, e.reason());
        assertTrue(tookMs >= 250 && tookMs < 2500, "terminated soon after its 300 ms deadline, took " + tookMs + " ms");
    }

    @Test
    void stoppingABudgetFromAnotherThreadEndsItsRunningCallAtOnce() throws Exception {
        RunBudget[] opened = new RunBudget[1];
        CompletableFuture<Throwable> outcome = new CompletableFuture<>();
        Thread runner = new Thread(() -> {
            try (RunBudget budget = RunBudget.open(System.nanoTime() + TimeUnit.MINUTES.toNanos(10))) {
                synchronized (opened) {
                    opened[0] = budget;
                    opened.notifyAll();
                }
                slow.run();
                outcome.complete(null);
            } catch (Throwable t) {
                outcome.complete(t);
            }
        });
        runner.start();
        synchronized (opened) {
            while (opened[0] == null) {
                opened.wait();
            }
        }
        Thread.sleep(300); // well inside the run
        long stopAt = System.nanoTime();
        opened[0].stop();
        Throwable t = outcome.get(10, TimeUnit.SECONDS);
        long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - stopAt);
        assertTrue(t instanceof RunTerminatedException, "the run was terminated: " + t);
        assertEquals(RunBudget.Reason.STOPPED, ((RunTerminatedException) t).reason());
        assertTrue(tookMs < 2000, "the run ended " + tookMs + " ms after stop()");
        runner.join(5000);
    }

    @Test
    void aStoppedBudgetRefusesLaterRunsAndAThreadWithoutABudgetIsNotLimited() throws Exception {
        try (RunBudget budget = RunBudget.open(System.nanoTime() + TimeUnit.MINUTES.toNanos(1))) {
            budget.stop();
            RunTerminatedException e = assertThrows(RunTerminatedException.class, slow::run);
            assertEquals(RunBudget.Reason.STOPPED, e.reason());
        }
        assertNull(RunBudget.current(), "closing the budget leaves the thread without one");
        try (SlowModel quick = SlowModel.open(sessions, 8, 2)) {
            quick.run();
        }
    }
}
