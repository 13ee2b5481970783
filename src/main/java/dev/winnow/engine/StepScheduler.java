package dev.winnow.engine;

import dev.winnow.diffusion.UnetCallPlan;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Decides each step of the engine from its jobs' states, as vLLM's scheduler does: which queued
 * jobs are encoded, which answered or expired jobs leave, which jobs are held for their previews
 * and which are handed to finishing, and which candidates share which UNet calls. A pure function
 * of plain data ({@link JobView}) and the time it is given: no model, thread or clock, so every
 * policy is a unit test and a simulator can drive it in virtual time.
 *
 * <p>The policies:
 * <ul>
 * <li><b>Oldest first.</b> Rows go to jobs in admission order, a job's candidates in index order,
 *     until the row budget is spent; the first candidate that does not fit ends the step (at least
 *     one is always taken). A job waits only for jobs admitted before it, so none starves, however
 *     many or large the jobs that come after it.</li>
 * <li><b>One model set and one latent shape per step</b>: the oldest steppable job's; the others
 *     wait for a step of their own (during a live swap, old and new models never share a call).</li>
 * <li><b>Timestep groups.</b> A UNet that takes one timestep for the whole batch gets one call per
 *     distinct timestep, in order of first appearance; one that takes a timestep per row gets one
 *     call for the step.</li>
 * <li><b>Pruning holds.</b> A candidate at its job's undecided prune point takes no step; when all
 *     of the job's candidates are there, its previews go to be judged, and its rows go to others.</li>
 * <li><b>Finishing order.</b> Denoised jobs are handed to the finisher in admission order.</li>
 * </ul>
 */
public final class StepScheduler {

    /**
     * What one step may hold.
     *
     * @param maxBatchRows the most UNet rows of one step (a single candidate with more still goes alone)
     * @param acrossJobs   whether one call may hold several jobs' rows (step-level batching)
     */
    public record Capacity(int maxBatchRows, boolean acrossJobs) {
        public Capacity {
            maxBatchRows = Math.max(1, maxBatchRows);
        }
    }

    private StepScheduler() {
    }

    /**
     * The plan for the next step.
     *
     * @param jobs      every job the loop holds, oldest first
     * @param nowNanos  the time, on the clock of the jobs' deadlines
     */
    public static StepPlan plan(List<JobView> jobs, Capacity capacity, long nowNanos) {
        List<Long> encode = new ArrayList<>();
        List<Long> drop = new ArrayList<>();
        List<StepPlan.Expiry> expire = new ArrayList<>();
        List<Long> previews = new ArrayList<>();
        List<Long> finish = new ArrayList<>();
        List<JobView> steppable = new ArrayList<>();
        for (JobView j : jobs) {
            JobState state = j.state();
            if (state.isTerminal()) {
                drop.add(j.id());
            } else if (state == JobState.QUEUED) {
                encode.add(j.id());
            } else if (state == JobState.DENOISING || state == JobState.WAITING_FOR_PREVIEWS) {
                if (nowNanos - j.deadlineNanos() > 0) {
                    JobView.Slot s = j.firstLive();
                    expire.add(new StepPlan.Expiry(j.id(), s.step(), s.steps()));
                } else if (state == JobState.WAITING_FOR_PREVIEWS) {
                    continue; // held: its slots are all at the prune point
                } else if (j.denoised()) {
                    finish.add(j.id());
                } else if (j.atPrunePoint()) {
                    previews.add(j.id());
                } else {
                    steppable.add(j);
                }
            }
        }
        return new StepPlan(encode, drop, expire, previews, finish, calls(steppable, capacity));
    }

    /** A step's candidates: oldest job first, up to the row budget, of the oldest's models and shape. */
    private static List<StepPlan.Call> calls(List<JobView> jobs, Capacity capacity) {
        List<Taken> batch = new ArrayList<>();
        Object models = null;
        boolean perRowTimesteps = true;
        String shape = null;
        int rows = 0;
        fill:
        for (JobView j : jobs) {
            if (shape != null && !Objects.equals(j.models(), models)) {
                continue;
            }
            for (JobView.Slot s : j.slots()) {
                if (s.done() || s.step() >= j.holdAtStep()) {
                    continue; // done, pruned, or waiting at the prune point for the job's other slots
                }
                if (shape == null) {
                    shape = s.shape();
                    models = j.models();
                    perRowTimesteps = j.perRowTimesteps();
                }
                if (!s.shape().equals(shape)) {
                    break;
                }
                if (rows + s.rows() > capacity.maxBatchRows() && !batch.isEmpty()) {
                    break fill;
                }
                batch.add(new Taken(j.id(), s));
                rows += s.rows();
            }
            if (!capacity.acrossJobs() && !batch.isEmpty()) {
                break;
            }
        }
        if (batch.isEmpty()) {
            return List.of();
        }
        List<List<Taken>> groups = perRowTimesteps ? List.of(batch) : UnetCallPlan.byTimestep(batch, t -> t.slot().timestep());
        List<StepPlan.Call> calls = new ArrayList<>(groups.size());
        for (List<Taken> group : groups) {
            calls.add(new StepPlan.Call(models, partsByJob(group)));
        }
        return calls;
    }

    /** A call's candidates grouped by job, in order of each job's first candidate. */
    private static List<StepPlan.Part> partsByJob(List<Taken> call) {
        Map<Long, List<JobView.Slot>> byJob = new LinkedHashMap<>();
        for (Taken t : call) {
            byJob.computeIfAbsent(t.job(), k -> new ArrayList<>()).add(t.slot());
        }
        List<StepPlan.Part> parts = new ArrayList<>(byJob.size());
        byJob.forEach((job, slots) -> parts.add(new StepPlan.Part(job, slots.stream().map(JobView.Slot::index).toList(),
                slots.stream().mapToInt(JobView.Slot::rows).sum())));
        return parts;
    }

    /** A candidate taken into the step. */
    private record Taken(long job, JobView.Slot slot) {
    }
}
