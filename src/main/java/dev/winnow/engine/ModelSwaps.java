package dev.winnow.engine;

import dev.winnow.diffusion.DiffusionPipeline;
import dev.winnow.modelpack.ModelFolder;
import dev.winnow.modelpack.ModelVersion;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;

/**
 * The model sets in service and how a new version replaces one live, as Triton's model control
 * does: the configured folders are checked (on request, or every
 * {@code winnow.models.poll-interval}); when one leads to a new version, a new set is loaded
 * beside the one in service (models whose folder did not change are shared, not loaded again),
 * warmed up with one generation, and only then given every new job. Jobs already admitted finish
 * on the set they started on, so the same seed still gives the same image from the same version;
 * the old set's models are closed when its last job is answered and its last call has returned.
 * A version that fails to load or warm up, or that the memory budget cannot hold beside the
 * versions in memory, is refused with a log line and a counter, and the set in service stays.
 * Readiness never changes. Thread-safe.
 */
final class ModelSwaps {

    private static final Logger LOG = Logger.getLogger(ModelSwaps.class.getName());

    private final WinnowConfig config;
    private final ModelSetLoader loader;
    private final EngineLoop loop;
    private final EngineObserver observer;
    private final long budgetBytes;
    private volatile ModelSet current;
    /** Guarded by this: replaced sets whose jobs are still running, by their best-of-N. */
    private final Map<BestOfN, ModelSet> retiring = new IdentityHashMap<>();
    /** Guarded by this: the folders a poll saw change, waiting to be seen the same once more. */
    private Map<String, String> settling;
    /** Guarded by this: the identities last refused or failed, so a poll does not retry (and recount) them. */
    private Map<String, String> turnedDown;
    private ModelReload turnedDownResult;
    private ScheduledExecutorService poller;
    /** Closes released sets' models: never on the engine loop's thread, which must not wait for a swap's lock. */
    private final java.util.concurrent.ExecutorService closer = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "winnow-model-close");
        t.setDaemon(true);
        return t;
    });

    ModelSwaps(WinnowConfig config, ModelSetLoader loader, EngineLoop loop, ModelSet first, EngineObserver observer) {
        this.config = config;
        this.loader = loader;
        this.loop = loop;
        this.observer = observer;
        this.current = first;
        this.budgetBytes = config.models().memoryBudget().map(m -> m.asLongValue()).orElse(2 * first.bytes());
        loop.onReleased(b -> closer.execute(() -> released(b)));
    }

    ModelSet current() {
        return current;
    }

    /** The set in service and the replaced ones still finishing jobs. */
    synchronized int liveSets() {
        return 1 + retiring.size();
    }

    /** Checks the configured folders every {@code winnow.models.poll-interval}, when set. */
    void startPolling() {
        config.models().pollInterval().filter(d -> !d.isZero() && !d.isNegative()).ifPresent(every -> {
            poller = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "winnow-model-poll");
                t.setDaemon(true);
                return t;
            });
            long ms = Math.max(100, every.toMillis());
            poller.scheduleWithFixedDelay(() -> {
                try {
                    reload(true);
                } catch (RuntimeException e) {
                    LOG.warning("checking the model folders failed: " + e);
                }
            }, ms, ms, TimeUnit.MILLISECONDS);
            LOG.info("checking the model folders for new versions every " + ms + " ms");
        });
    }

    void stopPolling() {
        if (poller != null) {
            poller.shutdownNow();
        }
    }

    /**
     * Looks at the configured folders and swaps in whatever changed.
     *
     * @param settle whether a change must be seen the same at two successive calls first (polling:
     *               a folder may still be being copied); an operator's request acts at once
     */
    synchronized ModelReload reload(boolean settle) {
        Map<String, ModelFolder> folders = null;
        Map<String, String> seen;
        String unreadable = null;
        try {
            folders = loader.folders();
            seen = identities(folders);
        } catch (RuntimeException e) {
            unreadable = "a configured model path cannot be read, so the version in service stays: " + e.getMessage();
            seen = Map.of("unreadable", unreadable);
        }
        List<String> changed = new ArrayList<>();
        if (folders != null) {
            seen.forEach((role, identity) -> {
                ModelFolder before = current.folders().get(role);
                if (before == null || !before.identity().equals(identity)) {
                    changed.add(role);
                }
            });
            if (changed.isEmpty()) {
                settling = null;
                turnedDown = null;
                return new ModelReload(ModelReload.Outcome.UNCHANGED, "every model folder holds the version in service",
                        serving());
            }
        }
        if (settle && !seen.equals(settling)) {
            settling = seen; // seen once: a copy or a flip may still be under way
            return new ModelReload(ModelReload.Outcome.UNCHANGED, "a change is settling: " + changed, serving());
        }
        settling = null;
        if (settle && seen.equals(turnedDown)) {
            return turnedDownResult; // a poll: refused or failed before as it is now, so not tried (or counted) again
        }
        if (unreadable != null) {
            return turnDown(seen, ModelReload.Outcome.FAILED, unreadable);
        }
        long needed = distinctBytes(changed.stream().map(folders::get).toList());
        long resident = residentBytes();
        if (resident + needed > budgetBytes) {
            return turnDown(seen, ModelReload.Outcome.REFUSED, String.format(java.util.Locale.ROOT,
                    "refused to load %s: it needs %d MB beside the %d MB of models in memory, over the budget of %d MB "
                            + "(winnow.models.memory-budget); the version in service stays", changed, needed >> 20,
                    resident >> 20, budgetBytes >> 20));
        }
        ModelSet next;
        long t0 = System.nanoTime();
        try {
            next = loader.load(folders, current);
        } catch (RuntimeException | Error e) {
            return turnDown(seen, ModelReload.Outcome.FAILED, "the new version of " + changed + " did not load, so the version in "
                    + "service stays: " + e.getMessage());
        }
        try {
            warmUp(next);
        } catch (RuntimeException e) {
            closeUnshared(next);
            return turnDown(seen, ModelReload.Outcome.FAILED, "the new version of " + changed + " loaded but failed its warm-up "
                    + "generation, so the version in service stays: " + e.getMessage());
        }
        ModelSet old = current;
        retiring.put(old.bestOfN(), old);
        current = next;
        turnedDown = null;
        loop.serve(next.bestOfN()); // may release the old set at once when it has no job
        observer.modelSwap(ModelReload.Outcome.SWAPPED.wireName());
        observer.modelsChanged();
        String detail = "swapped in " + describe(next, changed) + " after " + (System.nanoTime() - t0) / 1_000_000
                + " ms of loading and warm-up; jobs admitted before finish on " + describe(old, changed);
        LOG.info(detail);
        return new ModelReload(ModelReload.Outcome.SWAPPED, detail, serving());
    }

    /**
     * One generation (one candidate, one step: every model once) on a set not yet in service, run
     * by an engine of its own ({@link EngineLoop#runAlone}), so that no client job runs on the
     * set before its models have all run once.
     */
    private void warmUp(ModelSet set) {
        DiffusionPipeline p = set.bestOfN().pipeline();
        GenerationRequest job = new GenerationRequest("warm-up", "", 1, 1, 5.0, 0, p.defaultSize(), p.defaultSize(),
                "ddim", false, Map.of(), System.nanoTime() + config.engine().defaultDeadline().toNanos());
        try {
            EngineLoop.runAlone(set.bestOfN(), job, config.engine().maxBatchRows()).png();
        } catch (NoSafeCandidateException ok) {
            // a verdict does not matter for a warm-up; a failure does
        }
    }

    /** A version that will not be served: logged and counted once, remembered so that polls do not try it again. */
    private ModelReload turnDown(Map<String, String> seen, ModelReload.Outcome outcome, String detail) {
        LOG.warning(detail);
        observer.modelSwap(outcome.wireName());
        ModelReload r = new ModelReload(outcome, detail, serving());
        turnedDown = seen;
        turnedDownResult = r;
        return r;
    }

    /** The loop released a replaced set: close its models that no set still in memory uses. */
    private synchronized void released(BestOfN b) {
        ModelSet old = retiring.remove(b);
        if (old == null) {
            return;
        }
        Set<AutoCloseable> keep = inUse();
        int closed = 0;
        for (AutoCloseable m : old.distinctModels()) {
            if (!keep.contains(m)) {
                ModelSetLoader.closeQuietly(m);
                closed++;
            }
        }
        observer.modelsChanged();
        LOG.info("the replaced version " + old.pipeline() + " answered its last job; " + closed + " of its models closed");
    }

    /** Closes the models of a set that never went into service, except those the sets in memory share. */
    private void closeUnshared(ModelSet never) {
        Set<AutoCloseable> keep = inUse();
        never.distinctModels().stream().filter(m -> !keep.contains(m)).forEach(ModelSetLoader::closeQuietly);
    }

    /** Every model of the set in service and of the replaced sets still running. */
    private Set<AutoCloseable> inUse() {
        Set<AutoCloseable> keep = Collections.newSetFromMap(new IdentityHashMap<>());
        keep.addAll(current.distinctModels());
        retiring.values().forEach(s -> keep.addAll(s.distinctModels()));
        return keep;
    }

    /** At shutdown, once no thread runs a model: closes every set's models. */
    synchronized void closeAll() {
        stopPolling();
        closer.shutdownNow();
        inUse().forEach(ModelSetLoader::closeQuietly);
        retiring.clear();
    }

    /** What the models in memory (in service and retiring) hold on disk, each folder once. */
    private long residentBytes() {
        List<ModelFolder> all = new ArrayList<>(current.folders().values());
        retiring.values().forEach(s -> all.addAll(s.folders().values()));
        return distinctBytes(all);
    }

    private static long distinctBytes(List<ModelFolder> folders) {
        Map<String, Long> byFolder = new LinkedHashMap<>();
        folders.stream().filter(Objects::nonNull).forEach(f -> byFolder.put(f.folder().toString(), f.bytes()));
        return byFolder.values().stream().mapToLong(Long::longValue).sum();
    }

    private static Map<String, String> identities(Map<String, ModelFolder> folders) {
        Map<String, String> out = new LinkedHashMap<>();
        folders.forEach((role, f) -> out.put(role, f.identity()));
        return out;
    }

    private Map<String, ModelVersion> serving() {
        return current.versions();
    }

    private static String describe(ModelSet set, List<String> roles) {
        Map<String, ModelVersion> v = set.versions();
        List<String> parts = new ArrayList<>();
        for (String role : roles) {
            ModelVersion m = v.get(role.equals(ModelSetLoader.AESTHETIC) || role.equals(ModelSetLoader.FAITHFULNESS)
                    ? scoreName(set, role) : role);
            parts.add(role + " " + (m == null ? "?" : m));
        }
        return String.join(", ", parts);
    }

    /** The score name the scorer of a config role answers to (normally the role itself). */
    private static String scoreName(ModelSet set, String role) {
        return set.models().get(role) instanceof dev.winnow.judge.ScoreJudge j ? j.scoreName() : role;
    }
}
