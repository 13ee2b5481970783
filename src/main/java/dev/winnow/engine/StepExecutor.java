package dev.winnow.engine;

import dev.winnow.diffusion.DenoisingSlot;
import dev.winnow.diffusion.StepCalls;
import dev.winnow.onnx.RunBudget;
import dev.winnow.onnx.RunTerminatedException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongFunction;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.eclipse.microprofile.faulttolerance.exceptions.CircuitBreakerOpenException;

/**
 * Runs what the {@link StepScheduler} planned, on the loop's thread: encodes prompts, and makes
 * each planned UNet call under a {@link RunBudget} inside the models' {@link Served#call()}, with
 * failure isolation. It decides nothing about which rows go where; it reports what happened.
 */
final class StepExecutor {

    private static final Logger LOG = Logger.getLogger(StepExecutor.class.getName());

    /** One job's candidates in a call. */
    private record Part(EngineJob job, List<DenoisingSlot> slots) {
    }

    /**
     * What a step's calls did.
     *
     * @param calls  the UNet calls that completed (a retry in halves counts each call it made)
     * @param failed the jobs whose call failed, with the answer their caller gets
     */
    record Outcome(int calls, Map<EngineJob, Throwable> failed) {
    }

    private final UnetStepper stepper;
    private final EngineObserver observer;
    private final Budgets budgets;

    StepExecutor(UnetStepper stepper, EngineObserver observer, Budgets budgets) {
        this.stepper = stepper;
        this.observer = observer;
        this.budgets = budgets;
    }

    /**
     * Encodes a job's prompt once and makes its N slots, on the job's models, under its deadline.
     *
     * @throws Throwable whatever encoding threw: the caller answers the job with it
     */
    PreparedJob encode(EngineJob job) throws Throwable {
        RunBudget budget = budgets.open(job.request.deadlineNanos());
        try (Served.Call call = job.served.call()) {
            return PreparedJob.encode(job.served.bestOfN.pipeline(), job.request);
        } finally {
            budgets.close(budget);
        }
    }

    /**
     * Makes a step's planned UNet calls in order (one each, or halves of one that failed).
     *
     * @param jobs the jobs the plan names, by id
     */
    Outcome step(List<StepPlan.Call> calls, LongFunction<EngineJob> jobs) {
        Map<EngineJob, Throwable> failed = new LinkedHashMap<>();
        int made = 0;
        for (StepPlan.Call call : calls) {
            List<Part> parts = new ArrayList<>(call.parts().size());
            for (StepPlan.Part p : call.parts()) {
                EngineJob j = jobs.apply(p.job());
                List<DenoisingSlot> all = j.prepared.slots();
                parts.add(new Part(j, p.slots().stream().map(all::get).toList()));
            }
            made += stepIsolatingFailures(parts, failed);
        }
        return new Outcome(made, failed);
    }

    /**
     * One UNet call for the parts. When a call that holds several jobs fails, the device may be
     * fine and one request at fault (a size or a batch it cannot take): each half is called again
     * on its own, down to single jobs, so the others take their step and only the offender fails.
     * A call that fails advances no slot, so a retry is the same step, not a second one.
     *
     * @return the UNet calls that completed
     */
    private int stepIsolatingFailures(List<Part> parts, Map<EngineJob, Throwable> failed) {
        List<Part> live = parts.stream().filter(p -> !p.job().isAnswered() && !failed.containsKey(p.job())).toList();
        if (live.isEmpty() || budgets.isCut()) {
            return 0;
        }
        List<DenoisingSlot> slots = new ArrayList<>();
        for (Part p : live) {
            slots.addAll(p.slots());
        }
        Served models = live.get(0).job().served;
        Throwable failure;
        RunBudget budget = budgets.openFor(live.stream().map(Part::job).toList());
        try (Served.Call call = models.call()) {
            StepCalls calls = live.size() == 1 ? stepper.step(models.bestOfN.pipeline(), slots)
                    : stepper.stepShared(models.bestOfN.pipeline(), slots);
            for (int i = 0; i < calls.calls(); i++) {
                observer.unetBatch(calls.rows(i));
            }
            return calls.calls();
        } catch (Throwable e) {
            failure = e;
        } finally {
            budgets.close(budget); // before any retry: each call runs under a budget of its own
        }
        Throwable cause = failure instanceof RequestFaultException f && f.getCause() != null ? f.getCause() : failure;
        if (live.size() == 1 || RunTerminatedException.in(cause) != null || cause instanceof CircuitBreakerOpenException) {
            if (live.size() == 1 && RunTerminatedException.in(cause) == null) {
                LOG.log(Level.WARNING, "a UNet call failed; failing its job", cause);
            }
            for (Part p : live) {
                failed.put(p.job(), budgets.answerFor(cause, "the UNet call"));
            }
            return 0;
        }
        LOG.log(Level.FINE, "a UNet call shared by " + live.size() + " jobs failed; retrying them apart", cause);
        int half = live.size() / 2;
        return stepIsolatingFailures(live.subList(0, half), failed)
                + stepIsolatingFailures(live.subList(half, live.size()), failed);
    }
}
