package dev.winnow.engine;

import java.util.List;

/**
 * What the engine does in one step, as the {@link StepScheduler} decided it: jobs by their id,
 * candidates by their index; nothing here runs anything.
 *
 * @param encode   queued jobs whose prompts are encoded now, oldest first (they join the next plan)
 * @param drop     answered jobs (cancelled, expired, cut) that leave the loop, their slots with them
 * @param expire   jobs whose deadline passed while denoising or held for previews
 * @param previews jobs held at their prune point whose x̂₀ previews go to be judged now
 * @param finish   denoised jobs handed to the finisher, in the order they are to be judged
 * @param calls    the UNet calls of this step, in order; each holds rows of one model set and shape
 */
public record StepPlan(List<Long> encode, List<Long> drop, List<Expiry> expire, List<Long> previews,
                       List<Long> finish, List<Call> calls) {

    public StepPlan {
        encode = List.copyOf(encode);
        drop = List.copyOf(drop);
        expire = List.copyOf(expire);
        previews = List.copyOf(previews);
        finish = List.copyOf(finish);
        calls = List.copyOf(calls);
    }

    /** A job whose deadline passed after {@code step} of {@code steps} steps. */
    public record Expiry(long job, int step, int steps) {
    }

    /** One UNet call: the rows of one or more jobs, oldest job first. */
    public record Call(Object models, List<Part> parts) {
        public Call {
            parts = List.copyOf(parts);
        }

        /** The call's UNet rows. */
        public int rows() {
            return parts.stream().mapToInt(Part::rows).sum();
        }
    }

    /** One job's candidates in a call, in index order, and the rows they take. */
    public record Part(long job, List<Integer> slots, int rows) {
        public Part {
            slots = List.copyOf(slots);
        }
    }

    /** No UNet call in this step: nothing will change until a message comes (an admission, a judgement). */
    public boolean stepsNothing() {
        return calls.isEmpty();
    }
}
