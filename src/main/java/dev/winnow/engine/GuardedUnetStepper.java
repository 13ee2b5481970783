package dev.winnow.engine;

import dev.winnow.diffusion.DenoisingSlot;
import dev.winnow.diffusion.DiffusionPipeline;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.List;
import org.eclipse.microprofile.faulttolerance.CircuitBreaker;
import io.smallrye.faulttolerance.api.CircuitBreakerName;

/**
 * The UNet call behind a circuit breaker: after repeated device failures the circuit opens,
 * calls fail at once (the jobs get 503) and readiness reports DOWN, instead of the loop
 * spinning on a broken device; after the delay one trial call decides whether it closes.
 */
@ApplicationScoped
public class GuardedUnetStepper implements UnetStepper {

    /** The breaker's name, for readiness. */
    public static final String BREAKER = "unet";

    @Override
    @CircuitBreaker(requestVolumeThreshold = 4, failureRatio = 1.0, delay = 10_000, successThreshold = 1)
    @CircuitBreakerName(BREAKER)
    public int step(DiffusionPipeline pipeline, List<DenoisingSlot> slots) throws Exception {
        return pipeline.step(slots);
    }
}
