package dev.winnow.engine;

import java.util.List;

/**
 * What the {@link StepScheduler} knows of a job: plain data, taken from the job before each plan,
 * with no model, tensor, thread or clock in it (so a test, or a simulator, can write one by hand).
 *
 * @param id              the job's admission sequence: lower is older
 * @param state           where the job is ({@link JobState#isTerminal() an end} once answered)
 * @param models          the model set the job is pinned to (any value: only compared with
 *                        {@code equals}); one UNet call holds rows of one set
 * @param perRowTimesteps whether that set's UNet takes a timestep per row (else rows at different
 *                        timesteps need calls of their own)
 * @param deadlineNanos   the job's deadline on the clock the plan is given
 * @param holdAtStep      the step count no slot may pass yet: the next prune point while a
 *                        pruning decision of the job is pending, else {@link Integer#MAX_VALUE}
 * @param slots           its candidates in index order (none before its prompt is encoded)
 */
public record JobView(long id, JobState state, Object models, boolean perRowTimesteps, long deadlineNanos,
                      int holdAtStep, List<Slot> slots) {

    public JobView {
        slots = List.copyOf(slots);
    }

    /**
     * One candidate as the scheduler sees it.
     *
     * @param shape    its latent shape: one UNet call holds one shape
     * @param rows     the UNet rows a step takes (2 with classifier-free guidance)
     * @param step     the steps taken
     * @param steps    the steps it takes in all
     * @param timestep the timestep of its next step (NaN once done)
     * @param done     every step taken, or pruned
     * @param pruned   dropped at a prune point
     */
    public record Slot(int index, String shape, int rows, int step, int steps, double timestep, boolean done,
                       boolean pruned) {
    }

    /** Every candidate is denoised (or pruned): the job is ready to be judged. */
    boolean denoised() {
        for (Slot s : slots) {
            if (!s.done()) {
                return false;
            }
        }
        return !slots.isEmpty();
    }

    /**
     * A pruning decision is pending and every live slot has reached its prune point: their
     * previews can be judged (slots pruned by an earlier decision stopped before it).
     */
    boolean atPrunePoint() {
        if (holdAtStep == Integer.MAX_VALUE || slots.isEmpty()) {
            return false;
        }
        boolean anyLive = false;
        for (Slot s : slots) {
            if (s.pruned()) {
                continue;
            }
            anyLive = true;
            if (s.step() < holdAtStep) {
                return false;
            }
        }
        return anyLive;
    }

    /** The first candidate not pruned (the one a deadline's message counts steps by). */
    Slot firstLive() {
        return slots.stream().filter(s -> !s.pruned()).findFirst().orElse(slots.get(0));
    }
}
