package dev.winnow.engine;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.function.Predicate;

/**
 * The finisher's two queues and the rule for what a free finishing thread takes next. Previews
 * have a lane of their own, ahead of final judging: a job held at its prune point keeps its
 * candidates' rows idle until its previews are judged, so it must not wait behind the final
 * judging of jobs queued before it. Each lane is first come, first served; final judging takes
 * the jobs waiting, up to a bound in images (always at least one job), to judge them together.
 * Thread-safe; holds plain values, so its order is a unit test, and the capacity simulator
 * ({@code dev.winnow.capacity}) drives this same rule in virtual time.
 *
 * @param <P> a preview lane entry
 * @param <F> a final lane entry
 */
public final class FinishingLanes<P, F> {

    /** What a free thread takes: one job's previews, or jobs to judge together; and entries no longer wanted. */
    public record Taken<P, F>(P preview, List<F> finals, List<F> dropped) {
        public boolean isEmpty() {
            return preview == null && finals.isEmpty();
        }
    }

    private record Waiting<F>(F entry, int images) {
    }

    private final int maxImages;
    private final ArrayDeque<P> previews = new ArrayDeque<>();
    private final ArrayDeque<Waiting<F>> finals = new ArrayDeque<>();

    /** @param maxImages the most candidates a thread judges at once (a larger job still goes alone) */
    public FinishingLanes(int maxImages) {
        this.maxImages = Math.max(1, maxImages);
    }

    public synchronized void addPreview(P entry) {
        previews.add(entry);
    }

    public synchronized void addFinal(F entry, int images) {
        finals.add(new Waiting<>(entry, images));
    }

    /** Takes an entry back (its thread could not be started). */
    synchronized boolean remove(Object entry) {
        return previews.remove(entry) || finals.removeIf(w -> w.entry().equals(entry));
    }

    /**
     * The next work: the oldest preview if there is one, else the oldest final entries that
     * {@code wanted} accepts, up to the bound in images. Final entries it refuses on the way
     * (answered meanwhile, or the engine is cut) are taken out and handed back as dropped; they
     * count no images.
     */
    public synchronized Taken<P, F> next(Predicate<F> wanted) {
        P preview = previews.poll();
        if (preview != null) {
            return new Taken<>(preview, List.of(), List.of());
        }
        List<F> batch = new ArrayList<>();
        List<F> dropped = new ArrayList<>();
        int images = 0;
        for (Iterator<Waiting<F>> it = finals.iterator(); it.hasNext(); ) {
            Waiting<F> w = it.next();
            if (!wanted.test(w.entry())) {
                it.remove();
                dropped.add(w.entry());
                continue;
            }
            if (!batch.isEmpty() && images + w.images() > maxImages) {
                break;
            }
            it.remove();
            batch.add(w.entry());
            images += w.images();
        }
        return new Taken<>(null, batch, dropped);
    }

    /** Empties both lanes: what was still waiting when the engine stopped. */
    synchronized List<Object> clear() {
        List<Object> all = new ArrayList<>(previews);
        finals.forEach(w -> all.add(w.entry()));
        previews.clear();
        finals.clear();
        return all;
    }
}
