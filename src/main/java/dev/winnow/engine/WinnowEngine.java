package dev.winnow.engine;

import dev.winnow.diffusion.DiffusionPipeline;
import dev.winnow.judge.RankingPolicy;
import dev.winnow.judge.SafetyJudge;
import dev.winnow.judge.ScoreJudge;
import dev.winnow.onnx.DeviceChoice;
import dev.winnow.onnx.OnnxSessions;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.enterprise.inject.Instance;
import jakarta.inject.Inject;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;
import java.util.logging.Logger;

/**
 * The process's one engine: owns the models, admits jobs (bounded, 429 past capacity) and
 * runs them one at a time on the device. Models load at startup, so a bad pack stops the
 * service with a message naming the file; a warm-up generation then runs before readiness.
 */
@ApplicationScoped
public class WinnowEngine {

    private static final Logger LOG = Logger.getLogger(WinnowEngine.class.getName());

    @Inject
    WinnowConfig config;

    @Inject
    Instance<EngineObserver> observers;

    private OnnxSessions sessions;
    private BestOfN bestOfN;
    private Semaphore admission;
    private final ReentrantLock device = new ReentrantLock(true);
    private final AtomicInteger queued = new AtomicInteger();
    private volatile boolean ready;
    private volatile boolean draining;
    private volatile long lastJobMillis = 1000;

    void onStart(@Observes StartupEvent event) {
        load();
        if (config.engine().warmUp()) {
            Thread warm = new Thread(this::warmUp, "winnow-warm-up");
            warm.setDaemon(true);
            warm.start();
        } else {
            ready = true;
        }
    }

    void onStop(@Observes ShutdownEvent event) {
        draining = true;
        ready = false;
    }

    synchronized void load() {
        if (bestOfN != null) {
            return;
        }
        sessions = OnnxSessions.create(DeviceChoice.parse(config.device()), config.engine().intraOpThreads(),
                config.engine().cudaDeviceId());
        DiffusionPipeline pipeline = DiffusionPipeline.load(Path.of(config.pipeline().path()), sessions);
        SafetyJudge safety = SafetyJudge.load(Path.of(config.judges().safety().path()), sessions,
                config.judges().safety().threshold().orElse(null));
        List<ScoreJudge> scorers = new ArrayList<>();
        Map<String, Double> weights = new LinkedHashMap<>();
        addScorer(scorers, weights, config.judges().aesthetic(), "models/judges/aesthetic-tiny");
        addScorer(scorers, weights, config.judges().faithfulness(), "models/judges/faithfulness-tiny");
        admission = new Semaphore(config.engine().queueCapacity());
        bestOfN = new BestOfN(pipeline, safety, scorers, new RankingPolicy(weights), config.engine().maxBatchRows());
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
                bestOfN.generate(job, rows -> { });
            } catch (NoSafeCandidateException e) {
                // the models ran; the verdict does not matter for a warm-up
            }
            LOG.info("warm-up generation took " + (System.nanoTime() - t) / 1_000_000 + " ms; ready");
            ready = true;
        } catch (RuntimeException e) {
            LOG.severe("warm-up failed; staying not ready: " + e);
        }
    }

    public boolean isReady() {
        return ready && !draining;
    }

    public boolean isDraining() {
        return draining;
    }

    public int queueDepth() {
        return queued.get();
    }

    public String device() {
        return sessions == null ? "unknown" : sessions.device();
    }

    public String provider() {
        return sessions == null ? "unknown" : sessions.provider();
    }

    public DiffusionPipeline pipeline() {
        load();
        return bestOfN.pipeline();
    }

    public BestOfN bestOfN() {
        load();
        return bestOfN;
    }

    /**
     * Admits and runs a job.
     *
     * @throws QueueFullException   when the engine already holds {@code queue-capacity} jobs
     * @throws NotReadyException    while warming up or draining
     */
    public GenerationResult generate(GenerationRequest job) {
        long start = System.nanoTime();
        String outcome = "error";
        try {
            GenerationResult r = admitAndRun(job);
            outcome = "ok";
            return r;
        } catch (NoSafeCandidateException e) {
            outcome = "no_safe_candidate";
            throw e;
        } catch (DeadlineExceededException e) {
            outcome = "deadline";
            observe(o -> o.rejected("deadline"));
            throw e;
        } catch (QueueFullException e) {
            outcome = "queue_full";
            throw e;
        } catch (NotReadyException e) {
            outcome = "not_ready";
            throw e;
        } finally {
            String o = outcome;
            long nanos = System.nanoTime() - start;
            observe(obs -> obs.request(o, nanos));
        }
    }

    /** Counts a request that failed validation (it never reached the queue). */
    public void recordInvalid() {
        observe(o -> o.rejected("invalid"));
        observe(o -> o.request("invalid", 0));
    }

    private GenerationResult admitAndRun(GenerationRequest job) {
        if (!isReady()) {
            throw new NotReadyException(draining ? "the service is shutting down" : "the models are still warming up");
        }
        if (!admission.tryAcquire()) {
            observe(o -> o.rejected("queue_full"));
            long wait = Math.max(1, (lastJobMillis * (queued.get() + 1)) / 1000);
            throw new QueueFullException(config.engine().queueCapacity(), wait);
        }
        queued.incrementAndGet();
        long enqueued = System.nanoTime();
        try {
            device.lockInterruptibly();
            try {
                long queueNanos = System.nanoTime() - enqueued;
                if (System.nanoTime() > job.deadlineNanos()) {
                    throw new DeadlineExceededException("the deadline passed while the job was queued");
                }
                long t = System.nanoTime();
                GenerationResult r = bestOfN.generate(job, rows -> observe(o -> o.unetBatch(rows)));
                lastJobMillis = Math.max(1, (System.nanoTime() - t) / 1_000_000);
                r.timingsMs().put("queue", queueNanos / 1_000_000);
                r.timingsMs().put("total", r.timingsMs().get("total") + queueNanos / 1_000_000);
                report(r.candidates(), r.timingsMs());
                return r;
            } catch (NoSafeCandidateException e) {
                report(e.candidates(), Map.of());
                observe(EngineObserver::noSafeCandidate);
                throw e;
            } finally {
                device.unlock();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new NotReadyException("interrupted while waiting for the device");
        } finally {
            queued.decrementAndGet();
            admission.release();
        }
    }

    private void report(List<CandidateResult> candidates, Map<String, Long> timingsMs) {
        candidates.forEach(c -> observe(o -> o.candidate(c.verdict())));
        timingsMs.forEach((stage, ms) -> {
            if (!"total".equals(stage) && !"queue".equals(stage)) {
                observe(o -> o.stage(stage, ms * 1_000_000));
            }
        });
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
}
