package dev.winnow.ops;

import dev.winnow.engine.WinnowEngine;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Liveness;
import org.eclipse.microprofile.health.Readiness;
import org.eclipse.microprofile.health.Startup;

/**
 * Probes that tell the truth: started once the models are loaded (startup fails on a bad
 * pack), ready only after the warm-up generation and not while draining or with the device's
 * circuit open, live while the engine loop keeps beating (not merely while the JVM runs).
 */
@ApplicationScoped
public class EngineHealthChecks {

    @Inject
    WinnowEngine engine;

    @Startup
    HealthCheck modelsLoaded() {
        return () -> HealthCheckResponse.named("models-loaded")
                .status(engine.pipeline() != null)
                .withData("pipeline", engine.pipeline().name())
                .build();
    }

    @Readiness
    HealthCheck warmedUp() {
        return () -> HealthCheckResponse.named("engine")
                .status(engine.isReady())
                .withData("state", engine.state())
                .withData("device", engine.device())
                .withData("queue_depth", engine.queueDepth())
                .build();
    }

    /** DOWN when the engine is wedged: its loop died, or one piece of its work outlasts every deadline. */
    @Liveness
    HealthCheck alive() {
        return () -> HealthCheckResponse.named("engine-alive")
                .status(engine.isLive())
                .withData("busy_ms", engine.busyMillis())
                .build();
    }
}
