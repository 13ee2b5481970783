package dev.winnow.engine;

import dev.winnow.diffusion.DiffusionPipeline;
import dev.winnow.judge.RankingPolicy;
import dev.winnow.judge.SafetyJudge;
import dev.winnow.judge.ScoreJudge;
import dev.winnow.onnx.CudaSettings;
import dev.winnow.onnx.DeviceChoice;
import dev.winnow.onnx.OnnxSessions;
import io.quarkus.runtime.ShutdownDelayInitiatedEvent;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.smallrye.faulttolerance.api.CircuitBreakerMaintenance;
import io.smallrye.faulttolerance.api.CircuitBreakerState;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.enterprise.inject.Instance;
import jakarta.inject.Inject;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.logging.Logger;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * The process's one engine: owns the models and the {@link EngineLoop}. Models load at
 * startup, so a bad pack stops the service with a message naming the file; a warm-up
 * generation then runs before readiness. On shutdown, readiness goes DOWN and new requests
 * get 503 first, then admitted jobs finish within {@code quarkus.shutdown.timeout}.
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

    @Inject
    CircuitBreakerMaintenance breakers;

    @ConfigProperty(name = "quarkus.shutdown.timeout", defaultValue = "60s")
    java.time.Duration shutdownTimeout;

    private OnnxSessions sessions;
    private volatile BestOfN bestOfN;
    private volatile Set<String> scoreNames = Set.of();
    private EngineLoop loop;
    private volatile boolean warm;
    private volatile boolean draining;

    void onStart(@Observes StartupEvent event) {
        load();
        if (config.engine().warmUp()) {
            Thread warmUp = new Thread(this::warmUp, "winnow-warm-up");
            warmUp.setDaemon(true);
            warmUp.start();
        } else {
            warm = true;
        }
    }

    /**
     * Shutdown begins (with {@code quarkus.shutdown.delay-enabled}): readiness goes DOWN so the
     * gateway stops sending work, and new requests get 503, while admitted jobs carry on.
     */
    void onShutdownDelay(@Observes ShutdownDelayInitiatedEvent event) {
        draining = true;
        if (loop != null) {
            loop.stopAccepting();
        }
    }

    /** Drain: readiness DOWN and 503 for new work (if not already), then the admitted jobs finish. */
    void onStop(@Observes @Priority(1) ShutdownEvent event) {
        draining = true;
        if (loop == null) {
            return;
        }
        loop.stopAccepting();
        try {
            if (!loop.awaitIdle(shutdownTimeout.toMillis())) {
                LOG.warning("shutdown: " + loop.queueDepth() + " jobs did not finish within " + shutdownTimeout);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        loop.close();
    }

    synchronized void load() {
        if (bestOfN != null) {
            return;
        }
        WinnowConfig.Cuda cuda = config.cuda();
        sessions = OnnxSessions.create(DeviceChoice.parse(config.device()), config.engine().intraOpThreads(),
                new CudaSettings(config.engine().cudaDeviceId(), cuda.arenaExtendStrategy(), cuda.cudnnConvAlgoSearch(),
                        cuda.cudnnConvUseMaxWorkspace(), cuda.preferNhwc()));
        DiffusionPipeline pipeline = DiffusionPipeline.load(Path.of(config.pipeline().path()), sessions);
        if ("cuda".equals(sessions.device()) && !pipeline.unet().isFp16()) {
            LOG.warning("pipeline '" + pipeline.name() + "' runs fp32 on CUDA: an fp16 export (models/tools/export_sd.py "
                    + "--fp16) needs half the GPU memory and is about twice as fast");
        }
        SafetyJudge safety = SafetyJudge.load(Path.of(config.judges().safety().path()), sessions,
                config.judges().safety().threshold().orElse(null));
        List<ScoreJudge> scorers = new ArrayList<>();
        Map<String, Double> weights = new LinkedHashMap<>();
        addScorer(scorers, weights, config.judges().aesthetic(), "models/judges/aesthetic-tiny");
        addScorer(scorers, weights, config.judges().faithfulness(), "models/judges/faithfulness-tiny");
        scoreNames = java.util.Collections.unmodifiableSet(new java.util.LinkedHashSet<>(weights.keySet()));
        bestOfN = new BestOfN(pipeline, safety, scorers, new RankingPolicy(weights), config.engine().maxBatchRows());
        loop = new EngineLoop(bestOfN, config.engine().queueCapacity(), config.engine().maxBatchRows(),
                config.engine().stepLevelBatching(), stepper, new Fanout());
        LOG.info("loaded pipeline '" + pipeline.name() + "' on " + sessions.device() + " (" + sessions.provider()
                + "), safety judge '" + safety.name() + "', scorers " + weights.keySet());
    }

    private void addScorer(List<ScoreJudge> scorers, Map<String, Double> weights, WinnowConfig.Judges.Scorer cfg,
                           String defaultPath) {
        if (!cfg.enabled()) {
            return;
        }
        ScoreJudge judge = ScoreJudge.load(Path.of(cfg.path().orElse(defaultPath)), sessions);
        scorers.add(judge);
        weights.put(judge.scoreName(), cfg.weight());
    }

    private void warmUp() {
        try {
            long t = System.nanoTime();
            DiffusionPipeline p = bestOfN.pipeline();
            GenerationRequest job = new GenerationRequest("warm-up", "", 1, 2, 5.0, 0, p.defaultSize(), p.defaultSize(),
                    "ddim", false, Map.of(), System.nanoTime() + 600_000_000_000L);
            try {
                loop.submit(job).join();
            } catch (CompletionException e) {
                if (!(e.getCause() instanceof NoSafeCandidateException)) {
                    throw e; // a verdict does not matter for a warm-up, a failure does
                }
            }
            LOG.info("warm-up generation took " + (System.nanoTime() - t) / 1_000_000 + " ms; ready");
            warm = true;
        } catch (RuntimeException e) {
            LOG.severe("warm-up failed; staying not ready: " + e);
        }
    }

    /** Ready: warmed up, not draining, and the device's circuit is not open. */
    public boolean isReady() {
        return warm && !draining && !isCircuitOpen();
    }

    public boolean isCircuitOpen() {
        try {
            return breakers.currentState(GuardedUnetStepper.BREAKER) == CircuitBreakerState.OPEN;
        } catch (RuntimeException e) {
            return false; // the breaker is registered on its first call
        }
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
        BestOfN b = bestOfN;
        if (b == null) {
            load();
            b = bestOfN;
        }
        return b;
    }

    /** The names of the loaded scorers: what {@code ranking_weights} may name. */
    public Set<String> scoreNames() {
        bestOfN();
        return scoreNames;
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
        long start = System.nanoTime();
        if (!isReady()) {
            observe(o -> o.request("not_ready", 0));
            throw new NotReadyException(draining ? "the service is shutting down"
                    : isCircuitOpen() ? "the device is failing repeatedly; the circuit is open"
                    : "the models are still warming up");
        }
        CompletableFuture<GenerationResult> future;
        try {
            future = loop.submit(job);
        } catch (QueueFullException e) {
            observe(o -> o.request("queue_full", 0));
            throw e;
        }
        future.whenComplete((r, e) -> record(r, e, System.nanoTime() - start));
        return future;
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
        } else {
            outcome = "error";
        }
        observe(o -> o.request(outcome, nanos));
    }

    private void report(List<CandidateResult> candidates, Map<String, Long> timingsMs) {
        candidates.forEach(c -> observe(o -> o.candidate(c.verdict())));
        for (String stage : new String[] {"decode", "safety", "score"}) {
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
    }
}
