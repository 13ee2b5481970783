package dev.winnow.engine;

import dev.winnow.diffusion.DiffusionPipeline;
import dev.winnow.diffusion.NoiseGenerator;
import dev.winnow.onnx.CudaSettings;
import dev.winnow.onnx.DeviceChoice;
import dev.winnow.onnx.OnnxSessions;
import dev.winnow.tokenizer.Tokens;
import io.quarkus.runtime.ShutdownDelayInitiatedEvent;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.enterprise.inject.Instance;
import jakarta.inject.Inject;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.logging.Logger;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * The process's one engine: owns the models and the {@link EngineLoop}. Models load at
 * startup, so a bad pack stops the service with a message naming the file; a warm-up
 * generation then runs before readiness.
 *
 * <p>Drain: when shutdown begins, readiness goes DOWN and new requests get 503 at once; the
 * admitted jobs carry on for {@code quarkus.shutdown.delay} + {@code quarkus.shutdown.timeout}
 * (less a second, so their answers are written before the HTTP server gives up), and any job
 * still unfinished then is answered with 503. With {@code shutdown.timeout} at least the
 * default deadline, every admitted job ends by its own deadline first. Then the engine stops:
 * its threads leave their model calls (terminated if need be) and exit, and only then are the
 * models' sessions closed.
 */
@ApplicationScoped
public class WinnowEngine {

    private static final Logger LOG = Logger.getLogger(WinnowEngine.class.getName());

    @Inject
    WinnowConfig config;

    @Inject
    Instance<EngineObserver> observers;

    @Inject
    GuardedUnetStepper stepper;

    @ConfigProperty(name = "quarkus.shutdown.timeout", defaultValue = "0s")
    Duration shutdownTimeout;

    @ConfigProperty(name = "quarkus.shutdown.delay-enabled", defaultValue = "false")
    boolean shutdownDelayEnabled;

    @ConfigProperty(name = "quarkus.shutdown.delay")
    Optional<Duration> shutdownDelay;

    /** Kept from the drain's end so that the jobs' answers are written before the HTTP server stops waiting. */
    static final Duration ANSWER_MARGIN = Duration.ofSeconds(1);

    private OnnxSessions sessions;
    /** The models in service and their live replacement (null until loaded). */
    private volatile ModelSwaps swaps;
    private volatile EngineLoop loop;
    private volatile boolean warm;
    private volatile boolean draining;
    /** Guarded by this. */
    private boolean drainStarted;

    void onStart(@Observes StartupEvent event) {
        checkTimings();
        checkBatching();
        load();
        if (config.engine().warmUp()) {
            Thread warmUp = new Thread(this::warmUp, "winnow-warm-up");
            warmUp.setDaemon(true);
            warmUp.start();
        } else {
            warm = true;
            swaps.startPolling();
        }
    }

    /**
     * Shutdown begins (with {@code quarkus.shutdown.delay-enabled}): readiness goes DOWN so the
     * gateway stops sending work, and new requests get 503, while admitted jobs carry on.
     */
    void onShutdownDelay(@Observes ShutdownDelayInitiatedEvent event) {
        beginDrain();
    }

    /**
     * The HTTP server has waited for the admitted requests (up to {@code quarkus.shutdown.timeout}):
     * stop the engine, then close the models, never while a thread may still be running them.
     */
    void onStop(@Observes @Priority(1) ShutdownEvent event) {
        beginDrain();
        EngineLoop l = loop;
        if (l == null) {
            return;
        }
        if (l.stop()) {
            closeModels();
        } else {
            LOG.severe("the engine's threads are still inside a model call; its models stay open (closing them under "
                    + "a running call would crash the process)");
        }
    }

    /**
     * Readiness DOWN and 503 for new work at once; admitted jobs have until the drain's time is up
     * (delay + timeout, less a second), then the rest get 503. Idempotent; readiness is DOWN at
     * once, the rest waits for a model load in progress.
     */
    public void beginDrain() {
        draining = true;
        startDrain();
    }

    private synchronized void startDrain() {
        if (drainStarted || loop == null) {
            return;
        }
        drainStarted = true;
        swaps.stopPolling(); // no new version comes in while the process winds down
        Duration drain = drainTime();
        LOG.info("draining: readiness DOWN and 503 for new requests; " + loop.queueDepth()
                + " admitted jobs have up to " + drain.toMillis() + " ms to finish");
        loop.drain(System.nanoTime() + drain.toNanos());
    }

    /** How long admitted jobs may still run once the drain begins. */
    Duration drainTime() {
        Duration delay = shutdownDelayEnabled ? shutdownDelay.orElse(Duration.ZERO) : Duration.ZERO;
        Duration d = delay.plus(shutdownTimeout).minus(ANSWER_MARGIN);
        return d.isNegative() ? Duration.ZERO : d;
    }

    /** Fails fast on timings that contradict each other; warns when a drain cannot wait for a full deadline. */
    void checkTimings() {
        Duration deadline = config.engine().defaultDeadline();
        Duration liveness = config.engine().livenessTimeout();
        if (liveness.compareTo(deadline) <= 0) {
            throw new IllegalStateException("winnow.engine.liveness-timeout (" + liveness + ") must be longer than "
                    + "winnow.engine.default-deadline (" + deadline + "): model calls may legitimately run until "
                    + "their job's deadline, and liveness would restart a healthy pod");
        }
        if (drainTime().plus(ANSWER_MARGIN).compareTo(deadline) < 0) {
            LOG.warning("quarkus.shutdown.delay + quarkus.shutdown.timeout (" + drainTime().plus(ANSWER_MARGIN)
                    + ") is shorter than winnow.engine.default-deadline (" + deadline + "): on shutdown, jobs still "
                    + "running when the drain ends get 503 instead of their image");
        }
    }

    /** Batch sizes and pools must hold at least one: anything else stops startup naming the key. */
    void checkBatching() {
        WinnowConfig.Engine e = config.engine();
        requireAtLeastOne("winnow.engine.max-batch-rows", e.maxBatchRows());
        requireAtLeastOne("winnow.engine.decode-batch-images", e.decodeBatchImages());
        requireAtLeastOne("winnow.engine.judge-batch-images", e.judgeBatchImages());
        requireAtLeastOne("winnow.engine.finishing-threads", e.finishingThreads());
    }

    private static void requireAtLeastOne(String key, int value) {
        if (value < 1) {
            throw new IllegalStateException(key + " must be at least 1, got " + value);
        }
    }

    private void closeModels() {
        if (swaps != null) {
            swaps.closeAll();
        }
    }

    synchronized void load() {
        if (swaps != null) {
            return;
        }
        long t0 = System.nanoTime();
        long began = uptimeMillis();
        WinnowConfig.Cuda cuda = config.cuda();
        sessions = OnnxSessions.create(DeviceChoice.parse(config.device()), config.engine().intraOpThreads(),
                new CudaSettings(config.engine().cudaDeviceId(), cuda.arenaExtendStrategy(), cuda.cudnnConvAlgoSearch(),
                        cuda.cudnnConvUseMaxWorkspace(), cuda.preferNhwc()));
        graphCacheFolder().ifPresent(sessions::withGraphCache);
        long runtimeMs = millisSince(t0);
        long t1 = System.nanoTime();
        ModelSetLoader loader = new ModelSetLoader(config, sessions);
        ModelSet set = loader.load(loader.folders(), null);
        long modelsMs = millisSince(t1);
        warnAbout(set.bestOfN().pipeline());
        WinnowConfig.Engine engine = config.engine();
        loop = new EngineLoop(set.bestOfN(), engine.queueCapacity(), engine.maxBatchRows(), engine.stepLevelBatching(),
                new EngineLoop.Finishing(engine.finishingThreads(), engine.judgeBatchImages()), stepper, new Fanout());
        swaps = new ModelSwaps(config, loader, loop, set, new Fanout());
        NoiseGenerator noise = set.bestOfN().pipeline().noise();
        LOG.info("loaded pipeline " + set.pipeline() + " on " + sessions.device() + " (" + sessions.provider()
                + "), noise " + noise.packName() + " (" + noise.implementation() + "), judges " + set.bestOfN().judges(true)
                + ", previews for pruning "
                + set.bestOfN().previewJudge().map(j -> "judged by " + j.id()).orElse("none (requests cannot prune)"));
        LOG.info(String.format(Locale.ROOT, "startup: the engine began at %d ms after the JVM started; ONNX Runtime ready in "
                        + "%d ms; %d graphs opened in %d ms (%s); graph cache %s; engine up at %d ms",
                began, runtimeMs, sessions.opened().size(), modelsMs, describeOpened(sessions.opened()),
                sessions.graphCache() == null ? "off" : sessions.graphCache().enabled()
                        ? sessions.graphCache().folder().toString() : "off (its folder cannot be written)",
                uptimeMillis()));
    }

    /** What a pipeline costs that it need not: one timestep for the whole batch, or fp32 on a GPU. */
    private void warnAbout(DiffusionPipeline pipeline) {
        if (!pipeline.unet().acceptsPerRowTimesteps()) {
            LOG.warning(scalarTimestepWarning(pipeline));
        }
        if ("cuda".equals(sessions.device()) && !pipeline.unet().isFp16()) {
            LOG.warning("pipeline '" + pipeline.name() + "' runs fp32 on CUDA: an fp16 export (models/tools/export_sd.py "
                    + "--fp16) needs half the GPU memory and is about twice as fast");
        }
        NoiseGenerator noise = pipeline.noise();
        if (noise.missesItsSimdPath()) {
            LOG.warning("pipeline '" + pipeline.name() + "' names the noise generator " + noise.packName() + ", which "
                    + "draws scalar in this JVM, about ten times slower than with SIMD (the same images): start java "
                    + "with --add-modules jdk.incubator.vector and C2 (without -XX:TieredStopAtLevel=1) (README, Run)");
        }
    }

    /**
     * Checks the configured model folders now and swaps in any new version (README, "Updating
     * models without a restart"); what the admin port's {@code POST /models/reload} calls.
     */
    public ModelReload reloadModels() {
        bestOfN();
        return swaps.reload(false);
    }

    /** The versions in service, by role, and how many model sets are in memory (replaced ones still finishing jobs). */
    public Map<String, dev.winnow.modelpack.ModelVersion> modelVersions() {
        bestOfN();
        return swaps.current().versions();
    }

    /** The set in service plus the replaced sets still finishing their jobs. */
    public int liveModelSets() {
        return swaps == null ? 0 : swaps.liveSets();
    }

    /** The graph cache's folder, unless {@code winnow.engine.graph-cache-dir} is {@code off}. */
    private Optional<Path> graphCacheFolder() {
        String dir = config.engine().graphCacheDir().trim();
        return dir.isEmpty() || "off".equalsIgnoreCase(dir) ? Optional.empty() : Optional.of(Path.of(dir));
    }

    /** "unet 80 ms (from the graph cache), ..." — each graph by its folder's name. */
    private static String describeOpened(List<OnnxSessions.Opened> opened) {
        StringBuilder sb = new StringBuilder();
        for (OnnxSessions.Opened o : opened) {
            Path parent = o.file().toAbsolutePath().getParent();
            sb.append(sb.length() > 0 ? ", " : "").append(parent == null ? o.file() : parent.getFileName())
                    .append(' ').append(o.millis()).append(" ms ").append(o.origin());
        }
        return sb.toString();
    }

    /** Milliseconds since the JVM started. */
    static long uptimeMillis() {
        return ManagementFactory.getRuntimeMXBean().getUptime();
    }

    private static long millisSince(long nanos) {
        return (System.nanoTime() - nanos) / 1_000_000;
    }

    /** What a UNet with a rank-0 timestep costs, and what to do about it. */
    static String scalarTimestepWarning(DiffusionPipeline pipeline) {
        return "pipeline '" + pipeline.name() + "': its UNet (" + pipeline.unet().file() + ") takes one timestep for the "
                + "whole batch (a rank-0 'timestep', as Optimum 1.24+ exports it), so jobs at different steps cannot "
                + "share a UNet call: each engine step makes one call per distinct timestep (winnow_unet_calls_per_step "
                + "shows how many). Give it a timestep per row to batch across requests: "
                + "python models/tools/batch_timestep.py " + pipeline.folder() + " " + pipeline.folder()
                + " (a graph edit, checked numerically; README, \"UNets with a single timestep\").";
    }

    /**
     * As short as proves the path: one candidate, one guided step (two UNet rows), so that every
     * model runs once — text encoder, UNet, VAE decoder, safety judge, scorers — and the PNG is
     * written, before readiness says UP.
     */
    private void warmUp() {
        try {
            long t = System.nanoTime();
            DiffusionPipeline p = bestOfN().pipeline();
            GenerationRequest job = new GenerationRequest("warm-up", "", 1, 1, 5.0, 0, p.defaultSize(), p.defaultSize(),
                    "ddim", false, Map.of(), System.nanoTime() + config.engine().defaultDeadline().toNanos());
            try {
                loop.submit(job).join().png();
            } catch (CompletionException e) {
                if (!(e.getCause() instanceof NoSafeCandidateException)) {
                    throw e; // a verdict does not matter for a warm-up, a failure does
                }
            }
            warm = true;
            swaps.startPolling();
            LOG.info("startup: warm-up generation (1 candidate, 1 step, every model once) took " + millisSince(t)
                    + " ms; ready at " + uptimeMillis() + " ms after the JVM started");
        } catch (RuntimeException e) {
            LOG.severe(draining ? "warm-up ended by shutdown" : "warm-up failed; staying not ready: " + e);
        }
    }

    /** Ready: warmed up, not draining, and the device's circuit is not open. */
    public boolean isReady() {
        return warm && !draining && !isCircuitOpen();
    }

    public boolean isCircuitOpen() {
        return stepper.isOpen();
    }

    /**
     * Live: the engine loop runs and neither it nor the finisher has been inside one piece of
     * work for longer than {@code winnow.engine.liveness-timeout} (model calls end at their
     * job's deadline, so only a call that ignores its terminate flag stays that long).
     */
    public boolean isLive() {
        EngineLoop l = loop;
        if (l == null) {
            return true; // loading: the startup probe covers it
        }
        return (l.isRunning() || draining) && l.busyNanos() <= config.engine().livenessTimeout().toNanos();
    }

    /** How long the engine has been inside its current piece of work, in milliseconds. */
    public long busyMillis() {
        EngineLoop l = loop;
        return l == null ? 0 : l.busyNanos() / 1_000_000;
    }

    public boolean isDraining() {
        return draining;
    }

    public String state() {
        return draining ? "draining" : isCircuitOpen() ? "circuit-open" : warm ? "ready" : "warming-up";
    }

    public int queueDepth() {
        return loop == null ? 0 : loop.queueDepth();
    }

    public int activeSlots() {
        return loop == null ? 0 : loop.activeSlots();
    }

    public String device() {
        return sessions == null ? "unknown" : sessions.device();
    }

    public String provider() {
        return sessions == null ? "unknown" : sessions.provider();
    }

    public DiffusionPipeline pipeline() {
        return bestOfN().pipeline();
    }

    /** Loaded at startup; the lock is taken only if something asks before that. */
    public BestOfN bestOfN() {
        if (swaps == null) {
            load();
        }
        return loop.bestOfN();
    }

    /**
     * What the engine in service can do, for checking a request: its schedulers, step and size
     * limits, token window, whether it can prune and the scores it ranks by.
     */
    public EngineCapabilities capabilities() {
        BestOfN models = bestOfN();
        DiffusionPipeline p = models.pipeline();
        int step = p.sizeStep();
        int min = (config.limits().minSide() + step - 1) / step * step;
        int max = config.limits().maxSide() / step * step;
        return new EngineCapabilities(p.name(), EngineCapabilities.SCHEDULERS, config.limits().maxSteps(),
                new EngineCapabilities.Sizes(p.defaultSize(), p.fixedWidth(), p.fixedHeight(), step, min, max),
                p.tokenizer().maxLength(), models.previewJudge().isPresent(), models.ranking().weights().keySet());
    }

    /** How the pipeline in service's tokenizer reads {@code prompt} (what its text encoder sees, and whether it was cut off). */
    public Tokens tokenize(String prompt) {
        return pipeline().tokenizer().tokenize(prompt);
    }

    /**
     * Admits a job; the future completes with the result, or with {@link NoSafeCandidateException},
     * {@link DeadlineExceededException} or {@link GenerationFailedException}. Cancelling the
     * future cancels the job: its slots leave at the next step.
     *
     * @throws QueueFullException when the engine already holds {@code queue-capacity} jobs
     * @throws NotReadyException  while warming up, draining or with the circuit open
     */
    public CompletableFuture<GenerationResult> submit(GenerationRequest job) {
        return submit(job, JobEvents.NONE);
    }

    /** As {@link #submit(GenerationRequest)}, telling {@code events} what happens to the job as it happens. */
    public CompletableFuture<GenerationResult> submit(GenerationRequest job, JobEvents events) {
        long start = System.nanoTime();
        if (!isReady()) {
            observe(o -> o.request("not_ready", 0));
            throw new NotReadyException(draining ? "the service is shutting down"
                    : isCircuitOpen() ? "the device is failing repeatedly; the circuit is open"
                    : "the models are still warming up");
        }
        CompletableFuture<GenerationResult> future;
        try {
            future = loop.submit(job, events);
        } catch (QueueFullException e) {
            observe(o -> o.request("queue_full", 0));
            throw e;
        }
        future.whenComplete((r, e) -> record(r, e, System.nanoTime() - start));
        return future;
    }

    /** Counts a request whose prompt the prompt policy refused (it never reached the queue). */
    public void recordRefused() {
        observe(o -> o.rejected("policy"));
        observe(o -> o.request("refused", 0));
    }

    /** Counts a request that failed validation (it never reached the queue). */
    public void recordInvalid() {
        observe(o -> o.rejected("invalid"));
        observe(o -> o.request("invalid", 0));
    }

    private void record(GenerationResult r, Throwable e, long nanos) {
        Throwable cause = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
        String outcome;
        if (cause == null) {
            outcome = "ok";
            report(r.candidates(), r.timingsMs());
        } else if (cause instanceof NoSafeCandidateException n) {
            outcome = "no_safe_candidate";
            report(n.candidates(), Map.of());
            observe(EngineObserver::noSafeCandidate);
        } else if (cause instanceof DeadlineExceededException) {
            outcome = "deadline";
            observe(o -> o.rejected("deadline"));
        } else if (cause instanceof java.util.concurrent.CancellationException) {
            outcome = "cancelled";
        } else if (cause instanceof NotReadyException) {
            outcome = "not_ready"; // admitted, then cut by the end of a drain
        } else {
            outcome = "error";
        }
        observe(o -> o.request(outcome, nanos));
    }

    private void report(List<CandidateResult> candidates, Map<String, Long> timingsMs) {
        candidates.forEach(c -> observe(o -> o.candidate(c.verdict())));
        for (String stage : new String[] {"decode", "safety", "score", "encode"}) {
            Long ms = timingsMs.get(stage);
            if (ms != null) {
                observe(o -> o.stage(stage, ms * 1_000_000));
            }
        }
    }

    private void observe(java.util.function.Consumer<EngineObserver> event) {
        for (EngineObserver o : observers) {
            try {
                event.accept(o);
            } catch (RuntimeException ignored) {
                // metrics never break generation
            }
        }
    }

    /** Forwards the loop's events to every observer bean. */
    private final class Fanout implements EngineObserver {
        @Override
        public void unetBatch(int rows) {
            observe(o -> o.unetBatch(rows));
        }

        @Override
        public void unetCallsPerStep(int calls) {
            observe(o -> o.unetCallsPerStep(calls));
        }

        @Override
        public void stage(String stage, long nanos) {
            observe(o -> o.stage(stage, nanos));
        }

        @Override
        public void queued(long nanos) {
            observe(o -> o.queued(nanos));
        }

        @Override
        public void rejected(String reason) {
            observe(o -> o.rejected(reason));
        }

        @Override
        public void modelSwap(String outcome) {
            observe(o -> o.modelSwap(outcome));
        }

        @Override
        public void modelsChanged() {
            observe(EngineObserver::modelsChanged);
        }

        @Override
        public boolean wantsRankings() {
            for (EngineObserver o : observers) {
                if (o.wantsRankings()) {
                    return true;
                }
            }
            return false;
        }

        @Override
        public void ranked(RankedGeneration generation) {
            observe(o -> {
                if (o.wantsRankings()) {
                    o.ranked(generation);
                }
            });
        }
    }
}
