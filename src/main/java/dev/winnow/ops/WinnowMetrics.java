package dev.winnow.ops;

import dev.winnow.engine.EngineObserver;
import dev.winnow.engine.WinnowEngine;
import dev.winnow.judge.Verdict;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The metric names of DESIGN.md ("Metrics"); dashboards, alerts and autoscalers use exactly
 * these. Histogram buckets fit seconds-long work.
 */
@ApplicationScoped
public class WinnowMetrics implements EngineObserver {

    static final Duration[] SECONDS_BUCKETS = {
        Duration.ofMillis(10), Duration.ofMillis(25), Duration.ofMillis(50), Duration.ofMillis(100),
        Duration.ofMillis(250), Duration.ofMillis(500), Duration.ofSeconds(1), Duration.ofMillis(2500),
        Duration.ofSeconds(5), Duration.ofSeconds(10), Duration.ofSeconds(30), Duration.ofSeconds(60),
        Duration.ofSeconds(120)};

    @Inject
    MeterRegistry registry;

    @Inject
    WinnowEngine engine;

    /** Guarded by this: the info gauges of the models in service. */
    private final List<Meter> modelInfo = new ArrayList<>();

    void register(@Observes StartupEvent event) {
        Gauge.builder("winnow.queue.depth", engine, WinnowEngine::queueDepth)
                .description("Jobs admitted and not yet finished").register(registry);
        Gauge.builder("winnow.engine.ready", engine, e -> e.isReady() ? 1 : 0)
                .description("1 while the engine takes work (warmed up, not draining, circuit closed)").register(registry);
        Gauge.builder("winnow.active.slots", engine, WinnowEngine::activeSlots)
                .description("Candidates being denoised").register(registry);
        publishModels();
        for (String outcome : new String[] {"swapped", "refused", "failed"}) {
            swapCounter(outcome);
        }
        Gauge.builder("winnow.model.sets", engine, WinnowEngine::liveModelSets)
                .description("Model sets in memory: the one serving new jobs, plus replaced ones still finishing theirs")
                .register(registry);
        for (Verdict v : Verdict.values()) {
            candidates(v);
        }
        Counter.builder("winnow.no.safe.candidate").description("Jobs where no candidate was safe").register(registry);
        for (String reason : new String[] {"queue_full", "deadline", "policy", "invalid"}) {
            rejectedCounter(reason);
        }
        for (String stage : new String[] {"text_encode", "denoise", "preview", "stream_preview", "decode", "safety", "score", "encode"}) {
            stageTimer(stage);
        }
        batchRows();
        callsPerStep();
        queueTimer();
        Timer.builder("winnow.requests").description("Generate requests by outcome")
                .tag("outcome", "ok").serviceLevelObjectives(SECONDS_BUCKETS).register(registry);
    }

    /**
     * {@code winnow_model_info{pipeline,version,device,provider}} and
     * {@code winnow_judge_info{role,judge,version}} = 1 for the models serving new jobs: the
     * series of models no longer in service are removed, so a dashboard shows what serves now.
     */
    synchronized void publishModels() {
        modelInfo.forEach(registry::remove);
        modelInfo.clear();
        modelInfo.add(Gauge.builder("winnow.model.info", () -> 1)
                .description("The pipeline serving new jobs (name, version), device and execution provider")
                .tag("pipeline", engine.pipeline().name())
                .tag("version", engine.pipeline().version())
                .tag("device", engine.device())
                .tag("provider", engine.provider())
                .register(registry));
        engine.bestOfN().judges(true).forEach((role, judge) -> modelInfo.add(Gauge.builder("winnow.judge.info", () -> 1)
                .description("The judges serving new jobs, by role (safety, each score name, preview)")
                .tag("role", role)
                .tag("judge", judge.name())
                .tag("version", judge.version())
                .register(registry)));
    }

    private Counter swapCounter(String outcome) {
        return Counter.builder("winnow.model.swaps")
                .description("Live model swaps by outcome: swapped, refused (memory budget), failed (did not load or warm up)")
                .tag("outcome", outcome).register(registry);
    }

    @Override
    public void modelSwap(String outcome) {
        swapCounter(outcome).increment();
    }

    @Override
    public void modelsChanged() {
        publishModels();
    }

    private Timer queueTimer() {
        return Timer.builder("winnow.queue").description("Wait between admission and the start of a job's work")
                .serviceLevelObjectives(SECONDS_BUCKETS).register(registry);
    }

    @Override
    public void queued(long nanos) {
        queueTimer().record(nanos, TimeUnit.NANOSECONDS);
    }

    private Counter candidates(Verdict v) {
        return Counter.builder("winnow.candidates").description("Candidates by verdict")
                .tag("verdict", v.wireName()).register(registry);
    }

    private Counter rejectedCounter(String reason) {
        return Counter.builder("winnow.rejected").description("Requests refused before generation")
                .tag("reason", reason).register(registry);
    }

    private Timer stageTimer(String stage) {
        return Timer.builder("winnow.stage").description("Time per pipeline stage")
                .tag("stage", stage).serviceLevelObjectives(SECONDS_BUCKETS).register(registry);
    }

    private DistributionSummary batchRows() {
        return DistributionSummary.builder("winnow.unet.batch.rows").description("Rows per UNet call (each call that ran)")
                .serviceLevelObjectives(1, 2, 4, 8, 16, 32, 64).register(registry);
    }

    private DistributionSummary callsPerStep() {
        return DistributionSummary.builder("winnow.unet.calls.per.step")
                .description("UNet calls per engine step: above 1 when a UNet with a scalar timestep gets rows at "
                        + "several timesteps (one call per timestep)")
                .serviceLevelObjectives(1, 2, 3, 4, 8, 16).register(registry);
    }

    @Override
    public void unetBatch(int rows) {
        batchRows().record(rows);
    }

    @Override
    public void unetCallsPerStep(int calls) {
        callsPerStep().record(calls);
    }

    @Override
    public void stage(String stage, long nanos) {
        stageTimer(stage).record(nanos, TimeUnit.NANOSECONDS);
    }

    @Override
    public void candidate(Verdict verdict) {
        candidates(verdict).increment();
    }

    @Override
    public void noSafeCandidate() {
        registry.counter("winnow.no.safe.candidate").increment();
    }

    @Override
    public void rejected(String reason) {
        rejectedCounter(reason).increment();
    }

    @Override
    public void request(String outcome, long nanos) {
        Timer.builder("winnow.requests").description("Generate requests by outcome")
                .tag("outcome", outcome).serviceLevelObjectives(SECONDS_BUCKETS).register(registry)
                .record(nanos, TimeUnit.NANOSECONDS);
    }
}
