package dev.winnow.diffusion;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * Which rows of one denoising step can share a UNet call: a pure plan, with no tensors in
 * sight. A UNet that takes a timestep per row runs the whole step in one call. One that takes a
 * single (rank-0) timestep — what current Optimum exports write — needs one call per distinct
 * timestep: slots of different jobs at different steps cannot share it. Groups keep the order
 * in which their first slot came (oldest job first), and slots keep their order within a group.
 */
public final class UnetCallPlan {

    private UnetCallPlan() {
    }

    /** The calls for one step of {@code slots}. */
    public static List<List<DenoisingSlot>> calls(List<DenoisingSlot> slots, boolean perRowTimesteps) {
        return perRowTimesteps ? List.of(slots) : byTimestep(slots, DenoisingSlot::currentTimestep);
    }

    /** Items grouped by their timestep, in order of first appearance (the engine's scheduler plans its calls with it). */
    public static <T> List<List<T>> byTimestep(List<T> items, ToDoubleFunction<T> timestep) {
        Map<Double, List<T>> groups = new LinkedHashMap<>();
        for (T item : items) {
            groups.computeIfAbsent(timestep.applyAsDouble(item), t -> new ArrayList<>()).add(item);
        }
        return groups.size() == 1 ? List.of(items) : List.copyOf(groups.values());
    }
}
