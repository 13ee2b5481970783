package dev.winnow.engine;

import dev.winnow.diffusion.DenoisingSlot;
import dev.winnow.diffusion.DiffusionPipeline;
import dev.winnow.diffusion.StepCalls;
import dev.winnow.onnx.RunTerminatedException;
import io.smallrye.faulttolerance.api.CircuitBreakerMaintenance;
import io.smallrye.faulttolerance.api.CircuitBreakerName;
import io.smallrye.faulttolerance.api.CircuitBreakerState;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.util.List;
import java.util.logging.Logger;
import org.eclipse.microprofile.faulttolerance.CircuitBreaker;
import org.eclipse.microprofile.faulttolerance.exceptions.CircuitBreakerOpenException;

/**
 * The UNet call behind a circuit breaker that counts device faults only: after 4 single-job
 * calls in a row fail and a plain probe call fails with them, the circuit opens, calls fail at
 * once (the jobs get 503) and readiness reports DOWN, instead of the loop spinning on a broken
 * device; after the delay one trial call decides whether it closes.
 *
 * <p>A failure that the device does not share is the request's: a size or batch the graph
 * cannot take, an out-of-memory on one huge batch, a call stopped by its deadline or by
 * shutdown. Those reach the breaker as {@link RequestFaultException}s, which it does not count,
 * so a few bad requests never take the pod out of readiness. Calls shared by several jobs are
 * not counted either way: the engine retries their jobs apart, and those calls are counted.
 */
@ApplicationScoped
public class GuardedUnetStepper implements UnetStepper {

    /** The breaker's name, for readiness. */
    public static final String BREAKER = "unet";

    private static final Logger LOG = Logger.getLogger(GuardedUnetStepper.class.getName());

    @Inject
    CircuitBreakerMaintenance breakers;

    @Override
    @CircuitBreaker(requestVolumeThreshold = 4, failureRatio = 1.0, delay = 10_000, successThreshold = 1,
            skipOn = RequestFaultException.class)
    @CircuitBreakerName(BREAKER)
    public StepCalls step(DiffusionPipeline pipeline, List<DenoisingSlot> slots) throws Exception {
        try {
            return pipeline.step(slots);
        } catch (Exception | OutOfMemoryError e) {
            if (RunTerminatedException.in(e) != null || deviceAnswers(pipeline)) {
                throw new RequestFaultException(e);
            }
            throw e; // counted: the device fails a plain call too
        }
    }

    /** Not counted by the breaker; refused at once while its circuit is open. */
    @Override
    public StepCalls stepShared(DiffusionPipeline pipeline, List<DenoisingSlot> slots) throws Exception {
        if (isOpen()) {
            throw new CircuitBreakerOpenException("the UNet circuit is open: the device failed repeatedly");
        }
        return pipeline.step(slots);
    }

    /** Whether the circuit is open now (false before the first counted call registers it). */
    public boolean isOpen() {
        try {
            return breakers.currentState(BREAKER) == CircuitBreakerState.OPEN;
        } catch (RuntimeException e) {
            return false;
        }
    }

    /** Whether a plain one-row UNet call still succeeds on this device (a stopped probe proves nothing: yes). */
    private static boolean deviceAnswers(DiffusionPipeline pipeline) {
        if (pipeline == null) {
            return false;
        }
        try {
            pipeline.probeUnet();
            return true;
        } catch (Exception | OutOfMemoryError e) {
            if (RunTerminatedException.in(e) != null) {
                return true;
            }
            LOG.warning("the UNet fails a plain one-row call too: " + e);
            return false;
        }
    }
}
