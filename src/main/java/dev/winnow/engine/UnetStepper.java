package dev.winnow.engine;

import dev.winnow.diffusion.DenoisingSlot;
import dev.winnow.diffusion.DiffusionPipeline;
import dev.winnow.diffusion.StepCalls;
import java.util.List;

/**
 * Makes one batched UNet call and steps the slots; the CDI implementation adds a circuit
 * breaker that counts only failures of the device. A call that fails advances no slot.
 */
@FunctionalInterface
public interface UnetStepper {

    /**
     * A call whose rows all belong to one job: if it fails, either that job or the device is
     * at fault.
     *
     * @return the UNet calls made and the rows in each
     */
    StepCalls step(DiffusionPipeline pipeline, List<DenoisingSlot> slots) throws Exception;

    /**
     * A call whose rows belong to several jobs. Its failure blames no one yet: the engine calls
     * the jobs apart to find out. By default the same call as {@link #step}.
     */
    default StepCalls stepShared(DiffusionPipeline pipeline, List<DenoisingSlot> slots) throws Exception {
        return step(pipeline, slots);
    }

    UnetStepper DIRECT = DiffusionPipeline::step;
}
