package dev.winnow.engine;

import dev.winnow.diffusion.DenoisingSlot;
import dev.winnow.diffusion.DiffusionPipeline;
import java.util.List;

/** Makes one batched UNet call and steps the slots; the CDI implementation adds a circuit breaker. */
@FunctionalInterface
public interface UnetStepper {

    /** @return the rows in the call */
    int step(DiffusionPipeline pipeline, List<DenoisingSlot> slots) throws Exception;

    UnetStepper DIRECT = DiffusionPipeline::step;
}
