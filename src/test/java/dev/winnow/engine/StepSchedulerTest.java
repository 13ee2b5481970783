package dev.winnow.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The step scheduler's policies on plain data: no model, no thread, no clock but the one it is
 * given. A small simulator ({@link Sim}) steps the planned candidates, as the executor would.
 */
class StepSchedulerTest {

    static final String SHAPE = "4x8x8";
    static final long FAR = Long.MAX_VALUE / 2;
    static final StepScheduler.Capacity ROWS_16 = new StepScheduler.Capacity(16, true);

    /** A candidate at {@code step} of {@code steps}, guided (2 rows), at the timestep a DDIM-like schedule gives that step. */
    static JobView.Slot slot(int index, int step, int steps) {
        return slot(index, step, steps, 2, SHAPE);
    }

    static JobView.Slot slot(int index, int step, int steps, int rows, String shape) {
        boolean done = step >= steps;
        return new JobView.Slot(index, shape, rows, step, steps, done ? Double.NaN : 1000.0 * (steps - step) / steps, done,
                false);
    }

    /** A denoising job of {@code n} guided candidates all at {@code step}, on models "A". */
    static JobView job(long id, int n, int step, int steps) {
        List<JobView.Slot> slots = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            slots.add(slot(i, step, steps));
        }
        return new JobView(id, JobState.DENOISING, "A", true, FAR, Integer.MAX_VALUE, slots);
    }

    static JobView with(JobView j, JobState state) {
        return new JobView(j.id(), state, j.models(), j.perRowTimesteps(), j.deadlineNanos(), j.holdAtStep(), j.slots());
    }

    static JobView on(JobView j, Object models, boolean perRowTimesteps) {
        return new JobView(j.id(), j.state(), models, perRowTimesteps, j.deadlineNanos(), j.holdAtStep(), j.slots());
    }

    static JobView heldAt(JobView j, int hold) {
        return new JobView(j.id(), j.state(), j.models(), j.perRowTimesteps(), j.deadlineNanos(), hold, j.slots());
    }

    /** Each call as "job:slot,slot job:slot" strings, in order. */
    static List<String> calls(StepPlan plan) {
        List<String> out = new ArrayList<>();
        for (StepPlan.Call c : plan.calls()) {
            StringBuilder sb = new StringBuilder();
            for (StepPlan.Part p : c.parts()) {
                sb.append(sb.length() == 0 ? "" : " ").append(p.job()).append(':');
                sb.append(String.join(",", p.slots().stream().map(String::valueOf).toList()));
            }
            out.add(sb.toString());
        }
        return out;
    }

    @Test
    void rowsGoToTheOldestJobsFirstUpToTheBudget() {
        StepPlan plan = StepScheduler.plan(List.of(job(1, 2, 0, 10), job(2, 4, 3, 10), job(3, 4, 0, 10)), ROWS_16, 0);
        assertEquals(List.of("1:0,1 2:0,1,2,3 3:0,1"), calls(plan), "4 + 8 + 4 rows: job 3's third candidate would be the 17th and 18th");
        assertEquals(16, plan.calls().get(0).rows());
        assertTrue(plan.encode().isEmpty() && plan.finish().isEmpty() && plan.previews().isEmpty());
    }

    @Test
    void aCandidateThatDoesNotFitEndsTheStepSoNoYoungerJobOvertakesAnOlderOne() {
        JobView unguided = new JobView(3, JobState.DENOISING, "A", true, FAR, Integer.MAX_VALUE, List.of(slot(0, 0, 10, 1, SHAPE)));
        StepPlan plan = StepScheduler.plan(List.of(job(1, 1, 0, 10), job(2, 2, 0, 10), unguided),
                new StepScheduler.Capacity(5, true), 0);
        assertEquals(List.of("1:0 2:0"), calls(plan), "job 3's one row would fit, but job 2's second candidate comes first");
    }

    @Test
    void aCandidateLargerThanTheBudgetStillGoesAloneRatherThanNever() {
        StepPlan plan = StepScheduler.plan(List.of(job(1, 3, 0, 10)), new StepScheduler.Capacity(1, true), 0);
        assertEquals(List.of("1:0"), calls(plan));
    }

    @Test
    void withoutStepLevelBatchingACallHoldsOneJob() {
        StepPlan plan = StepScheduler.plan(List.of(job(1, 2, 0, 10), job(2, 2, 0, 10)), new StepScheduler.Capacity(16, false), 0);
        assertEquals(List.of("1:0,1"), calls(plan));
    }

    @Test
    void aStepHoldsTheOldestJobsModelsAndShapeOnly() {
        JobView other = on(job(2, 2, 0, 10), "B", true); // admitted before a live swap finished: the old models
        JobView bigger = new JobView(3, JobState.DENOISING, "A", true, FAR, Integer.MAX_VALUE,
                List.of(slot(0, 0, 10, 2, "4x16x16")));
        StepPlan plan = StepScheduler.plan(List.of(job(1, 1, 0, 10), other, bigger, job(4, 1, 0, 10)), ROWS_16, 0);
        assertEquals(List.of("1:0 4:0"), calls(plan));
        assertEquals("A", plan.calls().get(0).models());
        // once the oldest is done, the next oldest's models and shape have the step
        plan = StepScheduler.plan(List.of(other, bigger, job(4, 1, 0, 10)), ROWS_16, 0);
        assertEquals(List.of("2:0,1"), calls(plan));
        assertEquals("B", plan.calls().get(0).models());
    }

    @Test
    void aUnetWithOneTimestepGetsOneCallPerTimestepInOrderOfFirstAppearance() {
        List<JobView> jobs = List.of(on(job(1, 2, 3, 10), "A", false), on(job(2, 1, 0, 10), "A", false),
                on(job(3, 1, 3, 10), "A", false), on(job(4, 1, 5, 8), "A", false));
        assertEquals(List.of("1:0,1 3:0", "2:0", "4:0"), calls(StepScheduler.plan(jobs, ROWS_16, 0)));
        List<JobView> perRow = jobs.stream().map(j -> on(j, "A", true)).toList();
        assertEquals(List.of("1:0,1 2:0 3:0 4:0"), calls(StepScheduler.plan(perRow, ROWS_16, 0)),
                "a timestep per row: the whole step in one call");
    }

    @Test
    void aJobAtItsPrunePointIsHeldItsPreviewsGoOutAndItsRowsGoToOthers() {
        JobView arriving = heldAt(new JobView(1, JobState.DENOISING, "A", true, FAR, 3,
                List.of(slot(0, 3, 10), slot(1, 2, 10), slot(2, 3, 10))), 3);
        StepPlan plan = StepScheduler.plan(List.of(arriving, job(2, 8, 0, 10)), ROWS_16, 0);
        assertEquals(List.of("1:1 2:0,1,2,3,4,5,6"), calls(plan), "only the candidate short of the prune point steps");
        assertTrue(plan.previews().isEmpty(), "not every candidate is there yet");

        JobView there = heldAt(job(1, 3, 3, 10), 3);
        plan = StepScheduler.plan(List.of(there, job(2, 8, 0, 10)), ROWS_16, 0);
        assertEquals(List.of(1L), plan.previews(), "every candidate at the prune point: its previews are judged");
        assertEquals(List.of("2:0,1,2,3,4,5,6,7"), calls(plan), "the held job's rows go to the next job");

        plan = StepScheduler.plan(List.of(with(there, JobState.WAITING_FOR_PREVIEWS), job(2, 8, 0, 10)), ROWS_16, 0);
        assertTrue(plan.previews().isEmpty(), "previews already out are not sent again");
        assertEquals(List.of("2:0,1,2,3,4,5,6,7"), calls(plan));

        JobView decided = heldAt(job(1, 3, 3, 10), Integer.MAX_VALUE); // pruned (or kept whole): the hold is lifted
        assertEquals(List.of("1:0,1,2"), calls(StepScheduler.plan(List.of(decided), ROWS_16, 0)));
    }

    @Test
    void prunedCandidatesTakeNoRows() {
        JobView pruned = new JobView(1, JobState.DENOISING, "A", true, FAR, Integer.MAX_VALUE, List.of(
                new JobView.Slot(0, SHAPE, 2, 4, 10, 600, true, true), slot(1, 4, 10),
                new JobView.Slot(2, SHAPE, 2, 4, 10, 600, true, true)));
        assertEquals(List.of("1:1"), calls(StepScheduler.plan(List.of(pruned), ROWS_16, 0)));
    }

    @Test
    void denoisedJobsAreHandedToFinishingInAdmissionOrder() {
        StepPlan plan = StepScheduler.plan(List.of(job(1, 2, 10, 10), job(2, 1, 4, 10), job(3, 4, 10, 10)), ROWS_16, 0);
        assertEquals(List.of(1L, 3L), plan.finish());
        assertEquals(List.of("2:0"), calls(plan));
    }

    @Test
    void queuedJobsAreEncodedAnsweredOnesDroppedAndLateOnesExpired() {
        JobView queued = new JobView(1, JobState.QUEUED, "A", true, 100, Integer.MAX_VALUE, List.of());
        JobView cancelled = with(job(2, 2, 3, 10), JobState.CANCELLED);
        JobView late = new JobView(3, JobState.DENOISING, "A", true, 100, Integer.MAX_VALUE, List.of(
                new JobView.Slot(0, SHAPE, 2, 4, 10, 600, true, true), slot(1, 5, 10)));
        JobView lateAndHeld = with(new JobView(4, JobState.DENOISING, "A", true, 100, 3, List.of(slot(0, 3, 10))),
                JobState.WAITING_FOR_PREVIEWS);
        JobView beingJudged = with(job(5, 1, 10, 10), JobState.FINISHING); // the finisher's, not the scheduler's
        StepPlan plan = StepScheduler.plan(List.of(queued, cancelled, late, lateAndHeld, beingJudged, job(6, 1, 0, 10)),
                ROWS_16, 101);
        assertEquals(List.of(1L), plan.encode(), "a queued job is encoded; its deadline is the timer's");
        assertEquals(List.of(2L), plan.drop());
        assertEquals(List.of(new StepPlan.Expiry(3, 5, 10), new StepPlan.Expiry(4, 3, 10)), plan.expire(),
                "counted by the first candidate not pruned");
        assertTrue(plan.finish().isEmpty());
        assertEquals(List.of("6:0"), calls(plan));
        assertEquals(List.of(), StepScheduler.plan(List.of(late), ROWS_16, 100).expire(), "not before its deadline");
    }

    @Test
    void noJobStarvesUnderAStreamOfLargerOnes() {
        // A one-candidate job, then every step another job that alone fills the step's 16 rows.
        Sim sim = new Sim(ROWS_16);
        sim.admit(1, 1, 10);
        long next = 2;
        for (int step = 0; step < 10; step++) {
            sim.admit(next++, 8, 10);
            StepPlan plan = sim.step();
            assertTrue(calls(plan).get(0).startsWith("1:0"), "step " + step + ": the small job steps first: " + calls(plan));
        }
        assertEquals(List.of(1L), sim.finished, "the small job took its 10 steps in 10 steps of the stream");
    }

    @Test
    void noJobStarvesUnderAStreamOfSmallerOnesEither() {
        // A job larger than a step, then a stream of small ones: it takes its rows every step until it is done.
        Sim sim = new Sim(ROWS_16);
        sim.admit(1, 12, 4); // 24 rows: 8 candidates a step
        long next = 2;
        int steps = 0;
        while (!sim.finished.contains(1L)) {
            sim.admit(next++, 1, 4);
            StepPlan plan = sim.step();
            assertTrue(calls(plan).get(0).startsWith("1:"), "the large job steps first: " + calls(plan));
            steps++;
        }
        assertEquals(8, steps, "12 candidates x 4 steps at 8 candidates a step (its last 4 share the rows left)");
        assertEquals(2L, sim.finished.get(1), "then the oldest of the stream, which had its rows alongside");
    }

    /** The executor's part, played with plain data: every planned candidate takes its step; denoised jobs leave. */
    static final class Sim {
        final StepScheduler.Capacity capacity;
        final Map<Long, int[]> steps = new LinkedHashMap<>();
        final Map<Long, Integer> total = new LinkedHashMap<>();
        final List<Long> finished = new ArrayList<>();

        Sim(StepScheduler.Capacity capacity) {
            this.capacity = capacity;
        }

        void admit(long id, int n, int steps) {
            this.steps.put(id, new int[n]);
            total.put(id, steps);
        }

        StepPlan step() {
            List<JobView> views = new ArrayList<>();
            steps.forEach((id, at) -> {
                List<JobView.Slot> slots = new ArrayList<>();
                for (int i = 0; i < at.length; i++) {
                    slots.add(slot(i, at[i], total.get(id)));
                }
                views.add(new JobView(id, JobState.DENOISING, "A", true, FAR, Integer.MAX_VALUE, slots));
            });
            StepPlan plan = StepScheduler.plan(views, capacity, 0);
            for (StepPlan.Call c : plan.calls()) {
                for (StepPlan.Part p : c.parts()) {
                    p.slots().forEach(i -> steps.get(p.job())[i]++);
                }
            }
            steps.entrySet().removeIf(e -> {
                boolean done = java.util.Arrays.stream(e.getValue()).allMatch(s -> s >= total.get(e.getKey()));
                if (done) {
                    finished.add(e.getKey());
                }
                return done;
            });
            return plan;
        }
    }
}
